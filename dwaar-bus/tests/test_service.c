/* bus.service: services answering over inproc, tcp and ipc; what the runner does with bad
 * input; PUB/SUB and PUSH/PULL; the request client's timeout; clean stops. Loopback only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <dwaar/bus/bus.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define WAIT_MS 5000 /* generous bound for anything that should happen "soon" */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap(void)
{
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Waits until *v >= want or WAIT_MS passed. */
static bool wait_count(atomic_uint_fast64_t *v, uint64_t want)
{
    int64_t end = now_ms() + WAIT_MS;
    while (atomic_load(v) < want && now_ms() < end) nap();
    return atomic_load(v) >= want;
}

/* --- a configurable test service ---------------------------------------------------------- */

typedef struct srv {
    int zmq_type;
    const char *endpoint;
    bool connect;
    size_t max_msg;
    const dw_bus_handler_t *handlers; /* NULL = the echo set */
    /* a second, plain echo ROUTER (the deferred-close test) */
    const char *endpoint2;

    dw_service_t *svc;
    dw_bus_sock_t *sock, *sock2;
    char bound[256]; /* ZMQ_LAST_ENDPOINT, for ephemeral tcp ports */
    dw_timer_t *later;
    dw_bus_peer_t later_peer;
    uint64_t later_id;
    atomic_uint_fast64_t seen; /* handler calls */
} srv_t;

static void send_echo(dw_bus_sock_t *s, const dw_bus_peer_t *to, uint64_t id, int64_t n,
                      uint32_t version, bool delimited)
{
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    dw_bus_begin(&w, "test.echo_result", 1, id);
    msgpack_pack_map(&w.pk, 3);
    dw_mp_kv_int(&w.pk, "n", n);
    dw_mp_kv_uint(&w.pk, "version", version);
    dw_mp_kv_bool(&w.pk, "delimited", delimited);
    dw_bus_send(s, to, w.sb.data, w.sb.size);
    dw_bus_writer_free(&w);
}

static void on_echo(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *msg, void *arg)
{
    srv_t *t = arg;
    atomic_fetch_add(&t->seen, 1);
    int64_t n = 0;
    dw_mp_get_int(msg->body, "n", &n);
    send_echo(s, from, msg->id, n, msg->version, from->delimited);
}

static void on_silent(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *msg,
                      void *arg)
{
    srv_t *t = arg;
    atomic_fetch_add(&t->seen, 1);
}

/* Answers from a timer, later: the peer is copied, the message is not kept. */
static void on_later(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *msg,
                     void *arg)
{
    srv_t *t = arg;
    atomic_fetch_add(&t->seen, 1);
    t->later_peer = *from;
    t->later_id = msg->id;
    dw_timer_start(t->later, 10);
}

static void later_cb(void *arg)
{
    srv_t *t = arg;
    send_echo(t->sock, &t->later_peer, t->later_id, -1, 1, t->later_peer.delimited);
}

static void on_close(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *msg,
                     void *arg)
{
    srv_t *t = arg;
    atomic_fetch_add(&t->seen, 1);
    dw_bus_close(s); /* inside its own drain: deferred */
    t->sock = NULL;
}

static const dw_bus_handler_t echo_handlers[] = {
    {"test.echo", 1, 2, on_echo},
    {"test.silent", 1, 1, on_silent},
    {"test.later", 1, 1, on_later},
    {"test.close", 1, 1, on_close},
    {NULL, 0, 0, NULL},
};

static int srv_init(dw_service_t *svc, void *arg, char *err, size_t errlen)
{
    srv_t *t = arg;
    t->svc = svc;
    dw_bus_sock_opts_t o = {
        .zmq_type = t->zmq_type ? t->zmq_type : ZMQ_ROUTER,
        .endpoint = t->endpoint,
        .bind = !t->connect,
        .handlers = t->handlers ? t->handlers : echo_handlers,
        .arg = t,
        .max_msg = t->max_msg,
    };
    t->sock = dw_bus_open(svc, &o, err, errlen);
    if (!t->sock) return -1;
    size_t sz = sizeof t->bound;
    zmq_getsockopt(dw_bus_sock_raw(t->sock), ZMQ_LAST_ENDPOINT, t->bound, &sz);
    if (t->endpoint2) {
        o.endpoint = t->endpoint2, o.handlers = echo_handlers;
        t->sock2 = dw_bus_open(svc, &o, err, errlen);
        if (!t->sock2) return -1;
    }
    t->later = dw_timer_new(dw_service_loop(svc), later_cb, t);
    return 0;
}

static void srv_fini(dw_service_t *svc, void *arg)
{
    srv_t *t = arg;
    dw_timer_free(t->later);
    dw_bus_close(t->sock);
    /* sock2 left open on purpose: the runner closes what fini forgot */
}

static dw_service_t *srv_start(srv_t *t)
{
    dw_service_def_t def = {.name = "test-srv", .init = srv_init, .fini = srv_fini, .arg = t};
    char err[256] = "";
    dw_service_t *svc = dw_service_start(&def, err, sizeof err);
    if (!svc) fail_msg("start: %s", err);
    return svc;
}

/* --- client helpers ----------------------------------------------------------------------- */

static void encode_req(dw_bus_writer_t *w, const char *type, uint32_t version, uint64_t id,
                       int64_t n, size_t pad)
{
    dw_bus_begin(w, type, version, id);
    msgpack_pack_map(&w->pk, pad ? 2 : 1);
    dw_mp_kv_int(&w->pk, "n", n);
    if (pad) {
        char *p = calloc(1, pad);
        dw_mp_kv_str(&w->pk, "pad", p, pad);
        free(p);
    }
}

static int request(const char *ep, const char *type, uint32_t version, uint64_t id, int64_t n,
                   size_t pad, int timeout_ms, dw_bus_msg_t *reply)
{
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    encode_req(&w, type, version, id, n, pad);
    int rc = dw_bus_request(ep, w.sb.data, w.sb.size, id, timeout_ms, 0, reply);
    dw_bus_writer_free(&w);
    return rc;
}

static void expect_echo(const char *ep, int64_t n)
{
    dw_bus_msg_t r;
    uint64_t id = dw_bus_next_id();
    int rc = request(ep, "test.echo", 1, id, n, 0, WAIT_MS, &r);
    if (rc != DW_BUS_OK) fail_msg("echo over %s: rc %d errno %d", ep, rc, errno);
    assert_true(dw_str_eq_c(r.type, "test.echo_result"));
    assert_true(r.id == id);
    int64_t got = 0;
    assert_true(dw_mp_get_int(r.body, "n", &got));
    assert_int_equal(got, n);
    dw_bus_msg_free(&r);
}

static void expect_error(const dw_bus_msg_t *r, uint64_t id, const char *code)
{
    assert_true(dw_str_eq_c(r->type, DW_BUS_ERROR_TYPE));
    assert_true(r->id == id);
    dw_str_t c, m;
    assert_true(dw_mp_get_str(r->body, "code", &c));
    assert_true(dw_mp_get_str(r->body, "message", &m));
    if (!dw_str_eq_c(c, code)) fail_msg("code %.*s, want %s", DW_STR_FMT(c), code);
    assert_true(m.len > 0);
}

/* A raw DEALER for what dw_bus_request would never send. */
static void *raw_dealer(const char *ep)
{
    void *zs = zmq_socket(dw_bus_context(), ZMQ_DEALER);
    assert_non_null(zs);
    int v = 0;
    zmq_setsockopt(zs, ZMQ_LINGER, &v, sizeof v);
    v = WAIT_MS;
    zmq_setsockopt(zs, ZMQ_RCVTIMEO, &v, sizeof v);
    assert_int_equal(zmq_connect(zs, ep), 0);
    return zs;
}

static void raw_send(void *zs, size_t n, const void *const *frames, const size_t *lens)
{
    for (size_t i = 0; i < n; i++)
        assert_true(zmq_send(zs, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0) >= 0);
}

static void raw_send_msg(void *zs, bool delimited, const void *data, size_t len)
{
    const void *f[2] = {"", data};
    size_t l[2] = {0, len};
    if (delimited)
        raw_send(zs, 2, f, l);
    else
        raw_send(zs, 1, f + 1, l + 1);
}

/* Receives one reply; returns its frame count, decodes the last frame into r. */
static int raw_recv(void *zs, dw_bus_msg_t *r)
{
    int frames = 0;
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (;;) {
        if (zmq_msg_recv(&m, zs, 0) < 0) fail_msg("raw_recv: %s", zmq_strerror(zmq_errno()));
        frames++;
        if (!zmq_msg_more(&m)) break;
    }
    assert_int_equal(dw_bus_decode(zmq_msg_data(&m), zmq_msg_size(&m), 0, r), DW_BUS_OK);
    zmq_msg_close(&m);
    return frames;
}

static bool raw_nothing(void *zs, int ms)
{
    zmq_pollitem_t it = {.socket = zs, .events = ZMQ_POLLIN};
    return zmq_poll(&it, 1, ms) == 0;
}

static uint64_t rejected(srv_t *t, dw_bus_status_t st)
{
    return atomic_load(&dw_bus_sock_stats(t->sock)->rejected[st]);
}

/* --- tests -------------------------------------------------------------------------------- */

static void test_inproc_request(void **state)
{
    (void)state;
    srv_t t = {.endpoint = "inproc://test-router"};
    dw_service_t *svc = srv_start(&t);
    assert_string_equal(dw_service_name(svc), "test-srv");
    expect_echo("inproc://test-router", 1);
    expect_echo("inproc://test-router", -12345);
    /* version 2 is in the handler's range too */
    dw_bus_msg_t r;
    assert_int_equal(request("inproc://test-router", "test.echo", 2, 5, 0, 0, WAIT_MS, &r),
                     DW_BUS_OK);
    uint64_t v = 0;
    bool delimited = false;
    assert_true(dw_mp_get_uint(r.body, "version", &v));
    assert_int_equal(v, 2);
    assert_true(dw_mp_get_bool(r.body, "delimited", &delimited));
    assert_true(delimited); /* our client speaks like REQ */
    dw_bus_msg_free(&r);
    /* an answer from a timer, after the handler returned */
    assert_int_equal(request("inproc://test-router", "test.later", 1, 6, 0, 0, WAIT_MS, &r),
                     DW_BUS_OK);
    assert_int_equal(r.id, 6);
    dw_bus_msg_free(&r);
    assert_int_equal(atomic_load(&dw_bus_sock_stats(t.sock)->received), 4);
    dw_service_stop(svc);
}

static void test_tcp_request(void **state)
{
    (void)state;
    srv_t t = {.endpoint = "tcp://127.0.0.1:*"};
    dw_service_t *svc = srv_start(&t);
    assert_true(strncmp(t.bound, "tcp://127.0.0.1:", 16) == 0);
    expect_echo(t.bound, 7);
    expect_echo(t.bound, 8);

    /* the port is taken now: a second bind fails with a message saying so */
    srv_t t2 = {.endpoint = t.bound};
    dw_service_def_t def = {.name = "second", .init = srv_init, .fini = srv_fini, .arg = &t2};
    char err[256] = "";
    assert_null(dw_service_start(&def, err, sizeof err));
    char want[300];
    snprintf(want, sizeof want, "cannot bind %s: ", t.bound);
    if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, "in use")) fail_msg("%s", err);
    dw_service_stop(svc);
}

static void test_unknown_type_and_version(void **state)
{
    (void)state;
    srv_t t = {.endpoint = "inproc://test-types"};
    dw_service_t *svc = srv_start(&t);
    dw_bus_msg_t r;
    assert_int_equal(request("inproc://test-types", "test.nope", 1, 11, 0, 0, WAIT_MS, &r),
                     DW_BUS_OK);
    expect_error(&r, 11, "unknown_type");
    dw_bus_msg_free(&r);
    expect_echo("inproc://test-types", 1);
    assert_int_equal(request("inproc://test-types", "test.echo", 3, 12, 0, 0, WAIT_MS, &r),
                     DW_BUS_OK);
    expect_error(&r, 12, "bad_version");
    dw_bus_msg_free(&r);
    assert_int_equal(request("inproc://test-types", "test.echo", 0, 13, 0, 0, WAIT_MS, &r),
                     DW_BUS_OK);
    expect_error(&r, 13, "bad_version");
    dw_bus_msg_free(&r);
    expect_echo("inproc://test-types", 2);
    assert_int_equal(rejected(&t, DW_BUS_E_UNKNOWN_TYPE), 1);
    assert_int_equal(rejected(&t, DW_BUS_E_VERSION), 2);
    assert_int_equal(atomic_load(&dw_bus_sock_stats(t.sock)->received), 2);
    dw_service_stop(svc);
}

static void test_garbage(void **state)
{
    (void)state;
    srv_t t = {.endpoint = "inproc://test-garbage"};
    dw_service_t *svc = srv_start(&t);
    void *d = raw_dealer("inproc://test-garbage");
    dw_bus_msg_t r;

    /* not msgpack, no id: counted, not answered */
    static const uint8_t junk[] = {0xc1, 0xff, 0x00};
    raw_send_msg(d, true, junk, sizeof junk);
    /* an empty payload */
    raw_send_msg(d, true, "", 0);
    /* a well-formed map with an unknown envelope key: answered with its id */
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    msgpack_pack_map(&w.pk, 4);
    dw_mp_kv_cstr(&w.pk, "type", "test.echo");
    dw_mp_kv_uint(&w.pk, "version", 1);
    dw_mp_kv_uint(&w.pk, "id", 55);
    dw_mp_kv_uint(&w.pk, "extra", 1);
    raw_send_msg(d, true, w.sb.data, w.sb.size);
    assert_int_equal(raw_recv(d, &r), 2);
    expect_error(&r, 55, "malformed");
    dw_bus_msg_free(&r);
    /* truncated after the id: answered with it */
    dw_bus_writer_reset(&w);
    encode_req(&w, "test.echo", 1, 56, 0, 0);
    raw_send_msg(d, true, w.sb.data, w.sb.size - 1);
    assert_int_equal(raw_recv(d, &r), 2);
    expect_error(&r, 56, "truncated");
    dw_bus_msg_free(&r);
    /* wrong frame counts: [a][b][c] and [x][payload] (a non-empty delimiter) */
    dw_bus_writer_reset(&w);
    encode_req(&w, "test.echo", 1, 57, 0, 0);
    const void *f3[3] = {"a", "b", w.sb.data};
    size_t l3[3] = {1, 1, w.sb.size};
    raw_send(d, 3, f3, l3);
    const void *f2[2] = {"x", w.sb.data};
    size_t l2[2] = {1, w.sb.size};
    raw_send(d, 2, f2, l2);
    /* a DEALER without the empty delimiter is served too, and answered the same way */
    raw_send_msg(d, false, w.sb.data, w.sb.size);
    assert_int_equal(raw_recv(d, &r), 1);
    assert_int_equal(r.id, 57);
    bool delimited = true;
    assert_true(dw_mp_get_bool(r.body, "delimited", &delimited));
    assert_false(delimited);
    dw_bus_msg_free(&r);
    /* one pipe is FIFO: everything above was handled before this answer */
    raw_send_msg(d, true, w.sb.data, w.sb.size);
    assert_int_equal(raw_recv(d, &r), 2);
    assert_int_equal(r.id, 57);
    dw_bus_msg_free(&r);
    assert_true(raw_nothing(d, 20)); /* the junk got no answer */
    assert_int_equal(rejected(&t, DW_BUS_E_MALFORMED), 4);
    assert_int_equal(rejected(&t, DW_BUS_E_TRUNCATED), 2);
    assert_int_equal(atomic_load(&dw_bus_sock_stats(t.sock)->received), 2);
    /* an error message is never answered with another one */
    dw_bus_writer_reset(&w);
    dw_bus_encode_error(&w, 58, "x", "y");
    raw_send_msg(d, true, w.sb.data, w.sb.size);
    expect_echo("inproc://test-garbage", 3);
    assert_true(wait_count(&dw_bus_sock_stats(t.sock)->rejected[DW_BUS_E_UNKNOWN_TYPE], 1));
    assert_true(raw_nothing(d, 20));
    dw_bus_writer_free(&w);
    zmq_close(d);
    dw_service_stop(svc);
}

static void test_oversized(void **state)
{
    (void)state;
    /* inproc bypasses ZMQ_MAXMSGSIZE: the runner refuses, and answers with the id */
    srv_t t = {.endpoint = "inproc://test-big", .max_msg = 1024};
    dw_service_t *svc = srv_start(&t);
    dw_bus_msg_t r;
    assert_int_equal(request("inproc://test-big", "test.echo", 1, 66, 0, 2000, WAIT_MS, &r),
                     DW_BUS_OK);
    expect_error(&r, 66, "oversized");
    dw_bus_msg_free(&r);
    expect_echo("inproc://test-big", 1);
    assert_int_equal(rejected(&t, DW_BUS_E_OVERSIZED), 1);
    dw_service_stop(svc);

    /* over tcp ZeroMQ drops the message (and the connection) before the runner sees it */
    srv_t u = {.endpoint = "tcp://127.0.0.1:*", .max_msg = 1024};
    svc = srv_start(&u);
    assert_int_equal(request(u.bound, "test.echo", 1, 67, 0, 2000, 300, &r), -1);
    assert_int_equal(errno, ETIMEDOUT);
    expect_echo(u.bound, 2);
    assert_int_equal(rejected(&u, DW_BUS_E_OVERSIZED), 0);
    assert_int_equal(atomic_load(&u.seen), 1);
    dw_service_stop(svc);

    /* a reply larger than the client's limit */
    srv_t v = {.endpoint = "inproc://test-big-reply"};
    svc = srv_start(&v);
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    encode_req(&w, "test.echo", 1, 68, 0, 0);
    assert_int_equal(
        dw_bus_request("inproc://test-big-reply", w.sb.data, w.sb.size, 68, WAIT_MS, 10, &r),
        DW_BUS_E_OVERSIZED);
    dw_bus_writer_free(&w);
    dw_service_stop(svc);
}

static void test_flood(void **state)
{
    (void)state;
    enum { N = 600 }; /* > 2 drain batches, < the reply queue limits */
    srv_t t = {.endpoint = "inproc://test-flood"};
    dw_service_t *svc = srv_start(&t);
    void *d = raw_dealer("inproc://test-flood");
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    for (int i = 1; i <= N; i++) {
        dw_bus_writer_reset(&w);
        encode_req(&w, "test.echo", 1, (uint64_t)i, i, 0);
        raw_send_msg(d, true, w.sb.data, w.sb.size);
    }
    for (int i = 1; i <= N; i++) {
        dw_bus_msg_t r;
        raw_recv(d, &r);
        assert_int_equal(r.id, (uint64_t)i);
        dw_bus_msg_free(&r);
    }
    dw_bus_writer_free(&w);
    zmq_close(d);
    dw_service_stop(svc);
}

static void test_timeout(void **state)
{
    (void)state;
    srv_t t = {.endpoint = "inproc://test-silent"};
    dw_service_t *svc = srv_start(&t);
    dw_bus_msg_t r;
    int64_t t0 = now_ms();
    assert_int_equal(request("inproc://test-silent", "test.silent", 1, 70, 0, 0, 150, &r), -1);
    int64_t took = now_ms() - t0;
    assert_int_equal(errno, ETIMEDOUT);
    assert_true(took >= 140 && took < 150 + WAIT_MS);
    assert_true(wait_count(&t.seen, 1)); /* it did arrive; a busy machine may be slow */
    dw_service_stop(svc);

    /* nobody listening at all */
    t0 = now_ms();
    assert_int_equal(request("tcp://127.0.0.1:1", "test.echo", 1, 71, 0, 0, 100, &r), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_true(now_ms() - t0 < 100 + WAIT_MS);
    /* an endpoint ZeroMQ cannot parse fails at once with its errno */
    assert_int_equal(request("bogus://x", "test.echo", 1, 72, 0, 0, 100, &r), -1);
    assert_true(errno != 0 && errno != ETIMEDOUT);
}

/* A handler closes its own socket: the close waits for the drain, the service goes on. */
static void test_close_in_handler(void **state)
{
    (void)state;
    srv_t t = {.endpoint = "inproc://test-close-a", .endpoint2 = "inproc://test-close-b"};
    dw_service_t *svc = srv_start(&t);
    dw_bus_msg_t r;
    assert_int_equal(request("inproc://test-close-a", "test.close", 1, 80, 0, 0, 100, &r), -1);
    assert_int_equal(errno, ETIMEDOUT);
    expect_echo("inproc://test-close-b", 4);
    dw_service_stop(svc);
}

static void test_rep(void **state)
{
    (void)state;
    srv_t t = {.endpoint = "inproc://test-rep", .zmq_type = ZMQ_REP};
    dw_service_t *svc = srv_start(&t);
    expect_echo("inproc://test-rep", 9);
    dw_bus_msg_t r;
    /* REP must answer every request: a silent handler gets the runner's answer */
    assert_int_equal(request("inproc://test-rep", "test.silent", 1, 90, 0, 0, WAIT_MS, &r),
                     DW_BUS_OK);
    expect_error(&r, 90, "no_reply");
    dw_bus_msg_free(&r);
    assert_int_equal(request("inproc://test-rep", "test.x", 1, 91, 0, 0, WAIT_MS, &r), DW_BUS_OK);
    expect_error(&r, 91, "unknown_type");
    dw_bus_msg_free(&r);
    /* garbage without an id is answered too, with id 0 */
    void *d = raw_dealer("inproc://test-rep");
    raw_send_msg(d, true, "\xc1", 1);
    assert_int_equal(raw_recv(d, &r), 2);
    expect_error(&r, 0, "malformed");
    dw_bus_msg_free(&r);
    zmq_close(d);
    expect_echo("inproc://test-rep", 10);
    dw_service_stop(svc);
}

/* --- PUB/SUB and PUSH/PULL ----------------------------------------------------------------- */

typedef struct pubsub {
    int type; /* ZMQ_PUB or ZMQ_PUSH */
    const char *endpoint;
    dw_bus_sock_t *sock;
    dw_timer_t *timer;
    uint64_t sent;  /* accepted by dw_bus_send */
    uint64_t limit; /* PUSH: how many to deliver */
    atomic_uint_fast64_t got;
    atomic_uint_fast64_t last_seq;
    atomic_uint_fast64_t bad; /* ticks out of order or without a seq */
    int dropped_probe;        /* init: dw_bus_send on a PUSH without peers */
    uint64_t dropped_count;
} pubsub_t;

static void send_tick(pubsub_t *p, const char *type)
{
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    dw_bus_begin(&w, type, 1, 0);
    msgpack_pack_map(&w.pk, 1);
    dw_mp_kv_uint(&w.pk, "seq", p->sent + 1);
    if (dw_bus_send(p->sock, NULL, w.sb.data, w.sb.size) == 0) p->sent++;
    dw_bus_writer_free(&w);
}

static void tick(void *arg)
{
    pubsub_t *p = arg;
    if (p->type == ZMQ_PUB) {
        send_tick(p, "test.other"); /* nobody handles it: counted by the subscriber */
        send_tick(p, "test.tick");
        dw_timer_start(p->timer, 5); /* PUB drops until the subscription arrived: repeat */
    } else {
        while (p->sent < p->limit) {
            uint64_t before = p->sent;
            send_tick(p, "test.tick");
            if (p->sent == before) break; /* no peer yet or queue full: retry later */
        }
        if (p->sent < p->limit) dw_timer_start(p->timer, 1);
    }
}

static int sender_init(dw_service_t *svc, void *arg, char *err, size_t errlen)
{
    pubsub_t *p = arg;
    if (p->type == ZMQ_PUSH) {
        /* a PUSH with no peer refuses at once: counted, never blocks */
        dw_bus_sock_opts_t lone = {
            .zmq_type = ZMQ_PUSH, .endpoint = "inproc://test-nobody", .bind = true};
        dw_bus_sock_t *s = dw_bus_open(svc, &lone, err, errlen);
        if (!s) return -1;
        p->dropped_probe = dw_bus_send(s, NULL, "x", 1);
        p->dropped_count = atomic_load(&dw_bus_sock_stats(s)->send_dropped);
        dw_bus_close(s);
    }
    dw_bus_sock_opts_t o = {.zmq_type = p->type, .endpoint = p->endpoint, .bind = true};
    p->sock = dw_bus_open(svc, &o, err, errlen);
    if (!p->sock) return -1;
    p->timer = dw_timer_new(dw_service_loop(svc), tick, p);
    dw_timer_start(p->timer, 0);
    return 0;
}

static void sender_fini(dw_service_t *svc, void *arg)
{
    pubsub_t *p = arg;
    dw_timer_free(p->timer);
    dw_bus_close(p->sock);
}

static void on_tick(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *msg, void *arg)
{
    pubsub_t *p = arg;
    uint64_t seq = 0;
    /* no cmocka asserts off the main thread: count what is wrong, check it there */
    if (!dw_mp_get_uint(msg->body, "seq", &seq) || seq <= atomic_load(&p->last_seq))
        atomic_fetch_add(&p->bad, 1);
    atomic_store(&p->last_seq, seq);
    atomic_fetch_add(&p->got, 1);
}

static const dw_bus_handler_t tick_handlers[] = {{"test.tick", 1, 1, on_tick}, {NULL, 0, 0, NULL}};

static int receiver_init(dw_service_t *svc, void *arg, char *err, size_t errlen)
{
    pubsub_t *p = arg;
    dw_bus_sock_opts_t o = {
        .zmq_type = p->type == ZMQ_PUB ? ZMQ_SUB : ZMQ_PULL,
        .endpoint = p->endpoint,
        .handlers = tick_handlers,
        .arg = p,
    };
    p->sock = dw_bus_open(svc, &o, err, errlen);
    return p->sock ? 0 : -1;
}

static void receiver_fini(dw_service_t *svc, void *arg)
{
    pubsub_t *p = arg;
    dw_bus_close(p->sock);
}

static void run_pair(int type, const char *ep, uint64_t want)
{
    pubsub_t tx = {.type = type, .endpoint = ep, .limit = want};
    pubsub_t rx = {.type = type, .endpoint = ep};
    dw_service_def_t dtx = {.name = "tx", .init = sender_init, .fini = sender_fini, .arg = &tx};
    dw_service_def_t drx = {.name = "rx", .init = receiver_init, .fini = receiver_fini, .arg = &rx};
    char err[256];
    dw_service_t *stx = dw_service_start(&dtx, err, sizeof err);
    assert_non_null(stx);
    dw_service_t *srx = dw_service_start(&drx, err, sizeof err);
    assert_non_null(srx);
    assert_true(wait_count(&rx.got, want));
    if (type == ZMQ_PUB)
        assert_true(wait_count(&dw_bus_sock_stats(rx.sock)->rejected[DW_BUS_E_UNKNOWN_TYPE], 1));
    dw_service_stop(srx);
    dw_service_stop(stx);
    assert_int_equal(atomic_load(&rx.bad), 0);
    if (type == ZMQ_PUSH) {
        assert_int_equal(rx.got, want); /* exactly: PUSH delivers each once */
        assert_int_equal(tx.dropped_probe, -1);
        assert_int_equal(tx.dropped_count, 1);
    }
}

static void test_pub_sub(void **state)
{
    (void)state;
    run_pair(ZMQ_PUB, "inproc://test-pub", 3);
}

static void test_push_pull(void **state)
{
    (void)state;
    run_pair(ZMQ_PUSH, "inproc://test-push", 200);
}

/* --- a DEALER inside a service ------------------------------------------------------------ */

/* The ZMQ_FD edge hazard: this service's DEALER sends from a timer while replies arrive, so
 * sends consume the fd's edge; every reply must still be handled, the last ones included
 * (nothing sends after them). */
typedef struct client {
    const char *endpoint;
    dw_bus_sock_t *sock;
    dw_timer_t *timer;
    uint64_t sent, limit;
    atomic_uint_fast64_t got;
} client_t;

static void client_tick(void *arg)
{
    client_t *c = arg;
    for (int i = 0; i < 3 && c->sent < c->limit; i++) {
        dw_bus_writer_t w;
        dw_bus_writer_init(&w);
        encode_req(&w, "test.echo", 1, c->sent + 1, 0, 0);
        if (dw_bus_send(c->sock, NULL, w.sb.data, w.sb.size) == 0) c->sent++;
        dw_bus_writer_free(&w);
    }
    if (c->sent < c->limit) dw_timer_start(c->timer, 0);
}

static void on_result(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *msg,
                      void *arg)
{
    client_t *c = arg;
    atomic_fetch_add(&c->got, 1);
}

static const dw_bus_handler_t result_handlers[] = {{"test.echo_result", 1, 1, on_result},
                                                   {NULL, 0, 0, NULL}};

static int client_init(dw_service_t *svc, void *arg, char *err, size_t errlen)
{
    client_t *c = arg;
    dw_bus_sock_opts_t o = {
        .zmq_type = ZMQ_DEALER, .endpoint = c->endpoint, .handlers = result_handlers, .arg = c};
    c->sock = dw_bus_open(svc, &o, err, errlen);
    if (!c->sock) return -1;
    c->timer = dw_timer_new(dw_service_loop(svc), client_tick, c);
    dw_timer_start(c->timer, 0);
    return 0;
}

static void client_fini(dw_service_t *svc, void *arg)
{
    client_t *c = arg;
    dw_timer_free(c->timer);
    dw_bus_close(c->sock);
}

static void test_dealer_in_service(void **state)
{
    (void)state;
    for (int round = 0; round < 5; round++) {
        srv_t t = {.endpoint = "inproc://test-dealer"};
        dw_service_t *svc = srv_start(&t);
        client_t c = {.endpoint = "inproc://test-dealer", .limit = 300};
        dw_service_def_t def = {
            .name = "client", .init = client_init, .fini = client_fini, .arg = &c};
        char err[256];
        dw_service_t *cs = dw_service_start(&def, err, sizeof err);
        assert_non_null(cs);
        bool all = wait_count(&c.got, c.limit);
        uint64_t received = atomic_load(&dw_bus_sock_stats(t.sock)->received);
        dw_service_stop(cs);
        dw_service_stop(svc);
        if (!all) fail_msg("round %d: %u of %u replies", round, (unsigned)c.got, (unsigned)c.limit);
        assert_int_equal(received, c.limit);
    }
}

/* --- ipc ------------------------------------------------------------------------------------ */

static void test_ipc(void **state)
{
    (void)state;
    char path[128], ep[160], file[128], fep[160];
    snprintf(path, sizeof path, "/tmp/dwaar-bus-test-%d.ipc", (int)getpid());
    snprintf(ep, sizeof ep, "ipc://%s", path);
    snprintf(file, sizeof file, "/tmp/dwaar-bus-test-%d.file", (int)getpid());
    snprintf(fep, sizeof fep, "ipc://%s", file);

    /* a stale socket file left by a dead process */
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);

    srv_t t = {.endpoint = ep};
    dw_service_t *svc = srv_start(&t);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    expect_echo(ep, 5);

    /* a live socket is not taken over */
    srv_t t2 = {.endpoint = ep};
    dw_service_def_t def = {.name = "second", .init = srv_init, .fini = srv_fini, .arg = &t2};
    char err[256] = "";
    assert_null(dw_service_start(&def, err, sizeof err));
    assert_non_null(strstr(err, "another process is listening"));
    expect_echo(ep, 6);
    dw_service_stop(svc);

    /* nor is a regular file removed */
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    srv_t t3 = {.endpoint = fep};
    def.arg = &t3;
    assert_null(dw_service_start(&def, err, sizeof err));
    assert_non_null(strstr(err, "not a socket"));
    assert_int_equal(stat(file, &st), 0);
    unlink(file);
    unlink(path);
}

/* --- dw_service_run ------------------------------------------------------------------------- */

typedef struct runner {
    int mode; /* 0: break from a timer, 1: wait for SIGTERM, 2: init fails, 3: break in init */
    dw_timer_t *timer;
    dw_service_t *svc;
    atomic_int ready;
    int rc;
    bool fini_ran;
} runner_t;

static void run_break(void *arg)
{
    runner_t *r = arg;
    dw_service_break(r->svc);
}

static int run_init(dw_service_t *svc, void *arg, char *err, size_t errlen)
{
    runner_t *r = arg;
    if (r->mode == 2) {
        snprintf(err, errlen, "run-test: refusing to start");
        return -1;
    }
    r->svc = svc;
    r->timer = dw_timer_new(dw_service_loop(svc), run_break, r);
    if (r->mode == 0) dw_timer_start(r->timer, 5);
    if (r->mode == 3) dw_service_break(svc); /* before the loop even runs */
    atomic_store(&r->ready, 1);
    return 0;
}

static void run_fini(dw_service_t *svc, void *arg)
{
    runner_t *r = arg;
    dw_timer_free(r->timer);
    r->fini_ran = true;
}

static void *run_thread(void *arg)
{
    runner_t *r = arg;
    dw_service_def_t def = {.name = "run-test", .init = run_init, .fini = run_fini, .arg = r};
    r->rc = dw_service_run(&def);
    return NULL;
}

static void test_service_run(void **state)
{
    (void)state;
    for (int mode = 0; mode < 4; mode++) {
        runner_t r = {.mode = mode};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, run_thread, &r), 0);
        if (mode == 1) {
            int64_t end = now_ms() + WAIT_MS;
            while (!atomic_load(&r.ready) && now_ms() < end) nap();
            assert_true(atomic_load(&r.ready));
            pthread_kill(th, SIGTERM);
        }
        pthread_join(th, NULL);
        assert_int_equal(r.rc, mode == 2 ? 1 : 0);
        assert_int_equal(r.fini_ran, mode != 2);
    }
}

static void test_start_failure_and_ids(void **state)
{
    (void)state;
    runner_t r = {.mode = 2};
    dw_service_def_t def = {.name = "failing", .init = run_init, .arg = &r};
    char err[256] = "";
    assert_null(dw_service_start(&def, err, sizeof err));
    assert_string_equal(err, "run-test: refusing to start");
    /* a handler table with a hole is refused */
    static const dw_bus_handler_t bad[] = {{"a", 2, 1, on_echo}, {NULL, 0, 0, NULL}};
    srv_t t = {.endpoint = "inproc://test-bad", .handlers = bad};
    def = (dw_service_def_t){.name = "bad", .init = srv_init, .arg = &t};
    assert_null(dw_service_start(&def, err, sizeof err));
    assert_non_null(strstr(err, "invalid socket options"));

    uint64_t a = dw_bus_next_id(), b = dw_bus_next_id();
    assert_true(a != 0 && b != 0 && a != b);
}

static int teardown(void **state)
{
    (void)state;
    dw_bus_context_term(); /* hangs if a socket was left open */
    return 0;
}

int main(void)
{
    dw_loop_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inproc_request),
        cmocka_unit_test(test_tcp_request),
        cmocka_unit_test(test_unknown_type_and_version),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_flood),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_close_in_handler),
        cmocka_unit_test(test_rep),
        cmocka_unit_test(test_pub_sub),
        cmocka_unit_test(test_push_pull),
        cmocka_unit_test(test_dealer_in_service),
        cmocka_unit_test(test_ipc),
        cmocka_unit_test(test_service_run),
        cmocka_unit_test(test_start_failure_and_ids),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
