/* `dwaar fmt`: the canonical layout of a Dwaarfile (spec 10 §9.4, decision 19).
 *
 * Token-level: the file is lexed with comments kept and nothing expanded (imports, snippets
 * and placeholders stay as written), then re-laid out in two passes.
 *
 *   1. Group the tokens into output lines. A logical line of the source stays one line,
 *      except that a `{` ends its line (a one-line block is expanded) and a `}` starts one.
 *      A comment ends the line it is on. Each line remembers its depth, whether the source
 *      had an empty line before it, and whether it opens or closes a block.
 *   2. Print the lines: 4 spaces per level, tokens separated by one space, a trailing comment
 *      after one space, and blank lines chosen from the line kinds and the source (see
 *      want_blank()), so the result depends only on the token stream and the blank lines of
 *      the source. That is what makes fmt(fmt(x)) == fmt(x).
 *
 * The only changes to the token stream are ends of lines inserted after a `{` and before a
 * `}`, which the grammar ignores (§1.2 rule 7: a one-line block's body is one logical line),
 * and ends of lines removed by joining continuation lines (the lexer never ends a logical
 * line there). So the output loads to the same model as the input.
 *
 * Quoted tokens are written as their source bytes: `raw` always decodes to `text` (it is
 * what the lexer decoded), it keeps the quote character, and rewriting escapes would change
 * how people wrote regular expressions ("\d", "\\d" are the same text). */
#include "parser_int.h"

#define FMT_INDENT    4
#define FMT_MAX_DEPTH 64 /* the loader refuses deeper nesting; it also bounds the output size */

typedef struct fline {
    size_t first, n;               /* the line's tokens: toks[first .. first + n), no EOL */
    const dw_cfg_token_t *comment; /* a trailing comment, or the whole line; may be NULL */
    uint32_t depth;                /* indentation level */
    bool blank;                    /* the source had an empty line before it */
    bool opens;                    /* holds a '{' */
    bool closes;                   /* starts with '}' */
} fline_t;

typedef struct fmt {
    dw_arena_t arena;
    const char *file;
    dw_diags_t *diags;
    dw_cfg_tokens_t toks;
    fline_t *lines;
    size_t nlines, cap;
    fline_t *cur;         /* the line being filled, or NULL */
    const char *prev_end; /* end of the previous token's bytes (blank-line detection) */
    int blocks;           /* top-level site blocks */
} fmt_t;

static bool is_blank_byte(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Whether the bytes between the previous token and t hold an empty line. Computed from the
 * source rather than taken from DW_TOK_F_BLANK_BEFORE so that a multi-line quoted token that
 * starts a line is treated like any other (the lexer resets its newline count inside). */
static bool blank_before(const fmt_t *f, const dw_cfg_token_t *t)
{
    if (!f->prev_end || !t->raw.ptr || t->raw.ptr < f->prev_end) return false;
    bool seen_nl = false, empty = false;
    for (const char *p = f->prev_end; p < t->raw.ptr; p++) {
        if (*p == '\n') {
            if (seen_nl && empty) return true;
            seen_nl = empty = true;
        } else if (!is_blank_byte(*p)) {
            empty = false; /* the backslash of a continuation */
        }
    }
    return false;
}

static void flush(fmt_t *f)
{
    f->cur = NULL;
}

static fline_t *start_line(fmt_t *f, size_t i, uint32_t depth)
{
    fline_t *l = DW_ARENA_PUSH(&f->arena, f->lines, f->nlines, f->cap);
    if (!l) return NULL;
    l->first = i;
    l->depth = depth;
    l->blank = blank_before(f, &f->toks.v[i]);
    f->cur = l;
    return l;
}

static bool is_value(const dw_cfg_token_t *t)
{
    return t->kind == DW_TOK_WORD || t->kind == DW_TOK_QUOTED;
}

/* A '{' at depth 0 (toks[i]) opens a site block unless it is the global options block, a
 * snippet definition or a `layer4`/`timeouts` block. */
static bool opens_site(const fmt_t *f, const fline_t *l, size_t i)
{
    const dw_cfg_token_t *v = f->toks.v;
    size_t k = l->first;
    while (k < i && !is_value(&v[k])) k++;
    if (k == i) return false; /* nothing before the '{': the global block (or a stray one) */
    dw_str_t s = v[k].text;
    if (k + 1 == i && v[k].kind == DW_TOK_WORD) {
        if (s.len > 2 && s.ptr[0] == '(' && s.ptr[s.len - 1] == ')') return false;
        if (dw_str_eq_c(s, "layer4") || dw_str_eq_c(s, "timeouts")) return false;
    }
    return true;
}

static void block_name(const fmt_t *f, size_t open, char *buf, size_t bufsz)
{
    const dw_cfg_token_t *v = f->toks.v;
    size_t k = open;
    while (k > 0 && v[k - 1].kind != DW_TOK_EOL && v[k - 1].kind != DW_TOK_OPEN &&
           v[k - 1].kind != DW_TOK_CLOSE)
        k--;
    while (k < open && !is_value(&v[k])) k++;
    if (k == open) {
        snprintf(buf, bufsz, "block");
        return;
    }
    dw_str_t s = v[k].text;
    snprintf(buf, bufsz, "'%.*s' block", (int)(s.len > 100 ? 100 : s.len), s.ptr);
}

static int fail(fmt_t *f, const dw_cfg_token_t *t, const char *fmt, ...) DW_PRINTF(3, 4);
static int fail(fmt_t *f, const dw_cfg_token_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dw_diags_vadd(f->diags, DW_SEV_ERROR, f->file, t->line, t->col, fmt, ap);
    va_end(ap);
    return -1;
}

/* Pass 1: tokens to lines. Returns 0, or -1 after reporting a brace error. */
static int group_lines(fmt_t *f)
{
    const dw_cfg_token_t *v = f->toks.v;
    size_t stack[FMT_MAX_DEPTH + 1]; /* index of each open '{' */
    uint32_t depth = 0;
    bool brk = false; /* a '{' ended the line: what follows (but a comment) starts a new one */
    for (size_t i = 0; i < f->toks.n; i++) {
        const dw_cfg_token_t *t = &v[i];
        switch (t->kind) {
        case DW_TOK_WORD:
        case DW_TOK_QUOTED:
        case DW_TOK_OPEN:
            if (brk) flush(f);
            brk = false;
            if (!f->cur && !start_line(f, i, depth)) return -1;
            f->cur->n++;
            if (t->kind == DW_TOK_OPEN) {
                if (depth == FMT_MAX_DEPTH)
                    return fail(f, t, "blocks nested too deeply (max %d levels)", FMT_MAX_DEPTH);
                if (depth == 0 && opens_site(f, f->cur, i)) f->blocks++;
                f->cur->opens = true;
                stack[depth++] = i;
                brk = true;
            }
            break;
        case DW_TOK_CLOSE:
            if (depth == 0) return fail(f, t, "unexpected '}'");
            depth--;
            flush(f);
            brk = false;
            if (!start_line(f, i, depth)) return -1;
            f->cur->n = 1;
            f->cur->closes = true;
            break;
        case DW_TOK_COMMENT:
            if (!f->cur && !start_line(f, i, depth)) return -1;
            f->cur->comment = t;
            flush(f);
            brk = false;
            break;
        case DW_TOK_EOL:
            flush(f);
            brk = false;
            continue; /* no bytes: keep prev_end */
        case DW_TOK_EOF:
            flush(f);
            if (depth > 0) {
                char what[128];
                block_name(f, stack[depth - 1], what, sizeof(what));
                return fail(f, &v[stack[depth - 1]],
                            "unexpected end of file, expected '}' to close %s", what);
            }
            return 0;
        default: break;
        }
        if (t->raw.ptr) f->prev_end = t->raw.ptr + t->raw.len;
    }
    return 0;
}

static bool ends_with_comma(const fmt_t *f, const fline_t *l)
{
    if (!l->n) return false;
    const dw_cfg_token_t *t = &f->toks.v[l->first + l->n - 1];
    return t->kind == DW_TOK_WORD && t->text.len && t->text.ptr[t->text.len - 1] == ',';
}

/* Whether an empty line goes between lines p and l. */
static bool want_blank(const fmt_t *f, const fline_t *p, const fline_t *l)
{
    if (l->closes || l->depth > p->depth) return false; /* none before '}' or after '{' */
    if (l->depth == 0) {
        /* exactly one between top-level items: after a block, and before one unless a
         * comment (or an address line ending in ',') leads into it */
        if (p->closes && p->depth == 0) return true;
        if ((l->opens || ends_with_comma(f, l)) && p->n > 0 && !ends_with_comma(f, p)) return true;
    }
    return l->blank; /* inner runs of empty lines collapse to one */
}

/* Pass 2: lines to text. */
static void print_lines(const fmt_t *f, dw_buf_t *out)
{
    static const char spaces[FMT_INDENT * 8 + 1] = "                                ";
    static const char bom[] = "\xEF\xBB\xBF";
    if (f->nlines && f->lines[0].n) {
        /* A word that starts with the bytes of a BOM (one that was not at the very start of
         * the source) must not become the first bytes of the output, where the lexer would
         * skip them: a real BOM in front keeps it intact. */
        dw_str_t first = f->toks.v[f->lines[0].first].raw;
        if (dw_str_has_prefix(first, dw_str_make(bom, 3))) dw_buf_append(out, bom, 3);
    }
    for (size_t k = 0; k < f->nlines; k++) {
        const fline_t *l = &f->lines[k];
        if (k > 0 && want_blank(f, &f->lines[k - 1], l)) dw_buf_putc(out, '\n');
        for (size_t ind = (size_t)l->depth * FMT_INDENT; ind > 0;) {
            size_t n = ind < sizeof(spaces) - 1 ? ind : sizeof(spaces) - 1;
            dw_buf_append(out, spaces, n);
            ind -= n;
        }
        const dw_cfg_token_t *last = NULL;
        for (size_t i = 0; i < l->n; i++) {
            last = &f->toks.v[l->first + i];
            if (i) dw_buf_putc(out, ' ');
            dw_buf_append_str(out, last->raw);
        }
        if (l->comment) {
            if (l->n) dw_buf_putc(out, ' ');
            dw_buf_append_str(out, l->comment->raw);
        } else if (last && last->kind == DW_TOK_WORD && last->raw.len &&
                   last->raw.ptr[last->raw.len - 1] == '\\') {
            /* a word ending in '\' must not touch the newline: that would be a continuation */
            dw_buf_putc(out, ' ');
        }
        dw_buf_putc(out, '\n');
    }
}

int dw_cfg_format(const char *display_name, const char *src, size_t len, dw_buf_t *out,
                  dw_diags_t *diags)
{
    fmt_t f = {.file = display_name, .diags = diags};
    dw_arena_init(&f.arena, 64 * 1024);
    int rc = -1;
    if (dw_cfg_lex(&f.arena, display_name, src, len, DW_LEX_COMMENTS, &f.toks, diags) == 0 &&
        f.toks.n > 0 && group_lines(&f) == 0) {
        dw_buf_reserve(out, 1); /* an empty result is still a C string, never NULL */
        print_lines(&f, out);
        rc = out->failed ? -1 : f.blocks;
    }
    dw_arena_deinit(&f.arena);
    return rc;
}
