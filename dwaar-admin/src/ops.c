/* The admin operations, one code path for the HTTP API and the ctl endpoint: each validates its
 * input, asks configd over the bus (admind owns no configuration), and describes the answer in
 * a dw_admin_result_t. Audit events are emitted here, after a mutation succeeded. */
#include "admin_int.h"
#include <dwaar/base/log.h>
#include <math.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

void dw_admin_result_init(dw_admin_result_t *r)
{
    memset(r, 0, sizeof *r);
    r->status = 200;
    msgpack_sbuffer_init(&r->data);
    msgpack_packer_init(&r->pk, &r->data, msgpack_sbuffer_write);
}

void dw_admin_result_deinit(dw_admin_result_t *r)
{
    free(r->error);
    r->error = NULL;
    msgpack_sbuffer_destroy(&r->data);
}

void dw_admin_result_fail(dw_admin_result_t *r, int status, const char *fmt, ...)
{
    dw_buf_t b = DW_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    dw_buf_vappendf(&b, fmt, ap);
    va_end(ap);
    free(r->error);
    r->error = b.data ? dw_buf_take(&b) : strdup("");
    r->status = status;
    r->data.size = 0; /* nothing packed so far counts */
}

static void audit(const char *action, const char *resource)
{
    DW_INFO(DW_ADMIN_AUDIT, "admin mutation action=%s principal=admin resource=%s", action,
            resource);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* --- asking configd ------------------------------------------------------------------------- */

typedef void (*body_fn)(msgpack_packer *pk, const void *arg);

static void empty_body(msgpack_packer *pk, const void *arg)
{
    (void)arg;
    msgpack_pack_map(pk, 0);
}

/* Sends `type` v1 with the body fn packs and waits for the reply. 0: *reply is an `expect` v1
 * message (the caller frees it). -1: r describes the failure (503 when configd cannot be
 * reached, 502 for an error reply or an unexpected answer; *code holds an error reply's code,
 * e.g. "unknown_type", so callers may map it). */
static int ask(dw_admin_t *a, const char *type, body_fn fn, const void *arg, const char *expect,
               dw_bus_msg_t *reply, dw_admin_result_t *r, char *code, size_t codelen)
{
    if (code && codelen) code[0] = '\0';
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    uint64_t id = dw_bus_next_id();
    dw_bus_begin(&w, type, 1, id);
    fn(&w.pk, arg);
    int rc = dw_bus_request(a->configd_endpoint, w.sb.data, w.sb.size, id, DW_ADMIN_BUS_TIMEOUT_MS,
                            DW_ADMIN_BUS_MAX_REPLY, reply);
    dw_bus_writer_free(&w);
    if (rc < 0) {
        DW_WARN(DW_ADMIN_LOG, "%s: configd at %s did not answer", type, a->configd_endpoint);
        dw_admin_result_fail(r, 503, "control plane unavailable");
        return -1;
    }
    if (rc != DW_BUS_OK) {
        dw_admin_result_fail(r, 502, "control plane error: %s reply",
                             dw_bus_status_name((dw_bus_status_t)rc));
        return -1;
    }
    if (dw_str_eq_c(reply->type, DW_BUS_ERROR_TYPE)) {
        dw_str_t c = DW_STR_NULL, m = DW_STR_NULL;
        dw_mp_get_str(reply->body, "code", &c);
        dw_mp_get_str(reply->body, "message", &m);
        if (code && codelen) snprintf(code, codelen, "%.*s", DW_STR_FMT(c));
        dw_admin_result_fail(r, 502, "control plane error: %.*s", DW_STR_FMT(m.len ? m : c));
        dw_bus_msg_free(reply);
        return -1;
    }
    if (!dw_str_eq_c(reply->type, expect) || reply->version != 1 ||
        reply->body->type != MSGPACK_OBJECT_MAP) {
        dw_admin_result_fail(r, 502, "control plane error: unexpected reply %.*s v%u",
                             DW_STR_FMT(reply->type), reply->version);
        dw_bus_msg_free(reply);
        return -1;
    }
    return 0;
}

static void pack_key(msgpack_packer *pk, const char *k)
{
    dw_mp_cstr(pk, k);
}

static void pack_opt_str(msgpack_packer *pk, const msgpack_object *o)
{
    if (o && (o->type == MSGPACK_OBJECT_STR || o->type == MSGPACK_OBJECT_BIN))
        dw_mp_str(pk, o->via.str.ptr, o->via.str.size);
    else
        msgpack_pack_nil(pk);
}

static void pack_bool(msgpack_packer *pk, const msgpack_object *o)
{
    if (o && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

/* A route in the shape and key order of GET /routes, whatever order configd used. */
static void pack_route(msgpack_packer *pk, const msgpack_object *m)
{
    msgpack_pack_map(pk, 6);
    pack_key(pk, "domain");
    const msgpack_object *d = dw_mp_get(m, "domain");
    if (d && d->type == MSGPACK_OBJECT_STR)
        dw_mp_str(pk, d->via.str.ptr, d->via.str.size);
    else
        dw_mp_str(pk, "", 0);
    pack_key(pk, "upstream");
    pack_opt_str(pk, dw_mp_get(m, "upstream"));
    pack_key(pk, "tls");
    pack_bool(pk, dw_mp_get(m, "tls"));
    pack_key(pk, "rate_limit_rps");
    uint64_t rps;
    if (dw_mp_get_uint(m, "rate_limit_rps", &rps))
        msgpack_pack_uint64(pk, rps);
    else
        msgpack_pack_nil(pk);
    pack_key(pk, "under_attack");
    pack_bool(pk, dw_mp_get(m, "under_attack"));
    pack_key(pk, "source");
    pack_opt_str(pk, dw_mp_get(m, "source"));
}

/* --- routes --------------------------------------------------------------------------------- */

void dw_admin_op_routes(dw_admin_t *a, dw_admin_result_t *r)
{
    dw_bus_msg_t reply;
    if (ask(a, "config.routes", empty_body, NULL, "config.routes_result", &reply, r, NULL, 0))
        return;
    const msgpack_object *items = NULL;
    size_t n = 0;
    dw_mp_get_array(reply.body, "routes", &items, &n);
    size_t maps = 0;
    for (size_t i = 0; i < n; i++) maps += items[i].type == MSGPACK_OBJECT_MAP;
    msgpack_pack_array(&r->pk, (uint32_t)maps);
    for (size_t i = 0; i < n; i++)
        if (items[i].type == MSGPACK_OBJECT_MAP) pack_route(&r->pk, &items[i]);
    dw_bus_msg_free(&reply);
}

typedef struct add_args {
    dw_str_t domain, upstream, source;
    bool tls;
} add_args_t;

static void add_body(msgpack_packer *pk, const void *arg)
{
    const add_args_t *x = arg;
    msgpack_pack_map(pk, 4);
    dw_mp_kv_str(pk, "domain", x->domain.ptr ? x->domain.ptr : "", x->domain.len);
    dw_mp_kv_str(pk, "upstream", x->upstream.ptr ? x->upstream.ptr : "", x->upstream.len);
    dw_mp_kv_bool(pk, "tls", x->tls);
    if (x->source.ptr)
        dw_mp_kv_str(pk, "source", x->source.ptr, x->source.len);
    else
        dw_mp_kv_nil(pk, "source");
}

/* An ok:false answer: its error text, or a generic one. */
static void refused(dw_admin_result_t *r, const msgpack_object *body, int status,
                    const char *fallback)
{
    dw_str_t e;
    if (dw_mp_get_str(body, "error", &e))
        dw_admin_result_fail(r, status, "%.*s", DW_STR_FMT(e));
    else
        dw_admin_result_fail(r, status, "%s", fallback);
}

void dw_admin_op_route_add(dw_admin_t *a, dw_str_t domain, dw_str_t upstream, bool tls,
                           dw_str_t source, dw_admin_result_t *r)
{
    add_args_t x = {domain, upstream, source, tls};
    dw_bus_msg_t reply;
    if (ask(a, "config.route_add", add_body, &x, "config.route_result", &reply, r, NULL, 0)) return;
    bool ok = false;
    dw_mp_get_bool(reply.body, "ok", &ok);
    const msgpack_object *route = dw_mp_get(reply.body, "route");
    if (!ok) {
        refused(r, reply.body, 400, "route rejected");
    } else {
        r->status = 201;
        if (route && route->type == MSGPACK_OBJECT_MAP) {
            pack_route(&r->pk, route);
        } else { /* an answer without the route: echo what was asked, as configd stores it */
            msgpack_pack_map(&r->pk, 6);
            dw_mp_kv_str(&r->pk, "domain", domain.ptr ? domain.ptr : "", domain.len);
            dw_mp_kv_str(&r->pk, "upstream", upstream.ptr ? upstream.ptr : "", upstream.len);
            dw_mp_kv_bool(&r->pk, "tls", tls);
            dw_mp_kv_nil(&r->pk, "rate_limit_rps");
            dw_mp_kv_bool(&r->pk, "under_attack", false);
            if (source.ptr)
                dw_mp_kv_str(&r->pk, "source", source.ptr, source.len);
            else
                dw_mp_kv_nil(&r->pk, "source");
        }
        dw_str_t d = DW_STR_NULL;
        if (route) dw_mp_get_str(route, "domain", &d);
        if (!d.ptr) d = domain;
        char res[DW_ADMIN_MAX_DOMAIN * 4 + 1];
        snprintf(res, sizeof res, "%.*s", DW_STR_FMT(d));
        for (char *p = res; *p; p++) *p = dw_ascii_lower(*p);
        audit("route_add", res);
    }
    dw_bus_msg_free(&reply);
}

static void remove_body(msgpack_packer *pk, const void *arg)
{
    msgpack_pack_map(pk, 1);
    dw_mp_kv_cstr(pk, "domain", arg);
}

void dw_admin_op_route_remove(dw_admin_t *a, dw_str_t raw, bool percent_decode,
                              dw_admin_result_t *r)
{
    while (raw.len && raw.ptr[raw.len - 1] == '/') raw.len--;
    if (raw.len == 0) {
        dw_admin_result_fail(r, 400, "missing domain");
        return;
    }
    /* checked on the raw bytes, before anything is copied or lowercased */
    if (raw.len > DW_ADMIN_MAX_DOMAIN) {
        dw_admin_result_fail(r, 414, "domain too long");
        return;
    }
    char domain[DW_ADMIN_MAX_DOMAIN + 1];
    size_t n = 0;
    for (size_t i = 0; i < raw.len; i++) {
        char c = raw.ptr[i];
        if (percent_decode && c == '%' && i + 2 < raw.len && dw_hex_digit(raw.ptr[i + 1]) >= 0 &&
            dw_hex_digit(raw.ptr[i + 2]) >= 0) {
            c = (char)(dw_hex_digit(raw.ptr[i + 1]) * 16 + dw_hex_digit(raw.ptr[i + 2]));
            i += 2;
        }
        domain[n++] = dw_ascii_lower(c);
    }
    domain[n] = '\0';
    if (memchr(domain, '\0', n)) { /* a decoded NUL can name no route */
        dw_admin_result_fail(r, 404, "route not found");
        return;
    }
    dw_bus_msg_t reply;
    if (ask(a, "config.route_remove", remove_body, domain, "config.route_result", &reply, r, NULL,
            0))
        return;
    bool ok = false, found = false;
    dw_mp_get_bool(reply.body, "ok", &ok);
    dw_mp_get_bool(reply.body, "found", &found);
    if (ok && found) {
        msgpack_pack_map(&r->pk, 1);
        dw_mp_kv_cstr(&r->pk, "deleted", domain);
        audit("route_delete", domain);
    } else if (ok || !dw_mp_get(reply.body, "error")) {
        dw_admin_result_fail(r, 404, "route not found");
    } else {
        refused(r, reply.body, 400, "route not removed");
    }
    dw_bus_msg_free(&reply);
}

/* --- reload and validate -------------------------------------------------------------------- */

void dw_admin_redact_config(dw_buf_t *out, dw_str_t text, dw_str_t path, dw_str_t name)
{
    dw_buf_t tmp = DW_BUF_INIT;
    dw_str_t needles[2] = {path, name};
    dw_str_t cur = text;
    for (int k = 0; k < 2; k++) {
        dw_buf_t *dst = k == 0 ? &tmp : out;
        dw_str_t nd = needles[k];
        if (nd.len == 0) {
            dw_buf_append_str(dst, cur);
        } else {
            size_t i = 0;
            while (i < cur.len) {
                ptrdiff_t at = dw_str_find(dw_str_sub(cur, i, cur.len - i), nd);
                if (at < 0) break;
                dw_buf_append(dst, cur.ptr + i, (size_t)at);
                dw_buf_append_c(dst, "<config>");
                i += (size_t)at + nd.len;
            }
            dw_buf_append(dst, cur.ptr + i, cur.len - i);
        }
        cur = dw_buf_str(&tmp);
    }
    dw_buf_deinit(&tmp);
}

static void reload_body(msgpack_packer *pk, const void *arg)
{
    msgpack_pack_map(pk, 1);
    dw_mp_kv_cstr(pk, "origin", arg);
}

void dw_admin_op_reload(dw_admin_t *a, dw_admin_origin_t origin, dw_admin_result_t *r)
{
    uint64_t now = mono_ms();
    if (a->reload_attempted) {
        uint64_t elapsed_s = (now - a->last_reload_ms) / 1000u;
        if (elapsed_s < DW_ADMIN_COOLDOWN_S) {
            dw_admin_result_fail(r, 429, "reload too soon");
            r->retry_after = (uint32_t)(DW_ADMIN_COOLDOWN_S - elapsed_s);
            return;
        }
    }
    /* the attempt consumes the cooldown whatever its outcome (spec 30 §0) */
    a->reload_attempted = true;
    a->last_reload_ms = now;

    dw_bus_msg_t reply;
    char code[32];
    if (ask(a, "config.reload", reload_body, origin == DW_ADMIN_FROM_CTL ? "ctl" : "admin",
            "config.reload_result", &reply, r, code, sizeof code)) {
        if (strcmp(code, "unknown_type") == 0)
            dw_admin_result_fail(r, 501, "reload not supported — config watcher not active");
        return;
    }
    bool ok = false;
    dw_mp_get_bool(reply.body, "ok", &ok);
    if (ok) {
        msgpack_pack_map(&r->pk, 1);
        dw_mp_kv_cstr(&r->pk, "message", "config reload triggered");
        audit("config_reload", "dwaarfile");
    } else {
        dw_str_t e = DW_STR("reload failed"), path = DW_STR_NULL, name = DW_STR_NULL;
        dw_mp_get_str(reply.body, "error", &e);
        dw_mp_get_str(reply.body, "path", &path);
        dw_mp_get_str(reply.body, "name", &name);
        dw_buf_t text = DW_BUF_INIT;
        dw_admin_redact_config(&text, e, path, name);
        dw_admin_result_fail(r, 400, "%s", text.data ? text.data : "");
        r->error_text = true;
        dw_buf_deinit(&text);
    }
    dw_bus_msg_free(&reply);
}

typedef struct validate_args {
    dw_str_t text, name;
} validate_args_t;

static void validate_body(msgpack_packer *pk, const void *arg)
{
    const validate_args_t *x = arg;
    msgpack_pack_map(pk, 2);
    if (x->text.ptr)
        dw_mp_kv_str(pk, "text", x->text.ptr, x->text.len);
    else
        dw_mp_kv_nil(pk, "text");
    if (x->name.ptr)
        dw_mp_kv_str(pk, "name", x->name.ptr, x->name.len);
    else
        dw_mp_kv_nil(pk, "name");
}

void dw_admin_op_validate(dw_admin_t *a, dw_str_t text, dw_str_t name, dw_admin_result_t *r)
{
    validate_args_t x = {text, name};
    dw_bus_msg_t reply;
    if (ask(a, "config.validate", validate_body, &x, "config.validate_result", &reply, r, NULL, 0))
        return;
    bool ok = false;
    uint64_t sites = 0, routes = 0;
    dw_mp_get_bool(reply.body, "ok", &ok);
    dw_mp_get_uint(reply.body, "sites", &sites);
    dw_mp_get_uint(reply.body, "routes", &routes);
    if (ok) {
        msgpack_pack_map(&r->pk, 2);
        dw_mp_kv_uint(&r->pk, "sites", sites);
        dw_mp_kv_uint(&r->pk, "routes", routes);
    } else {
        refused(r, reply.body, 400, "invalid configuration");
        r->error_text = true;
    }
    dw_bus_msg_free(&reply);
}

/* --- status and metrics --------------------------------------------------------------------- */

static uint64_t uptime_secs(const dw_admin_t *a)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    return now > a->start_time ? (uint64_t)floor(now - a->start_time) : 0;
}

void dw_admin_op_status(dw_admin_t *a, dw_admin_result_t *r)
{
    dw_bus_msg_t reply;
    if (ask(a, "config.status", empty_body, NULL, "config.status_result", &reply, r, NULL, 0))
        return;
    const msgpack_object *b = reply.body;
    msgpack_packer *pk = &r->pk;
    msgpack_pack_map(pk, 15);
    dw_mp_kv_cstr(pk, "version", DWAAR_VERSION);
    dw_mp_kv_uint(pk, "pid", (uint64_t)getpid());
    dw_mp_kv_cstr(pk, "started_at", a->started_at);
    dw_mp_kv_uint(pk, "uptime_secs", uptime_secs(a));
    dw_mp_kv_bool(pk, "draining", dw_admin_draining());
    dw_mp_kv_cstr(pk, "admin_addr", a->tcp_addr);
    dw_mp_kv_cstr(pk, "admin_socket", a->unix_path);
    pack_key(pk, "instance");
    pack_opt_str(pk, dw_mp_get(b, "instance"));
    uint64_t v = 0;
    dw_mp_get_uint(b, "generation", &v);
    dw_mp_kv_uint(pk, "generation", v);
    pack_key(pk, "config_path");
    pack_opt_str(pk, dw_mp_get(b, "path"));
    v = 0;
    dw_mp_get_uint(b, "reloads_ok", &v);
    dw_mp_kv_uint(pk, "reloads_ok", v);
    v = 0;
    dw_mp_get_uint(b, "reloads_failed", &v);
    dw_mp_kv_uint(pk, "reloads_failed", v);
    pack_key(pk, "last_error");
    pack_opt_str(pk, dw_mp_get(b, "last_error"));
    const msgpack_object *nodes = NULL;
    size_t n = 0;
    dw_mp_get_array(b, "nodes", &nodes, &n);
    size_t maps = 0;
    for (size_t i = 0; i < n; i++) maps += nodes[i].type == MSGPACK_OBJECT_MAP;
    pack_key(pk, "nodes");
    msgpack_pack_array(pk, (uint32_t)maps);
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *m = &nodes[i];
        if (m->type != MSGPACK_OBJECT_MAP) continue;
        msgpack_pack_map(pk, 4);
        pack_key(pk, "node");
        pack_opt_str(pk, dw_mp_get(m, "node"));
        v = 0;
        dw_mp_get_uint(m, "pid", &v);
        dw_mp_kv_uint(pk, "pid", v);
        v = 0;
        dw_mp_get_uint(m, "generation", &v);
        dw_mp_kv_uint(pk, "generation", v);
        v = 0;
        dw_mp_get_uint(m, "age_ms", &v);
        dw_mp_kv_uint(pk, "age_ms", v);
    }
    dw_mp_kv_cstr(pk, "ctl_endpoint", a->ctl_endpoint);
    dw_bus_msg_free(&reply);
}

void dw_admin_op_metrics(dw_admin_t *a, dw_admin_result_t *r)
{
    if (!a->metrics_enabled) {
        dw_admin_result_fail(r, 404, "metrics not enabled — start with --no-metrics=false");
        return;
    }
    dw_admin_reloads_t reloads = {0};
    dw_bus_msg_t reply;
    dw_admin_result_t tmp;
    dw_admin_result_init(&tmp);
    if (ask(a, "config.status", empty_body, NULL, "config.status_result", &reply, &tmp, NULL, 0) ==
        0) {
        reloads.known = true;
        dw_mp_get_uint(reply.body, "reloads_ok", &reloads.ok);
        dw_mp_get_uint(reply.body, "reloads_failed", &reloads.failed);
        dw_bus_msg_free(&reply);
    }
    dw_admin_result_deinit(&tmp);
    dw_buf_t text = DW_BUF_INIT;
    dw_admin_metrics_render(&text, &reloads);
    dw_mp_str(&r->pk, text.data ? text.data : "", text.len);
    dw_buf_deinit(&text);
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* /analytics, /analytics/{domain} and PURGE /cache/... are owned by the analytics and cache
 * features, which are not built yet: after auth and the rate limit they answer 404. Replace
 * this with the real handlers (spec 30 §1.5) when those features land. */
void dw_admin_op_not_yet(dw_admin_result_t *r)
{
    dw_admin_result_fail(r, 404, "not found");
}
