/* libFuzzer harness: `dwaar fmt` on arbitrary text. When formatting succeeds, the result must
 * be a fixed point (formatting it again gives the same bytes and the same block count) and
 * hold the same tokens as the input, apart from ends of lines next to braces, which the
 * grammar ignores. Any difference aborts. */
#include <dwaar/config/config.h>
#include <dwaar/config/token.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Kind and text of each token, ends of lines after '{' and before '}' left out. */
static void token_digest(const char *src, size_t len, dw_buf_t *out)
{
    dw_arena_t a;
    dw_arena_init(&a, 0);
    dw_diags_t diags;
    dw_diags_init(&diags);
    dw_cfg_tokens_t toks = {0};
    if (dw_cfg_lex(&a, "Dwaarfile", src, len, 0, &toks, &diags) != 0) dw_buf_append_c(out, "ERR");
    for (size_t i = 0; i < toks.n; i++) {
        const dw_cfg_token_t *t = &toks.v[i];
        if (t->kind == DW_TOK_EOL && ((i > 0 && toks.v[i - 1].kind == DW_TOK_OPEN) ||
                                      (i + 1 < toks.n && toks.v[i + 1].kind == DW_TOK_CLOSE)))
            continue;
        dw_buf_appendf(out, "%u%c%zu:", (unsigned)t->kind, t->quote ? t->quote : '-', t->text.len);
        dw_buf_append_str(out, t->text);
    }
    dw_diags_deinit(&diags);
    dw_arena_deinit(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *src = (const char *)data;
    dw_diags_t diags;
    dw_diags_init(&diags);
    dw_buf_t once = DW_BUF_INIT, twice = DW_BUF_INIT;
    int n1 = dw_cfg_format("Dwaarfile", src, size, &once, &diags);
    if (n1 < 0 && diags.nerrors == 0 && !once.failed) abort(); /* a failure must say why */
    if (n1 >= 0) {
        int n2 = dw_cfg_format("Dwaarfile", once.data, once.len, &twice, &diags);
        if (n2 != n1 || twice.len != once.len || memcmp(twice.data, once.data, once.len) != 0)
            abort(); /* not idempotent */
        dw_buf_t d0 = DW_BUF_INIT, d1 = DW_BUF_INIT;
        token_digest(src, size, &d0);
        token_digest(once.data, once.len, &d1);
        if (!d0.failed && !d1.failed &&
            (d0.len != d1.len || (d0.len && memcmp(d0.data, d1.data, d0.len) != 0)))
            abort(); /* the tokens changed */
        dw_buf_deinit(&d0);
        dw_buf_deinit(&d1);
    }
    dw_buf_deinit(&once);
    dw_buf_deinit(&twice);
    dw_diags_deinit(&diags);
    return 0;
}
