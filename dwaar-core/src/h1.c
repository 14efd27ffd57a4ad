/* HTTP/1.x head parser and chunked decoder (spec 40-http1.md).
 *
 * Two passes over a head: scan_head() looks for the end of head in bytes not seen before and
 * applies what can be judged per line (bare LF, line and head limits, field count), so an
 * incomplete head that already breaks a limit is refused at once; once the head is complete,
 * parse_*() walks it once with a character-class table. Nothing allocates and every view
 * points into the caller's buffer. */
#include <dwaar/core/h1.h>

#include <stdint.h>
#include <string.h>

enum {
    C_TOKEN = 1,  /* tchar (RFC 9110 5.6.2) */
    C_VALUE = 2,  /* field-vchar, SP, HTAB, obs-text: what a field value may hold */
    C_TARGET = 4, /* VCHAR: what a request target may hold (no obs-text) */
};

static const uint8_t cls[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, /* 00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 10 */
    2, 7, 6, 7, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6, /* 20 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6, /* 30 */
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* 40 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7, /* 50 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* 60 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0, /* 70 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 80 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 90 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* a0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* b0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* c0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* d0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* e0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* f0 */
};

static const dw_h1_limits_t default_limits = DW_H1_LIMITS_DEFAULT;

/* Largest Content-Length and chunk size: what fits an off_t, so no caller meets a sign. */
#define MAX_BODY_LEN ((uint64_t)INT64_MAX)

static inline bool is_ows(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static inline uint8_t lower(uint8_t c)
{
    return (uint8_t)(c - 'A') < 26u ? (uint8_t)(c | 0x20) : c;
}

/* p[0..n) equals the lower-case literal lit, ignoring ASCII case. */
static inline bool lower_eq(const uint8_t *p, size_t n, const char *lit, size_t litlen)
{
    if (n != litlen) return false;
    for (size_t i = 0; i < n; i++)
        if (lower(p[i]) != (uint8_t)lit[i]) return false;
    return true;
}
#define LOWER_EQ(p, n, lit) lower_eq((p), (n), lit, sizeof(lit) - 1)

static inline bool caseeq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((uint8_t)a[i]) != lower((uint8_t)b[i])) return false;
    return true;
}

/* High bit set in the byte lanes of w that are < 0x20 or == 0x7f. Borrows only run upwards,
 * so the lowest flagged lane is exact (higher ones may be false alarms); bytes >= 0x80 never
 * count. */
static inline uint64_t word_ctl_mask(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t below = (w - ones * 0x20) & ~w & highs;
    uint64_t del = w ^ (ones * 0x7f);
    del = (del - ones) & ~del & highs;
    return below | del;
}

/* Index of the first byte in p[i..end) that cannot be in a field value (end if none), eight
 * bytes at a time. */
static inline size_t span_value(const uint8_t *p, size_t i, size_t end)
{
    while (end - i >= 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        uint64_t m = word_ctl_mask(w);
        if (m) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            i += (size_t)__builtin_ctzll(m) >> 3; /* lowest address = lowest lane */
#else
            while (cls[p[i]] & C_VALUE) i++;
#endif
            if (p[i] != '\t') return i;
            i++; /* HTAB is allowed */
            continue;
        }
        i += 8;
    }
    while (i < end && (cls[p[i]] & C_VALUE)) i++;
    return i;
}

/* Next element of a comma-separated list from *pos, OWS trimmed (may be empty). False when
 * the list is exhausted. A value of only OWS has one empty element. */
static bool list_next(const uint8_t *p, size_t n, size_t *pos, dw_str_t *elem)
{
    size_t i = *pos;
    if (i > n) return false;
    while (i < n && is_ows(p[i])) i++;
    size_t e0 = i;
    const uint8_t *comma = i < n ? memchr(p + i, ',', n - i) : NULL;
    size_t e1 = comma ? (size_t)(comma - p) : n;
    *pos = e1 + 1; /* past the comma, or n + 1 to end the walk */
    while (e1 > e0 && is_ows(p[e1 - 1])) e1--;
    *elem = (dw_str_t){(const char *)p + e0, e1 - e0};
    return true;
}

static bool all_token(dw_str_t s)
{
    for (size_t i = 0; i < s.len; i++)
        if (!(cls[(uint8_t)s.ptr[i]] & C_TOKEN)) return false;
    return true;
}

/* ---- head scanning ------------------------------------------------------------------------ */

static dw_h1_rc_t fail(dw_h1_head_t *out, bool req, uint16_t status, const char *reason)
{
    out->error_status = req ? status : 502; /* any bad upstream head is the gateway's problem */
    out->error_reason = reason;
    return DW_H1_ERROR;
}

static void head_reset(dw_h1_head_t *out, dw_h1_field_t *fields)
{
    memset(out, 0, sizeof *out);
    out->fields = fields;
    out->host_index = -1;
}

/* Finds the end of head in the bytes not scanned before and applies the per-line rules.
 * DW_H1_OK with s->end set, DW_H1_INCOMPLETE, or DW_H1_ERROR with out's error set.
 *
 * The checks come in the order a byte-by-byte feed would meet them (a line's length before its
 * LF, the LF before what follows it), so one call on a whole buffer and many calls on its
 * prefixes give the same verdict. */
static dw_h1_rc_t scan_head(const char *buf, size_t len, const dw_h1_limits_t *lim, dw_h1_scan_t *s,
                            bool req, dw_h1_head_t *out)
{
    /* scanned == 0 is how callers start over; a shorter buffer than before means a new one */
    if (s->scanned == 0 || s->scanned > len || s->end > len) memset(s, 0, sizeof *s);
    if (s->end) return DW_H1_OK;

    /* A prefix of max_head - 1 bytes without an end of head is refused (the head would be at
     * least max_head long), so no byte from there on is looked at and offsets fit in 32 bits. */
    size_t avail = lim->max_head ? lim->max_head - 1 : 0;
    if (len < avail) avail = len;
    size_t pos = s->scanned;
    while (pos < avail) {
        const char *lf = memchr(buf + pos, '\n', avail - pos);
        if (!lf) break;
        size_t e = (size_t)(lf - buf);
        bool cr = e > s->line_start && buf[e - 1] == '\r';
        size_t linelen = e - s->line_start - cr;
        if (!s->in_fields) {
            if (linelen > lim->max_request_line)
                return fail(out, req, 414, "request line too long");
        } else if (linelen > lim->max_field) {
            return fail(out, req, 431, "header field too long");
        }
        if (!cr) return fail(out, req, 400, "bare LF");
        if (!s->in_fields) {
            if (linelen > 0) {
                s->in_fields = 1;
            } else if (req) {
                /* RFC 9112 2.2: empty lines before a request line are ignored */
                s->first = (uint32_t)(e + 1);
            } else {
                return fail(out, req, 400, "empty status line");
            }
        } else if (linelen == 0) {
            s->end = (uint32_t)(e + 1);
            s->scanned = s->end;
            return DW_H1_OK;
        } else if (++s->nlines > lim->max_fields) {
            return fail(out, req, 431, "too many header fields");
        }
        /* at least an empty line must follow */
        if (e + 2 >= lim->max_head) return fail(out, req, 431, "header section too large");
        s->line_start = (uint32_t)(e + 1);
        pos = e + 1;
    }
    s->scanned = (uint32_t)avail;

    /* The line still open: a CR at the very end may be its terminator, so it does not count. */
    size_t part = avail - s->line_start;
    if (part && buf[avail - 1] == '\r') part--;
    if (!s->in_fields) {
        if (part > lim->max_request_line) return fail(out, req, 414, "request line too long");
    } else if (part > lim->max_field) {
        return fail(out, req, 431, "header field too long");
    }
    /* the end of head is not in buf[0..len), so the head has at least len + 1 bytes */
    if (len + 1 >= lim->max_head) return fail(out, req, 431, "header section too large");
    return DW_H1_INCOMPLETE;
}

/* ---- fields -------------------------------------------------------------------------------- */

typedef struct framing {
    bool has_cl, has_te;
    bool te_bad;     /* an empty, non-token or "identity" element */
    bool te_unknown; /* a well-formed coding other than chunked */
    uint32_t te_elems;
} framing_t;

/* Content-Length: a list of 1*DIGIT, every element equal (RFC 9110 8.6). */
static const char *parse_cl(const uint8_t *p, size_t n, framing_t *fr, dw_h1_head_t *out)
{
    size_t i = 0;
    for (;;) {
        while (i < n && is_ows(p[i])) i++;
        size_t d0 = i;
        uint64_t v = 0;
        while (i < n && p[i] - (unsigned)'0' < 10u) {
            unsigned d = p[i] - (unsigned)'0';
            if (v > (MAX_BODY_LEN - d) / 10) return "Content-Length too large";
            v = v * 10 + d;
            i++;
        }
        if (i == d0) return "invalid Content-Length";
        if (fr->has_cl && v != out->content_length) return "conflicting Content-Length";
        fr->has_cl = true;
        out->content_length = v;
        while (i < n && is_ows(p[i])) i++;
        if (i == n) return NULL;
        if (p[i] != ',') return "invalid Content-Length";
        i++;
    }
}

/* Transfer-Encoding: the elements of every field are judged together once all are seen. */
static void parse_te(const uint8_t *p, size_t n, framing_t *fr)
{
    size_t pos = 0;
    dw_str_t el;
    fr->has_te = true;
    while (list_next(p, n, &pos, &el)) {
        fr->te_elems++;
        if (el.len == 0 || !all_token(el) || LOWER_EQ((const uint8_t *)el.ptr, el.len, "identity"))
            fr->te_bad = true;
        else if (!LOWER_EQ((const uint8_t *)el.ptr, el.len, "chunked"))
            fr->te_unknown = true;
    }
}

static void parse_connection(const uint8_t *p, size_t n, dw_h1_head_t *out)
{
    size_t pos = 0;
    dw_str_t el;
    while (list_next(p, n, &pos, &el)) {
        const uint8_t *e = (const uint8_t *)el.ptr;
        if (LOWER_EQ(e, el.len, "close"))
            out->conn_close = true;
        else if (LOWER_EQ(e, el.len, "keep-alive"))
            out->conn_keep_alive = true;
        else if (LOWER_EQ(e, el.len, "upgrade"))
            out->conn_upgrade = true;
    }
}

/* Parses the field lines in buf[i..end-2) (the final CRLF excluded) into fields and applies
 * the framing rules; status is 400 for requests (fail() maps everything to 502 otherwise). */
static dw_h1_rc_t parse_fields(const uint8_t *p, size_t i, size_t end, const dw_h1_limits_t *lim,
                               bool req, dw_h1_field_t *fields, dw_h1_head_t *out)
{
    framing_t fr = {0};
    uint32_t nf = 0;
    const size_t stop = end - 2;

    while (i < stop) {
        size_t n0 = i;
        if (is_ows(p[i])) return fail(out, req, 400, "obs-fold");
        while (cls[p[i]] & C_TOKEN) i++;
        if (p[i] != ':' || i == n0) {
            if (i == n0 && p[i] == ':') return fail(out, req, 400, "empty field name");
            if (i > n0 && is_ows(p[i])) return fail(out, req, 400, "whitespace before colon");
            if (p[i] == '\r') return fail(out, req, 400, "field line without colon");
            return fail(out, req, 400, "invalid character in field name");
        }
        size_t nlen = i - n0;
        i++;
        while (is_ows(p[i])) i++;
        size_t v0 = i;
        i = span_value(p, i, stop);
        if (i >= stop || p[i] != '\r')
            return fail(out, req, 400, "control character in field value");
        if (p[i + 1] != '\n') return fail(out, req, 400, "bare CR");
        size_t v1 = i;
        while (v1 > v0 && is_ows(p[v1 - 1])) v1--;
        i += 2;

        if (nf >= lim->max_fields) return fail(out, req, 431, "too many header fields");
        dw_h1_field_t *f = &fields[nf];
        f->name = (dw_str_t){(const char *)p + n0, nlen};
        f->value = (dw_str_t){(const char *)p + v0, v1 - v0};
        const uint8_t *name = p + n0, *val = p + v0;
        size_t vlen = v1 - v0;
        switch (nlen) {
        case 4:
            if (LOWER_EQ(name, nlen, "host")) {
                if (out->nhost++ == 0) out->host_index = (int32_t)nf;
            }
            break;
        case 6:
            if (LOWER_EQ(name, nlen, "expect") && LOWER_EQ(val, vlen, "100-continue"))
                out->expect_continue = true;
            break;
        case 7:
            if (LOWER_EQ(name, nlen, "upgrade")) out->has_upgrade = true;
            break;
        case 10:
            if (LOWER_EQ(name, nlen, "connection")) parse_connection(val, vlen, out);
            break;
        case 14:
            if (LOWER_EQ(name, nlen, "content-length")) {
                const char *err = parse_cl(val, vlen, &fr, out);
                if (err) return fail(out, req, 400, err);
            }
            break;
        case 17:
            if (LOWER_EQ(name, nlen, "transfer-encoding")) parse_te(val, vlen, &fr);
            break;
        default: break;
        }
        nf++;
    }
    out->nfields = nf;
    out->head_len = (uint32_t)end;

    /* Framing (RFC 9112 6.1-6.3): anything two parties could read differently is refused. */
    if (fr.has_te) {
        if (fr.has_cl) return fail(out, req, 400, "Content-Length with Transfer-Encoding");
        if (out->version_minor == 0) return fail(out, req, 400, "Transfer-Encoding in HTTP/1.0");
        if (fr.te_bad || fr.te_elems != 1)
            return fail(out, req, 400, "Transfer-Encoding is not exactly chunked");
        if (fr.te_unknown) return fail(out, req, 501, "unsupported transfer coding");
        out->body = DW_H1_BODY_CHUNKED;
        out->content_length = 0;
    } else if (fr.has_cl) {
        /* a request with CL: 0 has no body; a response still says "length 0" */
        out->body = (req && out->content_length == 0) ? DW_H1_BODY_NONE : DW_H1_BODY_LENGTH;
    } else {
        out->body = req ? DW_H1_BODY_NONE : DW_H1_BODY_CLOSE;
    }
    return DW_H1_OK;
}

/* ---- request and response heads ----------------------------------------------------------- */

dw_h1_rc_t dw_h1_parse_request(const char *buf, size_t len, const dw_h1_limits_t *limits,
                               dw_h1_scan_t *scan, dw_h1_field_t *fields, dw_h1_head_t *out)
{
    const dw_h1_limits_t *lim = limits ? limits : &default_limits;
    head_reset(out, fields);
    dw_h1_rc_t rc = scan_head(buf, len, lim, scan, true, out);
    if (rc != DW_H1_OK) return rc;

    const uint8_t *p = (const uint8_t *)buf;
    size_t end = scan->end, i = scan->first;

    /* The scan proved the line ends in CRLF inside the head, so the loops below stop there. */
    size_t m0 = i;
    while (cls[p[i]] & C_TOKEN) i++;
    if (i == m0 || p[i] != ' ') return fail(out, true, 400, "invalid method");
    out->method = (dw_str_t){buf + m0, i - m0};

    size_t t0 = ++i;
    while (cls[p[i]] & C_TARGET) i++;
    if (i == t0) return fail(out, true, 400, "empty request target");
    if (p[i] != ' ') {
        if (p[i] == '\r') return fail(out, true, 400, "missing HTTP version");
        return fail(out, true, 400, "invalid character in request target");
    }
    out->target = (dw_str_t){buf + t0, i - t0};
    i++;

    if (end - i < 10 || memcmp(p + i, "HTTP/1.", 7) != 0 || (p[i + 7] != '0' && p[i + 7] != '1') ||
        p[i + 8] != '\r' || p[i + 9] != '\n')
        return fail(out, true, 400, "invalid HTTP version");
    out->version_minor = (uint8_t)(p[i + 7] - '0');
    i += 10;

    rc = parse_fields(p, i, end, lim, true, fields, out);
    if (rc != DW_H1_OK) return rc;

    /* RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored */
    if (out->version_minor == 0) out->expect_continue = false;
    if (out->nhost > 1) return fail(out, true, 400, "duplicate Host");
    if (out->nhost == 0 && out->version_minor == 1) return fail(out, true, 400, "missing Host");
    return DW_H1_OK;
}

dw_h1_rc_t dw_h1_parse_response(const char *buf, size_t len, const dw_h1_limits_t *limits,
                                dw_h1_scan_t *scan, dw_h1_field_t *fields, dw_h1_head_t *out)
{
    const dw_h1_limits_t *lim = limits ? limits : &default_limits;
    head_reset(out, fields);
    dw_h1_rc_t rc = scan_head(buf, len, lim, scan, false, out);
    if (rc != DW_H1_OK) return rc;

    const uint8_t *p = (const uint8_t *)buf;
    size_t end = scan->end, i = 0;

    /* "HTTP/1.x SSS" then CRLF, or SP and a reason (possibly empty) then CRLF */
    if (end < 14 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ' ||
        p[9] - (unsigned)'1' > 8u || p[10] - (unsigned)'0' > 9u || p[11] - (unsigned)'0' > 9u)
        return fail(out, false, 502, "invalid status line");
    out->version_minor = (uint8_t)(p[7] - '0');
    out->status = (uint16_t)((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
    i = 12;
    if (p[i] == ' ') {
        size_t r0 = ++i;
        i = span_value(p, i, end - 2);
        out->reason = (dw_str_t){buf + r0, i - r0};
    }
    if (p[i] != '\r' || p[i + 1] != '\n') return fail(out, false, 502, "invalid status line");
    i += 2;
    return parse_fields(p, i, end, lim, false, fields, out);
}

/* ---- chunked bodies ------------------------------------------------------------------------ */

enum {
    CK_SIZE = 0,  /* hex digits of the size (the zeroed state) */
    CK_SIZE_BWS,  /* whitespace after the size, before ';' */
    CK_EXT,       /* chunk extensions, skipped to CR */
    CK_SIZE_LF,   /* LF ending the size line */
    CK_DATA,      /* remaining bytes of chunk data */
    CK_DATA_CR,   /* CRLF after the data */
    CK_DATA_LF,   /* */
    CK_TRL_START, /* start of a trailer line, or of the final empty line */
    CK_TRL_NAME,  /* inside a trailer field name (one char seen) */
    CK_TRL_VALUE, /* after the colon, up to CR */
    CK_TRL_LF,    /* LF ending a trailer line */
    CK_END_LF,    /* LF of the final empty line */
    CK_DONE,
    CK_ERROR,
};

static dw_h1_chunk_rc_t ck_fail(dw_h1_chunked_t *c, size_t at, size_t *consumed, const char *reason)
{
    c->state = CK_ERROR;
    c->error_status = 400;
    c->error_reason = reason;
    *consumed = at;
    return DW_H1_CHUNK_ERROR;
}

dw_h1_chunk_rc_t dw_h1_chunked_decode(dw_h1_chunked_t *c, const dw_h1_limits_t *limits,
                                      const char *in, size_t len, size_t *consumed, dw_str_t *data)
{
    const dw_h1_limits_t *lim = limits ? limits : &default_limits;
    const uint8_t *p = (const uint8_t *)in;
    size_t i = 0;
    *data = DW_STR_NULL;
    *consumed = 0;
    if (c->state == CK_DONE) return DW_H1_CHUNK_DONE;
    if (c->state == CK_ERROR) return DW_H1_CHUNK_ERROR;

    while (i < len) {
        uint8_t ch = p[i];
        switch (c->state) {
        case CK_DATA: {
            size_t n = len - i;
            if (n > c->remaining) n = (size_t)c->remaining;
            *data = (dw_str_t){in + i, n};
            c->remaining -= n;
            if (c->remaining == 0) c->state = CK_DATA_CR;
            *consumed = i + n;
            return DW_H1_CHUNK_DATA;
        }
        case CK_SIZE: {
            int d = dw_hex_digit(ch);
            if (d >= 0) {
                if (c->ndigits == 16) return ck_fail(c, i, consumed, "chunk size too long");
                if (c->remaining > (MAX_BODY_LEN - (unsigned)d) / 16)
                    return ck_fail(c, i, consumed, "chunk size too large");
                if (++c->line_bytes > lim->max_field)
                    return ck_fail(c, i, consumed, "chunk size line too long");
                c->remaining = c->remaining * 16 + (unsigned)d;
                c->ndigits++;
                i++;
                continue;
            }
            if (c->ndigits == 0) return ck_fail(c, i, consumed, "invalid chunk size");
            if (ch == '\r')
                c->state = CK_SIZE_LF;
            else if (ch == ';')
                c->state = CK_EXT;
            else if (is_ows(ch)) /* BWS before ';' (RFC 9112 7.1.1) */
                c->state = CK_SIZE_BWS;
            else
                return ck_fail(c, i, consumed, "invalid chunk size");
            break;
        }
        case CK_SIZE_BWS:
            if (ch == ';')
                c->state = CK_EXT;
            else if (!is_ows(ch))
                return ck_fail(c, i, consumed, "invalid chunk extension");
            break;
        case CK_EXT: {
            /* extensions are dropped; only their bytes and length are checked */
            size_t j = i;
            while (j < len && (cls[p[j]] & C_VALUE)) j++;
            size_t room = (size_t)lim->max_field - c->line_bytes;
            if (j - i > room) return ck_fail(c, i + room, consumed, "chunk size line too long");
            c->line_bytes += (uint32_t)(j - i);
            i = j;
            if (i == len) continue;
            if (p[i] != '\r') return ck_fail(c, i, consumed, "invalid chunk extension");
            c->state = CK_SIZE_LF;
            i++;
            continue;
        }
        case CK_SIZE_LF:
            if (ch != '\n') return ck_fail(c, i, consumed, "bare CR in chunk size line");
            c->line_bytes = 0;
            c->ndigits = 0;
            c->state = c->remaining ? CK_DATA : CK_TRL_START;
            i++;
            continue;
        case CK_DATA_CR:
            if (ch != '\r') return ck_fail(c, i, consumed, "missing CRLF after chunk data");
            c->state = CK_DATA_LF;
            i++;
            continue;
        case CK_DATA_LF:
            if (ch != '\n') return ck_fail(c, i, consumed, "missing CRLF after chunk data");
            c->state = CK_SIZE;
            i++;
            continue;
        case CK_TRL_START:
            if (ch == '\r')
                c->state = CK_END_LF;
            else if (cls[ch] & C_TOKEN)
                c->state = CK_TRL_NAME;
            else if (is_ows(ch))
                return ck_fail(c, i, consumed, "obs-fold in trailer");
            else if (ch == ':')
                return ck_fail(c, i, consumed, "empty trailer field name");
            else
                return ck_fail(c, i, consumed, "invalid trailer field name");
            break;
        case CK_TRL_NAME:
            if (ch == ':')
                c->state = CK_TRL_VALUE;
            else if (is_ows(ch))
                return ck_fail(c, i, consumed, "whitespace before colon in trailer");
            else if (!(cls[ch] & C_TOKEN))
                return ck_fail(c, i, consumed, "invalid trailer field name");
            break;
        case CK_TRL_VALUE: {
            size_t j = i;
            while (j < len && (cls[p[j]] & C_VALUE)) j++;
            /* the error offset is the first byte over a limit, as the byte loop would find */
            size_t line_room = (size_t)lim->max_field - c->line_bytes;
            size_t head_room = (size_t)lim->max_head - 1 - c->trailer_bytes;
            if (j - i > head_room && head_room <= line_room)
                return ck_fail(c, i + head_room, consumed, "trailer section too large");
            if (j - i > line_room)
                return ck_fail(c, i + line_room, consumed, "trailer field too long");
            c->line_bytes += (uint32_t)(j - i);
            c->trailer_bytes += (uint32_t)(j - i);
            i = j;
            if (i == len) continue;
            if (p[i] != '\r') return ck_fail(c, i, consumed, "control character in trailer");
            c->state = CK_TRL_LF;
            break;
        }
        case CK_TRL_LF:
            if (ch != '\n') return ck_fail(c, i, consumed, "bare CR in trailer");
            if (++c->ntrailers > lim->max_fields)
                return ck_fail(c, i, consumed, "too many trailer fields");
            c->state = CK_TRL_START;
            c->line_bytes = 0;
            break;
        case CK_END_LF:
            if (ch != '\n') return ck_fail(c, i, consumed, "bare CR in trailer");
            c->state = CK_DONE;
            *consumed = i + 1;
            return DW_H1_CHUNK_DONE;
        default: return ck_fail(c, i, consumed, "corrupt decoder state");
        }

        /* The byte at i was accepted by a state that breaks out of the switch: count it toward
         * the line (size line without CR, trailer line without CRLF) and the trailer section. */
        if (c->state >= CK_TRL_START && c->state <= CK_END_LF) {
            if (++c->trailer_bytes >= lim->max_head)
                return ck_fail(c, i, consumed, "trailer section too large");
            if (c->state == CK_TRL_NAME || c->state == CK_TRL_VALUE) {
                if (++c->line_bytes > lim->max_field)
                    return ck_fail(c, i, consumed, "trailer field too long");
            }
        } else if (ch != '\r' && ++c->line_bytes > lim->max_field) {
            return ck_fail(c, i, consumed, "chunk size line too long");
        }
        i++;
    }
    *consumed = len;
    return DW_H1_CHUNK_NEED_MORE;
}

/* ---- field helpers ------------------------------------------------------------------------- */

int32_t dw_h1_find_field(const dw_h1_field_t *fields, uint32_t nfields, dw_str_t name,
                         uint32_t start)
{
    for (uint32_t i = start; i < nfields; i++)
        if (fields[i].name.len == name.len && caseeq(fields[i].name.ptr, name.ptr, name.len))
            return (int32_t)i;
    return -1;
}

bool dw_h1_is_hop_by_hop(dw_str_t name)
{
    const uint8_t *n = (const uint8_t *)name.ptr;
    switch (name.len) {
    case 2: return LOWER_EQ(n, 2, "te");
    case 7: return LOWER_EQ(n, 7, "trailer") || LOWER_EQ(n, 7, "upgrade");
    case 10: return LOWER_EQ(n, 10, "connection") || LOWER_EQ(n, 10, "keep-alive");
    case 16: return LOWER_EQ(n, 16, "proxy-connection");
    case 17: return LOWER_EQ(n, 17, "transfer-encoding");
    default: return false;
    }
}

bool dw_h1_list_has(dw_str_t value, dw_str_t token)
{
    if (token.len == 0 || value.len == 0) return false;
    size_t pos = 0;
    dw_str_t el;
    while (list_next((const uint8_t *)value.ptr, value.len, &pos, &el))
        if (el.len == token.len && caseeq(el.ptr, token.ptr, token.len)) return true;
    return false;
}
