/* The runtime snapshot: what a worker serves from, compiled from one config model. Immutable
 * once published; reference-counted (see worker.c for how requests hold it without touching a
 * shared counter). */
#ifndef DWAAR_CORE_SNAPSHOT_H
#define DWAAR_CORE_SNAPSHOT_H

#include "match.h"
#include <dwaar/base/hash.h>
#include <dwaar/core/h1.h>
#include <stdatomic.h>

struct dw_pool;
struct dw_tls_certset;

/* A compiled block (site, handle, handle_path, route, handle_errors): the directives in the
 * order §4.2 runs them. */
typedef struct dw_rt_dir {
    const dw_cfg_directive_t *d;
    dw_rt_match_t *match;    /* NULL = always */
    dw_rt_map_t *map;        /* map */
    struct dw_rt_block *sub; /* handle family */
    struct dw_pool *pool;    /* reverse_proxy */
} dw_rt_dir_t;

typedef struct dw_rt_block {
    dw_rt_dir_t *mw; /* ranks 1-7 in rank order (stable) */
    size_t nmw;
    dw_rt_dir_t *family; /* rank 8, source order */
    size_t nfamily;
    dw_rt_dir_t *terminals; /* rank 9: with matcher first, then without (stable) */
    size_t nterminals;
    bool grpc; /* a bare `grpc` marks the block: its reverse_proxy speaks HTTP/2 (§6.2) */
} dw_rt_block_t;

typedef struct dw_rt_errblock {
    const dw_cfg_handle_t *h;
    dw_rt_block_t *block;
} dw_rt_errblock_t;

typedef struct dw_rt_site {
    const dw_cfg_site_t *cfg;
    dw_rt_block_t *block;
    dw_rt_errblock_t *errors; /* handle_errors blocks, source order */
    size_t nerrors, errors_cap;
    bool strip_leaky_headers;
    uint64_t request_body_max; /* 0 = unlimited */
    uint64_t response_body_max;
    const dw_cfg_log_t *log; /* the site's `log` directive; NULL = no access records */
    /* `bind`: the site answers only on connections accepted by these listeners (keys as
     * dw_rt_listen_key() makes them); none = every listener of its port */
    const char **binds;
    size_t nbinds, binds_cap;
} dw_rt_site_t;

/* Sites reachable on one port. */
typedef struct dw_rt_port {
    uint16_t port;
    bool tls;
    dw_strmap_t exact;    /* host -> site */
    dw_strmap_t wildcard; /* "rest" of `*.rest` -> site */
    dw_rt_site_t *catch_all;
} dw_rt_port_t;

/* One listening address of the snapshot. */
typedef struct dw_rt_listen {
    char host[64]; /* IP literal or "" = all (dual stack) */
    uint16_t port;
    bool tls;
    char *unix_path; /* bind unix// */
} dw_rt_listen_t;

typedef struct dw_snapshot {
    dw_config_t *cfg; /* owned */
    dw_arena_t arena; /* compiled runtime structures */
    atomic_long refs; /* holders: the global pointer + each worker that uses it */
    uint64_t generation;
    dw_h1_limits_t limits;
    dw_rt_port_t *ports;
    size_t nports, ports_cap;
    dw_rt_listen_t *listens;
    size_t nlistens, listens_cap;
    struct dw_pool **pools; /* every reverse_proxy's pool, for the health service */
    size_t npools, pools_cap;
    /* TLS (spec 20 §1): the certificates handshakes choose from (NULL = no TLS site), and the
     * HTTP->HTTPS redirects of §1.9 served on http_port: TLS host -> the port to redirect to
     * (a uint16_t stored in the pointer) */
    struct dw_tls_certset *certs;
    bool redirects;
    uint16_t http_port;
    dw_strmap_t https_exact, https_wild;
} dw_snapshot_t;

/* Compiles cfg (taking ownership of it, also on failure). */
dw_snapshot_t *dw_snapshot_build(dw_config_t *cfg, dw_err_t *err);
void dw_snapshot_free(dw_snapshot_t *s);
void dw_snapshot_ref(dw_snapshot_t *s);
/* Drops a reference; the last one frees the snapshot. */
void dw_snapshot_unref(dw_snapshot_t *s);
/* Site for a Host (already normalised) on a local port: exact, then `*.rest`, then catch-all;
 * NULL when none. */
const dw_rt_site_t *dw_snapshot_select(const dw_snapshot_t *s, uint16_t port, dw_str_t host,
                                       const char *listener);
/* §1.9: the HTTPS port a plain request for host on http_port is redirected to, or 0 when the
 * request is not redirected (no TLS site for host, or a plain site answers it there). */
uint16_t dw_snapshot_https_redirect(const dw_snapshot_t *s, dw_str_t host, const char *listener);
/* "host|port|unix-path": identifies a listening address across snapshots. */
void dw_rt_listen_key(const dw_rt_listen_t *ls, char *out, size_t n);

#endif
