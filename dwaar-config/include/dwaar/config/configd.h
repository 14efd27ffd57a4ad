/* configd: owns the Dwaarfile and the API route overlay, validates every change, and publishes
 * the config snapshot (source + overlay, see source.h) to the data planes. A bus service: a
 * thread of `dwaar run` (single host, inproc://) or of `dwaar run --role control` (tcp://).
 * Messages: docs/bus.md ("configd"). */
#ifndef DWAAR_CONFIG_CONFIGD_H
#define DWAAR_CONFIG_CONFIGD_H

#include <dwaar/bus/bus.h>
#include <dwaar/config/config.h>

#define DW_CONFIGD_RPC_INPROC     "inproc://dwaar-configd"
#define DW_CONFIGD_UPDATES_INPROC "inproc://dwaar-config-updates"

typedef struct dw_configd_opts {
    const char *config_path;      /* the Dwaarfile (made absolute by configd) */
    const char *rpc_endpoint;     /* ROUTER bind: config.* requests */
    const char *updates_endpoint; /* PUB bind: config.snapshot on every change */
    const dw_cfg_load_opts_t *load_opts;
    bool watch;           /* reload when the file or an import changes (inotify) */
    unsigned debounce_ms; /* 0 = 500 */
} dw_configd_opts_t;

/* The service definition (opts is copied). Its init loads the Dwaarfile: when that fails the
 * diagnostics are printed to stderr and init fails ("the configuration has errors"), so a bad
 * file stops `dwaar run` before anything listens. */
dw_service_def_t dw_configd_service(const dw_configd_opts_t *opts);

#endif
