/* Exchange set-up and end shared by the HTTP/1.1 and HTTP/2 front ends (see exchange.h). */
#include "exchange.h"
#include <arpa/inet.h>
#include <dwaar/base/parse.h>
#include <dwaar/base/time.h>
#include <dwaar/log/batcher.h>
#include <stdlib.h>

void dw_ip_from_sockaddr(dw_ip_t *ip, const struct sockaddr_storage *ss)
{
    memset(ip, 0, sizeof *ip);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        ip->family = 4;
        memcpy(ip->addr, &in->sin_addr, 4);
        ip->port = ntohs(in->sin_port);
        inet_ntop(AF_INET, &in->sin_addr, ip->text, sizeof ip->text);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        ip->port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            ip->family = 4;
            memcpy(ip->addr, in6->sin6_addr.s6_addr + 12, 4);
            inet_ntop(AF_INET, ip->addr, ip->text, sizeof ip->text);
        } else {
            ip->family = 6;
            memcpy(ip->addr, &in6->sin6_addr, 16);
            inet_ntop(AF_INET6, &in6->sin6_addr, ip->text, sizeof ip->text);
        }
    }
}

static uint64_t rng_next(dw_worker_t *w)
{
    uint64_t s = w->rng;
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    return w->rng = s;
}

/* UUID v7: 48-bit Unix ms, version 7, 74 random bits. */
static void make_request_id(dw_worker_t *w, char out[37])
{
    uint64_t ms = dw_time_wall_ms();
    uint64_t r1 = rng_next(w), r2 = rng_next(w);
    uint8_t b[16];
    for (int i = 0; i < 6; i++) b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70 | (r1 & 0x0f));
    b[7] = (uint8_t)(r1 >> 8);
    b[8] = (uint8_t)(0x80 | ((r1 >> 16) & 0x3f));
    for (int i = 9; i < 16; i++) b[i] = (uint8_t)(r2 >> (8 * (i - 9)));
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

/* The request-log record of an exchange that ends (completed, failed or aborted), for sites
 * with `log` (spec 30 §2.2). Views are only borrowed: the batcher packs them at once. */
static void log_request(dw_worker_t *w, const dw_exchange_t *ex, uint64_t bytes_received)
{
    const dw_req_t *r = &ex->req;
    dw_log_batcher_t *b = w->alog;
    if (!b || !ex->log_on || !r->site || !r->site->log || ex->skip_log) return;
    dw_log_record_t rec = {
        .wall_ms = dw_time_wall_ms(),
        .request_id = dw_str_make(r->request_id, strnlen(r->request_id, 36)),
        .method = r->orig_method.ptr ? r->orig_method : r->method,
        .path = r->orig_uri,
        .host = r->hostport,
        .status = ex->sent_status,
        .client_family = r->peer.family,
        .bytes_sent = ex->bytes_sent,
        .bytes_received = bytes_received,
        .http_version = r->http_version,
        .upstream_addr = ex->upstream_addr ? dw_str_c(ex->upstream_addr) : DW_STR_NULL,
        .upstream_response_time_us = ex->up_time_us,
    };
    ptrdiff_t q = dw_str_chr(r->orig_uri, '?');
    if (q >= 0) {
        rec.path = dw_str_sub(r->orig_uri, 0, (size_t)q);
        rec.query = dw_str_sub(r->orig_uri, (size_t)q + 1, r->orig_uri.len);
        rec.has_query = true;
    }
    uint64_t now = dw_pipeline_now_us();
    rec.response_time_us = now > ex->start_us ? now - ex->start_us : 0;
    memcpy(rec.client_addr, r->peer.addr, sizeof rec.client_addr);
    const dw_field_t *f = dw_fields_get(&r->headers, DW_STR("User-Agent"));
    if (f) rec.user_agent = f->value.ptr ? f->value : DW_STR("");
    f = dw_fields_get(&r->headers, DW_STR("Referer"));
    if (f) rec.referer = f->value.ptr ? f->value : DW_STR("");
    dw_log_batcher_add(b, r->site->log, &rec);
}

/* Host (or absolute-form authority) to the normalised host key and port. */
bool dw_host_split(dw_arena_t *a, dw_str_t hp, dw_str_t *host, uint16_t *port)
{
    *port = 0;
    dw_str_t h = hp;
    if (h.len && h.ptr[0] == '[') {
        ptrdiff_t close = dw_str_chr(h, ']');
        if (close < 0) return false;
        dw_str_t rest = dw_str_sub(h, (size_t)close + 1, h.len);
        h = dw_str_sub(h, 1, (size_t)close - 1);
        if (rest.len) {
            uint64_t p;
            if (rest.ptr[0] != ':' || dw_parse_u64(dw_str_sub(rest, 1, rest.len), &p) != DW_OK ||
                p > 65535)
                return false;
            *port = (uint16_t)p;
        }
    } else {
        ptrdiff_t colon = dw_str_chr(h, ':');
        if (colon >= 0) {
            uint64_t p;
            dw_str_t ps = dw_str_sub(h, (size_t)colon + 1, h.len);
            if (ps.len && (dw_parse_u64(ps, &p) != DW_OK || p > 65535)) return false;
            if (ps.len) *port = (uint16_t)p;
            h = dw_str_sub(h, 0, (size_t)colon);
        }
    }
    if (h.len && h.ptr[h.len - 1] == '.') h.len--;
    for (size_t i = 0; i < h.len; i++) {
        unsigned char ch = (unsigned char)h.ptr[i];
        if (ch <= 0x20 || ch == '/' || ch == '?' || ch == '#' || ch == '@' || ch >= 0x7f)
            return false;
    }
    char *lc = dw_arena_alloc(a, h.len + 1);
    if (!lc) return false;
    for (size_t i = 0; i < h.len; i++) lc[i] = dw_ascii_lower(h.ptr[i]);
    lc[h.len] = '\0';
    *host = dw_str_make(lc, h.len);
    return true;
}

dw_exchange_t *dw_exchange_new(dw_worker_t *w, dw_snapref_t **sref)
{
    dw_exchange_t *ex = calloc(1, sizeof *ex);
    if (!ex) return NULL;
    *sref = dw_worker_snap_acquire(w);
    dw_arena_init(&ex->arena, 4096);
    ex->req.arena = &ex->arena;
    ex->req.snap = (*sref)->snap;
    make_request_id(w, ex->req.request_id);
    if (w->alog) {
        ex->log_on = true;
        ex->start_us = dw_pipeline_now_us();
    }
    return ex;
}

void dw_exchange_end(dw_worker_t *w, dw_exchange_t *ex, dw_snapref_t *sref, uint64_t bytes_received)
{
    if (ex) {
        if (ex->log_on) log_request(w, ex, bytes_received);
        dw_arena_deinit(&ex->arena);
        free(ex);
    }
    if (sref) dw_worker_snap_release(w, sref);
}

void dw_req_set_conn(dw_req_t *r, const dw_conn_info_t *info)
{
    r->peer = info->peer;
    r->local_port = info->port;
    r->listener = info->listener;
    r->tls = info->tls;
    if (info->tls) {
        r->tls_server_name = dw_str_c(info->sni);
        r->tls_cipher = info->tls_cipher ? dw_str_c(info->tls_cipher) : DW_STR_NULL;
    }
}

int dw_req_set_target(dw_req_t *r, dw_str_t target)
{
    r->orig_uri = target;
    if (target.len == 1 && target.ptr[0] == '*') {
        r->path = r->npath = DW_STR("*");
        return DW_OK;
    }
    ptrdiff_t q = dw_str_chr(target, '?');
    r->path = q >= 0 ? dw_str_sub(target, 0, (size_t)q) : target;
    if (q >= 0) r->query = dw_str_sub(target, (size_t)q + 1, target.len), r->has_query = true;
    return dw_path_normalize(r->arena, r->path, &r->npath);
}
