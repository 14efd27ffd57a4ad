/* The Dwaarfile lexer (spec 10 §1.1-1.2): line-oriented, Caddy-style. Words, quoted strings,
 * braces that are blocks vs braces that are placeholders, comments, line continuation. */
#include <dwaar/base/buf.h>
#include <dwaar/config/token.h>

typedef struct lexer {
    dw_arena_t *a;
    const char *file;
    const char *s;
    size_t len, i;
    uint32_t line;
    size_t line_start; /* offset of the current line's first byte */
    unsigned newlines; /* newlines since the last token (blank-line detection) */
    unsigned flags;
    dw_cfg_tokens_t *out;
    dw_diags_t *diags;
    size_t errors;
} lexer_t;

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static dw_cfg_token_t *emit(lexer_t *lx, uint8_t kind, size_t start, uint32_t line, size_t col)
{
    dw_cfg_tokens_t *o = lx->out;
    dw_cfg_token_t *t = DW_ARENA_PUSH(lx->a, o->v, o->n, o->cap);
    if (!t) return NULL;
    t->kind = kind;
    t->file = lx->file;
    t->line = line;
    t->col = (uint32_t)col;
    t->end_line = lx->line;
    t->raw = dw_str_make(lx->s + start, lx->i - start);
    t->text = t->raw;
    if (lx->newlines >= 2) t->flags |= DW_TOK_F_BLANK_BEFORE;
    lx->newlines = 0;
    return t;
}

static void emit_eol(lexer_t *lx)
{
    /* Only end a logical line that has something on it. */
    if (lx->out->n == 0) return;
    uint8_t last = lx->out->v[lx->out->n - 1].kind;
    if (last == DW_TOK_EOL) return;
    unsigned nl = lx->newlines;
    dw_cfg_token_t *t = emit(lx, DW_TOK_EOL, lx->i, lx->line, lx->i - lx->line_start + 1);
    lx->newlines = nl;
    if (t) t->raw = t->text = DW_STR_NULL;
}

static void newline(lexer_t *lx)
{
    lx->line++;
    lx->line_start = lx->i;
    lx->newlines++;
}

/* s[i] == '{': a placeholder if a '}' follows with at least one byte between and no
 * whitespace, quote, backtick or '{' before it (§1.2 rule 5). Returns its length or 0. */
static size_t placeholder_len(const lexer_t *lx, size_t i)
{
    for (size_t j = i + 1; j < lx->len; j++) {
        char c = lx->s[j];
        if (c == '}') return j - i > 1 ? j - i + 1 : 0;
        if (is_space(c) || c == '\n' || c == '"' || c == '`' || c == '{') return 0;
    }
    return 0;
}

/* A backslash that ends the physical line joins the next one (§1.2 rule 6). */
static size_t continuation_len(const lexer_t *lx, size_t i)
{
    if (lx->s[i] != '\\') return 0;
    size_t j = i + 1;
    while (j < lx->len && lx->s[j] == '\r') j++;
    return j < lx->len && lx->s[j] == '\n' ? j - i + 1 : 0;
}

static void lex_quoted(lexer_t *lx)
{
    char q = lx->s[lx->i];
    size_t start = lx->i;
    uint32_t line = lx->line;
    size_t col = lx->i - lx->line_start + 1;
    dw_buf_t b = DW_BUF_INIT;
    bool escaped = false; /* only "..." has escapes */
    lx->i++;
    for (;;) {
        if (lx->i >= lx->len) {
            dw_diags_add(lx->diags, DW_SEV_ERROR, lx->file, line, (uint32_t)col,
                         "unterminated quoted string");
            lx->errors++;
            dw_buf_deinit(&b);
            return;
        }
        char c = lx->s[lx->i];
        if (c == q) break;
        if (c == '\\' && q == '"' && lx->i + 1 < lx->len) {
            char n = lx->s[lx->i + 1];
            char out = 0;
            switch (n) {
            case '"': out = '"'; break;
            case '\\': out = '\\'; break;
            case 'n': out = '\n'; break;
            case 't': out = '\t'; break;
            default: break;
            }
            if (out) {
                dw_buf_putc(&b, out);
                escaped = true;
                lx->i += 2;
                continue;
            }
        }
        if (c == '\n') {
            dw_buf_putc(&b, c);
            lx->i++;
            newline(lx);
            lx->newlines = 0;
            continue;
        }
        dw_buf_putc(&b, c);
        lx->i++;
    }
    lx->i++; /* closing quote */
    dw_cfg_token_t *t = emit(lx, DW_TOK_QUOTED, start, line, col);
    if (!t) {
        dw_buf_deinit(&b);
        return;
    }
    t->quote = q;
    if (escaped || b.len != t->raw.len - 2) {
        char *copy = dw_arena_strndup(lx->a, b.data ? b.data : "", b.len);
        t->text = copy ? dw_str_make(copy, b.len) : DW_STR_NULL;
    } else {
        t->text = dw_str_make(t->raw.ptr + 1, t->raw.len - 2);
    }
    dw_buf_deinit(&b);
}

static void lex_word(lexer_t *lx)
{
    size_t start = lx->i;
    uint32_t line = lx->line;
    size_t col = lx->i - lx->line_start + 1;
    while (lx->i < lx->len) {
        char c = lx->s[lx->i];
        if (is_space(c) || c == '\n' || c == '}') break;
        if (c == '{') {
            size_t n = placeholder_len(lx, lx->i);
            if (!n) break;
            lx->i += n;
            continue;
        }
        if (c == '\\' && continuation_len(lx, lx->i)) break;
        lx->i++;
    }
    emit(lx, DW_TOK_WORD, start, line, col);
}

size_t dw_cfg_lex(dw_arena_t *a, const char *file, const char *src, size_t len, unsigned flags,
                  dw_cfg_tokens_t *out, dw_diags_t *diags)
{
    lexer_t lx = {.a = a,
                  .file = file,
                  .s = src,
                  .len = len,
                  .line = 1,
                  .flags = flags,
                  .out = out,
                  .diags = diags};
    if (len >= 3 && memcmp(src, "\xEF\xBB\xBF", 3) == 0) lx.i = lx.line_start = 3;
    while (lx.i < lx.len) {
        char c = src[lx.i];
        if (c == '\n') {
            emit_eol(&lx);
            lx.i++;
            newline(&lx);
        } else if (is_space(c)) {
            lx.i++;
        } else if (continuation_len(&lx, lx.i)) {
            lx.i += continuation_len(&lx, lx.i);
            newline(&lx);
            lx.newlines = 0;
        } else if (c == '#') {
            size_t start = lx.i;
            size_t col = lx.i - lx.line_start + 1;
            while (lx.i < lx.len && src[lx.i] != '\n') lx.i++;
            if (flags & DW_LEX_COMMENTS) {
                dw_cfg_token_t *t = emit(&lx, DW_TOK_COMMENT, start, lx.line, col);
                if (t) { /* drop trailing \r and spaces */
                    while (t->raw.len && is_space(t->raw.ptr[t->raw.len - 1])) t->raw.len--;
                    t->text = t->raw;
                }
            }
        } else if (c == '"' || c == '`') {
            lex_quoted(&lx);
            if (lx.errors) break; /* EOF inside a string: nothing after it can be trusted */
        } else if (c == '{' && !placeholder_len(&lx, lx.i)) {
            lx.i++;
            emit(&lx, DW_TOK_OPEN, lx.i - 1, lx.line, lx.i - lx.line_start);
        } else if (c == '}') {
            lx.i++;
            emit(&lx, DW_TOK_CLOSE, lx.i - 1, lx.line, lx.i - lx.line_start);
        } else {
            lex_word(&lx);
        }
    }
    emit_eol(&lx);
    dw_cfg_token_t *eof = emit(&lx, DW_TOK_EOF, lx.i, lx.line, lx.i - lx.line_start + 1);
    if (eof) eof->raw = eof->text = DW_STR_NULL;
    return lx.errors;
}

const char *dw_cfg_tok_describe(const dw_cfg_token_t *t, char *buf, size_t bufsz)
{
    switch (t->kind) {
    case DW_TOK_OPEN: return "'{'";
    case DW_TOK_CLOSE: return "'}'";
    case DW_TOK_EOL: return "end of line";
    case DW_TOK_EOF: return "end of file";
    default: break;
    }
    size_t n = t->text.len > 80 ? 80 : t->text.len;
    const char *q = t->kind == DW_TOK_QUOTED ? "\"" : "'";
    snprintf(buf, bufsz, "%s%.*s%s%s", q, (int)n, t->text.ptr, n < t->text.len ? "..." : "", q);
    return buf;
}
