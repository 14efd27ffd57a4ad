/* log.logd: batches to JSON lines (exact text), destinations (file, stdout as a file and as a
 * pipe, discard, unix not yet), malformed bodies, and the service draining on stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "logd_int.h"
#include <dwaar/log/batcher.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dwaar-logd-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++) n += *s == c;
    return n;
}

/* A record as a real batcher packs it: sent through a PULL socket and decoded. */
static dw_log_record_t sample(char *id, unsigned i)
{
    snprintf(id, 37, "01890000-0000-7000-8000-%012u", i);
    dw_log_record_t r = {
        .wall_ms = 1775398981452ull,
        .request_id = dw_str_c(id),
        .method = DW_STR("GET"),
        .path = DW_STR("/a"),
        .query = DW_STR("q=1&token=s3cret"),
        .has_query = true,
        .host = DW_STR("example.com"),
        .status = 200,
        .response_time_us = 1234,
        .client_family = 4,
        .client_addr = {127, 0, 0, 1},
        .user_agent = DW_STR("curl/8 \"x\""),
        .bytes_sent = 5,
        .bytes_received = 0,
        .http_version = DW_LOG_HTTP11,
    };
    return r;
}

#define SAMPLE_LINE(n)                                                                             \
    "{\"timestamp\":\"2026-04-05T14:23:01.452Z\",\"request_id\":\"01890000-0000-7000-8000-"        \
    "00000000000" #n "\",\"method\":\"GET\",\"path\":\"/a\",\"query\":\"q=1&token=REDACTED\","     \
    "\"host\":\"example.com\",\"status\":200,\"response_time_us\":1234,\"client_ip\":"             \
    "\"127.0.0.0\",\"user_agent\":\"curl/8 \\\"x\\\"\",\"bytes_sent\":5,\"bytes_received\":0,"     \
    "\"http_version\":\"HTTP/1.1\",\"is_bot\":false,\"upstream_addr\":\"\","                       \
    "\"upstream_response_time_us\":0}\n"

static void batch_of(const dw_cfg_log_t *dest, unsigned first, unsigned n, dw_bus_msg_t *out)
{
    void *pull = zmq_socket(dw_bus_context(), ZMQ_PULL);
    int linger = 0;
    zmq_setsockopt(pull, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_bind(pull, "inproc://logd-test-batch"), 0);
    dw_log_batcher_t *b = dw_log_batcher_new(NULL, "inproc://logd-test-batch", 1000, 0);
    char id[37];
    for (unsigned i = 0; i < n; i++) {
        dw_log_record_t r = sample(id, first + i);
        dw_log_batcher_add(b, dest, &r);
    }
    dw_log_batcher_free(b);
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_true(zmq_msg_recv(&m, pull, 0) >= 0);
    assert_int_equal(dw_bus_decode(zmq_msg_data(&m), zmq_msg_size(&m), 0, out), DW_BUS_OK);
    zmq_msg_close(&m);
    zmq_unbind(pull, "inproc://logd-test-batch");
    zmq_close(pull);
}

/* --- lines ----------------------------------------------------------------------------------- */

static void test_exact_line_file(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/access.log", tmpdir);
    dw_cfg_log_t dest = {.output = DW_CFG_LOG_FILE, .path = dw_str_c(path)};
    dw_logd_t *ld = dw_logd_new(NULL);
    dw_bus_msg_t m;
    batch_of(&dest, 1, 2, &m);
    uint64_t w0 = atomic_load(&dw_logd_counters.records_written);
    dw_logd_handle_body(ld, m.body);
    dw_bus_msg_free(&m);
    assert_int_equal(atomic_load(&dw_logd_counters.records_written) - w0, 2);
    assert_string_equal(slurp(path), SAMPLE_LINE(1) SAMPLE_LINE(2));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    /* appended, never truncated: a second batch and a second writer with the same path */
    batch_of(&dest, 3, 1, &m);
    dw_logd_handle_body(ld, m.body);
    dw_bus_msg_free(&m);
    dw_cfg_log_t same = {
        .output = DW_CFG_LOG_FILE, .path = dw_str_c(path), .format = DW_CFG_LOG_CONSOLE};
    batch_of(&same, 4, 1, &m);
    dw_logd_handle_body(ld, m.body);
    dw_bus_msg_free(&m);
    assert_int_equal(ld->ndests, 1); /* one writer per distinct path */
    dw_logd_free(ld);
    /* console is not there yet: JSON meanwhile */
    assert_string_equal(slurp(path), SAMPLE_LINE(1) SAMPLE_LINE(2) SAMPLE_LINE(3) SAMPLE_LINE(4));
}

static void json(const char *in, size_t n, const char *want)
{
    dw_buf_t b = DW_BUF_INIT;
    dw_logd_json_str(&b, in, n);
    assert_string_equal(b.data, want);
    dw_buf_deinit(&b);
}

static void test_json_strings(void **state)
{
    (void)state;
    json("", 0, "\"\"");
    json("a\"b\\c\n\r\t", 8, "\"a\\\"b\\\\c\\n\\r\\t\"");
    json("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"");
    json("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 11,
         "\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    /* invalid UTF-8: one U+FFFD per bad byte */
    json("\xff", 1, "\"\\ufffd\"");
    json("\xc3(", 2, "\"\\ufffd(\"");
    json("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");            /* overlong */
    json("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
    json("\xe2\x82", 2, "\"\\ufffd\\ufffd\"");            /* truncated */
    json("a\0b", 3, "\"a\\u0000b\"");
}

/* --- malformed input ------------------------------------------------------------------------- */

typedef struct body {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked up;
} body_t;

static msgpack_packer *body_begin(body_t *b)
{
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
    msgpack_unpacked_init(&b->up);
    return &b->pk;
}

static const msgpack_object *body_end(body_t *b)
{
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&b->up, b->sb.data, b->sb.size, &off),
                     MSGPACK_UNPACK_SUCCESS);
    return &b->up.data;
}

static void body_free(body_t *b)
{
    msgpack_unpacked_destroy(&b->up);
    msgpack_sbuffer_destroy(&b->sb);
}

static void dest_map(msgpack_packer *pk, const char *output, const char *path, const char *fmt)
{
    msgpack_pack_map(pk, 1 + (path != NULL) + (fmt != NULL));
    dw_mp_kv_cstr(pk, "output", output);
    if (path) dw_mp_kv_cstr(pk, "path", path);
    if (fmt) dw_mp_kv_cstr(pk, "format", fmt);
}

static void test_malformed_batches(void **state)
{
    (void)state;
    dw_logd_t *ld = dw_logd_new(NULL);
    uint64_t bm0 = atomic_load(&dw_logd_counters.batches_malformed);
    body_t b;
    msgpack_packer *pk = body_begin(&b);
    msgpack_pack_nil(pk);
    dw_logd_handle_body(ld, body_end(&b));
    body_free(&b);
    pk = body_begin(&b);
    msgpack_pack_map(pk, 0); /* no records */
    dw_logd_handle_body(ld, body_end(&b));
    body_free(&b);
    pk = body_begin(&b);
    msgpack_pack_map(pk, 1);
    dw_mp_kv_uint(pk, "records", 5); /* not an array */
    dw_logd_handle_body(ld, body_end(&b));
    body_free(&b);
    pk = body_begin(&b);
    msgpack_pack_array(pk, 1); /* not a map */
    msgpack_pack_map(pk, 0);
    dw_logd_handle_body(ld, body_end(&b));
    body_free(&b);
    dw_logd_handle_body(ld, NULL);
    assert_int_equal(atomic_load(&dw_logd_counters.batches_malformed) - bm0, 5);
    pk = body_begin(&b);
    msgpack_pack_map(pk, 1);
    dw_mp_str(pk, "records", 7);
    msgpack_pack_array(pk, 0); /* empty: fine */
    dw_logd_handle_body(ld, body_end(&b));
    body_free(&b);
    assert_int_equal(atomic_load(&dw_logd_counters.batches_malformed) - bm0, 5);
    dw_logd_free(ld);
}

static void test_malformed_records(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/mixed.log", tmpdir);
    dw_logd_t *ld = dw_logd_new(NULL);
    uint64_t rm0 = atomic_load(&dw_logd_counters.records_malformed);
    uint64_t w0 = atomic_load(&dw_logd_counters.records_written);
    body_t b;
    msgpack_packer *pk = body_begin(&b);
    msgpack_pack_map(pk, 1);
    dw_mp_str(pk, "records", 7);
    msgpack_pack_array(pk, 14);
    /* 1: not a map */
    msgpack_pack_uint8(pk, 5);
    /* 2: dest not a map */
    msgpack_pack_map(pk, 2);
    dw_mp_kv_uint(pk, "dest", 1);
    dw_mp_str(pk, "fields", 6), msgpack_pack_map(pk, 0);
    /* 3: unknown output */
    msgpack_pack_map(pk, 2);
    dw_mp_str(pk, "dest", 4), dest_map(pk, "nowhere", NULL, NULL);
    dw_mp_str(pk, "fields", 6), msgpack_pack_map(pk, 0);
    /* 4: file without a path */
    msgpack_pack_map(pk, 2);
    dw_mp_str(pk, "dest", 4), dest_map(pk, "file", NULL, NULL);
    dw_mp_str(pk, "fields", 6), msgpack_pack_map(pk, 0);
    /* 5: unknown format */
    msgpack_pack_map(pk, 2);
    dw_mp_str(pk, "dest", 4), dest_map(pk, "stdout", NULL, "xml");
    dw_mp_str(pk, "fields", 6), msgpack_pack_map(pk, 0);
    /* 6: no fields */
    msgpack_pack_map(pk, 1);
    dw_mp_str(pk, "dest", 4), dest_map(pk, "discard", NULL, NULL);
    /* 7-10: values a line cannot carry: nil, float, array; a non-string key */
    msgpack_pack_map(pk, 2);
    dw_mp_str(pk, "dest", 4), dest_map(pk, "file", path, NULL);
    dw_mp_str(pk, "fields", 6), msgpack_pack_map(pk, 2);
    dw_mp_kv_cstr(pk, "ok", "x");
    dw_mp_kv_nil(pk, "a");
    msgpack_pack_map(pk, 2);
    dw_mp_str(pk, "dest", 4), dest_map(pk, "file", path, NULL);
    dw_mp_str(pk, "fields", 6), msgpack_pack_map(pk, 1);
    dw_mp_str(pk, "a", 1), msgpack_pack_double(pk, 1.5);
    msgpack_pack_map(pk, 2);
    dw_mp_str(pk, "dest", 4), dest_map(pk, "discard", NULL, NULL);
    dw_mp_str(pk, "fields", 6), msgpack_pack_map(pk, 1);
    dw_mp_str(pk, "a", 1), msgpack_pack_array(pk, 1), msgpack_pack_uint8(pk, 1);
    msgpack_pack_map(pk, 2);
    dw_mp_str(pk, "dest", 4), dest_map(pk, "file", path, NULL);
    dw_mp_str(pk, "fields", 6), msgpack_pack_map(pk, 1);
    msgpack_pack_uint8(pk, 1), dw_mp_str(pk, "x", 1);
    /* 11: fields not a map */
    msgpack_pack_map(pk, 2);
    dw_mp_str(pk, "dest", 4), dest_map(pk, "file", path, NULL);
    dw_mp_kv_cstr(pk, "fields", "nope");
    /* 12-13: good ones, to a file and to discard */
    msgpack_pack_map(pk, 2);
    dw_mp_str(pk, "dest", 4), dest_map(pk, "file", path, "json");
    dw_mp_str(pk, "fields", 6), msgpack_pack_map(pk, 3);
    dw_mp_kv_cstr(pk, "a", "b");
    dw_mp_kv_int(pk, "n", -3);
    dw_mp_kv_bool(pk, "t", true);
    msgpack_pack_map(pk, 2);
    dw_mp_str(pk, "dest", 4), dest_map(pk, "discard", NULL, NULL);
    dw_mp_str(pk, "fields", 6), msgpack_pack_map(pk, 1);
    dw_mp_kv_uint(pk, "n", 18446744073709551615ull);
    /* 14: a path with a NUL byte */
    msgpack_pack_map(pk, 2);
    dw_mp_str(pk, "dest", 4);
    msgpack_pack_map(pk, 2);
    dw_mp_kv_cstr(pk, "output", "file");
    dw_mp_kv_str(pk, "path", "/tmp/a\0b", 8);
    dw_mp_str(pk, "fields", 6), msgpack_pack_map(pk, 0);

    dw_logd_handle_body(ld, body_end(&b));
    body_free(&b);
    assert_int_equal(atomic_load(&dw_logd_counters.records_malformed) - rm0, 12);
    assert_int_equal(atomic_load(&dw_logd_counters.records_written) - w0, 2);
    dw_logd_free(ld);
    assert_string_equal(slurp(path), "{\"a\":\"b\",\"n\":-3,\"t\":true}\n");
}

/* --- destinations ---------------------------------------------------------------------------- */

static void test_discard_and_unix(void **state)
{
    (void)state;
    dw_logd_t *ld = dw_logd_new(NULL);
    uint64_t w0 = atomic_load(&dw_logd_counters.records_written);
    uint64_t d0 = atomic_load(&dw_logd_counters.records_dropped);
    dw_bus_msg_t m;
    dw_cfg_log_t discard = {.output = DW_CFG_LOG_DISCARD};
    batch_of(&discard, 0, 3, &m);
    dw_logd_handle_body(ld, m.body);
    dw_bus_msg_free(&m);
    assert_int_equal(atomic_load(&dw_logd_counters.records_written) - w0, 3);
    dw_cfg_log_t unix_out = {.output = DW_CFG_LOG_UNIX, .path = DW_STR("/tmp/nope.sock")};
    batch_of(&unix_out, 0, 2, &m);
    dw_logd_handle_body(ld, m.body);
    dw_bus_msg_free(&m);
    assert_int_equal(atomic_load(&dw_logd_counters.records_dropped) - d0, 2);
    /* a file that cannot be opened: dropped and counted, retried later */
    dw_cfg_log_t bad = {.output = DW_CFG_LOG_FILE, .path = DW_STR("/nonexistent-dir/x/a.log")};
    batch_of(&bad, 0, 4, &m);
    dw_logd_handle_body(ld, m.body);
    dw_bus_msg_free(&m);
    assert_int_equal(atomic_load(&dw_logd_counters.records_dropped) - d0, 6);
    dw_logd_free(ld);
}

/* Runs fn with fd 1 pointing at fd; restores it. */
static void with_stdout(int fd, void (*fn)(void *), void *arg)
{
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    assert_true(saved >= 0);
    dup2(fd, STDOUT_FILENO);
    fn(arg);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
}

static void stdout_batch(void *arg)
{
    dw_logd_t *ld = arg;
    dw_cfg_log_t dest = {.output = DW_CFG_LOG_STDOUT};
    dw_bus_msg_t m;
    batch_of(&dest, 5, 2, &m);
    dw_logd_handle_body(ld, m.body);
    dw_bus_msg_free(&m);
    dw_logd_free(ld); /* drops its hold on the redirected fd */
}

static void test_stdout_file(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/stdout.txt", tmpdir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    with_stdout(fd, stdout_batch, dw_logd_new(NULL));
    close(fd);
    assert_string_equal(slurp(path), SAMPLE_LINE(5) SAMPLE_LINE(6));
}

typedef struct pipe_case {
    dw_logd_t *ld;
    int rfd;
    uint64_t dropped;
    size_t bytes;
    bool lines_whole;
} pipe_case_t;

static void pipe_batches(void *arg)
{
    pipe_case_t *pc = arg;
    dw_cfg_log_t dest = {.output = DW_CFG_LOG_STDOUT};
    uint64_t d0 = atomic_load(&dw_logd_counters.records_dropped);
    /* nobody reads: the pipe fills, the rest waits (bounded), then records are dropped; no
     * call blocks */
    for (unsigned k = 0; k < 10; k++) {
        dw_bus_msg_t m;
        batch_of(&dest, 0, 200, &m);
        dw_logd_handle_body(pc->ld, m.body);
        dw_bus_msg_free(&m);
    }
    pc->dropped = atomic_load(&dw_logd_counters.records_dropped) - d0;
    assert_int_equal(pc->ld->dests[0]->mode, W_NONBLOCK);
    /* now read everything; the logd writes what it kept as the pipe empties */
    static char buf[1 << 20];
    size_t n = 0;
    for (int idle = 0; idle < 3;) {
        dw_logd_flush(pc->ld);
        ssize_t r = read(pc->rfd, buf + n, sizeof buf - 1 - n);
        if (r > 0) {
            n += (size_t)r;
            idle = 0;
        } else {
            idle++;
        }
    }
    buf[n] = '\0';
    pc->bytes = n;
    /* only whole lines came out */
    pc->lines_whole = n > 0 && buf[n - 1] == '\n';
    for (char *p = buf; pc->lines_whole && *p; p = strchr(p, '\n') + 1)
        if (strncmp(p, "{\"timestamp\":", 13) != 0) pc->lines_whole = false;
    dw_logd_free(pc->ld);
}

static void test_stdout_pipe(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    dw_logd_opts_t o = {.pending_max = 128 << 10};
    pipe_case_t pc = {.ld = dw_logd_new(&o), .rfd = p[0]};
    with_stdout(p[1], pipe_batches, &pc);
    close(p[1]);
    close(p[0]);
    assert_true(pc.dropped > 0);
    assert_true(pc.lines_whole);
    assert_true(pc.bytes > 64 << 10);
}

/* --- the service ----------------------------------------------------------------------------- */

static void test_service_drains_on_stop(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/svc.log", tmpdir);
    dw_logd_opts_t o = {.endpoint = "inproc://logd-test-svc"};
    dw_service_def_t def = dw_logd_service(&o);
    char err[256];
    dw_service_t *svc = dw_service_start(&def, err, sizeof err);
    assert_non_null(svc);
    dw_log_batcher_t *b = dw_log_batcher_new(NULL, "inproc://logd-test-svc", 0, 0);
    assert_non_null(b);
    dw_cfg_log_t dest = {.output = DW_CFG_LOG_FILE, .path = dw_str_c(path)};
    char id[37];
    for (unsigned i = 0; i < 450; i++) {
        dw_log_record_t r = sample(id, i);
        dw_log_batcher_add(b, &dest, &r);
    }
    dw_log_batcher_free(b); /* sends the last 50 */
    dw_service_stop(svc);   /* what is queued is written before it returns */
    const char *text = slurp(path);
    assert_non_null(text);
    assert_int_equal(count_char(text, '\n'), 450);
    assert_non_null(strstr(text, "01890000-0000-7000-8000-000000000449"));
}

static void test_service_bad_endpoint(void **state)
{
    (void)state;
    dw_logd_opts_t o = {.endpoint = "nonsense://x"};
    dw_service_def_t def = dw_logd_service(&o);
    char err[256] = "";
    assert_null(dw_service_start(&def, err, sizeof err));
    assert_true(err[0] != '\0');
    dw_logd_opts_t none = {0};
    def = dw_logd_service(&none);
    assert_null(dw_service_start(&def, err, sizeof err));
}

int main(void)
{
    dw_loop_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_line_file),      cmocka_unit_test(test_json_strings),
        cmocka_unit_test(test_malformed_batches),    cmocka_unit_test(test_malformed_records),
        cmocka_unit_test(test_discard_and_unix),     cmocka_unit_test(test_stdout_file),
        cmocka_unit_test(test_stdout_pipe),          cmocka_unit_test(test_service_drains_on_stop),
        cmocka_unit_test(test_service_bad_endpoint),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    dw_bus_context_term();
    return rc;
}
