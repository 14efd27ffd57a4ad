/* Named-matcher conditions (spec 10 §5): one condition line of `@name <cond> <args>` or of an
 * `@name { … }` block. The caller (parser.c) handles the name, duplicates and the two forms. */
#include "route_int.h"

static int parse_cond(dw_cfg_parser_t *p, const dw_cfg_node_t *line, dw_cfg_cond_t *out, int depth);

static const char *const cond_names[] = {
    [DW_COND_UNKNOWN] = "unknown",
    [DW_COND_PATH] = "path",
    [DW_COND_PATH_REGEXP] = "path_regexp",
    [DW_COND_HOST] = "host",
    [DW_COND_METHOD] = "method",
    [DW_COND_HEADER] = "header",
    [DW_COND_HEADER_REGEXP] = "header_regexp",
    [DW_COND_QUERY] = "query",
    [DW_COND_PROTOCOL] = "protocol",
    [DW_COND_REMOTE_IP] = "remote_ip",
    [DW_COND_CLIENT_IP] = "client_ip",
    [DW_COND_NOT] = "not",
    [DW_COND_EXPRESSION] = "expression",
    [DW_COND_FILE] = "file",
};

static const char *const protocols[] = {
    [DW_PROTO_HTTP] = "http",      [DW_PROTO_HTTPS] = "https",  [DW_PROTO_GRPC] = "grpc",
    [DW_PROTO_HTTP1] = "http/1.1", [DW_PROTO_HTTP2] = "http/2", [DW_PROTO_HTTP3] = "http/3",
};

static const char *const private_ranges[] = {
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "fc00::/7", "::1/128",
};

/* The name of the matcher being defined: parser.c pushes it before parsing its conditions. */
static dw_str_t current_matcher_name(dw_cfg_parser_t *p)
{
    if (!p->scope || !p->scope->block || p->scope->block->nmatchers == 0) return DW_STR_NULL;
    return p->scope->block->matchers[p->scope->block->nmatchers - 1].name;
}

static int need_args(dw_cfg_parser_t *p, const dw_cfg_node_t *line, size_t min, size_t max,
                     const char *what)
{
    if (line->nargs < min) {
        dw_cfg_err(p, &line->name, "matcher condition '%.*s' needs %s", DW_STR_FMT(line->name.text),
                   what);
        return -1;
    }
    if (line->nargs > max) {
        dw_cfg_err(p, &line->args[max], "unexpected argument %s to matcher condition '%.*s'",
                   dw_cfg_tok_str(p, &line->args[max]), DW_STR_FMT(line->name.text));
        return -1;
    }
    return 0;
}

static int no_block(dw_cfg_parser_t *p, const dw_cfg_node_t *line)
{
    if (!line->has_block) return 0;
    dw_cfg_err(p, &line->open, "matcher condition '%.*s' does not take a block",
               DW_STR_FMT(line->name.text));
    return -1;
}

/* Copies every argument into a list, optionally changing the case. */
static dw_cfg_strs_t copy_args(dw_cfg_parser_t *p, const dw_cfg_token_t *args, size_t n, int fold)
{
    dw_cfg_strs_t s = {0};
    s.v = dw_arena_zalloc(p->arena, (n ? n : 1) * sizeof(*s.v));
    if (!s.v) return s;
    for (size_t i = 0; i < n; i++) {
        dw_str_t v = dw_cfg_str(p, &args[i]);
        char *c = (char *)v.ptr;
        for (size_t k = 0; c && k < v.len; k++)
            c[k] = fold > 0   ? (char)(c[k] >= 'a' && c[k] <= 'z' ? c[k] - 32 : c[k])
                   : fold < 0 ? dw_ascii_lower(c[k])
                              : c[k];
        s.v[s.n++] = v;
    }
    return s;
}

static int parse_ranges(dw_cfg_parser_t *p, const dw_cfg_node_t *line, dw_cfg_cidrs_t *out)
{
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; i < line->nargs; i++) {
        const dw_cfg_token_t *t = &line->args[i];
        if (dw_str_eq_c(t->text, "private_ranges")) {
            for (size_t k = 0; k < DW_ARRAY_LEN(private_ranges); k++) {
                dw_cfg_cidr_t *c = DW_ARENA_PUSH(p->arena, out->v, out->n, cap);
                if (c) dw_cfg_parse_cidr(dw_str_c(private_ranges[k]), c);
            }
            continue;
        }
        dw_cfg_cidr_t c;
        if (dw_cfg_parse_cidr(t->text, &c) < 0) {
            dw_cfg_err(p, t,
                       "invalid value for '%.*s': '%.*s' is not a valid IP address or CIDR range",
                       DW_STR_FMT(line->name.text), DW_STR_FMT(t->text));
            rc = -1;
            continue;
        }
        /* keep the network address: clear the host bits */
        unsigned bits = c.family == 4 ? 32 : 128;
        for (unsigned b = c.prefix; b < bits; b++) c.addr[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
        dw_cfg_cidr_t *slot = DW_ARENA_PUSH(p->arena, out->v, out->n, cap);
        if (slot) *slot = c;
    }
    return rc;
}

static int parse_header_cond(dw_cfg_parser_t *p, const dw_cfg_node_t *line, dw_cfg_cond_t *out)
{
    if (need_args(p, line, 1, SIZE_MAX, "a header name (and optional values)") < 0) return -1;
    out->u.header.field = dw_cfg_str(p, &line->args[0]);
    size_t n = line->nargs - 1;
    if (n == 0) return 0;
    out->u.header.values = dw_arena_zalloc(p->arena, n * sizeof(*out->u.header.values));
    if (!out->u.header.values) return -1;
    for (size_t i = 0; i < n; i++) {
        dw_str_t v = line->args[i + 1].text;
        dw_cfg_header_value_t *hv = &out->u.header.values[out->u.header.nvalues++];
        bool lead = v.len && v.ptr[0] == '*', trail = v.len > 1 && v.ptr[v.len - 1] == '*';
        if (dw_str_eq_c(v, "*"))
            hv->match = DW_VMATCH_PRESENT, v = DW_STR("");
        else if (lead && trail)
            hv->match = DW_VMATCH_SUBSTRING, v = dw_str_sub(v, 1, v.len - 2);
        else if (lead)
            hv->match = DW_VMATCH_SUFFIX, v = dw_str_sub(v, 1, v.len - 1);
        else if (trail)
            hv->match = DW_VMATCH_PREFIX, v = dw_str_sub(v, 0, v.len - 1);
        else
            hv->match = DW_VMATCH_EXACT;
        hv->text = dw_cfg_strdup(p, v);
    }
    return 0;
}

static int parse_query_cond(dw_cfg_parser_t *p, const dw_cfg_node_t *line, dw_cfg_cond_t *out)
{
    if (need_args(p, line, 1, SIZE_MAX, "at least one key=value pair") < 0) return -1;
    out->u.query.pairs = dw_arena_zalloc(p->arena, line->nargs * sizeof(*out->u.query.pairs));
    if (!out->u.query.pairs) return -1;
    for (size_t i = 0; i < line->nargs; i++) {
        dw_str_t t = line->args[i].text;
        ptrdiff_t eq = dw_str_chr(t, '=');
        dw_cfg_query_pair_t *q = &out->u.query.pairs[out->u.query.npairs];
        dw_str_t key = eq >= 0 ? dw_str_sub(t, 0, (size_t)eq) : t;
        if (key.len == 0) {
            dw_cfg_err(p, &line->args[i],
                       "invalid value for 'query': '%.*s' has no key (expected key=value)",
                       DW_STR_FMT(t));
            return -1;
        }
        q->key = dw_cfg_strdup(p, key);
        if (eq < 0) {
            q->any = true;
        } else {
            dw_str_t v = dw_str_sub(t, (size_t)eq + 1, t.len);
            if (dw_str_eq_c(v, "*"))
                q->any = true;
            else
                q->value = dw_cfg_strdup(p, v);
        }
        out->u.query.npairs++;
    }
    return 0;
}

static int parse_regexp_cond(dw_cfg_parser_t *p, const dw_cfg_node_t *line, dw_cfg_cond_t *out,
                             bool header)
{
    size_t min = header ? 2 : 1;
    if (need_args(p, line, min, min + 1,
                  header ? "[<name>] <field> <regexp>" : "[<name>] <regexp>") < 0)
        return -1;
    const dw_cfg_token_t *a = line->args;
    if (line->nargs == min + 1) {
        out->u.regexp.name = dw_cfg_str(p, a);
        a++;
    } else {
        out->u.regexp.name = dw_cfg_strdup(p, current_matcher_name(p));
    }
    if (header) out->u.regexp.field = dw_cfg_str(p, a++);
    out->u.regexp.re = dw_cfg_str(p, a);
    return dw_cfg_check_regex(p, a, a->text, false);
}

static int parse_file_cond(dw_cfg_parser_t *p, const dw_cfg_node_t *line, dw_cfg_cond_t *out)
{
    size_t cap = 0;
    /* Caddy's shorthand `file <p>…` is the same as `file { try_files <p>… }` */
    for (size_t i = 0; i < line->nargs; i++) {
        dw_str_t *s =
            DW_ARENA_PUSH(p->arena, out->u.file.try_files.v, out->u.file.try_files.n, cap);
        if (s) *s = dw_cfg_str(p, &line->args[i]);
        dw_cfg_note_template(p, &line->args[i]);
    }
    int rc = 0;
    for (size_t i = 0; i < line->nchildren; i++) {
        const dw_cfg_node_t *c = &line->children[i];
        if (c->has_block) {
            dw_cfg_err(p, &c->open, "unexpected block after '%.*s' inside file matcher",
                       DW_STR_FMT(c->name.text));
            rc = -1;
        } else if (dw_str_eq_c(c->name.text, "try_files")) {
            if (c->nargs == 0) {
                dw_cfg_err(p, &c->name, "expected at least one file pattern");
                rc = -1;
            }
            for (size_t k = 0; k < c->nargs; k++) {
                dw_str_t *s =
                    DW_ARENA_PUSH(p->arena, out->u.file.try_files.v, out->u.file.try_files.n, cap);
                if (s) *s = dw_cfg_str(p, &c->args[k]);
                dw_cfg_note_template(p, &c->args[k]);
            }
        } else if (dw_str_eq_c(c->name.text, "root")) {
            if (c->nargs != 1) {
                dw_cfg_err(p, &c->name, "invalid value for 'root': expected one directory");
                rc = -1;
            } else {
                out->u.file.root = dw_cfg_resolve_path(p, c->args[0].text);
            }
        } else {
            dw_cfg_err(
                p, &c->name,
                "unknown subdirective '%.*s' inside file matcher; expected 'try_files' or 'root'",
                DW_STR_FMT(c->name.text));
            rc = -1;
        }
    }
    if (rc == 0 && out->u.file.try_files.n == 0) {
        dw_cfg_err(p, &line->name, "expected at least one file pattern");
        return -1;
    }
    return rc;
}

static int parse_not(dw_cfg_parser_t *p, const dw_cfg_node_t *line, dw_cfg_cond_t *out, int depth)
{
    if (depth >= DW_CFG_NOT_MAX_DEPTH) {
        dw_cfg_err(p, &line->name, "'not' conditions nested too deeply (max %d levels)",
                   DW_CFG_NOT_MAX_DEPTH);
        return -1;
    }
    size_t cap = 0;
    int rc = 0;
    if (line->nargs > 0) {
        /* `not <cond> <args> [{…}]`: one inner condition */
        dw_cfg_node_t inner = dw_cfg_node_shift(line);
        dw_cfg_cond_t *c = DW_ARENA_PUSH(p->arena, out->u.negate.conds, out->u.negate.nconds, cap);
        if (c && parse_cond(p, &inner, c, depth + 1) < 0) out->u.negate.nconds--, rc = -1;
    } else if (line->has_block) {
        for (size_t i = 0; i < line->nchildren; i++) {
            dw_cfg_cond_t *c =
                DW_ARENA_PUSH(p->arena, out->u.negate.conds, out->u.negate.nconds, cap);
            if (c && parse_cond(p, &line->children[i], c, depth + 1) < 0)
                out->u.negate.nconds--, rc = -1;
        }
    } else {
        dw_cfg_err(p, &line->name, "matcher condition 'not' needs a condition or a block");
        return -1;
    }
    return rc;
}

static int parse_cond(dw_cfg_parser_t *p, const dw_cfg_node_t *line, dw_cfg_cond_t *out, int depth)
{
    memset(out, 0, sizeof(*out));
    out->loc = dw_cfg_tok_loc(&line->name);
    dw_str_t k = line->name.text;
    uint8_t kind = DW_COND_UNKNOWN;
    for (size_t i = 1; i < DW_ARRAY_LEN(cond_names); i++)
        if (line->name.kind == DW_TOK_WORD && dw_str_eq_c(k, cond_names[i])) kind = (uint8_t)i;
    out->kind = kind;
    if (kind != DW_COND_NOT && kind != DW_COND_FILE && kind != DW_COND_UNKNOWN &&
        no_block(p, line) < 0)
        return -1;
    switch (kind) {
    case DW_COND_PATH:
        if (need_args(p, line, 1, SIZE_MAX, "at least one path pattern") < 0) return -1;
        out->u.paths = copy_args(p, line->args, line->nargs, 0);
        return 0;
    case DW_COND_HOST:
        if (need_args(p, line, 1, SIZE_MAX, "at least one host name") < 0) return -1;
        out->u.hosts = copy_args(p, line->args, line->nargs, -1);
        return 0;
    case DW_COND_METHOD:
        if (need_args(p, line, 1, SIZE_MAX, "at least one method") < 0) return -1;
        out->u.methods = copy_args(p, line->args, line->nargs, 1);
        return 0;
    case DW_COND_PATH_REGEXP: return parse_regexp_cond(p, line, out, false);
    case DW_COND_HEADER_REGEXP: return parse_regexp_cond(p, line, out, true);
    case DW_COND_HEADER: return parse_header_cond(p, line, out);
    case DW_COND_QUERY: return parse_query_cond(p, line, out);
    case DW_COND_PROTOCOL:
        if (need_args(p, line, 1, 1, "one of http, https, grpc, http/1.1, http/2, http/3") < 0)
            return -1;
        for (size_t i = 0; i < DW_ARRAY_LEN(protocols); i++) {
            if (dw_str_eq_c(line->args[0].text, protocols[i])) {
                out->u.protocol = (uint8_t)i;
                return 0;
            }
        }
        dw_cfg_err_enum(p, &line->args[0], "protocol",
                        "http, https, grpc, http/1.1, http/2, http/3");
        return -1;
    case DW_COND_REMOTE_IP:
    case DW_COND_CLIENT_IP:
        if (need_args(p, line, 1, SIZE_MAX, "at least one IP range (CIDR, IP or private_ranges)") <
            0)
            return -1;
        return parse_ranges(p, line, &out->u.ranges);
    case DW_COND_NOT: return parse_not(p, line, out, depth);
    case DW_COND_EXPRESSION:
        if (line->nargs == 0) {
            dw_cfg_err(p, &line->name,
                       "unsupported expression: expected an expression after 'expression'");
            return -1;
        }
        out->u.expr.ast = dw_cfg_route_parse_expr(p, line->args, line->nargs, &out->u.expr.source);
        return out->u.expr.ast ? 0 : -1;
    case DW_COND_FILE: return parse_file_cond(p, line, out);
    default:
        dw_cfg_warn(p, &line->name, "unknown matcher condition '%.*s'; it never matches",
                    DW_STR_FMT(k));
        out->u.unknown.name = dw_cfg_str(p, &line->name);
        out->u.unknown.args = copy_args(p, line->args, line->nargs, 0);
        return 0;
    }
}

int dw_cfg_parse_cond(dw_cfg_parser_t *p, const dw_cfg_node_t *line, dw_cfg_cond_t *out)
{
    return parse_cond(p, line, out, 0);
}

/* --- JSON ---------------------------------------------------------------------------------- */

static const char *const vmatch_names[] = {"exact", "present", "prefix", "suffix", "substring"};

static void json_cond(dw_json_t *j, const dw_cfg_cond_t *c, int depth)
{
    dw_json_obj_begin(j);
    dw_json_kv_cstr(j, "condition", c->kind < DW_ARRAY_LEN(cond_names) ? cond_names[c->kind] : "?");
    switch (c->kind) {
    case DW_COND_PATH: dw_cfg_json_strs(j, "paths", c->u.paths); break;
    case DW_COND_HOST: dw_cfg_json_strs(j, "hosts", c->u.hosts); break;
    case DW_COND_METHOD: dw_cfg_json_strs(j, "methods", c->u.methods); break;
    case DW_COND_PATH_REGEXP:
    case DW_COND_HEADER_REGEXP:
        dw_json_kv_str(j, "name", c->u.regexp.name);
        if (c->kind == DW_COND_HEADER_REGEXP) dw_json_kv_str(j, "field", c->u.regexp.field);
        dw_json_kv_str(j, "regexp", c->u.regexp.re);
        break;
    case DW_COND_HEADER:
        dw_json_kv_str(j, "field", c->u.header.field);
        dw_json_key(j, "values");
        dw_json_arr_begin(j);
        for (size_t i = 0; i < c->u.header.nvalues; i++) {
            dw_json_obj_begin(j);
            dw_json_kv_cstr(j, "match", vmatch_names[c->u.header.values[i].match]);
            dw_json_kv_str(j, "value", c->u.header.values[i].text);
            dw_json_obj_end(j);
        }
        dw_json_arr_end(j);
        break;
    case DW_COND_QUERY:
        dw_json_key(j, "pairs");
        dw_json_arr_begin(j);
        for (size_t i = 0; i < c->u.query.npairs; i++) {
            const dw_cfg_query_pair_t *q = &c->u.query.pairs[i];
            dw_json_obj_begin(j);
            dw_json_kv_str(j, "key", q->key);
            if (q->any)
                dw_json_kv_bool(j, "any", true);
            else
                dw_json_kv_str(j, "value", q->value);
            dw_json_obj_end(j);
        }
        dw_json_arr_end(j);
        break;
    case DW_COND_PROTOCOL:
        dw_json_kv_cstr(j, "protocol",
                        c->u.protocol < DW_ARRAY_LEN(protocols) ? protocols[c->u.protocol] : "?");
        break;
    case DW_COND_REMOTE_IP:
    case DW_COND_CLIENT_IP:
        dw_json_key(j, "ranges");
        dw_json_arr_begin(j);
        for (size_t i = 0; i < c->u.ranges.n; i++) dw_cfg_json_cidr(j, &c->u.ranges.v[i]);
        dw_json_arr_end(j);
        break;
    case DW_COND_NOT:
        dw_json_key(j, "conditions");
        dw_json_arr_begin(j);
        for (size_t i = 0; i < c->u.negate.nconds && depth < DW_CFG_NOT_MAX_DEPTH; i++)
            json_cond(j, &c->u.negate.conds[i], depth + 1);
        dw_json_arr_end(j);
        break;
    case DW_COND_EXPRESSION:
        dw_json_kv_str(j, "expression", c->u.expr.source);
        if (c->u.expr.ast) {
            dw_json_key(j, "ast");
            dw_cfg_route_json_expr(j, c->u.expr.ast);
        }
        break;
    case DW_COND_FILE:
        dw_cfg_json_strs(j, "try_files", c->u.file.try_files);
        if (c->u.file.root.len) dw_json_kv_str(j, "root", c->u.file.root);
        break;
    default:
        dw_json_kv_str(j, "name", c->u.unknown.name);
        dw_cfg_json_strs(j, "args", c->u.unknown.args);
        break;
    }
    dw_json_obj_end(j);
}

void dw_cfg_json_cond(dw_json_t *j, const dw_cfg_cond_t *c)
{
    json_cond(j, c, 0);
}
