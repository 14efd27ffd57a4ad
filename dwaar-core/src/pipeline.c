/* The request pipeline (see pipeline.h). */
#include "pipeline.h"
#include "downstream.h" /* dw_exchange_is_grpc */
#include <dwaar/base/buf.h>
#include <dwaar/base/log.h>
#include <dwaar/base/parse.h>
#include <dwaar/core/status.h>
#include <stdio.h>

typedef enum { BLOCK_CONTINUE = 0, BLOCK_DONE } block_rc;

#define GRPC_BODY_MIN (1ull << 30)

static const dw_str_t TEXT_PLAIN = DW_STR("text/plain; charset=utf-8");

void dw_pipeline_respond(dw_exchange_t *ex, uint16_t status, dw_str_t body)
{
    ex->kind = DW_OUT_RESPOND;
    ex->status = status;
    ex->body = body;
    if (body.len) dw_fields_set(&ex->arena, &ex->resp_headers, DW_STR("Content-Type"), TEXT_PLAIN);
}

/* Status from a template (`respond "{http.error.status_code}" {http.error.status_code}`):
 * invalid -> 500. */
static uint16_t template_status(dw_req_t *r, dw_str_t tpl, uint16_t lo, uint16_t hi)
{
    dw_str_t v = dw_tpl_render(r, tpl);
    uint64_t n;
    if (v.len != 3 || dw_parse_u64(v, &n) != DW_OK || n < lo || n > hi) return 500;
    return (uint16_t)n;
}

static void push_resp_ops(dw_req_t *r, const dw_cfg_header_ops_t *ops)
{
    dw_hdr_opset_t *o = DW_ARENA_PUSH(r->arena, r->resp_ops, r->nresp_ops, r->resp_ops_cap);
    if (o) o->ops = ops;
}

/* s, or "/" + s when it does not start with '/' (uri, handle_path results). */
static dw_str_t with_leading_slash(dw_arena_t *a, dw_str_t s)
{
    if (s.len && s.ptr[0] == '/') return s;
    char *np = dw_arena_alloc(a, s.len + 2);
    if (!np) return DW_STR("/");
    np[0] = '/';
    memcpy(np + 1, s.ptr, s.len);
    np[s.len + 1] = '\0';
    return dw_str_make(np, s.len + 1);
}

/* uri strip_prefix / strip_suffix / replace on the raw current path. */
static void apply_uri(dw_exchange_t *ex, const dw_cfg_uri_t *u)
{
    dw_req_t *r = &ex->req;
    dw_str_t p = r->path;
    dw_buf_t b = DW_BUF_INIT;
    switch (u->op) {
    case DW_URI_STRIP_PREFIX:
        if (!dw_str_has_prefix(p, u->value)) return;
        p = dw_str_sub(p, u->value.len, p.len);
        break;
    case DW_URI_STRIP_SUFFIX:
        if (!dw_str_has_suffix(p, u->value)) return;
        p = dw_str_sub(p, 0, p.len - u->value.len);
        break;
    case DW_URI_REPLACE: {
        if (!u->value.len) return;
        dw_str_t rest = p;
        for (;;) {
            ptrdiff_t at = dw_str_find(rest, u->value);
            if (at < 0) break;
            dw_buf_append(&b, rest.ptr, (size_t)at);
            dw_buf_append_str(&b, u->repl);
            rest = dw_str_sub(rest, (size_t)at + u->value.len, rest.len);
        }
        if (rest.len == p.len) return;
        dw_buf_append_str(&b, rest);
        p = dw_arena_str_dup(r->arena, dw_buf_str(&b));
        dw_buf_deinit(&b);
        break;
    }
    }
    p = with_leading_slash(r->arena, p);
    if (dw_req_set_uri(r, p, r->query, r->has_query) != DW_OK)
        dw_pipeline_respond(ex, 400, DW_STR_NULL);
}

/* Collapses '/' runs, removes CR/LF, ensures a leading '/'. */
static dw_str_t clean_path(dw_arena_t *a, dw_str_t in)
{
    char *o = dw_arena_alloc(a, in.len + 2);
    if (!o) return DW_STR("/");
    size_t n = 0;
    if (in.len == 0 || in.ptr[0] != '/') o[n++] = '/';
    for (size_t i = 0; i < in.len; i++) {
        char c = in.ptr[i];
        if (c == '\r' || c == '\n') continue;
        if (c == '/' && n && o[n - 1] == '/') continue;
        o[n++] = c;
    }
    o[n] = '\0';
    return dw_str_make(o, n);
}

static bool must_encode(dw_str_t in, size_t i, bool query)
{
    unsigned char ch = (unsigned char)in.ptr[i];
    if (ch == '%')
        return !(i + 2 < in.len && dw_hex_digit(in.ptr[i + 1]) >= 0 &&
                 dw_hex_digit(in.ptr[i + 2]) >= 0);
    return ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '#' || ch == '<' || ch == '>' ||
           ch == '\\' || ch == '^' || ch == '`' || ch == '{' || ch == '|' || ch == '}' ||
           (!query && ch == '?');
}

/* Placeholders expand to decoded text ({path}, {query.k}); what goes on the upstream request
 * line must be a valid target again: bytes that may not appear there are percent-encoded
 * (a decoded CR, LF or SP must never split the request line). `%` stays when it already
 * starts an escape. */
static dw_str_t encode_target_part(dw_arena_t *a, dw_str_t in, bool query)
{
    size_t extra = 0;
    for (size_t i = 0; i < in.len; i++) {
        if (must_encode(in, i, query)) extra += 2;
    }
    if (!extra) return in;
    char *o = dw_arena_alloc(a, in.len + extra + 1);
    if (!o) return in;
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < in.len; i++) {
        unsigned char ch = (unsigned char)in.ptr[i];
        if (must_encode(in, i, query)) {
            o[n++] = '%';
            o[n++] = hex[ch >> 4];
            o[n++] = hex[ch & 15];
        } else {
            o[n++] = (char)ch;
        }
    }
    o[n] = '\0';
    return dw_str_make(o, n);
}

static void apply_rewrite(dw_exchange_t *ex, const dw_cfg_rewrite_t *rw)
{
    dw_req_t *r = &ex->req;
    dw_str_t path =
        encode_target_part(r->arena, clean_path(r->arena, dw_tpl_render(r, rw->path)), false);
    dw_str_t query = r->query;
    bool has_query = r->has_query;
    if (rw->has_query) {
        query = encode_target_part(r->arena, dw_tpl_render_header(r, rw->query), true);
        has_query = true;
    }
    if (dw_req_set_uri(r, path, query, has_query) != DW_OK)
        dw_pipeline_respond(ex, 400, DW_STR_NULL);
}

/* redir: code, Location (CR/LF removed, '/' runs in the path collapsed), no body. */
static void do_redir(dw_exchange_t *ex, const dw_cfg_redir_t *rd)
{
    dw_req_t *r = &ex->req;
    dw_str_t to = dw_tpl_render_header(r, rd->to);
    /* collapse '/' runs in the path part, leaving "scheme://" alone */
    size_t start = 0;
    ptrdiff_t sep = dw_str_find(to, DW_STR("://"));
    if (sep >= 0) {
        ptrdiff_t slash = dw_str_chr(dw_str_sub(to, (size_t)sep + 3, to.len), '/');
        start = slash < 0 ? to.len : (size_t)sep + 3 + (size_t)slash;
    }
    char *o = dw_arena_alloc(r->arena, to.len + 1);
    if (o) {
        size_t n = 0;
        bool in_query = false;
        for (size_t i = 0; i < to.len; i++) {
            char c = to.ptr[i];
            if (c == '?' || c == '#') in_query = true;
            if (i > start && !in_query && c == '/' && o[n - 1] == '/') continue;
            o[n++] = c;
        }
        to = dw_str_make(o, n);
    }
    ex->kind = DW_OUT_RESPOND;
    ex->status = rd->code;
    ex->body = DW_STR_NULL;
    dw_fields_set(&ex->arena, &ex->resp_headers, DW_STR("Location"), to);
}

static bool redir_from_matches(dw_req_t *r, const dw_cfg_redir_t *rd)
{
    if (rd->from_host.len && !dw_str_caseeq(rd->from_host, r->host)) return false;
    if (rd->from_scheme.len) {
        bool https = dw_str_caseeq_c(rd->from_scheme, "https");
        if (https != r->tls) return false;
    }
    return true;
}

static block_rc run_block(dw_exchange_t *ex, const dw_rt_block_t *b);

static void do_error(dw_exchange_t *ex, const dw_cfg_error_t *e)
{
    dw_req_t *r = &ex->req;
    uint16_t st =
        e->status_template.len ? template_status(r, e->status_template, 400, 599) : e->status;
    dw_str_t msg = e->message.len ? dw_tpl_render(r, e->message) : DW_STR_NULL;
    dw_pipeline_error(ex, st, msg);
}

static block_rc run_terminal(dw_exchange_t *ex, const dw_rt_dir_t *rd)
{
    dw_req_t *r = &ex->req;
    const dw_cfg_directive_t *d = rd->d;
    switch (d->kind) {
    case DW_DIR_RESPOND: {
        const dw_cfg_respond_t *rs = &d->u.respond;
        uint16_t st = rs->status_template.len ? template_status(r, rs->status_template, 100, 599)
                                              : rs->status;
        dw_pipeline_respond(ex, st, rs->body.len ? dw_tpl_render(r, rs->body) : DW_STR_NULL);
        return BLOCK_DONE;
    }
    case DW_DIR_ERROR: do_error(ex, &d->u.error); return BLOCK_DONE;
    case DW_DIR_ABORT: ex->kind = DW_OUT_ABORT; return BLOCK_DONE;
    case DW_DIR_REVERSE_PROXY:
        ex->kind = DW_OUT_PROXY;
        ex->proxy_dir = rd;
        return BLOCK_DONE;
    case DW_DIR_GRPC: /* terminal only with an upstream: an HTTP/2 proxy to it (§6.2) */
        ex->kind = DW_OUT_PROXY;
        ex->proxy_dir = rd;
        ex->grpc = true;
        return BLOCK_DONE;
    default: {
        /* file_server, php_fastcgi, metrics arrive with their issues. */
        char *msg = dw_arena_sprintf(r->arena, "%s is not available in this build\n", d->name);
        dw_pipeline_respond(ex, 501, dw_str_c(msg));
        return BLOCK_DONE;
    }
    }
}

static block_rc run_middleware(dw_exchange_t *ex, const dw_rt_dir_t *rd)
{
    dw_req_t *r = &ex->req;
    const dw_cfg_directive_t *d = rd->d;
    switch (d->kind) {
    case DW_DIR_MAP: dw_rt_map_eval(rd->map, r); break;
    case DW_DIR_VARS:
        for (size_t i = 0; i < d->u.vars.n; i++)
            dw_req_set_var(r, d->u.vars.v[i].name, dw_tpl_render(r, d->u.vars.v[i].value));
        break;
    case DW_DIR_ROOT: r->root = d->u.root.path; break;
    case DW_DIR_HEADER: push_resp_ops(r, &d->u.header.ops); break;
    case DW_DIR_REQUEST_HEADER: dw_hdr_ops_apply(r, &r->headers, &d->u.header.ops); break;
    case DW_DIR_REDIR:
        if (!redir_from_matches(r, &d->u.redir)) break;
        do_redir(ex, &d->u.redir);
        return BLOCK_DONE;
    case DW_DIR_METHOD: r->method = d->u.method.method; break;
    case DW_DIR_REWRITE:
        apply_rewrite(ex, &d->u.rewrite);
        if (ex->kind == DW_OUT_RESPOND && ex->status == 400) return BLOCK_DONE;
        break;
    case DW_DIR_URI:
        apply_uri(ex, &d->u.uri);
        if (ex->kind == DW_OUT_RESPOND && ex->status == 400) return BLOCK_DONE;
        break;
    case DW_DIR_REQUEST_BODY: ex->request_body_max = d->u.body_limit.max_size; break;
    case DW_DIR_RESPONSE_BODY_LIMIT: ex->response_body_max = d->u.body_limit.max_size; break;
    case DW_DIR_INTERCEPT: {
        const dw_cfg_intercept_t **ip =
            DW_ARENA_PUSH(r->arena, ex->intercepts, ex->nintercepts, ex->intercepts_cap);
        if (ip) *ip = &d->u.intercept;
        break;
    }
    case DW_DIR_COPY_RESPONSE_HEADERS: ex->copy_headers = &d->u.copy_headers; break;
    case DW_DIR_SKIP_LOG: ex->skip_log = true; break;
    default:
        /* Directives owned by later subsystems (plugins, encode, cache, auth, logging)
         * have no request-time effect in this build. */
        break;
    }
    return BLOCK_CONTINUE;
}

/* handle_path: strip the literal prefix (text before a trailing '*', minus a trailing '/'). */
static void strip_handle_path(dw_exchange_t *ex, const dw_cfg_handle_t *h)
{
    dw_req_t *r = &ex->req;
    dw_str_t pre = h->strip_prefix;
    if (!pre.len) return;
    /* match case-insensitively like the matcher did; cut from the raw path when it starts
     * with the prefix, else from the normalised one */
    dw_str_t base = r->path;
    if (base.len < pre.len || strncasecmp(base.ptr, pre.ptr, pre.len) != 0) base = r->npath;
    if (base.len < pre.len || strncasecmp(base.ptr, pre.ptr, pre.len) != 0) return;
    dw_str_t rest = dw_str_sub(base, pre.len, base.len);
    rest = with_leading_slash(r->arena, rest);
    dw_req_set_uri(r, rest, r->query, r->has_query);
}

static block_rc run_block(dw_exchange_t *ex, const dw_rt_block_t *b)
{
    dw_req_t *r = &ex->req;
    if (b->grpc) ex->grpc = true;
    for (size_t i = 0; i < b->nmw; i++) {
        const dw_rt_dir_t *rd = &b->mw[i];
        if (!dw_rt_match_eval(rd->match, r)) continue;
        if (run_middleware(ex, rd) == BLOCK_DONE) return BLOCK_DONE;
    }
    for (size_t i = 0; i < b->nfamily; i++) {
        const dw_rt_dir_t *rd = &b->family[i];
        if (!dw_rt_match_eval(rd->match, r)) continue;
        if (rd->d->kind == DW_DIR_HANDLE_PATH) strip_handle_path(ex, &rd->d->u.handle);
        if (run_block(ex, rd->sub) == BLOCK_DONE) return BLOCK_DONE;
        if (rd->d->kind != DW_DIR_ROUTE) break;
    }
    for (size_t i = 0; i < b->nterminals; i++) {
        const dw_rt_dir_t *rd = &b->terminals[i];
        if (!dw_rt_match_eval(rd->match, r)) continue;
        return run_terminal(ex, rd);
    }
    return BLOCK_CONTINUE;
}

/* §3.3 step 3: the platform health bypass for private IPv4 literals with no site. */
static bool healthz_bypass(const dw_req_t *r)
{
    unsigned a, b, c, d;
    char host[32], tail;
    if (r->host.len == 0 || r->host.len >= sizeof host) return false;
    memcpy(host, r->host.ptr, r->host.len);
    host[r->host.len] = '\0';
    if (sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4) return false;
    if (a > 255 || b > 255 || c > 255 || d > 255) return false;
    bool priv = a == 10 || (a == 172 && b >= 16 && b <= 31) || (a == 192 && b == 168);
    if (!priv) return false;
    if (!dw_str_eq_c(r->method, "GET") && !dw_str_eq_c(r->method, "HEAD")) return false;
    static const char *const paths[] = {"/health", "/healthz", "/metrics", "/ready", "/live"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        if (dw_str_eq_c(r->npath, paths[i])) return true;
    return false;
}

/* Spec 20 §1.9 on the plain HTTP port of a config with TLS sites, before any site or plugin
 * runs: ACME challenge lookups, then the redirect of TLS hosts to HTTPS. Returns true when it
 * answered. */
static bool https_redirect(dw_exchange_t *ex)
{
    dw_req_t *r = &ex->req;
    static const dw_str_t challenge = DW_STR("/.well-known/acme-challenge/");
    if (dw_str_eq_c(r->method, "GET") && dw_str_has_prefix(r->path, challenge)) {
        /* no HTTP-01 token is ever pending before the ACME client exists */
        dw_pipeline_respond(ex, 404, DW_STR_NULL);
        return true;
    }
    if (!r->hostport.len) {
        dw_pipeline_respond(ex, 400, DW_STR_NULL);
        return true;
    }
    uint16_t port = dw_snapshot_https_redirect(r->snap, r->host, r->listener);
    if (!port) return false;
    /* the path as sent, made safe: no CR/LF, one leading '/', never empty */
    dw_str_t uri = r->orig_uri;
    dw_buf_t b = DW_BUF_INIT;
    dw_buf_append_c(&b, "https://");
    bool v6 = dw_str_chr(r->host, ':') >= 0;
    if (v6) dw_buf_append(&b, "[", 1);
    dw_buf_append_str(&b, r->host);
    if (v6) dw_buf_append(&b, "]", 1);
    if (port != 443) {
        dw_buf_append(&b, ":", 1);
        dw_buf_append_u64(&b, port);
    }
    size_t i = 0;
    while (i < uri.len && uri.ptr[i] == '/') i++;
    dw_buf_append(&b, "/", 1);
    for (; i < uri.len; i++)
        if (uri.ptr[i] != '\r' && uri.ptr[i] != '\n') dw_buf_append(&b, &uri.ptr[i], 1);
    dw_str_t loc = b.failed ? DW_STR_NULL : dw_arena_str_dup(&ex->arena, dw_buf_str(&b));
    dw_buf_deinit(&b);
    dw_pipeline_respond(ex, 301, DW_STR_NULL);
    if (loc.ptr) dw_fields_set(&ex->arena, &ex->resp_headers, DW_STR("Location"), loc);
    ex->close = true;
    return true;
}

void dw_pipeline_run(dw_exchange_t *ex)
{
    dw_req_t *r = &ex->req;
    if (!r->tls && r->snap->redirects && r->local_port == r->snap->http_port && https_redirect(ex))
        return;
    if (!r->site) r->site = dw_snapshot_select(r->snap, r->local_port, r->host, r->listener);
    if (!r->site) {
        if (healthz_bypass(r)) {
            dw_pipeline_respond(
                ex, 200,
                DW_STR("{\"status\":\"ok\",\"service\":\"dwaar\",\"version\":\"" DWAAR_VERSION
                       "\"}"));
            dw_fields_set(&ex->arena, &ex->resp_headers, DW_STR("Content-Type"),
                          DW_STR("application/json"));
            return;
        }
        dw_pipeline_respond(ex, 502, DW_STR_NULL);
        return;
    }
    ex->kind = DW_OUT_RESPOND;
    ex->status = 0;
    if (run_block(ex, r->site->block) == BLOCK_CONTINUE) dw_pipeline_respond(ex, 200, DW_STR_NULL);
    /* §6.2: gRPC requests get body limits of at least 1 GiB */
    if (ex->request_body_max && ex->request_body_max < GRPC_BODY_MIN &&
        (ex->grpc || dw_exchange_is_grpc(ex)))
        ex->request_body_max = GRPC_BODY_MIN;
}

static bool errblock_matches(const dw_cfg_handle_t *h, uint16_t status)
{
    if (h->nstatuses == 0) return true;
    for (size_t i = 0; i < h->nstatuses; i++) {
        const struct dw_cfg_status_filter *f = &h->statuses[i];
        if (f->is_class ? status / 100 == f->code / 100 : status == f->code) return true;
    }
    return false;
}

void dw_pipeline_error(dw_exchange_t *ex, uint16_t status, dw_str_t message)
{
    dw_req_t *r = &ex->req;
    ex->is_error = true;
    const dw_rt_site_t *site = r->site;
    if (site && !ex->in_error) {
        for (size_t i = 0; i < site->nerrors; i++) {
            if (!errblock_matches(site->errors[i].h, status)) continue;
            ex->in_error = true;
            r->error_status = status;
            r->error_message = message;
            ex->status = 0;
            if (run_block(ex, site->errors[i].block) == BLOCK_DONE) return;
            break; /* no response from the error route: the original error is sent */
        }
    }
    ex->resp_headers.n = 0;
    dw_pipeline_respond(ex, status, message);
    ex->is_error = true;
}

static bool leaky(dw_str_t name)
{
    static const dw_str_t names[] = {DW_STR("X-Powered-By"), DW_STR("X-AspNet-Version"),
                                     DW_STR("X-AspNetMvc-Version"), DW_STR("X-Runtime"),
                                     DW_STR("X-Generator")};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (dw_str_caseeq(name, names[i])) return true;
    return false;
}

void dw_pipeline_finish_headers(dw_exchange_t *ex, dw_fields_t *f,
                                const dw_cfg_header_ops_t *header_down)
{
    dw_req_t *r = &ex->req;
    bool strip = !r->site || r->site->strip_leaky_headers;
    size_t o = 0;
    for (size_t i = 0; i < f->n; i++) {
        dw_str_t n = f->v[i].name;
        if (dw_str_caseeq_c(n, "Server") || (strip && leaky(n))) continue;
        f->v[o++] = f->v[i];
    }
    f->n = o;
    dw_arena_t *a = r->arena;
    dw_fields_set(a, f, DW_STR("X-Content-Type-Options"), DW_STR("nosniff"));
    dw_fields_set(a, f, DW_STR("X-Frame-Options"), DW_STR("SAMEORIGIN"));
    dw_fields_set(a, f, DW_STR("Referrer-Policy"), DW_STR("strict-origin-when-cross-origin"));
    dw_fields_add(a, f, DW_STR("Server"), DW_STR("Dwaar"));
    if (r->tls)
        dw_fields_set(a, f, DW_STR("Strict-Transport-Security"),
                      DW_STR("max-age=31536000; includeSubDomains"));
    if (header_down) dw_hdr_ops_apply(r, f, header_down);
    for (size_t i = 0; i < r->nresp_ops; i++) dw_hdr_ops_apply(r, f, r->resp_ops[i].ops);
    if (r->request_id[0])
        dw_fields_set(a, f, DW_STR("X-Request-Id"), dw_str_make(r->request_id, 36));
}
