/* Unit tests for the smaller dwaar-base pieces: string views, the string map, diagnostics,
 * log levels, the time cache, return codes and error values, and the JSON writer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dwaar/base/diag.h>
#include <dwaar/base/error.h>
#include <dwaar/base/hash.h>
#include <dwaar/base/json.h>
#include <dwaar/base/log.h>
#include <dwaar/base/str.h>
#include <dwaar/base/time.h>
#include <math.h>

/* ---- string views ---- */

static void str_caseeq_folds_ascii_only(void **state)
{
    (void)state;
    assert_true(dw_str_caseeq(DW_STR("Host"), DW_STR("hOST")));
    assert_true(dw_str_caseeq(DW_STR("content-length"), DW_STR("Content-Length")));
    assert_true(dw_str_caseeq(DW_STR(""), DW_STR("")));
    assert_true(dw_str_caseeq(DW_STR_NULL, DW_STR("")));
    assert_true(dw_str_caseeq(DW_STR("a1-_Z"), DW_STR("A1-_z")));
    assert_false(dw_str_caseeq(DW_STR("Host"), DW_STR("Hosts")));
    assert_false(dw_str_caseeq(DW_STR("abc"), DW_STR("abd")));
    assert_false(dw_str_caseeq(DW_STR("a"), DW_STR("")));
    /* Only A-Z fold: '[' (0x5b) and '{' (0x7b) differ by 0x20 but are not letters. */
    assert_false(dw_str_caseeq(DW_STR("["), DW_STR("{")));
    assert_false(dw_str_caseeq(DW_STR("@"), DW_STR("`")));
    assert_false(dw_str_caseeq(DW_STR("\xc3\xa9"), DW_STR("\xc3\x89"))); /* no UTF-8 folding */
    assert_true(dw_str_caseeq_c(DW_STR("GET"), "get"));
    assert_false(dw_str_caseeq_c(DW_STR("GET"), "got"));
    /* Views are bounded by len, not NUL. */
    assert_true(dw_str_caseeq(dw_str_make("ABCdef", 3), DW_STR("abc")));
}

static void str_prefix_suffix_sub(void **state)
{
    (void)state;
    dw_str_t s = DW_STR("example.com");
    assert_true(dw_str_has_prefix(s, DW_STR("exam")));
    assert_true(dw_str_has_prefix(s, DW_STR("example.com")));
    assert_true(dw_str_has_prefix(s, DW_STR("")));
    assert_false(dw_str_has_prefix(s, DW_STR("xam")));
    assert_false(dw_str_has_prefix(s, DW_STR("Exam")));
    assert_false(dw_str_has_prefix(s, DW_STR("example.com.")));
    assert_true(dw_str_has_suffix(s, DW_STR(".com")));
    assert_true(dw_str_has_suffix(s, DW_STR("example.com")));
    assert_true(dw_str_has_suffix(s, DW_STR("")));
    assert_false(dw_str_has_suffix(s, DW_STR(".co")));
    assert_false(dw_str_has_suffix(s, DW_STR("www.example.com")));
    assert_false(dw_str_has_prefix(DW_STR(""), DW_STR("a")));
    assert_false(dw_str_has_suffix(DW_STR(""), DW_STR("a")));
    /* A NULL view is a valid empty string. */
    assert_true(dw_str_has_prefix(DW_STR_NULL, DW_STR("")));
    assert_true(dw_str_has_suffix(DW_STR_NULL, DW_STR("")));
    assert_true(dw_str_has_prefix(DW_STR_NULL, DW_STR_NULL));
    assert_true(dw_str_has_suffix(DW_STR_NULL, DW_STR_NULL));
    assert_true(dw_str_has_prefix(s, DW_STR_NULL));
    assert_true(dw_str_has_suffix(s, DW_STR_NULL));
    assert_false(dw_str_has_prefix(DW_STR_NULL, DW_STR("a")));
    assert_false(dw_str_has_suffix(DW_STR_NULL, DW_STR("a")));

    dw_str_t h = DW_STR("hello");
    assert_true(dw_str_eq_c(dw_str_sub(h, 1, 3), "ell"));
    assert_true(dw_str_eq_c(dw_str_sub(h, 0, 5), "hello"));
    assert_true(dw_str_eq_c(dw_str_sub(h, 2, 100), "llo")); /* n clamps */
    assert_true(dw_str_eq_c(dw_str_sub(h, 3, SIZE_MAX), "lo"));
    dw_str_t end = dw_str_sub(h, 5, 1);
    assert_int_equal(end.len, 0);
    assert_ptr_equal(end.ptr, h.ptr + 5);
    dw_str_t past = dw_str_sub(h, 99, 1); /* off clamps to the end */
    assert_int_equal(past.len, 0);
    assert_ptr_equal(past.ptr, h.ptr + 5);
    assert_int_equal(dw_str_sub(h, 0, 0).len, 0);
}

static void str_chr_and_find(void **state)
{
    (void)state;
    dw_str_t s = DW_STR("hello world");
    assert_int_equal(dw_str_chr(s, 'h'), 0);
    assert_int_equal(dw_str_chr(s, 'o'), 4);
    assert_int_equal(dw_str_chr(s, 'd'), 10);
    assert_int_equal(dw_str_chr(s, 'z'), -1);
    assert_int_equal(dw_str_chr(DW_STR(""), 'a'), -1);
    assert_int_equal(dw_str_chr(DW_STR_NULL, 'a'), -1);
    assert_int_equal(dw_str_chr(DW_STR("a\0b"), '\0'), 1);
    assert_int_equal(dw_str_chr(DW_STR("a\0b"), 'b'), 2);
    assert_int_equal(dw_str_chr(dw_str_make("abc", 2), 'c'), -1); /* bounded by len */

    assert_int_equal(dw_str_find(s, DW_STR("world")), 6);
    assert_int_equal(dw_str_find(s, DW_STR("hello")), 0);
    assert_int_equal(dw_str_find(s, DW_STR("o")), 4);
    assert_int_equal(dw_str_find(s, DW_STR("o w")), 4);
    assert_int_equal(dw_str_find(s, DW_STR("d")), 10);
    assert_int_equal(dw_str_find(s, DW_STR("worlds")), -1);
    assert_int_equal(dw_str_find(s, DW_STR("hello world!")), -1);
    assert_int_equal(dw_str_find(s, DW_STR("")), 0);
    assert_int_equal(dw_str_find(DW_STR("aaab"), DW_STR("aab")), 1);
    assert_int_equal(dw_str_find(DW_STR("x\0y\0z"), DW_STR("\0z")), 3);
    assert_int_equal(dw_str_find(DW_STR(""), DW_STR("a")), -1);
    assert_int_equal(dw_str_find(DW_STR_NULL, DW_STR("a")), -1);
    assert_int_equal(dw_str_find(dw_str_make("abcdef", 4), DW_STR("ef")), -1);
}

static void str_edit_distance_and_cap(void **state)
{
    (void)state;
    assert_int_equal(dw_str_edit_distance(DW_STR("proxzy"), DW_STR("proxy"), 3), 1);
    assert_int_equal(dw_str_edit_distance(DW_STR("proxy"), DW_STR("proxzy"), 3), 1);
    assert_int_equal(dw_str_edit_distance(DW_STR("proxy"), DW_STR("proxy"), 3), 0);
    assert_int_equal(dw_str_edit_distance(DW_STR("reverse_proxy"), DW_STR("revrese_proxy"), 3), 2);
    assert_int_equal(dw_str_edit_distance(DW_STR("kitten"), DW_STR("sitting"), 5), 3);
    assert_int_equal(dw_str_edit_distance(DW_STR("flaw"), DW_STR("lawn"), 2), 2); /* == cap */
    assert_int_equal(dw_str_edit_distance(DW_STR(""), DW_STR("abc"), 5), 3);
    assert_int_equal(dw_str_edit_distance(DW_STR("abc"), DW_STR(""), 5), 3);
    assert_int_equal(dw_str_edit_distance(DW_STR(""), DW_STR(""), 0), 0);
    assert_int_equal(dw_str_edit_distance(DW_STR("tls"), DW_STR("tsl"), 2), 2);

    /* Past the cap the answer is only "more than cap". */
    assert_true(dw_str_edit_distance(DW_STR("kitten"), DW_STR("sitting"), 2) > 2);
    assert_true(dw_str_edit_distance(DW_STR("kitten"), DW_STR("sitting"), 0) > 0);
    assert_true(dw_str_edit_distance(DW_STR("abc"), DW_STR("xyz"), 2) > 2);
    assert_true(dw_str_edit_distance(DW_STR("abc"), DW_STR("abcdefgh"), 2) > 2);
    assert_true(dw_str_edit_distance(DW_STR("root"), DW_STR("header_upstream"), 3) > 3);
    assert_true(dw_str_edit_distance(DW_STR("ab"), DW_STR("ba"), 1) > 1);
    /* Long inputs do not overflow the DP rows. */
    static const char long_a[] =
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    assert_true(dw_str_edit_distance(DW_STR(long_a), DW_STR("aa"), 3) > 3);
    assert_true(dw_str_edit_distance(DW_STR(long_a), dw_str_make(long_a, 129), 3) > 0);
}

/* ---- string map ---- */

static void strmap_put_get_replace(void **state)
{
    (void)state;
    int x = 1, y = 2, z = 3;
    void *old = &z;
    dw_strmap_t m;
    dw_strmap_init(&m, false);
    assert_null(dw_strmap_get(&m, DW_STR("a"))); /* empty map */

    assert_int_equal(dw_strmap_put(&m, DW_STR("alpha"), &x, &old), DW_OK);
    assert_null(old); /* a new key reports no old value */
    assert_int_equal(m.n, 1);
    assert_ptr_equal(dw_strmap_get(&m, DW_STR("alpha")), &x);
    assert_null(dw_strmap_get(&m, DW_STR("alph")));
    assert_null(dw_strmap_get(&m, DW_STR("alphaa")));
    assert_null(dw_strmap_get(&m, DW_STR("Alpha"))); /* case-sensitive map */

    /* The key is looked up by content, not by pointer. */
    char buf[] = "alpha";
    assert_int_equal(dw_strmap_put(&m, dw_str_make(buf, 5), &y, &old), DW_OK);
    assert_ptr_equal(old, &x);
    assert_int_equal(m.n, 1);
    assert_ptr_equal(dw_strmap_get(&m, DW_STR("alpha")), &y);

    assert_int_equal(dw_strmap_put(&m, DW_STR("alpha"), &z, NULL), DW_OK); /* old optional */
    assert_ptr_equal(dw_strmap_get(&m, DW_STR("alpha")), &z);

    assert_int_equal(dw_strmap_put(&m, DW_STR("Alpha"), &x, &old), DW_OK);
    assert_null(old);
    assert_int_equal(m.n, 2);
    assert_ptr_equal(dw_strmap_get(&m, DW_STR("Alpha")), &x);
    assert_ptr_equal(dw_strmap_get(&m, DW_STR("alpha")), &z);

    /* The empty key is a key like any other. */
    assert_null(dw_strmap_get(&m, DW_STR("")));
    assert_int_equal(dw_strmap_put(&m, DW_STR_NULL, &y, &old), DW_OK);
    assert_null(old);
    assert_ptr_equal(dw_strmap_get(&m, DW_STR("")), &y);
    assert_ptr_equal(dw_strmap_get(&m, DW_STR_NULL), &y);
    assert_int_equal(m.n, 3);

    /* A NULL value is stored, and replacing it reports NULL. */
    assert_int_equal(dw_strmap_put(&m, DW_STR("nothing"), NULL, &old), DW_OK);
    assert_int_equal(m.n, 4);
    assert_null(dw_strmap_get(&m, DW_STR("nothing")));
    dw_strmap_deinit(&m);
    assert_null(m.slots);
    assert_int_equal(m.n, 0);
    assert_null(dw_strmap_get(&m, DW_STR("alpha")));
}

static void strmap_grows_past_1000_keys(void **state)
{
    (void)state;
    enum { N = 3000 };
    static char keys[N][16];
    static int vals[N];
    dw_strmap_t m;
    dw_strmap_init(&m, false);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "key-%d", i);
        vals[i] = i;
        void *old = &vals[0];
        assert_int_equal(dw_strmap_put(&m, dw_str_c(keys[i]), &vals[i], &old), DW_OK);
        assert_null(old);
        assert_int_equal(m.n, (size_t)i + 1);
        assert_true((m.cap & (m.cap - 1)) == 0);
        assert_true(m.n < m.cap);
        /* Earlier keys survive every rehash. */
        assert_ptr_equal(dw_strmap_get(&m, DW_STR("key-0")), &vals[0]);
    }
    assert_true(m.cap >= N);
    for (int i = 0; i < N; i++) assert_ptr_equal(dw_strmap_get(&m, dw_str_c(keys[i])), &vals[i]);
    assert_null(dw_strmap_get(&m, DW_STR("key-3000")));
    assert_null(dw_strmap_get(&m, DW_STR("key-")));

    /* Replace every other key; the count does not change. */
    for (int i = 0; i < N; i += 2) {
        void *old = NULL;
        assert_int_equal(dw_strmap_put(&m, dw_str_c(keys[i]), &vals[N - 1 - i], &old), DW_OK);
        assert_ptr_equal(old, &vals[i]);
    }
    assert_int_equal(m.n, N);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(dw_strmap_get(&m, dw_str_c(keys[i])), &vals[i % 2 ? i : N - 1 - i]);
    dw_strmap_deinit(&m);
}

static void strmap_nocase_mode(void **state)
{
    (void)state;
    int x = 1, y = 2;
    void *old = NULL;
    dw_strmap_t m;
    dw_strmap_init(&m, true);
    assert_true(m.nocase);
    assert_int_equal(dw_strmap_put(&m, DW_STR("Content-Type"), &x, &old), DW_OK);
    assert_ptr_equal(dw_strmap_get(&m, DW_STR("content-type")), &x);
    assert_ptr_equal(dw_strmap_get(&m, DW_STR("CONTENT-TYPE")), &x);
    assert_ptr_equal(dw_strmap_get(&m, DW_STR("Content-Type")), &x);
    assert_null(dw_strmap_get(&m, DW_STR("Content_Type")));

    assert_int_equal(dw_strmap_put(&m, DW_STR("CONTENT-type"), &y, &old), DW_OK);
    assert_ptr_equal(old, &x);
    assert_int_equal(m.n, 1);
    assert_ptr_equal(dw_strmap_get(&m, DW_STR("content-TYPE")), &y);

    /* Many keys differing only in case collapse into one entry each. */
    static char upper[200][16], lower[200][16];
    static int vals[200];
    for (int i = 0; i < 200; i++) {
        snprintf(upper[i], sizeof(upper[i]), "HDR-%d-X", i);
        snprintf(lower[i], sizeof(lower[i]), "hdr-%d-x", i);
        assert_int_equal(dw_strmap_put(&m, dw_str_c(upper[i]), &vals[i], NULL), DW_OK);
    }
    for (int i = 0; i < 200; i++) {
        assert_ptr_equal(dw_strmap_get(&m, dw_str_c(lower[i])), &vals[i]);
        assert_int_equal(dw_strmap_put(&m, dw_str_c(lower[i]), &vals[i], &old), DW_OK);
        assert_ptr_equal(old, &vals[i]);
    }
    assert_int_equal(m.n, 201);
    dw_strmap_deinit(&m);
}

/* ---- diagnostics ---- */

static char *format_diag(const dw_diag_t *d)
{
    dw_buf_t b = DW_BUF_INIT;
    dw_diag_format(d, &b);
    assert_int_equal(b.failed, 0);
    return dw_buf_take(&b);
}

/* Runs dw_diags_print into memory and returns what it wrote (free it). */
static char *print_diags(const dw_diags_t *d, int severity)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_non_null(f);
    dw_diags_print(d, severity, f);
    assert_int_equal(fclose(f), 0);
    assert_non_null(out);
    return out;
}

static void diags_add_format_print(void **state)
{
    (void)state;
    dw_diags_t d;
    dw_diags_init(&d);
    dw_diags_add(&d, DW_SEV_ERROR, "Dwaarfile", 3, 5, "unknown directive '%s'", "proxzy");
    dw_diags_add(&d, DW_SEV_WARNING, "Dwaarfile", 7, 1, "%s is deprecated", "gzip");
    dw_diags_add(&d, DW_SEV_ERROR, "sites/a.conf", 12, 40, "bad port %d\n    expected: 1..65535",
                 70000);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.nerrors, 2);
    assert_int_equal(d.nwarnings, 1);

    assert_string_equal(d.items[0].file, "Dwaarfile");
    assert_int_equal(d.items[0].line, 3);
    assert_int_equal(d.items[0].col, 5);
    assert_int_equal(d.items[0].severity, DW_SEV_ERROR);
    assert_string_equal(d.items[0].message, "unknown directive 'proxzy'");
    assert_int_equal(d.items[1].severity, DW_SEV_WARNING);

    char *s = format_diag(&d.items[0]);
    assert_string_equal(s, "Dwaarfile:3:5: unknown directive 'proxzy'");
    free(s);
    s = format_diag(&d.items[1]);
    assert_string_equal(s, "Dwaarfile:7:1: warning: gzip is deprecated");
    free(s);

    /* The file name is copied, not borrowed. */
    char fname[] = "tmp.conf";
    dw_diags_add(&d, DW_SEV_ERROR, fname, 1, 2, "x");
    fname[0] = 'X';
    s = format_diag(&d.items[3]);
    assert_string_equal(s, "tmp.conf:1:2: x");
    free(s);

    /* Without a file there is no location prefix. */
    dw_diags_add(&d, DW_SEV_WARNING, NULL, 0, 0, "no file");
    s = format_diag(&d.items[4]);
    assert_string_equal(s, "warning: no file");
    free(s);
    assert_int_equal(d.nerrors, 3);
    assert_int_equal(d.nwarnings, 2);

    /* format appends to what the buffer holds. */
    dw_buf_t b = DW_BUF_INIT;
    dw_buf_append_c(&b, "> ");
    dw_diag_format(&d.items[0], &b);
    assert_string_equal(b.data, "> Dwaarfile:3:5: unknown directive 'proxzy'");
    dw_buf_deinit(&b);

    char *all = print_diags(&d, -1);
    assert_string_equal(all, "Dwaarfile:3:5: unknown directive 'proxzy'\n"
                             "Dwaarfile:7:1: warning: gzip is deprecated\n"
                             "sites/a.conf:12:40: bad port 70000\n    expected: 1..65535\n"
                             "tmp.conf:1:2: x\n"
                             "warning: no file\n");
    free(all);
    char *errs = print_diags(&d, DW_SEV_ERROR);
    assert_string_equal(errs, "Dwaarfile:3:5: unknown directive 'proxzy'\n"
                              "sites/a.conf:12:40: bad port 70000\n    expected: 1..65535\n"
                              "tmp.conf:1:2: x\n");
    free(errs);
    char *warns = print_diags(&d, DW_SEV_WARNING);
    assert_string_equal(warns, "Dwaarfile:7:1: warning: gzip is deprecated\n"
                               "warning: no file\n");
    free(warns);

    dw_diags_deinit(&d);
    assert_null(d.items);
    assert_int_equal(d.n + d.nerrors + d.nwarnings, 0);
    char *none = print_diags(&d, -1);
    assert_string_equal(none, "");
    free(none);
}

static void diags_stop_recording_at_max(void **state)
{
    (void)state;
    dw_diags_t d;
    dw_diags_init(&d);
    d.max = 3;
    for (int i = 1; i <= 5; i++) dw_diags_add(&d, DW_SEV_ERROR, "f", (uint32_t)i, 1, "e%d", i);
    assert_int_equal(d.n, 3);       /* stored */
    assert_int_equal(d.nerrors, 5); /* counted */
    assert_string_equal(d.items[2].message, "e3");
    char *out = print_diags(&d, -1);
    assert_string_equal(out, "f:1:1: e1\nf:2:1: e2\nf:3:1: e3\n(2 more diagnostics not shown)\n");
    free(out);
    dw_diags_deinit(&d);

    /* The default cap is 1000 and bounds memory whatever the severity. */
    dw_diags_init(&d);
    for (int i = 0; i < 1500; i++)
        dw_diags_add(&d, i % 2 ? DW_SEV_WARNING : DW_SEV_ERROR, "f", 1, 1, "d%d", i);
    assert_int_equal(d.n, 1000);
    assert_int_equal(d.nerrors, 750);
    assert_int_equal(d.nwarnings, 750);
    assert_string_equal(d.items[999].message, "d999");
    dw_diags_deinit(&d);
}

/* ---- log levels ---- */

static void log_level_parse_names(void **state)
{
    (void)state;
    assert_int_equal(dw_log_level_parse("off"), DW_LOG_OFF);
    assert_int_equal(dw_log_level_parse("error"), DW_LOG_ERROR);
    assert_int_equal(dw_log_level_parse("warn"), DW_LOG_WARN);
    assert_int_equal(dw_log_level_parse("warning"), DW_LOG_WARN);
    assert_int_equal(dw_log_level_parse("info"), DW_LOG_INFO);
    assert_int_equal(dw_log_level_parse("debug"), DW_LOG_DEBUG);
    assert_int_equal(dw_log_level_parse("trace"), DW_LOG_TRACE);
    assert_int_equal(dw_log_level_parse("OFF"), DW_LOG_OFF);
    assert_int_equal(dw_log_level_parse("Error"), DW_LOG_ERROR);
    assert_int_equal(dw_log_level_parse("WARN"), DW_LOG_WARN);
    assert_int_equal(dw_log_level_parse("DeBuG"), DW_LOG_DEBUG);
    assert_int_equal(dw_log_level_parse("TRACE"), DW_LOG_TRACE);
    /* Unknown names fall back to info. */
    assert_int_equal(dw_log_level_parse("verbose"), DW_LOG_INFO);
    assert_int_equal(dw_log_level_parse(""), DW_LOG_INFO);
    assert_int_equal(dw_log_level_parse("err"), DW_LOG_INFO);
    assert_int_equal(dw_log_level_parse("debug "), DW_LOG_INFO);
    assert_int_equal(dw_log_level_parse(NULL), DW_LOG_INFO);
}

/* ---- time ---- */

static void check_http_date_shape(const char *s)
{
    /* "Sun, 06 Nov 1994 08:49:37 GMT" */
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    assert_int_equal(strlen(s), 29);
    bool day = false, mon = false;
    for (size_t i = 0; i < 7; i++) day |= memcmp(s, days[i], 3) == 0;
    for (size_t i = 0; i < 12; i++) mon |= memcmp(s + 8, mons[i], 3) == 0;
    assert_true(day);
    assert_true(mon);
    static const char shape[] = "___, 99 ___ 9999 99:99:99 GMT";
    for (size_t i = 0; i < 29; i++) {
        if (shape[i] == '9')
            assert_true(dw_ascii_isdigit(s[i]));
        else if (shape[i] != '_')
            assert_int_equal(s[i], shape[i]);
    }
}

static void time_cache_and_http_date(void **state)
{
    (void)state;
    char out[64];
    dw_time_format_http(784111777, out);
    assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
    dw_time_format_http(0, out);
    assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
    dw_time_format_http(951782400, out); /* a leap day */
    assert_string_equal(out, "Tue, 29 Feb 2000 00:00:00 GMT");
    dw_time_format_http(1767225599, out);
    assert_string_equal(out, "Wed, 31 Dec 2025 23:59:59 GMT");

    const dw_time_cache_t *t = dw_time_update();
    assert_non_null(t);
    assert_true(t->mono_ms > 0);
    assert_true(t->wall_ms > 1600000000000ULL); /* after September 2020 */
    check_http_date_shape(t->http_date);
    dw_time_format_http((int64_t)(t->wall_ms / 1000), out);
    assert_string_equal(t->http_date, out);

    /* "2026-11-23T21:08:29.123Z" */
    assert_int_equal(strlen(t->iso8601), 24);
    assert_int_equal(t->iso8601[4], '-');
    assert_int_equal(t->iso8601[10], 'T');
    assert_int_equal(t->iso8601[19], '.');
    assert_int_equal(t->iso8601[23], 'Z');
    char ms[4];
    snprintf(ms, sizeof(ms), "%03d", (int)(t->wall_ms % 1000));
    assert_memory_equal(t->iso8601 + 20, ms, 3);
    assert_memory_equal(t->http_date + 12, t->iso8601, 4); /* same year */

    uint64_t mono = t->mono_ms;
    assert_ptr_equal(dw_time_cached(), t);
    assert_true(dw_time_mono_ms() == mono);
    const dw_time_cache_t *t2 = dw_time_update();
    assert_ptr_equal(t2, t);
    assert_true(t2->mono_ms >= mono); /* monotonic */
    assert_true(dw_time_wall_ms() == t2->wall_ms);
}

/* ---- return codes and error values ---- */

static void rc_str_names_every_code(void **state)
{
    (void)state;
    static const int codes[] = {DW_OK,     DW_EAGAIN, DW_EDECLINED, DW_EDONE,  DW_ENOMEM, DW_EPROTO,
                                DW_ELIMIT, DW_EIO,    DW_EINVAL,    DW_ENOENT, DW_ERANGE};
    assert_string_equal(dw_rc_str(DW_OK), "ok");
    assert_string_equal(dw_rc_str(DW_ENOMEM), "out of memory");
    assert_string_equal(dw_rc_str(DW_ERANGE), "out of range");
    const char *unknown = dw_rc_str(12345);
    assert_non_null(unknown);
    assert_string_equal(dw_rc_str(-9999), unknown);
    for (size_t i = 0; i < DW_ARRAY_LEN(codes); i++) {
        const char *s = dw_rc_str(codes[i]);
        assert_non_null(s);
        assert_true(s[0] != '\0');
        assert_string_not_equal(s, unknown);
        for (size_t k = 0; k < i; k++) assert_string_not_equal(s, dw_rc_str(codes[k]));
    }
}

static int fail_with(dw_err_t *err, const char *what)
{
    return dw_err_set(err, DW_EINVAL, "bad value '%s' (%d)", what, 7);
}

static void err_set_formats_and_returns_rc(void **state)
{
    (void)state;
    dw_err_t err;
    dw_err_clear(&err);
    assert_int_equal(err.rc, 0);
    assert_string_equal(err.msg, "");

    assert_int_equal(fail_with(&err, "x"), DW_EINVAL);
    assert_int_equal(err.rc, DW_EINVAL);
    assert_string_equal(err.msg, "bad value 'x' (7)");

    /* A NULL error is allowed: only the code comes back. */
    assert_int_equal(fail_with(NULL, "x"), DW_EINVAL);
    assert_int_equal(dw_err_set(NULL, DW_ENOENT, "gone"), DW_ENOENT);

    /* Long messages are truncated, still NUL-terminated. */
    char longv[600];
    memset(longv, 'v', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    assert_int_equal(dw_err_set(&err, DW_ELIMIT, "%s", longv), DW_ELIMIT);
    assert_int_equal(err.rc, DW_ELIMIT);
    assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
    assert_memory_equal(err.msg, longv, sizeof(err.msg) - 1);

    dw_err_clear(&err);
    assert_int_equal(err.rc, DW_OK);
    assert_string_equal(err.msg, "");
}

/* ---- JSON writer ---- */

static void json_writer_places_commas_and_colons(void **state)
{
    (void)state;
    dw_buf_t b = DW_BUF_INIT;
    dw_json_t j;
    dw_json_init(&j, &b);
    dw_json_obj_begin(&j);
    dw_json_kv_str(&j, "name", DW_STR("a\"b"));
    dw_json_kv_uint(&j, "big", UINT64_MAX);
    dw_json_kv_int(&j, "neg", INT64_MIN);
    dw_json_kv_bool(&j, "ok", true);
    dw_json_kv_cstr(&j, "nil", NULL);
    dw_json_key(&j, "list");
    dw_json_arr_begin(&j);
    dw_json_uint(&j, 1);
    dw_json_double(&j, 0.5);
    dw_json_double(&j, INFINITY);
    dw_json_obj_begin(&j);
    dw_json_obj_end(&j);
    dw_json_arr_begin(&j);
    dw_json_arr_end(&j);
    dw_json_null(&j);
    dw_json_arr_end(&j);
    dw_json_key(&j, "last");
    dw_json_bool(&j, false);
    dw_json_obj_end(&j);
    assert_int_equal(b.failed, 0);
    assert_string_equal(b.data, "{\"name\":\"a\\\"b\",\"big\":18446744073709551615,"
                                "\"neg\":-9223372036854775808,\"ok\":true,\"nil\":null,"
                                "\"list\":[1,0.5,null,{},[],null],\"last\":false}");
    dw_buf_deinit(&b);

    /* Nesting deeper than DW_JSON_MAX_DEPTH marks the buffer failed. */
    dw_json_init(&j, &b);
    for (int i = 0; i < DW_JSON_MAX_DEPTH; i++) dw_json_arr_begin(&j);
    assert_int_equal(b.failed, 0);
    dw_json_arr_begin(&j);
    assert_int_not_equal(b.failed, 0);
    dw_buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(str_caseeq_folds_ascii_only),
        cmocka_unit_test(str_prefix_suffix_sub),
        cmocka_unit_test(str_chr_and_find),
        cmocka_unit_test(str_edit_distance_and_cap),
        cmocka_unit_test(strmap_put_get_replace),
        cmocka_unit_test(strmap_grows_past_1000_keys),
        cmocka_unit_test(strmap_nocase_mode),
        cmocka_unit_test(diags_add_format_print),
        cmocka_unit_test(diags_stop_recording_at_max),
        cmocka_unit_test(log_level_parse_names),
        cmocka_unit_test(time_cache_and_http_date),
        cmocka_unit_test(rc_str_names_every_code),
        cmocka_unit_test(err_set_formats_and_returns_rc),
        cmocka_unit_test(json_writer_places_commas_and_colons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
