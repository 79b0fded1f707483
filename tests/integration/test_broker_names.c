/*
 * Topic names of every length from 0 to 300 against a live ringlogd, on one
 * shard and on two. Names of 201-249 characters once crashed the broker
 * (storage capped names at 200, the wire at 249, and the failed create's undo
 * freed the job twice); one limit now holds everywhere, checked before
 * anything is created.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker_proc.h"
#include "names.h"
#include "wire.h"

enum { LONGEST_TRIED = 300, SEGMENT_BYTES = 1 << 20 };

TestSuite(topic_names, .timeout = 300);

static bool broker_alive(const struct broker_proc *b)
{
    return kill(b->pid, 0) == 0;
}

/* The number of entries under <data>/topics, "." and ".." not counted, nor __groups (consumer
 * groups' internal topic). */
static int topic_dirs(const struct broker_proc *b)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/topics", b->data_dir);
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
             strcmp(e->d_name, "__groups") != 0;
    closedir(d);
    return n;
}

/* Creates (and deletes again) a two-partition topic named by `len` 'b's. */
static void try_length(struct broker_proc *b, int fd, size_t len)
{
    char name[LONGEST_TRIED + 1];
    memset(name, 'b', len);
    name[len] = 0;
    bool valid = len >= 1 && len <= RL_TOPIC_NAME_MAX;
    Ringlog__Response *r = wire_create_topic_segments(fd, name, 2, SEGMENT_BYTES);
    cr_assert_not_null(r, "length %zu: the broker answers (log: %s)", len, b->log_path);
    cr_assert(broker_alive(b), "length %zu: the broker is alive", len);
    int error = r->create_topics->topics[0]->error;
    ringlog__response__free_unpacked(r, NULL);
    if (!valid) {
        cr_assert_eq(error, RINGLOG__ERROR_CODE__INVALID_TOPIC, "length %zu refused", len);
        cr_assert_eq(topic_dirs(b), 0, "length %zu leaves no directory (%s)", len, b->data_dir);
        return;
    }
    cr_assert_eq(error, 0, "length %zu is created", len);
    r = wire_delete_topic(fd, name);
    cr_assert_not_null(r, "length %zu: delete is answered", len);
    cr_assert_eq(r->delete_topics->topics[0]->error, 0, "length %zu is deleted", len);
    ringlog__response__free_unpacked(r, NULL);
}

static void every_length(const char *shards)
{
    struct broker_proc b;
    const char *args[] = {"--shards", shards, "--flush", "none", NULL};
    cr_assert_eq(broker_start(&b, NULL, args), 0);
    int fd = wire_connect(b.port);
    cr_assert_geq(fd, 0);
    for (size_t len = 0; len <= LONGEST_TRIED; len++)
        try_length(&b, fd, len);
    close(fd);
    cr_expect_eq(broker_stop(&b), 0, "graceful shutdown exits 0 (log: %s)", b.log_path);
    broker_remove_data(&b);
}

Test(topic_names, every_length_on_one_shard)
{
    every_length("1");
}

Test(topic_names, every_length_on_two_shards)
{
    every_length("2");
}
