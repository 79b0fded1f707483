#include "broker_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void test_bin_path(const char *name, char *out, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(out, len, "%s/%s", self, name);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads the child's stderr until the ready line (copying all of it to the log). */
static int wait_ready(struct broker_proc *b, int fd, int log_fd)
{
    char buf[8192];
    size_t len = 0;
    int64_t deadline = now_ms() + 20000;
    while (now_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            return -1;
        if (write(log_fd, buf + len, (size_t)n) < 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        char *ready = strstr(buf, "ringlogd ready node=");
        char *listen = ready ? strstr(ready, "listen=") : NULL;
        char *nl = listen ? strchr(listen, '\n') : NULL;
        if (nl) {
            /* The address ends at a space: more key=value fields may follow. */
            char *colon = memrchr(listen, ':', strcspn(listen, " \n"));
            b->port = colon ? (uint16_t)atoi(colon + 1) : 0;
            return b->port ? 0 : -1;
        }
        if (len > sizeof(buf) / 2) {
            memmove(buf, buf + len / 2, len - len / 2);
            len -= len / 2;
        }
    }
    return -1;
}

/* After the ready line, keep copying stderr to the log in a detached child. */
static void copy_rest(int fd, int log_fd)
{
    pid_t pid = fork();
    if (pid != 0)
        return;
    char buf[8192];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (write(log_fd, buf, (size_t)n) < 0)
            break;
    _exit(0);
}

int broker_start(struct broker_proc *b, const char *data_dir, const char *const *extra_args)
{
    memset(b, 0, sizeof(*b));
    if (data_dir) {
        snprintf(b->data_dir, sizeof(b->data_dir), "%s", data_dir);
    } else {
        const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(b->data_dir, sizeof(b->data_dir), "%s/ringlog-test-XXXXXX", tmp);
        if (!mkdtemp(b->data_dir))
            return -1;
    }
    snprintf(b->log_path, sizeof(b->log_path), "%s.log", b->data_dir);
    char bin[PATH_MAX];
    test_bin_path("ringlogd", bin, sizeof(bin));
    const char *args[64] = {bin,         "--data-dir", b->data_dir, "--listen", "127.0.0.1:0",
                            "--metrics", "off",        "--shards",  "2"};
    int n = 9;
    for (int i = 0; extra_args && extra_args[i] && n < 62; i++)
        args[n++] = extra_args[i];
    args[n] = NULL;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return -1;
    int log_fd = open(b->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    b->pid = fork();
    if (b->pid == 0) {
        /* A test that dies (assertion, timeout, signal) takes its broker with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pipefd[1], STDERR_FILENO);
        execv(bin, (char *const *)args);
        _exit(127);
    }
    close(pipefd[1]);
    int rc = wait_ready(b, pipefd[0], log_fd);
    if (rc == 0)
        copy_rest(pipefd[0], log_fd);
    close(pipefd[0]);
    close(log_fd);
    if (rc != 0) {
        fprintf(stderr, "broker did not become ready; log in %s\n", b->log_path);
        broker_kill(b);
    }
    return rc;
}

int broker_stop(struct broker_proc *b)
{
    if (b->pid <= 0)
        return -1;
    kill(b->pid, SIGTERM);
    int status;
    if (waitpid(b->pid, &status, 0) != b->pid)
        return -1;
    b->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void broker_kill(struct broker_proc *b)
{
    if (b->pid <= 0)
        return;
    kill(b->pid, SIGKILL);
    waitpid(b->pid, NULL, 0);
    b->pid = 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void broker_remove_data(struct broker_proc *b)
{
    nftw(b->data_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (!getenv("RINGLOG_KEEP_LOGS"))
        unlink(b->log_path);
}

int broker_run_once(const char *const *args, char *out, size_t out_len)
{
    char bin[PATH_MAX];
    test_bin_path("ringlogd", bin, sizeof(bin));
    const char *argv[32] = {bin};
    for (int i = 0; args[i] && i < 30; i++)
        argv[i + 1] = args[i];
    int pipefd[2];
    if (out_len == 0 || pipe2(pipefd, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], STDERR_FILENO);
        dup2(pipefd[1], STDOUT_FILENO);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t len = 0;
    ssize_t r;
    while (len < out_len - 1 && (r = read(pipefd[0], out + len, out_len - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(pipefd[0]);
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

long broker_log_size(const struct broker_proc *b)
{
    struct stat st;
    return stat(b->log_path, &st) == 0 ? (long)st.st_size : 0;
}

char *broker_log_since(const struct broker_proc *b, long from)
{
    FILE *f = fopen(b->log_path, "r");
    if (!f)
        return NULL;
    long end = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    char *text = end >= from && from >= 0 ? malloc((size_t)(end - from) + 1) : NULL;
    if (text && fseek(f, from, SEEK_SET) == 0)
        text[fread(text, 1, (size_t)(end - from), f)] = '\0';
    else if (text)
        text[0] = '\0';
    fclose(f);
    return text;
}

long long broker_closed_segment_bytes(const char *partition_dir)
{
    DIR *d = opendir(partition_dir);
    if (d == NULL)
        return -1;
    long long total = 0, newest_size = 0;
    char newest[64] = "";
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n != 24 || strcmp(e->d_name + 20, ".log") != 0)
            continue;
        char f[PATH_MAX];
        snprintf(f, sizeof(f), "%s/%s", partition_dir, e->d_name);
        struct stat st;
        if (stat(f, &st) != 0)
            continue;
        total += st.st_size;
        if (strcmp(e->d_name, newest) > 0) {
            snprintf(newest, sizeof(newest), "%s", e->d_name);
            newest_size = st.st_size;
        }
    }
    closedir(d);
    return total - newest_size;
}
