/* Lexer unit tests (spec 10 §1.1-1.2). Test names carry the checklist IDs they prove. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dwaar/config/token.h>

typedef struct lexed {
    dw_arena_t arena;
    dw_diags_t diags;
    dw_cfg_tokens_t toks;
    size_t errors;
} lexed_t;

static lexed_t *lex(const char *src, unsigned flags)
{
    lexed_t *l = calloc(1, sizeof(*l));
    dw_arena_init(&l->arena, 0);
    dw_diags_init(&l->diags);
    l->errors = dw_cfg_lex(&l->arena, "Dwaarfile", src, strlen(src), flags, &l->toks, &l->diags);
    return l;
}

static void lexed_free(lexed_t *l)
{
    dw_diags_deinit(&l->diags);
    dw_arena_deinit(&l->arena);
    free(l);
}

/* The token stream as one string: words as-is, quoted as "text", { } as-is, EOL as '|'. */
static char *render(const lexed_t *l)
{
    dw_buf_t b = DW_BUF_INIT;
    for (size_t i = 0; i < l->toks.n; i++) {
        const dw_cfg_token_t *t = &l->toks.v[i];
        if (i) dw_buf_putc(&b, ' ');
        switch (t->kind) {
        case DW_TOK_WORD: dw_buf_append_str(&b, t->text); break;
        case DW_TOK_QUOTED: dw_buf_appendf(&b, "<%.*s>", DW_STR_FMT(t->text)); break;
        case DW_TOK_OPEN: dw_buf_putc(&b, '{'); break;
        case DW_TOK_CLOSE: dw_buf_putc(&b, '}'); break;
        case DW_TOK_EOL: dw_buf_putc(&b, '|'); break;
        case DW_TOK_COMMENT: dw_buf_appendf(&b, "#(%.*s)", DW_STR_FMT(t->text)); break;
        case DW_TOK_EOF: dw_buf_append_c(&b, "EOF"); break;
        }
    }
    return dw_buf_take(&b);
}

static void expect(const char *src, const char *want)
{
    lexed_t *l = lex(src, 0);
    char *got = render(l);
    assert_int_equal(l->errors, 0);
    assert_string_equal(got, want);
    free(got);
    lexed_free(l);
}

static void test_CFG_01_brace_glued_to_address(void **s)
{
    (void)s;
    expect("example.com{reverse_proxy :8080}", "example.com { reverse_proxy :8080 } | EOF");
}

static void test_CFG_02_comments(void **s)
{
    (void)s;
    expect("# whole line\nheader X-A a#b # trailing\n", "header X-A a#b | EOF");
    /* with comments kept (fmt) */
    lexed_t *l = lex("a # c1\n# c2\n", DW_LEX_COMMENTS);
    char *got = render(l);
    assert_string_equal(got, "a #(# c1) | #(# c2) | EOF");
    free(got);
    lexed_free(l);
}

static void test_CFG_03_quoted_escapes(void **s)
{
    (void)s;
    expect("respond \"say \\\"hi\\\"\\n\" 200", "respond <say \"hi\"\n> 200 | EOF");
    expect("x \"\\q\" \"a\\\\b\" \"t\\tt\"", "x <\\q> <a\\b> <t\tt> | EOF");
    /* quoted strings may span lines; braces inside are ordinary */
    expect("respond \"{\n}\"", "respond <{\n}> | EOF");
}

static void test_CFG_04_unterminated_quote(void **s)
{
    (void)s;
    lexed_t *l = lex("a {\n  respond \"oops\n}\n", 0);
    assert_int_equal(l->errors, 1);
    assert_int_equal(l->diags.n, 1);
    assert_string_equal(l->diags.items[0].message, "unterminated quoted string");
    assert_int_equal(l->diags.items[0].line, 2);
    assert_int_equal(l->diags.items[0].col, 11);
    lexed_free(l);
    /* decision 9: a backtick too */
    l = lex("a `never closed", 0);
    assert_int_equal(l->errors, 1);
    assert_string_equal(l->diags.items[0].message, "unterminated quoted string");
    lexed_free(l);
}

static void test_CFG_05_backticks_verbatim(void **s)
{
    (void)s;
    expect("respond `say \"hi\" \\n`", "respond <say \"hi\" \\n> | EOF");
}

static void test_CFG_06_line_continuation(void **s)
{
    (void)s;
    expect("reverse_proxy a:1 \\\n    b:2\nnext", "reverse_proxy a:1 b:2 | next | EOF");
    expect("reverse_proxy a:1\\\r\nb:2", "reverse_proxy a:1 b:2 | EOF");
    /* a backslash elsewhere in a word is literal */
    expect("path_regexp \\.php$", "path_regexp \\.php$ | EOF");
}

static void test_CFG_09_placeholders_are_not_blocks(void **s)
{
    (void)s;
    expect("rewrite /api/{path} {env.X}:8080", "rewrite /api/{path} {env.X}:8080 | EOF");
    expect("{$UP:127.0.0.1:9} x", "{$UP:127.0.0.1:9} x | EOF");
    /* whitespace, quotes or '{' before the '}' make it a block brace */
    expect("a {b c}", "a { b c } | EOF");
    expect("a {}", "a { } | EOF");
    expect("h {\n}\n", "h { | } | EOF");
}

static void test_lexer_positions_and_bom(void **s)
{
    (void)s;
    lexed_t *l = lex("\xEF\xBB\xBF"
                     "a\n\n  b \"c\"\r\n",
                     0);
    assert_int_equal(l->errors, 0);
    assert_int_equal(l->toks.v[0].line, 1);
    assert_int_equal(l->toks.v[0].col, 1);
    assert_true(dw_str_eq_c(l->toks.v[2].text, "b"));
    assert_int_equal(l->toks.v[2].line, 3);
    assert_int_equal(l->toks.v[2].col, 3);
    assert_true(l->toks.v[2].flags & DW_TOK_F_BLANK_BEFORE);
    assert_int_equal(l->toks.v[3].kind, DW_TOK_QUOTED);
    assert_true(dw_str_eq_c(l->toks.v[3].raw, "\"c\""));
    assert_int_equal(l->toks.v[3].col, 5);
    lexed_free(l);
}

static void test_lexer_close_ends_word(void **s)
{
    (void)s;
    expect("handle { respond 200 }", "handle { respond 200 } | EOF");
    expect("x}y", "x } y | EOF");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_CFG_01_brace_glued_to_address),
        cmocka_unit_test(test_CFG_02_comments),
        cmocka_unit_test(test_CFG_03_quoted_escapes),
        cmocka_unit_test(test_CFG_04_unterminated_quote),
        cmocka_unit_test(test_CFG_05_backticks_verbatim),
        cmocka_unit_test(test_CFG_06_line_continuation),
        cmocka_unit_test(test_CFG_09_placeholders_are_not_blocks),
        cmocka_unit_test(test_lexer_positions_and_bom),
        cmocka_unit_test(test_lexer_close_ends_word),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
