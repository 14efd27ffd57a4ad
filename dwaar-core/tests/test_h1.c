/* HTTP/1.x parser unit tests (spec 40-http1.md). Test names carry the checklist IDs they prove
 * at the parser level; the end-to-end halves (what reaches an upstream, site selection) live
 * in the black-box tests. Every input is copied into an exactly sized heap block so the
 * sanitizers see any read past it, and most are also fed byte by byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dwaar/core/h1.h>

#define MAX_FIELDS 128

static dw_h1_field_t fields[MAX_FIELDS];
static dw_h1_head_t head;
static char *copy; /* the exact-size copy the last parse read; head's views point into it */

static char *exact_copy(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    assert_non_null(p);
    if (n) memcpy(p, s, n);
    return p;
}

/* One call on the whole input. */
static dw_h1_rc_t parse_once(bool req, const char *s, size_t n, const dw_h1_limits_t *lim)
{
    free(copy);
    copy = exact_copy(s, n);
    dw_h1_scan_t scan = {0};
    return req ? dw_h1_parse_request(copy, n, lim, &scan, fields, &head)
               : dw_h1_parse_response(copy, n, lim, &scan, fields, &head);
}

/* Feeds the input growing by step bytes, each call on a fresh exact-size copy, and stops at
 * the first answer other than INCOMPLETE (or the end). */
static dw_h1_rc_t parse_steps(bool req, const char *s, size_t n, const dw_h1_limits_t *lim,
                              size_t step, dw_h1_head_t *h)
{
    dw_h1_scan_t scan = {0};
    dw_h1_rc_t rc = DW_H1_INCOMPLETE;
    for (size_t len = step < n ? step : n;; len = len + step < n ? len + step : n) {
        char *p = exact_copy(s, len);
        rc = req ? dw_h1_parse_request(p, len, lim, &scan, fields, h)
                 : dw_h1_parse_response(p, len, lim, &scan, fields, h);
        free(p);
        if (rc != DW_H1_INCOMPLETE || len == n) break;
    }
    return rc;
}

/* The one-shot answer, checked against byte-by-byte feeding for small inputs. */
static dw_h1_rc_t parse(bool req, const char *s, size_t n, const dw_h1_limits_t *lim)
{
    if (n <= 2048) {
        dw_h1_head_t h;
        dw_h1_rc_t rc1 = parse_steps(req, s, n, lim, 1, &h);
        dw_h1_rc_t rc = parse_once(req, s, n, lim);
        assert_int_equal(rc1, rc);
        if (rc == DW_H1_ERROR) assert_int_equal(h.error_status, head.error_status);
        if (rc == DW_H1_OK) {
            assert_int_equal(h.head_len, head.head_len);
            assert_int_equal(h.nfields, head.nfields);
            assert_int_equal(h.body, head.body);
        }
        return rc;
    }
    return parse_once(req, s, n, lim);
}

#define REQ(lit)  parse(true, lit, sizeof(lit) - 1, NULL)
#define RESP(lit) parse(false, lit, sizeof(lit) - 1, NULL)

static void req_err(const char *s, size_t n, uint16_t status)
{
    dw_h1_rc_t rc = parse(true, s, n, NULL);
    if (rc != DW_H1_ERROR || head.error_status != status)
        fail_msg("%.*s: rc %d status %u (want error %u)", (int)n, s, rc, head.error_status, status);
    assert_non_null(head.error_reason);
}
#define REQ_ERR(lit, st) req_err(lit, sizeof(lit) - 1, st)

static void req_ok(const char *s, size_t n)
{
    dw_h1_rc_t rc = parse(true, s, n, NULL);
    if (rc != DW_H1_OK)
        fail_msg("%.*s: rc %d status %u %s", (int)n, s, rc, head.error_status,
                 head.error_reason ? head.error_reason : "");
    assert_int_equal(head.head_len, n);
}
#define REQ_OK(lit) req_ok(lit, sizeof(lit) - 1)

static void resp_err(const char *s, size_t n)
{
    assert_int_equal(parse(false, s, n, NULL), DW_H1_ERROR);
    assert_int_equal(head.error_status, 502);
}
#define RESP_ERR(lit) resp_err(lit, sizeof(lit) - 1)

static bool str_is(dw_str_t s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

/* ---- chunked helpers ---- */

typedef struct ck_out {
    int rc;          /* last answer: DONE, ERROR or NEED_MORE */
    size_t consumed; /* total bytes consumed */
    char *data;      /* concatenated DATA views */
    size_t dlen;
    const char *reason;
} ck_out_t;

/* Decodes in[0..n) delivered in pieces that end at the given cut offsets (ascending). */
static ck_out_t ck_run_cuts(const char *in, size_t n, const size_t *cuts, size_t ncuts,
                            const dw_h1_limits_t *lim)
{
    ck_out_t o = {.rc = DW_H1_CHUNK_NEED_MORE, .data = malloc(n + 1)};
    assert_non_null(o.data);
    dw_h1_chunked_t c;
    dw_h1_chunked_init(&c);
    size_t start = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t stop = k < ncuts ? cuts[k] : n;
        char *piece = exact_copy(in + start, stop - start);
        size_t off = 0;
        for (;;) {
            size_t used = 0;
            dw_str_t d = {NULL, 0};
            int rc = dw_h1_chunked_decode(&c, lim, piece + off, stop - start - off, &used, &d);
            assert_true(used <= stop - start - off);
            if (rc == DW_H1_CHUNK_DATA) {
                assert_true(d.len > 0);
                assert_true(d.ptr >= piece + off && d.ptr + d.len <= piece + off + used);
                memcpy(o.data + o.dlen, d.ptr, d.len);
                o.dlen += d.len;
                off += used;
                continue;
            }
            off += used;
            o.rc = rc;
            if (rc == DW_H1_CHUNK_NEED_MORE) assert_int_equal(off, stop - start);
            if (rc == DW_H1_CHUNK_ERROR) o.reason = c.error_reason;
            break;
        }
        free(piece);
        o.consumed = start + off;
        if (o.rc != DW_H1_CHUNK_NEED_MORE) return o;
        start = stop;
    }
    return o;
}

static ck_out_t ck_run(const char *in, size_t n, size_t step, const dw_h1_limits_t *lim)
{
    size_t ncuts = step ? (n ? (n - 1) / step : 0) : 0;
    size_t *cuts = calloc(ncuts + 1, sizeof(*cuts));
    assert_non_null(cuts);
    for (size_t k = 0; k < ncuts; k++) cuts[k] = (k + 1) * step;
    ck_out_t o = ck_run_cuts(in, n, cuts, ncuts, lim);
    free(cuts);
    return o;
}

/* Decodes whole and byte by byte; both must agree. */
static ck_out_t ck(const char *in, size_t n)
{
    ck_out_t a = ck_run(in, n, 0, NULL);
    ck_out_t b = ck_run(in, n, 1, NULL);
    assert_int_equal(a.rc, b.rc);
    assert_int_equal(a.consumed, b.consumed);
    assert_int_equal(a.dlen, b.dlen);
    if (a.dlen) assert_memory_equal(a.data, b.data, a.dlen);
    free(b.data);
    return a;
}
#define CK(lit) ck(lit, sizeof(lit) - 1)

static void ck_expect_error(const char *in, size_t n)
{
    ck_out_t o = ck(in, n);
    if (o.rc != DW_H1_CHUNK_ERROR) fail_msg("%.*s: rc %d, want error", (int)n, in, o.rc);
    free(o.data);
}
#define CK_ERR(lit) ck_expect_error(lit, sizeof(lit) - 1)

/* ---- H1-01 .. H1-14 ---- */

static void test_H1_01_cl_with_te_rejected(void **state)
{
    (void)state;
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            400);
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            400);
    REQ_ERR("POST / HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    REQ_ERR("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400);
    /* an unknown coding with CL is still the CL+TE error first */
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n",
            400);
    RESP_ERR("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
}

static void test_H1_02_differing_content_length(void **state)
{
    (void)state;
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400);
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", 400);
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,5,6\r\n\r\n", 400);
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 05, 6\r\n\r\n",
            400);
    /* identical values are one length */
    REQ_OK("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
    assert_int_equal(head.body, DW_H1_BODY_LENGTH);
    assert_int_equal(head.content_length, 5);
    REQ_OK("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 ,\t5, 5\r\n\r\n");
    assert_int_equal(head.content_length, 5);
    /* equal as numbers is equal */
    REQ_OK("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 005\r\n\r\n");
    assert_int_equal(head.content_length, 5);
    RESP_ERR("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
}

static void test_H1_03_bad_content_length(void **state)
{
    (void)state;
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400);
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400);
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400);
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", 400);
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", 400);
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400);
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400);
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", 400);
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", 400);
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ,5\r\n\r\n", 400);
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5.0\r\n\r\n", 400);
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \xd9\xa5\r\n\r\n", 400);
    REQ_OK("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n");
    assert_int_equal(head.content_length, INT64_MAX);
    assert_int_equal(head.body, DW_H1_BODY_LENGTH);
    REQ_OK("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(head.body, DW_H1_BODY_NONE);
    assert_int_equal(head.content_length, 0);
    RESP_ERR("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n");
}

static void test_H1_04_bad_transfer_encoding(void **state)
{
    (void)state;
#define TE_REQ(te) "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: " te "\r\n\r\n"
    REQ_ERR(TE_REQ("xchunked"), 501);
    REQ_ERR(TE_REQ("gzip"), 501);
    REQ_ERR(TE_REQ("chunkedx"), 501);
    REQ_ERR(TE_REQ("chunked, gzip"), 400);
    REQ_ERR(TE_REQ("gzip, chunked"), 400);
    REQ_ERR(TE_REQ("identity"), 400);
    REQ_ERR(TE_REQ("Identity"), 400);
    REQ_ERR(TE_REQ("chunked, chunked"), 400);
    REQ_ERR(TE_REQ("chunked,"), 400);
    REQ_ERR(TE_REQ(",chunked"), 400);
    REQ_ERR(TE_REQ(""), 400);
    REQ_ERR(TE_REQ("chunked;q=1"), 400);
    REQ_ERR(TE_REQ("\"chunked\""), 400);
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
            "Transfer-Encoding: chunked\r\n\r\n",
            400);
    REQ_ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
            "Transfer-Encoding: chunked\r\n\r\n",
            400);
    /* HTTP/1.0 with any TE */
    REQ_ERR("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    /* the one accepted form, any case, with OWS */
    REQ_OK(TE_REQ("chunked"));
    assert_int_equal(head.body, DW_H1_BODY_CHUNKED);
    REQ_OK(TE_REQ("  ChUnKeD \t"));
    assert_int_equal(head.body, DW_H1_BODY_CHUNKED);
    REQ_OK("POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: CHUNKED\r\n\r\n");
    assert_int_equal(head.body, DW_H1_BODY_CHUNKED);
#undef TE_REQ
}

static void test_H1_05_whitespace_before_colon(void **state)
{
    (void)state;
    REQ_ERR("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding  : chunked\r\n\r\n", 400);
    RESP_ERR("HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n");
}

static void test_H1_06_obs_fold(void **state)
{
    (void)state;
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", 400);
    RESP_ERR("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n");
}

static void test_H1_07_bare_cr(void **state)
{
    (void)state;
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\rHost: a\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\nX: \r\r\n\r\n", 400);
    REQ_ERR("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    /* what follows a bare CR must not be read as a line of its own */
    REQ_ERR("GET / HTTP/1.0\r\nX: a\rYY: b\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.0\r\nX: a\r\rYY: b\r\n\r\n", 400);
    /* bare LF as a line end, decided as soon as the LF arrives */
    REQ_ERR("GET / HTTP/1.1\nHost: a\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\n\n", 400);
    REQ_ERR("GET / HTTP/1.1\n", 400);
    REQ_ERR("\n", 400);
    RESP_ERR("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n");
    RESP_ERR("HTTP/1.1 200 OK\nX: a\r\n\r\n");
}

static void test_H1_08_ctl_nul_in_fields(void **state)
{
    (void)state;
    static const char nul_value[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
    req_err(nul_value, sizeof(nul_value) - 1, 400);
    static const char nul_name[] = "GET / HTTP/1.1\r\nHost: a\r\nX\0Y: b\r\n\r\n";
    req_err(nul_name, sizeof(nul_name) - 1, 400);
    static const char nul_first[] = "GET / HTTP/1.1\r\nHost: a\r\n\0: b\r\n\r\n";
    req_err(nul_first, sizeof(nul_first) - 1, 400);
    static const char nul_end[] = "GET / HTTP/1.1\r\nHost: a\r\nX: b\0\r\n\r\n";
    req_err(nul_end, sizeof(nul_end) - 1, 400);
    for (int c = 1; c < 0x20; c++) {
        if (c == '\t' || c == '\r' || c == '\n') continue;
        char buf[64];
        int n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\nX: a%cb\r\n\r\n", c);
        req_err(buf, (size_t)n, 400);
        n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\nX%c: b\r\n\r\n", c);
        req_err(buf, (size_t)n, 400);
    }
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f"
            "b\r\n\r\n",
            400);
    /* a long value: the word-at-a-time scan must still find the one bad byte anywhere */
    for (size_t at = 0; at < 40; at++) {
        char buf[128];
        int n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\nX: %s\r\n\r\n",
                         "0123456789abcdefghijklmnopqrstuvwxyzABCD");
        buf[29 + at] = (char)(at % 2 ? 0x7f : 0x01);
        req_err(buf, (size_t)n, 400);
    }
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\nX Y: b\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\nX(Y): b\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: b\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\n: empty name\r\n\r\n", 400);
    /* HTAB and obs-text are fine in values */
    REQ_OK("GET / HTTP/1.1\r\nHost: a\r\nX: a\tb \xc3\xa9\xff\x80\r\n\r\n");
    assert_true(str_is(head.fields[1].value, "a\tb \xc3\xa9\xff\x80"));
    RESP_ERR("HTTP/1.1 200 OK\r\nX: a\x01"
             "b\r\n\r\n");
}

static void test_H1_09_bad_chunk_size(void **state)
{
    (void)state;
    CK_ERR("g\r\nx\r\n0\r\n\r\n");
    CK_ERR("-1\r\n");
    CK_ERR("+1\r\nx\r\n0\r\n\r\n");
    CK_ERR("0x1\r\nx\r\n0\r\n\r\n");
    CK_ERR(" 1\r\nx\r\n0\r\n\r\n");
    CK_ERR("\r\nx\r\n0\r\n\r\n");
    CK_ERR("\r\n\r\n");     /* no digits is not a last chunk */
    CK_ERR(";a=b\r\n\r\n"); /* nor is an extension alone */
    CK_ERR("1 x\r\nx\r\n0\r\n\r\n");
    CK_ERR("1\nx\r\n0\r\n\r\n");
    CK_ERR("1\rx\r\n0\r\n\r\n");
    /* 17 digits, 2^64, and 2^63 (past the largest length we carry) */
    CK_ERR("00000000000000001\r\nx\r\n0\r\n\r\n");
    CK_ERR("10000000000000000\r\n");
    CK_ERR("FFFFFFFFFFFFFFFF\r\n");
    CK_ERR("8000000000000000\r\n");
    /* data longer than declared, or not ended by CRLF */
    CK_ERR("1\r\nxy\r\n0\r\n\r\n");
    CK_ERR("3\r\nxy\r\n0\r\n\r\n0\r\n\r\n");
    CK_ERR("1\r\nx\n0\r\n\r\n");
    CK_ERR("1\r\nx\r0\r\n\r\n");
    CK_ERR("1\r\nxy\n0\r\n\r\n");
    CK_ERR("1\r\nx\n\n0\r\n\r\n");
    /* bad last chunk / trailer end */
    CK_ERR("0\r\n\n");
    CK_ERR("0\r\n\rx");
    CK_ERR("0\n\r\n");
    /* the largest carried size is accepted (and just waits for data) */
    ck_out_t o = CK("7fffffffffffffff\r\nab");
    assert_int_equal(o.rc, DW_H1_CHUNK_NEED_MORE);
    assert_int_equal(o.dlen, 2);
    free(o.data);
    /* an error is sticky and never turns into DONE */
    dw_h1_chunked_t c;
    dw_h1_chunked_init(&c);
    size_t used;
    dw_str_t d;
    assert_int_equal(dw_h1_chunked_decode(&c, NULL, "z", 1, &used, &d), DW_H1_CHUNK_ERROR);
    assert_int_equal(c.error_status, 400);
    assert_non_null(c.error_reason);
    assert_int_equal(dw_h1_chunked_decode(&c, NULL, "0\r\n\r\n", 5, &used, &d), DW_H1_CHUNK_ERROR);
    assert_int_equal(used, 0);
}

static void test_H1_09_chunk_size_2pow64_overflow(void **state)
{
    (void)state;
    /* 2^64 and 2^64+1 wrap to 0 and 1 in a naive decoder: it would see a last chunk */
    ck_out_t o = CK("10000000000000000\r\n\r\n");
    assert_int_equal(o.rc, DW_H1_CHUNK_ERROR);
    assert_int_equal(o.dlen, 0);
    free(o.data);
    o = CK("10000000000000001\r\nx\r\n0\r\n\r\n");
    assert_int_equal(o.rc, DW_H1_CHUNK_ERROR);
    assert_int_equal(o.dlen, 0);
    free(o.data);
}

static void test_H1_10_host_count(void **state)
{
    (void)state;
    REQ_ERR("GET / HTTP/1.1\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\r\nX: a\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.0\r\nHost: a\r\nHOST: b\r\n\r\n", 400);
    REQ_OK("GET / HTTP/1.0\r\n\r\n");
    assert_int_equal(head.version_minor, 0);
    assert_int_equal(head.host_index, -1);
    assert_int_equal(head.nhost, 0);
    REQ_OK("GET / HTTP/1.1\r\nX: 1\r\nhOsT: example.test:8080\r\n\r\n");
    assert_int_equal(head.host_index, 1);
    assert_int_equal(head.nhost, 1);
    assert_true(str_is(head.fields[head.host_index].value, "example.test:8080"));
    /* the parser checks presence, not Host syntax (an empty Host is the caller's call) */
    REQ_OK("GET / HTTP/1.1\r\nHost:\r\n\r\n");
    assert_int_equal(head.fields[0].value.len, 0);
}

static void test_H1_11_bad_request_line(void **state)
{
    (void)state;
    REQ_ERR("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REQ_ERR("GE\"T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REQ_ERR(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REQ_ERR("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 400);
    REQ_ERR("GET / http/1.1\r\nHost: a\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400);
    REQ_ERR("GET / HTTP/1\r\nHost: a\r\n\r\n", 400);
    REQ_ERR("GET / \r\nHost: a\r\n\r\n", 400);
    REQ_ERR("GET /\r\n\r\n", 400); /* HTTP/0.9 */
    REQ_ERR("GET\r\n\r\n", 400);
    REQ_ERR("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REQ_ERR("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REQ_ERR("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REQ_ERR("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REQ_ERR("GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REQ_ERR("GET /\t HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    static const char nul_target[] = "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n";
    req_err(nul_target, sizeof(nul_target) - 1, 400);
    static const char nul_method[] = "G\0T / HTTP/1.1\r\nHost: a\r\n\r\n";
    req_err(nul_method, sizeof(nul_method) - 1, 400);
    /* methods are any token, case kept */
    REQ_OK("get / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_true(str_is(head.method, "get"));
    REQ_OK("M-SEARCH! /x?y=%20#z HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_true(str_is(head.method, "M-SEARCH!"));
    assert_true(str_is(head.target, "/x?y=%20#z"));
    assert_int_equal(head.version_minor, 1);
}

static void test_H1_12_limits(void **state)
{
    (void)state;
    char *buf = malloc(80 * 1024);
    assert_non_null(buf);

    /* a 9 KiB request line: 414, complete or not (and nothing else needed to say so) */
    size_t n = (size_t)snprintf(buf, 32, "GET /");
    memset(buf + n, 'a', 9 * 1024);
    n += 9 * 1024;
    assert_int_equal(parse_once(true, buf, n, NULL), DW_H1_ERROR);
    assert_int_equal(head.error_status, 414);
    n += (size_t)snprintf(buf + n, 64, " HTTP/1.1\r\nHost: a\r\n\r\n");
    req_err(buf, n, 414);

    /* a 17 KiB field: 431 */
    n = (size_t)snprintf(buf, 64, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(buf + n, 'v', 17 * 1024);
    n += 17 * 1024;
    assert_int_equal(parse_once(true, buf, n, NULL), DW_H1_ERROR); /* before its CRLF too */
    assert_int_equal(head.error_status, 431);
    memcpy(buf + n, "\r\n\r\n", 4);
    req_err(buf, n + 4, 431);

    /* a 65 KiB header section of small fields: 431 */
    n = (size_t)snprintf(buf, 64, "GET / HTTP/1.1\r\nHost: a\r\n");
    while (n < 65 * 1024) {
        memcpy(buf + n, "X-Long: ", 8);
        memset(buf + n + 8, 'v', 8000);
        memcpy(buf + n + 8008, "\r\n", 2);
        n += 8010;
    }
    memcpy(buf + n, "\r\n", 2);
    req_err(buf, n + 2, 431);
    assert_int_equal(parse_once(true, buf, 64 * 1024, NULL), DW_H1_ERROR); /* incomplete */
    assert_int_equal(head.error_status, 431);
    free(buf);
}

static void test_H1_13_target_forms(void **state)
{
    (void)state;
    /* the parser yields the target verbatim; site selection and the OPTIONS/GET * verdicts
     * are the caller's (tests/40_*) */
    REQ_OK("GET http://a.test/x?q HTTP/1.1\r\nHost: b.test\r\n\r\n");
    assert_true(str_is(head.target, "http://a.test/x?q"));
    REQ_OK("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_true(str_is(head.method, "OPTIONS"));
    assert_true(str_is(head.target, "*"));
    REQ_OK("GET * HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_true(str_is(head.target, "*"));
    REQ_OK("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n");
    assert_true(str_is(head.target, "a.test:443"));
}

static void test_H1_14_ows_trimmed(void **state)
{
    (void)state;
    REQ_OK("GET / HTTP/1.1\r\nHost:a\r\nX-A: \t v a l \t \r\nX-B:\t\r\nX-C:   \r\n\r\n");
    assert_int_equal(head.nfields, 4);
    assert_true(str_is(head.fields[0].name, "Host"));
    assert_true(str_is(head.fields[0].value, "a"));
    assert_true(str_is(head.fields[1].name, "X-A"));
    assert_true(str_is(head.fields[1].value, "v a l"));
    assert_int_equal(head.fields[2].value.len, 0);
    assert_int_equal(head.fields[3].value.len, 0);
    /* views point into the buffer */
    assert_true(head.fields[1].value.ptr > copy && head.fields[1].value.ptr < copy + 60);
}

static void test_H1_14_chunk_extensions(void **state)
{
    (void)state;
    ck_out_t o = CK("5;name=value;flag;q=\"quoted ; \\\" str\"\r\nhello\r\n"
                    "6 ; a = b\r\n world\r\n0;last\r\n\r\nNEXT");
    assert_int_equal(o.rc, DW_H1_CHUNK_DONE);
    assert_int_equal(o.dlen, 11);
    assert_memory_equal(o.data, "hello world", 11);
    assert_int_equal(o.consumed, strlen("5;name=value;flag;q=\"quoted ; \\\" str\"\r\nhello\r\n"
                                        "6 ; a = b\r\n world\r\n0;last\r\n\r\n"));
    free(o.data);
    CK_ERR("5;a\x01\r\nhello\r\n0\r\n\r\n");
    CK_ERR("5;a\nhello\r\n0\r\n\r\n");
    CK_ERR("5 \r\nhello\r\n0\r\n\r\n");
}

static void test_H1_14_trailers(void **state)
{
    (void)state;
    ck_out_t o = CK("3\r\nabc\r\n0\r\nX-Sum: 12 \r\nX-Other:\tv\r\n\r\nGET");
    assert_int_equal(o.rc, DW_H1_CHUNK_DONE);
    assert_int_equal(o.dlen, 3);
    assert_int_equal(o.consumed, strlen("3\r\nabc\r\n0\r\nX-Sum: 12 \r\nX-Other:\tv\r\n\r\n"));
    free(o.data);
    /* the same field rules as in a head */
    CK_ERR("0\r\nX : a\r\n\r\n");
    CK_ERR("0\r\nX: a\r\n b\r\n\r\n");
    CK_ERR("0\r\nX: a\rb\r\n\r\n");
    CK_ERR("0\r\nX: a\nY: b\r\n\r\n");
    CK_ERR("0\r\nno colon\r\n\r\n");
    CK_ERR("0\r\n: v\r\n\r\n");
    CK_ERR("0\r\nX\x01: v\r\n\r\n");
    CK_ERR("0\r\nX: \x01\r\n\r\n");
    CK_ERR("0\r\nX: \x7f\r\n\r\n");
    static const char nul[] = "0\r\nX: a\0\r\n\r\n";
    ck_expect_error(nul, sizeof(nul) - 1);
}

static void test_H1_14_twenty_thousand_one_byte_chunks(void **state)
{
    (void)state;
    size_t cap = 20000 * 6 + 16, n = 0;
    char *in = malloc(cap);
    assert_non_null(in);
    for (int k = 0; k < 20000; k++) {
        memcpy(in + n, "1\r\n", 3);
        in[n + 3] = (char)('a' + k % 26);
        memcpy(in + n + 4, "\r\n", 2);
        n += 6;
    }
    memcpy(in + n, "0\r\n\r\n", 5);
    n += 5;
    ck_out_t o = ck_run(in, n, 0, NULL);
    assert_int_equal(o.rc, DW_H1_CHUNK_DONE);
    assert_int_equal(o.consumed, n);
    assert_int_equal(o.dlen, 20000);
    for (int k = 0; k < 20000; k++) assert_int_equal(o.data[k], 'a' + k % 26);
    free(o.data);
    o = ck_run(in, n, 7, NULL);
    assert_int_equal(o.rc, DW_H1_CHUNK_DONE);
    assert_int_equal(o.dlen, 20000);
    free(o.data);
    free(in);
}

static void test_H1_14_pipelined_requests(void **state)
{
    (void)state;
    static const char two[] = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
                              "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                              "GET /c HTTP/1.1\r\nHost: a\r\n\r\n";
    const char *p = two;
    size_t left = sizeof(two) - 1;
    const char *targets[] = {"/a", "/b", "/c"};
    for (int k = 0; k < 3; k++) {
        dw_h1_scan_t scan = {0};
        assert_int_equal(dw_h1_parse_request(p, left, NULL, &scan, fields, &head), DW_H1_OK);
        assert_true(str_is(head.target, targets[k]));
        size_t skip = head.head_len + (head.body == DW_H1_BODY_LENGTH ? head.content_length : 0);
        assert_true(skip <= left);
        p += skip;
        left -= skip;
    }
    assert_int_equal(left, 0);
    /* after a chunked body, the decoder leaves the next request alone */
    static const char chunked[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "2\r\nhi\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n";
    dw_h1_scan_t scan = {0};
    assert_int_equal(dw_h1_parse_request(chunked, sizeof(chunked) - 1, NULL, &scan, fields, &head),
                     DW_H1_OK);
    assert_int_equal(head.body, DW_H1_BODY_CHUNKED);
    const char *body = chunked + head.head_len;
    ck_out_t o = ck(body, sizeof(chunked) - 1 - head.head_len);
    assert_int_equal(o.rc, DW_H1_CHUNK_DONE);
    free(o.data);
    memset(&scan, 0, sizeof scan);
    assert_int_equal(dw_h1_parse_request(body + o.consumed,
                                         sizeof(chunked) - 1 - head.head_len - o.consumed, NULL,
                                         &scan, fields, &head),
                     DW_H1_OK);
    assert_true(str_is(head.target, "/next"));
}

/* ---- beyond the checklist ---- */

static void test_incremental_byte_by_byte(void **state)
{
    (void)state;
    static const char req[] = "POST /upload?x=1 HTTP/1.1\r\nHost: example.test\r\n"
                              "User-Agent: t\r\nConnection: keep-alive, Upgrade\r\n"
                              "Upgrade: websocket\r\nExpect: 100-Continue\r\n"
                              "Content-Length: 42\r\n\r\nBODY";
    size_t n = sizeof(req) - 1;
    dw_h1_rc_t rc = parse_once(true, req, n, NULL);
    assert_int_equal(rc, DW_H1_OK);
    dw_h1_head_t whole = head;
    /* every step size, and every prefix short of the head is INCOMPLETE */
    for (size_t step = 1; step < 40; step++) {
        dw_h1_head_t h;
        dw_h1_scan_t scan = {0};
        for (size_t len = step;; len += step) {
            if (len > n) len = n;
            rc = dw_h1_parse_request(req, len, NULL, &scan, fields, &h);
            if (len < whole.head_len)
                assert_int_equal(rc, DW_H1_INCOMPLETE);
            else
                break;
        }
        assert_int_equal(rc, DW_H1_OK);
        assert_int_equal(h.head_len, whole.head_len);
        assert_int_equal(h.nfields, whole.nfields);
        assert_int_equal(h.content_length, 42);
        assert_true(h.conn_keep_alive && h.conn_upgrade && h.has_upgrade && h.expect_continue);
        assert_false(h.conn_close);
        assert_true(str_is(h.target, "/upload?x=1"));
        /* asking again answers the same without rescanning */
        assert_int_equal(dw_h1_parse_request(req, n, NULL, &scan, fields, &h), DW_H1_OK);
        assert_int_equal(h.head_len, whole.head_len);
    }
}

static void test_leading_empty_lines(void **state)
{
    (void)state;
    REQ_OK("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_true(str_is(head.method, "GET"));
    REQ_ERR("\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REQ_ERR("\r\n GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    RESP_ERR("\r\nHTTP/1.1 200 OK\r\n\r\n");
    assert_int_equal(REQ("\r\n\r\n"), DW_H1_INCOMPLETE);
}

static void test_connection_flags(void **state)
{
    (void)state;
    REQ_OK("GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n");
    assert_true(head.conn_close);
    assert_false(head.conn_keep_alive || head.conn_upgrade || head.has_upgrade);
    REQ_OK("GET / HTTP/1.0\r\nConnection: foo\r\nconnection: , Keep-Alive ,\r\n\r\n");
    assert_true(head.conn_keep_alive);
    assert_false(head.conn_close);
    REQ_OK("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed, xclose\r\n\r\n");
    assert_false(head.conn_close);
    REQ_OK("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue \r\n\r\n");
    assert_true(head.expect_continue);
    REQ_OK("GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n");
    assert_false(head.expect_continue);
    REQ_OK("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, foo\r\n\r\n");
    assert_false(head.expect_continue);
    REQ_OK("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n");
    assert_true(head.has_upgrade);
    assert_false(head.conn_upgrade);
}

static void test_limits_boundaries(void **state)
{
    (void)state;
    char *buf = malloc(80 * 1024);
    assert_non_null(buf);
    /* request line exactly 8192 bytes without CRLF: fine; 8193: 414 */
    for (int extra = 0; extra < 2; extra++) {
        size_t line = 8192 + (size_t)extra;
        size_t n = 0;
        memcpy(buf, "GET /", 5);
        n = 5;
        size_t pad = line - 5 - strlen(" HTTP/1.1");
        memset(buf + n, 'a', pad);
        n += pad;
        n += (size_t)snprintf(buf + n, 64, " HTTP/1.1\r\nHost: a\r\n\r\n");
        if (extra)
            req_err(buf, n, 414);
        else
            req_ok(buf, n);
        /* incomplete: the line without its CRLF, with only its CR, and one byte more */
        dw_h1_rc_t want = extra ? DW_H1_ERROR : DW_H1_INCOMPLETE;
        assert_int_equal(parse_once(true, buf, line, NULL), want);
        assert_int_equal(parse_once(true, buf, line + 1, NULL), want);
        buf[line] = 'x';
        assert_int_equal(parse_once(true, buf, line + 1, NULL), DW_H1_ERROR);
        assert_int_equal(head.error_status, 414);
    }
    /* one field line exactly 16384 bytes: fine; 16385: 431 */
    for (int extra = 0; extra < 2; extra++) {
        size_t n = (size_t)snprintf(buf, 64, "GET / HTTP/1.1\r\nHost: a\r\n");
        size_t f0 = n;
        memcpy(buf + n, "X: ", 3);
        memset(buf + n + 3, 'v', 16384 + (size_t)extra - 3);
        n += 16384 + (size_t)extra;
        assert_int_equal(parse_once(true, buf, n, NULL), extra ? DW_H1_ERROR : DW_H1_INCOMPLETE);
        memcpy(buf + n, "\r\n\r\n", 4);
        if (extra)
            req_err(buf, n + 4, 431);
        else
            req_ok(buf, n + 4);
        (void)f0;
    }
    /* whole head exactly 65535 bytes: fine; 65536: 431 */
    for (int extra = 0; extra < 2; extra++) {
        size_t total = 65535 + (size_t)extra;
        size_t n = (size_t)snprintf(buf, 64, "GET / HTTP/1.1\r\nHost: a\r\n");
        while (total - 2 - n > 10010) {
            memcpy(buf + n, "X-Pad: ", 7);
            memset(buf + n + 7, 'p', 10000 - 7);
            memcpy(buf + n + 10000, "\r\n", 2);
            n += 10002;
        }
        size_t last = total - 2 - n - 2; /* bytes of the last field line */
        memcpy(buf + n, "Y: ", 3);
        memset(buf + n + 3, 'q', last - 3);
        n += last;
        memcpy(buf + n, "\r\n\r\n", 4);
        n += 4;
        assert_int_equal(n, total);
        if (extra)
            req_err(buf, n, 431);
        else
            req_ok(buf, n);
        /* incomplete at max_head bytes: 431 at once */
        assert_int_equal(parse_once(true, buf, n - 1, NULL),
                         extra ? DW_H1_ERROR : DW_H1_INCOMPLETE);
    }
    /* 100 fields: fine; 101: 431 (also before the head ends) */
    for (int extra = 0; extra < 2; extra++) {
        size_t n = (size_t)snprintf(buf, 64, "GET / HTTP/1.1\r\nHost: a\r\n");
        for (int k = 1; k < 100 + extra; k++) n += (size_t)snprintf(buf + n, 64, "X-%d: v\r\n", k);
        assert_int_equal(parse_once(true, buf, n, NULL), extra ? DW_H1_ERROR : DW_H1_INCOMPLETE);
        memcpy(buf + n, "\r\n", 2);
        if (extra) {
            req_err(buf, n + 2, 431);
        } else {
            req_ok(buf, n + 2);
            assert_int_equal(head.nfields, 100);
        }
    }
    /* small custom limits, checked the same way */
    dw_h1_limits_t lim = {16, 8, 64, 2};
    static const char r[] = "GET /abcdefgh HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(parse(true, r, sizeof(r) - 1, &lim), DW_H1_ERROR);
    assert_int_equal(head.error_status, 414);
    lim.max_request_line = 22;
    assert_int_equal(parse(true, r, sizeof(r) - 1, &lim), DW_H1_OK);
    static const char f[] = "GET / HTTP/1.1\r\nHost: abcd\r\n\r\n"; /* "Host: abcd" is 10 */
    assert_int_equal(parse(true, f, sizeof(f) - 1, &lim), DW_H1_ERROR);
    assert_int_equal(head.error_status, 431);
    lim.max_field = 10;
    assert_int_equal(parse(true, f, sizeof(f) - 1, &lim), DW_H1_OK);
    static const char three[] = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    assert_int_equal(parse(true, three, sizeof(three) - 1, &lim), DW_H1_ERROR);
    assert_int_equal(head.error_status, 431);
    /* in the request line, whichever limit the bytes reach first decides */
    dw_h1_limits_t tight = {16, 64, 20, 10};
    static const char longline[] = "GET /0123456789abcdef";
    assert_int_equal(parse(true, longline, sizeof(longline) - 1, &tight), DW_H1_ERROR);
    assert_int_equal(head.error_status, 414);
    tight.max_head = 12;
    assert_int_equal(parse(true, longline, sizeof(longline) - 1, &tight), DW_H1_ERROR);
    assert_int_equal(head.error_status, 431);
    free(buf);
}

static void test_chunked_split_everywhere(void **state)
{
    (void)state;
    static const char body[] = "4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
                               "0\r\nExpires: never\r\n\r\nNEXT";
    size_t n = sizeof(body) - 1, want = n - 4;
    ck_out_t whole = ck_run(body, n, 0, NULL);
    assert_int_equal(whole.rc, DW_H1_CHUNK_DONE);
    assert_int_equal(whole.consumed, want);
    assert_int_equal(whole.dlen, 23);
    assert_memory_equal(whole.data, "Wikipedia in\r\n\r\nchunks.", 23);
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b++) {
            size_t cuts[2] = {a, b};
            ck_out_t o = ck_run_cuts(body, n, cuts, 2, NULL);
            assert_int_equal(o.rc, DW_H1_CHUNK_DONE);
            assert_int_equal(o.consumed, want);
            assert_int_equal(o.dlen, whole.dlen);
            assert_memory_equal(o.data, whole.data, whole.dlen);
            free(o.data);
        }
    }
    free(whole.data);
    /* after DONE, more calls stay DONE and consume nothing */
    dw_h1_chunked_t c = {0};
    size_t used;
    dw_str_t d;
    assert_int_equal(dw_h1_chunked_decode(&c, NULL, "0\r\n\r\nX", 6, &used, &d), DW_H1_CHUNK_DONE);
    assert_int_equal(used, 5);
    assert_int_equal(dw_h1_chunked_decode(&c, NULL, "X", 1, &used, &d), DW_H1_CHUNK_DONE);
    assert_int_equal(used, 0);
    /* empty input needs more */
    dw_h1_chunked_init(&c);
    assert_int_equal(dw_h1_chunked_decode(&c, NULL, "", 0, &used, &d), DW_H1_CHUNK_NEED_MORE);
    assert_int_equal(used, 0);
}

static void test_chunked_limits(void **state)
{
    (void)state;
    dw_h1_limits_t lim = {64, 16, 40, 2};
    /* size line bounded by max_field */
    static const char ext_ok[] = "1;abcdefghijklmn\r\nx\r\n0\r\n\r\n"; /* 16 bytes */
    ck_out_t o = ck_run(ext_ok, sizeof(ext_ok) - 1, 1, &lim);
    assert_int_equal(o.rc, DW_H1_CHUNK_DONE);
    free(o.data);
    static const char ext_long[] = "1;abcdefghijklmno\r\nx\r\n0\r\n\r\n"; /* 17 */
    o = ck_run(ext_long, sizeof(ext_long) - 1, 0, &lim);
    assert_int_equal(o.rc, DW_H1_CHUNK_ERROR);
    free(o.data);
    o = ck_run(ext_long, sizeof(ext_long) - 1, 1, &lim);
    assert_int_equal(o.rc, DW_H1_CHUNK_ERROR);
    free(o.data);
    /* trailer field line bounded by max_field */
    static const char tr_ok[] = "0\r\nX: 0123456789abc\r\n\r\n"; /* 16 */
    o = ck_run(tr_ok, sizeof(tr_ok) - 1, 1, &lim);
    assert_int_equal(o.rc, DW_H1_CHUNK_DONE);
    free(o.data);
    static const char tr_long[] = "0\r\nX: 0123456789abcd\r\n\r\n"; /* 17 */
    o = ck_run(tr_long, sizeof(tr_long) - 1, 1, &lim);
    assert_int_equal(o.rc, DW_H1_CHUNK_ERROR);
    free(o.data);
    /* trailer count bounded by max_fields */
    static const char tr3[] = "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    o = ck_run(tr3, sizeof(tr3) - 1, 0, &lim);
    assert_int_equal(o.rc, DW_H1_CHUNK_ERROR);
    free(o.data);
    /* trailer section bounded by max_head (40) */
    lim.max_fields = 10;
    static const char big[] = "0\r\nA: 123456789\r\nB: 123456789\r\nC: 123456789\r\n\r\n";
    o = ck_run(big, sizeof(big) - 1, 3, &lim);
    assert_int_equal(o.rc, DW_H1_CHUNK_ERROR);
    free(o.data);
    static const char fits[] = "0\r\nA: 123456789\r\nB: 123456789\r\n\r\n"; /* 26 + 2 */
    o = ck_run(fits, sizeof(fits) - 1, 3, &lim);
    assert_int_equal(o.rc, DW_H1_CHUNK_DONE);
    free(o.data);
    /* 16 digits with leading zeros are fine */
    o = CK("000000000000000F\r\n0123456789abcde\r\n0\r\n\r\n");
    assert_int_equal(o.rc, DW_H1_CHUNK_DONE);
    assert_int_equal(o.dlen, 15);
    free(o.data);
    /* upper and lower case hex */
    o = CK("a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n");
    assert_int_equal(o.rc, DW_H1_CHUNK_DONE);
    assert_int_equal(o.dlen, 20);
    free(o.data);
}

static void test_response_heads(void **state)
{
    (void)state;
    assert_int_equal(RESP("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nServer: x\r\n\r\nhello"),
                     DW_H1_OK);
    assert_int_equal(head.status, 200);
    assert_true(str_is(head.reason, "OK"));
    assert_int_equal(head.version_minor, 1);
    assert_int_equal(head.body, DW_H1_BODY_LENGTH);
    assert_int_equal(head.content_length, 12);
    assert_int_equal(head.nfields, 2);
    assert_int_equal(head.head_len,
                     strlen("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nServer: x\r\n\r\n"));

    assert_int_equal(RESP("HTTP/1.0 404 Not  Found \xc3\xa9\r\n\r\n"), DW_H1_OK);
    assert_int_equal(head.status, 404);
    assert_int_equal(head.version_minor, 0);
    assert_true(str_is(head.reason, "Not  Found \xc3\xa9"));
    assert_int_equal(head.body, DW_H1_BODY_CLOSE);

    assert_int_equal(RESP("HTTP/1.1 204 \r\n\r\n"), DW_H1_OK);
    assert_int_equal(head.status, 204);
    assert_int_equal(head.reason.len, 0);
    assert_int_equal(RESP("HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\n\r\n"), DW_H1_OK);
    assert_int_equal(head.body, DW_H1_BODY_CHUNKED);
    assert_int_equal(RESP("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                     DW_H1_OK);
    assert_int_equal(head.body, DW_H1_BODY_LENGTH);
    assert_int_equal(head.content_length, 0);
    assert_true(head.conn_close);
    assert_int_equal(RESP("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\n\r\n"),
                     DW_H1_OK);
    assert_int_equal(head.status, 101);
    assert_true(head.has_upgrade && head.conn_upgrade);
    /* no Host rules for responses */
    assert_int_equal(RESP("HTTP/1.1 999 x\r\nHost: a\r\nHost: b\r\n\r\n"), DW_H1_OK);
    assert_int_equal(head.status, 999);
    assert_int_equal(head.nhost, 2);
    assert_int_equal(RESP("HTTP/1.1 200 OK\r\n"), DW_H1_INCOMPLETE);

    RESP_ERR("HTTP/1.1 20 OK\r\n\r\n");
    RESP_ERR("HTTP/1.1 2000 OK\r\n\r\n");
    RESP_ERR("HTTP/1.1 099 OK\r\n\r\n");
    RESP_ERR("HTTP/1.1 2x0 OK\r\n\r\n");
    RESP_ERR("HTTP/1.1  200 OK\r\n\r\n");
    RESP_ERR("HTTP/1.1\t200 OK\r\n\r\n");
    RESP_ERR("HTTP/1.2 200 OK\r\n\r\n");
    RESP_ERR("HTTP/2 200 OK\r\n\r\n");
    RESP_ERR("http/1.1 200 OK\r\n\r\n");
    RESP_ERR("ICY 200 OK\r\n\r\n");
    RESP_ERR("HTTP/1.1 200 O\x01K\r\n\r\n");
    RESP_ERR("HTTP/1.1\r\n\r\n");
    RESP_ERR("X\r\n\r\n");
    RESP_ERR("HTTP/1.1 2\r\n\r\n");
    RESP_ERR("HTTP/1.1 20\r\n\r\n");
    RESP_ERR("HTTP/1.1 200X\r\n\r\n");
    RESP_ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
    RESP_ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    RESP_ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n");
    RESP_ERR("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    RESP_ERR("HTTP/1.1 200 OK\r\nX: a\r\n\n");
    /* limits are 502 too */
    dw_h1_limits_t lim = {16, 16, 64, 1};
    static const char two[] = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n";
    assert_int_equal(parse(false, two, sizeof(two) - 1, &lim), DW_H1_ERROR);
    assert_int_equal(head.error_status, 502);
}

static void test_field_helpers(void **state)
{
    (void)state;
    REQ_OK("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\nTE: trailers\r\n\r\n");
    assert_int_equal(dw_h1_find_field(head.fields, head.nfields, DW_STR("x-A"), 0), 1);
    assert_int_equal(dw_h1_find_field(head.fields, head.nfields, DW_STR("X-A"), 2), 2);
    assert_int_equal(dw_h1_find_field(head.fields, head.nfields, DW_STR("X-A"), 3), -1);
    assert_int_equal(dw_h1_find_field(head.fields, head.nfields, DW_STR("X-B"), 0), -1);
    assert_int_equal(dw_h1_find_field(head.fields, head.nfields, DW_STR("X-A"), 99), -1);

    const char *hop[] = {"Connection",        "keep-alive", "PROXY-CONNECTION", "te",
                         "Transfer-Encoding", "trailer",    "Upgrade"};
    for (size_t k = 0; k < sizeof(hop) / sizeof(hop[0]); k++)
        assert_true(dw_h1_is_hop_by_hop(dw_str_c(hop[k])));
    const char *not_hop[] = {"Host", "Trailers", "Content-Length", "t", "X-Connection", ""};
    for (size_t k = 0; k < sizeof(not_hop) / sizeof(not_hop[0]); k++)
        assert_false(dw_h1_is_hop_by_hop(dw_str_c(not_hop[k])));

    assert_true(dw_h1_list_has(DW_STR("a, Close ,b"), DW_STR("close")));
    assert_true(dw_h1_list_has(DW_STR("close"), DW_STR("CLOSE")));
    assert_true(dw_h1_list_has(DW_STR(",,\tx-y\t,"), DW_STR("X-Y")));
    assert_false(dw_h1_list_has(DW_STR("closed, xclose"), DW_STR("close")));
    assert_false(dw_h1_list_has(DW_STR(""), DW_STR("close")));
    assert_false(dw_h1_list_has(DW_STR("a,,b"), DW_STR("")));
}

static void test_parse_rejects_then_stays_rejected(void **state)
{
    (void)state;
    /* a later call on the grown buffer gives the same error */
    static const char bad[] = "GET / HTTP/1.1\nHost: a\r\n\r\n";
    dw_h1_scan_t scan = {0};
    assert_int_equal(dw_h1_parse_request(bad, 15, NULL, &scan, fields, &head), DW_H1_ERROR);
    assert_int_equal(dw_h1_parse_request(bad, sizeof(bad) - 1, NULL, &scan, fields, &head),
                     DW_H1_ERROR);
    assert_int_equal(head.error_status, 400);
    /* INCOMPLETE for an empty buffer */
    memset(&scan, 0, sizeof scan);
    assert_int_equal(dw_h1_parse_request("", 0, NULL, &scan, fields, &head), DW_H1_INCOMPLETE);
}

static int teardown(void **state)
{
    (void)state;
    free(copy);
    copy = NULL;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_H1_01_cl_with_te_rejected, teardown),
        cmocka_unit_test_teardown(test_H1_02_differing_content_length, teardown),
        cmocka_unit_test_teardown(test_H1_03_bad_content_length, teardown),
        cmocka_unit_test_teardown(test_H1_04_bad_transfer_encoding, teardown),
        cmocka_unit_test_teardown(test_H1_05_whitespace_before_colon, teardown),
        cmocka_unit_test_teardown(test_H1_06_obs_fold, teardown),
        cmocka_unit_test_teardown(test_H1_07_bare_cr, teardown),
        cmocka_unit_test_teardown(test_H1_08_ctl_nul_in_fields, teardown),
        cmocka_unit_test_teardown(test_H1_09_bad_chunk_size, teardown),
        cmocka_unit_test_teardown(test_H1_09_chunk_size_2pow64_overflow, teardown),
        cmocka_unit_test_teardown(test_H1_10_host_count, teardown),
        cmocka_unit_test_teardown(test_H1_11_bad_request_line, teardown),
        cmocka_unit_test_teardown(test_H1_12_limits, teardown),
        cmocka_unit_test_teardown(test_H1_13_target_forms, teardown),
        cmocka_unit_test_teardown(test_H1_14_ows_trimmed, teardown),
        cmocka_unit_test_teardown(test_H1_14_chunk_extensions, teardown),
        cmocka_unit_test_teardown(test_H1_14_trailers, teardown),
        cmocka_unit_test_teardown(test_H1_14_twenty_thousand_one_byte_chunks, teardown),
        cmocka_unit_test_teardown(test_H1_14_pipelined_requests, teardown),
        cmocka_unit_test_teardown(test_incremental_byte_by_byte, teardown),
        cmocka_unit_test_teardown(test_leading_empty_lines, teardown),
        cmocka_unit_test_teardown(test_connection_flags, teardown),
        cmocka_unit_test_teardown(test_limits_boundaries, teardown),
        cmocka_unit_test_teardown(test_chunked_split_everywhere, teardown),
        cmocka_unit_test_teardown(test_chunked_limits, teardown),
        cmocka_unit_test_teardown(test_response_heads, teardown),
        cmocka_unit_test_teardown(test_field_helpers, teardown),
        cmocka_unit_test_teardown(test_parse_rejects_then_stays_rejected, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
