/* A worker: one thread, one event loop, its own listeners (SO_REUSEPORT), connections, idle
 * upstream connections and counters. Nothing here is shared with other workers; the snapshot
 * is shared read-only. */
#ifndef DWAAR_CORE_WORKER_H
#define DWAAR_CORE_WORKER_H

#include "pipeline.h"
#include "transport.h"
#include <dwaar/base/loop.h>
#include <pthread.h>

struct dw_server;
struct dw_upconn;
struct dw_h2conn;

/* Facts about a client connection every request on it sees. */
typedef struct dw_conn_info {
    dw_ip_t peer;
    uint16_t port;      /* the listener's port */
    char listener[256]; /* the accepting listener's key */
    bool tls;
    char sni[256];                        /* server name the TLS client sent; "" = none */
    const char *tls_version, *tls_cipher; /* OpenSSL's static names; NULL without TLS */
} dw_conn_info_t;

/* The worker's hold on one snapshot: requests count here (no shared atomics per request);
 * the worker holds one real reference per snapshot it still uses. */
typedef struct dw_snapref {
    dw_snapshot_t *snap;
    long users; /* requests in flight on this snapshot */
    struct dw_snapref *next;
} dw_snapref_t;

typedef struct dw_listener {
    int fd;
    dw_io_t *io;
    uint16_t port;
    bool tls;
    char key[256];
    struct dw_worker *w;
    bool keep; /* reconcile mark */
} dw_listener_t;

/* Idle upstream connections to one backend (keyed by dw_backend_t.key). */
typedef struct dw_idle_list {
    struct dw_upconn *head;
    size_t n;
} dw_idle_list_t;

typedef struct dw_worker {
    int id;
    struct dw_server *srv;
    pthread_t thread;
    dw_loop_t *loop;
    dw_async_t *wake;
    dw_snapref_t *cur; /* the snapshot new requests use */
    dw_snapref_t *old; /* older snapshots still used by in-flight requests */
    dw_listener_t **listeners;
    size_t nlisteners, listeners_cap;
    dw_strmap_t idle;      /* backend key -> dw_idle_list_t */
    struct dw_conn *conns; /* every HTTP/1.1 client connection (for shutdown) */
    size_t nconns;
    struct dw_h2conn *h2conns; /* every HTTP/2 client connection */
    size_t nh2conns;
    dw_strmap_t h2up; /* proxy_h2.c: backend key -> its upstream HTTP/2 connections */
    bool stopping;
    bool start_failed;
    char start_error[256];
    uint64_t rng;                     /* request ids */
    char *scratch;                    /* read buffer for tunnels/discards, 64 KiB */
    struct dw_log_batcher *alog;      /* NULL = access logging off */
    struct dw_tls_server *tls_server; /* the process's TLS context (TLS listeners) */
} dw_worker_t;

/* worker.c */
void dw_worker_snapshot_changed(dw_worker_t *w);
dw_snapref_t *dw_worker_snap_acquire(dw_worker_t *w);
void dw_worker_snap_release(dw_worker_t *w, dw_snapref_t *ref);

/* http1.c */
void dw_h1_accept(dw_worker_t *w, int fd, const struct sockaddr_storage *peer, uint16_t port,
                  const char *listener_key, bool tls);
void dw_h1_close_all(dw_worker_t *w);
/* Fills the request's connection facts (peer, port, listener, TLS) from info. */
void dw_req_set_conn(dw_req_t *r, const dw_conn_info_t *info);

/* http2.c: takes over a connection that speaks HTTP/2 (ALPN h2, or the h2c preface on a plain
 * listener). pre holds bytes already read from it (the preface, maybe more); tp's io is not
 * set (http2.c makes its own). Frees everything on failure. */
void dw_h2_start(dw_worker_t *w, dw_tport_t tp, const dw_conn_info_t *info, const char *pre,
                 size_t npre);
/* Worker stop: GOAWAY to every HTTP/2 connection, close those with no stream in flight. */
void dw_h2_stop(dw_worker_t *w);
void dw_h2_close_all(dw_worker_t *w);
void dw_upstream_idle_close_all(dw_worker_t *w);

#endif
