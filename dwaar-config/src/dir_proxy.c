/* reverse_proxy / proxy, grpc and php_fastcgi (spec 10 §6.1, §6.2, §6.6; decisions 24, 26,
 * 27, 36): upstream addresses and the proxy subdirectives. Host names are kept as written and
 * resolved only when a running server compiles the snapshot (decision 24). */
#include "route_int.h"
#include <arpa/inet.h>
#include <dwaar/tls/tls.h>

/* --- addresses ------------------------------------------------------------------------------ */

static bool host_char(char c)
{
    return dw_ascii_isalnum(c) || c == '.' || c == '-' || c == '_';
}

/* `host[:port]`, `:port`, `[v6][:port]` after any scheme. Returns NULL or why it is invalid. */
static const char *host_port(dw_cfg_parser_t *p, dw_str_t s, uint16_t default_port,
                             dw_cfg_upstream_t *out)
{
    dw_str_t host, port = DW_STR_NULL;
    bool has_port = false;
    if (s.len == 0) return "missing host";
    if (s.ptr[0] == '/') return "a path is not an upstream address";
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] == '/' || s.ptr[i] == '?' || s.ptr[i] == '#')
            return "a path or query is not allowed";
        if (s.ptr[i] == '{' || s.ptr[i] == '}')
            return "placeholders are not allowed in upstream addresses";
    }
    if (s.ptr[0] == '[') {
        ptrdiff_t close = dw_str_chr(s, ']');
        if (close < 0) return "missing ']'";
        host = dw_str_sub(s, 1, (size_t)close - 1);
        dw_str_t rest = dw_str_sub(s, (size_t)close + 1, s.len);
        if (rest.len) {
            if (rest.ptr[0] != ':') return "unexpected text after ']'";
            port = dw_str_sub(rest, 1, rest.len), has_port = true;
        }
        if (!dw_cfg_is_ip_literal(host, AF_INET6)) return "invalid IPv6 address";
    } else {
        ptrdiff_t colon = dw_str_chr(s, ':');
        host = s;
        if (colon >= 0) {
            host = dw_str_sub(s, 0, (size_t)colon);
            port = dw_str_sub(s, (size_t)colon + 1, s.len), has_port = true;
            if (dw_str_chr(port, ':') >= 0) return "an IPv6 address needs brackets ([::1]:8080)";
        }
        if (host.len == 0) host = DW_STR("127.0.0.1"); /* `:port` */
        for (size_t i = 0; i < host.len; i++)
            if (!host_char(host.ptr[i])) return "invalid host name";
    }
    if (has_port) {
        if (dw_parse_port(port, &out->port) != DW_OK) return "invalid port";
    } else {
        if (default_port == 0) return "a port is required";
        out->port = default_port;
    }
    out->host = dw_cfg_strdup(p, host);
    return NULL;
}

/* unix/<p> or unix//abs: the socket path, relative paths against the Dwaarfile's directory. */
static const char *unix_path(dw_cfg_parser_t *p, dw_str_t s, dw_cfg_upstream_t *out)
{
    if (s.len == 0) return "missing socket path";
    if (memchr(s.ptr, '\0', s.len)) return "NUL in socket path";
    out->scheme = DW_UPSTREAM_UNIX;
    out->host = dw_cfg_resolve_path(p, s);
    out->port = 0;
    return NULL;
}

int dw_cfg_route_upstream(dw_cfg_parser_t *p, const dw_cfg_token_t *t, dw_cfg_upstream_t *out)
{
    dw_str_t s = t->text;
    memset(out, 0, sizeof(*out));
    out->original = dw_cfg_str(p, t);
    out->loc = dw_cfg_tok_loc(t);
    const char *why;
    uint16_t def = 80;
    if (dw_str_has_prefix(s, DW_STR("unix/"))) {
        why = unix_path(p, dw_str_sub(s, 5, s.len), out);
        out->scheme_explicit = true;
    } else {
        if (dw_str_has_prefix(s, DW_STR("http://"))) {
            out->scheme = DW_UPSTREAM_HTTP, out->scheme_explicit = true,
            s = dw_str_sub(s, 7, s.len);
        } else if (dw_str_has_prefix(s, DW_STR("https://"))) {
            out->scheme = DW_UPSTREAM_HTTPS, out->scheme_explicit = true,
            s = dw_str_sub(s, 8, s.len);
            def = 443;
        } else if (dw_str_has_prefix(s, DW_STR("h2c://"))) {
            out->scheme = DW_UPSTREAM_H2C, out->scheme_explicit = true, s = dw_str_sub(s, 6, s.len);
        }
        if (!out->scheme_explicit && dw_str_find(s, DW_STR("://")) >= 0)
            why = "unsupported scheme (expected http://, https://, h2c:// or unix/)";
        else
            why = host_port(p, s, def, out);
    }
    if (why) {
        dw_cfg_err(p, t, "invalid upstream address '%.*s': %s", DW_STR_FMT(t->text), why);
        return -1;
    }
    return 0;
}

/* --- reverse_proxy subdirectives ------------------------------------------------------------- */

static int one_value(dw_cfg_parser_t *p, const dw_cfg_node_t *c)
{
    if (c->has_block) {
        dw_cfg_err(p, &c->open, "'%.*s' does not take a block", DW_STR_FMT(c->name.text));
        return -1;
    }
    if (c->nargs == 1) return 0;
    if (c->nargs == 0)
        dw_cfg_err(p, &c->name, "invalid value for '%.*s': expected a value",
                   DW_STR_FMT(c->name.text));
    else
        dw_cfg_route_extra_arg(p, &c->args[1],
                               dw_arena_strndup(&p->scratch, c->name.text.ptr, c->name.text.len));
    return -1;
}

static const char *const lb_policies[] = {
    [DW_LB_ROUND_ROBIN] = "round_robin", [DW_LB_LEAST_CONN] = "least_conn",
    [DW_LB_RANDOM] = "random",           [DW_LB_IP_HASH] = "ip_hash",
    [DW_LB_COOKIE] = "cookie",
};

static int parse_lb_policy(dw_cfg_parser_t *p, const dw_cfg_node_t *c, dw_cfg_proxy_t *px)
{
    if (one_value(p, c) < 0) return -1;
    for (size_t i = 0; i < DW_ARRAY_LEN(lb_policies); i++) {
        if (dw_str_eq_c(c->args[0].text, lb_policies[i])) {
            px->lb_policy = (uint8_t)i;
            return 0;
        }
    }
    dw_cfg_err(
        p, &c->args[0],
        "unknown lb_policy '%.*s'; expected round_robin, least_conn, random, ip_hash, cookie",
        DW_STR_FMT(c->args[0].text));
    return -1;
}

/* `<name> must be a positive integer, got '<v>'` shaped values (seconds or a duration). */
static int parse_interval(dw_cfg_parser_t *p, const dw_cfg_node_t *c, const char *name,
                          bool zero_ok, uint64_t *ms)
{
    if (one_value(p, c) < 0) return -1;
    const dw_cfg_token_t *t = &c->args[0];
    if (dw_parse_duration_ms(t->text, ms) != DW_OK || (*ms == 0 && !zero_ok)) {
        dw_cfg_err(p, t, "%s must be a positive integer, got '%.*s'", name, DW_STR_FMT(t->text));
        return -1;
    }
    return 0;
}

static int parse_count(dw_cfg_parser_t *p, const dw_cfg_node_t *c, const char *name, uint64_t min,
                       uint64_t *out)
{
    if (one_value(p, c) < 0) return -1;
    const dw_cfg_token_t *t = &c->args[0];
    if (dw_parse_u64(t->text, out) != DW_OK || *out < min) {
        dw_cfg_err(p, t, "%s must be a %s integer, got '%.*s'", name,
                   min ? "positive" : "non-negative", DW_STR_FMT(t->text));
        return -1;
    }
    return 0;
}

static int parse_timeout(dw_cfg_parser_t *p, const dw_cfg_node_t *c, const char *name, uint64_t *ms)
{
    if (one_value(p, c) < 0) return -1;
    if (dw_cfg_arg_duration(p, &c->args[0], name, NULL, ms) < 0) return -1;
    if (*ms == 0) {
        dw_cfg_err(p, &c->args[0], "invalid value for '%s': must be greater than zero", name);
        return -1;
    }
    return 0;
}

static int transport_file(dw_cfg_parser_t *p, const dw_cfg_token_t *t, const char *what,
                          dw_str_t *out)
{
    *out = dw_cfg_resolve_path(p, t->text);
    return dw_cfg_check_readable(p, t, *out, what);
}

/* Spec 20 §1.11: a client certificate that cannot be used (no certificate, unparsable key,
 * key that does not match) fails the configuration where it is written, so configd refuses it
 * instead of every data plane refusing it later. Only the certificate path is named. */
static int check_client_pair(dw_cfg_parser_t *p, const dw_cfg_node_t *k,
                             const dw_cfg_transport_t *tr)
{
    dw_err_t err = {0};
    dw_tls_cert_t *cert = dw_tls_cert_load(tr->client_cert.ptr, tr->client_key.ptr, &err);
    if (!cert) {
        dw_cfg_err(p, &k->args[0], "tls_client_auth: %s", err.msg);
        return -1;
    }
    dw_tls_cert_unref(cert);
    return 0;
}

static int parse_transport(dw_cfg_parser_t *p, const dw_cfg_node_t *c, dw_cfg_transport_t *tr)
{
    int rc = 0;
    if (c->nargs == 0 && !c->has_block) {
        dw_cfg_err(p, &c->name, "invalid value for 'transport': expected tls, h2, h2c or a block");
        return -1;
    }
    for (size_t i = 0; i < c->nargs; i++) {
        dw_str_t v = c->args[i].text;
        if (dw_str_eq_c(v, "tls"))
            tr->tls = true;
        else if (dw_str_eq_c(v, "h2"))
            tr->h2 = true;
        else if (dw_str_eq_c(v, "h2c"))
            tr->h2c = true;
        else if (dw_str_eq_c(v, "http") && i == 0)
            continue; /* `transport http {…}` */
        else
            dw_cfg_err_enum(p, &c->args[i], "transport", "tls, h2, h2c, http"), rc = -1;
    }
    for (size_t i = 0; i < c->nchildren; i++) {
        const dw_cfg_node_t *k = &c->children[i];
        dw_str_t n = k->name.text;
        if (k->has_block) {
            dw_cfg_err(p, &k->open, "'%.*s' does not take a block", DW_STR_FMT(n));
            rc = -1;
        } else if (dw_str_eq_c(n, "tls") || dw_str_eq_c(n, "h2") || dw_str_eq_c(n, "h2c")) {
            if (k->nargs) {
                dw_cfg_route_extra_arg(p, &k->args[0], "transport");
                rc = -1;
            }
            if (n.len == 3 && n.ptr[0] == 't')
                tr->tls = true;
            else if (n.len == 2)
                tr->h2 = true;
            else
                tr->h2c = true;
        } else if (dw_str_eq_c(n, "tls_server_name")) {
            if (one_value(p, k) < 0)
                rc = -1;
            else
                tr->server_name = dw_cfg_str(p, &k->args[0]), tr->tls = true;
        } else if (dw_str_eq_c(n, "tls_client_auth")) {
            if (k->nargs != 2) {
                dw_cfg_err(p, &k->name,
                           "invalid value for 'tls_client_auth': expected <cert_file> <key_file>");
                rc = -1;
                continue;
            }
            tr->tls = true;
            if (transport_file(p, &k->args[0], "TLS client certificate", &tr->client_cert) < 0)
                rc = -1;
            else if (transport_file(p, &k->args[1], "TLS client key", &tr->client_key) < 0)
                rc = -1;
            else if (check_client_pair(p, k, tr) < 0)
                rc = -1;
        } else if (dw_str_eq_c(n, "tls_trusted_ca_certs")) {
            if (one_value(p, k) < 0) {
                rc = -1;
                continue;
            }
            tr->tls = true;
            if (transport_file(p, &k->args[0], "TLS trusted CA", &tr->trusted_ca) < 0) rc = -1;
        } else {
            dw_cfg_warn(p, &k->name, "unknown subdirective '%.*s' inside transport block; ignored",
                        DW_STR_FMT(n));
        }
    }
    if (rc == 0 && tr->h2c && tr->tls) {
        dw_cfg_err(
            p, &c->name,
            "invalid value for 'transport': h2c is cleartext and cannot be combined with tls");
        rc = -1;
    }
    return rc;
}

static int parse_scale_to_zero(dw_cfg_parser_t *p, const dw_cfg_node_t *c, dw_cfg_proxy_t *px)
{
    dw_cfg_scale_to_zero_t *s = &px->scale_to_zero;
    s->wake_timeout_ms = DW_CFG_WAKE_TIMEOUT_DEFAULT_MS;
    if (!c->has_block) {
        dw_cfg_err(p, c->nargs ? &c->args[0] : &c->name,
                   "expected '{' to open scale_to_zero block");
        return -1;
    }
    if (c->nargs) {
        dw_cfg_route_extra_arg(p, &c->args[0], "scale_to_zero");
        return -1;
    }
    int rc = 0;
    const dw_cfg_token_t *cmd_at = NULL;
    for (size_t i = 0; i < c->nchildren; i++) {
        const dw_cfg_node_t *k = &c->children[i];
        if (dw_str_eq_c(k->name.text, "wake_command")) {
            size_t cap = 0;
            s->wake_command.n = 0;
            cmd_at = k->nargs ? &k->args[0] : &k->name;
            /* split on whitespace, no shell */
            for (size_t a = 0; a < k->nargs; a++) {
                dw_str_t t = k->args[a].text;
                size_t x = 0;
                while (x < t.len) {
                    while (x < t.len && (t.ptr[x] == ' ' || t.ptr[x] == '\t' || t.ptr[x] == '\n'))
                        x++;
                    size_t y = x;
                    while (y < t.len && t.ptr[y] != ' ' && t.ptr[y] != '\t' && t.ptr[y] != '\n')
                        y++;
                    if (y > x) {
                        dw_str_t *slot =
                            DW_ARENA_PUSH(p->arena, s->wake_command.v, s->wake_command.n, cap);
                        if (slot) *slot = dw_cfg_strdup(p, dw_str_sub(t, x, y - x));
                    }
                    x = y;
                }
            }
            if (k->has_block) {
                dw_cfg_err(p, &k->open, "'wake_command' does not take a block");
                rc = -1;
            }
        } else if (dw_str_eq_c(k->name.text, "wake_timeout")) {
            if (parse_timeout(p, k, "wake_timeout", &s->wake_timeout_ms) < 0) rc = -1;
        } else {
            dw_cfg_warn(p, &k->name,
                        "unknown subdirective '%.*s' inside scale_to_zero block; ignored",
                        DW_STR_FMT(k->name.text));
        }
    }
    if (s->wake_command.n == 0) {
        dw_cfg_err(p, &c->name, "wake_command is required");
        return -1;
    }
    if (s->wake_command.v[0].ptr[0] != '/')
        dw_cfg_warn(
            p, cmd_at,
            "wake_command '%.*s' is not an absolute path; waking the upstream will fail (504)",
            DW_STR_FMT(s->wake_command.v[0]));
    px->has_scale_to_zero = rc == 0;
    return rc;
}

static int push_upstreams(dw_cfg_parser_t *p, const dw_cfg_token_t *args, size_t nargs,
                          dw_cfg_proxy_t *px, size_t *cap)
{
    int rc = 0;
    for (size_t i = 0; i < nargs; i++) {
        dw_cfg_upstream_t u;
        if (dw_cfg_route_upstream(p, &args[i], &u) < 0) {
            rc = -1;
            continue;
        }
        dw_cfg_upstream_t *slot = DW_ARENA_PUSH(p->arena, px->upstreams, px->nupstreams, *cap);
        if (slot) *slot = u;
    }
    return rc;
}

static const char *scheme_family(const dw_cfg_upstream_t *u)
{
    switch (u->scheme) {
    case DW_UPSTREAM_HTTPS: return "https";
    case DW_UPSTREAM_H2C: return "h2c";
    default: return "http"; /* implicit, http:// and unix sockets */
    }
}

int dw_cfg_parse_reverse_proxy(dw_cfg_parser_t *p, const dw_cfg_node_t *node,
                               const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{
    dw_cfg_proxy_t *px = d->u.proxy = dw_arena_zalloc(p->arena, sizeof(*d->u.proxy));
    if (!px) return -1;
    px->health_interval_ms = DW_CFG_HEALTH_INTERVAL_DEFAULT_MS;
    px->dial_timeout_ms = DW_CFG_DIAL_TIMEOUT_DEFAULT_MS;
    px->response_timeout_ms = DW_CFG_RESPONSE_TIMEOUT_DEFAULT_MS;
    size_t ucap = 0, upcap = 0, downcap = 0;
    bool try_set = false;
    int rc = push_upstreams(p, args, nargs, px, &ucap);
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *c = &node->children[i];
        dw_str_t k = c->name.text;
        int r = 0;
        if (dw_str_eq_c(k, "to")) {
            if (c->nargs == 0) {
                dw_cfg_err(p, &c->name, "expected at least one upstream address");
                r = -1;
            } else if (c->has_block) {
                dw_cfg_err(p, &c->open, "'to' does not take a block");
                r = -1;
            } else {
                r = push_upstreams(p, c->args, c->nargs, px, &ucap);
            }
        } else if (dw_str_eq_c(k, "lb_policy")) {
            r = parse_lb_policy(p, c, px);
        } else if (dw_str_eq_c(k, "health_uri")) {
            if ((r = one_value(p, c)) == 0) {
                if (c->args[0].text.len == 0 || c->args[0].text.ptr[0] != '/') {
                    dw_cfg_err(p, &c->args[0],
                               "invalid value for 'health_uri': '%.*s' must start with '/'",
                               DW_STR_FMT(c->args[0].text));
                    r = -1;
                } else {
                    px->health_uri = dw_cfg_str(p, &c->args[0]);
                }
            }
        } else if (dw_str_eq_c(k, "health_interval")) {
            r = parse_interval(p, c, "health_interval", false, &px->health_interval_ms);
            if (r == 0 && px->health_interval_ms < 1000) {
                dw_cfg_err(p, &c->args[0], "health_interval must be at least 1 second, got '%.*s'",
                           DW_STR_FMT(c->args[0].text));
                r = -1;
            }
        } else if (dw_str_eq_c(k, "fail_duration")) {
            r = parse_interval(p, c, "fail_duration", true, &px->fail_duration_ms);
        } else if (dw_str_eq_c(k, "max_conns")) {
            r = parse_count(p, c, "max_conns", 1, &px->max_conns);
        } else if (dw_str_eq_c(k, "lb_retries")) {
            r = parse_count(p, c, "lb_retries", 0, &px->lb_retries);
        } else if (dw_str_eq_c(k, "lb_try_duration")) {
            if ((r = one_value(p, c)) == 0)
                r = dw_cfg_arg_duration(p, &c->args[0], "lb_try_duration",
                                        "duration, e.g., 30s, 1m, 500ms", &px->lb_try_duration_ms);
            try_set |= r == 0;
        } else if (dw_str_eq_c(k, "dial_timeout")) {
            r = parse_timeout(p, c, "dial_timeout", &px->dial_timeout_ms);
        } else if (dw_str_eq_c(k, "response_timeout")) {
            r = parse_timeout(p, c, "response_timeout", &px->response_timeout_ms);
        } else if (dw_str_eq_c(k, "transport")) {
            r = parse_transport(p, c, &px->transport);
        } else if (dw_str_eq_c(k, "header_up") || dw_str_eq_c(k, "header_down")) {
            bool up = k.ptr[7] == 'u';
            if (c->has_block) {
                dw_cfg_err(p, &c->open, "'%.*s' does not take a block", DW_STR_FMT(k));
                r = -1;
            } else if (c->nargs == 0) {
                dw_cfg_err(p, &c->name, "expected header name");
                r = -1;
            } else {
                r = dw_cfg_route_header_op(
                    p, up ? "header_up" : "header_down", &c->args[0], c->args + 1, c->nargs - 1,
                    up ? &px->header_up : &px->header_down, up ? &upcap : &downcap);
            }
        } else if (dw_str_eq_c(k, "scale_to_zero")) {
            r = parse_scale_to_zero(p, c, px);
        } else {
            dw_cfg_warn(p, &c->name, "unknown subdirective '%.*s' inside %s block; ignored",
                        DW_STR_FMT(k), d->name);
        }
        if (r < 0) rc = -1;
    }
    if (rc < 0) return -1;
    if (px->nupstreams == 0) {
        if (node->has_block)
            dw_cfg_err(p, &node->name,
                       "block form requires at least one upstream via 'to' subdirective");
        else
            dw_cfg_err(p, &node->name, "expected at least one upstream address");
        return -1;
    }
    /* decision 26: one scheme per reverse_proxy */
    const char *first = scheme_family(&px->upstreams[0]);
    for (size_t i = 1; i < px->nupstreams; i++) {
        const char *f = scheme_family(&px->upstreams[i]);
        if (strcmp(f, first) != 0) {
            dw_cfg_err_at(p, px->upstreams[i].loc,
                          "cannot mix upstream schemes in one %s: '%.*s' is %s, '%.*s' is %s",
                          d->name, DW_STR_FMT(px->upstreams[0].original), first,
                          DW_STR_FMT(px->upstreams[i].original), f);
            return -1;
        }
    }
    if (!try_set && px->lb_retries > 0) px->lb_try_duration_ms = DW_CFG_LB_TRY_DURATION_DEFAULT_MS;
    return 0;
}

static void json_transport(dw_json_t *j, const dw_cfg_transport_t *t)
{
    dw_json_key(j, "transport");
    dw_json_obj_begin(j);
    dw_json_kv_bool(j, "tls", t->tls);
    dw_json_kv_bool(j, "h2", t->h2);
    dw_json_kv_bool(j, "h2c", t->h2c);
    if (t->server_name.len) dw_json_kv_str(j, "server_name", t->server_name);
    if (t->client_cert.len) dw_json_kv_str(j, "client_cert", t->client_cert);
    if (t->client_key.len) dw_json_kv_str(j, "client_key", t->client_key);
    if (t->trusted_ca.len) dw_json_kv_str(j, "trusted_ca", t->trusted_ca);
    dw_json_obj_end(j);
}

void dw_cfg_json_reverse_proxy(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_proxy_t *px = d->u.proxy;
    dw_json_key(j, "upstreams");
    dw_json_arr_begin(j);
    for (size_t i = 0; i < px->nupstreams; i++) dw_cfg_json_upstream(j, &px->upstreams[i]);
    dw_json_arr_end(j);
    dw_json_kv_cstr(j, "lb_policy",
                    px->lb_policy < DW_ARRAY_LEN(lb_policies) ? lb_policies[px->lb_policy] : "?");
    if (px->health_uri.len) dw_json_kv_str(j, "health_uri", px->health_uri);
    dw_json_kv_uint(j, "health_interval_ms", px->health_interval_ms);
    dw_json_kv_uint(j, "fail_duration_ms", px->fail_duration_ms);
    if (px->max_conns) dw_json_kv_uint(j, "max_conns", px->max_conns);
    dw_json_kv_uint(j, "lb_retries", px->lb_retries);
    dw_json_kv_uint(j, "lb_try_duration_ms", px->lb_try_duration_ms);
    dw_json_kv_uint(j, "dial_timeout_ms", px->dial_timeout_ms);
    dw_json_kv_uint(j, "response_timeout_ms", px->response_timeout_ms);
    json_transport(j, &px->transport);
    dw_cfg_route_json_header_ops(j, "header_up", px->header_up);
    dw_cfg_route_json_header_ops(j, "header_down", px->header_down);
    if (px->has_scale_to_zero) {
        dw_json_key(j, "scale_to_zero");
        dw_json_obj_begin(j);
        dw_cfg_json_strs(j, "wake_command", px->scale_to_zero.wake_command);
        dw_json_kv_uint(j, "wake_timeout_ms", px->scale_to_zero.wake_timeout_ms);
        dw_json_obj_end(j);
    }
}

/* --- grpc ------------------------------------------------------------------------------------ */

int dw_cfg_parse_grpc(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                      size_t nargs, dw_cfg_directive_t *d)
{
    if (dw_cfg_route_no_block(p, node, "grpc") < 0) return -1;
    if (nargs == 0) return 0; /* the block's marker */
    if (nargs > 1) {
        dw_cfg_route_extra_arg(p, &args[1], "grpc");
        return -1;
    }
    dw_cfg_grpc_t *g = &d->u.grpc;
    if (dw_cfg_route_upstream(p, &args[0], &g->upstream) < 0) return -1;
    /* gRPC needs HTTP/2: cleartext (h2c) unless https:// asks for TLS */
    if (g->upstream.scheme == DW_UPSTREAM_HTTP) g->upstream.scheme = DW_UPSTREAM_H2C;
    g->has_upstream = true;
    d->terminal = true;
    return 0;
}

void dw_cfg_json_grpc(dw_json_t *j, const dw_cfg_directive_t *d)
{
    if (d->u.grpc.has_upstream) {
        dw_json_key(j, "upstream");
        dw_cfg_json_upstream(j, &d->u.grpc.upstream);
    } else {
        dw_json_kv_bool(j, "marker", true);
    }
}

/* --- php_fastcgi ------------------------------------------------------------------------------ */

int dw_cfg_parse_php_fastcgi(dw_cfg_parser_t *p, const dw_cfg_node_t *node,
                             const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{
    if (dw_cfg_route_no_block(p, node, "php_fastcgi") < 0) return -1;
    if (nargs == 0) {
        dw_cfg_err(p, &node->name,
                   "invalid value for 'php_fastcgi': expected a FastCGI address (host:port, :port, "
                   "unix/<path> or "
                   "an absolute socket path)");
        return -1;
    }
    if (nargs > 1) {
        dw_cfg_route_extra_arg(p, &args[1], "php_fastcgi");
        return -1;
    }
    dw_cfg_upstream_t *a = &d->u.php_fastcgi.addr;
    dw_str_t s = args[0].text;
    a->original = dw_cfg_str(p, &args[0]);
    a->loc = dw_cfg_tok_loc(&args[0]);
    const char *why;
    if (dw_str_has_prefix(s, DW_STR("unix/")))
        why = unix_path(p, dw_str_sub(s, 5, s.len), a);
    else if (s.len && s.ptr[0] == '/')
        why = unix_path(p, s, a);
    else if (dw_str_find(s, DW_STR("://")) >= 0)
        why = "a URL is not a FastCGI address";
    else
        why = host_port(p, s, 0, a);
    if (why) {
        dw_cfg_err(p, &args[0], "invalid FastCGI address '%.*s': %s", DW_STR_FMT(s), why);
        return -1;
    }
    return 0;
}

void dw_cfg_json_php_fastcgi(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_upstream_t *a = &d->u.php_fastcgi.addr;
    dw_json_key(j, "address");
    dw_json_obj_begin(j);
    if (a->scheme == DW_UPSTREAM_UNIX) {
        dw_json_kv_cstr(j, "network", "unix");
        dw_json_kv_str(j, "path", a->host);
    } else {
        dw_json_kv_cstr(j, "network", "tcp");
        dw_json_kv_str(j, "host", a->host);
        dw_json_kv_uint(j, "port", a->port);
    }
    dw_json_obj_end(j);
}
