/* The protocol-independent request pipeline (spec 10 §4, spec 20 §2.1): site selection, the
 * directive phases of a block, handle family, terminal handlers, handle_errors, and the
 * response-phase header work every response gets. A protocol front end (HTTP/1.1 today)
 * fills a dw_exchange_t, calls dw_pipeline_run, and carries out the outcome: send a generated
 * response, proxy, or abort. */
#ifndef DWAAR_CORE_PIPELINE_H
#define DWAAR_CORE_PIPELINE_H

#include "snapshot.h"
#include <time.h>

typedef enum dw_outcome_kind {
    DW_OUT_RESPOND = 0, /* status, headers, body below */
    DW_OUT_PROXY,       /* proxy_dir names the reverse_proxy */
    DW_OUT_ABORT,       /* close without a response */
} dw_outcome_kind_t;

typedef struct dw_exchange {
    dw_req_t req;
    dw_arena_t arena;

    /* outcome */
    uint8_t kind;
    uint16_t status;
    dw_fields_t resp_headers;
    dw_str_t body;
    const dw_rt_dir_t *proxy_dir;
    bool is_error; /* produced by error handling (for logs) */
    bool in_error; /* running handle_errors: errors are not re-handled */
    bool close;    /* send Connection: close (set by the front end too) */
    bool grpc;     /* `grpc <upstream>`, or a block marked by a bare `grpc`: the proxy speaks
                      HTTP/2 to the upstream (proxy_h2.c) */

    /* response-phase work collected on the way */
    const dw_cfg_intercept_t **intercepts;
    size_t nintercepts, intercepts_cap;
    const dw_cfg_copy_headers_t *copy_headers;
    uint64_t request_body_max;  /* 0 = unlimited */
    uint64_t response_body_max; /* 0 = unlimited */

    /* request log (spec 30 §2): facts gathered for the record written when the exchange ends;
     * timings are measured only when log_on (the worker has a batcher) */
    bool log_on;
    bool skip_log;             /* a skip_log directive matched */
    uint16_t sent_status;      /* status of the response head queued to the client; 0 = none */
    uint64_t start_us;         /* dw_pipeline_now_us() when the request head was parsed */
    uint64_t bytes_sent;       /* response body bytes queued to the client */
    uint64_t up_start_us;      /* the upstream request started going out (this attempt) */
    uint64_t up_time_us;       /* from then to the upstream response head; 0 = none */
    const char *upstream_addr; /* key ("ip:port") of the backend last used; NULL = none */
} dw_exchange_t;

/* Monotonic microseconds (vDSO clock read, no syscall): request-log timings. */
static inline uint64_t dw_pipeline_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Runs the pipeline for a request whose dw_req_t is filled (site may be NULL: no site on
 * this port/host). Always sets an outcome. */
void dw_pipeline_run(dw_exchange_t *ex);

/* An error happened outside the directives (proxy failure 502/503/504, body too large 413,
 * internal 500): runs handle_errors when the site has a matching block, else sets the plain
 * error response (empty body unless message). Sets an outcome (may be PROXY or ABORT when
 * the error block says so). */
void dw_pipeline_error(dw_exchange_t *ex, uint16_t status, dw_str_t message);

/* A generated response: status, Content-Type text/plain (when body is non-empty), body. */
void dw_pipeline_respond(dw_exchange_t *ex, uint16_t status, dw_str_t body);

/* Response-phase headers for any response (generated or proxied), in spec 20 §2.1 order:
 * security headers (strip leaky, set baseline), then header_down ops (proxied), then the
 * `header` directives that matched, then X-Request-Id. */
void dw_pipeline_finish_headers(dw_exchange_t *ex, dw_fields_t *fields,
                                const dw_cfg_header_ops_t *header_down);

#endif
