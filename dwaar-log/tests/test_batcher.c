/* log.batcher: batching by count and by timer, drops when logd is absent or full, the wire
 * format of a record, and the privacy transforms (client_ip, query, referer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <dwaar/bus/bus.h>
#include <dwaar/log/batcher.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

/* --- helpers --------------------------------------------------------------------------------- */

static void *pull_bind(const char *ep, int rcvhwm)
{
    void *s = zmq_socket(dw_bus_context(), ZMQ_PULL);
    assert_non_null(s);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (rcvhwm) zmq_setsockopt(s, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    assert_int_equal(zmq_bind(s, ep), 0);
    return s;
}

/* Receives one message within timeout_ms (generous: never a timing assertion) and decodes
 * it; false when none came. */
static bool recv_batch(void *pull, int timeout_ms, dw_bus_msg_t *out)
{
    zmq_pollitem_t it = {.socket = pull, .events = ZMQ_POLLIN};
    if (zmq_poll(&it, 1, timeout_ms) <= 0) return false;
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_true(zmq_msg_recv(&m, pull, ZMQ_DONTWAIT) >= 0);
    dw_bus_status_t st = dw_bus_decode(zmq_msg_data(&m), zmq_msg_size(&m), 0, out);
    zmq_msg_close(&m);
    assert_int_equal(st, DW_BUS_OK);
    assert_true(dw_str_eq_c(out->type, "log.batch"));
    assert_int_equal(out->version, 1);
    return true;
}

static const msgpack_object *batch_records(const dw_bus_msg_t *m, size_t *n)
{
    const msgpack_object *items;
    assert_true(dw_mp_get_array(m->body, "records", &items, n));
    return items;
}

static dw_str_t field_str(const msgpack_object *rec, const char *key)
{
    const msgpack_object *f = dw_mp_get(rec, "fields");
    assert_non_null(f);
    dw_str_t s = DW_STR_NULL;
    dw_mp_get_str(f, key, &s);
    return s;
}

static void assert_str(dw_str_t s, const char *want)
{
    if (!dw_str_eq_c(s, want)) fail_msg("got '%.*s', want '%s'", DW_STR_FMT(s), want);
}

static dw_log_record_t sample(char *id, unsigned i)
{
    snprintf(id, 37, "01890000-0000-7000-8000-%012u", i);
    dw_log_record_t r = {
        .wall_ms = 1775398981452ull,
        .request_id = dw_str_c(id),
        .method = DW_STR("GET"),
        .path = DW_STR("/a"),
        .host = DW_STR("example.com"),
        .status = 200,
        .response_time_us = 1234,
        .client_family = 4,
        .client_addr = {127, 0, 0, 1},
        .bytes_sent = 5,
        .http_version = DW_LOG_HTTP11,
    };
    return r;
}

static const dw_cfg_log_t stdout_dest = {.output = DW_CFG_LOG_STDOUT};

/* Stops the loop once the pull socket has a message, or after 10 s. */
typedef struct waiter {
    dw_loop_t *loop;
    void *pull;
    dw_timer_t *t;
    unsigned ticks;
} waiter_t;

static void waiter_cb(void *arg)
{
    waiter_t *w = arg;
    zmq_pollitem_t it = {.socket = w->pull, .events = ZMQ_POLLIN};
    if (zmq_poll(&it, 1, 0) > 0 || ++w->ticks > 1000) {
        dw_loop_break(w->loop);
        return;
    }
    dw_timer_start(w->t, 10);
}

static void run_until_message(dw_loop_t *loop, void *pull)
{
    waiter_t w = {.loop = loop, .pull = pull};
    w.t = dw_timer_new(loop, waiter_cb, &w);
    dw_timer_start(w.t, 10);
    dw_loop_run(loop);
    dw_timer_free(w.t);
}

/* --- batching -------------------------------------------------------------------------------- */

static void test_count_then_timer(void **state)
{
    (void)state;
    dw_loop_t *loop = dw_loop_new();
    void *pull = pull_bind("inproc://log-batcher-count", 0);
    dw_log_batcher_t *b = dw_log_batcher_new(loop, "inproc://log-batcher-count", 0, 0);
    assert_non_null(b);
    uint64_t sent0 = atomic_load(&dw_log_counters.records_sent);
    char id[37];
    for (unsigned i = 0; i < 450; i++) {
        dw_log_record_t r = sample(id, i);
        dw_log_batcher_add(b, &stdout_dest, &r);
    }
    /* two full batches went at once, in order */
    unsigned next = 0;
    for (int k = 0; k < 2; k++) {
        dw_bus_msg_t m;
        assert_true(recv_batch(pull, 10000, &m));
        size_t n;
        const msgpack_object *recs = batch_records(&m, &n);
        assert_int_equal(n, 200);
        for (size_t i = 0; i < n; i++, next++) {
            char want[37];
            snprintf(want, sizeof want, "01890000-0000-7000-8000-%012u", next);
            assert_str(field_str(&recs[i], "request_id"), want);
        }
        dw_bus_msg_free(&m);
    }
    /* the last 50 wait for the timer, which only runs with the loop */
    dw_bus_msg_t m;
    assert_false(recv_batch(pull, 0, &m));
    run_until_message(loop, pull);
    assert_true(recv_batch(pull, 10000, &m));
    size_t n;
    const msgpack_object *recs = batch_records(&m, &n);
    assert_int_equal(n, 50);
    assert_str(field_str(&recs[0], "request_id"), "01890000-0000-7000-8000-000000000400");
    assert_str(field_str(&recs[49], "request_id"), "01890000-0000-7000-8000-000000000449");
    dw_bus_msg_free(&m);
    assert_int_equal(atomic_load(&dw_log_counters.records_sent) - sent0, 450);
    dw_log_batcher_free(b);
    zmq_close(pull);
    dw_loop_free(loop);
}

static void test_timer_few(void **state)
{
    (void)state;
    dw_loop_t *loop = dw_loop_new();
    void *pull = pull_bind("inproc://log-batcher-few", 0);
    dw_log_batcher_t *b = dw_log_batcher_new(loop, "inproc://log-batcher-few", 0, 50);
    assert_non_null(b);
    char id[37];
    for (unsigned i = 0; i < 3; i++) {
        dw_log_record_t r = sample(id, i);
        dw_log_batcher_add(b, &stdout_dest, &r);
    }
    run_until_message(loop, pull);
    dw_bus_msg_t m;
    assert_true(recv_batch(pull, 10000, &m));
    size_t n;
    batch_records(&m, &n);
    assert_int_equal(n, 3);
    dw_bus_msg_free(&m);
    /* an empty tick sends nothing; flush of nothing sends nothing */
    dw_log_batcher_flush(b);
    assert_false(recv_batch(pull, 0, &m));
    dw_log_batcher_free(b);
    zmq_close(pull);
    dw_loop_free(loop);
}

static void test_flush_and_free_send_pending(void **state)
{
    (void)state;
    void *pull = pull_bind("inproc://log-batcher-flush", 0);
    dw_log_batcher_t *b = dw_log_batcher_new(NULL, "inproc://log-batcher-flush", 10, 0);
    assert_non_null(b);
    char id[37];
    dw_log_record_t r = sample(id, 1);
    dw_log_batcher_add(b, &stdout_dest, &r);
    dw_log_batcher_flush(b);
    dw_bus_msg_t m;
    assert_true(recv_batch(pull, 10000, &m));
    dw_bus_msg_free(&m);
    for (unsigned i = 0; i < 25; i++) dw_log_batcher_add(b, &stdout_dest, &r); /* 10 + 10 + 5 */
    dw_log_batcher_free(b);
    size_t total = 0;
    for (int k = 0; k < 3; k++) {
        assert_true(recv_batch(pull, 10000, &m));
        size_t n;
        batch_records(&m, &n);
        total += n;
        dw_bus_msg_free(&m);
    }
    assert_int_equal(total, 25);
    zmq_close(pull);
}

/* --- drops ----------------------------------------------------------------------------------- */

/* A port nothing listens on: with ZMQ_IMMEDIATE nothing queues, every batch is dropped at once. */
static void test_logd_absent(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sl), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%u", ntohs(sa.sin_port));
    close(fd); /* bound once, now free: nothing listens there */
    dw_log_batcher_t *b = dw_log_batcher_new(NULL, ep, 0, 0);
    assert_non_null(b);
    uint64_t d0 = atomic_load(&dw_log_counters.records_dropped);
    uint64_t s0 = atomic_load(&dw_log_counters.records_sent);
    char id[37];
    for (unsigned i = 0; i < 1000; i++) {
        dw_log_record_t r = sample(id, i);
        dw_log_batcher_add(b, &stdout_dest, &r); /* never waits for a peer */
    }
    dw_log_batcher_free(b);
    assert_int_equal(atomic_load(&dw_log_counters.records_dropped) - d0, 1000);
    assert_int_equal(atomic_load(&dw_log_counters.records_sent) - s0, 0);
}

/* inproc with nobody bound: ZeroMQ queues toward the future peer up to the high-water mark,
 * then drops. */
static void test_inproc_absent(void **state)
{
    (void)state;
    dw_log_batcher_t *b = dw_log_batcher_new(NULL, "inproc://log-batcher-nobody", 1, 0);
    assert_non_null(b);
    uint64_t d0 = atomic_load(&dw_log_counters.records_dropped);
    uint64_t s0 = atomic_load(&dw_log_counters.records_sent);
    char id[37];
    for (unsigned i = 0; i < 1000; i++) {
        dw_log_record_t r = sample(id, i);
        dw_log_batcher_add(b, &stdout_dest, &r);
    }
    uint64_t dropped = atomic_load(&dw_log_counters.records_dropped) - d0;
    uint64_t sent = atomic_load(&dw_log_counters.records_sent) - s0;
    assert_int_equal(dropped + sent, 1000);
    assert_true(sent <= 200 && dropped >= 800);
    dw_log_batcher_free(b);
}

static void test_hwm_full(void **state)
{
    (void)state;
    void *pull = pull_bind("inproc://log-batcher-full", 1); /* bound, never read */
    dw_log_batcher_t *b = dw_log_batcher_new(NULL, "inproc://log-batcher-full", 1, 0);
    assert_non_null(b);
    uint64_t d0 = atomic_load(&dw_log_counters.records_dropped);
    uint64_t s0 = atomic_load(&dw_log_counters.records_sent);
    char id[37];
    for (unsigned i = 0; i < 1000; i++) {
        dw_log_record_t r = sample(id, i);
        dw_log_batcher_add(b, &stdout_dest, &r); /* one record per batch */
    }
    uint64_t dropped = atomic_load(&dw_log_counters.records_dropped) - d0;
    uint64_t sent = atomic_load(&dw_log_counters.records_sent) - s0;
    assert_int_equal(dropped + sent, 1000);
    assert_true(dropped > 0);
    assert_true(sent > 0 && sent < 200); /* bounded by the high-water marks */
    dw_log_batcher_free(b);
    zmq_close(pull);
}

static void test_null_args(void **state)
{
    (void)state;
    dw_log_batcher_add(NULL, &stdout_dest, NULL);
    dw_log_batcher_flush(NULL);
    dw_log_batcher_free(NULL);
    assert_null(dw_log_batcher_new(NULL, NULL, 0, 0));
    assert_null(dw_log_batcher_new(NULL, "nonsense://x", 0, 0));
}

/* --- the record on the wire ------------------------------------------------------------------ */

static void assert_keys(const msgpack_object *map, const char *const *keys, size_t n)
{
    assert_int_equal(map->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(map->via.map.size, n);
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        assert_int_equal(k->type, MSGPACK_OBJECT_STR);
        if (!dw_str_eq_c(dw_mp_as_str(k), keys[i]))
            fail_msg("key %zu: got '%.*s', want '%s'", i, (int)k->via.str.size, k->via.str.ptr,
                     keys[i]);
    }
}

static void test_record_wire(void **state)
{
    (void)state;
    void *pull = pull_bind("inproc://log-batcher-wire", 0);
    dw_log_batcher_t *b = dw_log_batcher_new(NULL, "inproc://log-batcher-wire", 2, 0);
    assert_non_null(b);
    char id[37];
    dw_log_record_t r = sample(id, 7);
    r.path = DW_STR("/search");
    r.query = DW_STR("q=hello&token=abc&Password=x&key=");
    r.has_query = true;
    r.user_agent = DW_STR("curl/8");
    r.referer = DW_STR("https://p.example/d?token=abc&user=42");
    r.client_family = 6;
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78,
                                   0,    0,    0,    0,    0,    0,    0,    1};
    memcpy(r.client_addr, v6, 16);
    r.upstream_addr = DW_STR("127.0.0.1:9000");
    r.upstream_response_time_us = 99;
    r.bytes_received = 3;
    dw_cfg_log_t file = {.output = DW_CFG_LOG_FILE,
                         .path = DW_STR("/tmp/x.log"),
                         .max_size = 1024,
                         .keep = 2,
                         .has_keep = true};
    dw_log_batcher_add(b, &file, &r);
    dw_log_record_t plain = sample(id, 8); /* no optional field */
    plain.client_family = 0;
    dw_log_batcher_add(b, &stdout_dest, &plain);

    dw_bus_msg_t m;
    assert_true(recv_batch(pull, 10000, &m));
    size_t n;
    const msgpack_object *recs = batch_records(&m, &n);
    assert_int_equal(n, 2);

    static const char *const rec_keys[] = {"dest", "fields"};
    assert_keys(&recs[0], rec_keys, 2);
    const msgpack_object *dest = dw_mp_get(&recs[0], "dest");
    static const char *const file_keys[] = {"output", "path", "format", "max_size", "keep"};
    assert_keys(dest, file_keys, 5);
    dw_str_t s;
    assert_true(dw_mp_get_str(dest, "output", &s));
    assert_str(s, "file");
    assert_true(dw_mp_get_str(dest, "path", &s));
    assert_str(s, "/tmp/x.log");
    assert_true(dw_mp_get_str(dest, "format", &s));
    assert_str(s, "json");

    static const char *const all[] = {"timestamp",
                                      "request_id",
                                      "method",
                                      "path",
                                      "query",
                                      "host",
                                      "status",
                                      "response_time_us",
                                      "client_ip",
                                      "user_agent",
                                      "referer",
                                      "bytes_sent",
                                      "bytes_received",
                                      "http_version",
                                      "is_bot",
                                      "upstream_addr",
                                      "upstream_response_time_us"};
    const msgpack_object *f = dw_mp_get(&recs[0], "fields");
    assert_keys(f, all, DW_ARRAY_LEN(all));
    assert_str(field_str(&recs[0], "timestamp"), "2026-04-05T14:23:01.452Z");
    assert_str(field_str(&recs[0], "path"), "/search");
    assert_str(field_str(&recs[0], "query"), "q=hello&token=REDACTED&Password=REDACTED&key=");
    assert_str(field_str(&recs[0], "client_ip"), "2001:db8:1234::");
    assert_str(field_str(&recs[0], "referer"), "https://p.example/d?token=REDACTED&user=42");
    assert_str(field_str(&recs[0], "http_version"), "HTTP/1.1");
    assert_str(field_str(&recs[0], "upstream_addr"), "127.0.0.1:9000");
    uint64_t u;
    assert_true(dw_mp_get_uint(f, "status", &u));
    assert_int_equal(u, 200);
    assert_true(dw_mp_get_uint(f, "upstream_response_time_us", &u));
    assert_int_equal(u, 99);
    bool bot = true;
    assert_true(dw_mp_get_bool(f, "is_bot", &bot));
    assert_false(bot);

    static const char *const std_keys[] = {"output", "format"};
    assert_keys(dw_mp_get(&recs[1], "dest"), std_keys, 2);
    static const char *const req[] = {"timestamp",
                                      "request_id",
                                      "method",
                                      "path",
                                      "host",
                                      "status",
                                      "response_time_us",
                                      "client_ip",
                                      "bytes_sent",
                                      "bytes_received",
                                      "http_version",
                                      "is_bot",
                                      "upstream_addr",
                                      "upstream_response_time_us"};
    assert_keys(dw_mp_get(&recs[1], "fields"), req, DW_ARRAY_LEN(req));
    assert_str(field_str(&recs[1], "client_ip"), "0.0.0.0");
    assert_str(field_str(&recs[1], "upstream_addr"), "");
    dw_bus_msg_free(&m);
    dw_log_batcher_free(b);
    zmq_close(pull);
}

/* --- privacy transforms (spec 30 §2.3) ------------------------------------------------------- */

static void anon(uint8_t family, const uint8_t *addr, const char *want)
{
    uint8_t a[16] = {0};
    memcpy(a, addr, family == 6 ? 16 : 4);
    char out[46];
    size_t n = dw_log_record_anon_ip(family, a, out);
    assert_int_equal(n, strlen(want));
    assert_string_equal(out, want);
}

static void test_client_ip(void **state)
{
    (void)state;
    anon(4, (const uint8_t[]){203, 0, 113, 42}, "203.0.113.0");
    anon(4, (const uint8_t[]){127, 0, 0, 1}, "127.0.0.0");
    anon(6,
         (const uint8_t[]){0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 0, 0, 0, 1},
         "2001:db8:1234::");
    anon(6, (const uint8_t[]){0x20, 0x01, 0, 0, 0x12, 0x34, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1},
         "2001:0:1234::");
    anon(6, (const uint8_t[]){0x20, 0x01, 0x0d, 0xb8, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
         "2001:db8::");
    anon(6, (const uint8_t[]){0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, "::");
    /* IPv4-mapped: converted to IPv4 first */
    anon(6, (const uint8_t[]){0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 7},
         "198.51.100.0");
    anon(0, (const uint8_t[]){1, 2, 3, 4}, "0.0.0.0");
}

static void redact_q(const char *in, const char *want)
{
    dw_buf_t b = DW_BUF_INIT;
    dw_log_record_redact_query(&b, dw_str_c(in));
    assert_string_equal(b.data ? b.data : "", want);
    dw_buf_deinit(&b);
}

static void redact_ref(const char *in, const char *want)
{
    dw_buf_t b = DW_BUF_INIT;
    dw_log_record_redact_referer(&b, dw_str_c(in));
    assert_string_equal(b.data ? b.data : "", want);
    dw_buf_deinit(&b);
}

static void test_query_redaction(void **state)
{
    (void)state;
    redact_q("q=hello&token=abc123", "q=hello&token=REDACTED");
    redact_q("q=hello&token=abc&Password=x", "q=hello&token=REDACTED&Password=REDACTED");
    redact_q("token=", "token="); /* empty value kept */
    redact_q("token", "token");   /* no '=' */
    redact_q("API_KEY=1&access_token=2&auth=3&secret=4&key=5",
             "API_KEY=REDACTED&access_token=REDACTED&auth=REDACTED&secret=REDACTED&key=REDACTED");
    redact_q("tokens=1&mykey=2", "tokens=1&mykey=2");
    redact_q("&&token=a=b&", "&&token=REDACTED&");
    redact_q("", "");
}

static void test_referer_redaction(void **state)
{
    (void)state;
    redact_ref("https://p.example/d?token=abc&user=42",
               "https://p.example/d?token=REDACTED&user=42");
    redact_ref("https://p.example/d?", "https://p.example/d?");
    redact_ref("https://p.example/", "https://p.example/");
    /* no '?' and longer than 128 bytes: cut to 128 */
    char long_ref[300];
    memset(long_ref, 'a', 200);
    long_ref[200] = '\0';
    dw_buf_t b = DW_BUF_INIT;
    dw_log_record_redact_referer(&b, dw_str_c(long_ref));
    assert_int_equal(b.len, 128);
    dw_buf_deinit(&b);
    /* a 2-byte character across the cut is left out whole */
    memset(long_ref, 'a', 127);
    memcpy(long_ref + 127, "\xc3\xa9zzzz", 7);
    b = (dw_buf_t)DW_BUF_INIT;
    dw_log_record_redact_referer(&b, dw_str_make(long_ref, 134));
    assert_int_equal(b.len, 127);
    dw_buf_deinit(&b);
    /* a 3-byte character ending exactly at 128 is kept */
    memset(long_ref, 'a', 125);
    memcpy(long_ref + 125, "\xe2\x82\xacz", 4);
    b = (dw_buf_t)DW_BUF_INIT;
    dw_log_record_redact_referer(&b, dw_str_make(long_ref, 129));
    assert_int_equal(b.len, 128);
    dw_buf_deinit(&b);
    /* with a '?' the length is kept (the query is redacted instead) */
    memset(long_ref, 'b', 200);
    memcpy(long_ref + 150, "?token=x&", 9);
    b = (dw_buf_t)DW_BUF_INIT;
    dw_log_record_redact_referer(&b, dw_str_make(long_ref, 200));
    assert_true(b.len > 128);
    assert_non_null(strstr(b.data, "?token=REDACTED"));
    dw_buf_deinit(&b);
}

static void test_timestamp(void **state)
{
    (void)state;
    char ts[32];
    assert_int_equal(dw_log_record_timestamp(1775398981452ull, ts), 24);
    assert_string_equal(ts, "2026-04-05T14:23:01.452Z");
    dw_log_record_timestamp(1775398981007ull, ts); /* same second: the cached prefix */
    assert_string_equal(ts, "2026-04-05T14:23:01.007Z");
    dw_log_record_timestamp(0, ts);
    assert_string_equal(ts, "1970-01-01T00:00:00.000Z");
    assert_string_equal(dw_log_record_http_version(DW_LOG_HTTP2), "HTTP/2");
    assert_string_equal(dw_log_record_http_version(DW_LOG_HTTP10), "HTTP/1.0");
    assert_string_equal(dw_log_record_http_version(0), "HTTP/1.1");
}

int main(void)
{
    dw_loop_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_then_timer),
        cmocka_unit_test(test_timer_few),
        cmocka_unit_test(test_flush_and_free_send_pending),
        cmocka_unit_test(test_logd_absent),
        cmocka_unit_test(test_inproc_absent),
        cmocka_unit_test(test_hwm_full),
        cmocka_unit_test(test_null_args),
        cmocka_unit_test(test_record_wire),
        cmocka_unit_test(test_client_ip),
        cmocka_unit_test(test_query_redaction),
        cmocka_unit_test(test_referer_redaction),
        cmocka_unit_test(test_timestamp),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    dw_bus_context_term();
    return rc;
}
