/* The client side of one exchange as the reverse proxy sees it, whatever the protocol: an
 * HTTP/1.1 connection (http1.c) or an HTTP/2 stream (http2.c). The proxy (proxy.c for
 * HTTP/1.1 upstreams, proxy_h2.c for HTTP/2 and gRPC upstreams) drives an exchange only
 * through these fields and operations, so every front end reaches every upstream.
 *
 * Flow: the front end runs the pipeline; an outcome DW_OUT_PROXY calls dw_proxy_start(d).
 * The front end then calls dw_proxy_client_readable(d) when request body bytes arrived,
 * dw_proxy_client_drained(d) when its queued output was written, and dw_proxy_abort_upstream(d)
 * when the client went away (before freeing the exchange). The proxy ends the exchange with
 * exactly one of ops->done, ops->abort, ops->send_generated or ops->send_error. The proxy may
 * call ops->abort while it is still attached, so a front end that ends an exchange calls
 * dw_proxy_abort_upstream first whenever d->px, d->up or d->h2s is set. */
#ifndef DWAAR_CORE_DOWNSTREAM_H
#define DWAAR_CORE_DOWNSTREAM_H

#include "pipeline.h"
#include <sys/types.h>

struct dw_worker;
struct dw_proxy;
struct dw_upconn;
struct dw_h2up_stream;

typedef struct dw_down dw_down_t;

typedef enum dw_down_body {
    DW_DOWN_BODY_NONE = 0, /* no request body */
    DW_DOWN_BODY_LENGTH,   /* blen bytes (Content-Length) */
    DW_DOWN_BODY_STREAM,   /* length unknown until it ends (chunked, HTTP/2 without length) */
} dw_down_body_t;

typedef void (*dw_down_sink)(dw_down_t *d, const char *p, size_t n);

typedef struct dw_down_ops {
    /* Hands request body bytes already received to sink, in order, updating bread and bdone.
     * What is handed over is consumed (HTTP/2: the stream window opens again). Returns 0, or
     * -1 on a framing error. */
    int (*body_pull)(dw_down_t *d, dw_down_sink sink);
    /* Tries to receive more body now: >0 bytes arrived (pull them), -2 none yet (the front
     * end calls dw_proxy_client_readable when some arrive), 0 or -1 the client is gone. */
    ssize_t (*body_read)(dw_down_t *d);
    /* Sends 100 Continue when the client waits for it (HTTP/1.1 Expect). Returns -1 when the
     * connection failed (the proxy then stops; the front end cleans up). */
    int (*send_continue)(dw_down_t *d);
    /* The whole request body went upstream (stops the read_body timer). */
    void (*body_done)(dw_down_t *d);
    /* The response head. fields are final (finish_headers ran); content_length >= 0 is
     * announced, -1 means unknown; has_body false means no DATA follows (HEAD, 204, 304, or a
     * known empty body). Starts the write timeout. Returns 0, or -1 (out of memory). */
    int (*resp_head)(dw_down_t *d, uint16_t status, const dw_fields_t *fields,
                     int64_t content_length, bool has_body);
    /* Queues body bytes; returns true when it kept a pointer to them instead of copying (the
     * caller leaves those bytes untouched until out_pending() is 0). */
    bool (*resp_data)(dw_down_t *d, const char *p, size_t n);
    /* End of the response body, with trailers (NULL or empty = none). */
    void (*resp_end)(dw_down_t *d, const dw_fields_t *trailers);
    /* Writes what is queued: 1 all of it is out (or handed to the protocol layer), 0 blocked
     * (dw_proxy_client_drained follows later), -1 failed (call abort). */
    int (*flush)(dw_down_t *d);
    size_t (*out_pending)(const dw_down_t *d);
    /* The response is complete and flushed: the exchange ends (d may be freed). */
    void (*done)(dw_down_t *d);
    /* The exchange fails after its response started, or the client is gone: HTTP/1.1 closes
     * the connection, HTTP/2 resets the stream. d may be freed. */
    void (*abort)(dw_down_t *d);
    /* Sends the generated response held in d->ex (status, resp_headers, body) and carries on
     * as after `respond`. d may be freed. */
    void (*send_generated)(dw_down_t *d);
    /* A bare error response (400 for a broken body) that also ends the connection (HTTP/1.1)
     * or the stream (HTTP/2). d may be freed. */
    void (*send_error)(dw_down_t *d, uint16_t status);
    /* Re-evaluates socket interest after the proxy changed what it waits for. */
    void (*update_interest)(dw_down_t *d);
} dw_down_ops_t;

struct dw_down {
    const dw_down_ops_t *ops;
    struct dw_worker *w;
    dw_exchange_t *ex;
    struct dw_proxy *px;        /* proxy.c state of the current exchange, or NULL */
    struct dw_upconn *up;       /* its HTTP/1.1 upstream connection, or NULL */
    struct dw_h2up_stream *h2s; /* proxy_h2.c: its upstream HTTP/2 stream, or NULL */
    uint8_t bkind;              /* dw_down_body_t */
    bool bdone;                 /* the whole request body was received */
    bool body_error;            /* framing error in the request body */
    bool expect;                /* HTTP/1.1 Expect: 100-continue, body not asked for yet */
    bool upgrade;               /* HTTP/1.1 Upgrade request (tunnels are HTTP/1.1 only) */
    bool want_close;            /* HTTP/1.1: close the connection after this response */
    uint8_t proto;              /* 11 (also 1.0) or 20 */
    uint64_t blen;              /* declared body length (DW_DOWN_BODY_LENGTH) */
    uint64_t bread;             /* body bytes received so far */
    dw_fields_t trailers;       /* request trailers (HTTP/2), in the exchange arena */
};

/* proxy.c */
void dw_proxy_start(dw_down_t *d);
void dw_proxy_client_readable(dw_down_t *d);
void dw_proxy_client_drained(dw_down_t *d);
bool dw_proxy_wants_client_read(const dw_down_t *d);
void dw_proxy_abort_upstream(dw_down_t *d);

/* proxy_h2.c: reverse_proxy with `transport h2|h2c`, h2c:// upstreams, and grpc. */
bool dw_proxy_h2_wanted(const dw_exchange_t *ex);
void dw_proxy_h2_start(dw_down_t *d);
/* Dispatch: proxy.c forwards to these while d->h2s is set (dw_proxy_h2_start sets it before
 * returning unless the exchange already ended). */
void dw_proxy_h2_client_readable(dw_down_t *d);
bool dw_proxy_h2_wants_client_read(const dw_down_t *d);
void dw_proxy_h2_client_drained(dw_down_t *d);
void dw_proxy_h2_abort(dw_down_t *d);
/* Closes every pooled upstream HTTP/2 connection of the worker (shutdown). */
void dw_proxy_h2_close_all(struct dw_worker *w);

/* A gRPC request (Content-Type application/grpc*). */
bool dw_exchange_is_grpc(const dw_exchange_t *ex);
/* Turns an error status of a gRPC exchange into a gRPC error: HTTP 200, content-type
 * application/grpc, grpc-status (502/503 → 14 UNAVAILABLE, 504 → 4 DEADLINE_EXCEEDED,
 * 413 → 8 RESOURCE_EXHAUSTED, else 13 INTERNAL) and grpc-message, as a trailers-only
 * response. */
void dw_grpc_error_response(dw_exchange_t *ex, uint16_t http_status);

#endif
