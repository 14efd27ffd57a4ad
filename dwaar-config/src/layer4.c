/* The `layer4` block (spec 10 §8, decision 23): listen addresses, named matchers evaluated on
 * peeked bytes, routes with proxy/tls/subroute handlers, UDP servers; the listener-wrapper
 * route set of `servers { listener_wrappers { layer4 {…} } }`; the port check against sites;
 * and the JSON of all of it. Names are never resolved here (decision 24). */
#include "ext_int.h"
#include <arpa/inet.h>

#define L4_MAX_DEPTH 8 /* nested subroutes */

/* Matcher lookup goes through the enclosing route sets, innermost first. */
typedef struct l4_scope {
    const dw_cfg_l4_routes_t *rs;
    const struct l4_scope *parent;
} l4_scope_t;

static const char *const l4_keywords[] = {"tls",       "http", "ssh", "postgres",
                                          "remote_ip", "not",  NULL};

static bool is_keyword(const dw_cfg_token_t *t)
{
    if (t->kind != DW_TOK_WORD) return false; /* decision 23: a quoted keyword is a value */
    for (size_t i = 0; l4_keywords[i]; i++)
        if (dw_cfg_ext_is(t, l4_keywords[i])) return true;
    return false;
}

/* --- addresses ------------------------------------------------------------------------------ */

/* `ip:port`, `[v6]:port`, `:port`, and with allow_name `host:port`. */
static int split_hostport(dw_str_t s, bool allow_name, dw_str_t *host, uint16_t *port)
{
    dw_str_t h, ps;
    if (s.len && s.ptr[0] == '[') {
        ptrdiff_t close = dw_str_chr(s, ']');
        if (close < 0) return -1;
        h = dw_str_sub(s, 1, (size_t)close - 1);
        dw_str_t rest = dw_str_sub(s, (size_t)close + 1, s.len);
        if (rest.len < 2 || rest.ptr[0] != ':') return -1;
        ps = dw_str_sub(rest, 1, rest.len);
        if (!dw_cfg_is_ip_literal(h, AF_INET6)) return -1;
    } else {
        ptrdiff_t colon = dw_str_chr(s, ':');
        if (colon < 0) return -1;
        h = dw_str_sub(s, 0, (size_t)colon);
        ps = dw_str_sub(s, (size_t)colon + 1, s.len);
        if (dw_str_chr(ps, ':') >= 0) return -1; /* IPv6 needs brackets */
        if (h.len && !dw_cfg_is_ip_literal(h, AF_INET) && !(allow_name && dw_cfg_valid_dns_name(h)))
            return -1;
    }
    if (dw_parse_port(ps, port) != DW_OK) return -1;
    *host = h;
    return 0;
}

static void add_upstream(dw_cfg_parser_t *p, const dw_cfg_token_t *t, dw_cfg_l4_proxy_t *px,
                         size_t *cap)
{
    dw_str_t host;
    uint16_t port;
    if (split_hostport(t->text, true, &host, &port) < 0) {
        dw_cfg_err(p, t,
                   "invalid layer4 upstream address '%.*s' (expected host:port, ip:port, [v6]:port "
                   "or :port)",
                   DW_STR_FMT(t->text));
        return;
    }
    dw_cfg_l4_upstream_t *u = DW_ARENA_PUSH(p->arena, px->upstreams, px->nupstreams, *cap);
    if (!u) return;
    u->original = dw_cfg_str(p, t);
    u->host = host.len ? dw_cfg_strdup(p, host) : DW_STR("127.0.0.1");
    u->port = port;
    u->loc = dw_cfg_tok_loc(t);
}

/* --- matchers (§8.2) ----------------------------------------------------------------------- */

static bool valid_matcher_name(dw_str_t n)
{
    if (n.len == 0) return false;
    for (size_t i = 0; i < n.len; i++)
        if (!dw_ascii_isalnum(n.ptr[i]) && n.ptr[i] != '_' && n.ptr[i] != '-') return false;
    return true;
}

static dw_str_t lower_copy(dw_cfg_parser_t *p, dw_str_t s)
{
    dw_str_t c = dw_cfg_strdup(p, s);
    if (c.ptr)
        for (size_t i = 0; i < c.len; i++) ((char *)c.ptr)[i] = dw_ascii_lower(c.ptr[i]);
    return c;
}

/* `tls [sni <n>…] [alpn <p>…]` and `http [host <n>…]`: value lists after sub-keywords; the
 * first list holds names (stored lower-case). */
static int parse_lists(dw_cfg_parser_t *p, const dw_cfg_token_t *kw, const dw_cfg_token_t *args,
                       size_t nargs, const char *const *subs, dw_cfg_strs_t *const *lists,
                       const char *expect)
{
    dw_cfg_strs_t *cur = NULL;
    const dw_cfg_token_t *cur_kw = NULL;
    size_t caps[2] = {0, 0}, *cap = NULL, start = 0;
    int rc = 0;
    for (size_t i = 0; i <= nargs; i++) {
        size_t which = 2;
        if (i < nargs)
            for (size_t s = 0; subs[s]; s++)
                if (dw_cfg_ext_is(&args[i], subs[s])) which = s;
        if (i == nargs || which < 2) {
            if (cur && cur->n == start) {
                dw_cfg_err(p, cur_kw, "expected at least one value after '%.*s'",
                           DW_STR_FMT(cur_kw->text));
                rc = -1;
            }
            if (i == nargs) break;
            cur = lists[which], cap = &caps[which], cur_kw = &args[i];
            if (*cap < cur->n) *cap = cur->n;
            start = cur->n;
            continue;
        }
        if (!cur) {
            dw_cfg_err(p, &args[i], "expected %s after '%.*s', got %s", expect,
                       DW_STR_FMT(kw->text), dw_cfg_tok_str(p, &args[i]));
            return -1;
        }
        /* names compare case-insensitively; ALPN protocol ids are exact bytes */
        dw_str_t v = cur == lists[0] ? lower_copy(p, args[i].text) : dw_cfg_str(p, &args[i]);
        dw_str_t *slot = DW_ARENA_PUSH(p->arena, cur->v, cur->n, *cap);
        if (slot) *slot = v;
    }
    return rc;
}

static int build_cond(dw_cfg_parser_t *p, const dw_cfg_token_t *kw, const dw_cfg_token_t *args,
                      size_t nargs, bool negate, dw_cfg_l4_cond_t *c)
{
    memset(c, 0, sizeof(*c));
    c->negate = negate;
    if (dw_cfg_ext_is(kw, "tls")) {
        static const char *const subs[] = {"sni", "alpn", NULL};
        dw_cfg_strs_t *const lists[] = {&c->sni, &c->alpn};
        c->kind = DW_CFG_L4_TLS;
        return parse_lists(p, kw, args, nargs, subs, lists, "'sni' or 'alpn'");
    }
    if (dw_cfg_ext_is(kw, "http")) {
        static const char *const subs[] = {"host", NULL};
        dw_cfg_strs_t *const lists[] = {&c->hosts, NULL};
        c->kind = DW_CFG_L4_HTTP;
        return parse_lists(p, kw, args, nargs, subs, lists, "'host'");
    }
    if (dw_cfg_ext_is(kw, "ssh") || dw_cfg_ext_is(kw, "postgres")) {
        c->kind = dw_cfg_ext_is(kw, "ssh") ? DW_CFG_L4_SSH : DW_CFG_L4_POSTGRES;
        if (nargs) {
            dw_cfg_err(p, &args[0], "unexpected argument %s to layer4 matcher '%.*s'",
                       dw_cfg_tok_str(p, &args[0]), DW_STR_FMT(kw->text));
            return -1;
        }
        return 0;
    }
    if (dw_cfg_ext_is(kw, "remote_ip")) {
        c->kind = DW_CFG_L4_REMOTE_IP;
        if (dw_cfg_ext_argc(p, kw, args, nargs, 1, SIZE_MAX, "an IP range", NULL) < 0) return -1;
        size_t cap = 0;
        return dw_cfg_ext_cidrs(p, args, nargs, "remote_ip", &c->ranges, &cap) ? -1 : 0;
    }
    c->kind = DW_CFG_L4_UNKNOWN;
    c->name = dw_cfg_str(p, kw);
    dw_cfg_warn(p, kw, "unknown layer4 matcher '%.*s' never matches", DW_STR_FMT(kw->text));
    return 0;
}

static void push_cond(dw_cfg_parser_t *p, dw_cfg_l4_matcher_t *m, size_t *cap,
                      const dw_cfg_token_t *kw, const dw_cfg_token_t *args, size_t nargs,
                      bool negate)
{
    dw_cfg_l4_cond_t c;
    if (build_cond(p, kw, args, nargs, negate, &c) < 0) return;
    dw_cfg_l4_cond_t *slot = DW_ARENA_PUSH(p->arena, m->conds, m->nconds, *cap);
    if (slot) *slot = c;
}

static void parse_matcher(dw_cfg_parser_t *p, const dw_cfg_node_t *n, dw_cfg_l4_routes_t *rs,
                          size_t *mcap)
{
    dw_str_t name = dw_str_sub(n->name.text, 1, n->name.text.len);
    if (!valid_matcher_name(name)) {
        dw_cfg_err(p, &n->name,
                   "invalid matcher name '%.*s' (allowed: letters, digits, '_' and '-')",
                   DW_STR_FMT(n->name.text));
        return;
    }
    for (size_t i = 0; i < rs->nmatchers; i++) {
        if (dw_str_eq(rs->matchers[i].name, name)) {
            dw_cfg_err(p, &n->name, "matcher '@%.*s' is already defined", DW_STR_FMT(name));
            return;
        }
    }
    if (n->nargs && n->has_block) {
        dw_cfg_err(p, &n->open,
                   "matcher '@%.*s' takes conditions on its line or in a block, not both",
                   DW_STR_FMT(name));
        return;
    }
    if (!n->nargs && !n->has_block) {
        dw_cfg_err(p, &n->name,
                   "matcher '@%.*s' needs a condition (e.g. 'tls sni example.com') or a block",
                   DW_STR_FMT(name));
        return;
    }
    dw_cfg_l4_matcher_t *m = DW_ARENA_PUSH(p->arena, rs->matchers, rs->nmatchers, *mcap);
    if (!m) return;
    m->name = dw_cfg_strdup(p, name);
    m->loc = dw_cfg_tok_loc(&n->name);
    size_t ccap = 0;
    if (n->nargs) {
        /* one line, conditions ANDed; an unquoted keyword starts the next one (decision 23) */
        const dw_cfg_token_t *a = n->args;
        size_t i = 0;
        bool neg = false;
        const dw_cfg_token_t *last_not = NULL;
        while (i < n->nargs) {
            const dw_cfg_token_t *kw = &a[i++];
            if (dw_cfg_ext_is(kw, "not")) {
                neg = !neg, last_not = kw;
                continue;
            }
            size_t j = i;
            while (j < n->nargs && !is_keyword(&a[j])) j++;
            push_cond(p, m, &ccap, kw, a + i, j - i, neg);
            neg = false, last_not = NULL;
            i = j;
        }
        if (last_not) dw_cfg_err(p, last_not, "expected a matcher after 'not'");
        return;
    }
    /* block: one condition per line */
    for (size_t i = 0; i < n->nchildren; i++) {
        const dw_cfg_node_t *c = &n->children[i];
        if (dw_cfg_ext_no_block(p, c) < 0) continue;
        const dw_cfg_token_t *kw = &c->name, *a = c->args;
        size_t na = c->nargs;
        bool neg = false;
        while (dw_cfg_ext_is(kw, "not") && na > 0) neg = !neg, kw = a, a++, na--;
        if (dw_cfg_ext_is(kw, "not")) {
            dw_cfg_err(p, kw, "expected a matcher after 'not'");
            continue;
        }
        push_cond(p, m, &ccap, kw, a, na, neg);
    }
}

static const dw_cfg_l4_matcher_t *find_matcher(const l4_scope_t *sc, dw_str_t name)
{
    for (; sc; sc = sc->parent)
        for (size_t i = 0; i < sc->rs->nmatchers; i++)
            if (dw_str_eq(sc->rs->matchers[i].name, name)) return &sc->rs->matchers[i];
    return NULL;
}

/* --- handlers (§8.3) ----------------------------------------------------------------------- */

static void parse_proxy(dw_cfg_parser_t *p, const dw_cfg_node_t *n, dw_cfg_l4_proxy_t *px, bool udp)
{
    static const char *const keys[] = {"to",
                                       "upstream",
                                       "upstreams",
                                       "lb_policy",
                                       "max_fails",
                                       "fail_duration",
                                       "health_timeout",
                                       "connect_timeout",
                                       "health_interval",
                                       "health_uri",
                                       "max_sessions",
                                       "idle_timeout",
                                       NULL};
    static const char *const policies[] = {"round_robin", "least_conn", "random", "ip_hash"};
    memset(px, 0, sizeof(*px));
    px->lb_policy = udp ? DW_CFG_L4_LB_IP_HASH : DW_CFG_L4_LB_ROUND_ROBIN;
    px->max_fails = 3;
    px->fail_duration_ms = 10000;
    px->connect_timeout_ms = 10000;
    px->max_sessions = 10000;
    px->idle_timeout_ms = 30000;
    size_t ucap = 0;
    for (size_t i = 0; i < n->nargs; i++) add_upstream(p, &n->args[i], px, &ucap);
    for (size_t i = 0; i < n->nchildren; i++) {
        const dw_cfg_node_t *c = &n->children[i];
        const char *key = dw_cfg_ext_name(p, c);
        uint64_t v;
        if (dw_cfg_ext_no_block(p, c) < 0) continue;
        if (dw_cfg_ext_is(&c->name, "to") || dw_cfg_ext_is(&c->name, "upstream") ||
            dw_cfg_ext_is(&c->name, "upstreams")) {
            if (dw_cfg_ext_node_argc(p, c, 1, SIZE_MAX, "an upstream address", NULL) < 0) continue;
            for (size_t a = 0; a < c->nargs; a++) add_upstream(p, &c->args[a], px, &ucap);
        } else if (dw_cfg_ext_is(&c->name, "lb_policy")) {
            if (dw_cfg_ext_node_argc(p, c, 1, 1, "a load-balancing policy", keys) < 0) continue;
            size_t k = 0;
            while (k < DW_ARRAY_LEN(policies) && !dw_str_eq_c(c->args[0].text, policies[k])) k++;
            if (k < DW_ARRAY_LEN(policies)) {
                px->lb_policy = (uint8_t)k;
            } else {
                dw_cfg_warn(p, &c->args[0], "unknown lb_policy '%.*s', using %s",
                            DW_STR_FMT(c->args[0].text), policies[px->lb_policy]);
            }
        } else if (dw_cfg_ext_is(&c->name, "max_fails")) {
            if (dw_cfg_ext_node_argc(p, c, 1, 1, "a number", keys) == 0 &&
                dw_cfg_arg_uint(p, &c->args[0], key, 1, 1000000, &v) == 0)
                px->max_fails = (uint32_t)v;
        } else if (dw_cfg_ext_is(&c->name, "fail_duration")) {
            if (dw_cfg_ext_node_argc(p, c, 1, 1, "a duration", keys) == 0 &&
                dw_cfg_arg_duration(p, &c->args[0], key, NULL, &v) == 0)
                px->fail_duration_ms = v;
        } else if (dw_cfg_ext_is(&c->name, "health_timeout") ||
                   dw_cfg_ext_is(&c->name, "connect_timeout")) {
            if (dw_cfg_ext_node_argc(p, c, 1, 1, "a duration", keys) == 0 &&
                dw_cfg_arg_duration(p, &c->args[0], key, NULL, &v) == 0)
                px->connect_timeout_ms = v;
        } else if (dw_cfg_ext_is(&c->name, "health_interval") ||
                   dw_cfg_ext_is(&c->name, "health_uri")) {
            /* accepted, no effect (§8.3) */
        } else if (dw_cfg_ext_is(&c->name, "max_sessions")) {
            if (dw_cfg_ext_node_argc(p, c, 1, 1, "a number", keys) == 0 &&
                dw_cfg_arg_uint(p, &c->args[0], key, 1, UINT32_MAX, &v) == 0)
                px->max_sessions = (uint32_t)v;
        } else if (dw_cfg_ext_is(&c->name, "idle_timeout")) {
            if (dw_cfg_ext_node_argc(p, c, 1, 1, "a duration", keys) == 0 &&
                dw_cfg_arg_duration(p, &c->args[0], key, NULL, &v) == 0)
                px->idle_timeout_ms = v;
        } else {
            dw_cfg_warn(p, &c->name, "unknown layer4 proxy option '%s' ignored", key);
        }
    }
    if (px->nupstreams == 0) dw_cfg_err(p, &n->name, "layer4 proxy requires at least one upstream");
}

static void parse_tls_handler(dw_cfg_parser_t *p, const dw_cfg_node_t *n, dw_cfg_l4_handler_t *h)
{
    static const char *const keys[] = {"cert", "key", NULL};
    if (dw_cfg_ext_node_argc(p, n, 0, 0, NULL, NULL) < 0) return;
    const dw_cfg_token_t *cert = NULL, *key = NULL;
    for (size_t i = 0; i < n->nchildren; i++) {
        const dw_cfg_node_t *c = &n->children[i];
        bool is_cert = dw_cfg_ext_is(&c->name, "cert");
        if (!is_cert && !dw_cfg_ext_is(&c->name, "key")) {
            dw_cfg_warn(p, &c->name, "unknown layer4 tls option '%s' ignored",
                        dw_cfg_ext_name(p, c));
            continue;
        }
        if (dw_cfg_ext_node_argc(p, c, 1, 1, "a file path", keys) < 0 ||
            dw_cfg_ext_no_block(p, c) < 0)
            continue;
        dw_str_t path = dw_cfg_resolve_path(p, c->args[0].text);
        dw_cfg_check_readable(p, &c->args[0], path, is_cert ? "certificate" : "key");
        if (is_cert)
            h->cert = path, cert = &c->name;
        else
            h->key = path, key = &c->name;
    }
    if ((cert == NULL) != (key == NULL))
        dw_cfg_err(p, cert ? cert : key, "layer4 'tls' needs both 'cert' and 'key' (or neither)");
}

static void parse_routes(dw_cfg_parser_t *p, const dw_cfg_node_t *node, dw_cfg_l4_routes_t *rs,
                         const l4_scope_t *parent, int depth);

static void parse_handler(dw_cfg_parser_t *p, const dw_cfg_node_t *c, const l4_scope_t *scope,
                          dw_cfg_l4_route_t *r, size_t *hcap, int depth)
{
    bool proxy = dw_cfg_ext_is(&c->name, "proxy"), tls = dw_cfg_ext_is(&c->name, "tls"),
         sub = dw_cfg_ext_is(&c->name, "subroute");
    if (!proxy && !tls && !sub) {
        dw_cfg_warn(p, &c->name, "unknown layer4 handler '%s' skipped", dw_cfg_ext_name(p, c));
        return;
    }
    dw_cfg_l4_handler_t *h = DW_ARENA_PUSH(p->arena, r->handlers, r->nhandlers, *hcap);
    if (!h) return;
    h->loc = dw_cfg_tok_loc(&c->name);
    if (proxy) {
        h->kind = DW_CFG_L4_PROXY;
        parse_proxy(p, c, &h->proxy, false);
    } else if (tls) {
        h->kind = DW_CFG_L4_TERMINATE_TLS;
        parse_tls_handler(p, c, h);
    } else {
        h->kind = DW_CFG_L4_SUBROUTE;
        if (dw_cfg_ext_node_argc(p, c, 0, 0, NULL, NULL) < 0 || dw_cfg_ext_need_block(p, c) < 0)
            return;
        if (depth + 1 > L4_MAX_DEPTH) {
            dw_cfg_err(p, &c->name, "layer4 subroutes nested too deeply (max %d levels)",
                       L4_MAX_DEPTH);
            return;
        }
        h->sub = dw_arena_zalloc(p->arena, sizeof(*h->sub));
        if (h->sub) parse_routes(p, c, h->sub, scope, depth + 1);
    }
}

static const char route_err[] = "expected matcher reference or '{' after layer4 route";

static void parse_route(dw_cfg_parser_t *p, const dw_cfg_node_t *n, const l4_scope_t *scope,
                        dw_cfg_l4_routes_t *rs, size_t *rcap, int depth)
{
    for (size_t i = 0; i < n->nargs; i++) {
        const dw_cfg_token_t *a = &n->args[i];
        if (a->kind != DW_TOK_WORD || a->text.len < 2 || a->text.ptr[0] != '@') {
            dw_cfg_err(p, a, "%s, got %s", route_err, dw_cfg_tok_str(p, a));
            return;
        }
    }
    if (!n->has_block) {
        dw_cfg_err(p, n->nargs ? &n->args[n->nargs - 1] : &n->name, "%s, got end of line",
                   route_err);
        return;
    }
    dw_cfg_l4_route_t *r = DW_ARENA_PUSH(p->arena, rs->routes, rs->nroutes, *rcap);
    if (!r) return;
    r->loc = dw_cfg_tok_loc(&n->name);
    if (n->nargs) {
        r->matchers = dw_arena_zalloc(p->arena, n->nargs * sizeof(*r->matchers));
        if (!r->matchers) return;
    }
    for (size_t i = 0; i < n->nargs; i++) {
        dw_str_t name = dw_str_sub(n->args[i].text, 1, n->args[i].text.len);
        const dw_cfg_l4_matcher_t *m = find_matcher(scope, name);
        if (!m)
            dw_cfg_err(p, &n->args[i], "matcher '@%.*s' is not defined", DW_STR_FMT(name));
        else
            r->matchers[r->nmatchers++] = m;
    }
    size_t hcap = 0;
    for (size_t i = 0; i < n->nchildren; i++)
        parse_handler(p, &n->children[i], scope, r, &hcap, depth);
}

static void parse_routes(dw_cfg_parser_t *p, const dw_cfg_node_t *node, dw_cfg_l4_routes_t *rs,
                         const l4_scope_t *parent, int depth)
{
    l4_scope_t scope = {.rs = rs, .parent = parent};
    size_t mcap = 0, rcap = 0;
    rs->matching_timeout_ms = 3000;
    /* matchers first: every definition is visible in its whole block */
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *c = &node->children[i];
        if (c->name.kind == DW_TOK_WORD && c->name.text.len && c->name.text.ptr[0] == '@')
            parse_matcher(p, c, rs, &mcap);
    }
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *c = &node->children[i];
        if (c->name.kind == DW_TOK_WORD && c->name.text.len && c->name.text.ptr[0] == '@') continue;
        if (dw_cfg_ext_is(&c->name, "route")) {
            parse_route(p, c, &scope, rs, &rcap, depth);
        } else if (dw_cfg_ext_is(&c->name, "matching_timeout")) {
            uint64_t v;
            if (dw_cfg_ext_node_argc(p, c, 1, 1, "a duration", NULL) == 0 &&
                dw_cfg_ext_no_block(p, c) == 0 &&
                dw_cfg_arg_duration(p, &c->args[0], "matching_timeout", NULL, &v) == 0)
                rs->matching_timeout_ms = v;
        } else {
            dw_cfg_warn(p, &c->name, "unknown layer4 item '%s' skipped", dw_cfg_ext_name(p, c));
        }
    }
}

void dw_cfg_l4_parse_routes(dw_cfg_parser_t *p, const dw_cfg_node_t *node, dw_cfg_l4_routes_t *rs)
{
    parse_routes(p, node, rs, NULL, 0);
}

/* --- servers -----------------------------------------------------------------------------------
 */

static bool same_listen(const dw_cfg_l4_listen_t *a, const dw_cfg_l4_listen_t *b)
{
    return a->port == b->port && dw_str_eq(a->host, b->host);
}

/* Checks against the listen addresses of the servers before s (nprev) and s's own. */
static void add_listen(dw_cfg_parser_t *p, const dw_cfg_token_t *t, const dw_cfg_layer4_t *l4,
                       size_t nprev, dw_cfg_l4_server_t *s, size_t *cap)
{
    dw_str_t host;
    uint16_t port;
    if (split_hostport(t->text, false, &host, &port) < 0) {
        dw_cfg_err(p, t,
                   "invalid layer4 listen address '%.*s' (expected ip:port, [v6]:port or :port)",
                   DW_STR_FMT(t->text));
        return;
    }
    dw_cfg_l4_listen_t l = {.original = dw_cfg_str(p, t),
                            .host = lower_copy(p, host),
                            .port = port,
                            .loc = dw_cfg_tok_loc(t)};
    for (size_t i = 0; i <= nprev; i++) {
        const dw_cfg_l4_server_t *o = i < nprev ? &l4->servers[i] : s;
        if (o->udp != s->udp) continue;
        for (size_t k = 0; k < o->nlisten; k++) {
            if (same_listen(&o->listen[k], &l)) {
                dw_cfg_err(p, t, "layer4 listen address '%.*s' is already used (at line %u)",
                           DW_STR_FMT(t->text), o->listen[k].loc.line);
                return;
            }
        }
    }
    dw_cfg_l4_listen_t *slot = DW_ARENA_PUSH(p->arena, s->listen, s->nlisten, *cap);
    if (slot) *slot = l;
}

static void parse_server(dw_cfg_parser_t *p, const dw_cfg_node_t *n, dw_cfg_layer4_t *l4,
                         size_t *scap)
{
    bool udp = dw_cfg_ext_is(&n->name, "udp");
    if (udp && dw_cfg_ext_node_argc(p, n, 1, SIZE_MAX, "a listen address", NULL) < 0) return;
    if (!n->has_block) {
        dw_cfg_err(p, n->nargs ? &n->args[n->nargs - 1] : &n->name,
                   "expected '{' after layer4 listen address, got end of line");
        return;
    }
    dw_cfg_l4_server_t *s = DW_ARENA_PUSH(p->arena, l4->servers, l4->nservers, *scap);
    if (!s) return;
    s->udp = udp;
    s->loc = dw_cfg_tok_loc(&n->name);
    size_t lcap = 0;
    size_t nprev = l4->nservers - 1;
    if (!udp) add_listen(p, &n->name, l4, nprev, s, &lcap);
    for (size_t i = 0; i < n->nargs; i++) add_listen(p, &n->args[i], l4, nprev, s, &lcap);
    if (!udp) {
        parse_routes(p, n, &s->routes, NULL, 0);
        return;
    }
    bool have_proxy = false;
    for (size_t i = 0; i < n->nchildren; i++) {
        const dw_cfg_node_t *c = &n->children[i];
        if (!dw_cfg_ext_is(&c->name, "proxy")) {
            dw_cfg_warn(p, &c->name, "unknown layer4 udp item '%s' skipped", dw_cfg_ext_name(p, c));
            continue;
        }
        if (have_proxy) {
            dw_cfg_err(p, &c->name, "duplicate 'proxy' in a layer4 udp server");
            continue;
        }
        have_proxy = true;
        parse_proxy(p, c, &s->udp_proxy, true);
    }
    if (!have_proxy) dw_cfg_err(p, &n->name, "layer4 udp server needs 'proxy <upstream>'");
}

void dw_cfg_parse_layer4(dw_cfg_parser_t *p, const dw_cfg_node_t *node, dw_cfg_layer4_t *l4)
{
    if (dw_cfg_ext_node_argc(p, node, 0, 0, NULL, NULL) < 0 || dw_cfg_ext_need_block(p, node) < 0)
        return;
    size_t cap = l4->nservers; /* blocks merge: the next push grows the array */
    for (size_t i = 0; i < node->nchildren; i++) parse_server(p, &node->children[i], l4, &cap);
}

/* --- the port check (§8.1, §8.4)
 * ------------------------------------------------------------------ */

static bool site_only_unix(const dw_cfg_site_t *s)
{
    bool any = false;
    for (size_t i = 0; i < s->block.ndirs; i++) {
        const dw_cfg_directive_t *d = &s->block.dirs[i];
        if (d->kind != DW_DIR_BIND) continue;
        for (size_t k = 0; k < d->u.bind.naddrs; k++) {
            if (d->u.bind.addrs[k].kind != DW_CFG_BIND_UNIX) return false;
            any = true;
        }
    }
    return any;
}

void dw_cfg_check_layer4_ports(dw_cfg_parser_t *p)
{
    const dw_config_t *cfg = p->cfg;
    const dw_cfg_global_t *g = &cfg->global;
    if (cfg->layer4.nservers == 0 || cfg->nsites == 0) return;
    uint8_t *used = calloc(65536, 1); /* 1: a site's TCP port, 2: a TLS site's port */
    if (!used) return;
    bool any_tls = false;
    for (size_t s = 0; s < cfg->nsites; s++) {
        const dw_cfg_site_t *site = &cfg->sites[s];
        if (site_only_unix(site)) continue;
        for (size_t i = 0; i < site->naddrs; i++) {
            used[site->addrs[i].port] |= site->addrs[i].tls ? 3 : 1;
            any_tls |= site->addrs[i].tls;
        }
    }
    /* TLS sites also listen on http_port for redirects and ACME (spec 10 §3.2) */
    if (any_tls && g->auto_https != DW_AUTO_HTTPS_OFF) used[g->http_port] |= 1;
    for (size_t s = 0; s < cfg->layer4.nservers; s++) {
        const dw_cfg_l4_server_t *srv = &cfg->layer4.servers[s];
        for (size_t i = 0; i < srv->nlisten; i++) {
            const dw_cfg_l4_listen_t *l = &srv->listen[i];
            /* UDP only meets a site's HTTP/3 listener */
            bool clash = srv->udp ? (g->servers.h3 && (used[l->port] & 2)) : used[l->port] != 0;
            if (clash) dw_cfg_err_at(p, l->loc, "port %u used by layer4 and a site", l->port);
        }
    }
    free(used);
}

/* --- JSON ----------------------------------------------------------------------------------------
 */

static const char *const lb_names[] = {"round_robin", "least_conn", "random", "ip_hash"};

static void json_proxy(dw_json_t *j, const dw_cfg_l4_proxy_t *px, bool udp)
{
    dw_json_key(j, "upstreams");
    dw_json_arr_begin(j);
    for (size_t i = 0; i < px->nupstreams; i++) {
        dw_json_obj_begin(j);
        dw_json_kv_str(j, "address", px->upstreams[i].original);
        dw_json_kv_str(j, "host", px->upstreams[i].host);
        dw_json_kv_uint(j, "port", px->upstreams[i].port);
        dw_json_obj_end(j);
    }
    dw_json_arr_end(j);
    dw_json_kv_cstr(j, "lb_policy", px->lb_policy < 4 ? lb_names[px->lb_policy] : "?");
    if (udp) {
        dw_json_kv_uint(j, "max_sessions", px->max_sessions);
        dw_json_kv_uint(j, "idle_timeout_ms", px->idle_timeout_ms);
    } else {
        dw_json_kv_uint(j, "max_fails", px->max_fails);
        dw_json_kv_uint(j, "fail_duration_ms", px->fail_duration_ms);
        dw_json_kv_uint(j, "connect_timeout_ms", px->connect_timeout_ms);
    }
}

static void json_cond(dw_json_t *j, const dw_cfg_l4_cond_t *c)
{
    static const char *const kinds[] = {"tls", "http", "ssh", "postgres", "remote_ip"};
    dw_json_obj_begin(j);
    if (c->kind == DW_CFG_L4_UNKNOWN) {
        dw_json_kv_str(j, "matcher", c->name);
        dw_json_kv_bool(j, "unknown", true);
    } else {
        dw_json_kv_cstr(j, "matcher", c->kind < 5 ? kinds[c->kind] : "?");
    }
    if (c->negate) dw_json_kv_bool(j, "not", true);
    if (c->kind == DW_CFG_L4_TLS) {
        dw_cfg_json_strs(j, "sni", c->sni);
        dw_cfg_json_strs(j, "alpn", c->alpn);
    } else if (c->kind == DW_CFG_L4_HTTP) {
        dw_cfg_json_strs(j, "host", c->hosts);
    } else if (c->kind == DW_CFG_L4_REMOTE_IP) {
        dw_json_key(j, "ranges");
        dw_json_arr_begin(j);
        for (size_t i = 0; i < c->ranges.n; i++) dw_cfg_json_cidr(j, &c->ranges.v[i]);
        dw_json_arr_end(j);
    }
    dw_json_obj_end(j);
}

void dw_cfg_l4_json_routes(dw_json_t *j, const dw_cfg_l4_routes_t *rs)
{
    dw_json_obj_begin(j);
    dw_json_kv_uint(j, "matching_timeout_ms", rs->matching_timeout_ms);
    dw_json_key(j, "matchers");
    dw_json_obj_begin(j);
    for (size_t i = 0; i < rs->nmatchers; i++) {
        char name[256];
        snprintf(name, sizeof(name), "@%.*s", DW_STR_FMT(rs->matchers[i].name));
        dw_json_key(j, name);
        dw_json_arr_begin(j);
        for (size_t c = 0; c < rs->matchers[i].nconds; c++) json_cond(j, &rs->matchers[i].conds[c]);
        dw_json_arr_end(j);
    }
    dw_json_obj_end(j);
    dw_json_key(j, "routes");
    dw_json_arr_begin(j);
    for (size_t i = 0; i < rs->nroutes; i++) {
        const dw_cfg_l4_route_t *r = &rs->routes[i];
        dw_json_obj_begin(j);
        dw_json_key(j, "matchers");
        dw_json_arr_begin(j);
        for (size_t m = 0; m < r->nmatchers; m++) {
            char name[256];
            snprintf(name, sizeof(name), "@%.*s", DW_STR_FMT(r->matchers[m]->name));
            dw_json_cstr(j, name);
        }
        dw_json_arr_end(j);
        dw_json_key(j, "handlers");
        dw_json_arr_begin(j);
        for (size_t h = 0; h < r->nhandlers; h++) {
            const dw_cfg_l4_handler_t *hd = &r->handlers[h];
            dw_json_obj_begin(j);
            switch (hd->kind) {
            case DW_CFG_L4_PROXY:
                dw_json_kv_cstr(j, "handler", "proxy");
                json_proxy(j, &hd->proxy, false);
                break;
            case DW_CFG_L4_TERMINATE_TLS:
                dw_json_kv_cstr(j, "handler", "tls");
                if (hd->cert.ptr) dw_json_kv_str(j, "cert", hd->cert);
                if (hd->key.ptr) dw_json_kv_str(j, "key", hd->key);
                break;
            default:
                dw_json_kv_cstr(j, "handler", "subroute");
                dw_json_key(j, "routes");
                if (hd->sub)
                    dw_cfg_l4_json_routes(j, hd->sub);
                else
                    dw_json_null(j);
                break;
            }
            dw_json_obj_end(j);
        }
        dw_json_arr_end(j);
        dw_json_obj_end(j);
    }
    dw_json_arr_end(j);
    dw_json_obj_end(j);
}

void dw_cfg_json_layer4(dw_json_t *j, const dw_cfg_layer4_t *l4)
{
    dw_json_obj_begin(j);
    dw_json_key(j, "servers");
    dw_json_arr_begin(j);
    for (size_t s = 0; s < l4->nservers; s++) {
        const dw_cfg_l4_server_t *srv = &l4->servers[s];
        dw_json_obj_begin(j);
        dw_json_key(j, "listen");
        dw_json_arr_begin(j);
        for (size_t i = 0; i < srv->nlisten; i++) {
            dw_json_obj_begin(j);
            dw_json_kv_str(j, "address", srv->listen[i].original);
            dw_json_kv_str(j, "host", srv->listen[i].host);
            dw_json_kv_uint(j, "port", srv->listen[i].port);
            dw_json_obj_end(j);
        }
        dw_json_arr_end(j);
        dw_json_kv_cstr(j, "protocol", srv->udp ? "udp" : "tcp");
        if (srv->udp) {
            dw_json_key(j, "proxy");
            dw_json_obj_begin(j);
            json_proxy(j, &srv->udp_proxy, true);
            dw_json_obj_end(j);
        } else {
            dw_json_key(j, "routes");
            dw_cfg_l4_json_routes(j, &srv->routes);
        }
        dw_json_obj_end(j);
    }
    dw_json_arr_end(j);
    dw_json_obj_end(j);
}
