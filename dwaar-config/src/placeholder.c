/* Runtime templates (spec 10 §7): every template value is noted while the file is parsed and
 * checked once the whole file is known, so a variable that `vars`/`map` declares anywhere may
 * be used anywhere. Also the other checks that need the whole file (php_fastcgi's root). */
#include "route_int.h"

/* --- placeholder syntax ------------------------------------------------------------------ */

static bool name_char(char c)
{
    return dw_ascii_isalnum(c) || c == '_' || c == '.' || c == ':' || c == '$' || c == '[' ||
           c == ']' || c == '-';
}

size_t dw_cfg_route_placeholder_len(dw_str_t s, size_t i)
{
    if (i >= s.len || s.ptr[i] != '{') return 0;
    size_t j = i + 1;
    while (j < s.len && name_char(s.ptr[j])) j++;
    if (j == i + 1 || j >= s.len || s.ptr[j] != '}') return 0;
    return j + 1 - i;
}

bool dw_cfg_route_is_placeholder(dw_str_t s)
{
    return s.len > 2 && dw_cfg_route_placeholder_len(s, 0) == s.len;
}

/* --- known names ------------------------------------------------------------------------- */

static const char *const exact_names[] = {
    /* short forms */
    "host",
    "hostport",
    "port",
    "method",
    "scheme",
    "path",
    "dir",
    "file.base",
    "file.ext",
    "query",
    "uri",
    "remote_host",
    "remote_ip",
    "remote_port",
    "client_ip",
    "request_id",
    "tls_server_name",
    "tls_cipher",
    "upstream.host",
    "upstream.port",
    /* long forms */
    "http.request.host",
    "http.request.hostport",
    "http.request.port",
    "http.request.method",
    "http.request.scheme",
    "http.request.uri.path",
    "http.request.uri.path.dir",
    "http.request.uri.path.file.base",
    "http.request.uri.path.file.ext",
    "http.request.uri.path.remainder",
    "http.request.uri.query",
    "http.request.uri",
    "http.request.orig_uri",
    "http.request.remote.host",
    "http.request.remote.port",
    "http.request.id",
    "http.request.tls.server_name",
    "http.request.tls.cipher_suite",
    "http.reverse_proxy.upstream.host",
    "http.reverse_proxy.upstream.port",
    "http.error.status_code",
    "http.error.status_text",
    "http.error.message",
};

/* Families whose last part is free: the prefix must be followed by at least one byte. */
static const char *const prefix_names[] = {
    "query.",
    "header.",
    "cookie.",
    "vars.",
    "re.",
    "http.request.uri.query.",
    "http.request.header.",
    "http.request.cookie.",
    "http.vars.",
    "http.regexp.",
};

static bool all_digits(dw_str_t s)
{
    if (s.len == 0) return false;
    for (size_t i = 0; i < s.len; i++)
        if (!dw_ascii_isdigit(s.ptr[i])) return false;
    return true;
}

static bool builtin_name(dw_str_t n)
{
    for (size_t i = 0; i < DW_ARRAY_LEN(exact_names); i++)
        if (dw_str_eq_c(n, exact_names[i])) return true;
    for (size_t i = 0; i < DW_ARRAY_LEN(prefix_names); i++) {
        dw_str_t pre = dw_str_c(prefix_names[i]);
        if (n.len > pre.len && dw_str_has_prefix(n, pre)) return true;
    }
    dw_str_t seg = DW_STR("http.request.uri.path.");
    return dw_str_has_prefix(n, seg) && all_digits(dw_str_sub(n, seg.len, n.len));
}

/* --- noting and checking ------------------------------------------------------------------ */

void dw_cfg_note_template(dw_cfg_parser_t *p, const dw_cfg_token_t *t)
{
    if (!t || dw_str_chr(t->text, '{') < 0) return; /* nothing to check */
    dw_cfg_token_t *slot = DW_ARENA_PUSH(&p->scratch, p->templates, p->ntemplates, p->ctemplates);
    if (slot) *slot = *t;
}

void dw_cfg_declare_var(dw_cfg_parser_t *p, dw_str_t name)
{
    if (name.len == 0 || dw_strmap_get(&p->vars, name)) return;
    dw_str_t key = dw_arena_str_dup(&p->scratch, name);
    if (key.ptr) dw_strmap_put(&p->vars, key, (void *)1, NULL);
}

static void check_one(dw_cfg_parser_t *p, const dw_cfg_token_t *t)
{
    dw_str_t s = t->text;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] == '\\' && i + 1 < s.len && s.ptr[i + 1] == '{') {
            i++; /* `\{` is a literal brace */
            continue;
        }
        size_t n = dw_cfg_route_placeholder_len(s, i);
        if (n == 0) continue;
        dw_str_t name = dw_str_sub(s, i + 1, n - 2);
        if (!builtin_name(name) && !dw_strmap_get(&p->vars, name))
            dw_cfg_err(p, t, "unknown placeholder '{%.*s}'", DW_STR_FMT(name));
        i += n - 1;
    }
}

void dw_cfg_check_templates(dw_cfg_parser_t *p)
{
    for (size_t i = 0; i < p->ntemplates; i++) check_one(p, &p->templates[i]);
    dw_cfg_route_check_scopes(p);
}

/* --- checks over whole sites ----------------------------------------------------------------- */

#define MAX_WALK_DEPTH 64

typedef struct walk {
    dw_cfg_parser_t *p;
    const dw_cfg_block_t *chain[MAX_WALK_DEPTH + 1];
    int depth;
} walk_t;

static bool block_has_root(const dw_cfg_block_t *b)
{
    for (size_t i = 0; i < b->ndirs; i++)
        if (b->dirs[i].kind == DW_DIR_ROOT) return true;
    return false;
}

static void walk_block(walk_t *w, const dw_cfg_block_t *b)
{
    if (!b || w->depth >= MAX_WALK_DEPTH) return;
    w->chain[w->depth++] = b;
    for (size_t i = 0; i < b->ndirs; i++) {
        const dw_cfg_directive_t *d = &b->dirs[i];
        switch (d->kind) {
        case DW_DIR_PHP_FASTCGI: {
            /* root in scope: this block, an enclosing one, or the site (§6.6) */
            bool found = false;
            for (int k = w->depth - 1; k >= 0 && !found; k--) found = block_has_root(w->chain[k]);
            if (!found) dw_cfg_err_at(w->p, d->loc, "php_fastcgi requires a 'root' directive");
            break;
        }
        case DW_DIR_HANDLE:
        case DW_DIR_HANDLE_PATH:
        case DW_DIR_ROUTE:
        case DW_DIR_HANDLE_ERRORS: walk_block(w, d->u.handle.block); break;
        default: break;
        }
    }
    w->depth--;
}

void dw_cfg_route_check_scopes(dw_cfg_parser_t *p)
{
    walk_t w = {.p = p};
    for (size_t s = 0; s < p->cfg->nsites; s++) walk_block(&w, &p->cfg->sites[s].block);
}
