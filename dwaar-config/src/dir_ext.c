/* Directives whose behaviour other specs own (spec 10 §6.20; spec 20 §1.1, §2.5-§2.13, §3.1;
 * spec 30 §2.1, §3.8, §4): their syntax, payloads and JSON; the site-level checks across them
 * (`tls manual` needs tls_cert and tls_key); and the small helpers global.c and layer4.c share.
 * Decisions 1-3, 14-16, 24 and 25 apply. */
#include "ext_int.h"
#include "route_int.h"
#include <arpa/inet.h>

/* --- shared helpers ------------------------------------------------------------------------- */

/* Keywords compare on text, quoted or not (spec 10 §1.2 rule 3). */
bool dw_cfg_ext_is(const dw_cfg_token_t *t, const char *w)
{
    return (t->kind == DW_TOK_WORD || t->kind == DW_TOK_QUOTED) && dw_str_eq_c(t->text, w);
}

size_t dw_cfg_ext_keyword(const dw_cfg_token_t *t, const char *const *keys)
{
    size_t k = 0;
    while (keys[k] && !dw_cfg_ext_is(t, keys[k])) k++;
    return k;
}

const char *dw_cfg_ext_name(dw_cfg_parser_t *p, const dw_cfg_node_t *n)
{
    const char *s = dw_arena_strndup(&p->scratch, n->name.text.ptr, n->name.text.len);
    return s ? s : "";
}

int dw_cfg_ext_argc(dw_cfg_parser_t *p, const dw_cfg_token_t *name, const dw_cfg_token_t *args,
                    size_t nargs, size_t min, size_t max, const char *what, const char *const *keys)
{
    if (nargs < min) {
        dw_cfg_err(p, name, "expected %s after '%.*s', got end of line", what ? what : "a value",
                   DW_STR_FMT(name->text));
        return -1;
    }
    if (nargs > max) {
        const dw_cfg_token_t *x = &args[max];
        bool key = keys && keys[dw_cfg_ext_keyword(x, keys)];
        dw_cfg_err(p, x, "unexpected argument %s to '%.*s'%s", dw_cfg_tok_str(p, x),
                   DW_STR_FMT(name->text), key ? " (put each subdirective on its own line)" : "");
        return -1;
    }
    return 0;
}

int dw_cfg_ext_node_argc(dw_cfg_parser_t *p, const dw_cfg_node_t *n, size_t min, size_t max,
                         const char *what, const char *const *keys)
{
    return dw_cfg_ext_argc(p, &n->name, n->args, n->nargs, min, max, what, keys);
}

int dw_cfg_ext_no_block(dw_cfg_parser_t *p, const dw_cfg_node_t *n)
{
    if (!n->has_block) return 0;
    dw_cfg_err(p, &n->open, "'%.*s' does not take a block", DW_STR_FMT(n->name.text));
    return -1;
}

int dw_cfg_ext_need_block(dw_cfg_parser_t *p, const dw_cfg_node_t *n)
{
    if (n->has_block) return 0;
    dw_cfg_err(p, &n->name, "expected '{' block after '%.*s'", DW_STR_FMT(n->name.text));
    return -1;
}

void dw_cfg_ext_push_str(dw_cfg_parser_t *p, dw_cfg_strs_t *l, size_t *cap, dw_str_t s)
{
    dw_str_t *slot = DW_ARENA_PUSH(p->arena, l->v, l->n, *cap);
    if (slot) *slot = dw_cfg_strdup(p, s);
}

static const char *const private_ranges[] = {"10.0.0.0/8",  "172.16.0.0/12", "192.168.0.0/16",
                                             "127.0.0.0/8", "fc00::/7",      "::1/128"};

size_t dw_cfg_ext_cidrs(dw_cfg_parser_t *p, const dw_cfg_token_t *args, size_t nargs,
                        const char *directive, dw_cfg_cidrs_t *out, size_t *cap)
{
    size_t errs = 0;
    for (size_t i = 0; i < nargs; i++) {
        dw_cfg_cidr_t c;
        if (dw_cfg_ext_is(&args[i], "private_ranges")) {
            for (size_t k = 0; k < DW_ARRAY_LEN(private_ranges); k++) {
                dw_cfg_cidr_t *slot = DW_ARENA_PUSH(p->arena, out->v, out->n, *cap);
                if (slot) dw_cfg_parse_cidr(dw_str_c(private_ranges[k]), slot);
            }
            continue;
        }
        if (dw_cfg_parse_cidr(args[i].text, &c) < 0) {
            dw_cfg_err(p, &args[i],
                       "invalid value for '%s': '%.*s' is not an IP address or CIDR range",
                       directive, DW_STR_FMT(args[i].text));
            errs++;
            continue;
        }
        dw_cfg_cidr_t *slot = DW_ARENA_PUSH(p->arena, out->v, out->n, *cap);
        if (slot) *slot = c;
    }
    return errs;
}

static int parse_hhmm(dw_str_t s, uint16_t *out)
{
    ptrdiff_t colon = dw_str_chr(s, ':');
    if (colon < 1 || colon > 2 || s.len != (size_t)colon + 3) return -1;
    uint64_t h, m;
    if (dw_parse_u64(dw_str_sub(s, 0, (size_t)colon), &h) != DW_OK ||
        dw_parse_u64(dw_str_sub(s, (size_t)colon + 1, 2), &m) != DW_OK || h > 23 || m > 59)
        return -1;
    *out = (uint16_t)(h * 60 + m);
    return 0;
}

int dw_cfg_ext_parse_window(dw_str_t s, uint16_t *start, uint16_t *end)
{
    ptrdiff_t dash = dw_str_chr(s, '-');
    if (dash < 0) return -1;
    uint16_t a, b;
    if (parse_hhmm(dw_str_sub(s, 0, (size_t)dash), &a) < 0 ||
        parse_hhmm(dw_str_sub(s, (size_t)dash + 1, s.len), &b) < 0)
        return -1;
    *start = a, *end = b;
    return 0;
}

/* Arguments after the directive name (and its matcher): checks against the node's name. */
static int argc_check(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                      size_t nargs, size_t min, size_t max, const char *what)
{
    return dw_cfg_ext_argc(p, &node->name, args, nargs, min, max, what, NULL);
}

/* RFC 9110 token characters. */
static bool valid_header_name(dw_str_t n)
{
    if (n.len == 0) return false;
    for (size_t i = 0; i < n.len; i++) {
        char c = n.ptr[i];
        if (c == '\0' || (!dw_ascii_isalnum(c) && !strchr("!#$%&'*+-.^_`|~", c))) return false;
    }
    return true;
}

/* --- tls, tls_cert, tls_key (spec 20 §1.1) ------------------------------------------------- */

static bool looks_like_email(dw_str_t s)
{
    ptrdiff_t at = dw_str_chr(s, '@');
    return at > 0 && (size_t)at + 1 < s.len;
}

static int parse_tls_block(dw_cfg_parser_t *p, const dw_cfg_node_t *node, dw_cfg_tls_t *t)
{
    const dw_cfg_token_t *dns = NULL;
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *c = &node->children[i];
        if (!dw_cfg_ext_is(&c->name, "dns")) {
            dw_cfg_warn(p, &c->name, "tls option '%s' is not supported and is ignored",
                        dw_cfg_ext_name(p, c));
            continue;
        }
        if (dns) {
            dw_cfg_err(p, &c->name, "duplicate 'dns' in 'tls' block");
            return -1;
        }
        dns = &c->name;
        if (dw_cfg_ext_node_argc(p, c, 1, 2, "a DNS provider (cloudflare)", NULL) < 0 ||
            dw_cfg_ext_no_block(p, c) < 0)
            return -1;
        if (!dw_str_eq_c(c->args[0].text, "cloudflare")) {
            dw_cfg_err(p, &c->args[0],
                       "unsupported DNS provider '%.*s' for 'tls' (supported: cloudflare)",
                       DW_STR_FMT(c->args[0].text));
            return -1;
        }
        if (c->nargs < 2) {
            dw_cfg_err(p, &c->args[0],
                       "expected an API token after 'dns cloudflare', got end of line");
            return -1;
        }
        if (c->args[1].text.len == 0) {
            dw_cfg_err(p, &c->args[1], "the Cloudflare API token for 'tls' is empty");
            return -1;
        }
        t->dns_provider = dw_cfg_str(p, &c->args[0]);
        t->dns_token = dw_cfg_str(p, &c->args[1]);
    }
    if (!dns) {
        dw_cfg_err(p, &node->name, "'tls' block requires 'dns cloudflare <token>'");
        return -1;
    }
    t->kind = DW_CFG_TLS_DNS;
    return 0;
}

int dw_cfg_parse_tls(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                     size_t nargs, dw_cfg_directive_t *d)
{
    dw_cfg_tls_t *t = &d->u.tls;
    if (node->has_block) {
        if (argc_check(p, node, args, nargs, 0, 1, NULL) < 0) return -1;
        if (nargs == 1) {
            if (!looks_like_email(args[0].text)) {
                dw_cfg_err(p, &args[0],
                           "unexpected argument %s to 'tls' with a block (only an email address "
                           "may precede it)",
                           dw_cfg_tok_str(p, &args[0]));
                return -1;
            }
            t->email = dw_cfg_str(p, &args[0]);
        }
        return parse_tls_block(p, node, t);
    }
    if (argc_check(p, node, args, nargs, 0, 2, NULL) < 0) return -1;
    if (nargs == 0) {
        t->kind = DW_CFG_TLS_AUTO;
    } else if (nargs == 1) {
        const dw_cfg_token_t *a = &args[0];
        if (dw_cfg_ext_is(a, "auto"))
            t->kind = DW_CFG_TLS_AUTO;
        else if (dw_cfg_ext_is(a, "off"))
            t->kind = DW_CFG_TLS_OFF;
        else if (dw_cfg_ext_is(a, "internal"))
            t->kind = DW_CFG_TLS_INTERNAL;
        else if (dw_cfg_ext_is(a, "manual"))
            t->kind = DW_CFG_TLS_MANUAL;
        else if (looks_like_email(a->text))
            t->kind = DW_CFG_TLS_EMAIL, t->email = dw_cfg_str(p, a);
        else {
            dw_cfg_err(
                p, a,
                "invalid value for 'tls': '%.*s' (expected one of: auto, off, internal, manual, "
                "an email address, or '<cert> <key>')",
                DW_STR_FMT(a->text));
            return -1;
        }
    } else {
        t->kind = DW_CFG_TLS_FILES;
        t->cert = dw_cfg_resolve_path(p, args[0].text);
        t->key = dw_cfg_resolve_path(p, args[1].text);
        int rc = dw_cfg_check_readable(p, &args[0], t->cert, "certificate");
        rc |= dw_cfg_check_readable(p, &args[1], t->key, "key");
        if (rc < 0) return -1;
    }
    return 0;
}

void dw_cfg_json_tls(dw_json_t *j, const dw_cfg_directive_t *d)
{
    static const char *const kinds[] = {"auto",   "off",   "internal", "files",
                                        "manual", "email", "dns"};
    const dw_cfg_tls_t *t = &d->u.tls;
    dw_json_kv_cstr(j, "mode", t->kind < DW_ARRAY_LEN(kinds) ? kinds[t->kind] : "?");
    if (t->cert.ptr) dw_json_kv_str(j, "cert", t->cert);
    if (t->key.ptr) dw_json_kv_str(j, "key", t->key);
    if (t->email.ptr) dw_json_kv_str(j, "email", t->email);
    if (t->dns_provider.ptr) {
        dw_json_kv_str(j, "dns_provider", t->dns_provider);
        /* a live credential: adapt output may end up in logs and bug reports */
        dw_json_kv_cstr(j, "dns_token", "<redacted>");
    }
}

int dw_cfg_parse_path_arg(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                          size_t nargs, dw_cfg_directive_t *d)
{
    if (argc_check(p, node, args, nargs, 1, 1, "a file path") < 0 ||
        dw_cfg_ext_no_block(p, node) < 0)
        return -1;
    d->u.path_arg.path = dw_cfg_resolve_path(p, args[0].text);
    return dw_cfg_check_readable(p, &args[0], d->u.path_arg.path,
                                 d->kind == DW_DIR_TLS_CERT ? "certificate" : "key");
}

void dw_cfg_json_path_arg(dw_json_t *j, const dw_cfg_directive_t *d)
{
    dw_json_kv_str(j, "path", d->u.path_arg.path);
}

/* --- encode (spec 20 §2.11) ------------------------------------------------------------------ */

static uint8_t encoding_bit(const dw_cfg_token_t *t)
{
    if (t->kind != DW_TOK_WORD && t->kind != DW_TOK_QUOTED) return 0;
    if (dw_str_eq_c(t->text, "gzip")) return DW_CFG_ENCODE_GZIP;
    if (dw_str_eq_c(t->text, "zstd")) return DW_CFG_ENCODE_ZSTD;
    if (dw_str_eq_c(t->text, "br") || dw_str_eq_c(t->text, "brotli")) return DW_CFG_ENCODE_BR;
    return 0;
}

int dw_cfg_parse_encode(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                        size_t nargs, dw_cfg_directive_t *d)
{
    dw_cfg_encode_t *e = &d->u.encode;
    e->enabled = true;
    if (nargs == 1 && (dw_cfg_ext_is(&args[0], "on") || dw_cfg_ext_is(&args[0], "off"))) {
        if (dw_cfg_ext_no_block(p, node) < 0) return -1;
        e->enabled = dw_cfg_ext_is(&args[0], "on");
        e->encodings = e->enabled ? DW_CFG_ENCODE_ALL : 0;
        return 0;
    }
    for (size_t i = 0; i < nargs; i++) {
        uint8_t bit = encoding_bit(&args[i]);
        if (!bit) {
            /* the list ends at the first token that is not an encoding (spec 20 §2.11) */
            if (e->encodings)
                dw_cfg_warn(
                    p, &args[i],
                    "%s is not an encoding (gzip, zstd, br); it and what follows are ignored",
                    dw_cfg_tok_str(p, &args[i]));
            break;
        }
        e->encodings |= bit;
    }
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *c = &node->children[i];
        uint8_t bit = encoding_bit(&c->name);
        if (bit) {
            e->encodings |= bit;
            if (c->nargs)
                dw_cfg_warn(p, &c->args[0],
                            "compression levels are fixed; '%s' options are ignored",
                            dw_cfg_ext_name(p, c));
        } else {
            dw_cfg_warn(p, &c->name, "encode option '%s' is not supported and is ignored",
                        dw_cfg_ext_name(p, c));
        }
    }
    if (!e->encodings) {
        dw_cfg_err(p, nargs ? &args[0] : &node->name,
                   "expected at least one encoding (gzip, zstd, br)");
        return -1;
    }
    return 0;
}

void dw_cfg_json_encode(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_encode_t *e = &d->u.encode;
    dw_json_kv_bool(j, "enabled", e->enabled);
    dw_json_key(j, "encodings");
    dw_json_arr_begin(j);
    if (e->encodings & DW_CFG_ENCODE_GZIP) dw_json_cstr(j, "gzip");
    if (e->encodings & DW_CFG_ENCODE_ZSTD) dw_json_cstr(j, "zstd");
    if (e->encodings & DW_CFG_ENCODE_BR) dw_json_cstr(j, "br");
    dw_json_arr_end(j);
}

/* --- cache (spec 20 §3.1) ----------------------------------------------------------------------
 */

int dw_cfg_parse_cache(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                       size_t nargs, dw_cfg_directive_t *d)
{
    static const char *const keys[] = {"max_size", "match_path", "default_ttl",
                                       "stale_while_revalidate", NULL};
    dw_cfg_cache_t *c = &d->u.cache;
    c->max_size = 1024ull * 1024 * 1024;
    c->default_ttl_ms = 3600 * 1000;
    c->stale_while_revalidate_ms = 60 * 1000;
    if (argc_check(p, node, args, nargs, 0, 0, NULL) < 0 || dw_cfg_ext_need_block(p, node) < 0)
        return -1;
    size_t pcap = 0;
    int rc = 0;
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *n = &node->children[i];
        const char *key = dw_cfg_ext_name(p, n);
        size_t k = dw_cfg_ext_keyword(&n->name, keys);
        if (!keys[k]) {
            dw_cfg_err(p, &n->name,
                       "unknown cache option '%s' (expected max_size, match_path, default_ttl or "
                       "stale_while_revalidate)",
                       key);
            rc = -1;
            continue;
        }
        if (dw_cfg_ext_node_argc(p, n, 1, k == 1 ? SIZE_MAX : 1, k == 1 ? "a path" : "a value",
                                 keys) < 0 ||
            dw_cfg_ext_no_block(p, n) < 0) {
            rc = -1;
            continue;
        }
        switch (k) {
        case 0: rc |= dw_cfg_arg_size(p, &n->args[0], key, &c->max_size); break;
        case 1:
            for (size_t a = 0; a < n->nargs; a++) {
                if (n->args[a].text.len == 0 || n->args[a].text.ptr[0] != '/') {
                    dw_cfg_err(
                        p, &n->args[a],
                        "invalid value for 'match_path': '%.*s' (a path must start with '/')",
                        DW_STR_FMT(n->args[a].text));
                    rc = -1;
                    continue;
                }
                dw_cfg_ext_push_str(p, &c->match_path, &pcap, n->args[a].text);
            }
            break;
        case 2: rc |= dw_cfg_arg_duration(p, &n->args[0], key, NULL, &c->default_ttl_ms); break;
        default:
            rc |= dw_cfg_arg_duration(p, &n->args[0], key, NULL, &c->stale_while_revalidate_ms);
            break;
        }
    }
    return rc;
}

void dw_cfg_json_cache(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_cache_t *c = &d->u.cache;
    dw_json_kv_uint(j, "max_size", c->max_size);
    dw_cfg_json_strs(j, "match_path", c->match_path);
    dw_json_kv_uint(j, "default_ttl_ms", c->default_ttl_ms);
    dw_json_kv_uint(j, "stale_while_revalidate_ms", c->stale_while_revalidate_ms);
}

/* --- rate_limit (spec 20 §2.7) -----------------------------------------------------------------
 */

#define RATE_HINT "\n    expected: N/duration, e.g., 100/s or 5000/10m"

int dw_cfg_parse_rate_limit(dw_cfg_parser_t *p, const dw_cfg_node_t *node,
                            const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{
    if (nargs == 0) {
        dw_cfg_err(p, &node->name, "expected a rate after 'rate_limit', got end of line" RATE_HINT);
        return -1;
    }
    if (argc_check(p, node, args, nargs, 1, 1, NULL) < 0 || dw_cfg_ext_no_block(p, node) < 0)
        return -1;
    dw_str_t s = args[0].text;
    ptrdiff_t slash = dw_str_chr(s, '/');
    uint64_t n = 0, w = 0;
    bool ok = slash > 0 && dw_parse_u64(dw_str_sub(s, 0, (size_t)slash), &n) == DW_OK;
    dw_str_t unit = slash >= 0 ? dw_str_sub(s, (size_t)slash + 1, s.len) : DW_STR_NULL;
    if (ok) {
        if (dw_str_eq_c(unit, "s") || dw_str_eq_c(unit, "m") || dw_str_eq_c(unit, "h"))
            w = unit.ptr[0] == 's' ? 1000 : unit.ptr[0] == 'm' ? 60000 : 3600000;
        /* a counted unit (10m, 1h30m); a bare number has no unit and is refused */
        else if (!unit.len || !dw_ascii_isalpha(unit.ptr[unit.len - 1]) ||
                 dw_parse_duration_ms(unit, &w) != DW_OK)
            ok = false;
        ok = ok && w > 0;
    }
    if (!ok) {
        dw_cfg_err(p, &args[0],
                   "invalid value for 'rate_limit': '%.*s' is not a valid rate" RATE_HINT,
                   DW_STR_FMT(s));
        return -1;
    }
    if (n == 0) {
        dw_cfg_err(p, &args[0],
                   "invalid value for 'rate_limit': '%.*s' (N must be at least 1)" RATE_HINT,
                   DW_STR_FMT(s));
        return -1;
    }
    d->u.rate_limit.requests = n;
    d->u.rate_limit.window_ms = w;
    return 0;
}

void dw_cfg_json_rate_limit(dw_json_t *j, const dw_cfg_directive_t *d)
{
    dw_json_kv_uint(j, "requests", d->u.rate_limit.requests);
    dw_json_kv_uint(j, "window_ms", d->u.rate_limit.window_ms);
}

/* --- ip_filter (spec 20 §2.5) -------------------------------------------------------------------
 */

int dw_cfg_parse_ip_filter(dw_cfg_parser_t *p, const dw_cfg_node_t *node,
                           const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{
    static const char *const keys[] = {"allow", "deny", "default", NULL};
    dw_cfg_ip_filter_t *f = &d->u.ip_filter;
    if (argc_check(p, node, args, nargs, 0, 0, NULL) < 0 || dw_cfg_ext_need_block(p, node) < 0)
        return -1;
    size_t acap = 0, dcap = 0;
    int rc = 0;
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *n = &node->children[i];
        bool allow = dw_cfg_ext_is(&n->name, "allow");
        if (allow || dw_cfg_ext_is(&n->name, "deny")) {
            if (dw_cfg_ext_node_argc(p, n, 1, SIZE_MAX, "an IP address or CIDR range", NULL) < 0 ||
                dw_cfg_ext_no_block(p, n) < 0) {
                rc = -1;
                continue;
            }
            for (size_t a = 0; a < n->nargs; a++) {
                const dw_cfg_token_t *t = &n->args[a];
                if (keys[dw_cfg_ext_keyword(t, keys)]) {
                    /* decision 15: `{ allow 10.0.0.0/8 default deny }` is shorthand, not syntax */
                    dw_cfg_err(
                        p, t,
                        "unexpected argument %s to '%s' (put each subdirective on its own line)",
                        dw_cfg_tok_str(p, t), allow ? "allow" : "deny");
                    rc = -1;
                    break;
                }
                dw_cfg_cidr_t c;
                if (dw_cfg_parse_cidr(t->text, &c) < 0) {
                    dw_cfg_warn(p, t, "invalid IP range '%.*s' in 'ip_filter' is skipped",
                                DW_STR_FMT(t->text));
                    continue;
                }
                dw_cfg_cidr_t *slot = allow ? DW_ARENA_PUSH(p->arena, f->allow.v, f->allow.n, acap)
                                            : DW_ARENA_PUSH(p->arena, f->deny.v, f->deny.n, dcap);
                if (slot) *slot = c;
            }
        } else if (dw_cfg_ext_is(&n->name, "default")) {
            if (dw_cfg_ext_node_argc(p, n, 1, 1, "allow or deny", keys) < 0 ||
                dw_cfg_ext_no_block(p, n) < 0) {
                rc = -1;
                continue;
            }
            if (dw_cfg_ext_is(&n->args[0], "allow"))
                f->default_deny = false;
            else if (dw_cfg_ext_is(&n->args[0], "deny"))
                f->default_deny = true;
            else {
                dw_cfg_err_enum(p, &n->args[0], "default", "allow, deny");
                rc = -1;
            }
        } else {
            dw_cfg_warn(p, &n->name, "unknown ip_filter option '%s' ignored",
                        dw_cfg_ext_name(p, n));
        }
    }
    return rc;
}

void dw_cfg_json_ip_filter(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_ip_filter_t *f = &d->u.ip_filter;
    dw_json_key(j, "allow");
    dw_json_arr_begin(j);
    for (size_t i = 0; i < f->allow.n; i++) dw_cfg_json_cidr(j, &f->allow.v[i]);
    dw_json_arr_end(j);
    dw_json_key(j, "deny");
    dw_json_arr_begin(j);
    for (size_t i = 0; i < f->deny.n; i++) dw_cfg_json_cidr(j, &f->deny.v[i]);
    dw_json_arr_end(j);
    dw_json_kv_cstr(j, "default", f->default_deny ? "deny" : "allow");
}

/* --- basic_auth (spec 20 §2.9) ------------------------------------------------------------------
 */

static void check_bcrypt(dw_cfg_parser_t *p, const dw_cfg_token_t *user, const dw_cfg_token_t *hash)
{
    dw_str_t h = hash->text;
    bool bcrypt = h.len >= 7 && h.ptr[0] == '$' && h.ptr[1] == '2' &&
                  (h.ptr[2] == 'a' || h.ptr[2] == 'b' || h.ptr[2] == 'y') && h.ptr[3] == '$' &&
                  dw_ascii_isdigit(h.ptr[4]) && dw_ascii_isdigit(h.ptr[5]) && h.ptr[6] == '$';
    if (!bcrypt) {
        dw_cfg_warn(p, hash, "password hash for user '%.*s' is not bcrypt ($2a$, $2b$ or $2y$)",
                    DW_STR_FMT(user->text));
        return;
    }
    unsigned cost = (unsigned)(h.ptr[4] - '0') * 10u + (unsigned)(h.ptr[5] - '0');
    if (cost < 10)
        dw_cfg_warn(p, hash, "bcrypt cost %u for user '%.*s' is below 10", cost,
                    DW_STR_FMT(user->text));
}

int dw_cfg_parse_basic_auth(dw_cfg_parser_t *p, const dw_cfg_node_t *node,
                            const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{
    dw_cfg_basic_auth_t *b = &d->u.basic_auth;
    if (argc_check(p, node, args, nargs, 0, 1, NULL) < 0) return -1;
    if (nargs == 1 && dw_cfg_is_matcher_token(&args[0]))
        dw_cfg_warn(p, &args[0],
                    "basic_auth takes no matcher: '%.*s' is used as the realm and the whole block "
                    "is protected (wrap basic_auth in 'handle %.*s { ... }' to protect a path)",
                    DW_STR_FMT(args[0].text), DW_STR_FMT(args[0].text));
    if (nargs == 1) {
        /* '"', '\', CR and LF cannot appear in the WWW-Authenticate quoted string */
        char *r = dw_arena_alloc(p->arena, args[0].text.len + 1);
        if (!r) return -1;
        size_t n = 0;
        for (size_t i = 0; i < args[0].text.len; i++) {
            char c = args[0].text.ptr[i];
            if (c != '"' && c != '\\' && c != '\r' && c != '\n') r[n++] = c;
        }
        r[n] = '\0';
        b->realm = dw_str_make(r, n);
    } else {
        b->realm = DW_STR("Restricted");
    }
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *c = &node->children[i];
        if (c->nargs != 1 || c->has_block) {
            dw_cfg_err(p, c->nargs > 1 ? &c->args[1] : &c->name,
                       "expected '<user> <bcrypt-hash>' on each line of '%s'", d->name);
            rc = -1;
            continue;
        }
        for (size_t k = 0; k < b->nusers; k++) {
            if (dw_str_eq(b->users[k].user, c->name.text)) {
                dw_cfg_err(p, &c->name, "user '%.*s' is listed twice in '%s'",
                           DW_STR_FMT(c->name.text), d->name);
                rc = -1;
                break;
            }
        }
        check_bcrypt(p, &c->name, &c->args[0]);
        dw_cfg_credential_t *slot = DW_ARENA_PUSH(p->arena, b->users, b->nusers, cap);
        if (!slot) return -1;
        slot->user = dw_cfg_str(p, &c->name);
        slot->hash = dw_cfg_str(p, &c->args[0]);
    }
    if (rc == 0 && b->nusers == 0) {
        dw_cfg_err(p, &node->name,
                   "'%s' requires at least one '<user> <bcrypt-hash>' pair in a block", d->name);
        return -1;
    }
    return rc;
}

void dw_cfg_json_basic_auth(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_basic_auth_t *b = &d->u.basic_auth;
    dw_json_kv_str(j, "realm", b->realm);
    dw_json_key(j, "users");
    dw_json_arr_begin(j);
    for (size_t i = 0; i < b->nusers; i++) {
        dw_json_obj_begin(j);
        dw_json_kv_str(j, "user", b->users[i].user);
        dw_json_kv_str(j, "hash", b->users[i].hash);
        dw_json_obj_end(j);
    }
    dw_json_arr_end(j);
}

/* --- forward_auth (spec 20 §2.10, decision 24)
 * ---------------------------------------------------- */

static int parse_auth_address(dw_str_t s, dw_cfg_forward_auth_t *f)
{
    dw_str_t host = s, port = DW_STR_NULL;
    if (s.len && s.ptr[0] == '[') {
        ptrdiff_t close = dw_str_chr(s, ']');
        if (close < 0) return -1;
        host = dw_str_sub(s, 1, (size_t)close - 1);
        dw_str_t rest = dw_str_sub(s, (size_t)close + 1, s.len);
        if (rest.len) {
            if (rest.ptr[0] != ':') return -1;
            port = dw_str_sub(rest, 1, rest.len);
            f->port_explicit = true;
        }
        if (!dw_cfg_is_ip_literal(host, AF_INET6)) return -1;
        f->host_is_ip = true;
    } else if (dw_cfg_is_ip_literal(s, AF_INET6)) {
        f->host_is_ip = true;
    } else {
        ptrdiff_t colon = dw_str_chr(s, ':');
        if (colon >= 0) {
            host = dw_str_sub(s, 0, (size_t)colon);
            port = dw_str_sub(s, (size_t)colon + 1, s.len);
            f->port_explicit = true;
        }
        f->host_is_ip = dw_cfg_is_ip_literal(host, AF_INET);
        if (!f->host_is_ip && !dw_cfg_valid_dns_name(host)) return -1;
    }
    if (f->port_explicit && dw_parse_port(port, &f->port) != DW_OK) return -1;
    f->host = host;
    return 0;
}

static bool is_loopback(const dw_cfg_forward_auth_t *f)
{
    if (!f->host_is_ip)
        return dw_str_caseeq_c(f->host, "localhost") || dw_str_caseeq_c(f->host, "ip6-localhost") ||
               dw_str_caseeq_c(f->host, "ip6-loopback");
    dw_cfg_cidr_t c;
    if (dw_cfg_parse_cidr(f->host, &c) < 0) return false;
    if (c.family == 4) return c.addr[0] == 127;
    static const uint8_t one[16] = {[15] = 1};
    return memcmp(c.addr, one, 16) == 0;
}

int dw_cfg_parse_forward_auth(dw_cfg_parser_t *p, const dw_cfg_node_t *node,
                              const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{
    static const char *const keys[] = {"uri", "copy_headers", "transport", "insecure_plaintext",
                                       NULL};
    dw_cfg_forward_auth_t *f = &d->u.forward_auth;
    if (argc_check(p, node, args, nargs, 1, 1, "an auth service address (host:port)") < 0)
        return -1;
    if (parse_auth_address(args[0].text, f) < 0) {
        dw_cfg_err(
            p, &args[0],
            "invalid forward_auth address '%.*s' (expected host:port, host, ip:port or [v6]:port)",
            DW_STR_FMT(args[0].text));
        return -1;
    }
    f->address = dw_cfg_str(p, &args[0]);
    f->host = dw_cfg_strdup(p, f->host);
    size_t hcap = 0;
    int rc = 0;
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *n = &node->children[i];
        const char *key = dw_cfg_ext_name(p, n);
        if (dw_cfg_ext_is(&n->name, "uri")) {
            if (dw_cfg_ext_node_argc(p, n, 1, 1, "a path", keys) < 0 ||
                dw_cfg_ext_no_block(p, n) < 0) {
                rc = -1;
                continue;
            }
            if (n->args[0].text.len == 0 || n->args[0].text.ptr[0] != '/') {
                dw_cfg_err(p, &n->args[0], "invalid value for 'uri': '%.*s' (must start with '/')",
                           DW_STR_FMT(n->args[0].text));
                rc = -1;
                continue;
            }
            f->uri = dw_cfg_str(p, &n->args[0]);
        } else if (dw_cfg_ext_is(&n->name, "copy_headers")) {
            size_t total = n->nargs;
            for (size_t a = 0; a < n->nargs; a++) {
                if (!valid_header_name(n->args[a].text)) {
                    dw_cfg_err(p, &n->args[a], "invalid header name '%.*s'",
                               DW_STR_FMT(n->args[a].text));
                    rc = -1;
                    continue;
                }
                dw_cfg_ext_push_str(p, &f->copy_headers, &hcap, n->args[a].text);
            }
            for (size_t c = 0; c < n->nchildren; c++, total++) { /* Caddy's block form */
                const dw_cfg_node_t *h = &n->children[c];
                if (h->nargs || h->has_block || !valid_header_name(h->name.text)) {
                    dw_cfg_err(p, &h->name, "expected one header name per line in 'copy_headers'");
                    rc = -1;
                    continue;
                }
                dw_cfg_ext_push_str(p, &f->copy_headers, &hcap, h->name.text);
            }
            if (total == 0) {
                dw_cfg_err(p, &n->name,
                           "expected a header name after 'copy_headers', got end of line");
                rc = -1;
            }
        } else if (dw_cfg_ext_is(&n->name, "transport")) {
            if (dw_cfg_ext_node_argc(p, n, 1, 1, "'tls'", keys) < 0 ||
                dw_cfg_ext_no_block(p, n) < 0) {
                rc = -1;
                continue;
            }
            if (!dw_cfg_ext_is(&n->args[0], "tls")) {
                dw_cfg_err_enum(p, &n->args[0], "transport", "tls");
                rc = -1;
                continue;
            }
            f->tls = true;
        } else if (dw_cfg_ext_is(&n->name, "insecure_plaintext")) {
            bool on = true;
            if (dw_cfg_ext_node_argc(p, n, 0, 1, NULL, keys) < 0 || dw_cfg_ext_no_block(p, n) < 0 ||
                (n->nargs == 1 && dw_cfg_arg_bool(p, &n->args[0], key, &on) < 0)) {
                rc = -1;
                continue;
            }
            f->insecure_plaintext = on;
        } else {
            dw_cfg_err(p, &n->name,
                       "unknown forward_auth option '%s' (expected uri, copy_headers, transport or "
                       "insecure_plaintext)",
                       key);
            rc = -1;
        }
    }
    if (rc < 0) return -1;
    if (!f->port_explicit) f->port = f->tls ? 443 : 80;
    f->loopback = is_loopback(f);
    if (!f->loopback && !f->tls) {
        const char *l = dw_str_chr(f->host, ':') >= 0 ? "[" : "", *r = *l ? "]" : "";
        if (!f->insecure_plaintext) {
            dw_cfg_err(p, &args[0],
                       "forward_auth target '%s%.*s%s:%u' is plaintext and non-loopback; set tls: "
                       "true, use a "
                       "loopback target, or explicitly opt in with allow_plaintext: true",
                       l, DW_STR_FMT(f->host), r, f->port);
            return -1;
        }
        dw_cfg_warn(p, &args[0],
                    "forward_auth target '%s%.*s%s:%u' uses plaintext (insecure_plaintext)", l,
                    DW_STR_FMT(f->host), r, f->port);
    }
    return 0;
}

void dw_cfg_json_forward_auth(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_forward_auth_t *f = &d->u.forward_auth;
    dw_json_kv_str(j, "address", f->address);
    dw_json_kv_str(j, "host", f->host);
    dw_json_kv_uint(j, "port", f->port);
    dw_json_kv_bool(j, "loopback", f->loopback);
    if (f->uri.ptr) dw_json_kv_str(j, "uri", f->uri);
    dw_cfg_json_strs(j, "copy_headers", f->copy_headers);
    dw_json_kv_bool(j, "tls", f->tls);
    dw_json_kv_bool(j, "insecure_plaintext", f->insecure_plaintext);
}

/* --- security_headers (spec 20 §2.12)
 * -------------------------------------------------------------- */

int dw_cfg_parse_security_headers(dw_cfg_parser_t *p, const dw_cfg_node_t *node,
                                  const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{
    dw_cfg_security_headers_t *s = &d->u.security_headers;
    s->strip_leaky_headers = true;
    if (argc_check(p, node, args, nargs, 0, 0, NULL) < 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *n = &node->children[i];
        if (!dw_cfg_ext_is(&n->name, "strip_leaky_headers")) {
            dw_cfg_err(p, &n->name,
                       "unknown security_headers option '%s' (expected strip_leaky_headers)",
                       dw_cfg_ext_name(p, n));
            rc = -1;
            continue;
        }
        bool v;
        if (dw_cfg_ext_node_argc(p, n, 1, 1, "true or false", NULL) < 0 ||
            dw_cfg_ext_no_block(p, n) < 0 ||
            dw_cfg_arg_bool(p, &n->args[0], "strip_leaky_headers", &v) < 0) {
            rc = -1;
            continue;
        }
        s->strip_leaky_headers = v;
    }
    return rc;
}

void dw_cfg_json_security_headers(dw_json_t *j, const dw_cfg_directive_t *d)
{
    dw_json_kv_bool(j, "strip_leaky_headers", d->u.security_headers.strip_leaky_headers);
}

/* --- wasm_plugin (spec 20 §2.13, decisions 2, 25)
 * --------------------------------------------------- */

static dw_str_t file_stem(dw_str_t path)
{
    size_t start = path.len;
    while (start > 0 && path.ptr[start - 1] != '/') start--;
    dw_str_t base = dw_str_sub(path, start, path.len);
    size_t end = base.len;
    while (end > 0 && base.ptr[end - 1] != '.') end--;
    return end > 1 ? dw_str_sub(base, 0, end - 1) : base;
}

int dw_cfg_parse_wasm_plugin(dw_cfg_parser_t *p, const dw_cfg_node_t *node,
                             const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{
    static const char *const keys[] = {"priority", "fuel",       "memory", "memory_mb",
                                       "timeout",  "timeout_ms", "config", NULL};
    dw_cfg_wasm_plugin_t *w = &d->u.wasm_plugin;
    w->priority = 50;
    w->fuel = 1000000;
    w->memory_mib = 16;
    w->timeout_ms = 50;
    if (argc_check(p, node, args, nargs, 1, 1, "a .wasm file path") < 0) return -1;
    w->path = dw_cfg_resolve_path(p, args[0].text);
    w->name = dw_cfg_strdup(p, file_stem(w->path));
    int rc = dw_cfg_check_readable(p, &args[0], w->path, "WASM plugin");
    size_t ccap = 0;
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *n = &node->children[i];
        const char *key = dw_cfg_ext_name(p, n);
        size_t k = dw_cfg_ext_keyword(&n->name, keys);
        if (!keys[k]) {
            dw_cfg_warn(p, &n->name, "unknown wasm_plugin option '%s' ignored", key);
            continue;
        }
        if (dw_cfg_ext_node_argc(p, n, 1, k == 6 ? SIZE_MAX : 1, "a value", keys) < 0 ||
            dw_cfg_ext_no_block(p, n) < 0) {
            rc = -1;
            continue;
        }
        const dw_cfg_token_t *v = &n->args[0];
        uint64_t x;
        switch (k) {
        case 0:
            if (dw_cfg_arg_uint(p, v, key, 1, 65535, &x) == 0)
                w->priority = (uint16_t)x;
            else
                rc = -1;
            break;
        case 1:
            if (dw_cfg_arg_uint(p, v, key, 1, UINT64_MAX, &x) == 0)
                w->fuel = x;
            else
                rc = -1;
            break;
        case 2:
        case 3: /* MiB; a wasm32 memory is at most 4 GiB */
            if (dw_cfg_arg_uint(p, v, key, 1, 4096, &x) == 0)
                w->memory_mib = x;
            else
                rc = -1;
            break;
        case 4:
        case 5:
            /* documented as milliseconds: a bare integer is ms here, units are accepted too */
            if (dw_parse_u64(v->text, &x) != DW_OK &&
                dw_cfg_arg_duration(p, v, key, NULL, &x) < 0) {
                rc = -1;
            } else if (x == 0) {
                dw_cfg_err(p, v, "invalid value for '%s': '0' (must be greater than 0)", key);
                rc = -1;
            } else {
                w->timeout_ms = x;
            }
            break;
        default:
            for (size_t a = 0; a < n->nargs; a++) {
                dw_str_t kv = n->args[a].text;
                ptrdiff_t eq = dw_str_chr(kv, '=');
                if (eq <= 0) {
                    dw_cfg_err(p, &n->args[a],
                               "invalid value for 'config': '%.*s' (expected key=value)",
                               DW_STR_FMT(kv));
                    rc = -1;
                    continue;
                }
                dw_cfg_kv_t *slot = DW_ARENA_PUSH(p->arena, w->config, w->nconfig, ccap);
                if (!slot) return -1;
                slot->key = dw_cfg_strdup(p, dw_str_sub(kv, 0, (size_t)eq));
                slot->value = dw_cfg_strdup(p, dw_str_sub(kv, (size_t)eq + 1, kv.len));
            }
            break;
        }
    }
    return rc;
}

void dw_cfg_json_wasm_plugin(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_wasm_plugin_t *w = &d->u.wasm_plugin;
    dw_json_kv_str(j, "path", w->path);
    dw_json_kv_str(j, "name", w->name);
    dw_json_kv_uint(j, "priority", w->priority);
    dw_json_kv_uint(j, "fuel", w->fuel);
    dw_json_kv_uint(j, "memory_mib", w->memory_mib);
    dw_json_kv_uint(j, "timeout_ms", w->timeout_ms);
    dw_json_key(j, "config");
    dw_json_arr_begin(j);
    for (size_t i = 0; i < w->nconfig; i++) {
        dw_json_obj_begin(j);
        dw_json_kv_str(j, "key", w->config[i].key);
        dw_json_kv_str(j, "value", w->config[i].value);
        dw_json_obj_end(j);
    }
    dw_json_arr_end(j);
}

/* --- request_body, response_body_limit (spec 10 §6.20) ------------------------------------------
 */

int dw_cfg_parse_body_limit(dw_cfg_parser_t *p, const dw_cfg_node_t *node,
                            const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{
    dw_cfg_body_limit_t *b = &d->u.body_limit;
    if (!node->has_block || d->kind != DW_DIR_REQUEST_BODY) {
        if (dw_cfg_ext_no_block(p, node) < 0 ||
            argc_check(p, node, args, nargs, 1, 1, "a size") < 0)
            return -1;
        return dw_cfg_arg_size(p, &args[0], d->name, &b->max_size);
    }
    /* request_body { max_size <size> } */
    if (argc_check(p, node, args, nargs, 0, 0, NULL) < 0) return -1;
    bool have = false;
    int rc = 0;
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *n = &node->children[i];
        if (!dw_cfg_ext_is(&n->name, "max_size")) {
            dw_cfg_err(p, &n->name, "unknown request_body option '%s' (expected max_size)",
                       dw_cfg_ext_name(p, n));
            rc = -1;
            continue;
        }
        if (dw_cfg_ext_node_argc(p, n, 1, 1, "a size", NULL) < 0 || dw_cfg_ext_no_block(p, n) < 0 ||
            dw_cfg_arg_size(p, &n->args[0], "max_size", &b->max_size) < 0) {
            rc = -1;
            continue;
        }
        have = true;
    }
    if (rc == 0 && !have) {
        dw_cfg_err(p, &node->name, "expected 'max_size <size>' in the 'request_body' block");
        return -1;
    }
    return rc;
}

void dw_cfg_json_body_limit(dw_json_t *j, const dw_cfg_directive_t *d)
{
    dw_json_kv_uint(j, "max_size", d->u.body_limit.max_size);
}

/* --- bind (spec 10 §3.2, §6.20) ----------------------------------------------------------------
 */

static int parse_bind_addr(dw_cfg_parser_t *p, const dw_cfg_token_t *t, dw_cfg_bind_addr_t *b)
{
    dw_str_t s = t->text, host = s, port = DW_STR_NULL;
    b->original = dw_cfg_str(p, t);
    b->loc = dw_cfg_tok_loc(t);
    if (dw_str_has_prefix(s, DW_STR("unix/"))) {
        dw_str_t path = dw_str_sub(s, 5, s.len); /* unix//abs.sock keeps its leading '/' */
        if (path.len == 0) return -1;
        b->kind = DW_CFG_BIND_UNIX;
        b->host = dw_cfg_resolve_path(p, path);
        return 0;
    }
    b->kind = DW_CFG_BIND_IP;
    if (s.len && s.ptr[0] == '[') {
        ptrdiff_t close = dw_str_chr(s, ']');
        if (close < 0) return -1;
        host = dw_str_sub(s, 1, (size_t)close - 1);
        dw_str_t rest = dw_str_sub(s, (size_t)close + 1, s.len);
        if (rest.len) {
            if (rest.ptr[0] != ':') return -1;
            port = dw_str_sub(rest, 1, rest.len);
        }
        if (!dw_cfg_is_ip_literal(host, AF_INET6)) return -1;
    } else if (!dw_cfg_is_ip_literal(s, AF_INET6)) {
        ptrdiff_t colon = dw_str_chr(s, ':');
        if (colon >= 0) {
            host = dw_str_sub(s, 0, (size_t)colon);
            port = dw_str_sub(s, (size_t)colon + 1, s.len);
            if (port.len == 0) return -1;
        }
        /* only IP literals: a host name would need resolving (decision 24), a CIDR is a range */
        if (host.len && !dw_cfg_is_ip_literal(host, AF_INET)) return -1;
        if (!host.len && !port.len) return -1;
    }
    if (port.ptr && dw_parse_port(port, &b->port) != DW_OK) return -1;
    b->host = dw_cfg_strdup(p, host);
    return 0;
}

int dw_cfg_parse_bind(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                      size_t nargs, dw_cfg_directive_t *d)
{
    dw_cfg_bind_t *b = &d->u.bind;
    if (argc_check(p, node, args, nargs, 1, SIZE_MAX, "a bind address") < 0 ||
        dw_cfg_ext_no_block(p, node) < 0)
        return -1;
    b->addrs = dw_arena_zalloc(p->arena, nargs * sizeof(*b->addrs));
    if (!b->addrs) return -1;
    int rc = 0;
    for (size_t i = 0; i < nargs; i++) {
        if (parse_bind_addr(p, &args[i], &b->addrs[b->naddrs]) == 0) {
            b->naddrs++;
            continue;
        }
        dw_cfg_err(p, &args[i],
                   "invalid bind address '%.*s' (expected an IP address, :port, ip:port, "
                   "[v6]:port, unix/<path> "
                   "or unix//<absolute path>)",
                   DW_STR_FMT(args[i].text));
        rc = -1;
    }
    return rc;
}

void dw_cfg_json_bind(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_bind_t *b = &d->u.bind;
    dw_json_key(j, "addresses");
    dw_json_arr_begin(j);
    for (size_t i = 0; i < b->naddrs; i++) {
        const dw_cfg_bind_addr_t *a = &b->addrs[i];
        dw_json_obj_begin(j);
        dw_json_kv_str(j, "address", a->original);
        if (a->kind == DW_CFG_BIND_UNIX) {
            dw_json_kv_cstr(j, "kind", "unix");
            dw_json_kv_str(j, "path", a->host);
        } else {
            dw_json_kv_cstr(j, "kind", "ip");
            dw_json_kv_str(j, "host", a->host);
            if (a->port) dw_json_kv_uint(j, "port", a->port);
        }
        dw_json_obj_end(j);
    }
    dw_json_arr_end(j);
}

/* --- log, log_append, log_name, skip_log (spec 30 §2.1, decision 14) -------------------------- */

static int parse_log_output(dw_cfg_parser_t *p, const dw_cfg_node_t *n, dw_cfg_log_t *l)
{
    static const char *const kinds[] = {"stdout", "stderr", "discard", "file", "unix"};
    static const char *const file_keys[] = {"max_size", "roll_size", "keep", "roll_keep", NULL};
    if (dw_cfg_ext_node_argc(p, n, 1, 2, "stdout, stderr, discard, file <path> or unix <path>",
                             NULL) < 0)
        return -1;
    size_t k = 0;
    while (k < DW_ARRAY_LEN(kinds) && !dw_cfg_ext_is(&n->args[0], kinds[k])) k++;
    if (k == DW_ARRAY_LEN(kinds)) {
        dw_cfg_err_enum(p, &n->args[0], "output", "stdout, stderr, discard, file, unix");
        return -1;
    }
    l->output = (uint8_t)k;
    bool needs_path = k == DW_CFG_LOG_FILE || k == DW_CFG_LOG_UNIX;
    if (!needs_path) {
        if (dw_cfg_ext_argc(p, &n->args[0], n->args + 1, n->nargs - 1, 0, 0, NULL, NULL) < 0 ||
            dw_cfg_ext_no_block(p, n) < 0)
            return -1;
        return 0;
    }
    if (dw_cfg_ext_argc(p, &n->args[0], n->args + 1, n->nargs - 1, 1, 1, "a path", NULL) < 0)
        return -1;
    l->path = dw_cfg_resolve_path(p, n->args[1].text);
    if (k == DW_CFG_LOG_UNIX) return dw_cfg_ext_no_block(p, n);
    int rc = 0;
    for (size_t i = 0; i < n->nchildren; i++) {
        const dw_cfg_node_t *c = &n->children[i];
        bool size = dw_cfg_ext_is(&c->name, "max_size") || dw_cfg_ext_is(&c->name, "roll_size");
        bool keep = dw_cfg_ext_is(&c->name, "keep") || dw_cfg_ext_is(&c->name, "roll_keep");
        if (!size && !keep) {
            dw_cfg_warn(p, &c->name, "unknown log file option '%s' skipped", dw_cfg_ext_name(p, c));
            continue;
        }
        if (dw_cfg_ext_node_argc(p, c, 1, 1, "a value", file_keys) < 0 ||
            dw_cfg_ext_no_block(p, c) < 0) {
            rc = -1;
            continue;
        }
        uint64_t v;
        if (size) {
            if (dw_cfg_arg_size(p, &c->args[0], "max_size", &v) == 0)
                l->max_size = v;
            else
                rc = -1;
        } else if (dw_cfg_arg_uint(p, &c->args[0], "keep", 0, 10000, &v) == 0) {
            l->keep = (uint32_t)v, l->has_keep = true;
        } else {
            rc = -1;
        }
    }
    return rc;
}

int dw_cfg_parse_log(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                     size_t nargs, dw_cfg_directive_t *d)
{
    static const char *const levels[] = {"INFO", "DEBUG", "WARN", "ERROR"};
    dw_cfg_log_t *l = &d->u.log;
    if (argc_check(p, node, args, nargs, 0, 0, NULL) < 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *n = &node->children[i];
        if (dw_cfg_ext_is(&n->name, "output")) {
            if (parse_log_output(p, n, l) < 0) rc = -1;
        } else if (dw_cfg_ext_is(&n->name, "format")) {
            if (dw_cfg_ext_node_argc(p, n, 1, 1, "json or console", NULL) < 0) {
                rc = -1;
                continue;
            }
            if (dw_cfg_ext_is(&n->args[0], "json"))
                l->format = DW_CFG_LOG_JSON;
            else if (dw_cfg_ext_is(&n->args[0], "console"))
                l->format = DW_CFG_LOG_CONSOLE;
            else {
                dw_cfg_err_enum(p, &n->args[0], "format", "json, console");
                rc = -1;
                continue;
            }
            if (n->has_block)
                dw_cfg_warn(p, &n->open, "format options are not supported and are skipped");
        } else if (dw_cfg_ext_is(&n->name, "level")) {
            if (dw_cfg_ext_node_argc(p, n, 1, 1, "a level", NULL) < 0 ||
                dw_cfg_ext_no_block(p, n) < 0) {
                rc = -1;
                continue;
            }
            size_t k = 0;
            while (k < DW_ARRAY_LEN(levels) && !dw_str_caseeq_c(n->args[0].text, levels[k])) k++;
            if (k == DW_ARRAY_LEN(levels) && dw_str_caseeq_c(n->args[0].text, "WARNING"))
                k = DW_CFG_LOG_LEVEL_WARN;
            if (k == DW_ARRAY_LEN(levels)) {
                dw_cfg_err_enum(p, &n->args[0], "level", "DEBUG, INFO, WARN, ERROR");
                rc = -1;
                continue;
            }
            l->level = (uint8_t)k;
        } else {
            /* forward compatible: unknown sub-directives are skipped (spec 30 §2.1) */
            dw_cfg_warn(p, &n->name, "unknown log option '%s' skipped", dw_cfg_ext_name(p, n));
        }
    }
    return rc;
}

void dw_cfg_json_log(dw_json_t *j, const dw_cfg_directive_t *d)
{
    static const char *const outputs[] = {"stdout", "stderr", "discard", "file", "unix"};
    static const char *const levels[] = {"INFO", "DEBUG", "WARN", "ERROR"};
    const dw_cfg_log_t *l = &d->u.log;
    dw_json_kv_cstr(j, "output", l->output < 5 ? outputs[l->output] : "?");
    if (l->path.ptr) dw_json_kv_str(j, "path", l->path);
    if (l->output == DW_CFG_LOG_FILE) {
        dw_json_kv_uint(j, "max_size", l->max_size);
        if (l->has_keep)
            dw_json_kv_uint(j, "keep", l->keep);
        else
            dw_json_kv_cstr(j, "keep", NULL);
    }
    dw_json_kv_cstr(j, "format", l->format == DW_CFG_LOG_CONSOLE ? "console" : "json");
    dw_json_kv_cstr(j, "level", l->level < 4 ? levels[l->level] : "?");
}

static const char *const standard_log_fields[] = {
    "timestamp",
    "request_id",
    "method",
    "path",
    "query",
    "host",
    "status",
    "response_time_us",
    "client_ip",
    "user_agent",
    "referer",
    "bytes_sent",
    "bytes_received",
    "tls_version",
    "http_version",
    "is_bot",
    "country",
    "upstream_addr",
    "upstream_response_time_us",
    "cache_status",
    "compression",
    "trace_id",
    "upstream_error_body",
    "rejected_by",
    "blocked_by",
};

static void add_log_field(dw_cfg_parser_t *p, dw_cfg_log_append_t *la, size_t *cap,
                          const dw_cfg_token_t *name, const dw_cfg_token_t *value)
{
    for (size_t i = 0; i < DW_ARRAY_LEN(standard_log_fields); i++) {
        if (dw_str_eq_c(name->text, standard_log_fields[i])) {
            dw_cfg_warn(p, name, "log_append field '%s' is a standard log field and is ignored",
                        standard_log_fields[i]);
            return;
        }
    }
    dw_cfg_note_template(p, value);
    dw_cfg_kv_t *slot = DW_ARENA_PUSH(p->arena, la->fields, la->nfields, *cap);
    if (!slot) return;
    slot->key = dw_cfg_str(p, name);
    slot->value = dw_cfg_str(p, value);
}

int dw_cfg_parse_log_append(dw_cfg_parser_t *p, const dw_cfg_node_t *node,
                            const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{
    dw_cfg_log_append_t *la = &d->u.log_append;
    size_t cap = 0;
    if (nargs || !node->has_block) {
        if (argc_check(p, node, args, nargs, 2, 2,
                       nargs ? "a value" : "'<field> <value>' or a block") < 0 ||
            dw_cfg_ext_no_block(p, node) < 0)
            return -1;
        add_log_field(p, la, &cap, &args[0], &args[1]);
        return 0;
    }
    int rc = 0;
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *n = &node->children[i];
        if (dw_cfg_ext_node_argc(p, n, 1, 1, "a value", NULL) < 0 ||
            dw_cfg_ext_no_block(p, n) < 0) {
            rc = -1;
            continue;
        }
        add_log_field(p, la, &cap, &n->name, &n->args[0]);
    }
    return rc;
}

void dw_cfg_json_log_append(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_log_append_t *la = &d->u.log_append;
    dw_json_key(j, "fields");
    dw_json_arr_begin(j);
    for (size_t i = 0; i < la->nfields; i++) {
        dw_json_obj_begin(j);
        dw_json_kv_str(j, "name", la->fields[i].key);
        dw_json_kv_str(j, "value", la->fields[i].value);
        dw_json_obj_end(j);
    }
    dw_json_arr_end(j);
}

int dw_cfg_parse_log_name(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                          size_t nargs, dw_cfg_directive_t *d)
{
    if (argc_check(p, node, args, nargs, 1, 1, "a logger name") < 0 ||
        dw_cfg_ext_no_block(p, node) < 0)
        return -1;
    d->u.log_name.name = dw_cfg_str(p, &args[0]);
    return 0;
}

void dw_cfg_json_log_name(dw_json_t *j, const dw_cfg_directive_t *d)
{
    dw_json_kv_str(j, "name", d->u.log_name.name);
}

int dw_cfg_parse_skip_log(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                          size_t nargs, dw_cfg_directive_t *d)
{
    (void)d;
    if (argc_check(p, node, args, nargs, 0, 0, NULL) < 0 || dw_cfg_ext_no_block(p, node) < 0)
        return -1;
    return 0;
}

void dw_cfg_json_skip_log(dw_json_t *j, const dw_cfg_directive_t *d)
{
    (void)j, (void)d; /* the matcher is all there is */
}

/* --- metrics (spec 30 §4) ----------------------------------------------------------------------
 */

int dw_cfg_parse_metrics(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                         size_t nargs, dw_cfg_directive_t *d)
{
    if (argc_check(p, node, args, nargs, 0, 0, NULL) < 0) return -1;
    for (size_t i = 0; i < node->nchildren; i++)
        if (!dw_cfg_ext_is(&node->children[i].name, "disable_openmetrics"))
            dw_cfg_warn(p, &node->children[i].name, "unknown metrics option '%s' ignored",
                        dw_cfg_ext_name(p, &node->children[i]));
    if (d->match.kind == DW_MATCH_NONE) {
        d->match.kind = DW_MATCH_PATH;
        d->match.text = DW_STR("/metrics");
        d->u.metrics.default_path = true;
    }
    return 0;
}

void dw_cfg_json_metrics(dw_json_t *j, const dw_cfg_directive_t *d)
{
    dw_json_kv_bool(j, "default_path", d->u.metrics.default_path);
}

/* --- analytics (spec 30 §3, decision 3), under_attack (spec 20 §2.8, decision 1) ----------------
 */

int dw_cfg_parse_analytics(dw_cfg_parser_t *p, const dw_cfg_node_t *node,
                           const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{
    dw_cfg_analytics_t *a = &d->u.analytics;
    a->enabled = true;
    if (argc_check(p, node, args, nargs, 0, 1, NULL) < 0) return -1;
    if (nargs == 1) {
        if (dw_cfg_ext_is(&args[0], "off"))
            a->enabled = false;
        else if (!dw_cfg_ext_is(&args[0], "on")) {
            dw_cfg_err_enum(p, &args[0], "analytics", "on, off, or a block with respect_consent");
            return -1;
        }
    }
    if (!node->has_block) return 0;
    if (!a->enabled) {
        dw_cfg_err(p, &node->open, "'analytics off' does not take a block");
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *n = &node->children[i];
        bool v;
        if (!dw_cfg_ext_is(&n->name, "respect_consent")) {
            dw_cfg_err(p, &n->name, "unknown analytics option '%s' (expected respect_consent)",
                       dw_cfg_ext_name(p, n));
            rc = -1;
        } else if (dw_cfg_ext_node_argc(p, n, 1, 1, "true or false", NULL) < 0 ||
                   dw_cfg_ext_no_block(p, n) < 0 ||
                   dw_cfg_arg_bool(p, &n->args[0], "respect_consent", &v) < 0) {
            rc = -1;
        } else {
            a->respect_consent = v;
        }
    }
    return rc;
}

void dw_cfg_json_analytics(dw_json_t *j, const dw_cfg_directive_t *d)
{
    dw_json_kv_bool(j, "enabled", d->u.analytics.enabled);
    dw_json_kv_bool(j, "respect_consent", d->u.analytics.respect_consent);
}

int dw_cfg_parse_under_attack(dw_cfg_parser_t *p, const dw_cfg_node_t *node,
                              const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{
    if (argc_check(p, node, args, nargs, 0, 1, NULL) < 0 || dw_cfg_ext_no_block(p, node) < 0)
        return -1;
    d->u.under_attack.enabled = true;
    if (nargs == 0 || dw_cfg_ext_is(&args[0], "on")) return 0;
    if (dw_cfg_ext_is(&args[0], "off")) {
        d->u.under_attack.enabled = false;
        return 0;
    }
    dw_cfg_err_enum(p, &args[0], "under_attack", "on, off");
    return -1;
}

void dw_cfg_json_under_attack(dw_json_t *j, const dw_cfg_directive_t *d)
{
    dw_json_kv_bool(j, "enabled", d->u.under_attack.enabled);
}

/* --- intercept (spec 10 §6.20) -----------------------------------------------------------------
 */

static int parse_status_match(dw_str_t t, dw_cfg_status_match_t *out)
{
    uint64_t v;
    if (t.len == 3 && t.ptr[0] >= '1' && t.ptr[0] <= '5' && (t.ptr[1] | 32) == 'x' &&
        (t.ptr[2] | 32) == 'x') {
        out->code = (uint16_t)((t.ptr[0] - '0') * 100);
        out->is_class = true;
        return 0;
    }
    if (dw_parse_u64(t, &v) != DW_OK || v < 100 || v > 599) return -1;
    out->code = (uint16_t)v;
    return 0;
}

static bool is_status(dw_str_t t, uint16_t *code)
{
    uint64_t v;
    if (t.len != 3 || dw_parse_u64(t, &v) != DW_OK || v < 100 || v > 599) return false;
    *code = (uint16_t)v;
    return true;
}

/* Inner `header` lines use the operations of the `header` directive (spec 10 §6.15). */
static int intercept_header(dw_cfg_parser_t *p, const dw_cfg_node_t *n, dw_cfg_intercept_t *ic,
                            size_t *cap)
{
    if (n->has_block) {
        if (dw_cfg_ext_node_argc(p, n, 0, 0, NULL, NULL) < 0) return -1;
        int rc = 0;
        for (size_t i = 0; i < n->nchildren; i++) {
            const dw_cfg_node_t *c = &n->children[i];
            if (dw_cfg_ext_no_block(p, c) < 0 ||
                dw_cfg_route_header_op(p, "header", &c->name, c->args, c->nargs, &ic->headers,
                                       cap) < 0)
                rc = -1;
        }
        return rc;
    }
    if (n->nargs == 0) {
        dw_cfg_err(p, &n->name, "expected header name");
        return -1;
    }
    return dw_cfg_route_header_op(p, "header", &n->args[0], n->args + 1, n->nargs - 1, &ic->headers,
                                  cap);
}

int dw_cfg_parse_intercept(dw_cfg_parser_t *p, const dw_cfg_node_t *node,
                           const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{
    dw_cfg_intercept_t *ic = &d->u.intercept;
    int rc = 0;
    if (nargs) {
        ic->statuses = dw_arena_zalloc(p->arena, nargs * sizeof(*ic->statuses));
        if (!ic->statuses) return -1;
    }
    for (size_t i = 0; i < nargs; i++) {
        if (parse_status_match(args[i].text, &ic->statuses[ic->nstatuses]) == 0) {
            ic->nstatuses++;
            continue;
        }
        dw_cfg_err(p, &args[i],
                   "invalid status for 'intercept': '%.*s' (expected 100-599, 4xx or 5xx)",
                   DW_STR_FMT(args[i].text));
        rc = -1;
    }
    if (dw_cfg_ext_need_block(p, node) < 0) return -1;
    size_t hcap = 0;
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *n = &node->children[i];
        if (dw_cfg_ext_is(&n->name, "respond")) {
            if (ic->has_respond) {
                dw_cfg_err(p, &n->name, "duplicate 'respond' in 'intercept'");
                rc = -1;
                continue;
            }
            if (dw_cfg_ext_node_argc(p, n, 1, 2, "a body or a status", NULL) < 0 ||
                dw_cfg_ext_no_block(p, n) < 0) {
                rc = -1;
                continue;
            }
            const dw_cfg_token_t *body = NULL, *status = NULL;
            if (n->nargs == 2)
                body = &n->args[0], status = &n->args[1];
            else if (n->args[0].kind == DW_TOK_WORD &&
                     is_status(n->args[0].text, &ic->respond_status))
                status = &n->args[0];
            else
                body = &n->args[0];
            if (status && !is_status(status->text, &ic->respond_status)) {
                dw_cfg_err(p, status, "invalid status for 'respond': '%.*s' (expected 100-599)",
                           DW_STR_FMT(status->text));
                rc = -1;
                continue;
            }
            if (body) {
                ic->respond_body = dw_cfg_str(p, body);
                ic->has_respond_body = true;
                dw_cfg_note_template(p, body);
            }
            ic->has_respond = true;
        } else if (dw_cfg_ext_is(&n->name, "header")) {
            if (intercept_header(p, n, ic, &hcap) < 0) rc = -1;
        } else {
            dw_cfg_err(p, &n->name,
                       "unknown intercept subdirective '%s' (expected respond or header)",
                       dw_cfg_ext_name(p, n));
            rc = -1;
        }
    }
    if (rc == 0 && !ic->has_respond && ic->headers.n == 0)
        dw_cfg_warn(p, &node->name, "'intercept' without 'respond' or 'header' has no effect");
    return rc;
}

void dw_cfg_json_intercept(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_intercept_t *ic = &d->u.intercept;
    dw_json_key(j, "statuses");
    dw_json_arr_begin(j);
    for (size_t i = 0; i < ic->nstatuses; i++) {
        if (ic->statuses[i].is_class) {
            char s[4] = {(char)('0' + ic->statuses[i].code / 100), 'x', 'x', 0};
            dw_json_cstr(j, s);
        } else {
            dw_json_uint(j, ic->statuses[i].code);
        }
    }
    dw_json_arr_end(j);
    dw_json_key(j, "respond");
    if (ic->has_respond) {
        dw_json_obj_begin(j);
        if (ic->respond_status) dw_json_kv_uint(j, "status", ic->respond_status);
        if (ic->has_respond_body) dw_json_kv_str(j, "body", ic->respond_body);
        dw_json_obj_end(j);
    } else {
        dw_json_null(j);
    }
    dw_cfg_route_json_header_ops(j, "headers", ic->headers);
}

/* --- copy_response_headers
 * ------------------------------------------------------------------------ */

static int copy_header_name(dw_cfg_parser_t *p, const dw_cfg_token_t *t, bool exclude_kw,
                            dw_cfg_copy_headers_t *ch, size_t *icap, size_t *ecap)
{
    dw_str_t n = t->text;
    bool exclude = exclude_kw;
    if (n.len && n.ptr[0] == '-') exclude = true, n = dw_str_sub(n, 1, n.len);
    if (!valid_header_name(n)) {
        dw_cfg_err(p, t, "invalid header name '%.*s'", DW_STR_FMT(t->text));
        return -1;
    }
    if (exclude)
        dw_cfg_ext_push_str(p, &ch->exclude, ecap, n);
    else
        dw_cfg_ext_push_str(p, &ch->include, icap, n);
    return 0;
}

int dw_cfg_parse_copy_response_headers(dw_cfg_parser_t *p, const dw_cfg_node_t *node,
                                       const dw_cfg_token_t *args, size_t nargs,
                                       dw_cfg_directive_t *d)
{
    dw_cfg_copy_headers_t *ch = &d->u.copy_headers;
    if (argc_check(p, node, args, nargs, 0, 0, NULL) < 0 || dw_cfg_ext_need_block(p, node) < 0)
        return -1;
    size_t icap = 0, ecap = 0;
    int rc = 0;
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *n = &node->children[i];
        if (dw_cfg_ext_no_block(p, n) < 0) {
            rc = -1;
            continue;
        }
        /* Caddy's `include <names…>` / `exclude <names…>`, or bare names with '-' for exclude */
        bool inc = dw_cfg_ext_is(&n->name, "include"), exc = dw_cfg_ext_is(&n->name, "exclude");
        if (inc || exc) {
            if (dw_cfg_ext_node_argc(p, n, 1, SIZE_MAX, "a header name", NULL) < 0) rc = -1;
        } else if (copy_header_name(p, &n->name, false, ch, &icap, &ecap) < 0) {
            rc = -1;
        }
        for (size_t a = 0; a < n->nargs; a++)
            if (copy_header_name(p, &n->args[a], exc, ch, &icap, &ecap) < 0) rc = -1;
    }
    if (rc < 0) return -1;
    if (ch->include.n && ch->exclude.n) {
        dw_cfg_err(
            p, &node->name,
            "'copy_response_headers' cannot mix included names and excluded ('-Name') names");
        return -1;
    }
    if (!ch->include.n && !ch->exclude.n) {
        dw_cfg_err(p, &node->name, "expected at least one header name in 'copy_response_headers'");
        return -1;
    }
    return 0;
}

void dw_cfg_json_copy_response_headers(dw_json_t *j, const dw_cfg_directive_t *d)
{
    dw_cfg_json_strs(j, "include", d->u.copy_headers.include);
    dw_cfg_json_strs(j, "exclude", d->u.copy_headers.exclude);
}

/* --- recognised, no effect
 * ------------------------------------------------------------------------ */

int dw_cfg_parse_noop(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                      size_t nargs, dw_cfg_directive_t *d)
{
    (void)args, (void)nargs;
    dw_cfg_warn(p, &node->name, "'%s': directive parsed but not yet implemented", d->name);
    return 0;
}

void dw_cfg_json_noop(dw_json_t *j, const dw_cfg_directive_t *d)
{
    (void)j, (void)d;
}

/* --- per-site checks ----------------------------------------------------------------------------
 */

void dw_cfg_site_check_ext(dw_cfg_parser_t *p, dw_cfg_site_t *site)
{
    const dw_cfg_directive_t *tls = NULL, *cert = NULL, *key = NULL;
    for (size_t i = 0; i < site->block.ndirs; i++) {
        const dw_cfg_directive_t *d = &site->block.dirs[i];
        const dw_cfg_directive_t **slot = d->kind == DW_DIR_TLS        ? &tls
                                          : d->kind == DW_DIR_TLS_CERT ? &cert
                                          : d->kind == DW_DIR_TLS_KEY  ? &key
                                                                       : NULL;
        if (!slot) continue;
        if (*slot)
            dw_cfg_err_at(p, d->loc, "duplicate '%s' directive (the first is at line %u)", d->name,
                          (*slot)->loc.line);
        else
            *slot = d;
    }
    if (tls && tls->u.tls.kind == DW_CFG_TLS_FILES) {
        site->tls_cert = tls->u.tls.cert;
        site->tls_key = tls->u.tls.key;
    }
    if (tls && tls->u.tls.kind == DW_CFG_TLS_MANUAL) {
        if (!cert || !key) {
            dw_cfg_err_at(p, tls->loc,
                          "'tls manual' requires both 'tls_cert' and 'tls_key' (missing %s)",
                          !cert && !key ? "both"
                          : !cert       ? "'tls_cert'"
                                        : "'tls_key'");
            return;
        }
        site->tls_cert = cert->u.path_arg.path;
        site->tls_key = key->u.path_arg.path;
        return;
    }
    if (cert) dw_cfg_warn_at(p, cert->loc, "'tls_cert' has no effect without 'tls manual'");
    if (key) dw_cfg_warn_at(p, key->loc, "'tls_key' has no effect without 'tls manual'");
}
