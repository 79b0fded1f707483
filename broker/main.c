/* ringlogd: the Ringlog broker daemon. See docs/OPERATIONS.md. */
#include <stdio.h>

#include "config.h"
#include "diag.h"
#include "daemon.h"

int main(int argc, char **argv)
{
    struct broker_config cfg;
    char err[512];
    int rc = broker_config_parse(&cfg, argc, argv, err, sizeof(err));
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "ringlogd: %s\n", err);
        return 2;
    }
    diag_set_level(cfg.log_level);
    return daemon_run(&cfg);
}
