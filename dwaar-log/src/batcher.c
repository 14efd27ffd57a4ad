/* The worker-side batcher (see batcher.h). One msgpack "log.batch" message is built in place:
 * the envelope, the body map header and an array32 header whose count is patched when the
 * batch is sent, then each record packed as it is added. Sending copies the bytes into one
 * ZeroMQ message (ZMQ_DONTWAIT); a refused send drops the whole batch. */
#include <dwaar/base/log.h>
#include <dwaar/bus/bus.h>
#include <dwaar/log/batcher.h>
#include <errno.h>
#include <time.h>
#include <zmq.h>

#define SNDHWM_BATCHES  64           /* batches queued toward logd per worker */
#define LINGER_MS       1000         /* what close may still deliver */
#define BATCH_BYTES_MAX (1u << 20)   /* a batch is sent early above this size */
#define KEEP_BYTES_MAX  (256u << 10) /* a larger buffer is released after sending */

dw_log_counters_t dw_log_counters;

struct dw_log_batcher {
    void *sock;
    dw_timer_t *timer; /* NULL without a loop: batches go by count and flush only */
    dw_bus_writer_t w;
    size_t count_off; /* offset of the array32 header of "records" */
    unsigned n;       /* records in the pending batch */
    unsigned max_records, max_ms;
    dw_buf_t scratch; /* redacted query / referer */
};

static const char *const outputs[] = {"stdout", "stderr", "discard", "file", "unix"};

static uint64_t coarse_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* At most one warning per second for the whole process. */
static void warn_dropped(unsigned n, int err)
{
    static atomic_uint_fast64_t last;
    uint64_t now = coarse_ms() + 1000; /* + 1000: the first warning is never suppressed */
    uint_fast64_t prev = atomic_load_explicit(&last, memory_order_relaxed);
    if (now < prev + 1000 || !atomic_compare_exchange_strong(&last, &prev, now)) return;
    if (err == EAGAIN)
        DW_WARN("log", "log channel full, dropping entry (%u records in this batch)", n);
    else
        DW_WARN("log", "log channel failed (%s), dropping entry (%u records in this batch)",
                zmq_strerror(err), n);
}

static void timer_cb(void *arg)
{
    dw_log_batcher_flush(arg);
}

dw_log_batcher_t *dw_log_batcher_new(dw_loop_t *loop, const char *endpoint, unsigned max_records,
                                     unsigned max_ms)
{
    void *ctx = dw_bus_context();
    if (!ctx || !endpoint) {
        DW_ERROR("log", "access log batcher: no bus context or endpoint");
        return NULL;
    }
    dw_log_batcher_t *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->max_records = max_records ? max_records : DW_LOG_BATCH_RECORDS;
    b->max_ms = max_ms ? max_ms : DW_LOG_BATCH_MS;
    dw_bus_writer_init(&b->w);
    dw_buf_init(&b->scratch, 0);
    b->sock = zmq_socket(ctx, ZMQ_PUSH);
    if (!b->sock) {
        DW_ERROR("log", "access log batcher: cannot create a socket: %s", zmq_strerror(errno));
        goto fail;
    }
    int hwm = SNDHWM_BATCHES, linger = LINGER_MS, immediate = 1;
    zmq_setsockopt(b->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(b->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(b->sock, ZMQ_IMMEDIATE, &immediate, sizeof immediate);
    if (zmq_connect(b->sock, endpoint) != 0) {
        DW_ERROR("log", "access log batcher: cannot connect to %s: %s", endpoint,
                 zmq_strerror(errno));
        goto fail;
    }
    if (loop) {
        b->timer = dw_timer_new(loop, timer_cb, b);
        if (!b->timer) goto fail;
    }
    return b;
fail:
    if (b->sock) zmq_close(b->sock);
    dw_bus_writer_free(&b->w);
    dw_buf_deinit(&b->scratch);
    free(b);
    return NULL;
}

static void batch_begin(dw_log_batcher_t *b)
{
    static const char array32[5] = {(char)0xdd, 0, 0, 0, 0};
    dw_bus_writer_reset(&b->w);
    dw_bus_begin(&b->w, DW_LOG_BATCH_TYPE, DW_LOG_BATCH_VERSION, 0);
    msgpack_pack_map(&b->w.pk, 1);
    dw_mp_str(&b->w.pk, "records", 7);
    b->count_off = b->w.sb.size;
    msgpack_sbuffer_write(&b->w.sb, array32, sizeof array32);
}

static void batch_send(dw_log_batcher_t *b)
{
    if (b->timer) dw_timer_stop(b->timer);
    unsigned n = b->n;
    if (!n) return;
    b->n = 0;
    msgpack_sbuffer *sb = &b->w.sb;
    if (!sb->data || sb->size < b->count_off + 5) {
        atomic_fetch_add(&dw_log_counters.records_dropped, n); /* out of memory while packing */
        return;
    }
    unsigned char *cnt = (unsigned char *)sb->data + b->count_off + 1;
    cnt[0] = (unsigned char)(n >> 24), cnt[1] = (unsigned char)(n >> 16);
    cnt[2] = (unsigned char)(n >> 8), cnt[3] = (unsigned char)n;
    if (zmq_send(b->sock, sb->data, sb->size, ZMQ_DONTWAIT) < 0) {
        int err = errno;
        atomic_fetch_add(&dw_log_counters.records_dropped, n);
        warn_dropped(n, err);
    } else {
        atomic_fetch_add(&dw_log_counters.records_sent, n);
        atomic_fetch_add(&dw_log_counters.batches_sent, 1);
    }
    if (sb->alloc > KEEP_BYTES_MAX) { /* a burst of large records: give the memory back */
        dw_bus_writer_free(&b->w);
        dw_bus_writer_init(&b->w);
    }
}

static void kv_view(msgpack_packer *pk, const char *key, dw_str_t v)
{
    dw_mp_kv_str(pk, key, v.ptr ? v.ptr : "", v.ptr ? v.len : 0);
}

static void pack_dest(msgpack_packer *pk, const dw_cfg_log_t *d)
{
    uint8_t out = d->output < DW_ARRAY_LEN(outputs) ? d->output : DW_CFG_LOG_DISCARD;
    bool has_path = out == DW_CFG_LOG_FILE || out == DW_CFG_LOG_UNIX;
    bool file = out == DW_CFG_LOG_FILE;
    size_t n = 2 + has_path + (file && d->max_size) + (file && d->has_keep);
    msgpack_pack_map(pk, n);
    dw_mp_kv_cstr(pk, "output", outputs[out]);
    if (has_path) kv_view(pk, "path", d->path);
    dw_mp_kv_cstr(pk, "format", d->format == DW_CFG_LOG_CONSOLE ? "console" : "json");
    if (file && d->max_size) dw_mp_kv_uint(pk, "max_size", d->max_size);
    if (file && d->has_keep) dw_mp_kv_uint(pk, "keep", d->keep);
}

/* The fields in spec 30 §2.2 order; what the transforms produce is packed, never the input. */
static void pack_fields(dw_log_batcher_t *b, const dw_log_record_t *r)
{
    msgpack_packer *pk = &b->w.pk;
    bool ua = r->user_agent.ptr != NULL, ref = r->referer.ptr != NULL;
    msgpack_pack_map(pk, 14u + r->has_query + ua + ref);
    char ts[32];
    size_t tl = dw_log_record_timestamp(r->wall_ms, ts);
    dw_mp_kv_str(pk, "timestamp", ts, tl);
    kv_view(pk, "request_id", r->request_id);
    kv_view(pk, "method", r->method);
    kv_view(pk, "path", r->path);
    if (r->has_query) {
        dw_buf_reset(&b->scratch);
        dw_log_record_redact_query(&b->scratch, r->query);
        kv_view(pk, "query", dw_buf_str(&b->scratch));
    }
    kv_view(pk, "host", r->host);
    dw_mp_kv_uint(pk, "status", r->status);
    dw_mp_kv_uint(pk, "response_time_us", r->response_time_us);
    char ip[46];
    size_t il = dw_log_record_anon_ip(r->client_family, r->client_addr, ip);
    dw_mp_kv_str(pk, "client_ip", ip, il);
    if (ua) kv_view(pk, "user_agent", r->user_agent);
    if (ref) {
        dw_buf_reset(&b->scratch);
        dw_log_record_redact_referer(&b->scratch, r->referer);
        kv_view(pk, "referer", dw_buf_str(&b->scratch));
    }
    dw_mp_kv_uint(pk, "bytes_sent", r->bytes_sent);
    dw_mp_kv_uint(pk, "bytes_received", r->bytes_received);
    dw_mp_kv_cstr(pk, "http_version", dw_log_record_http_version(r->http_version));
    dw_mp_kv_bool(pk, "is_bot", r->is_bot);
    kv_view(pk, "upstream_addr", r->upstream_addr);
    dw_mp_kv_uint(pk, "upstream_response_time_us", r->upstream_response_time_us);
}

void dw_log_batcher_add(dw_log_batcher_t *b, const dw_cfg_log_t *dest, const dw_log_record_t *rec)
{
    if (!b || !dest || !rec) return;
    if (b->n == 0) batch_begin(b);
    msgpack_packer *pk = &b->w.pk;
    msgpack_pack_map(pk, 2);
    dw_mp_str(pk, "dest", 4);
    pack_dest(pk, dest);
    dw_mp_str(pk, "fields", 6);
    pack_fields(b, rec);
    b->n++;
    if (b->n >= b->max_records || b->w.sb.size >= BATCH_BYTES_MAX) {
        batch_send(b);
        return;
    }
    if (b->n == 1 && b->timer) dw_timer_start(b->timer, b->max_ms);
}

void dw_log_batcher_flush(dw_log_batcher_t *b)
{
    if (b) batch_send(b);
}

void dw_log_batcher_free(dw_log_batcher_t *b)
{
    if (!b) return;
    batch_send(b);
    zmq_close(b->sock);
    if (b->timer) dw_timer_free(b->timer);
    dw_bus_writer_free(&b->w);
    dw_buf_deinit(&b->scratch);
    free(b);
}
