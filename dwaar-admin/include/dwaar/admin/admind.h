/* admind: the admin HTTP API (spec 30 §1) and the ZeroMQ endpoint dwaarctl speaks. A bus
 * service (dwaar-bus): in single-host mode a thread of `dwaar run`, in split mode a thread of
 * `dwaar run --role control`. It owns no configuration: routes, reloads and validation are
 * asked of configd with config.* messages (docs/bus.md). */
#ifndef DWAAR_ADMIN_ADMIND_H
#define DWAAR_ADMIN_ADMIND_H

#include <dwaar/bus/bus.h>
#include <stdbool.h>
#include <time.h>

typedef struct dw_admind_opts {
    const char *tcp_addr;         /* "HOST:PORT" (default 127.0.0.1:6190); always on */
    const char *unix_path;        /* --admin-socket path, NULL = none */
    const char *ctl_endpoint;     /* ZeroMQ ROUTER for dwaarctl; NULL = derived default
                                     ipc:///tmp/dwaar-ctl-<tcp port>.ipc */
    const char *configd_endpoint; /* where config.* requests go (inproc://dwaar-configd) */
    const char *token;            /* DWAAR_ADMIN_TOKEN as read at startup; NULL/"" = reject */
    const char *addr_file;        /* NULL = /tmp/dwaar-admin.addr; "" = do not write */
    bool metrics_enabled;         /* false with --no-metrics / --bare */
} dw_admind_opts_t;

/* The service definition to pass to dw_service_start()/dw_service_run(). opts is copied. Its
 * init fails (with a message such as "cannot bind admin API 127.0.0.1:6190: Address already
 * in use", or "admin address 0.0.0.0:6190 is not loopback: set DWAAR_ADMIN_TOKEN") when a
 * listener cannot be set up. */
dw_service_def_t dw_admind_service(const dw_admind_opts_t *opts);

/* From the moment graceful shutdown starts, GET /healthz answers 503 {"status":"draining"}.
 * Process-wide, callable from any thread (a signal handler's loop callback). */
void dw_admind_set_draining(void);

/* `dwaar routes [--admin ADDR]` and `dwaar reload [--admin ADDR]` (spec 30 §1.7): HTTP
 * clients of the admin API. addr NULL = default (reload first reads /tmp/dwaar-admin.addr).
 * Return the process exit code. */
int dw_admin_cli_routes(const char *addr);
int dw_admin_cli_reload(const char *addr);

#endif
