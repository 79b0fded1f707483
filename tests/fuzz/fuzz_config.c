/*
 * ringlogd's config-file parser (broker/config.c), through its real entry
 * point: the input is the file that `--config` names (a memfd).
 *
 * The contract (docs/OPERATIONS.md): a file holds `key = value` lines whose
 * keys are the flag names without dashes, and flags win. So a line must
 * mean exactly the flag `--key=value`. For every input without a '#' or
 * a '"' (comments and quotes are the file's own syntax), the file is parsed
 * once as a file and once as the flags its lines spell, split here by a
 * plain reading of the contract: lines end at '\n', blank lines are
 * skipped, and a line without '=', with the key `config`, with no value,
 * longer than BROKER_CONFIG_MAX_LINE or with a NUL byte is an error. Both
 * must accept or refuse alike, and what they accept must
 * give the same configuration byte for byte. Every input, '#' or not, must
 * leave a configuration within the documented ranges and an error message
 * on refusal.
 */
#include <ctype.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_check.h"

/* An input of at most 64 KiB spells at most one flag per two bytes. */
enum { INPUT_LIMIT = 1 << 16, MAX_FLAGS = INPUT_LIMIT / 2 + 2 };

/* The input as the file `--config` reads; returns its /proc path. */
static const char *as_file(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz-config", 0);
        FUZZ_CHECK(fd >= 0);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    FUZZ_CHECK(ftruncate(fd, 0) == 0);
    FUZZ_CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
    return path;
}

static void check_ranges(const struct broker_config *c)
{
    FUZZ_CHECK(memchr(c->data_dir, 0, sizeof(c->data_dir)) && c->data_dir[0]);
    FUZZ_CHECK(memchr(c->listen_host, 0, sizeof(c->listen_host)));
    FUZZ_CHECK(memchr(c->metrics_host, 0, sizeof(c->metrics_host)));
    FUZZ_CHECK(c->node_id >= 0);
    FUZZ_CHECK(c->peer_count >= 0 && c->peer_count <= BROKER_MAX_PEERS);
    for (int i = 0; i < c->peer_count; i++)
        FUZZ_CHECK(c->peers[i].node_id >= 0 &&
                   memchr(c->peers[i].host, 0, sizeof(c->peers[i].host)));
    FUZZ_CHECK(c->shards >= 1 && c->shards <= BROKER_MAX_SHARDS);
    FUZZ_CHECK(c->flush != LOG_FLUSH_INTERVAL || c->flush_interval_ms > 0);
    FUZZ_CHECK(c->cache_keep_bytes == -1 || c->cache_keep_bytes >= 4096);
    FUZZ_CHECK(c->max_frame_bytes >= 1024 && c->max_frame_bytes <= 256u << 20);
    FUZZ_CHECK(c->max_connections >= 1 && c->default_partitions >= 1);
}

/* The oracle's own reading of surrounding blanks (isspace), kept apart from
 * config.c's on purpose: a change there is checked against it. */
static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/*
 * The flags the file's lines spell, into argv (argv[0] is the program);
 * returns argc, or -1 when a line is not a setting (the file must fail).
 */
static int spell_flags(char *text, char **argv, char *store, size_t store_len)
{
    int argc = 1;
    size_t used = 0;
    argv[0] = "ringlogd";
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *s = trim(line);
        if (*s == '\0')
            continue;
        char *eq = strchr(s, '=');
        if (!eq)
            return -1;
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        if (strcmp(key, "config") == 0 || *value == '\0')
            return -1;
        int n = snprintf(store + used, store_len - used, "--%s=%s", key, value);
        FUZZ_CHECK(n >= 0 && (size_t)n < store_len - used && argc < MAX_FLAGS);
        argv[argc++] = store + used;
        used += (size_t)n + 1;
    }
    return argc;
}

/* The file as one C string, or NULL when the contract refuses it whole:
 * a NUL byte, or a line longer than BROKER_CONFIG_MAX_LINE. */
static char *as_text(const uint8_t *data, size_t size)
{
    if (memchr(data, 0, size))
        return NULL;
    size_t line = 0;
    for (size_t i = 0; i < size; i++) {
        line = data[i] == '\n' ? 0 : line + 1;
        if (line > BROKER_CONFIG_MAX_LINE)
            return NULL;
    }
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > INPUT_LIMIT)
        return 0;
    static struct broker_config from_file, from_flags;
    char err[512] = "", flag_err[512] = "";
    char *file_argv[] = {"ringlogd", "--config", (char *)as_file(data, size), NULL};
    int rc = broker_config_parse(&from_file, 3, file_argv, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == 0)
        check_ranges(&from_file);
    else
        FUZZ_CHECK(err[0] != '\0' && memchr(err, 0, sizeof(err)));
    if (memchr(data, '#', size) || memchr(data, '"', size))
        return 0;
    char *text = as_text(data, size);
    static char *argv[MAX_FLAGS + 1];
    static char store[INPUT_LIMIT + 3 * MAX_FLAGS];
    int argc = text ? spell_flags(text, argv, store, sizeof(store)) : -1;
    if (argc < 0) {
        FUZZ_CHECK(rc == -1);
    } else {
        argv[argc] = NULL;
        int frc = broker_config_parse(&from_flags, argc, argv, flag_err, sizeof(flag_err));
        FUZZ_CHECK(frc == rc);
        FUZZ_CHECK(rc != 0 || memcmp(&from_file, &from_flags, sizeof(from_file)) == 0);
    }
    free(text);
    return 0;
}
