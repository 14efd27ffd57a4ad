/* The `expression` matcher condition (spec 10 §5): placeholders, integers and '…'/"…"
 * strings compared with == != < <= > >=, combined with && || ! and parentheses. Parsed at load
 * into an AST; anything else is `unsupported expression`. Nesting is bounded
 * (DW_CFG_EXPR_MAX_DEPTH) and && / || chains are n-ary nodes, so nothing recurses on input
 * length. */
#include "route_int.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)

typedef enum etok_kind {
    ET_PLACEHOLDER,
    ET_INT,
    ET_STRING,
    ET_CMP, /* cmp = the DW_EXPR_ comparison */
    ET_AND,
    ET_OR,
    ET_NOT,
    ET_LPAREN,
    ET_RPAREN,
    ET_END,
} etok_kind_t;

typedef struct etok {
    uint8_t kind;
    uint8_t cmp;
    dw_str_t text;              /* placeholder name, string value, integer digits */
    const dw_cfg_token_t *from; /* the Dwaarfile token it came from (error location) */
} etok_t;

typedef struct eparser {
    dw_cfg_parser_t *p;
    etok_t *v;
    size_t n, cap, i;
    const char *error; /* first problem found */
    dw_str_t error_tok;
    int depth;
} eparser_t;

static void fail(eparser_t *e, const char *why, dw_str_t at)
{
    if (e->error) return;
    e->error = why;
    e->error_tok = at;
}

static etok_t *push(eparser_t *e, uint8_t kind, dw_str_t text, const dw_cfg_token_t *from)
{
    etok_t *t = DW_ARENA_PUSH(&e->p->scratch, e->v, e->n, e->cap);
    if (!t) {
        fail(e, "out of memory", text);
        return NULL;
    }
    t->kind = kind;
    t->text = text;
    t->from = from;
    return t;
}

/* Splits one piece of expression text into tokens. */
static void lex(eparser_t *e, dw_str_t s, const dw_cfg_token_t *from)
{
    size_t i = 0;
    while (i < s.len && !e->error) {
        char c = s.ptr[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            i++;
            continue;
        }
        dw_str_t rest = dw_str_sub(s, i, s.len);
        if (c == '{') {
            size_t n = dw_cfg_route_placeholder_len(s, i);
            if (n == 0) {
                fail(e, "malformed placeholder", rest);
                return;
            }
            push(e, ET_PLACEHOLDER, dw_str_sub(s, i + 1, n - 2), from);
            i += n;
        } else if (c == '\'' || c == '"') {
            size_t j = i + 1;
            while (j < s.len && s.ptr[j] != c) j++;
            if (j >= s.len) {
                fail(e, "unterminated string", rest);
                return;
            }
            push(e, ET_STRING, dw_str_sub(s, i + 1, j - i - 1), from);
            i = j + 1;
        } else if (dw_ascii_isdigit(c) ||
                   (c == '-' && i + 1 < s.len && dw_ascii_isdigit(s.ptr[i + 1]))) {
            size_t j = i + 1;
            while (j < s.len && dw_ascii_isdigit(s.ptr[j])) j++;
            if (j < s.len && (dw_ascii_isalpha(s.ptr[j]) || s.ptr[j] == '_')) {
                fail(e, "unexpected", rest);
                return;
            }
            push(e, ET_INT, dw_str_sub(s, i, j - i), from);
            i = j;
        } else if (c == '(' || c == ')') {
            push(e, c == '(' ? ET_LPAREN : ET_RPAREN, dw_str_sub(s, i, 1), from);
            i++;
        } else if (rest.len >= 2 && (dw_str_has_prefix(rest, DW_STR("&&")) ||
                                     dw_str_has_prefix(rest, DW_STR("||")))) {
            push(e, c == '&' ? ET_AND : ET_OR, dw_str_sub(s, i, 2), from);
            i += 2;
        } else if (c == '=' || c == '!' || c == '<' || c == '>') {
            bool eq = i + 1 < s.len && s.ptr[i + 1] == '=';
            uint8_t cmp;
            if (c == '=' && !eq) {
                fail(e, "unexpected", rest);
                return;
            }
            if (c == '!' && !eq) {
                push(e, ET_NOT, dw_str_sub(s, i, 1), from);
                i++;
                continue;
            }
            switch (c) {
            case '=': cmp = DW_EXPR_EQ; break;
            case '!': cmp = DW_EXPR_NE; break;
            case '<': cmp = eq ? DW_EXPR_LE : DW_EXPR_LT; break;
            default: cmp = eq ? DW_EXPR_GE : DW_EXPR_GT; break;
            }
            etok_t *t = push(e, ET_CMP, dw_str_sub(s, i, eq ? 2 : 1), from);
            if (t) t->cmp = cmp;
            i += eq ? 2 : 1;
        } else {
            fail(e, "unexpected", rest);
            return;
        }
    }
}

static const etok_t *peek(eparser_t *e)
{
    return &e->v[e->i < e->n ? e->i : e->n - 1];
}
static const etok_t *next(eparser_t *e)
{
    const etok_t *t = peek(e);
    if (e->i < e->n - 1) e->i++;
    return t;
}

static dw_cfg_expr_t *node(eparser_t *e, uint8_t kind)
{
    dw_cfg_expr_t *x = dw_arena_zalloc(e->p->arena, sizeof(*x));
    if (!x)
        fail(e, "out of memory", DW_STR_NULL);
    else
        x->kind = kind;
    return x;
}

static dw_cfg_expr_t *parse_or(eparser_t *e);

static bool operand(eparser_t *e, dw_cfg_expr_t *out)
{
    const etok_t *t = peek(e);
    if (t->kind == ET_PLACEHOLDER) {
        out->kind = DW_EXPR_PLACEHOLDER;
        out->text = dw_cfg_strdup(e->p, t->text);
    } else if (t->kind == ET_INT) {
        out->kind = DW_EXPR_INT;
        if (dw_parse_i64(t->text, &out->num) != DW_OK) {
            fail(e, "integer out of range", t->text);
            return false;
        }
    } else if (t->kind == ET_STRING) {
        out->kind = DW_EXPR_STRING;
        out->text = dw_cfg_strdup(e->p, t->text);
    } else {
        fail(e, "expected an operand", t->text);
        return false;
    }
    next(e);
    return true;
}

/* atom := '(' or ')' | '!' atom | operand cmp operand */
static dw_cfg_expr_t *parse_atom(eparser_t *e)
{
    if (++e->depth > DW_CFG_EXPR_MAX_DEPTH) {
        fail(e, "nested too deeply (max " STRINGIFY(DW_CFG_EXPR_MAX_DEPTH) " levels)", DW_STR_NULL);
        return NULL;
    }
    dw_cfg_expr_t *x = NULL;
    const etok_t *t = peek(e);
    if (t->kind == ET_LPAREN) {
        next(e);
        x = parse_or(e);
        if (x && peek(e)->kind != ET_RPAREN) {
            fail(e, "expected ')'", peek(e)->text);
            x = NULL;
        } else if (x) {
            next(e);
        }
    } else if (t->kind == ET_NOT) {
        next(e);
        dw_cfg_expr_t *inner = parse_atom(e);
        if (inner && (x = node(e, DW_EXPR_NOT))) x->args = inner, x->nargs = 1;
    } else {
        dw_cfg_expr_t *pair = dw_arena_zalloc(e->p->arena, 2 * sizeof(*pair));
        if (!pair) {
            fail(e, "out of memory", t->text);
        } else if (operand(e, &pair[0])) {
            const etok_t *op = peek(e);
            if (op->kind != ET_CMP) {
                fail(e, "expected a comparison (== != < <= > >=)", op->text);
            } else {
                next(e);
                if (operand(e, &pair[1]) && (x = node(e, op->cmp))) x->args = pair, x->nargs = 2;
            }
        }
    }
    e->depth--;
    return e->error ? NULL : x;
}

/* An n-ary && or || node over items separated by `sep`. */
static dw_cfg_expr_t *parse_chain(eparser_t *e, uint8_t sep, uint8_t kind,
                                  dw_cfg_expr_t *(*item)(eparser_t *))
{
    dw_cfg_expr_t *first = item(e);
    if (!first || peek(e)->kind != sep) return first;
    dw_cfg_expr_t *x = node(e, kind);
    size_t cap = 0;
    if (!x) return NULL;
    dw_cfg_expr_t *slot = DW_ARENA_PUSH(e->p->arena, x->args, x->nargs, cap);
    if (slot) *slot = *first;
    while (!e->error && peek(e)->kind == sep) {
        next(e);
        dw_cfg_expr_t *it = item(e);
        if (!it) return NULL;
        slot = DW_ARENA_PUSH(e->p->arena, x->args, x->nargs, cap);
        if (!slot) {
            fail(e, "out of memory", DW_STR_NULL);
            return NULL;
        }
        *slot = *it;
    }
    return e->error ? NULL : x;
}

static dw_cfg_expr_t *parse_and(eparser_t *e)
{
    return parse_chain(e, ET_AND, DW_EXPR_AND, parse_atom);
}
static dw_cfg_expr_t *parse_or(eparser_t *e)
{
    return parse_chain(e, ET_OR, DW_EXPR_OR, parse_and);
}

dw_cfg_expr_t *dw_cfg_route_parse_expr(dw_cfg_parser_t *p, const dw_cfg_token_t *args, size_t nargs,
                                       dw_str_t *source)
{
    eparser_t e = {.p = p};
    /* the source as written, for messages and the model */
    size_t len = 0;
    for (size_t i = 0; i < nargs; i++) len += args[i].text.len + 1;
    char *src = dw_arena_alloc(p->arena, len + 1);
    if (!src) return NULL;
    size_t off = 0;
    for (size_t i = 0; i < nargs; i++) {
        if (i) src[off++] = ' ';
        memcpy(src + off, args[i].text.ptr, args[i].text.len);
        off += args[i].text.len;
    }
    src[off] = '\0';
    *source = dw_str_make(src, off);
    const dw_cfg_token_t *at = nargs ? &args[0] : NULL;
    if (nargs == 0) {
        return NULL; /* the caller reports the missing expression */
    }
    /* One quoted argument holds the whole expression; with several, a quoted one is a string
     * operand and the words are expression text. A string in single quotes may span words, so
     * consecutive words are lexed together. */
    if (nargs == 1) {
        lex(&e, args[0].text, &args[0]);
    } else {
        size_t i = 0;
        while (i < nargs && !e.error) {
            if (args[i].kind == DW_TOK_QUOTED) {
                push(&e, ET_STRING, args[i].text, &args[i]);
                i++;
                continue;
            }
            size_t j = i, wl = 0;
            while (j < nargs && args[j].kind != DW_TOK_QUOTED) wl += args[j].text.len + 1, j++;
            char *buf = dw_arena_alloc(&p->scratch, wl + 1);
            if (!buf) return NULL;
            size_t o = 0;
            for (size_t k = i; k < j; k++) {
                if (k > i) buf[o++] = ' ';
                memcpy(buf + o, args[k].text.ptr, args[k].text.len);
                o += args[k].text.len;
            }
            lex(&e, dw_str_make(buf, o), &args[i]);
            i = j;
        }
    }
    dw_cfg_expr_t *x = NULL;
    if (!e.error && push(&e, ET_END, DW_STR(""), at)) {
        x = parse_or(&e);
        if (x && peek(&e)->kind != ET_END) fail(&e, "unexpected", peek(&e)->text);
    }
    if (e.error || !x) {
        /* `<why>, got '<tok>'`, `<why> '<tok>'`, `<why> at the end` or just `<why>` */
        const char *why = e.error ? e.error : "invalid";
        dw_str_t t = e.error_tok;
        if (t.len > 40) t.len = 40;
        bool expected = strncmp(why, "expected", 8) == 0;
        if (!t.ptr)
            dw_cfg_err(p, at, "unsupported expression '%.*s': %s", DW_STR_FMT(*source), why);
        else if (t.len == 0)
            dw_cfg_err(p, at, "unsupported expression '%.*s': %s at the end", DW_STR_FMT(*source),
                       why);
        else
            dw_cfg_err(p, at, "unsupported expression '%.*s': %s%s '%.*s'", DW_STR_FMT(*source),
                       why, expected ? ", got" : "", DW_STR_FMT(t));
        return NULL;
    }
    /* the placeholder operands are templates: their names are checked after the whole file */
    for (size_t i = 0; i < e.n; i++) {
        if (e.v[i].kind != ET_PLACEHOLDER) continue;
        dw_cfg_token_t note = *e.v[i].from;
        char *txt = dw_arena_sprintf(&p->scratch, "{%.*s}", DW_STR_FMT(e.v[i].text));
        if (!txt) continue;
        note.text = dw_str_c(txt);
        dw_cfg_note_template(p, &note);
    }
    return x;
}

/* --- JSON ---------------------------------------------------------------------------------- */

static const char *const op_names[] = {
    [DW_EXPR_NOT] = "!", [DW_EXPR_AND] = "&&", [DW_EXPR_OR] = "||",
    [DW_EXPR_EQ] = "==", [DW_EXPR_NE] = "!=",  [DW_EXPR_LT] = "<",
    [DW_EXPR_LE] = "<=", [DW_EXPR_GT] = ">",   [DW_EXPR_GE] = ">=",
};

void dw_cfg_route_json_expr(dw_json_t *j, const dw_cfg_expr_t *x)
{
    switch (x->kind) {
    case DW_EXPR_PLACEHOLDER:
        dw_json_obj_begin(j);
        dw_json_kv_str(j, "placeholder", x->text);
        dw_json_obj_end(j);
        return;
    case DW_EXPR_INT:
        dw_json_obj_begin(j);
        dw_json_kv_int(j, "int", x->num);
        dw_json_obj_end(j);
        return;
    case DW_EXPR_STRING:
        dw_json_obj_begin(j);
        dw_json_kv_str(j, "string", x->text);
        dw_json_obj_end(j);
        return;
    default: break;
    }
    dw_json_obj_begin(j);
    dw_json_kv_cstr(j, "op", x->kind < DW_ARRAY_LEN(op_names) ? op_names[x->kind] : "?");
    dw_json_key(j, "args");
    dw_json_arr_begin(j);
    for (size_t i = 0; i < x->nargs; i++) dw_cfg_route_json_expr(j, &x->args[i]);
    dw_json_arr_end(j);
    dw_json_obj_end(j);
}
