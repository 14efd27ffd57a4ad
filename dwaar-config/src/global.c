/* The global options block (spec 10 §2; spec 20 §1.1, §3.4, §3.5; spec 30 §6), a top-level
 * `timeouts {}` block, and the global options as JSON. Unknown options are skipped with a
 * warning (Caddy options such as `admin` or `storage` keep loading). */
#include "ext_int.h"
#include <math.h>

void dw_cfg_global_defaults(dw_cfg_global_t *g)
{
    memset(g, 0, sizeof(*g));
    g->http_port = 80;
    g->https_port = 443;
    g->auto_https = DW_AUTO_HTTPS_ON;
    g->drain_timeout_ms = 30000;
    g->timeouts.read_header_ms = 10000;
    g->timeouts.read_body_ms = 30000;
    g->timeouts.idle_ms = 60000;
    g->timeouts.write_ms = 0;
    g->timeouts.max_requests = 1000;
    g->servers.h3_max_streams = 100;
    g->auto_update.enabled = true;
    g->auto_update.channel = DW_CFG_CHANNEL_STABLE;
    g->auto_update.check_interval_ms = 6ull * 3600 * 1000;
    g->auto_update.on_new_version = DW_CFG_ON_NEW_RELOAD;
    g->auto_update.drain_timeout_ms = 60000;
    g->auto_update.health_check_url = DW_STR("http://127.0.0.1:6663/healthz");
    g->auto_update.rollback_on_health_fail = true;
    g->tracing.sample_ratio = 1.0;
}

/* --- timeouts (spec 20 §3.4) ---------------------------------------------------------------- */

static const char *const timeout_keys[] = {"read_header", "header", "read_body",    "body", "idle",
                                           "keepalive",   "write",  "max_requests", NULL};

static void parse_timeouts(dw_cfg_parser_t *p, const dw_cfg_node_t *node)
{
    dw_cfg_global_timeouts_t *t = &p->cfg->global.timeouts;
    if (dw_cfg_ext_node_argc(p, node, 0, 0, NULL, NULL) < 0) return;
    if (dw_cfg_ext_need_block(p, node) < 0) return;
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *c = &node->children[i];
        const char *key = dw_cfg_ext_name(p, c);
        uint64_t *slot = NULL;
        bool *set = NULL;
        if (dw_cfg_ext_is(&c->name, "read_header") || dw_cfg_ext_is(&c->name, "header"))
            slot = &t->read_header_ms, set = &t->has_read_header;
        else if (dw_cfg_ext_is(&c->name, "read_body") || dw_cfg_ext_is(&c->name, "body"))
            slot = &t->read_body_ms, set = &t->has_read_body;
        else if (dw_cfg_ext_is(&c->name, "idle") || dw_cfg_ext_is(&c->name, "keepalive"))
            slot = &t->idle_ms, set = &t->has_idle;
        else if (dw_cfg_ext_is(&c->name, "write"))
            slot = &t->write_ms, set = &t->has_write;
        else if (dw_cfg_ext_is(&c->name, "max_requests"))
            slot = &t->max_requests, set = &t->has_max_requests;
        if (!slot) {
            /* decision 22: drain_timeout is a global option, not a timeout key */
            dw_cfg_err(p, &c->name, "unknown timeout key '%s'", key);
            continue;
        }
        if (dw_cfg_ext_node_argc(p, c, 1, 1, "a value", timeout_keys) < 0 ||
            dw_cfg_ext_no_block(p, c) < 0)
            continue;
        uint64_t v;
        int rc = slot == &t->max_requests ? dw_cfg_arg_uint(p, &c->args[0], key, 0, UINT32_MAX, &v)
                                          : dw_cfg_arg_duration(p, &c->args[0], key, NULL, &v);
        if (rc == 0) *slot = v, *set = true;
    }
}

void dw_cfg_parse_toplevel_timeouts(dw_cfg_parser_t *p, const dw_cfg_node_t *node)
{
    parse_timeouts(p, node);
}

/* --- simple options --------------------------------------------------------------------------- */

static void opt_port(dw_cfg_parser_t *p, const dw_cfg_node_t *n, uint16_t *out)
{
    if (dw_cfg_ext_node_argc(p, n, 1, 1, "a port number", NULL) < 0 ||
        dw_cfg_ext_no_block(p, n) < 0)
        return;
    uint16_t v;
    if (dw_parse_port(n->args[0].text, &v) != DW_OK) {
        dw_cfg_err(p, &n->args[0], "invalid value for '%s': '%.*s' is not a valid port number",
                   dw_cfg_ext_name(p, n), DW_STR_FMT(n->args[0].text));
        return;
    }
    *out = v;
}

static void opt_email(dw_cfg_parser_t *p, const dw_cfg_node_t *n, dw_cfg_global_t *g)
{
    if (dw_cfg_ext_node_argc(p, n, 1, 1, "an email address", NULL) < 0 ||
        dw_cfg_ext_no_block(p, n) < 0)
        return;
    dw_str_t v = n->args[0].text;
    ptrdiff_t at = dw_str_chr(v, '@');
    if (at <= 0 || (size_t)at + 1 >= v.len) {
        dw_cfg_err(p, &n->args[0], "invalid value for 'email': '%.*s' is not an email address",
                   DW_STR_FMT(v));
        return;
    }
    g->email = dw_cfg_str(p, &n->args[0]);
}

static void opt_debug(dw_cfg_parser_t *p, const dw_cfg_node_t *n, dw_cfg_global_t *g)
{
    if (dw_cfg_ext_node_argc(p, n, 0, 1, NULL, NULL) < 0 || dw_cfg_ext_no_block(p, n) < 0) return;
    bool on = true;
    if (n->nargs == 1 && dw_cfg_arg_bool(p, &n->args[0], "debug", &on) < 0) return;
    g->debug = on;
}

static void opt_auto_https(dw_cfg_parser_t *p, const dw_cfg_node_t *n, dw_cfg_global_t *g)
{
    if (dw_cfg_ext_node_argc(p, n, 1, 1, "off or disable_redirects", NULL) < 0 ||
        dw_cfg_ext_no_block(p, n) < 0)
        return;
    const dw_cfg_token_t *v = &n->args[0];
    if (dw_str_eq_c(v->text, "off"))
        g->auto_https = DW_AUTO_HTTPS_OFF;
    else if (dw_str_eq_c(v->text, "disable_redirects"))
        g->auto_https = DW_AUTO_HTTPS_DISABLE_REDIRECTS;
    else
        dw_cfg_err_enum(p, v, "auto_https", "off, disable_redirects");
}

static void opt_drain_timeout(dw_cfg_parser_t *p, const dw_cfg_node_t *n, dw_cfg_global_t *g)
{
    if (dw_cfg_ext_node_argc(p, n, 1, 1, "a duration", NULL) < 0 || dw_cfg_ext_no_block(p, n) < 0)
        return;
    uint64_t ms;
    if (dw_cfg_arg_duration(p, &n->args[0], "drain_timeout", "duration, e.g., 30s or 2m", &ms) == 0)
        g->drain_timeout_ms = ms;
}

static void opt_drain_timeout_secs(dw_cfg_parser_t *p, const dw_cfg_node_t *n, dw_cfg_global_t *g)
{
    if (dw_cfg_ext_node_argc(p, n, 1, 1, "a number of seconds", NULL) < 0 ||
        dw_cfg_ext_no_block(p, n) < 0)
        return;
    uint64_t s;
    if (dw_cfg_arg_uint(p, &n->args[0], "drain_timeout_secs", 0, UINT32_MAX, &s) == 0)
        g->drain_timeout_ms = s * 1000;
}

/* --- servers (spec 10 §2, §5 client_ip, §8.4; spec 20 §3.5) ------------------------------------
 */

static void parse_listener_wrappers(dw_cfg_parser_t *p, const dw_cfg_node_t *n, dw_cfg_servers_t *s)
{
    if (dw_cfg_ext_node_argc(p, n, 0, 0, NULL, NULL) < 0 || dw_cfg_ext_need_block(p, n) < 0) return;
    for (size_t i = 0; i < n->nchildren; i++) {
        const dw_cfg_node_t *c = &n->children[i];
        if (dw_cfg_ext_is(&c->name, "layer4")) {
            if (s->has_listener_wrapper) {
                dw_cfg_err(p, &c->name, "duplicate 'layer4' listener wrapper");
                continue;
            }
            if (dw_cfg_ext_node_argc(p, c, 0, 0, NULL, NULL) < 0 || dw_cfg_ext_need_block(p, c) < 0)
                continue;
            s->has_listener_wrapper = true;
            dw_cfg_l4_parse_routes(p, c, &s->listener_wrapper);
        } else if (!dw_cfg_ext_is(&c->name, "tls")) {
            /* Caddy lists `tls` after layer4; it is implied here */
            dw_cfg_warn(p, &c->name, "unknown listener wrapper '%s' ignored",
                        dw_cfg_ext_name(p, c));
        }
    }
}

static void parse_servers(dw_cfg_parser_t *p, const dw_cfg_node_t *n, dw_cfg_global_t *g)
{
    static const char *const keys[] = {
        "h3", "h3_max_streams", "timeouts", "trusted_proxies", "listener_wrappers", NULL};
    dw_cfg_servers_t *s = &g->servers;
    if (n->nargs > 0)
        dw_cfg_warn(
            p, &n->args[0],
            "listener addresses after 'servers' are ignored; the options apply to every server");
    if (dw_cfg_ext_need_block(p, n) < 0) return;
    size_t tpcap = s->trusted_proxies.n;
    for (size_t i = 0; i < n->nchildren; i++) {
        const dw_cfg_node_t *c = &n->children[i];
        if (dw_cfg_ext_is(&c->name, "h3")) {
            if (dw_cfg_ext_node_argc(p, c, 0, 1, NULL, keys) < 0 || dw_cfg_ext_no_block(p, c) < 0)
                continue;
            if (c->nargs == 0 || dw_str_eq_c(c->args[0].text, "on"))
                s->h3 = true;
            else if (dw_str_eq_c(c->args[0].text, "off"))
                s->h3 = false;
            else
                dw_cfg_err_enum(p, &c->args[0], "h3", "on, off");
        } else if (dw_cfg_ext_is(&c->name, "h3_max_streams")) {
            uint64_t v;
            if (dw_cfg_ext_node_argc(p, c, 1, 1, "a number of streams", keys) < 0 ||
                dw_cfg_ext_no_block(p, c) < 0)
                continue;
            if (dw_cfg_arg_uint(p, &c->args[0], "h3_max_streams", 1, 1000000, &v) == 0)
                s->h3_max_streams = (uint32_t)v;
        } else if (dw_cfg_ext_is(&c->name, "timeouts")) {
            parse_timeouts(p, c);
        } else if (dw_cfg_ext_is(&c->name, "trusted_proxies")) {
            if (dw_cfg_ext_no_block(p, c) < 0) continue;
            const dw_cfg_token_t *a = c->args;
            size_t na = c->nargs;
            if (na && dw_cfg_ext_is(&a[0], "static")) a++, na--;
            if (dw_cfg_ext_argc(p, &c->name, a, na, 1, SIZE_MAX,
                                "an IP range (e.g. 'static 10.0.0.0/8')", NULL) < 0)
                continue;
            dw_cfg_ext_cidrs(p, a, na, "trusted_proxies", &s->trusted_proxies, &tpcap);
        } else if (dw_cfg_ext_is(&c->name, "listener_wrappers")) {
            parse_listener_wrappers(p, c, s);
        } else {
            dw_cfg_warn(p, &c->name, "unknown servers option '%s' ignored", dw_cfg_ext_name(p, c));
        }
    }
}

/* --- auto_update ------------------------------------------------------------------------------ */

static bool valid_http_url(dw_str_t u)
{
    dw_str_t rest;
    if (dw_str_has_prefix(u, DW_STR("http://")))
        rest = dw_str_sub(u, 7, u.len);
    else if (dw_str_has_prefix(u, DW_STR("https://")))
        rest = dw_str_sub(u, 8, u.len);
    else
        return false;
    if (rest.len == 0 || rest.ptr[0] == '/' || rest.ptr[0] == ':') return false;
    for (size_t i = 0; i < rest.len; i++)
        if ((unsigned char)rest.ptr[i] <= ' ' || rest.ptr[i] == 0x7f) return false;
    return true;
}

static void parse_auto_update(dw_cfg_parser_t *p, const dw_cfg_node_t *n, dw_cfg_global_t *g)
{
    static const char *const keys[] = {"enabled",
                                       "channel",
                                       "check_interval",
                                       "window",
                                       "on_new_version",
                                       "drain_timeout_secs",
                                       "health_check_url",
                                       "rollback_on_health_fail",
                                       NULL};
    dw_cfg_auto_update_t *u = &g->auto_update;
    if (dw_cfg_ext_node_argc(p, n, 0, 0, NULL, NULL) < 0 || dw_cfg_ext_need_block(p, n) < 0) return;
    u->configured = true;
    for (size_t i = 0; i < n->nchildren; i++) {
        const dw_cfg_node_t *c = &n->children[i];
        const char *key = dw_cfg_ext_name(p, c);
        size_t k = dw_cfg_ext_keyword(&c->name, keys);
        if (!keys[k]) {
            dw_cfg_err(p, &c->name, "unknown auto_update option '%s'", key);
            continue;
        }
        if (dw_cfg_ext_node_argc(p, c, 1, 1, "a value", keys) < 0 || dw_cfg_ext_no_block(p, c) < 0)
            continue;
        const dw_cfg_token_t *v = &c->args[0];
        uint64_t x;
        bool b;
        switch (k) {
        case 0:
            if (dw_cfg_arg_bool(p, v, key, &b) == 0) u->enabled = b;
            break;
        case 1:
            if (dw_str_eq_c(v->text, "stable"))
                u->channel = DW_CFG_CHANNEL_STABLE;
            else if (dw_str_eq_c(v->text, "beta"))
                u->channel = DW_CFG_CHANNEL_BETA;
            else
                dw_cfg_err_enum(p, v, "channel", "stable, beta");
            break;
        case 2:
            if (dw_cfg_arg_duration(p, v, key, NULL, &x) < 0) break;
            if (x == 0)
                dw_cfg_err(p, v,
                           "invalid value for 'check_interval': '0' (must be greater than 0)");
            else
                u->check_interval_ms = x;
            break;
        case 3:
            if (dw_cfg_ext_parse_window(v->text, &u->window_start_min, &u->window_end_min) == 0)
                u->has_window = true;
            else
                dw_cfg_err(p, v,
                           "invalid value for 'window': '%.*s' is not a valid time window\n"
                           "    expected: HH:MM-HH:MM (UTC, 00:00-23:59), e.g., 02:00-04:00",
                           DW_STR_FMT(v->text));
            break;
        case 4:
            if (dw_str_eq_c(v->text, "reload"))
                u->on_new_version = DW_CFG_ON_NEW_RELOAD;
            else if (dw_str_eq_c(v->text, "notify"))
                u->on_new_version = DW_CFG_ON_NEW_NOTIFY;
            else
                dw_cfg_err_enum(p, v, "on_new_version", "reload, notify");
            break;
        case 5:
            if (dw_cfg_arg_uint(p, v, key, 0, UINT32_MAX, &x) == 0) u->drain_timeout_ms = x * 1000;
            break;
        case 6:
            if (valid_http_url(v->text))
                u->health_check_url = dw_cfg_str(p, v);
            else
                dw_cfg_err(p, v,
                           "invalid value for 'health_check_url': '%.*s' is not an http:// or "
                           "https:// URL",
                           DW_STR_FMT(v->text));
            break;
        default:
            if (dw_cfg_arg_bool(p, v, key, &b) == 0) u->rollback_on_health_fail = b;
            break;
        }
    }
}

/* --- tracing (spec 30 §6) ----------------------------------------------------------------------
 */

static void parse_tracing(dw_cfg_parser_t *p, const dw_cfg_node_t *n, dw_cfg_global_t *g)
{
    static const char *const keys[] = {"otlp_endpoint", "sample_ratio", NULL};
    dw_cfg_tracing_t *t = &g->tracing;
    if (dw_cfg_ext_node_argc(p, n, 0, 0, NULL, NULL) < 0 || dw_cfg_ext_need_block(p, n) < 0) return;
    dw_str_t endpoint = DW_STR_NULL;
    double ratio = 1.0;
    for (size_t i = 0; i < n->nchildren; i++) {
        const dw_cfg_node_t *c = &n->children[i];
        if (dw_cfg_ext_is(&c->name, "otlp_endpoint")) {
            if (dw_cfg_ext_node_argc(p, c, 1, 1, "a URL", keys) < 0 ||
                dw_cfg_ext_no_block(p, c) < 0)
                continue;
            if (!valid_http_url(c->args[0].text)) {
                dw_cfg_err(
                    p, &c->args[0],
                    "invalid value for 'otlp_endpoint': '%.*s' is not an http:// or https:// URL",
                    DW_STR_FMT(c->args[0].text));
                continue;
            }
            endpoint = dw_cfg_str(p, &c->args[0]);
        } else if (dw_cfg_ext_is(&c->name, "sample_ratio")) {
            if (dw_cfg_ext_node_argc(p, c, 1, 1, "a ratio between 0 and 1", keys) < 0 ||
                dw_cfg_ext_no_block(p, c) < 0)
                continue;
            const dw_cfg_token_t *v = &c->args[0];
            char *s = dw_arena_strndup(&p->scratch, v->text.ptr, v->text.len), *end = NULL;
            double r = s ? strtod(s, &end) : 0;
            if (!s || end == s || *end != '\0') {
                dw_cfg_err(p, v,
                           "invalid value for 'sample_ratio': '%.*s' is not a number\n"
                           "    expected: a ratio between 0 and 1, e.g., 0.25",
                           DW_STR_FMT(v->text));
            } else if (!isfinite(r)) {
                dw_cfg_warn(p, v, "'sample_ratio %.*s' is not finite and is ignored",
                            DW_STR_FMT(v->text));
            } else if (r < 0 || r > 1) {
                ratio = r < 0 ? 0 : 1;
                dw_cfg_warn(p, v, "'sample_ratio %.*s' is clamped to %g", DW_STR_FMT(v->text),
                            ratio);
            } else {
                ratio = r;
            }
        } else {
            dw_cfg_err(p, &c->name, "unknown tracing option '%s'", dw_cfg_ext_name(p, c));
        }
    }
    if (!endpoint.ptr) {
        dw_cfg_err(p, &n->name, "'tracing' requires 'otlp_endpoint <url>'");
        return;
    }
    t->enabled = true;
    t->otlp_endpoint = endpoint;
    t->sample_ratio = ratio;
}

/* --- the block ----------------------------------------------------------------------------------
 */

void dw_cfg_parse_global(dw_cfg_parser_t *p, const dw_cfg_node_t *block)
{
    dw_cfg_global_t *g = &p->cfg->global;
    for (size_t i = 0; i < block->nchildren; i++) {
        const dw_cfg_node_t *n = &block->children[i];
        const dw_cfg_token_t *k = &n->name;
        if (dw_cfg_ext_is(k, "http_port"))
            opt_port(p, n, &g->http_port);
        else if (dw_cfg_ext_is(k, "https_port"))
            opt_port(p, n, &g->https_port);
        else if (dw_cfg_ext_is(k, "email"))
            opt_email(p, n, g);
        else if (dw_cfg_ext_is(k, "debug"))
            opt_debug(p, n, g);
        else if (dw_cfg_ext_is(k, "auto_https"))
            opt_auto_https(p, n, g);
        else if (dw_cfg_ext_is(k, "drain_timeout"))
            opt_drain_timeout(p, n, g);
        else if (dw_cfg_ext_is(k, "drain_timeout_secs"))
            opt_drain_timeout_secs(p, n, g);
        else if (dw_cfg_ext_is(k, "timeouts"))
            parse_timeouts(p, n);
        else if (dw_cfg_ext_is(k, "servers"))
            parse_servers(p, n, g);
        else if (dw_cfg_ext_is(k, "layer4"))
            dw_cfg_parse_layer4(p, n, &p->cfg->layer4);
        else if (dw_cfg_ext_is(k, "auto_update"))
            parse_auto_update(p, n, g);
        else if (dw_cfg_ext_is(k, "tracing"))
            parse_tracing(p, n, g);
        else
            dw_cfg_warn(p, k, "unknown global option '%s' ignored", dw_cfg_ext_name(p, n));
    }
    if (g->http_port == g->https_port)
        dw_cfg_err(p, &block->name, "http_port and https_port must differ (both are %u)",
                   g->http_port);
}

/* --- JSON ----------------------------------------------------------------------------------------
 */

static void json_timeouts(dw_json_t *j, const dw_cfg_global_timeouts_t *t)
{
    dw_json_obj_begin(j);
    dw_json_kv_uint(j, "read_header_ms", t->read_header_ms);
    dw_json_kv_uint(j, "read_body_ms", t->read_body_ms);
    dw_json_kv_uint(j, "idle_ms", t->idle_ms);
    dw_json_kv_uint(j, "write_ms", t->write_ms);
    dw_json_kv_uint(j, "max_requests", t->max_requests);
    dw_json_key(j, "set");
    dw_json_arr_begin(j);
    if (t->has_read_header) dw_json_cstr(j, "read_header");
    if (t->has_read_body) dw_json_cstr(j, "read_body");
    if (t->has_idle) dw_json_cstr(j, "idle");
    if (t->has_write) dw_json_cstr(j, "write");
    if (t->has_max_requests) dw_json_cstr(j, "max_requests");
    dw_json_arr_end(j);
    dw_json_obj_end(j);
}

static void json_cidrs(dw_json_t *j, const char *key, dw_cfg_cidrs_t c)
{
    dw_json_key(j, key);
    dw_json_arr_begin(j);
    for (size_t i = 0; i < c.n; i++) dw_cfg_json_cidr(j, &c.v[i]);
    dw_json_arr_end(j);
}

static void json_hhmm(char *buf, size_t n, uint16_t a, uint16_t b)
{
    snprintf(buf, n, "%02u:%02u-%02u:%02u", a / 60u, a % 60u, b / 60u, b % 60u);
}

void dw_cfg_json_global(dw_json_t *j, const dw_cfg_global_t *g)
{
    static const char *const https[] = {"on", "off", "disable_redirects"};
    dw_json_obj_begin(j);
    dw_json_kv_uint(j, "http_port", g->http_port);
    dw_json_kv_uint(j, "https_port", g->https_port);
    dw_json_kv_cstr(j, "auto_https", g->auto_https < 3 ? https[g->auto_https] : "?");
    if (g->email.ptr) dw_json_kv_str(j, "email", g->email);
    dw_json_kv_bool(j, "debug", g->debug);
    dw_json_kv_uint(j, "drain_timeout_ms", g->drain_timeout_ms);
    dw_json_key(j, "timeouts");
    json_timeouts(j, &g->timeouts);

    dw_json_key(j, "servers");
    dw_json_obj_begin(j);
    dw_json_kv_bool(j, "h3", g->servers.h3);
    dw_json_kv_uint(j, "h3_max_streams", g->servers.h3_max_streams);
    json_cidrs(j, "trusted_proxies", g->servers.trusted_proxies);
    dw_json_key(j, "listener_wrappers");
    if (g->servers.has_listener_wrapper) {
        dw_json_obj_begin(j);
        dw_json_key(j, "layer4");
        dw_cfg_l4_json_routes(j, &g->servers.listener_wrapper);
        dw_json_obj_end(j);
    } else {
        dw_json_null(j);
    }
    dw_json_obj_end(j);

    dw_json_key(j, "auto_update");
    const dw_cfg_auto_update_t *u = &g->auto_update;
    if (u->configured) {
        char w[32];
        dw_json_obj_begin(j);
        dw_json_kv_bool(j, "enabled", u->enabled);
        dw_json_kv_cstr(j, "channel", u->channel == DW_CFG_CHANNEL_BETA ? "beta" : "stable");
        dw_json_kv_uint(j, "check_interval_ms", u->check_interval_ms);
        if (u->has_window) {
            json_hhmm(w, sizeof(w), u->window_start_min, u->window_end_min);
            dw_json_kv_cstr(j, "window", w);
        } else {
            dw_json_kv_cstr(j, "window", NULL);
        }
        dw_json_kv_cstr(j, "on_new_version",
                        u->on_new_version == DW_CFG_ON_NEW_NOTIFY ? "notify" : "reload");
        dw_json_kv_uint(j, "drain_timeout_ms", u->drain_timeout_ms);
        dw_json_kv_str(j, "health_check_url", u->health_check_url);
        dw_json_kv_bool(j, "rollback_on_health_fail", u->rollback_on_health_fail);
        dw_json_obj_end(j);
    } else {
        dw_json_null(j);
    }

    dw_json_key(j, "tracing");
    if (g->tracing.enabled) {
        dw_json_obj_begin(j);
        dw_json_kv_str(j, "otlp_endpoint", g->tracing.otlp_endpoint);
        dw_json_key(j, "sample_ratio");
        dw_json_double(j, g->tracing.sample_ratio);
        dw_json_obj_end(j);
    } else {
        dw_json_null(j);
    }
    dw_json_obj_end(j);
}
