/*
 * The fake broker as a process, with ringlogd's start-up contract (flags
 * --listen 127.0.0.1:0, the "ringlogd ready" line, SIGTERM to stop), so
 * the process-level tests (CLI, examples) run without the real broker too.
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "fake_broker.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(void)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct fake_broker *fb = fake_broker_start();
    if (!fb)
        return 1;
    fprintf(stderr, "ringlogd ready node=1 listen=%s\n", fake_broker_address(fb));
    while (!stop)
        pause();
    fake_broker_stop(fb);
    return 0;
}
