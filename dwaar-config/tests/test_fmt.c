/* Canonical formatting (spec 10 §9.4, decision 19). Test names carry the checklist IDs they
 * prove (CLI-05: re-indents to 4 spaces, keeps comments, idempotent). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dwaar/config/config.h>
#include <dwaar/config/token.h>

typedef struct formatted {
    int rc;
    char *out;
    char *diag; /* the first diagnostic, formatted, or NULL */
} formatted_t;

static formatted_t format_n(const char *src, size_t len)
{
    formatted_t r = {0};
    dw_diags_t diags;
    dw_diags_init(&diags);
    dw_buf_t out = DW_BUF_INIT;
    r.rc = dw_cfg_format("Dwaarfile", src, len, &out, &diags);
    assert_false(out.failed);
    r.out = dw_buf_take(&out);
    if (diags.n) {
        dw_buf_t d = DW_BUF_INIT;
        dw_diag_format(&diags.items[0], &d);
        r.diag = dw_buf_take(&d);
    }
    dw_diags_deinit(&diags);
    return r;
}

static formatted_t fmt_str(const char *src)
{
    return format_n(src, strlen(src));
}

static void formatted_free(formatted_t *r)
{
    free(r->out);
    free(r->diag);
}

/* The token stream without comments, as text; ends of lines next to a brace are left out
 * (the grammar ignores them, §1.2 rule 7), so a one-line block equals its expanded form. */
static char *tokens(const char *src, size_t len)
{
    dw_arena_t a;
    dw_arena_init(&a, 0);
    dw_diags_t diags;
    dw_diags_init(&diags);
    dw_cfg_tokens_t toks = {0};
    assert_int_equal(dw_cfg_lex(&a, "Dwaarfile", src, len, 0, &toks, &diags), 0);
    dw_buf_t b = DW_BUF_INIT;
    for (size_t i = 0; i < toks.n; i++) {
        const dw_cfg_token_t *t = &toks.v[i];
        switch (t->kind) {
        case DW_TOK_WORD: dw_buf_appendf(&b, "w[%.*s] ", DW_STR_FMT(t->text)); break;
        case DW_TOK_QUOTED: dw_buf_appendf(&b, "q%c[%.*s] ", t->quote, DW_STR_FMT(t->text)); break;
        case DW_TOK_OPEN: dw_buf_append_c(&b, "{ "); break;
        case DW_TOK_CLOSE: dw_buf_append_c(&b, "} "); break;
        case DW_TOK_EOL:
            if (i > 0 && toks.v[i - 1].kind == DW_TOK_OPEN) break;
            if (i + 1 < toks.n && toks.v[i + 1].kind == DW_TOK_CLOSE) break;
            dw_buf_append_c(&b, "| ");
            break;
        case DW_TOK_EOF: dw_buf_append_c(&b, "EOF"); break;
        default: break;
        }
    }
    dw_diags_deinit(&diags);
    dw_arena_deinit(&a);
    return dw_buf_take(&b);
}

/* fmt(src) == want, fmt(want) == want, and both hold the same tokens as src. */
static void expect_n(const char *src, size_t len, const char *want)
{
    formatted_t r = format_n(src, len);
    if (r.diag) fprintf(stderr, "diagnostic: %s\n", r.diag);
    assert_true(r.rc >= 0);
    assert_string_equal(r.out, want);
    formatted_t again = fmt_str(r.out);
    assert_int_equal(again.rc, r.rc);
    assert_string_equal(again.out, r.out);
    char *t0 = tokens(src, len), *t1 = tokens(r.out, strlen(r.out));
    assert_string_equal(t1, t0);
    free(t0);
    free(t1);
    formatted_free(&again);
    formatted_free(&r);
}

static void expect(const char *src, const char *want)
{
    expect_n(src, strlen(src), want);
}

static void expect_error(const char *src, const char *diag)
{
    formatted_t r = fmt_str(src);
    assert_int_equal(r.rc, -1);
    assert_non_null(r.diag);
    assert_string_equal(r.diag, diag);
    formatted_free(&r);
}

static int blocks(const char *src)
{
    formatted_t r = fmt_str(src);
    int n = r.rc;
    formatted_free(&r);
    return n;
}

static void test_empty_input(void **state)
{
    (void)state;
    expect("", "");
    expect("\n\n   \n\t\n", "");
    expect("\xEF\xBB\xBF", "");
    assert_int_equal(blocks(""), 0);
}

static void test_CLI_05_reindents_to_four_spaces(void **state)
{
    (void)state;
    expect("a.com {\n\treverse_proxy   :8080\n  header  X-A   b\n}\n",
           "a.com {\n    reverse_proxy :8080\n    header X-A b\n}\n");
    expect("  a.com   {\nhandle /x {\n respond 200\n        }\n}",
           "a.com {\n    handle /x {\n        respond 200\n    }\n}\n");
    /* exactly one final newline */
    expect("a.com {\n}\n\n\n\n", "a.com {\n}\n");
}

static void test_open_brace_ends_line_close_brace_alone(void **state)
{
    (void)state;
    expect("example.com{reverse_proxy :8080}", "example.com {\n    reverse_proxy :8080\n}\n");
    expect("a.com {\n    handle { respond 200 }\n}\n",
           "a.com {\n    handle {\n        respond 200\n    }\n}\n");
    /* nested one-line blocks, and '}' '}' on one line */
    expect(
        "a.com { route { handle /x { respond 1 } } }\n",
        "a.com {\n    route {\n        handle /x {\n            respond 1\n        }\n    }\n}\n");
    expect("a.com {\n    handle {}\n}\n", "a.com {\n    handle {\n    }\n}\n");
    /* a '{' alone on its line stays there (it is its own logical line) */
    expect("{\nadmin off\n}\n", "{\n    admin off\n}\n");
}

static void test_blank_lines_between_top_level_items(void **state)
{
    (void)state;
    /* none in the source: one is added; many: one is kept */
    expect("{\n}\n(s) {\n}\na.com {\n}\n\n\n\nb.com {\n}\nlayer4 {\n}\n",
           "{\n}\n\n(s) {\n}\n\na.com {\n}\n\nb.com {\n}\n\nlayer4 {\n}\n");
    /* a comment leads into the block it precedes; after a block it is separated */
    expect("a.com {\n}\n# about b\nb.com {\n}\n# end\n",
           "a.com {\n}\n\n# about b\nb.com {\n}\n\n# end\n");
    /* top-level imports are kept together, a block after them is separated */
    expect("import common\nimport sites/*\na.com {\n}\n",
           "import common\nimport sites/*\n\na.com {\n}\n");
    /* an address line ending in ',' continues on the next line (decision 10) */
    expect("x.com {\n}\na.com,\nb.com {\n}\n", "x.com {\n}\n\na.com,\nb.com {\n}\n");
    /* leading empty lines are dropped */
    expect("\n\n\na.com {\n}\n", "a.com {\n}\n");
}

static void test_inner_blank_lines_collapse(void **state)
{
    (void)state;
    expect("a.com {\n\n\n    header A b\n\n\n\n    header C d\n    header E f\n\n\n}\n",
           "a.com {\n    header A b\n\n    header C d\n    header E f\n}\n");
    /* blank lines with spaces, tabs and \r on them are empty lines too */
    expect("a.com {\n    header A b\n  \t \r\n    header C d\n}\n",
           "a.com {\n    header A b\n\n    header C d\n}\n");
}

static void test_CLI_05_keeps_comments(void **state)
{
    (void)state;
    expect("# head\n\n\n# second\na.com { # opens\n# inside\n  respond 1    # trailing   \n"
           "      # last\n} # closes\n",
           "# head\n\n# second\na.com { # opens\n    # inside\n    respond 1 # trailing\n"
           "    # last\n} # closes\n");
    /* '#' inside a word is not a comment; one after a quoted string is */
    expect("a.com {\n  respond a#b \"x\"#c\n}\n", "a.com {\n    respond a#b \"x\" #c\n}\n");
    /* only comments */
    expect("   # one\n\n\n\t# two\n", "# one\n\n# two\n");
}

static void test_quotes_kept_as_written(void **state)
{
    (void)state;
    expect("a.com {\n  respond   \"say \\\"hi\\\"\\n\\tand \\\\ \\d\"  200\n}\n",
           "a.com {\n    respond \"say \\\"hi\\\"\\n\\tand \\\\ \\d\" 200\n}\n");
    /* backticks: no escapes, braces and quotes are plain characters */
    expect("a.com {\n  respond `{\"a\": \"b\\n\"}`   200\n}\n",
           "a.com {\n    respond `{\"a\": \"b\\n\"}` 200\n}\n");
    /* a quoted string spanning lines keeps its newlines, also when it starts a line */
    expect("a.com {\n  respond \"line one\n  line two\" 200\n\n\n  \"x\ny\" z\n}\n",
           "a.com {\n    respond \"line one\n  line two\" 200\n\n    \"x\ny\" z\n}\n");
    /* a quoted string glued to the next token is split from it */
    expect("a.com {\n  header \"X\"y z\n}\n", "a.com {\n    header \"X\" y z\n}\n");
    expect("a.com {\n  respond \"\" ``\n}\n", "a.com {\n    respond \"\" ``\n}\n");
}

static void test_placeholders_not_expanded(void **state)
{
    (void)state;
    expect("{$HOST:localhost}:8080 {\n  reverse_proxy {env.UP} {args[0]}\n  import snip {args[:]}\n"
           "  rewrite * /api/{path}?{query}\n}\n",
           "{$HOST:localhost}:8080 {\n    reverse_proxy {env.UP} {args[0]}\n    import snip "
           "{args[:]}\n    rewrite * /api/{path}?{query}\n}\n");
    /* a '{' with a space after it is a block, glued or not */
    expect("{$SITE}{ respond {http.request.host} }",
           "{$SITE} {\n    respond {http.request.host}\n}\n");
}

static void test_continuation_lines_joined(void **state)
{
    (void)state;
    expect("a.com {\n  reverse_proxy a:1 \\\n       b:2 \\\n  c:3\n  respond 1\n}\n",
           "a.com {\n    reverse_proxy a:1 b:2 c:3\n    respond 1\n}\n");
    expect("a.com {\n  header X\\\ny\n}\n", "a.com {\n    header X y\n}\n");
    /* a word that ends in '\' must not become a continuation */
    expect("a.com {\n  respond a\\ \n  respond b\n}\n",
           "a.com {\n    respond a\\ \n    respond b\n}\n");
}

static void test_crlf_and_bom(void **state)
{
    (void)state;
    expect("\xEF\xBB\xBF"
           "a.com {\r\n\treverse_proxy :8080\r\n\r\n\r\n  # c\r\n}\r\n",
           "a.com {\n    reverse_proxy :8080\n\n    # c\n}\n");
    /* a BOM that is not at the very start is part of a word; if that word comes first in
     * the output, a real BOM goes in front so the word keeps its bytes */
    expect("\n  \xEF\xBB\xBF"
           "a.com {\n}\n",
           "\xEF\xBB\xBF\xEF\xBB\xBF"
           "a.com {\n}\n");
    /* inside a quoted string \r is text, so it stays */
    expect("a.com {\r\n  respond \"a\r\nb\"\r\n}\r\n", "a.com {\n    respond \"a\r\nb\"\n}\n");
}

static void test_domain_block_count(void **state)
{
    (void)state;
    assert_int_equal(blocks("{\n}\n(s) {\n}\na.com {\n}\nb.com, c.com {\n}\nlayer4 {\n}\n"
                            "timeouts {\n}\nd.com {\n    handle {\n    }\n}\n"),
                     3);
    assert_int_equal(blocks("# nothing\n"), 0);
    assert_int_equal(blocks("a.com,\nb.com {\n}\n"), 1);
    assert_int_equal(blocks("(s) {\n}\nlayer4 {\n}\ntimeouts {\n}\n"), 0);
}

static void test_brace_and_lexical_errors(void **state)
{
    (void)state;
    expect_error("a.com {\n    respond \"oops\n}\n", "Dwaarfile:2:13: unterminated quoted string");
    expect_error("a.com {\n    respond `oops\n}\n", "Dwaarfile:2:13: unterminated quoted string");
    expect_error("a.com {\n}\n}\n", "Dwaarfile:3:1: unexpected '}'");
    expect_error("a.com {\n    handle {\n        respond\n}\n",
                 "Dwaarfile:1:7: unexpected end of file, expected '}' to close 'a.com' block");
    expect_error("{\n", "Dwaarfile:1:1: unexpected end of file, expected '}' to close block");
    /* nesting is bounded (the output would grow with the square of the depth) */
    char deep[300];
    size_t n = 0;
    n += (size_t)snprintf(deep + n, sizeof(deep) - n, "a");
    for (int i = 0; i < 65; i++) deep[n++] = '{', deep[n++] = '\n';
    deep[n] = '\0';
    expect_error(deep, "Dwaarfile:65:1: blocks nested too deeply (max 64 levels)");
}

/* Inputs with a little of everything: formatted once, the result is a fixed point. */
static void test_CLI_05_idempotent_on_tricky_inputs(void **state)
{
    (void)state;
    static const char *const inputs[] = {
        "# global\n{\n\tadmin   off # no admin\n  email a@b.c\n}\n(common)  {\n  header X-Frame "
        "DENY\n  header -Server\n}\n",
        "a.com, b.com:8443 { import common\n @api { path /api/* ; method GET }\n  handle @api { "
        "reverse_proxy {args[0]} \\\n   localhost:9000 }\n  handle { respond `ok {x}` 200 } }\n",
        "x.com {\n  respond \"a \\\"quoted\\\" \\\\ body\\n\" 200 # c\n\n\n\n  redir /a /b 301\n}",
        "\xEF\xBB\xBF{\r\n  http_port {$PORT:80}\r\n}\r\n\r\nsite.com {\r\n  respond "
        "\"x\r\ny\"\r\n}\r\n",
        "a.com {\n handle_errors {\n  @e expression `{err.status_code} == 404`\n  respond "
        "@e \"nf\" 404\n }\n}\n} extra\n",
        "a.com {\n  respond 1\n} (s) { header A b }\nb.com {\n}\n",
        "a.com {\n  respond \"\n\n\nx\" 200\n}\n",
        "a.com {\n  # only comments\n\n\n  # here\n}\n# tail \\\n",
        "a\\\n\\\n\\\nb {\n}\n",
        "a.com {\n} # c\n\n\n\n\n\n# d\n\n\nb.com {\n  a { b { c { d } } }\n}\n",
        "a.com {\n\"x\"\"y\"`z`a#b\n}\n",
        "{ a } b { c } \n d",
    };
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        formatted_t r = fmt_str(inputs[i]);
        if (r.rc < 0) { /* brace errors are fine here, as long as they are reported */
            assert_non_null(r.diag);
            formatted_free(&r);
            continue;
        }
        formatted_t again = fmt_str(r.out);
        assert_int_equal(again.rc, r.rc);
        assert_string_equal(again.out, r.out);
        char *t0 = tokens(inputs[i], strlen(inputs[i])), *t1 = tokens(r.out, strlen(r.out));
        assert_string_equal(t1, t0);
        free(t0);
        free(t1);
        formatted_free(&again);
        formatted_free(&r);
    }
}

static void test_binary_bytes_survive(void **state)
{
    (void)state;
    static const char src[] = "a.com {\n  respond x\0y \"\xff\xfe\"\n}\n";
    static const char want[] = "a.com {\n    respond x\0y \"\xff\xfe\"\n}\n";
    formatted_t r = format_n(src, sizeof(src) - 1);
    assert_int_equal(r.rc, 1);
    assert_memory_equal(r.out, want, sizeof(want) - 1);
    formatted_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_CLI_05_reindents_to_four_spaces),
        cmocka_unit_test(test_open_brace_ends_line_close_brace_alone),
        cmocka_unit_test(test_blank_lines_between_top_level_items),
        cmocka_unit_test(test_inner_blank_lines_collapse),
        cmocka_unit_test(test_CLI_05_keeps_comments),
        cmocka_unit_test(test_quotes_kept_as_written),
        cmocka_unit_test(test_placeholders_not_expanded),
        cmocka_unit_test(test_continuation_lines_joined),
        cmocka_unit_test(test_crlf_and_bom),
        cmocka_unit_test(test_domain_block_count),
        cmocka_unit_test(test_brace_and_lexical_errors),
        cmocka_unit_test(test_CLI_05_idempotent_on_tricky_inputs),
        cmocka_unit_test(test_binary_bytes_survive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
