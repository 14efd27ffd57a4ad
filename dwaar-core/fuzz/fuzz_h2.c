/* libFuzzer harness: the HTTP/2 server side (dwaar-core/src/http2.c): the nghttp2 session
 * exactly as every client connection gets it (dw_h2_session_new) and the request-head layer
 * (dw_h2_head_add, dw_h2_head_request) that turns its header callbacks into a dw_req_t.
 *
 * Input: one control byte, then bytes. Bit 0 set: the bytes follow a valid client preface and
 * an empty SETTINGS frame the harness sends first (so frames are reached at once); clear: the
 * bytes are the whole client stream (the preface too). Bits 1-2 pick the limits (the defaults
 * or small ones that make the 431 paths reachable). Bit 3 set: the bytes are instead read as
 * header fields (a length byte and bytes for the name, two length bytes and bytes for the
 * value) fed straight to the head layer, with none of nghttp2's checks in front. The stream is
 * fed in pieces, with the session's output drained between them; each complete request head
 * becomes a request (answered with a small body and trailers) or a reset.
 *
 * Besides memory errors, abort() on: a request built from a head that was malformed, a built
 * request whose method, path, npath, host or fields break the layer's promises (views outside
 * the arena or the head, an upper-case host, several host or cookie fields, connection-specific
 * fields), stored fields beyond the limits, and a session that keeps writing without end. */
#include "http2.h"
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
    {256, 96, 512, 8},
    {64, 48, 160, 3},
    {8192, 16384, 65536, 1},
};

typedef struct fstream {
    dw_arena_t arena;
    dw_h2_head_t head, trl;
    int32_t id;
    const char *body;
    size_t body_len, body_off;
    struct fstream *next, *prev;
} fstream_t;

typedef struct fctx {
    const dw_h1_limits_t *lim;
    fstream_t *streams;
    uint64_t rng;
} fctx_t;

static uint32_t next_rand(fctx_t *x)
{
    x->rng ^= x->rng << 13;
    x->rng ^= x->rng >> 7;
    x->rng ^= x->rng << 17;
    return (uint32_t)(x->rng >> 32);
}

static void fstream_free(fctx_t *x, fstream_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        x->streams = s->next;
    if (s->next) s->next->prev = s->prev;
    dw_arena_deinit(&s->arena);
    free(s);
}

static bool lower_token(dw_str_t n)
{
    if (!n.len) return false;
    for (size_t i = 0; i < n.len; i++)
        if (n.ptr[i] >= 'A' && n.ptr[i] <= 'Z') return false;
    return true;
}

/* What the layer promises about a head it accepted, or about one it refused. */
static void check_head(const dw_h2_head_t *h, const dw_h1_limits_t *lim)
{
    if (h->status) CHECK(h->status == 431);
    if (!h->status && !h->bad) {
        CHECK(h->size <= lim->max_head);
        CHECK(h->nfields <= lim->max_fields);
    }
    CHECK(h->fields.n <= h->nfields);
    CHECK(h->fields.n <= lim->max_fields);
    for (size_t i = 0; i < h->fields.n; i++) {
        dw_str_t n = h->fields.v[i].name;
        CHECK(lower_token(n) && n.ptr[0] != ':');
        CHECK(!dw_str_eq_c(n, "connection") && !dw_str_eq_c(n, "transfer-encoding") &&
              !dw_str_eq_c(n, "upgrade") && !dw_str_eq_c(n, "keep-alive") &&
              !dw_str_eq_c(n, "proxy-connection"));
        CHECK(n.len + h->fields.v[i].value.len + 2 <= lim->max_field);
    }
    if (h->host_index >= 0) CHECK((size_t)h->host_index < h->fields.n);
}

/* Builds the request from a complete head and checks it. Returns the layer's answer. */
static int build(fstream_t *s, const dw_h1_limits_t *lim)
{
    check_head(&s->head, lim);
    bool bad = s->head.bad, big = s->head.status != 0;
    dw_req_t r;
    memset(&r, 0, sizeof r);
    r.arena = &s->arena;
    int rc = dw_h2_head_request(&s->head, &r);
    if (bad) CHECK(rc == -1);
    if (big && !bad) CHECK(rc == 431);
    CHECK(rc == 0 || rc == -1 || rc == 400 || rc == 431 || rc == 500);
    if (rc != 0) return rc;
    CHECK(r.http_version == 20);
    CHECK(r.method.len > 0 && !dw_str_eq_c(r.method, "CONNECT"));
    CHECK(r.raw_target.len > 0 && r.orig_uri.len == r.raw_target.len);
    if (dw_str_eq_c(r.raw_target, "*")) {
        CHECK(dw_str_eq_c(r.method, "OPTIONS") && dw_str_eq_c(r.npath, "*"));
    } else {
        CHECK(r.path.len > 0 && r.path.ptr[0] == '/');
        CHECK(r.npath.len > 0 && r.npath.ptr[0] == '/');
        CHECK(r.path.len + (r.has_query ? r.query.len + 1 : 0) == r.raw_target.len);
    }
    CHECK(r.hostport.len > 0);
    for (size_t i = 0; i < r.host.len; i++)
        CHECK(!(r.host.ptr[i] >= 'A' && r.host.ptr[i] <= 'Z') && r.host.ptr[i] != '/');
    size_t nhost = 0, ncookie = 0;
    for (size_t i = 0; i < r.headers.n; i++) {
        dw_str_t n = r.headers.v[i].name;
        if (dw_str_eq_c(n, "host")) {
            nhost++;
            CHECK(dw_str_eq(r.headers.v[i].value, r.hostport));
        }
        if (dw_str_eq_c(n, "cookie")) ncookie++;
    }
    CHECK(nhost == 1 && ncookie <= 1);
    return 0;
}

static ssize_t body_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *user)
{
    fstream_t *s = src->ptr;
    size_t n = s->body_len - s->body_off;
    if (n > len) n = len;
    memcpy(buf, s->body + s->body_off, n);
    s->body_off += n;
    if (s->body_off == s->body_len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        static const nghttp2_nv trailer[] = {
            {(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, NGHTTP2_NV_FLAG_NONE},
        };
        if (id % 4 == 1 && nghttp2_submit_trailer(ng, id, trailer, 1) == 0)
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
    return (ssize_t)n;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    fctx_t *x = user;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    fstream_t *s = calloc(1, sizeof *s);
    if (!s) abort();
    dw_arena_init(&s->arena, 4096);
    dw_h2_head_init(&s->head, false);
    dw_h2_head_init(&s->trl, true);
    s->id = f->hd.stream_id;
    s->next = x->streams;
    if (x->streams) x->streams->prev = s;
    x->streams = s;
    nghttp2_session_set_stream_user_data(ng, s->id, s);
    return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    fctx_t *x = user;
    fstream_t *s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!s || f->hd.type != NGHTTP2_HEADERS) return 0;
    dw_h2_head_t *h = f->headers.cat == NGHTTP2_HCAT_REQUEST ? &s->head : &s->trl;
    uint64_t before = h->size;
    CHECK(dw_h2_head_add(h, &s->arena, x->lim, name, namelen, value, valuelen) == 0);
    CHECK(h->size == before + namelen + valuelen + 32);
    return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    fctx_t *x = user;
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    fstream_t *s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!s) return 0;
    if (f->headers.cat != NGHTTP2_HCAT_REQUEST) {
        check_head(&s->trl, x->lim);
        CHECK(!s->trl.method.ptr && !s->trl.path.ptr);
        return 0;
    }
    int rc = build(s, x->lim);
    if (rc < 0) {
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_PROTOCOL_ERROR);
        return 0;
    }
    static const char body[] = "fuzz response body";
    s->body = body;
    s->body_len = (next_rand(x) % 2) ? sizeof body - 1 : 0;
    const nghttp2_nv nv[] = {
        {(uint8_t *)":status", (uint8_t *)(rc ? "431" : "200"), 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"server", (uint8_t *)"Dwaar", 6, 5, NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = body_read};
    nghttp2_submit_response(ng, s->id, nv, 2, s->body_len ? &prd : NULL);
    return 0;
}

static int on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *user)
{
    /* as http2.c: the connection window at once, the stream's as the bytes are handed on */
    nghttp2_session_consume_connection(ng, len);
    nghttp2_session_consume_stream(ng, id, len);
    return 0;
}

static int on_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
    fstream_t *s = nghttp2_session_get_stream_user_data(ng, id);
    if (s) fstream_free(user, s);
    return 0;
}

/* Takes everything the session wants to send; a bounded amount per round. */
static void drain(nghttp2_session *ng)
{
    for (int i = 0; i < 4096; i++) {
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(ng, &p);
        if (n <= 0) return;
    }
    CHECK(!"the session keeps writing");
}

static void session_run(fctx_t *x, const uint8_t *in, size_t len, bool preface)
{
    nghttp2_session_callbacks *cb;
    CHECK(nghttp2_session_callbacks_new(&cb) == 0);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    nghttp2_session *ng;
    CHECK(dw_h2_session_new(&ng, cb, x, x->lim) == 0);
    nghttp2_session_callbacks_del(cb);
    drain(ng);
    if (preface) {
        static const uint8_t start[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                       "\x00\x00\x00\x04\x00\x00\x00\x00\x00";
        CHECK(nghttp2_session_mem_recv(ng, start, sizeof start - 1) == (ssize_t)sizeof start - 1);
        drain(ng);
    }
    size_t off = 0;
    while (off < len) {
        size_t left = len - off;
        size_t n = 1 + next_rand(x) % (left < 512 ? left : 512);
        /* an exactly sized copy: reading past a piece is a sanitizer error */
        uint8_t *piece = malloc(n);
        if (!piece) abort();
        memcpy(piece, in + off, n);
        ssize_t rv = nghttp2_session_mem_recv(ng, piece, n);
        free(piece);
        off += n;
        if (rv < 0) break;
        CHECK((size_t)rv == n);
        drain(ng);
        if (!nghttp2_session_want_read(ng) && !nghttp2_session_want_write(ng)) break;
    }
    nghttp2_session_del(ng); /* calls no stream-close callbacks: free what is left */
    while (x->streams) fstream_free(x, x->streams);
}

/* Bit 3: fields straight into the head layer, then the request built from them. */
static void direct(fctx_t *x, const uint8_t *in, size_t len)
{
    fstream_t s;
    memset(&s, 0, sizeof s);
    dw_arena_init(&s.arena, 4096);
    dw_h2_head_init(&s.head, false);
    size_t off = 0;
    while (off < len) {
        size_t nl = in[off++];
        if (off + nl > len) break;
        const uint8_t *name = in + off;
        off += nl;
        if (off + 2 > len) break;
        size_t vl = (size_t)in[off] << 8 | in[off + 1];
        off += 2;
        if (off + vl > len) vl = len - off;
        const uint8_t *value = in + off;
        off += vl;
        CHECK(dw_h2_head_add(&s.head, &s.arena, x->lim, name, nl, value, vl) == 0);
        check_head(&s.head, x->lim);
    }
    build(&s, x->lim);
    dw_arena_deinit(&s.arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t ctl = data[0];
    fctx_t x = {.lim = &limit_sets[(ctl >> 1) & 3], .streams = NULL};
    x.rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)ctl << 32) ^ size;
    if (ctl & 8)
        direct(&x, data + 1, size - 1);
    else
        session_run(&x, data + 1, size - 1, (ctl & 1) != 0);
    return 0;
}
