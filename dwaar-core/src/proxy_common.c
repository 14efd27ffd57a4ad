/* Pieces shared by the HTTP/1.1 and HTTP/2 upstream sides of reverse_proxy (see
 * proxy_common.h). */
#include "proxy_common.h"
#include "match.h"
#include <dwaar/base/buf.h>
#include <dwaar/core/h1.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#define RETRY_BACKOFF_MAX 1600u

bool dw_proxy_skip_request_field(dw_str_t name, dw_str_t connection_value, bool upgrade)
{
    static const dw_str_t drop[] = {DW_STR("Content-Length"),   DW_STR("Expect"),
                                    DW_STR("X-Forwarded-For"),  DW_STR("X-Forwarded-Proto"),
                                    DW_STR("X-Forwarded-Host"), DW_STR("X-Real-IP"),
                                    DW_STR("X-Request-Id")};
    if (dw_h1_is_hop_by_hop(name)) return !(upgrade && dw_str_caseeq_c(name, "Upgrade"));
    for (size_t i = 0; i < sizeof drop / sizeof *drop; i++)
        if (dw_str_caseeq(name, drop[i])) return true;
    if (connection_value.len && dw_h1_list_has(connection_value, name)) return true;
    return false;
}

dw_str_t dw_proxy_connection_tokens(const dw_req_t *r, dw_arena_t *a)
{
    dw_buf_t b = DW_BUF_INIT;
    for (size_t i = 0; i < r->headers.n; i++) {
        if (!dw_str_caseeq_c(r->headers.v[i].name, "Connection")) continue;
        if (b.len) dw_buf_append(&b, ",", 1);
        dw_buf_append_str(&b, r->headers.v[i].value);
    }
    dw_str_t out = b.len ? dw_arena_str_dup(a, dw_buf_str(&b)) : DW_STR_NULL;
    dw_buf_deinit(&b);
    return out;
}

void dw_proxy_add_forwarded(const dw_req_t *r, dw_arena_t *a, dw_fields_t *f)
{
    dw_str_t ip = dw_str_c(r->peer.text);
    dw_fields_add(a, f, DW_STR("X-Forwarded-For"), ip);
    dw_fields_add(a, f, DW_STR("X-Forwarded-Proto"), r->tls ? DW_STR("https") : DW_STR("http"));
    if (r->hostport.len) dw_fields_add(a, f, DW_STR("X-Forwarded-Host"), r->hostport);
    dw_fields_add(a, f, DW_STR("X-Real-IP"), ip);
    dw_fields_add(a, f, DW_STR("X-Request-Id"), dw_str_make(r->request_id, 36));
}

static bool status_matches(const dw_cfg_intercept_t *ic, uint16_t st)
{
    if (ic->nstatuses == 0) return st < 200 || st > 299;
    for (size_t i = 0; i < ic->nstatuses; i++) {
        const dw_cfg_status_match_t *m = &ic->statuses[i];
        if (m->is_class ? st / 100 == m->code / 100 : st == m->code) return true;
    }
    return false;
}

const dw_cfg_intercept_t *dw_proxy_intercept_for(const dw_exchange_t *ex, uint16_t st)
{
    for (size_t i = 0; i < ex->nintercepts; i++)
        if (status_matches(ex->intercepts[i], st)) return ex->intercepts[i];
    return NULL;
}

void dw_proxy_intercept_respond(dw_exchange_t *ex, const dw_cfg_intercept_t *ic, uint16_t st)
{
    dw_req_t *r = &ex->req;
    ex->resp_headers.n = 0;
    uint16_t code = ic->has_respond && ic->respond_status ? ic->respond_status : st;
    dw_str_t body = ic->has_respond_body ? dw_tpl_render(r, ic->respond_body) : DW_STR_NULL;
    dw_pipeline_respond(ex, code, body);
    if (ic->headers.n) dw_hdr_ops_apply(r, &ex->resp_headers, &ic->headers);
}

bool dw_proxy_copy_header_allowed(const dw_cfg_copy_headers_t *ch, dw_str_t name)
{
    if (!ch) return true;
    for (size_t i = 0; i < ch->exclude.n; i++)
        if (dw_str_caseeq(name, ch->exclude.v[i])) return false;
    if (ch->include.n == 0) return true;
    for (size_t i = 0; i < ch->include.n; i++)
        if (dw_str_caseeq(name, ch->include.v[i])) return true;
    return false;
}

void dw_proxy_add_sticky_cookie(dw_arena_t *a, dw_fields_t *f, const dw_backend_t *be)
{
    char *ck = dw_arena_sprintf(a,
                                "_dwaar_sticky=%016llx; Path=/; HttpOnly; SameSite=Lax; "
                                "Max-Age=86400",
                                (unsigned long long)be->cookie_hash);
    if (ck) dw_fields_add(a, f, DW_STR("Set-Cookie"), dw_str_c(ck));
}

bool dw_proxy_method_retryable(dw_str_t m)
{
    return dw_str_eq_c(m, "GET") || dw_str_eq_c(m, "HEAD") || dw_str_eq_c(m, "OPTIONS");
}

uint64_t dw_proxy_retry_backoff_ms(unsigned n)
{
    unsigned shift = n ? n - 1 : 0;
    uint64_t backoff = 50u << (shift < 6 ? shift : 6);
    return backoff > RETRY_BACKOFF_MAX ? RETRY_BACKOFF_MAX : backoff;
}

int dw_proxy_open_socket(const dw_backend_t *be)
{
    int fd = socket(be->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (be->addr.ss_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        int idle = 60, intvl = 10, cnt = 3;
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
    }
    if (connect(fd, (const struct sockaddr *)&be->addr, be->addrlen) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -2;
    }
    return fd;
}

/* An error status before any response byte reached the client: handle_errors, or the plain
 * error, or for a gRPC request a gRPC status. */
void dw_proxy_answer_error(dw_down_t *d, uint16_t status)
{
    dw_exchange_t *ex = d->ex;
    if (!d->bdone) d->want_close = true;
    if (dw_exchange_is_grpc(ex)) {
        dw_grpc_error_response(ex, status);
        d->ops->send_generated(d);
        return;
    }
    dw_pipeline_error(ex, status, DW_STR_NULL);
    if (ex->kind == DW_OUT_ABORT) {
        d->ops->abort(d);
        return;
    }
    if (ex->kind == DW_OUT_PROXY) {
        dw_proxy_start(d);
        return;
    }
    d->ops->send_generated(d);
}

void dw_proxy_note_head_time(dw_exchange_t *ex)
{
    if (ex->log_on && ex->up_start_us) {
        uint64_t now = dw_pipeline_now_us();
        ex->up_time_us = now > ex->up_start_us ? now - ex->up_start_us : 0;
    }
}
