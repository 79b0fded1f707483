#include "run_proc.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
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

static void append(char **buf, size_t *len, const char *data, size_t n)
{
    *buf = realloc(*buf, *len + n + 1);
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/*
 * posix_spawn with stdin, stdout and stderr on new pipes; env_extra added
 * to the environment. Our ends: in[1], o[0], e[0] (the others are closed).
 */
static int spawn_piped(const char *const *argv, const char *const *env_extra, pid_t *pid, int in[2],
                       int o[2], int e[2])
{
    if (pipe2(in, O_CLOEXEC) || pipe2(o, O_CLOEXEC) || pipe2(e, O_CLOEXEC))
        return -1;
    size_t nenv = 0, nextra = 0;
    while (environ[nenv])
        nenv++;
    while (env_extra && env_extra[nextra])
        nextra++;
    char **env = calloc(nenv + nextra + 1, sizeof(*env));
    memcpy(env, environ, nenv * sizeof(*env));
    for (size_t i = 0; i < nextra; i++)
        env[nenv + i] = (char *)env_extra[i];
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, o[1], 1);
    posix_spawn_file_actions_adddup2(&fa, e[1], 2);
    int rc = posix_spawn(pid, argv[0], &fa, NULL, (char *const *)argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    close(in[0]);
    close(o[1]);
    close(e[1]);
    if (rc != 0) {
        close(in[1]);
        close(o[0]);
        close(e[0]);
        return -1;
    }
    return 0;
}

int run_proc(const char *const *argv, const char *const *env_extra, const void *stdin_data,
             size_t stdin_len, int timeout_ms, struct proc_output *out)
{
    memset(out, 0, sizeof(*out));
    append(&out->out, &out->out_len, "", 0);
    append(&out->err, &out->err_len, "", 0);
    int in[2], o[2], e[2];
    pid_t pid;
    if (spawn_piped(argv, env_extra, &pid, in, o, e) != 0)
        return -1;
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    size_t written = 0;
    if (stdin_len == 0) {
        close(in[1]);
        in[1] = -1;
    }
    long long deadline = now_ms() + timeout_ms;

    int open_fds = 2;
    while (open_fds > 0) {
        struct pollfd fds[3] = {{.fd = o[0], .events = POLLIN},
                                {.fd = e[0], .events = POLLIN},
                                {.fd = in[1], .events = POLLOUT}};
        long long left = deadline - now_ms();
        if (left <= 0)
            break;
        int n = poll(fds, in[1] >= 0 ? 3 : 2, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        char buf[65536];
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t r = read(fds[i].fd, buf, sizeof(buf));
            if (r > 0) {
                if (i == 0)
                    append(&out->out, &out->out_len, buf, (size_t)r);
                else
                    append(&out->err, &out->err_len, buf, (size_t)r);
            } else {
                close(fds[i].fd);
                if (i == 0)
                    o[0] = -1;
                else
                    e[0] = -1;
                open_fds--;
            }
        }
        if (in[1] >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(in[1], (const char *)stdin_data + written, stdin_len - written);
            if (w > 0)
                written += (size_t)w;
            if (w < 0 || written == stdin_len) {
                close(in[1]);
                in[1] = -1;
            }
        }
        if (o[0] < 0 && e[0] < 0)
            break;
    }

    if (in[1] >= 0)
        close(in[1]);
    if (o[0] >= 0)
        close(o[0]);
    if (e[0] >= 0)
        close(e[0]);
    int status;
    if (now_ms() >= deadline) {
        kill(pid, SIGKILL);
    }
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

void proc_output_free(struct proc_output *out)
{
    free(out->out);
    free(out->err);
    out->out = out->err = NULL;
}

int live_start(struct live_proc *p, const char *const *argv, const char *const *env_extra)
{
    memset(p, 0, sizeof(*p));
    int in[2], o[2], e[2];
    pid_t pid;
    p->pid = -1;
    if (spawn_piped(argv, env_extra, &pid, in, o, e) != 0)
        return -1;
    p->pid = pid;
    p->in = in[1];
    p->out = o[0];
    p->err = e[0];
    return 0;
}

/* Reads what fd has now (waiting up to wait_ms) into buf; false at end of stream. */
static bool live_read(int fd, char *buf, size_t cap, size_t *len, int wait_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (fd < 0 || poll(&pfd, 1, wait_ms) <= 0)
        return fd >= 0;
    ssize_t r = read(fd, buf + *len, cap - 1 - *len);
    if (r <= 0)
        return false;
    *len += (size_t)r;
    buf[*len] = '\0';
    return true;
}

bool live_wait_for(struct live_proc *p, bool fd_is_err, const char *needle, int timeout_ms)
{
    char *buf = fd_is_err ? p->errbuf : p->outbuf;
    size_t *len = fd_is_err ? &p->err_len : &p->out_len;
    long long deadline = now_ms() + timeout_ms;
    buf[*len] = '\0';
    while (!strstr(buf, needle)) {
        long long left = deadline - now_ms();
        if (left <= 0 || *len + 1 >= sizeof(p->outbuf) ||
            !live_read(fd_is_err ? p->err : p->out, buf, sizeof(p->outbuf), len, (int)left))
            return strstr(buf, needle) != NULL;
    }
    return true;
}

int live_stop(struct live_proc *p, int sig, int timeout_ms)
{
    if (p->pid <= 0)
        return -1;
    if (sig)
        kill(p->pid, sig);
    long long deadline = now_ms() + timeout_ms;
    int status = 0;
    pid_t w;
    while ((w = waitpid(p->pid, &status, WNOHANG)) == 0 && now_ms() < deadline) {
        live_read(p->out, p->outbuf, sizeof(p->outbuf), &p->out_len, 10);
        live_read(p->err, p->errbuf, sizeof(p->errbuf), &p->err_len, 10);
    }
    if (w == 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &status, 0);
    }
    while (live_read(p->err, p->errbuf, sizeof(p->errbuf), &p->err_len, 0) &&
           p->err_len + 1 < sizeof(p->errbuf))
        ;
    while (live_read(p->out, p->outbuf, sizeof(p->outbuf), &p->out_len, 0) &&
           p->out_len + 1 < sizeof(p->outbuf))
        ;
    if (p->in >= 0)
        close(p->in);
    close(p->out);
    close(p->err);
    p->pid = -1;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}
