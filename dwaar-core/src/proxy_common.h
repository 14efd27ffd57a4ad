/* What the HTTP/1.1 (proxy.c) and HTTP/2 (proxy_h2.c) upstream sides of reverse_proxy share:
 * request field filtering, the forwarding fields, response field filtering, intercept, the
 * sticky cookie, retry rules and opening the upstream socket. Internal. */
#ifndef DWAAR_CORE_PROXY_COMMON_H
#define DWAAR_CORE_PROXY_COMMON_H

#include "downstream.h"
#include "pipeline.h"
#include "pool.h"

/* A client request field that is not forwarded as is: hop-by-hop fields (Upgrade is kept for
 * an upgrade request), fields named in Connection, and the ones the proxy sets itself
 * (Content-Length, Expect, X-Forwarded-*, X-Real-IP, X-Request-Id). */
bool dw_proxy_skip_request_field(dw_str_t name, dw_str_t connection_value, bool upgrade);
/* Every Connection field value of the request joined with ',' (in a), or empty. */
dw_str_t dw_proxy_connection_tokens(const dw_req_t *r, dw_arena_t *a);
/* Appends X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host (when the client sent a
 * host), X-Real-IP and X-Request-Id. */
void dw_proxy_add_forwarded(const dw_req_t *r, dw_arena_t *a, dw_fields_t *f);

/* The first `intercept` of the exchange whose statuses list st, or NULL. */
const dw_cfg_intercept_t *dw_proxy_intercept_for(const dw_exchange_t *ex, uint16_t st);
/* Replaces the upstream response by the intercept's answer: ex becomes a generated response
 * (the front end sends it with send_generated). */
void dw_proxy_intercept_respond(dw_exchange_t *ex, const dw_cfg_intercept_t *ic, uint16_t st);
/* copy_response_headers: the upstream response field may reach the client. */
bool dw_proxy_copy_header_allowed(const dw_cfg_copy_headers_t *ch, dw_str_t name);
/* lb_policy cookie: appends the Set-Cookie naming be. */
void dw_proxy_add_sticky_cookie(dw_arena_t *a, dw_fields_t *f, const dw_backend_t *be);

/* lb_retries apply to GET, HEAD and OPTIONS only (spec 20 §3.3). */
bool dw_proxy_method_retryable(dw_str_t m);
/* Backoff before retry number n (1-based): 50 ms doubling, capped at 1.6 s. */
uint64_t dw_proxy_retry_backoff_ms(unsigned n);
/* A non-blocking socket connecting to be (TCP keepalive 60/10/3, no Nagle): the fd, -1 when
 * no socket could be made, -2 when the connect failed at once (a connect failure). */
int dw_proxy_open_socket(const dw_backend_t *be);
/* An error status before any response byte reached the client: handle_errors (which may
 * proxy again or abort), or the plain error, or for a gRPC request a gRPC status; the exchange
 * is handed on through d's operations. */
void dw_proxy_answer_error(dw_down_t *d, uint16_t status);
/* The upstream response head arrived: the request log's upstream_response_time. */
void dw_proxy_note_head_time(dw_exchange_t *ex);

#endif
