/* Preprocessing (spec 10 §1.3-1.4): environment and argument substitution, snippets, and
 * imports of snippets, files and globs, with traversal, cycle and depth protection.
 * The output is one token stream whose tokens keep their own file, line and column. */
#include "parser_int.h"
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct snippet {
    dw_str_t name;
    dw_cfg_token_t *toks; /* the body, between the braces */
    size_t n;
} snippet_t;

typedef struct pp {
    dw_cfg_parser_t *p;
    dw_strmap_t snippets;
    const char *chain[DW_CFG_MAX_IMPORT_DEPTH + 2]; /* snippet names / canonical files */
    int depth;
    char *canon_base; /* canonical base directory */
} pp_t;

typedef struct args {
    dw_str_t *v;
    size_t n;
} args_t;

static const char *env_get(dw_cfg_parser_t *p, const char *name)
{
    if (p->opts && p->opts->getenv_fn) return p->opts->getenv_fn(name, p->opts->getenv_ctx);
    return getenv(name);
}

static void push_tok(dw_cfg_parser_t *p, dw_cfg_tokens_t *out, const dw_cfg_token_t *t)
{
    dw_cfg_token_t *slot = DW_ARENA_PUSH(&p->scratch, out->v, out->n, out->cap);
    if (slot) *slot = *t;
}

static void join_args(dw_buf_t *b, const args_t *args)
{
    for (size_t i = 0; i < args->n; i++) {
        if (i) dw_buf_putc(b, ' ');
        dw_buf_append_str(b, args->v[i]);
    }
}

/* Substitutes {$X}, {$X:def}, {env.X} and (with args) {args[N]}, {args[:]} in t's text, left
 * to right, once. The result replaces t->text. */
static void substitute(pp_t *pp, dw_cfg_token_t *t, const args_t *args)
{
    dw_str_t s = t->text;
    if (dw_str_chr(s, '{') < 0) return;
    dw_buf_t b = DW_BUF_INIT;
    bool changed = false;
    size_t i = 0;
    while (i < s.len) {
        ptrdiff_t close = -1;
        if (s.ptr[i] == '{') close = dw_str_chr(dw_str_sub(s, i, s.len), '}');
        if (close <= 1) {
            dw_buf_putc(&b, s.ptr[i++]);
            continue;
        }
        dw_str_t inner = dw_str_sub(s, i + 1, (size_t)close - 1);
        if (inner.len > 1 && inner.ptr[0] == '$') {
            dw_str_t name = dw_str_sub(inner, 1, inner.len);
            dw_str_t def = DW_STR_NULL;
            bool has_def = false;
            ptrdiff_t colon = dw_str_chr(name, ':');
            if (colon >= 0) {
                def = dw_str_sub(name, (size_t)colon + 1, name.len);
                name.len = (size_t)colon;
                has_def = true;
            }
            char *cname = dw_arena_strndup(&pp->p->scratch, name.ptr, name.len);
            const char *v = cname ? env_get(pp->p, cname) : NULL;
            if (v && *v)
                dw_buf_append_c(&b, v);
            else if (has_def) /* unset or empty: the default, else nothing */
                dw_buf_append_str(&b, def);
            changed = true;
        } else if (inner.len > 4 && memcmp(inner.ptr, "env.", 4) == 0) {
            dw_str_t name = dw_str_sub(inner, 4, inner.len);
            char *cname = dw_arena_strndup(&pp->p->scratch, name.ptr, name.len);
            const char *v = cname ? env_get(pp->p, cname) : NULL;
            if (!v)
                dw_cfg_err(pp->p, t, "environment variable '%s' is not set", cname ? cname : "");
            else
                dw_buf_append_c(&b, v);
            changed = true;
        } else if (args && inner.len > 6 && memcmp(inner.ptr, "args[", 5) == 0 &&
                   inner.ptr[inner.len - 1] == ']') {
            dw_str_t idx = dw_str_sub(inner, 5, inner.len - 6);
            uint64_t n;
            if (dw_str_eq_c(idx, ":")) {
                join_args(&b, args);
                changed = true;
            } else if (dw_parse_u64(idx, &n) == DW_OK) {
                if (n < args->n) dw_buf_append_str(&b, args->v[n]); /* out of range: empty */
                changed = true;
            } else {
                dw_buf_append(&b, s.ptr + i, (size_t)close + 1);
            }
        } else {
            dw_buf_append(&b, s.ptr + i, (size_t)close + 1);
        }
        i += (size_t)close + 1;
    }
    if (changed) {
        char *copy = dw_arena_strndup(&pp->p->scratch, b.data ? b.data : "", b.len);
        if (copy) t->text = dw_str_make(copy, b.len);
    }
    dw_buf_deinit(&b);
}

/* Emits t (substituted) into out; a whole-token {args[:]} becomes one token per argument
 * (decision 8). */
static void emit_subst(pp_t *pp, const dw_cfg_token_t *src, const args_t *args,
                       dw_cfg_tokens_t *out)
{
    dw_cfg_token_t t = *src;
    if (t.kind != DW_TOK_WORD && t.kind != DW_TOK_QUOTED) {
        push_tok(pp->p, out, &t);
        return;
    }
    if (args && t.kind == DW_TOK_WORD && dw_str_eq_c(t.text, "{args[:]}")) {
        for (size_t i = 0; i < args->n; i++) {
            dw_cfg_token_t a = t;
            a.text = args->v[i];
            push_tok(pp->p, out, &a);
        }
        return;
    }
    substitute(pp, &t, args);
    push_tok(pp->p, out, &t);
}

static void expand(pp_t *pp, dw_cfg_token_t *toks, size_t n, const args_t *args,
                   dw_cfg_tokens_t *out);

/* --- snippets ------------------------------------------------------------------------------ */

static bool is_snippet_head(const dw_cfg_token_t *t)
{
    return t->kind == DW_TOK_WORD && t->text.len > 2 && t->text.ptr[0] == '(' &&
           t->text.ptr[t->text.len - 1] == ')';
}

/* Removes top-level `(name) { ... }` definitions from toks (compacting it) and registers them.
 * Returns the new count. */
static size_t extract_snippets(pp_t *pp, dw_cfg_token_t *toks, size_t n)
{
    size_t w = 0, i = 0;
    int depth = 0;
    bool line_start = true;
    while (i < n) {
        dw_cfg_token_t *t = &toks[i];
        if (depth == 0 && line_start && is_snippet_head(t) && i + 1 < n &&
            toks[i + 1].kind == DW_TOK_OPEN) {
            dw_str_t name = dw_str_sub(t->text, 1, t->text.len - 2);
            size_t j = i + 2;
            int d = 1;
            for (; j < n && d > 0; j++) {
                if (toks[j].kind == DW_TOK_OPEN)
                    d++;
                else if (toks[j].kind == DW_TOK_CLOSE)
                    d--;
            }
            if (d > 0) {
                dw_cfg_err(pp->p, t, "invalid snippet at line %u: unclosed snippet '(%.*s)'",
                           t->line, DW_STR_FMT(name));
                toks[w++] = toks[n - 1]; /* keep EOF */
                return w;
            }
            /* toks[j-1] is the closing brace */
            snippet_t *sn = dw_arena_zalloc(&pp->p->scratch, sizeof(*sn));
            if (sn) {
                sn->name = name;
                sn->toks = &toks[i + 2];
                sn->n = j - 1 - (i + 2);
                /* The body's tokens move out of the compacted stream: copy them. */
                sn->toks = dw_arena_memdup(&pp->p->scratch, sn->toks, sn->n * sizeof(*sn->toks));
                if (dw_strmap_get(&pp->snippets, name))
                    dw_cfg_err(pp->p, t, "redeclaration of snippet '%.*s'", DW_STR_FMT(name));
                else
                    dw_strmap_put(&pp->snippets, name, sn, NULL);
            }
            i = j;
            if (i < n && toks[i].kind == DW_TOK_EOL) i++;
            line_start = true;
            continue;
        }
        if (t->kind == DW_TOK_OPEN)
            depth++;
        else if (t->kind == DW_TOK_CLOSE && depth > 0)
            depth--;
        line_start = t->kind == DW_TOK_EOL || t->kind == DW_TOK_OPEN || t->kind == DW_TOK_CLOSE;
        toks[w++] = *t;
        i++;
    }
    return w;
}

/* --- files ---------------------------------------------------------------------------------- */

/* Reads a whole file into the scratch arena, enforcing the size limit. */
static char *read_file(dw_cfg_parser_t *p, const dw_cfg_token_t *at, const char *path,
                       const char *prefix, size_t *len_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        if (at) dw_cfg_err(p, at, "%scannot read '%s': %s", prefix, path, strerror(e));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        if (at) dw_cfg_err(p, at, "%scannot read '%s': not a regular file", prefix, path);
        return NULL;
    }
    if ((uint64_t)st.st_size > DW_CFG_MAX_FILE_SIZE) {
        close(fd);
        dw_cfg_err_at(p, at ? dw_cfg_tok_loc(at) : (dw_cfg_loc_t){0},
                      "%sconfig file too large (%lld bytes, max %u bytes)", prefix,
                      (long long)st.st_size, DW_CFG_MAX_FILE_SIZE);
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    char *buf = dw_arena_alloc(&p->scratch, len + 1);
    size_t got = 0;
    while (buf && got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf || got != len) {
        if (at) dw_cfg_err(p, at, "%scannot read '%s': short read", prefix, path);
        return NULL;
    }
    buf[len] = '\0';
    *len_out = len;
    return buf;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static bool has_dotdot_segment(dw_str_t s)
{
    size_t i = 0;
    while (i <= s.len) {
        size_t j = i;
        while (j < s.len && s.ptr[j] != '/') j++;
        if (j - i == 2 && s.ptr[i] == '.' && s.ptr[i + 1] == '.') return true;
        i = j + 1;
    }
    return false;
}

static bool inside_base(const pp_t *pp, const char *canon)
{
    size_t n = strlen(pp->canon_base);
    if (strcmp(pp->canon_base, "/") == 0) return true;
    return strncmp(canon, pp->canon_base, n) == 0 && (canon[n] == '/' || canon[n] == '\0');
}

#define IMPORT_ERR "import error: "

static bool on_chain(const pp_t *pp, const char *key)
{
    for (int i = 0; i < pp->depth; i++)
        if (strcmp(pp->chain[i], key) == 0) return true;
    return false;
}

/* Lexes and expands one imported (or the top-level) file. */
static void expand_file(pp_t *pp, const dw_cfg_token_t *at, const char *canon, const args_t *args,
                        dw_cfg_tokens_t *out)
{
    dw_cfg_parser_t *p = pp->p;
    size_t len;
    char *src = read_file(p, at, canon, IMPORT_ERR, &len);
    if (!src) return;
    const char *display = dw_arena_strdup(p->arena, base_name(canon));
    dw_cfg_tokens_t toks = {0};
    if (dw_cfg_lex(&p->scratch, display, src, len, 0, &toks, p->diags)) return;
    size_t n = extract_snippets(pp, toks.v, toks.n);
    if (n && toks.v[n - 1].kind == DW_TOK_EOF) n--; /* the importer keeps its own EOF */
    expand(pp, toks.v, n, args, out);
}

static int glob_check(dw_str_t pat, const char **reason)
{
    for (size_t i = 0; i < pat.len; i++) {
        if (pat.ptr[i] == '\\') {
            if (++i >= pat.len) return *reason = "trailing backslash", -1;
        } else if (pat.ptr[i] == '[') {
            size_t j = i + 1;
            if (j < pat.len && (pat.ptr[j] == '!' || pat.ptr[j] == '^')) j++;
            if (j < pat.len && pat.ptr[j] == ']') j++;
            while (j < pat.len && pat.ptr[j] != ']') j++;
            if (j >= pat.len) return *reason = "unterminated character class", -1;
            if (j == i + 1) return *reason = "empty character class", -1;
            i = j;
        }
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void import_path(pp_t *pp, const dw_cfg_token_t *imp, const dw_cfg_token_t *target,
                        const args_t *args, dw_cfg_tokens_t *out)
{
    dw_cfg_parser_t *p = pp->p;
    dw_str_t t = target->text;
    if (has_dotdot_segment(t)) {
        dw_cfg_err(p, imp, IMPORT_ERR "path traversal blocked: '%.*s' escapes base directory",
                   DW_STR_FMT(t));
        return;
    }
    bool is_glob = false;
    for (size_t i = 0; i < t.len; i++)
        if (t.ptr[i] == '*' || t.ptr[i] == '?' || t.ptr[i] == '[') is_glob = true;
    if (!is_glob && dw_str_chr(t, '/') < 0 && dw_str_chr(t, '.') < 0) {
        dw_cfg_err(p, imp, IMPORT_ERR "imported file not found: '%.*s'", DW_STR_FMT(t));
        return;
    }
    const char *pattern =
        t.len && t.ptr[0] == '/'
            ? dw_arena_strndup(&p->scratch, t.ptr, t.len)
            : dw_arena_sprintf(&p->scratch, "%s/%.*s", p->cfg->base_dir, DW_STR_FMT(t));
    if (!pattern) return;
    char **files = NULL;
    size_t nfiles = 0;
    glob_t g;
    memset(&g, 0, sizeof(g));
    if (is_glob) {
        const char *reason;
        if (glob_check(t, &reason)) {
            dw_cfg_err(p, imp, IMPORT_ERR "invalid glob pattern: %.*s: %s", DW_STR_FMT(t), reason);
            return;
        }
        int rc = glob(pattern, GLOB_NOSORT, NULL, &g); /* a missing directory is zero matches */
        if (rc == GLOB_NOMATCH) return;                /* zero matches is not an error */
        if (rc != 0) {
            dw_cfg_err(p, imp, IMPORT_ERR "cannot expand glob '%.*s'", DW_STR_FMT(t));
            globfree(&g);
            return;
        }
        files = g.gl_pathv;
        nfiles = g.gl_pathc;
        qsort(files, nfiles, sizeof(*files), cmp_str); /* byte order, not locale order */
    } else {
        files = (char **)&pattern;
        nfiles = 1;
    }
    for (size_t i = 0; i < nfiles; i++) {
        struct stat st;
        if (stat(files[i], &st) != 0) {
            if (!is_glob) {
                if (errno == ENOENT)
                    dw_cfg_err(p, imp, IMPORT_ERR "imported file not found: '%.*s'", DW_STR_FMT(t));
                else
                    dw_cfg_err(p, imp, IMPORT_ERR "cannot read '%s': %s", files[i],
                               strerror(errno));
            }
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            if (!is_glob)
                dw_cfg_err(p, imp, IMPORT_ERR "cannot read '%s': not a regular file", files[i]);
            continue;
        }
        char *canon = realpath(files[i], NULL);
        if (!canon) {
            dw_cfg_err(p, imp, IMPORT_ERR "cannot read '%s': %s", files[i], strerror(errno));
            continue;
        }
        if (!inside_base(pp, canon)) {
            dw_cfg_err(p, imp, IMPORT_ERR "path traversal blocked: '%.*s' escapes base directory",
                       DW_STR_FMT(t));
        } else if (on_chain(pp, canon)) {
            dw_cfg_err(p, imp, IMPORT_ERR "circular import detected: '%.*s'", DW_STR_FMT(t));
        } else if (pp->depth >= DW_CFG_MAX_IMPORT_DEPTH + 1) {
            dw_cfg_err(p, imp, IMPORT_ERR "import depth limit exceeded (max %d levels of nesting)",
                       DW_CFG_MAX_IMPORT_DEPTH);
        } else {
            char *key = dw_arena_strdup(&p->scratch, canon);
            if (key) {
                pp->chain[pp->depth++] = key;
                expand_file(pp, imp, key, args, out);
                pp->depth--;
            }
        }
        free(canon);
    }
    if (is_glob) globfree(&g);
}

static void import_snippet(pp_t *pp, const dw_cfg_token_t *imp, snippet_t *sn, const args_t *args,
                           dw_cfg_tokens_t *out)
{
    dw_cfg_parser_t *p = pp->p;
    char *key = dw_arena_sprintf(&p->scratch, "(%.*s)", DW_STR_FMT(sn->name));
    if (!key) return;
    if (on_chain(pp, key)) {
        dw_cfg_err(p, imp, IMPORT_ERR "circular import detected: '%.*s'", DW_STR_FMT(sn->name));
        return;
    }
    if (pp->depth >= DW_CFG_MAX_IMPORT_DEPTH + 1) {
        dw_cfg_err(p, imp, IMPORT_ERR "import depth limit exceeded (max %d levels of nesting)",
                   DW_CFG_MAX_IMPORT_DEPTH);
        return;
    }
    pp->chain[pp->depth++] = key;
    expand(pp, sn->toks, sn->n, args, out);
    pp->depth--;
}

/* An `import` line: toks[0] is `import`, the line ends before `end`. */
static void do_import(pp_t *pp, const dw_cfg_token_t *toks, size_t n, const args_t *outer,
                      dw_cfg_tokens_t *out)
{
    dw_cfg_parser_t *p = pp->p;
    const dw_cfg_token_t *imp = &toks[0];
    if (n < 2) {
        dw_cfg_err(p, imp, IMPORT_ERR "import requires a target");
        return;
    }
    dw_cfg_token_t target = toks[1];
    substitute(pp, &target, outer);
    /* Arguments: substituted first, then unquoted words split on whitespace (decision 8). */
    args_t args = {0};
    size_t cap = 0;
    for (size_t i = 2; i < n; i++) {
        dw_cfg_tokens_t one = {0};
        emit_subst(pp, &toks[i], outer, &one);
        for (size_t k = 0; k < one.n; k++) {
            dw_str_t s = one.v[k].text;
            if (one.v[k].kind == DW_TOK_QUOTED) {
                dw_str_t *slot = DW_ARENA_PUSH(&p->scratch, args.v, args.n, cap);
                if (slot) *slot = s;
                continue;
            }
            size_t a = 0;
            while (a < s.len) {
                while (a < s.len && (s.ptr[a] == ' ' || s.ptr[a] == '\t')) a++;
                size_t b = a;
                while (b < s.len && s.ptr[b] != ' ' && s.ptr[b] != '\t') b++;
                if (b > a) {
                    dw_str_t *slot = DW_ARENA_PUSH(&p->scratch, args.v, args.n, cap);
                    if (slot) *slot = dw_str_sub(s, a, b - a);
                }
                a = b;
            }
        }
    }
    snippet_t *sn = dw_strmap_get(&pp->snippets, target.text);
    if (sn)
        import_snippet(pp, imp, sn, &args, out);
    else
        import_path(pp, imp, &target, &args, out);
}

static void expand(pp_t *pp, dw_cfg_token_t *toks, size_t n, const args_t *args,
                   dw_cfg_tokens_t *out)
{
    bool line_start = true;
    size_t i = 0;
    while (i < n) {
        const dw_cfg_token_t *t = &toks[i];
        if (line_start && t->kind == DW_TOK_WORD && dw_str_eq_c(t->text, "import")) {
            size_t j = i + 1;
            while (j < n && toks[j].kind != DW_TOK_EOL && toks[j].kind != DW_TOK_CLOSE &&
                   toks[j].kind != DW_TOK_OPEN && toks[j].kind != DW_TOK_EOF)
                j++;
            do_import(pp, &toks[i], j - i, args, out);
            /* Imported text ends its own lines; make sure it is closed before what follows. */
            if (out->n && out->v[out->n - 1].kind != DW_TOK_EOL && j < n &&
                toks[j].kind == DW_TOK_CLOSE) {
                dw_cfg_token_t eol = toks[j];
                eol.kind = DW_TOK_EOL;
                push_tok(pp->p, out, &eol);
            }
            i = j;
            line_start = false;
            continue;
        }
        line_start = t->kind == DW_TOK_EOL || t->kind == DW_TOK_OPEN;
        emit_subst(pp, t, args, out);
        i++;
    }
    /* A snippet body or file that did not end its last line gets an end of line, so the
     * importer's next line starts fresh. */
    if (out->n && out->v[out->n - 1].kind != DW_TOK_EOL && out->v[out->n - 1].kind != DW_TOK_OPEN) {
        dw_cfg_token_t eol = out->v[out->n - 1];
        eol.kind = DW_TOK_EOL;
        eol.text = eol.raw = DW_STR_NULL;
        push_tok(pp->p, out, &eol);
    }
}

int dw_cfg_preprocess(dw_cfg_parser_t *p, const char *display, const char *src, size_t len,
                      dw_cfg_tokens_t *out)
{
    pp_t pp = {.p = p};
    dw_strmap_init(&pp.snippets, false);
    pp.canon_base = realpath(p->cfg->base_dir, NULL);
    if (!pp.canon_base) pp.canon_base = strdup(p->cfg->base_dir);
    /* The top-level file is level 0 of the chain (decision 4). */
    char *canon = p->cfg->path ? realpath(p->cfg->path, NULL) : NULL;
    pp.chain[pp.depth++] = dw_arena_strdup(&p->scratch, canon ? canon : display);
    free(canon);
    dw_cfg_tokens_t toks = {0};
    size_t errs = dw_cfg_lex(&p->scratch, display, src, len, 0, &toks, p->diags);
    if (!errs) {
        /* most configs expand to about as many tokens as they have: size the output once */
        if (!out->v && toks.n) {
            out->v = dw_arena_alloc(&p->scratch, toks.n * sizeof(*out->v));
            out->cap = out->v ? toks.n : 0;
        }
        size_t n = extract_snippets(&pp, toks.v, toks.n);
        dw_cfg_token_t eof = toks.v[n - 1];
        expand(&pp, toks.v, n - 1, NULL, out);
        push_tok(p, out, &eof);
    }
    free(pp.canon_base);
    dw_strmap_deinit(&pp.snippets);
    return errs ? -1 : 0;
}
