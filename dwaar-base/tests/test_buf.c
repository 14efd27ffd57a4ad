/* Unit tests for dwaar-base byte buffers (dwaar/base/buf.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dwaar/base/buf.h>
#include <dwaar/base/error.h>

/* The buffer's contents equal want (len bytes) and are followed by a NUL. */
static void check_buf(const dw_buf_t *b, const char *want, size_t len)
{
    assert_non_null(b->data);
    assert_int_equal(b->len, len);
    assert_true(b->cap > b->len);
    assert_memory_equal(b->data, want, len);
    assert_int_equal(b->data[b->len], '\0');
}
#define CHECK_BUF(b, lit) check_buf((b), (lit), sizeof(lit) - 1)

static void buf_appends_keep_nul_termination(void **state)
{
    (void)state;
    dw_buf_t b;
    dw_buf_init(&b, 0);
    assert_int_equal(dw_buf_str(&b).len, 0);
    assert_non_null(dw_buf_str(&b).ptr);

    assert_int_equal(dw_buf_append(&b, "", 0), DW_OK);
    CHECK_BUF(&b, "");
    assert_int_equal(dw_buf_append(&b, "abc", 3), DW_OK);
    CHECK_BUF(&b, "abc");
    assert_int_equal(dw_buf_putc(&b, 'd'), DW_OK);
    CHECK_BUF(&b, "abcd");
    assert_int_equal(dw_buf_appendf(&b, "%d-%s", 42, "x"), DW_OK);
    CHECK_BUF(&b, "abcd42-x");
    assert_int_equal(dw_buf_append_c(&b, "|c"), DW_OK);
    assert_int_equal(dw_buf_append_str(&b, DW_STR("|s")), DW_OK);
    assert_int_equal(dw_buf_append_str(&b, DW_STR_NULL), DW_OK);
    assert_int_equal(dw_buf_appendf(&b, "%s", ""), DW_OK);
    CHECK_BUF(&b, "abcd42-x|c|s");
    assert_true(dw_str_eq_c(dw_buf_str(&b), "abcd42-x|c|s"));
    assert_int_equal(b.failed, 0);

    /* Binary data with NULs; length is tracked, not strlen. */
    dw_buf_reset(&b);
    CHECK_BUF(&b, "");
    assert_int_equal(dw_buf_append(&b, "a\0b", 3), DW_OK);
    CHECK_BUF(&b, "a\0b");
    assert_int_equal(dw_buf_putc(&b, '\0'), DW_OK);
    CHECK_BUF(&b, "a\0b\0");

    /* Growth across many reallocations, by every append flavour. */
    dw_buf_reset(&b);
    char want[8192];
    size_t wn = 0;
    for (int i = 0; i < 600; i++) {
        switch (i % 3) {
        case 0:
            assert_int_equal(dw_buf_putc(&b, 'p'), DW_OK);
            want[wn++] = 'p';
            break;
        case 1:
            assert_int_equal(dw_buf_append(&b, "ap", 2), DW_OK);
            want[wn++] = 'a', want[wn++] = 'p';
            break;
        default:
            assert_int_equal(dw_buf_appendf(&b, "%03d", i), DW_OK);
            wn += (size_t)snprintf(want + wn, sizeof(want) - wn, "%03d", i);
            break;
        }
        check_buf(&b, want, wn);
    }
    /* One formatted append much larger than the capacity. */
    dw_buf_reset(&b);
    assert_int_equal(dw_buf_appendf(&b, "[%5000s]", "z"), DW_OK);
    assert_int_equal(b.len, 5002);
    assert_int_equal(strlen(b.data), 5002);
    assert_int_equal(b.data[5000], 'z');
    assert_int_equal(b.data[5001], ']');
    dw_buf_deinit(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);

    dw_buf_t s = DW_BUF_INIT; /* static initialiser works like init(0) */
    assert_int_equal(dw_buf_appendf(&s, "%u", 7u), DW_OK);
    CHECK_BUF(&s, "7");
    dw_buf_deinit(&s);
}

static void buf_limit_fails_with_elimit_and_sticks(void **state)
{
    (void)state;
    dw_buf_t b;
    dw_buf_init(&b, 8);
    assert_int_equal(dw_buf_append_c(&b, "12345"), DW_OK);
    assert_int_equal(b.failed, 0);

    assert_int_equal(dw_buf_append_c(&b, "6789"), DW_ELIMIT); /* would be 9 > 8 */
    CHECK_BUF(&b, "12345");                                   /* unchanged */
    assert_int_equal(b.failed, DW_ELIMIT);

    /* Exactly up to the limit is fine, and the failure stays recorded. */
    assert_int_equal(dw_buf_append_c(&b, "678"), DW_OK);
    CHECK_BUF(&b, "12345678");
    assert_int_not_equal(b.failed, 0);

    assert_int_equal(dw_buf_putc(&b, 'x'), DW_ELIMIT);
    assert_int_equal(dw_buf_appendf(&b, "%d", 9), DW_ELIMIT);
    assert_int_equal(dw_buf_reserve(&b, 1), DW_ELIMIT);
    assert_int_equal(dw_buf_append(&b, "", 0), DW_OK);
    CHECK_BUF(&b, "12345678");
    assert_int_equal(b.failed, DW_ELIMIT);

    /* reset clears the sticky flag but keeps the limit. */
    dw_buf_reset(&b);
    assert_int_equal(b.failed, 0);
    CHECK_BUF(&b, "");
    assert_int_equal(dw_buf_appendf(&b, "%s", "123456789"), DW_ELIMIT);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.failed, DW_ELIMIT);
    dw_buf_deinit(&b);

    /* A limit hit on the very first append. */
    dw_buf_init(&b, 2);
    assert_int_equal(dw_buf_append_c(&b, "abc"), DW_ELIMIT);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.failed, DW_ELIMIT);
    dw_buf_deinit(&b);

    /* An absurd reservation fails cleanly instead of overflowing. */
    dw_buf_init(&b, 0);
    assert_int_equal(dw_buf_reserve(&b, SIZE_MAX - 4), DW_ENOMEM);
    assert_int_equal(b.failed, DW_ENOMEM);
    dw_buf_deinit(&b);
}

static void buf_take_hands_over_data_and_empties(void **state)
{
    (void)state;
    dw_buf_t b;
    dw_buf_init(&b, 0);
    assert_int_equal(dw_buf_append_c(&b, "hello"), DW_OK);
    char *old = b.data;
    char *p = dw_buf_take(&b);
    assert_ptr_equal(p, old);
    assert_string_equal(p, "hello");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.failed, 0);
    assert_int_equal(dw_buf_str(&b).len, 0);

    /* The buffer is reusable and does not share the taken block. */
    assert_int_equal(dw_buf_append_c(&b, "again"), DW_OK);
    CHECK_BUF(&b, "again");
    assert_ptr_not_equal(b.data, p);
    assert_string_equal(p, "hello");
    free(p);

    /* Taking from a never-used buffer gives an empty heap string. */
    dw_buf_deinit(&b);
    char *e = dw_buf_take(&b);
    assert_non_null(e);
    assert_string_equal(e, "");
    free(e);
    dw_buf_deinit(&b);

    /* Taking leaves an empty buffer with its configured limit. */
    dw_buf_init(&b, 4);
    assert_int_equal(dw_buf_append_c(&b, "ab"), DW_OK);
    free(dw_buf_take(&b));
    assert_int_equal(b.limit, 4);
    assert_int_equal(dw_buf_append_c(&b, "abcdef"), DW_ELIMIT);
    assert_int_equal(dw_buf_append_c(&b, "abcd"), DW_OK);
    dw_buf_deinit(&b);
}

/* Escapes in as a JSON string and compares with want (a C literal, quotes included). */
static void check_json(dw_str_t in, const char *want)
{
    dw_buf_t b;
    dw_buf_init(&b, 0);
    assert_int_equal(dw_buf_append_json_str(&b, in), DW_OK);
    assert_string_equal(b.data, want);
    assert_int_equal(b.len, strlen(want));
    dw_buf_deinit(&b);
}

static void buf_json_str_escapes(void **state)
{
    (void)state;
    check_json(DW_STR(""), "\"\"");
    check_json(DW_STR_NULL, "\"\"");
    check_json(DW_STR("plain text"), "\"plain text\"");
    check_json(DW_STR("say \"hi\""), "\"say \\\"hi\\\"\"");
    check_json(DW_STR("C:\\dir\\"), "\"C:\\\\dir\\\\\"");
    check_json(DW_STR("a\nb\rc\td"), "\"a\\nb\\rc\\td\"");
    check_json(DW_STR("\n"), "\"\\n\"");
    /* Other control bytes, NUL included, as \u00XX. */
    check_json(DW_STR("\x01"), "\"\\u0001\"");
    check_json(DW_STR("x\x1fy"), "\"x\\u001fy\"");
    check_json(DW_STR("\b\f\v"), "\"\\u0008\\u000c\\u000b\"");
    check_json(DW_STR("a\0b"), "\"a\\u0000b\"");
    check_json(DW_STR("\x10"), "\"\\u0010\"");
    check_json(DW_STR("del\x7f"), "\"del\\u007f\"");
    /* Bytes at and above 0x20 other than '"' and '\\' pass through, UTF-8 included. */
    check_json(DW_STR(" !#$%&'()*+,-./~/"), "\" !#$%&'()*+,-./~/\"");
    check_json(DW_STR("h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80"),
               "\"h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80\"");
    check_json(DW_STR("\xe2\x82\xac\n\xe2\x82\xac"), "\"\xe2\x82\xac\\n\xe2\x82\xac\"");
    /* Runs between escapes keep their order and bytes. */
    check_json(DW_STR("ab\"cd\\ef\ngh"), "\"ab\\\"cd\\\\ef\\ngh\"");

    /* Appends after existing content. */
    dw_buf_t b;
    dw_buf_init(&b, 0);
    dw_buf_append_c(&b, "{\"k\":");
    assert_int_equal(dw_buf_append_json_str(&b, DW_STR("v\"")), DW_OK);
    dw_buf_putc(&b, '}');
    assert_string_equal(b.data, "{\"k\":\"v\\\"\"}");
    dw_buf_deinit(&b);

    /* A limit is honoured. */
    dw_buf_init(&b, 6); /* "a\nb" quoted and escaped is exactly 6 bytes */
    assert_int_equal(dw_buf_append_json_str(&b, DW_STR("a\nb")), DW_OK);
    assert_string_equal(b.data, "\"a\\nb\"");
    dw_buf_deinit(&b);
    dw_buf_init(&b, 5);
    assert_int_equal(dw_buf_append_json_str(&b, DW_STR("a\nb")), DW_ELIMIT);
    assert_int_not_equal(b.failed, 0);
    assert_true(b.len <= 5);
    dw_buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_appends_keep_nul_termination),
        cmocka_unit_test(buf_limit_fails_with_elimit_and_sticks),
        cmocka_unit_test(buf_take_hands_over_data_and_empties),
        cmocka_unit_test(buf_json_str_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
