/* The routing directives of spec 10 §6.3-§6.19 other than the proxies (dir_proxy.c) and the
 * handle family (parser.c): root, file_server, try_files, redir, rewrite, uri, respond, error,
 * abort, header/request_header, method, vars and map. Each parse function fills the
 * directive's payload; template values are noted for the §7 check after the whole file. */
#include "route_int.h"
#include <sys/stat.h>

/* --- shared helpers --------------------------------------------------------------------------- */

int dw_cfg_route_no_block(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const char *directive)
{
    if (!node->has_block) return 0;
    dw_cfg_err(p, &node->open, "'%s' does not take a block", directive);
    return -1;
}

void dw_cfg_route_extra_arg(dw_cfg_parser_t *p, const dw_cfg_token_t *arg, const char *directive)
{
    dw_cfg_err(p, arg, "invalid value for '%s': unexpected argument %s", directive,
               dw_cfg_tok_str(p, arg));
}

static bool tchar(char c)
{
    return dw_ascii_isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool valid_token(dw_str_t s)
{
    if (s.len == 0) return false;
    for (size_t i = 0; i < s.len; i++)
        if (!tchar(s.ptr[i])) return false;
    return true;
}

static bool all_digits(dw_str_t s)
{
    if (s.len == 0) return false;
    for (size_t i = 0; i < s.len; i++)
        if (!dw_ascii_isdigit(s.ptr[i])) return false;
    return true;
}

static bool three_digits(dw_str_t s)
{
    return s.len == 3 && all_digits(s);
}

static uint16_t status_value(dw_str_t s)
{
    uint64_t v = 0;
    if (dw_parse_u64(s, &v) != DW_OK || v > 65535) return 0;
    return (uint16_t)v;
}

/* --- header operations (§6.15, §6.16, header_up/header_down of §6.1) -------------------------- */

int dw_cfg_route_header_op(dw_cfg_parser_t *p, const char *directive, const dw_cfg_token_t *name,
                           const dw_cfg_token_t *vals, size_t nvals, dw_cfg_header_ops_t *ops,
                           size_t *cap)
{
    dw_str_t n = name->text;
    uint8_t op = DW_HDR_SET;
    if (n.len && (n.ptr[0] == '+' || n.ptr[0] == '?' || n.ptr[0] == '-')) {
        op = n.ptr[0] == '+' ? DW_HDR_ADD : n.ptr[0] == '?' ? DW_HDR_SET_IF_ABSENT : DW_HDR_DELETE;
        n = dw_str_sub(n, 1, n.len);
    }
    if (op == DW_HDR_DELETE && n.len > 1 && n.ptr[n.len - 1] == '*') {
        op = DW_HDR_DELETE_PREFIX;
        n.len--;
    }
    if (n.len == 0) {
        dw_cfg_err(p, name, "expected header name");
        return -1;
    }
    if (!valid_token(n)) {
        dw_cfg_err(p, name, "invalid header name '%.*s'", DW_STR_FMT(n));
        return -1;
    }
    size_t max;
    switch (op) {
    case DW_HDR_DELETE:
    case DW_HDR_DELETE_PREFIX: max = 0; break;
    case DW_HDR_SET: max = 2; break; /* a third word makes it find/replace */
    default: max = 1; break;
    }
    if (op != DW_HDR_DELETE && op != DW_HDR_DELETE_PREFIX && nvals == 0) {
        dw_cfg_err(p, name, "expected header value");
        return -1;
    }
    if (nvals > max) {
        dw_cfg_route_extra_arg(p, &vals[max], directive);
        return -1;
    }
    dw_cfg_header_op_t *o = DW_ARENA_PUSH(p->arena, ops->v, ops->n, *cap);
    if (!o) return -1;
    o->op = op;
    o->name = dw_cfg_strdup(p, n);
    o->loc = dw_cfg_tok_loc(name);
    if (nvals == 2) {
        o->op = DW_HDR_REPLACE;
        o->find = dw_cfg_str(p, &vals[0]);
        o->value = dw_cfg_str(p, &vals[1]);
        dw_cfg_note_template(p, &vals[1]);
    } else if (nvals == 1) {
        o->value = dw_cfg_str(p, &vals[0]);
        dw_cfg_note_template(p, &vals[0]);
    }
    return 0;
}

static const char *const header_ops[] = {
    [DW_HDR_SET] = "set",
    [DW_HDR_ADD] = "add",
    [DW_HDR_SET_IF_ABSENT] = "set_if_absent",
    [DW_HDR_DELETE] = "delete",
    [DW_HDR_DELETE_PREFIX] = "delete_prefix",
    [DW_HDR_REPLACE] = "replace",
};

void dw_cfg_route_json_header_ops(dw_json_t *j, const char *key, dw_cfg_header_ops_t ops)
{
    dw_json_key(j, key);
    dw_json_arr_begin(j);
    for (size_t i = 0; i < ops.n; i++) {
        const dw_cfg_header_op_t *o = &ops.v[i];
        dw_json_obj_begin(j);
        dw_json_kv_cstr(j, "op", o->op < DW_ARRAY_LEN(header_ops) ? header_ops[o->op] : "?");
        dw_json_kv_str(j, "name", o->name);
        if (o->op == DW_HDR_REPLACE) {
            dw_json_kv_str(j, "find", o->find);
            dw_json_kv_str(j, "replace", o->value);
        } else if (o->op != DW_HDR_DELETE && o->op != DW_HDR_DELETE_PREFIX) {
            dw_json_kv_str(j, "value", o->value);
        }
        dw_json_obj_end(j);
    }
    dw_json_arr_end(j);
}

/* header and request_header */
int dw_cfg_parse_header(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                        size_t nargs, dw_cfg_directive_t *d)
{
    dw_cfg_header_ops_t *ops = &d->u.header.ops;
    size_t cap = 0;
    int rc = 0;
    if (nargs == 0 && !node->has_block) {
        dw_cfg_err(p, &node->name, "expected header name");
        return -1;
    }
    if (nargs > 0 &&
        dw_cfg_route_header_op(p, d->name, &args[0], args + 1, nargs - 1, ops, &cap) < 0)
        rc = -1;
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *c = &node->children[i];
        if (c->has_block) {
            dw_cfg_err(p, &c->open, "unexpected block inside '%s' block", d->name);
            rc = -1;
        } else if (dw_cfg_route_header_op(p, d->name, &c->name, c->args, c->nargs, ops, &cap) < 0) {
            rc = -1;
        }
    }
    if (rc == 0 && ops->n == 0) {
        dw_cfg_err(p, &node->name, "expected header name");
        return -1;
    }
    return rc;
}

void dw_cfg_json_header(dw_json_t *j, const dw_cfg_directive_t *d)
{
    dw_cfg_route_json_header_ops(j, "operations", d->u.header.ops);
}

/* --- root (§6.3) --------------------------------------------------------------------------------
 */

int dw_cfg_parse_root(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                      size_t nargs, dw_cfg_directive_t *d)
{
    if (dw_cfg_route_no_block(p, node, "root") < 0) return -1;
    if (nargs == 0) {
        dw_cfg_err(p, &node->name, "invalid value for 'root': expected a directory");
        return -1;
    }
    if (nargs > 1) {
        dw_cfg_route_extra_arg(p, &args[1], "root");
        return -1;
    }
    if (args[0].text.len == 0 || memchr(args[0].text.ptr, '\0', args[0].text.len)) {
        dw_cfg_err(p, &args[0], "invalid value for 'root': empty path");
        return -1;
    }
    /* decision 25: relative to the Dwaarfile's directory */
    dw_str_t path = dw_cfg_resolve_path(p, args[0].text);
    while (path.len > 1 && path.ptr[path.len - 1] == '/') path.len--;
    path = dw_cfg_strdup(p, path);
    if (p->opts && p->opts->check_files && path.ptr) {
        char *canon = realpath(path.ptr, NULL);
        struct stat st;
        if (!canon) {
            dw_cfg_warn(p, &args[0], "root directory '%s' does not exist", path.ptr);
        } else {
            if (stat(canon, &st) == 0 && !S_ISDIR(st.st_mode))
                dw_cfg_warn(p, &args[0], "root '%s' is not a directory", canon);
            path = dw_cfg_strdup(p, dw_str_c(canon));
            free(canon);
        }
    }
    d->u.root.path = path;
    return 0;
}

void dw_cfg_json_root(dw_json_t *j, const dw_cfg_directive_t *d)
{
    dw_json_kv_str(j, "path", d->u.root.path);
}

/* --- file_server (§6.4) ------------------------------------------------------------------------
 */

static bool has_dotdot_segment(dw_str_t s)
{
    size_t i = 0;
    while (i <= s.len) {
        size_t j = i;
        while (j < s.len && s.ptr[j] != '/' && s.ptr[j] != '\\') j++;
        if (j - i == 2 && s.ptr[i] == '.' && s.ptr[i + 1] == '.') return true;
        i = j + 1;
    }
    return false;
}

int dw_cfg_parse_file_server(dw_cfg_parser_t *p, const dw_cfg_node_t *node,
                             const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{
    dw_cfg_file_server_t *fs = &d->u.file_server;
    int rc = 0;
    for (size_t i = 0; i < nargs; i++) {
        if (dw_str_eq_c(args[i].text, "browse")) {
            fs->browse = true;
        } else {
            dw_cfg_err(p, &args[i],
                       "invalid value for 'file_server': unexpected argument %s (only 'browse' is "
                       "allowed; set the "
                       "directory with 'root')",
                       dw_cfg_tok_str(p, &args[i]));
            rc = -1;
        }
    }
    size_t icap = 0;
    bool index_set = false;
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *c = &node->children[i];
        dw_str_t k = c->name.text;
        if (c->has_block &&
            (dw_str_eq_c(k, "browse") || dw_str_eq_c(k, "fallback") || dw_str_eq_c(k, "index"))) {
            dw_cfg_err(p, &c->open, "'%.*s' does not take a block", DW_STR_FMT(k));
            rc = -1;
        } else if (dw_str_eq_c(k, "browse")) {
            if (c->nargs == 0)
                fs->browse = true;
            else if (c->nargs > 1)
                dw_cfg_route_extra_arg(p, &c->args[1], "browse"), rc = -1;
            else if (dw_cfg_arg_bool(p, &c->args[0], "browse", &fs->browse) < 0)
                rc = -1;
        } else if (dw_str_eq_c(k, "fallback")) {
            if (c->nargs != 1) {
                if (c->nargs == 0)
                    dw_cfg_err(p, &c->name, "invalid value for 'fallback': expected a file path");
                else
                    dw_cfg_route_extra_arg(p, &c->args[1], "fallback");
                rc = -1;
                continue;
            }
            dw_str_t f = c->args[0].text;
            if (f.len == 0) {
                dw_cfg_err(p, &c->args[0], "invalid value for 'fallback': expected a file path");
                rc = -1;
            } else if (memchr(f.ptr, '\0', f.len) || has_dotdot_segment(f)) {
                dw_cfg_err(p, &c->args[0], "path traversal not allowed");
                rc = -1;
            } else {
                fs->fallback = dw_cfg_str(p, &c->args[0]);
            }
        } else if (dw_str_eq_c(k, "index")) {
            if (c->nargs == 0) {
                dw_cfg_err(p, &c->name,
                           "invalid value for 'index': expected at least one file name");
                rc = -1;
                continue;
            }
            if (!index_set) fs->index.n = 0;
            index_set = true;
            for (size_t a = 0; a < c->nargs; a++) {
                dw_str_t f = c->args[a].text;
                if (f.len == 0 || dw_str_chr(f, '/') >= 0 || dw_str_eq_c(f, "..") ||
                    dw_str_eq_c(f, ".") || memchr(f.ptr, '\0', f.len)) {
                    dw_cfg_err(p, &c->args[a],
                               "invalid value for 'index': '%.*s' is not a file name",
                               DW_STR_FMT(f));
                    rc = -1;
                    continue;
                }
                dw_str_t *slot = DW_ARENA_PUSH(p->arena, fs->index.v, fs->index.n, icap);
                if (slot) *slot = dw_cfg_str(p, &c->args[a]);
            }
        } else {
            dw_cfg_err(p, &c->name,
                       "unknown subdirective '%.*s' inside file_server block; expected 'browse' or "
                       "'fallback'",
                       DW_STR_FMT(k));
            rc = -1;
        }
    }
    if (!index_set) {
        fs->index.v = dw_arena_alloc(p->arena, 2 * sizeof(dw_str_t));
        if (fs->index.v) {
            fs->index.v[0] = DW_STR("index.html");
            fs->index.v[1] = DW_STR("index.txt");
            fs->index.n = 2;
        }
    }
    return rc;
}

void dw_cfg_json_file_server(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_file_server_t *fs = &d->u.file_server;
    dw_json_kv_bool(j, "browse", fs->browse);
    if (fs->fallback.len) dw_json_kv_str(j, "fallback", fs->fallback);
    dw_cfg_json_strs(j, "index", fs->index);
}

/* --- try_files (§6.5) --------------------------------------------------------------------------
 */

int dw_cfg_parse_try_files(dw_cfg_parser_t *p, const dw_cfg_node_t *node,
                           const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{
    dw_cfg_try_files_t *tf = &d->u.try_files;
    if (dw_cfg_route_no_block(p, node, "try_files") < 0) return -1;
    if (nargs == 0) {
        dw_cfg_err(p, &node->name, "expected at least one file pattern");
        return -1;
    }
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; i < nargs; i++) {
        dw_str_t t = args[i].text;
        if (t.len && t.ptr[0] == '=') {
            dw_str_t code = dw_str_sub(t, 1, t.len);
            uint16_t v = status_value(code);
            if (!all_digits(code)) {
                dw_cfg_err(p, &args[i],
                           "invalid value for 'try_files': '%.*s' is not a status (expected =NNN)",
                           DW_STR_FMT(t));
                rc = -1;
            } else if (i != nargs - 1) {
                dw_cfg_err(p, &args[i],
                           "invalid value for 'try_files': '%.*s' must be the last entry",
                           DW_STR_FMT(t));
                rc = -1;
            } else if (code.len != 3 || v < 400 || v > 599) {
                dw_cfg_err(p, &args[i], "error status must be 400-599");
                rc = -1;
            } else {
                tf->status = v;
            }
            continue;
        }
        dw_str_t *slot = DW_ARENA_PUSH(p->arena, tf->files.v, tf->files.n, cap);
        if (slot) *slot = dw_cfg_str(p, &args[i]);
        dw_cfg_note_template(p, &args[i]);
    }
    return rc;
}

void dw_cfg_json_try_files(dw_json_t *j, const dw_cfg_directive_t *d)
{
    dw_cfg_json_strs(j, "files", d->u.try_files.files);
    if (d->u.try_files.status) dw_json_kv_uint(j, "status", d->u.try_files.status);
}

/* --- redir (§6.7, decision 18) -----------------------------------------------------------------
 */

static bool redir_code_like(dw_str_t s)
{
    return all_digits(s) || dw_str_eq_c(s, "permanent") || dw_str_eq_c(s, "temporary");
}

static int redir_code(dw_cfg_parser_t *p, const dw_cfg_token_t *t, uint16_t *code)
{
    dw_str_t s = t->text;
    if (dw_str_eq_c(s, "permanent")) return *code = 301, 0;
    if (dw_str_eq_c(s, "temporary")) return *code = 302, 0;
    uint16_t v = all_digits(s) ? status_value(s) : 0;
    if (v == 301 || v == 302 || v == 303 || v == 307 || v == 308) return *code = v, 0;
    dw_cfg_err(p, t, "invalid redirect code %.*s \xe2\x80\x94 must be 301, 302, 303, 307, or 308",
               DW_STR_FMT(s));
    return -1;
}

/* <from>: `*`, `@name`, a path pattern, or an absolute URL scheme://host<path>. */
static int redir_from(dw_cfg_parser_t *p, const dw_cfg_token_t *t, dw_cfg_directive_t *d)
{
    dw_str_t s = t->text;
    dw_cfg_redir_t *r = &d->u.redir;
    if (dw_str_eq_c(s, "*")) {
        d->match.kind = DW_MATCH_ALL;
        return 0;
    }
    if (s.len > 1 && s.ptr[0] == '@') {
        d->match.kind = DW_MATCH_NAMED;
        d->match.text = dw_cfg_strdup(p, dw_str_sub(s, 1, s.len));
        d->match.def = dw_cfg_find_matcher(p, t, d->match.text);
        return d->match.def ? 0 : -1;
    }
    if (s.len && s.ptr[0] == '/') {
        d->match.kind = DW_MATCH_PATH;
        d->match.text = dw_cfg_str(p, t);
        return 0;
    }
    ptrdiff_t sep = dw_str_find(s, DW_STR("://"));
    if (sep > 0) {
        dw_str_t scheme = dw_str_sub(s, 0, (size_t)sep),
                 rest = dw_str_sub(s, (size_t)sep + 3, s.len);
        ptrdiff_t slash = dw_str_chr(rest, '/');
        dw_str_t host = slash >= 0 ? dw_str_sub(rest, 0, (size_t)slash) : rest;
        dw_str_t path = slash >= 0 ? dw_str_sub(rest, (size_t)slash, rest.len) : DW_STR_NULL;
        if ((dw_str_eq_c(scheme, "http") || dw_str_eq_c(scheme, "https")) && host.len) {
            r->from_scheme = dw_cfg_strdup(p, scheme);
            char *h = dw_arena_strndup(p->arena, host.ptr, host.len);
            if (!h) return -1;
            for (size_t i = 0; i < host.len; i++) h[i] = dw_ascii_lower(h[i]);
            r->from_host = dw_str_make(h, host.len);
            if (path.len == 0) {
                d->match.kind = DW_MATCH_ALL;
                return 0;
            }
            /* a placeholder in the path acts as `*` */
            char *pat = dw_arena_alloc(p->arena, path.len + 1);
            if (!pat) return -1;
            size_t o = 0;
            for (size_t i = 0; i < path.len; i++) {
                size_t n = dw_cfg_route_placeholder_len(path, i);
                if (n)
                    pat[o++] = '*', i += n - 1;
                else
                    pat[o++] = path.ptr[i];
            }
            pat[o] = '\0';
            d->match.kind = DW_MATCH_PATH;
            d->match.text = dw_str_make(pat, o);
            return 0;
        }
    }
    dw_cfg_err(p, t,
               "invalid value for 'redir': '%.*s' is not a path pattern, @matcher or absolute URL",
               DW_STR_FMT(s));
    return -1;
}

int dw_cfg_parse_redir(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                       size_t nargs, dw_cfg_directive_t *d)
{
    dw_cfg_redir_t *r = &d->u.redir;
    if (dw_cfg_route_no_block(p, node, "redir") < 0) return -1;
    if (nargs == 0) {
        dw_cfg_err(p, &node->name, "invalid value for 'redir': expected a target");
        return -1;
    }
    if (nargs > 3) {
        dw_cfg_err(
            p, &args[3],
            "invalid value for 'redir': too many arguments (expected [<from>] <to> [<code>])");
        return -1;
    }
    const dw_cfg_token_t *from = NULL, *to, *code = NULL;
    if (nargs == 1) {
        to = &args[0];
    } else if (nargs == 2 && redir_code_like(args[1].text)) {
        to = &args[0], code = &args[1];
    } else {
        from = &args[0], to = &args[1];
        if (nargs == 3) code = &args[2];
    }
    int rc = 0;
    r->code = 308;
    if (code && redir_code(p, code, &r->code) < 0) rc = -1;
    if (from && redir_from(p, from, d) < 0) rc = -1;
    if (to->text.len == 0) {
        dw_cfg_err(p, to, "invalid value for 'redir': empty target");
        rc = -1;
    }
    r->to = dw_cfg_str(p, to);
    dw_cfg_note_template(p, to);
    return rc;
}

void dw_cfg_json_redir(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_redir_t *r = &d->u.redir;
    dw_json_kv_str(j, "to", r->to);
    dw_json_kv_uint(j, "code", r->code);
    if (r->from_host.len) {
        dw_json_kv_str(j, "from_scheme", r->from_scheme);
        dw_json_kv_str(j, "from_host", r->from_host);
    }
}

/* --- rewrite (§6.8) ------------------------------------------------------------------------------
 */

int dw_cfg_parse_rewrite(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                         size_t nargs, dw_cfg_directive_t *d)
{
    dw_cfg_rewrite_t *rw = &d->u.rewrite;
    if (dw_cfg_route_no_block(p, node, "rewrite") < 0) return -1;
    /* a lone `@name` is a matcher without a target */
    if (nargs == 0 || (nargs == 1 && args[0].kind == DW_TOK_WORD && args[0].text.len > 1 &&
                       args[0].text.ptr[0] == '@')) {
        dw_cfg_err(p, nargs ? &args[0] : &node->name, "expected target path");
        return -1;
    }
    if (nargs > 1) {
        dw_cfg_route_extra_arg(p, &args[1], "rewrite");
        return -1;
    }
    dw_str_t to = args[0].text;
    if (to.len == 0) {
        dw_cfg_err(p, &args[0], "expected target path");
        return -1;
    }
    rw->to = dw_cfg_str(p, &args[0]);
    ptrdiff_t q = dw_str_chr(rw->to, '?');
    rw->has_query = q >= 0;
    rw->path = dw_cfg_strdup(p, q >= 0 ? dw_str_sub(rw->to, 0, (size_t)q) : rw->to);
    if (q >= 0) rw->query = dw_cfg_strdup(p, dw_str_sub(rw->to, (size_t)q + 1, rw->to.len));
    dw_cfg_note_template(p, &args[0]);
    return 0;
}

void dw_cfg_json_rewrite(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_rewrite_t *rw = &d->u.rewrite;
    dw_json_kv_str(j, "to", rw->to);
    dw_json_kv_str(j, "path", rw->path);
    if (rw->has_query) dw_json_kv_str(j, "query", rw->query);
}

/* --- uri (§6.9) ----------------------------------------------------------------------------------
 */

static const char *const uri_ops[] = {[DW_URI_STRIP_PREFIX] = "strip_prefix",
                                      [DW_URI_STRIP_SUFFIX] = "strip_suffix",
                                      [DW_URI_REPLACE] = "replace"};

int dw_cfg_parse_uri(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                     size_t nargs, dw_cfg_directive_t *d)
{
    dw_cfg_uri_t *u = &d->u.uri;
    if (dw_cfg_route_no_block(p, node, "uri") < 0) return -1;
    if (nargs == 0) {
        dw_cfg_err(p, &node->name,
                   "invalid value for 'uri': expected an operation (strip_prefix, strip_suffix, or "
                   "replace)");
        return -1;
    }
    const dw_cfg_token_t *op = &args[0];
    size_t need;
    if (dw_str_eq_c(op->text, "strip_prefix"))
        u->op = DW_URI_STRIP_PREFIX, need = 1;
    else if (dw_str_eq_c(op->text, "strip_suffix"))
        u->op = DW_URI_STRIP_SUFFIX, need = 1;
    else if (dw_str_eq_c(op->text, "replace"))
        u->op = DW_URI_REPLACE, need = 2;
    else {
        dw_cfg_err(
            p, op,
            "unknown operation '%.*s' \xe2\x80\x94 expected strip_prefix, strip_suffix, or replace",
            DW_STR_FMT(op->text));
        return -1;
    }
    size_t have = nargs - 1;
    if (have < need) {
        const char *what = u->op == DW_URI_STRIP_PREFIX   ? "expected prefix to strip"
                           : u->op == DW_URI_STRIP_SUFFIX ? "expected suffix to strip"
                           : have == 0 ? "expected text to find and its replacement"
                                       : "expected replacement text";
        dw_cfg_err(p, op, "%s", what);
        return -1;
    }
    if (have > need) {
        dw_cfg_route_extra_arg(p, &args[1 + need], "uri");
        return -1;
    }
    dw_str_t v = args[1].text;
    if (v.len == 0) {
        dw_cfg_err(p, &args[1], "invalid value for 'uri': empty %s",
                   u->op == DW_URI_REPLACE ? "search text" : "value");
        return -1;
    }
    if (u->op == DW_URI_STRIP_PREFIX && v.ptr[0] != '/') {
        char *s = dw_arena_sprintf(p->arena, "/%.*s", DW_STR_FMT(v));
        u->value = s ? dw_str_c(s) : DW_STR_NULL;
    } else {
        u->value = dw_cfg_strdup(p, v);
    }
    if (u->op == DW_URI_REPLACE) u->repl = dw_cfg_str(p, &args[2]);
    return 0;
}

void dw_cfg_json_uri(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_uri_t *u = &d->u.uri;
    dw_json_kv_cstr(j, "op", u->op < DW_ARRAY_LEN(uri_ops) ? uri_ops[u->op] : "?");
    if (u->op == DW_URI_REPLACE) {
        dw_json_kv_str(j, "find", u->value);
        dw_json_kv_str(j, "replace", u->repl);
    } else {
        dw_json_kv_str(j, "value", u->value);
    }
}

/* --- respond (§6.11) -----------------------------------------------------------------------------
 */

/* A status token: an integer in [lo, hi], or a placeholder evaluated per request. */
static bool status_like(dw_str_t s)
{
    return all_digits(s) || dw_cfg_route_is_placeholder(s);
}

int dw_cfg_parse_respond(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                         size_t nargs, dw_cfg_directive_t *d)
{
    dw_cfg_respond_t *r = &d->u.respond;
    if (dw_cfg_route_no_block(p, node, "respond") < 0) return -1;
    if (nargs > 2) {
        dw_cfg_err(
            p, &args[2],
            "invalid value for 'respond': too many arguments (expected [<body>] [<status>])");
        return -1;
    }
    const dw_cfg_token_t *body = NULL, *status = NULL;
    if (nargs == 1) {
        if (three_digits(args[0].text))
            status = &args[0];
        else
            body = &args[0];
    } else if (nargs == 2) {
        if (all_digits(args[0].text) && !all_digits(args[1].text))
            status = &args[0], body = &args[1];
        else
            body = &args[0], status = &args[1];
    }
    r->status = 200;
    if (body) {
        r->body = dw_cfg_str(p, body);
        dw_cfg_note_template(p, body);
    }
    if (status) {
        dw_str_t s = status->text;
        if (dw_cfg_route_is_placeholder(s)) {
            r->status = 0;
            r->status_template = dw_cfg_str(p, status);
            dw_cfg_note_template(p, status);
        } else {
            uint16_t v = all_digits(s) ? status_value(s) : 0;
            if (v < 100 || v > 599) {
                dw_cfg_err(p, status, "invalid HTTP status code %.*s \xe2\x80\x94 must be 100-599",
                           DW_STR_FMT(s));
                return -1;
            }
            r->status = v;
        }
    }
    return 0;
}

void dw_cfg_json_respond(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_respond_t *r = &d->u.respond;
    if (r->status_template.len)
        dw_json_kv_str(j, "status_template", r->status_template);
    else
        dw_json_kv_uint(j, "status", r->status);
    dw_json_kv_str(j, "body", r->body.ptr ? r->body : DW_STR(""));
}

/* --- error (§6.12) -------------------------------------------------------------------------------
 */

int dw_cfg_parse_error(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                       size_t nargs, dw_cfg_directive_t *d)
{
    dw_cfg_error_t *e = &d->u.error;
    if (dw_cfg_route_no_block(p, node, "error") < 0) return -1;
    if (nargs > 2) {
        dw_cfg_err(
            p, &args[2],
            "invalid value for 'error': too many arguments (expected [<message>] [<status>])");
        return -1;
    }
    const dw_cfg_token_t *msg = NULL, *status = NULL;
    if (nargs == 1) {
        if (three_digits(args[0].text))
            status = &args[0];
        else
            msg = &args[0];
    } else if (nargs == 2) {
        /* `<message> <status>`; `<status> <message>` when only the first is a status */
        if (!status_like(args[1].text) && three_digits(args[0].text))
            status = &args[0], msg = &args[1];
        else
            msg = &args[0], status = &args[1];
    }
    e->status = 500;
    if (msg) {
        e->message = dw_cfg_str(p, msg);
        dw_cfg_note_template(p, msg);
    }
    if (status) {
        dw_str_t s = status->text;
        if (dw_cfg_route_is_placeholder(s)) {
            e->status = 0;
            e->status_template = dw_cfg_str(p, status);
            dw_cfg_note_template(p, status);
        } else {
            uint16_t v = three_digits(s) ? status_value(s) : 0;
            if (v < 400 || v > 599) {
                dw_cfg_err(p, status, "error status must be 400-599");
                return -1;
            }
            e->status = v;
        }
    }
    return 0;
}

void dw_cfg_json_error(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_error_t *e = &d->u.error;
    if (e->status_template.len)
        dw_json_kv_str(j, "status_template", e->status_template);
    else
        dw_json_kv_uint(j, "status", e->status);
    dw_json_kv_str(j, "message", e->message.ptr ? e->message : DW_STR(""));
}

/* --- abort (§6.13)
 * -------------------------------------------------------------------------------- */

int dw_cfg_parse_abort(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                       size_t nargs, dw_cfg_directive_t *d)
{
    (void)d;
    if (dw_cfg_route_no_block(p, node, "abort") < 0) return -1;
    if (nargs > 0) {
        dw_cfg_err(p, &args[0],
                   "invalid value for 'abort': unexpected argument %s (abort takes no arguments)",
                   dw_cfg_tok_str(p, &args[0]));
        return -1;
    }
    return 0;
}

void dw_cfg_json_abort(dw_json_t *j, const dw_cfg_directive_t *d)
{
    (void)j, (void)d;
}

/* --- method (§6.17)
 * ------------------------------------------------------------------------------- */

int dw_cfg_parse_method(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                        size_t nargs, dw_cfg_directive_t *d)
{
    if (dw_cfg_route_no_block(p, node, "method") < 0) return -1;
    if (nargs == 0) {
        dw_cfg_err(p, &node->name, "invalid value for 'method': expected an HTTP method");
        return -1;
    }
    if (nargs > 1) {
        dw_cfg_route_extra_arg(p, &args[1], "method");
        return -1;
    }
    if (!valid_token(args[0].text)) {
        dw_cfg_err(p, &args[0], "invalid value for 'method': '%.*s' is not a valid HTTP method",
                   DW_STR_FMT(args[0].text));
        return -1;
    }
    dw_str_t m = dw_cfg_str(p, &args[0]);
    char *c = (char *)m.ptr;
    for (size_t i = 0; c && i < m.len; i++)
        if (c[i] >= 'a' && c[i] <= 'z') c[i] = (char)(c[i] - 32);
    d->u.method.method = m;
    return 0;
}

void dw_cfg_json_method(dw_json_t *j, const dw_cfg_directive_t *d)
{
    dw_json_kv_str(j, "method", d->u.method.method);
}

/* --- vars (§6.18)
 * ------------------------------------------------------------------------------------ */

static bool valid_var_name(dw_str_t s)
{
    if (s.len == 0) return false;
    for (size_t i = 0; i < s.len; i++)
        if (!dw_ascii_isalnum(s.ptr[i]) && s.ptr[i] != '_' && s.ptr[i] != '-' && s.ptr[i] != '.')
            return false;
    return true;
}

static int push_var(dw_cfg_parser_t *p, const dw_cfg_token_t *name, const dw_cfg_token_t *vals,
                    size_t nvals, dw_cfg_vars_t *vars, size_t *cap)
{
    if (!valid_var_name(name->text)) {
        dw_cfg_err(p, name, "invalid value for 'vars': invalid variable name '%.*s'",
                   DW_STR_FMT(name->text));
        return -1;
    }
    if (nvals == 0) {
        dw_cfg_err(p, name, "invalid value for 'vars': expected a value for '%.*s'",
                   DW_STR_FMT(name->text));
        return -1;
    }
    if (nvals > 1) {
        dw_cfg_route_extra_arg(p, &vals[1], "vars");
        return -1;
    }
    dw_cfg_var_t *v = DW_ARENA_PUSH(p->arena, vars->v, vars->n, *cap);
    if (!v) return -1;
    v->name = dw_cfg_str(p, name);
    v->value = dw_cfg_str(p, &vals[0]);
    dw_cfg_declare_var(p, v->name);
    dw_cfg_note_template(p, &vals[0]);
    return 0;
}

int dw_cfg_parse_vars(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                      size_t nargs, dw_cfg_directive_t *d)
{
    size_t cap = 0;
    int rc = 0;
    if (nargs == 0 && !node->has_block) {
        dw_cfg_err(p, &node->name, "invalid value for 'vars': expected <name> <value> or a block");
        return -1;
    }
    if (nargs > 0 && push_var(p, &args[0], args + 1, nargs - 1, &d->u.vars, &cap) < 0) rc = -1;
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *c = &node->children[i];
        if (c->has_block) {
            dw_cfg_err(p, &c->open, "unexpected block inside 'vars' block");
            rc = -1;
        } else if (push_var(p, &c->name, c->args, c->nargs, &d->u.vars, &cap) < 0) {
            rc = -1;
        }
    }
    return rc;
}

void dw_cfg_json_vars(dw_json_t *j, const dw_cfg_directive_t *d)
{
    dw_json_key(j, "vars");
    dw_json_arr_begin(j);
    for (size_t i = 0; i < d->u.vars.n; i++) {
        dw_json_obj_begin(j);
        dw_json_kv_str(j, "name", d->u.vars.v[i].name);
        dw_json_kv_str(j, "value", d->u.vars.v[i].value);
        dw_json_obj_end(j);
    }
    dw_json_arr_end(j);
}

/* --- map (§6.19)
 * -------------------------------------------------------------------------------------- */

static const char *const map_kinds[] = {
    [DW_MAP_EXACT] = "exact", [DW_MAP_REGEX] = "regex", [DW_MAP_DEFAULT] = "default"};

int dw_cfg_parse_map(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args,
                     size_t nargs, dw_cfg_directive_t *d)
{
    dw_cfg_map_t *m = &d->u.map;
    if (nargs < 2) {
        dw_cfg_err(p, nargs ? &args[0] : &node->name,
                   "invalid value for 'map': expected <source> <destination> and a block");
        return -1;
    }
    if (nargs > 2) {
        dw_cfg_err(
            p, &args[2],
            "invalid value for 'map': expected one destination variable, got another argument %s",
            dw_cfg_tok_str(p, &args[2]));
        return -1;
    }
    if (!node->has_block) {
        dw_cfg_err(p, &node->name, "expected '{' to open the 'map' block");
        return -1;
    }
    m->source = dw_cfg_str(p, &args[0]);
    dw_cfg_note_template(p, &args[0]);
    /* <dest>: name, vars.name, {vars.name} (also http.vars.name) */
    dw_str_t dest = args[1].text;
    if (dest.len > 2 && dest.ptr[0] == '{' && dest.ptr[dest.len - 1] == '}')
        dest = dw_str_sub(dest, 1, dest.len - 2);
    if (dw_str_has_prefix(dest, DW_STR("http.vars.")))
        dest = dw_str_sub(dest, 10, dest.len);
    else if (dw_str_has_prefix(dest, DW_STR("vars.")))
        dest = dw_str_sub(dest, 5, dest.len);
    if (!valid_var_name(dest)) {
        dw_cfg_err(p, &args[1], "invalid value for 'map': invalid destination variable '%.*s'",
                   DW_STR_FMT(args[1].text));
        return -1;
    }
    m->dest = dw_cfg_strdup(p, dest);
    dw_cfg_declare_var(p, m->dest);
    size_t cap = 0;
    int rc = 0;
    bool have_default = false;
    for (size_t i = 0; i < node->nchildren; i++) {
        const dw_cfg_node_t *c = &node->children[i];
        dw_str_t pat = c->name.text;
        if (c->has_block) {
            dw_cfg_err(p, &c->open, "unexpected block inside 'map' block");
            rc = -1;
            continue;
        }
        if (c->nargs == 0) {
            dw_cfg_err(p, &c->name, "invalid value for 'map': expected a value for '%.*s'",
                       DW_STR_FMT(pat));
            rc = -1;
            continue;
        }
        if (c->nargs > 1) {
            dw_cfg_route_extra_arg(p, &c->args[1], "map");
            rc = -1;
            continue;
        }
        uint8_t kind = DW_MAP_EXACT;
        if (dw_str_eq_c(pat, "default")) {
            if (have_default) {
                dw_cfg_err(p, &c->name, "invalid value for 'map': duplicate 'default' entry");
                rc = -1;
                continue;
            }
            have_default = true;
            kind = DW_MAP_DEFAULT;
        } else if (pat.len && pat.ptr[0] == '~') {
            kind = DW_MAP_REGEX;
            pat = dw_str_sub(pat, 1, pat.len);
            if (dw_cfg_check_regex(p, &c->name, pat, true) < 0) {
                rc = -1;
                continue;
            }
        }
        dw_cfg_map_entry_t *e = DW_ARENA_PUSH(p->arena, m->entries, m->nentries, cap);
        if (!e) return -1;
        e->kind = kind;
        e->pattern = kind == DW_MAP_DEFAULT ? DW_STR("") : dw_cfg_strdup(p, pat);
        e->value = dw_cfg_str(p, &c->args[0]);
        e->loc = dw_cfg_tok_loc(&c->name);
        dw_cfg_note_template(p, &c->args[0]);
    }
    return rc;
}

void dw_cfg_json_map(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_map_t *m = &d->u.map;
    dw_json_kv_str(j, "source", m->source);
    dw_json_kv_str(j, "dest", m->dest);
    dw_json_key(j, "entries");
    dw_json_arr_begin(j);
    for (size_t i = 0; i < m->nentries; i++) {
        const dw_cfg_map_entry_t *e = &m->entries[i];
        dw_json_obj_begin(j);
        dw_json_kv_cstr(j, "kind", map_kinds[e->kind]);
        if (e->kind != DW_MAP_DEFAULT) dw_json_kv_str(j, "pattern", e->pattern);
        dw_json_kv_str(j, "value", e->value);
        dw_json_obj_end(j);
    }
    dw_json_arr_end(j);
}
