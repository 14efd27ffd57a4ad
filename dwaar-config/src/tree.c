/* Groups the token stream into logical lines and blocks (spec 10 §1.5): the global options
 * block, site blocks with their addresses, and layer4 blocks. Grammar errors are reported
 * here; what the lines mean is decided by the directive parsers. */
#include "parser_int.h"

#define MAX_NESTING 64 /* blocks nested deeper than this are refused (no unbounded recursion) */

typedef struct cursor {
    dw_cfg_parser_t *p;
    const dw_cfg_token_t *v;
    size_t n, i;
} cursor_t;

static const dw_cfg_token_t *peek(cursor_t *c)
{
    return &c->v[c->i < c->n ? c->i : c->n - 1];
}
static const dw_cfg_token_t *next(cursor_t *c)
{
    const dw_cfg_token_t *t = peek(c);
    if (c->i < c->n - 1) c->i++;
    return t;
}
static bool at(cursor_t *c, int kind)
{
    return peek(c)->kind == kind;
}
static void skip_eols(cursor_t *c)
{
    while (at(c, DW_TOK_EOL)) next(c);
}
static bool is_value(const dw_cfg_token_t *t)
{
    return t->kind == DW_TOK_WORD || t->kind == DW_TOK_QUOTED;
}

/* Skips to the end of the current logical line (error recovery). */
static void skip_line(cursor_t *c)
{
    int depth = 0;
    while (!at(c, DW_TOK_EOF)) {
        const dw_cfg_token_t *t = peek(c);
        if (t->kind == DW_TOK_EOL && depth == 0) return;
        if (t->kind == DW_TOK_OPEN) depth++;
        if (t->kind == DW_TOK_CLOSE) {
            if (depth == 0) return;
            depth--;
        }
        next(c);
    }
}

/* After a block's '}' only the end of the line (or another '}') may follow (decision 9). */
static void after_close(cursor_t *c)
{
    const dw_cfg_token_t *t = peek(c);
    if (t->kind == DW_TOK_EOL || t->kind == DW_TOK_EOF || t->kind == DW_TOK_CLOSE) return;
    dw_cfg_err(c->p, t, "unexpected %s after '}'", dw_cfg_tok_str(c->p, t));
    skip_line(c);
}

/* What an unclosed block is called in `unexpected end of file, expected '}' to close ...`. */
typedef enum block_kind { BLOCK_DIRECTIVE, BLOCK_SITE, BLOCK_GLOBAL, BLOCK_RECOVERY } block_kind_t;

static void parse_items(cursor_t *c, dw_cfg_node_t *parent, block_kind_t kind, int depth);

/* One logical line starting at a value token; consumes its block if it has one. */
static void parse_line(cursor_t *c, dw_cfg_node_t *node, int depth)
{
    node->name = *next(c);
    /* the arguments are consecutive tokens: point at them, do not copy */
    node->args = (dw_cfg_token_t *)&c->v[c->i];
    while (is_value(peek(c))) {
        node->nargs++;
        next(c);
    }
    if (at(c, DW_TOK_OPEN)) {
        node->has_block = true;
        node->open = *next(c);
        parse_items(c, node, BLOCK_DIRECTIVE, depth + 1);
    }
}

static void parse_items(cursor_t *c, dw_cfg_node_t *parent, block_kind_t kind, int depth)
{
    size_t cap = 0;
    if (depth > MAX_NESTING) {
        dw_cfg_err(c->p, &parent->open, "blocks nested too deeply (max %d levels)", MAX_NESTING);
        /* skip the whole block */
        int d = 1;
        while (!at(c, DW_TOK_EOF) && d > 0) {
            const dw_cfg_token_t *t = next(c);
            if (t->kind == DW_TOK_OPEN) d++;
            if (t->kind == DW_TOK_CLOSE) d--;
        }
        return;
    }
    for (;;) {
        skip_eols(c);
        const dw_cfg_token_t *t = peek(c);
        if (t->kind == DW_TOK_CLOSE) {
            next(c);
            after_close(c);
            return;
        }
        if (t->kind == DW_TOK_EOF) {
            int n = (int)(parent->name.text.len > 100 ? 100 : parent->name.text.len);
            const char *name = parent->name.text.ptr;
            switch (kind) {
            case BLOCK_SITE:
                dw_cfg_err(c->p, &parent->open,
                           "unexpected end of file, expected '}' to close site block '%.*s'", n,
                           name);
                break;
            case BLOCK_GLOBAL:
                dw_cfg_err(c->p, &parent->open,
                           "unexpected end of file, expected '}' to close global options block");
                break;
            case BLOCK_RECOVERY:
                dw_cfg_err(c->p, &parent->open,
                           "unexpected end of file, expected '}' to close block");
                break;
            default:
                dw_cfg_err(c->p, &parent->open,
                           "unexpected end of file, expected '}' to close '%.*s' block", n, name);
                break;
            }
            return;
        }
        if (t->kind == DW_TOK_OPEN) {
            dw_cfg_err(c->p, t, "expected a directive, got '{'");
            next(c);
            continue;
        }
        dw_cfg_node_t *node =
            DW_ARENA_PUSH(&c->p->scratch, parent->children, parent->nchildren, cap);
        if (!node) return;
        parse_line(c, node, depth);
        if (!at(c, DW_TOK_EOL) && !at(c, DW_TOK_CLOSE) && !at(c, DW_TOK_EOF)) {
            dw_cfg_err(c->p, peek(c), "unexpected %s", dw_cfg_tok_str(c->p, peek(c)));
            skip_line(c);
        }
    }
}

/* Site addresses up to the '{': whitespace and/or comma separated, `a.com,b.com` split, a
 * line ending in ',' continues on the next (decision 10). */
static bool parse_addresses(cursor_t *c, struct dw_cfg_tree_item *item)
{
    size_t cap = 0;
    bool continued = false;
    for (;;) {
        const dw_cfg_token_t *t = peek(c);
        if (t->kind == DW_TOK_OPEN) {
            if (item->naddrs == 0) {
                dw_cfg_err(c->p, t, "expected site address (e.g. 'example.com'), got '{'");
                return false;
            }
            return true;
        }
        if (t->kind == DW_TOK_EOL && continued) {
            next(c);
            continue;
        }
        if (!is_value(t)) {
            if (item->naddrs == 0)
                dw_cfg_err(c->p, t, "expected site address (e.g. 'example.com'), got %s",
                           dw_cfg_tok_str(c->p, t));
            else
                dw_cfg_err(c->p, t, "expected '{' to open the site block, got %s",
                           dw_cfg_tok_str(c->p, t));
            return false;
        }
        next(c);
        /* split on commas */
        dw_str_t s = t->text;
        size_t a = 0;
        continued = false;
        while (a <= s.len) {
            size_t b = a;
            while (b < s.len && s.ptr[b] != ',') b++;
            if (b > a) {
                dw_cfg_token_t *slot =
                    DW_ARENA_PUSH(&c->p->scratch, item->addrs, item->naddrs, cap);
                if (slot) {
                    *slot = *t;
                    slot->text = dw_str_sub(s, a, b - a);
                    slot->col = t->col + (uint32_t)a;
                }
            }
            if (b == s.len) break;
            a = b + 1;
            continued = true; /* a comma: what follows (maybe on the next line) continues */
        }
        if (s.len && s.ptr[s.len - 1] != ',') continued = false;
    }
}

/* Does the logical line at the cursor end with '{'? */
static bool line_opens_block(const cursor_t *c)
{
    for (size_t i = c->i + 1; i < c->n; i++) {
        if (c->v[i].kind == DW_TOK_OPEN) return true;
        if (!is_value(&c->v[i])) return false;
    }
    return false;
}

void dw_cfg_build_tree(dw_cfg_parser_t *p, const dw_cfg_tokens_t *toks, dw_cfg_tree_t *tree)
{
    cursor_t c = {.p = p, .v = toks->v, .n = toks->n};
    memset(tree, 0, sizeof(*tree));
    size_t cap = 0;
    skip_eols(&c);
    if (at(&c, DW_TOK_OPEN)) { /* the global options block: very first token only */
        tree->global = dw_arena_zalloc(&p->scratch, sizeof(*tree->global));
        if (!tree->global) return;
        tree->global->name = *peek(&c);
        tree->global->has_block = true;
        tree->global->open = *next(&c);
        parse_items(&c, tree->global, BLOCK_GLOBAL, 1);
    }
    for (;;) {
        skip_eols(&c);
        if (at(&c, DW_TOK_EOF)) break;
        struct dw_cfg_tree_item *item = DW_ARENA_PUSH(&p->scratch, tree->items, tree->nitems, cap);
        if (!item) return;
        const dw_cfg_token_t *t = peek(&c);
        if (t->kind == DW_TOK_WORD &&
            (dw_str_eq_c(t->text, "layer4") || dw_str_eq_c(t->text, "timeouts")) &&
            line_opens_block(&c)) {
            /* top-level `layer4 {` (§8.1) and `timeouts {` ([20 §3.4]) */
            item->is_keyword = true;
            parse_line(&c, &item->block, 0);
            continue;
        }
        if (!parse_addresses(&c, item)) {
            tree->nitems--;
            /* recover: skip this line, and the block if one follows */
            skip_line(&c);
            if (at(&c, DW_TOK_CLOSE)) next(&c); /* a stray '}' at top level */
            if (at(&c, DW_TOK_OPEN)) {
                dw_cfg_node_t dummy = {0};
                dummy.open = *next(&c);
                parse_items(&c, &dummy, BLOCK_RECOVERY, 1);
            }
            continue;
        }
        item->block.name = item->addrs[0];
        item->block.has_block = true;
        item->block.open = *next(&c);
        parse_items(&c, &item->block, BLOCK_SITE, 1);
    }
}
