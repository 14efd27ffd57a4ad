/* libFuzzer harness: HTTP/1 heads and chunked bodies (dwaar-core/src/h1.c).
 *
 * Input: one control byte, then the message. The control byte picks request or response
 * (bit 0), the limits (bits 1-2: the defaults or small ones that make the limit paths
 * reachable) and seeds the split points. The head is parsed in one call and again fed in
 * pieces; the body after it (or the whole message when the head was refused) goes through
 * the chunked decoder whole and in pieces. Besides memory errors, abort() on: a view outside
 * the input, head_len > len, nfields > max_fields on OK, a decoder consuming more than it was
 * given, and any difference between the one-call and the piecewise answers. */
#include <dwaar/core/h1.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

static const dw_h1_limits_t limit_sets[4] = {
    DW_H1_LIMITS_DEFAULT,
    {64, 48, 256, 8},
    {16, 16, 48, 3},
    {200, 24, 96, 1},
};

#define MAX_FIELDS 101 /* the most any limit set accepts, plus one for overrun detection */

static uint64_t rng;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

static bool in_range(dw_str_t s, const char *base, size_t len)
{
    if (s.len == 0) return s.ptr == NULL || (s.ptr >= base && s.ptr <= base + len);
    return s.ptr >= base && s.ptr <= base + len && s.len <= (size_t)(base + len - s.ptr);
}

/* An exactly sized heap copy, so reading past a piece is a sanitizer error. */
static char *dup_exact(const char *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (!c) abort();
    if (n) memcpy(c, p, n);
    return c;
}

static void check_head(const dw_h1_head_t *h, dw_h1_rc_t rc, const char *buf, size_t len,
                       const dw_h1_limits_t *lim, bool req)
{
    if (rc == DW_H1_ERROR) {
        CHECK(h->error_reason != NULL);
        if (req)
            CHECK(h->error_status == 400 || h->error_status == 414 || h->error_status == 431 ||
                  h->error_status == 501);
        else
            CHECK(h->error_status == 502);
        return;
    }
    if (rc == DW_H1_INCOMPLETE) {
        CHECK(len + 1 < lim->max_head);
        return;
    }
    CHECK(rc == DW_H1_OK);
    CHECK(h->head_len <= len && h->head_len >= 4 && h->head_len < lim->max_head);
    CHECK(memcmp(buf + h->head_len - 4, "\r\n\r\n", 4) == 0);
    CHECK(h->nfields <= lim->max_fields);
    CHECK(h->version_minor <= 1);
    for (uint32_t i = 0; i < h->nfields; i++) {
        const dw_h1_field_t *f = &h->fields[i];
        CHECK(f->name.len > 0);
        CHECK(in_range(f->name, buf, h->head_len) && in_range(f->value, buf, h->head_len));
        CHECK(dw_h1_find_field(h->fields, h->nfields, f->name, 0) <= (int32_t)i);
        CHECK(dw_h1_find_field(h->fields, h->nfields, f->name, i) == (int32_t)i);
        (void)dw_h1_is_hop_by_hop(f->name);
        (void)dw_h1_list_has(f->value, DW_STR("close"));
        (void)dw_h1_list_has(f->value, f->name);
        if (f->value.len) {
            CHECK(f->value.ptr[0] != ' ' && f->value.ptr[0] != '\t');
            CHECK(f->value.ptr[f->value.len - 1] != ' ' && f->value.ptr[f->value.len - 1] != '\t');
        }
    }
    CHECK(h->body <= DW_H1_BODY_CLOSE);
    CHECK(h->content_length <= (uint64_t)INT64_MAX);
    if (req) {
        CHECK(h->method.len > 0 && h->target.len > 0);
        CHECK(in_range(h->method, buf, h->head_len) && in_range(h->target, buf, h->head_len));
        CHECK(h->body != DW_H1_BODY_CLOSE);
        CHECK(h->nhost <= 1);
        if (h->version_minor == 1) CHECK(h->nhost == 1);
    } else {
        CHECK(h->status >= 100 && h->status <= 999);
        CHECK(in_range(h->reason, buf, h->head_len));
    }
    CHECK((h->host_index < 0) == (h->nhost == 0));
    if (h->host_index >= 0) CHECK((uint32_t)h->host_index < h->nfields);
}

static dw_h1_rc_t parse(bool req, const char *buf, size_t len, const dw_h1_limits_t *lim,
                        dw_h1_scan_t *scan, dw_h1_field_t *fields, dw_h1_head_t *h)
{
    return req ? dw_h1_parse_request(buf, len, lim, scan, fields, h)
               : dw_h1_parse_response(buf, len, lim, scan, fields, h);
}

/* The head fed in growing prefixes, each an exact copy; the first answer other than
 * INCOMPLETE must be the one-call answer. */
static void head_in_pieces(bool req, const char *msg, size_t len, const dw_h1_limits_t *lim,
                           dw_h1_rc_t want, const dw_h1_head_t *whole)
{
    static dw_h1_field_t fields[MAX_FIELDS];
    dw_h1_scan_t scan = {0};
    dw_h1_head_t h;
    dw_h1_rc_t rc = DW_H1_INCOMPLETE;
    size_t have = 0;
    for (int step = 0; step < 24 && have < len; step++) {
        size_t left = len - have;
        size_t grow = step == 23 ? left : 1 + next_rand() % (left < 64 ? left : 64);
        have += grow;
        char *p = dup_exact(msg, have);
        rc = parse(req, p, have, lim, &scan, fields, &h);
        check_head(&h, rc, p, have, lim, req);
        free(p);
        if (rc != DW_H1_INCOMPLETE) break;
    }
    /* an answer on a prefix (other than INCOMPLETE) is final: it must be the whole's */
    CHECK(rc == want);
    if (rc == DW_H1_ERROR) CHECK(h.error_status == whole->error_status);
    if (rc == DW_H1_OK) {
        CHECK(h.head_len == whole->head_len && h.nfields == whole->nfields);
        CHECK(h.body == whole->body && h.content_length == whole->content_length);
    }
}

typedef struct ck_res {
    int rc;
    size_t consumed;
    size_t dlen;
} ck_res_t;

/* Decodes body[0..len) in pieces ending at cuts (ascending; ncuts 0 = one piece), appending
 * the data to out. */
static ck_res_t decode(const char *body, size_t len, const size_t *cuts, size_t ncuts,
                       const dw_h1_limits_t *lim, char *out)
{
    dw_h1_chunked_t c;
    dw_h1_chunked_init(&c);
    ck_res_t r = {DW_H1_CHUNK_NEED_MORE, 0, 0};
    size_t start = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t stop = k < ncuts ? cuts[k] : len;
        char *piece = dup_exact(body + start, stop - start);
        size_t n = stop - start, off = 0;
        int rc;
        for (;;) {
            size_t used = (size_t)-1;
            dw_str_t d = {NULL, 0};
            rc = dw_h1_chunked_decode(&c, lim, piece + off, n - off, &used, &d);
            CHECK(used <= n - off);
            if (rc == DW_H1_CHUNK_DATA) {
                CHECK(d.len > 0 && d.ptr >= piece + off && d.ptr + d.len <= piece + off + used);
                memcpy(out + r.dlen, d.ptr, d.len);
                r.dlen += d.len;
                off += used;
                continue;
            }
            CHECK(d.len == 0);
            CHECK(rc == DW_H1_CHUNK_NEED_MORE || rc == DW_H1_CHUNK_DONE || rc == DW_H1_CHUNK_ERROR);
            if (rc == DW_H1_CHUNK_NEED_MORE) CHECK(used == n - off);
            if (rc == DW_H1_CHUNK_ERROR) CHECK(c.error_status == 400 && c.error_reason);
            off += used;
            break;
        }
        free(piece);
        r.rc = rc;
        r.consumed = start + off;
        if (rc != DW_H1_CHUNK_NEED_MORE) break;
        start = stop;
    }
    CHECK(r.consumed <= len && r.dlen <= len);
    return r;
}

static void chunked(const char *body, size_t len, const dw_h1_limits_t *lim)
{
    char *a = malloc(len + 1), *b = malloc(len + 1);
    size_t *cuts = malloc(sizeof(*cuts) * 32);
    if (!a || !b || !cuts) abort();
    ck_res_t whole = decode(body, len, NULL, 0, lim, a);

    size_t ncuts = len ? next_rand() % 32 : 0, at = 0;
    for (size_t k = 0; k < ncuts; k++) {
        at += next_rand() % 8; /* small steps: splits inside framing are what matter */
        if (at > len) at = len;
        cuts[k] = at;
    }
    ck_res_t split = decode(body, len, cuts, ncuts, lim, b);
    CHECK(whole.rc == split.rc && whole.consumed == split.consumed && whole.dlen == split.dlen);
    CHECK(whole.dlen == 0 || memcmp(a, b, whole.dlen) == 0);
    free(a);
    free(b);
    free(cuts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static dw_h1_field_t fields[MAX_FIELDS];
    if (size < 1) return 0;
    uint8_t ctl = data[0];
    bool req = !(ctl & 1);
    const dw_h1_limits_t *lim = &limit_sets[(ctl >> 1) & 3];
    const char *msg = (const char *)data + 1;
    size_t len = size - 1;
    rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)ctl << 32) ^ size;

    dw_h1_scan_t scan = {0};
    dw_h1_head_t h;
    dw_h1_rc_t rc = parse(req, msg, len, lim, &scan, fields, &h);
    check_head(&h, rc, msg, len, lim, req);
    CHECK(h.fields == fields);
    /* the same call again answers the same */
    dw_h1_head_t again;
    CHECK(parse(req, msg, len, lim, &scan, fields, &again) == rc);
    if (rc == DW_H1_OK) CHECK(again.head_len == h.head_len);

    head_in_pieces(req, msg, len, lim, rc, &h);

    size_t body_at = rc == DW_H1_OK ? h.head_len : 0;
    chunked(msg + body_at, len - body_at, lim);
    return 0;
}
