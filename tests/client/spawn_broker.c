#include "spawn_broker.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *drain_main(void *arg)
{
    struct spawned_broker *b = arg;
    char buf[4096];
    ssize_t n;
    while ((n = read(b->stderr_fd, buf, sizeof(buf))) > 0) {
        ssize_t w = write(STDERR_FILENO, buf, (size_t)n);
        (void)w;
    }
    return NULL;
}

/* Parses "ringlogd ready node=N listen=HOST:PORT" out of a line. */
static bool parse_ready(const char *line, struct spawned_broker *b)
{
    const char *r = strstr(line, "ringlogd ready");
    const char *l = r ? strstr(r, "listen=") : NULL;
    if (!l)
        return false;
    l += 7;
    size_t len = strcspn(l, " \r\n");
    if (len == 0 || len >= sizeof(b->listen))
        return false;
    memcpy(b->listen, l, len);
    b->listen[len] = '\0';
    const char *colon = strrchr(b->listen, ':');
    b->port = colon ? atoi(colon + 1) : 0;
    return b->port > 0;
}

int spawn_broker_start(struct spawned_broker *b, const char *binary, const char *data_dir,
                       const char *const *extra_args, int timeout_ms)
{
    memset(b, 0, sizeof(*b));
    b->pid = -1;
    b->stderr_fd = -1;
    if (data_dir) {
        snprintf(b->data_dir, sizeof(b->data_dir), "%s", data_dir);
        mkdir(b->data_dir, 0755);
    } else {
        snprintf(b->data_dir, sizeof(b->data_dir), "/tmp/ringlog-test-XXXXXX");
        if (!mkdtemp(b->data_dir)) {
            fprintf(stderr, "spawn_broker: mkdtemp: %s\n", strerror(errno));
            return -1;
        }
    }
    const char *argv[64] = {binary, "--listen",   "127.0.0.1:0", "--metrics",
                            "off",  "--data-dir", b->data_dir};
    int argc = 7;
    for (int i = 0; extra_args && extra_args[i] && argc < 63; i++)
        argv[argc++] = extra_args[i];
    argv[argc] = NULL;

    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
    int rc = posix_spawn(&b->pid, binary, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (rc != 0) {
        fprintf(stderr, "spawn_broker: cannot run %s: %s\n", binary, strerror(rc));
        close(pipefd[0]);
        b->pid = -1;
        return -1;
    }
    b->stderr_fd = pipefd[0];

    /* Read stderr line by line until the ready line, echoing what comes. */
    char line[1024];
    size_t have = 0;
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - now_ms();
        struct pollfd pfd = {.fd = b->stderr_fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            fprintf(stderr, "spawn_broker: %s did not become ready in %d ms\n", binary, timeout_ms);
            spawn_broker_stop(b, 1000);
            return -1;
        }
        ssize_t n =
            read(b->stderr_fd, line + have, 1); /* byte by byte: stop right after the line */
        if (n <= 0) {
            fprintf(stderr, "spawn_broker: %s exited before it was ready\n", binary);
            spawn_broker_stop(b, 1000);
            return -1;
        }
        if (line[have] == '\n' || have + 2 >= sizeof(line)) {
            line[have + 1] = '\0';
            fputs(line, stderr);
            if (parse_ready(line, b))
                break;
            have = 0;
        } else {
            have++;
        }
    }
    b->drain_started = pthread_create(&b->drain, NULL, drain_main, b) == 0;
    return 0;
}

int spawn_broker_stop(struct spawned_broker *b, int timeout_ms)
{
    int status = -1;
    if (b->pid > 0) {
        kill(b->pid, SIGTERM);
        long long deadline = now_ms() + timeout_ms;
        for (;;) {
            pid_t r = waitpid(b->pid, &status, WNOHANG);
            if (r == b->pid)
                break;
            if (r < 0) {
                status = -1;
                break;
            }
            if (now_ms() >= deadline) {
                kill(b->pid, SIGKILL);
                waitpid(b->pid, &status, 0);
                status = -1;
                break;
            }
            usleep(10000);
        }
        b->pid = -1;
    }
    if (b->drain_started) {
        pthread_join(b->drain, NULL);
        b->drain_started = false;
    }
    if (b->stderr_fd >= 0) {
        close(b->stderr_fd);
        b->stderr_fd = -1;
    }
    return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void spawn_broker_remove_data(struct spawned_broker *b)
{
    if (b->data_dir[0])
        nftw(b->data_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
