/* Unit tests for dwaar-base value parsers (dwaar/base/parse.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dwaar/base/error.h>
#include <dwaar/base/parse.h>

static void u64_ok(const char *in, uint64_t want)
{
    uint64_t v = 12345;
    assert_int_equal(dw_parse_u64(dw_str_c(in), &v), DW_OK);
    assert_true(v == want);
}

static void u64_err(const char *in, int rc)
{
    uint64_t v = 12345;
    assert_int_equal(dw_parse_u64(dw_str_c(in), &v), rc);
}

static void parse_u64_accepts_digits_and_rejects_the_rest(void **state)
{
    (void)state;
    u64_ok("0", 0);
    u64_ok("7", 7);
    u64_ok("007", 7);
    u64_ok("1234567890", 1234567890);
    u64_ok("18446744073709551615", UINT64_MAX);
    u64_ok("18446744073709551610", UINT64_MAX - 5);

    uint64_t v;
    assert_int_equal(dw_parse_u64(DW_STR_NULL, &v), DW_EINVAL);
    u64_err("", DW_EINVAL);
    u64_err("abc", DW_EINVAL);
    u64_err("12a", DW_EINVAL);
    u64_err("a12", DW_EINVAL);
    u64_err(" 1", DW_EINVAL);
    u64_err("1 ", DW_EINVAL);
    u64_err("-1", DW_EINVAL);
    u64_err("+1", DW_EINVAL);
    u64_err("1.0", DW_EINVAL);
    u64_err("0x10", DW_EINVAL);
    u64_err("18446744073709551616", DW_ERANGE);
    u64_err("18446744073709551620", DW_ERANGE);
    u64_err("99999999999999999999", DW_ERANGE);
    u64_err("100000000000000000000000", DW_ERANGE);

    /* The view's length bounds the parse, not a NUL. */
    assert_int_equal(dw_parse_u64(dw_str_make("123456", 3), &v), DW_OK);
    assert_true(v == 123);
}

static void i64_ok(const char *in, int64_t want)
{
    int64_t v = 12345;
    assert_int_equal(dw_parse_i64(dw_str_c(in), &v), DW_OK);
    assert_true(v == want);
}

static void i64_err(const char *in, int rc)
{
    int64_t v = 12345;
    assert_int_equal(dw_parse_i64(dw_str_c(in), &v), rc);
}

static void parse_i64_handles_sign_and_limits(void **state)
{
    (void)state;
    i64_ok("0", 0);
    i64_ok("-0", 0);
    i64_ok("42", 42);
    i64_ok("-1", -1);
    i64_ok("-42", -42);
    i64_ok("9223372036854775807", INT64_MAX);
    i64_ok("-9223372036854775807", -INT64_MAX);
    i64_ok("-9223372036854775808", INT64_MIN);

    i64_err("9223372036854775808", DW_ERANGE);
    i64_err("-9223372036854775809", DW_ERANGE);
    i64_err("18446744073709551615", DW_ERANGE);
    i64_err("-18446744073709551616", DW_ERANGE);
    i64_err("", DW_EINVAL);
    i64_err("-", DW_EINVAL);
    i64_err("--1", DW_EINVAL);
    i64_err("+1", DW_EINVAL);
    i64_err("1-", DW_EINVAL);
    i64_err("- 1", DW_EINVAL);
    i64_err("x", DW_EINVAL);
}

static void parse_port_range(void **state)
{
    (void)state;
    uint16_t p = 7;
    assert_int_equal(dw_parse_port(DW_STR("1"), &p), DW_OK);
    assert_int_equal(p, 1);
    assert_int_equal(dw_parse_port(DW_STR("80"), &p), DW_OK);
    assert_int_equal(p, 80);
    assert_int_equal(dw_parse_port(DW_STR("8443"), &p), DW_OK);
    assert_int_equal(p, 8443);
    assert_int_equal(dw_parse_port(DW_STR("65535"), &p), DW_OK);
    assert_int_equal(p, 65535);

    p = 7;
    assert_int_equal(dw_parse_port(DW_STR("0"), &p), DW_ERANGE);
    assert_int_equal(dw_parse_port(DW_STR("65536"), &p), DW_ERANGE);
    assert_int_equal(dw_parse_port(DW_STR("99999999999999999999999"), &p), DW_ERANGE);
    assert_int_equal(dw_parse_port(DW_STR("abc"), &p), DW_EINVAL);
    assert_int_equal(dw_parse_port(DW_STR(""), &p), DW_EINVAL);
    assert_int_equal(dw_parse_port(DW_STR("-1"), &p), DW_EINVAL);
    assert_int_equal(dw_parse_port(DW_STR("80a"), &p), DW_EINVAL);
    assert_int_equal(dw_parse_port(DW_STR(":80"), &p), DW_EINVAL);
    assert_int_equal(p, 7); /* failures leave the output alone */
}

static void size_ok(const char *in, uint64_t want)
{
    uint64_t v = 12345;
    int rc = dw_parse_size(dw_str_c(in), &v);
    if (rc != DW_OK || v != want)
        fail_msg("dw_parse_size(\"%s\") = %d, %llu; want %llu", in, rc, (unsigned long long)v,
                 (unsigned long long)want);
}

static void size_err(const char *in, int want_rc)
{
    uint64_t v = 12345;
    int rc = dw_parse_size(dw_str_c(in), &v);
    if (rc != want_rc) fail_msg("dw_parse_size(\"%s\") = %d; want %d", in, rc, want_rc);
}

static void parse_size_units(void **state)
{
    (void)state;
    size_ok("100", 100);
    size_ok("0", 0);
    size_ok("10MB", 10485760);
    size_ok("512k", 524288);
    size_ok("1GiB", 1073741824);
    size_ok("1g", 1073741824);
    size_ok("1kib", 1024);
    size_ok("2KB", 2048);
    size_ok("1K", 1024);
    size_ok("3m", 3145728);
    size_ok("3MiB", 3145728);
    size_ok("2gb", 2147483648ULL);
    size_ok("18446744073709551615", UINT64_MAX);
    size_ok("17179869183g", 17179869183ULL << 30); /* the largest whole-g value */

    size_err("17179869184g", DW_ERANGE); /* 2^34 * 2^30 = 2^64 */
    size_err("18014398509481984k", DW_ERANGE);
    size_err("99999999999999999999", DW_ERANGE);
    size_err("1.5k", DW_EINVAL);
    size_err("k", DW_EINVAL);
    size_err("", DW_EINVAL);
    size_err("10 MB", DW_EINVAL);
    size_err("10MBs", DW_EINVAL);
    size_err("10t", DW_EINVAL);
    size_err("-1k", DW_EINVAL);
    size_err("1kk", DW_EINVAL);
    size_err("1ki", DW_EINVAL);
}

static void dur_ok(const char *in, uint64_t want_ms)
{
    uint64_t v = 12345;
    int rc = dw_parse_duration_ms(dw_str_c(in), &v);
    if (rc != DW_OK || v != want_ms)
        fail_msg("dw_parse_duration_ms(\"%s\") = %d, %llu; want %llu", in, rc,
                 (unsigned long long)v, (unsigned long long)want_ms);
}

static void dur_err(const char *in)
{
    uint64_t v = 12345;
    int rc = dw_parse_duration_ms(dw_str_c(in), &v);
    if (rc >= 0)
        fail_msg("dw_parse_duration_ms(\"%s\") = %d, %llu; want an error", in, rc,
                 (unsigned long long)v);
}

static void parse_duration_groups(void **state)
{
    (void)state;
    dur_ok("1h30m", 5400000);
    dur_ok("500ms", 500);
    dur_ok("10", 10000); /* a bare integer is seconds */
    dur_ok("0", 0);
    dur_ok("10s", 10000);
    dur_ok("2m", 120000);
    dur_ok("1h", 3600000);
    dur_ok("1m", 60000);
    dur_ok("1ms", 1);
    dur_ok("2m30s", 150000);
    dur_ok("1s500ms", 1500);
    dur_ok("1h1m1s1ms", 3661001);
    dur_ok("0s", 0);
    dur_ok("5124095576030h", 18446744073708000000ULL); /* the largest whole-h value */

    dur_err("1.5s");
    dur_err("5d");
    dur_err("");
    dur_err("s");
    dur_err("10sm");
    dur_err("ms");
    dur_err("1h30");
    dur_err("-1s");
    dur_err(" 10s");
    dur_err("10s ");
    dur_err("10 s");
    dur_err("1x");
    dur_err("18446744073709551615");     /* bare seconds overflow in ms */
    dur_err("5124095576031h");           /* * 3600000 just overflows */
    dur_err("18446744073709551615ms1s"); /* the sum overflows */
    assert_int_equal(dw_parse_duration_ms(DW_STR("5d"), &(uint64_t){0}), DW_EINVAL);
    assert_int_equal(dw_parse_duration_ms(DW_STR(""), &(uint64_t){0}), DW_EINVAL);
}

static void parse_bool_words(void **state)
{
    (void)state;
    static const char *const yes[] = {"true", "on", "yes", "1", "TRUE", "True", "ON", "Yes", "yEs"};
    static const char *const no[] = {"false", "off", "no", "0", "FALSE", "Off", "NO", "fAlSe"};
    static const char *const bad[] = {"maybe", "",  "2",  "tru", "truee", "yes ", " no",
                                      "y",     "n", "01", "10",  "of",    "onn"};
    bool b;
    for (size_t i = 0; i < DW_ARRAY_LEN(yes); i++) {
        b = false;
        assert_int_equal(dw_parse_bool(dw_str_c(yes[i]), &b), DW_OK);
        assert_true(b);
    }
    for (size_t i = 0; i < DW_ARRAY_LEN(no); i++) {
        b = true;
        assert_int_equal(dw_parse_bool(dw_str_c(no[i]), &b), DW_OK);
        assert_false(b);
    }
    for (size_t i = 0; i < DW_ARRAY_LEN(bad); i++) {
        if (dw_parse_bool(dw_str_c(bad[i]), &b) != DW_EINVAL)
            fail_msg("dw_parse_bool(\"%s\") accepted", bad[i]);
    }
    assert_int_equal(dw_parse_bool(DW_STR_NULL, &b), DW_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_u64_accepts_digits_and_rejects_the_rest),
        cmocka_unit_test(parse_i64_handles_sign_and_limits),
        cmocka_unit_test(parse_port_range),
        cmocka_unit_test(parse_size_units),
        cmocka_unit_test(parse_duration_groups),
        cmocka_unit_test(parse_bool_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
