/* The parser core: diagnostics and value helpers for directive parsers, directive blocks with
 * their named matchers and scopes, and the handle family (spec 10 §1.5, §4, §5, §6.10,
 * §6.14). */
#include "directives_int.h"
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* --- diagnostics ------------------------------------------------------------------------ */

DW_PRINTF(4, 0)
static void vreport(dw_cfg_parser_t *p, dw_severity_t sev, dw_cfg_loc_t loc, const char *fmt,
                    va_list ap)
{
    dw_diags_vadd(p->diags, sev, loc.file, loc.line, loc.col, fmt, ap);
}

void dw_cfg_err(dw_cfg_parser_t *p, const dw_cfg_token_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(p, DW_SEV_ERROR, at ? dw_cfg_tok_loc(at) : (dw_cfg_loc_t){0}, fmt, ap);
    va_end(ap);
}

void dw_cfg_warn(dw_cfg_parser_t *p, const dw_cfg_token_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(p, DW_SEV_WARNING, at ? dw_cfg_tok_loc(at) : (dw_cfg_loc_t){0}, fmt, ap);
    va_end(ap);
}

void dw_cfg_err_at(dw_cfg_parser_t *p, dw_cfg_loc_t loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(p, DW_SEV_ERROR, loc, fmt, ap);
    va_end(ap);
}

void dw_cfg_warn_at(dw_cfg_parser_t *p, dw_cfg_loc_t loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(p, DW_SEV_WARNING, loc, fmt, ap);
    va_end(ap);
}

void dw_cfg_err_enum(dw_cfg_parser_t *p, const dw_cfg_token_t *at, const char *directive,
                     const char *allowed)
{
    dw_cfg_err(p, at, "invalid value for '%s': '%.*s' (expected one of: %s)", directive,
               DW_STR_FMT(at->text), allowed);
}

/* --- values ------------------------------------------------------------------------------ */

dw_str_t dw_cfg_strdup(dw_cfg_parser_t *p, dw_str_t s)
{
    return dw_arena_str_dup(p->arena, s);
}
dw_str_t dw_cfg_str(dw_cfg_parser_t *p, const dw_cfg_token_t *t)
{
    return dw_cfg_strdup(p, t->text);
}

const char *dw_cfg_tok_str(dw_cfg_parser_t *p, const dw_cfg_token_t *t)
{
    char buf[128];
    const char *s = dw_cfg_tok_describe(t, buf, sizeof(buf));
    return dw_arena_strdup(&p->scratch, s);
}

int dw_cfg_arg_duration(dw_cfg_parser_t *p, const dw_cfg_token_t *t, const char *directive,
                        const char *hint, uint64_t *ms)
{
    int rc = dw_parse_duration_ms(t->text, ms);
    if (rc == DW_OK) return 0;
    if (rc == DW_ERANGE)
        dw_cfg_err(p, t, "invalid value for '%s': duration '%.*s' is too large", directive,
                   DW_STR_FMT(t->text));
    else
        dw_cfg_err(p, t, "invalid value for '%s': '%.*s' is not a valid duration\n    expected: %s",
                   directive, DW_STR_FMT(t->text), hint ? hint : "duration, e.g., 30s or 2m");
    return -1;
}

int dw_cfg_arg_size(dw_cfg_parser_t *p, const dw_cfg_token_t *t, const char *directive,
                    uint64_t *bytes)
{
    int rc = dw_parse_size(t->text, bytes);
    if (rc == DW_OK) return 0;
    if (rc == DW_ERANGE)
        dw_cfg_err(p, t, "invalid value for '%s': size '%.*s' is too large", directive,
                   DW_STR_FMT(t->text));
    else
        dw_cfg_err(p, t,
                   "invalid value for '%s': '%.*s' is not a valid size\n    expected: size, e.g., "
                   "512k, 10MB or 1GiB",
                   directive, DW_STR_FMT(t->text));
    return -1;
}

int dw_cfg_arg_bool(dw_cfg_parser_t *p, const dw_cfg_token_t *t, const char *directive, bool *out)
{
    if (dw_parse_bool(t->text, out) == DW_OK) return 0;
    dw_cfg_err_enum(p, t, directive, "true, false, on, off, yes, no, 1, 0");
    return -1;
}

int dw_cfg_arg_uint(dw_cfg_parser_t *p, const dw_cfg_token_t *t, const char *directive,
                    uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v;
    if (dw_parse_u64(t->text, &v) != DW_OK || v < min || v > max) {
        dw_cfg_err(p, t, "invalid value for '%s': '%.*s' is not an integer in %llu-%llu", directive,
                   DW_STR_FMT(t->text), (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

int dw_cfg_parse_cidr(dw_str_t text, dw_cfg_cidr_t *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    memset(out, 0, sizeof(*out));
    ptrdiff_t slash = dw_str_chr(text, '/');
    dw_str_t ip = slash >= 0 ? dw_str_sub(text, 0, (size_t)slash) : text;
    if (ip.len >= 2 && ip.ptr[0] == '[' && ip.ptr[ip.len - 1] == ']')
        ip = dw_str_sub(ip, 1, ip.len - 2);
    if (ip.len == 0 || ip.len >= sizeof(buf)) return -1;
    memcpy(buf, ip.ptr, ip.len);
    buf[ip.len] = '\0';
    unsigned max;
    if (inet_pton(AF_INET, buf, out->addr) == 1)
        out->family = 4, max = 32;
    else if (inet_pton(AF_INET6, buf, out->addr) == 1)
        out->family = 6, max = 128;
    else
        return -1;
    uint64_t prefix = max;
    if (slash >= 0 &&
        (dw_parse_u64(dw_str_sub(text, (size_t)slash + 1, text.len), &prefix) != DW_OK ||
         prefix > max))
        return -1;
    out->prefix = (uint8_t)prefix;
    return 0;
}

bool dw_cfg_is_ip_literal(dw_str_t h, int af)
{
    char buf[INET6_ADDRSTRLEN];
    unsigned char bin[16];
    if (h.len == 0 || h.len >= sizeof(buf)) return false;
    memcpy(buf, h.ptr, h.len);
    buf[h.len] = '\0';
    return inet_pton(af, buf, bin) == 1;
}

bool dw_cfg_valid_dns_name(dw_str_t h)
{
    if (h.len == 0 || h.len > 253) return false;
    size_t label = 0;
    for (size_t i = 0; i < h.len; i++) {
        char c = h.ptr[i];
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
            continue;
        }
        if (!dw_ascii_isalnum(c) && c != '-' && c != '_') return false;
        if (++label > 63) return false;
    }
    return label > 0;
}

dw_str_t dw_cfg_resolve_path(dw_cfg_parser_t *p, dw_str_t path)
{
    if ((path.len && path.ptr[0] == '/') || !p->cfg->base_dir) return dw_cfg_strdup(p, path);
    char *s = dw_arena_sprintf(p->arena, "%s/%.*s", p->cfg->base_dir, DW_STR_FMT(path));
    return s ? dw_str_c(s) : DW_STR_NULL;
}

int dw_cfg_check_readable(dw_cfg_parser_t *p, const dw_cfg_token_t *at, dw_str_t path,
                          const char *what)
{
    if (!p->opts || !p->opts->check_files) return 0;
    const char *c = dw_arena_strndup(&p->scratch, path.ptr, path.len);
    if (c && access(c, R_OK) == 0) return 0;
    dw_cfg_err(p, at, "%s file '%s' is not readable: %s", what, c ? c : "", strerror(errno));
    return -1;
}

int dw_cfg_check_regex(dw_cfg_parser_t *p, const dw_cfg_token_t *at, dw_str_t re, bool caseless)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *c =
        pcre2_compile((PCRE2_SPTR)re.ptr, re.len, caseless ? PCRE2_CASELESS : 0, &code, &off, NULL);
    if (c) {
        pcre2_code_free(c);
        return 0;
    }
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof(msg));
    dw_cfg_err(p, at, "invalid regular expression '%.*s': %s at offset %zu", DW_STR_FMT(re),
               (const char *)msg, (size_t)off);
    return -1;
}

/* --- matchers ------------------------------------------------------------------------------ */

bool dw_cfg_is_matcher_token(const dw_cfg_token_t *t)
{
    if (t->kind != DW_TOK_WORD || t->text.len == 0) return false;
    char c = t->text.ptr[0];
    return dw_str_eq_c(t->text, "*") || c == '/' || (c == '@' && t->text.len > 1);
}

const dw_cfg_matcher_t *dw_cfg_find_matcher(dw_cfg_parser_t *p, const dw_cfg_token_t *at,
                                            dw_str_t name)
{
    for (dw_cfg_scope_t *s = p->scope; s; s = s->parent)
        for (size_t i = 0; i < s->block->nmatchers; i++)
            if (dw_str_eq(s->block->matchers[i].name, name)) return &s->block->matchers[i];
    dw_cfg_err(p, at, "matcher '@%.*s' is not defined", DW_STR_FMT(name));
    return NULL;
}

size_t dw_cfg_take_matcher(dw_cfg_parser_t *p, const dw_cfg_token_t *args, size_t nargs,
                           size_t min_rest, dw_cfg_match_ref_t *out)
{
    memset(out, 0, sizeof(*out));
    if (nargs == 0 || !dw_cfg_is_matcher_token(&args[0]) || nargs - 1 < min_rest) return 0;
    dw_str_t t = args[0].text;
    if (dw_str_eq_c(t, "*")) {
        out->kind = DW_MATCH_ALL;
    } else if (t.ptr[0] == '@') {
        out->kind = DW_MATCH_NAMED;
        out->text = dw_cfg_strdup(p, dw_str_sub(t, 1, t.len));
        out->def = dw_cfg_find_matcher(p, &args[0], out->text);
    } else {
        out->kind = DW_MATCH_PATH;
        out->text = dw_cfg_strdup(p, t);
    }
    return 1;
}

static bool valid_matcher_name(dw_str_t n)
{
    if (n.len == 0) return false;
    for (size_t i = 0; i < n.len; i++)
        if (!dw_ascii_isalnum(n.ptr[i]) && n.ptr[i] != '_' && n.ptr[i] != '-') return false;
    return true;
}

static void parse_matcher_def(dw_cfg_parser_t *p, const dw_cfg_node_t *node, dw_cfg_block_t *b,
                              size_t *cap)
{
    dw_str_t name = dw_str_sub(node->name.text, 1, node->name.text.len);
    if (!valid_matcher_name(name)) {
        dw_cfg_err(p, &node->name,
                   "invalid matcher name '%.*s' (allowed: letters, digits, '_' and '-')",
                   DW_STR_FMT(node->name.text));
        return;
    }
    for (size_t i = 0; i < b->nmatchers; i++) {
        if (dw_str_eq(b->matchers[i].name, name)) {
            dw_cfg_err(p, &node->name, "matcher '@%.*s' is already defined", DW_STR_FMT(name));
            return;
        }
    }
    dw_cfg_matcher_t *m = DW_ARENA_PUSH(p->arena, b->matchers, b->nmatchers, *cap);
    if (!m) return;
    m->name = dw_cfg_strdup(p, name);
    m->loc = dw_cfg_tok_loc(&node->name);
    size_t ccap = 0;
    if (node->nargs > 0) {
        /* inline: `@name <condition> <args> [{...}]` is one condition line */
        dw_cfg_node_t line = dw_cfg_node_shift(node);
        dw_cfg_cond_t *c = DW_ARENA_PUSH(p->arena, m->conds, m->nconds, ccap);
        if (c && dw_cfg_parse_cond(p, &line, c) < 0) m->nconds--;
    } else if (node->has_block) {
        for (size_t i = 0; i < node->nchildren; i++) {
            dw_cfg_cond_t *c = DW_ARENA_PUSH(p->arena, m->conds, m->nconds, ccap);
            if (c && dw_cfg_parse_cond(p, &node->children[i], c) < 0) m->nconds--;
        }
    } else {
        dw_cfg_err(p, &node->name,
                   "matcher '@%.*s' needs a condition (e.g. 'path /api/*') or a block",
                   DW_STR_FMT(name));
    }
}

/* --- directives ---------------------------------------------------------------------------- */

static const char *const known_subdirectives[] = {
    "to",
    "lb_policy",
    "health_uri",
    "health_interval",
    "fail_duration",
    "max_conns",
    "lb_retries",
    "lb_try_duration",
    "transport",
    "header_up",
    "header_down",
    "scale_to_zero",
    "browse",
    "fallback",
    "index",
    "path",
    "path_regexp",
    "host",
    "method",
    "header_regexp",
    "query",
    "protocol",
    "remote_ip",
    "client_ip",
    "not",
    "expression",
    "file",
    "http_port",
    "https_port",
    "email",
    "debug",
    "auto_https",
    "drain_timeout",
    "drain_timeout_secs",
    "timeouts",
    "servers",
    "layer4",
    "auto_update",
};

static const char *const global_option_names[] = {
    "http_port",    "https_port",  "email", "auto_https", "drain_timeout", "drain_timeout_secs",
    "servers",      "auto_update", "debug", "timeouts",   "layer4",        "admin",
    "grace_period", "storage",     "order",
};

static void unknown_directive(dw_cfg_parser_t *p, const dw_cfg_token_t *t)
{
    for (size_t i = 0; i < DW_ARRAY_LEN(global_option_names); i++) {
        if (dw_str_eq_c(t->text, global_option_names[i])) {
            dw_cfg_err(p, t,
                       "'%s' is a global option, not a directive: put it in the global options "
                       "block ('{ ... }' at the top of the file)",
                       global_option_names[i]);
            return;
        }
    }
    const char *best = NULL;
    size_t bestd = 3;
    for (size_t i = 0; i < dw_cfg_ndirectives; i++) {
        size_t d = dw_str_edit_distance(t->text, dw_str_c(dw_cfg_directives[i].name), 2);
        if (d < bestd) bestd = d, best = dw_cfg_directives[i].name;
    }
    for (size_t i = 0; i < DW_ARRAY_LEN(known_subdirectives); i++) {
        size_t d = dw_str_edit_distance(t->text, dw_str_c(known_subdirectives[i]), 2);
        if (d > 0 && d < bestd) bestd = d, best = known_subdirectives[i];
    }
    if (best)
        dw_cfg_err(p, t, "unknown directive '%.*s' \xe2\x80\x94 did you mean '%s'?",
                   DW_STR_FMT(t->text), best);
    else
        dw_cfg_err(p, t, "unknown directive '%.*s'", DW_STR_FMT(t->text));
}

static void parse_directive(dw_cfg_parser_t *p, const dw_cfg_node_t *node, dw_cfg_block_t *b,
                            size_t *cap)
{
    const dw_cfg_dir_def_t *def =
        node->name.kind == DW_TOK_WORD ? dw_cfg_dir_lookup(node->name.text) : NULL;
    if (!def) {
        unknown_directive(p, &node->name);
        return;
    }
    if ((def->flags & DW_DIRF_SITE_ONLY) && p->scope->kind != DW_SCOPE_SITE) {
        dw_cfg_err(p, &node->name, "directive '%s' is only allowed at site level", def->name);
        return;
    }
    dw_cfg_directive_t *d = DW_ARENA_PUSH(p->arena, b->dirs, b->ndirs, *cap);
    if (!d) return;
    d->kind = def->kind;
    d->rank = def->rank;
    d->terminal = (def->flags & DW_DIRF_TERMINAL) != 0;
    d->name = def->name;
    d->loc = dw_cfg_tok_loc(&node->name);
    const dw_cfg_token_t *args = node->args;
    size_t nargs = node->nargs;
    if (def->flags & DW_DIRF_MATCHER) {
        size_t min = (def->flags & DW_DIRF_INLINE_MIN) && node->has_block ? 0 : def->matcher_min;
        size_t used = dw_cfg_take_matcher(p, args, nargs, min, &d->match);
        args += used, nargs -= used;
    }
    size_t errs = p->diags->nerrors;
    if (def->parse(p, node, args, nargs, d) < 0 || p->diags->nerrors != errs) b->ndirs--;
}

dw_cfg_block_t *dw_cfg_parse_block(dw_cfg_parser_t *p, const dw_cfg_node_t *node, int scope_kind)
{
    dw_cfg_block_t *b = dw_arena_zalloc(p->arena, sizeof(*b));
    if (!b) return NULL;
    dw_cfg_scope_t scope = {.parent = p->scope, .block = b, .kind = (uint8_t)scope_kind};
    p->scope = &scope;
    /* The block's lines are known: size both arrays once instead of growing them (a 10,000-site
     * config otherwise leaves megabytes of outgrown copies in the model's arena). */
    size_t nmatch = 0;
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *c = &node->children[i];
        if (c->name.kind == DW_TOK_WORD && c->name.text.len && c->name.text.ptr[0] == '@') nmatch++;
    }
    size_t mcap = nmatch, dcap = node->nchildren - nmatch;
    if (mcap) b->matchers = dw_arena_alloc(p->arena, mcap * sizeof(*b->matchers));
    if (dcap) b->dirs = dw_arena_alloc(p->arena, dcap * sizeof(*b->dirs));
    if ((mcap && !b->matchers) || (dcap && !b->dirs))
        mcap = dcap = 0, b->matchers = NULL, b->dirs = NULL;
    /* Matchers first: a definition is visible in its whole block, also above its line. */
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *c = &node->children[i];
        if (c->name.kind == DW_TOK_WORD && c->name.text.len && c->name.text.ptr[0] == '@')
            parse_matcher_def(p, c, b, &mcap);
    }
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *c = &node->children[i];
        if (c->name.kind == DW_TOK_WORD && c->name.text.len && c->name.text.ptr[0] == '@') continue;
        parse_directive(p, c, b, &dcap);
    }
    p->scope = scope.parent;
    return b;
}

/* --- the handle family --------------------------------------------------------------------- */

int dw_cfg_parse_handle(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                        size_t nargs, dw_cfg_directive_t *d)
{
    const char *name = d->name;
    if (d->kind == DW_DIR_HANDLE_PATH) {
        if (nargs == 0 || args[0].kind != DW_TOK_WORD || args[0].text.ptr[0] != '/') {
            dw_cfg_err(p, nargs ? &args[0] : &node->name,
                       "handle_path requires a path prefix pattern");
            return -1;
        }
        d->match.kind = DW_MATCH_PATH;
        d->match.text = dw_cfg_str(p, &args[0]);
        /* the literal prefix: text before a trailing '*', minus a trailing '/' */
        dw_str_t pre = args[0].text;
        if (pre.len && pre.ptr[pre.len - 1] == '*') pre.len--;
        if (pre.len && pre.ptr[pre.len - 1] == '/') pre.len--;
        d->u.handle.strip_prefix = dw_cfg_strdup(p, pre);
        args++, nargs--;
    } else {
        size_t used = dw_cfg_take_matcher(p, args, nargs, 0, &d->match);
        if (used == 0 && nargs > 0) {
            dw_cfg_err(p, &args[0], "expected a path pattern or @matcher after '%s', got %s", name,
                       dw_cfg_tok_str(p, &args[0]));
            return -1;
        }
        args += used, nargs -= used;
    }
    if (nargs > 0) {
        dw_cfg_err(p, &args[0], "unexpected argument %s to '%s'", dw_cfg_tok_str(p, &args[0]),
                   name);
        return -1;
    }
    if (!node->has_block) {
        dw_cfg_err(p, &node->name, "expected '{' to open the '%s' block", name);
        return -1;
    }
    d->u.handle.block =
        dw_cfg_parse_block(p, node, d->kind == DW_DIR_ROUTE ? DW_SCOPE_ROUTE : DW_SCOPE_HANDLE);
    return d->u.handle.block ? 0 : -1;
}

int dw_cfg_parse_handle_errors(dw_cfg_parser_t *p, const dw_cfg_node_t *node,
                               const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; i < nargs; i++) {
        dw_str_t t = args[i].text;
        struct dw_cfg_status_filter f = {0};
        uint64_t v;
        if (t.len == 3 && (t.ptr[0] == '4' || t.ptr[0] == '5') && (t.ptr[1] | 32) == 'x' &&
            (t.ptr[2] | 32) == 'x') {
            f.code = (uint16_t)((t.ptr[0] - '0') * 100);
            f.is_class = true;
        } else if (dw_parse_u64(t, &v) == DW_OK && v >= 400 && v <= 599) {
            f.code = (uint16_t)v;
        } else {
            dw_cfg_err(p, &args[i],
                       "invalid status for 'handle_errors': '%.*s' (expected 400-599, 4xx or 5xx)",
                       DW_STR_FMT(t));
            rc = -1;
            continue;
        }
        struct dw_cfg_status_filter *slot =
            DW_ARENA_PUSH(p->arena, d->u.handle.statuses, d->u.handle.nstatuses, cap);
        if (slot) *slot = f;
    }
    if (!node->has_block) {
        dw_cfg_err(p, &node->name, "expected '{' block after 'handle_errors'");
        return -1;
    }
    if (nargs == 0) {
        const dw_cfg_block_t *b = p->scope->block;
        for (size_t i = 0; i < b->ndirs; i++) {
            const dw_cfg_directive_t *o = &b->dirs[i];
            if (o != d && o->kind == DW_DIR_HANDLE_ERRORS && o->u.handle.nstatuses == 0) {
                dw_cfg_err(p, &node->name,
                           "only one 'handle_errors' block without status codes is allowed (the "
                           "other is at line %u)",
                           o->loc.line);
                return -1;
            }
        }
    }
    d->u.handle.block = dw_cfg_parse_block(p, node, DW_SCOPE_HANDLE_ERRORS);
    return rc < 0 || !d->u.handle.block ? -1 : 0;
}

static void json_handle_common(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_handle_t *h = &d->u.handle;
    if (h->strip_prefix.ptr) dw_json_kv_str(j, "strip_prefix", h->strip_prefix);
    if (h->nstatuses) {
        dw_json_key(j, "statuses");
        dw_json_arr_begin(j);
        for (size_t i = 0; i < h->nstatuses; i++) {
            if (h->statuses[i].is_class) {
                char s[4] = {(char)('0' + h->statuses[i].code / 100), 'x', 'x', 0};
                dw_json_cstr(j, s);
            } else {
                dw_json_uint(j, h->statuses[i].code);
            }
        }
        dw_json_arr_end(j);
    }
    if (h->block) {
        dw_json_key(j, "block");
        dw_cfg_json_block(j, h->block);
    }
}

void dw_cfg_json_handle(dw_json_t *j, const dw_cfg_directive_t *d)
{
    json_handle_common(j, d);
}
void dw_cfg_json_handle_errors(dw_json_t *j, const dw_cfg_directive_t *d)
{
    json_handle_common(j, d);
}
