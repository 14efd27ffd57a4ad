/* Running the data plane: workers, listeners, reloads, graceful stop. */
#ifndef DWAAR_CORE_SERVER_H
#define DWAAR_CORE_SERVER_H

#include <dwaar/config/config.h>

typedef struct dw_server_opts {
    const char *config_path; /* reloaded on SIGHUP */
    unsigned workers;        /* 0 = number of CPUs */
    const dw_cfg_load_opts_t *load_opts;
} dw_server_opts_t;

/* Serves cfg (ownership passes to the server) until SIGTERM/SIGINT. SIGHUP re-reads
 * config_path: a config that fails to load or compile is reported and the running one
 * stays. Returns the process exit code (0 after a clean stop, 1 when startup failed, with the
 * reason on stderr). */
int dw_server_run(dw_config_t *cfg, const dw_server_opts_t *opts);

#endif
