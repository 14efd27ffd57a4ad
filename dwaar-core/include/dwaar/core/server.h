/* Running the data plane: workers, listeners, snapshot swaps, graceful stop.
 *
 * The data plane does not read the Dwaarfile: its config agent (a bus service thread)
 * fetches the config snapshot from configd, compiles it and swaps it in, then keeps in step
 * with configd's publications and pings; when the control plane goes away the data plane keeps
 * serving its last snapshot and resynchronises when it returns. */
#ifndef DWAAR_CORE_SERVER_H
#define DWAAR_CORE_SERVER_H

#include <dwaar/config/config.h>

typedef struct dw_server_opts {
    unsigned workers;             /* 0 = number of CPUs */
    const char *control_endpoint; /* configd's ROUTER (config.get/ping) */
    const char *updates_endpoint; /* configd's PUB (config.snapshot) */
    const char *logd_endpoint;    /* logd's PULL; NULL = no access logs */
    const char *node_name;        /* reported to configd; NULL = "<hostname>:<pid>" */
    /* Data role: wait as long as it takes for a first snapshot. Otherwise (single host) a
     * first snapshot that does not arrive within 10 s or does not compile fails the start. */
    bool wait_for_control;
    const dw_cfg_load_opts_t *load_opts;
    /* SIGHUP: asked of the caller (single host: tell configd); NULL = resynchronise with the
     * control plane. Runs on the main thread. */
    void (*on_reload_signal)(void *arg);
    /* Graceful stop began (SIGTERM/SIGINT): e.g. admin /healthz turns 503. Main thread. */
    void (*on_stop)(void *arg);
    void *cb_arg;
} dw_server_opts_t;

/* Serves until SIGTERM/SIGINT. Returns the process exit code (0 after a clean stop, 1 when
 * startup failed, with the reason on stderr). */
int dw_server_run(const dw_server_opts_t *opts);

#endif
