/* Upstream pools: the backends of one reverse_proxy, their shared health and load state, and
 * backend selection (spec 20 §3.3). The state is process-wide (atomics), read lock-free by
 * every worker and written by workers (in-flight counts, passive failures) and the health
 * service (active probes). Connections are not here: each worker keeps its own idle
 * connections per backend (upstream.c). */
#ifndef DWAAR_CORE_POOL_H
#define DWAAR_CORE_POOL_H

#include <dwaar/base/error.h>
#include <dwaar/core/request.h>
#include <stdatomic.h>
#include <sys/socket.h>

typedef struct dw_backend {
    dw_str_t host; /* as configured (name or IP literal; socket path for unix) */
    uint16_t port;
    bool is_unix;
    bool resolved; /* addr is valid (names resolve when the snapshot is compiled) */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char key[128];  /* "ip:port" or "unix:/path": identifies pooled connections across reloads */
    char label[80]; /* masked for logs: 10.x.x.x:8080 */
    uint64_t cookie_hash; /* FNV-1a 64 of "<ip>:<port>" ("[v6]:port") for lb_policy cookie */
    atomic_int inflight;
    atomic_bool healthy;              /* active checks; starts true */
    atomic_uint_least64_t fail_until; /* monotonic ms; passive failure window */
} dw_backend_t;

typedef struct dw_pool {
    const dw_cfg_proxy_t *cfg;
    dw_backend_t *be;
    size_t n;
    atomic_uint rr; /* round robin counter shared by all workers (decision 33) */
    /* scale_to_zero: monotonic ms until which a wake started by any worker is in progress;
     * the request that moves it forward runs wake_command, the others just wait */
    atomic_uint_least64_t wake_until;
    /* upstream TLS (spec 20 §1.11): `transport tls`, any tls_* key, or https:// upstreams;
     * NULL = plain. Freed with the snapshot arena. */
    struct dw_tls_client *tls;
} dw_pool_t;

/* Resolves the upstreams (getaddrinfo; blocking — only at snapshot compile time, never on the
 * request path). Unresolvable backends stay in the pool and answer 502 when chosen. */
int dw_pool_init(dw_arena_t *a, dw_pool_t *p, const dw_cfg_proxy_t *cfg, dw_err_t *err);
/* The name an upstream's certificate is verified against (and sent as SNI when it is a DNS
 * name): tls_server_name, else the host as written. */
dw_str_t dw_pool_tls_name(const dw_pool_t *p, const dw_backend_t *b);

/* Chooses an available backend and claims an in-flight slot on it (max_conns). exclude (may be
 * NULL) is avoided when another is available. Returns NULL when none is available (502).
 * *set_cookie is set when lb_policy cookie must send a new _dwaar_sticky cookie. */
dw_backend_t *dw_pool_pick(dw_pool_t *p, dw_req_t *r, const dw_backend_t *exclude,
                           bool *set_cookie);
void dw_backend_release(dw_backend_t *b);
/* Passive check: a connect failure opens a fail_duration window (when configured). */
void dw_backend_failed(dw_pool_t *p, dw_backend_t *b);
bool dw_backend_available(const dw_pool_t *p, const dw_backend_t *b, uint64_t now_ms);

#endif
