/*
 * ringlogd's configuration at its length limits: a --peers list too long
 * for the parser's copy and a --config line longer than
 * BROKER_CONFIG_MAX_LINE are refused, not cut short and half applied.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* `count` peers with hostnames of 240 bytes, the first trimmed so the list is list_len bytes
 * long. */
static void long_peers(char *out, size_t cap, int count, size_t list_len)
{
    char host[241];
    memset(host, 'b', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    size_t n = 0;
    for (int i = 1; i <= count; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%d@%s.example:%d", i > 1 ? "," : "", i, host,
                              7171 + 10 * i);
    cr_assert_geq(n, list_len);
    /* Shorten the first host so the list is list_len bytes long. */
    size_t drop = n - list_len;
    memmove(out + 2 + (240 - drop), out + 2 + 240, n - (2 + 240) + 1);
    cr_assert_eq(strlen(out), list_len);
}

Test(config_limits, a_peers_list_too_long_is_refused_not_cut)
{
    static char peers[8192];
    /* 4097 bytes: a copy of 4096 cut the last port ":7331" to ":73". */
    long_peers(peers, sizeof(peers), 16, 4097);
    char *argv[] = {"ringlogd", "--peers", peers, NULL};
    struct broker_config cfg;
    char err[256] = "";
    cr_assert_eq(broker_config_parse(&cfg, 3, argv, err, sizeof(err)), -1, "accepted");
    cr_assert(strstr(err, "--peers") != NULL, "%s", err);
    /* The most brokers a cluster has, with long names: whole. */
    long_peers(peers, sizeof(peers), BROKER_MAX_PEERS, 2000);
    cr_assert_eq(broker_config_parse(&cfg, 3, argv, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(cfg.peer_count, BROKER_MAX_PEERS);
    cr_assert_eq(cfg.peers[BROKER_MAX_PEERS - 1].port, 7171 + 10 * BROKER_MAX_PEERS);
    /* One more is refused with the reason. */
    long_peers(peers, sizeof(peers), BROKER_MAX_PEERS + 1, 2200);
    cr_assert_eq(broker_config_parse(&cfg, 3, argv, err, sizeof(err)), -1, "accepted");
    cr_assert(strstr(err, "at most 8 brokers") != NULL, "%s", err);
}

/* Parses `text` as the --config file; returns broker_config_parse's result. */
static int parse_file(const char *text, struct broker_config *cfg, char *err, size_t err_len)
{
    char path[] = "/tmp/ringlog-config-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char *argv[] = {"ringlogd", "--config", path, NULL};
    int rc = broker_config_parse(cfg, 3, argv, err, err_len);
    unlink(path);
    return rc;
}

Test(config_limits, a_config_line_longer_than_the_limit_is_refused_whole)
{
    static char text[2 * BROKER_CONFIG_MAX_LINE];
    struct broker_config cfg;
    char err[512];
    /* A line of exactly the limit is fine. */
    int n = snprintf(text, sizeof(text), "data-dir = /");
    memset(text + n, 'a', (size_t)(BROKER_CONFIG_MAX_LINE - 8 - n));
    snprintf(text + BROKER_CONFIG_MAX_LINE - 8, 10, "shards=3\n");
    cr_assert_eq(strlen(text), BROKER_CONFIG_MAX_LINE + 1);
    cr_assert_eq(parse_file(text, &cfg, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(strlen(cfg.data_dir), BROKER_CONFIG_MAX_LINE - 11, "one setting, data-dir");
    /* One byte more: refused, where its tail "shards=3" was read as a line of its own. */
    memmove(text + 13, text + 12, strlen(text + 12) + 1);
    cr_assert_eq(parse_file(text, &cfg, err, sizeof(err)), -1);
    cr_assert(strstr(err, ":1: line longer than") != NULL, "%s", err);
}
