/* logd (see logd.h): decodes "log.batch" bodies and writes JSON lines per destination. */
#include "logd_int.h"
#include <dwaar/base/log.h>
#include <dwaar/base/time.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define DRAIN_MS_DEFAULT    200u
#define RCVHWM_DEFAULT      64
#define PENDING_MAX_DEFAULT (4u << 20)
#define MAX_MSG             (16u << 20) /* a batch is at most ~1 MiB (batcher.c) */
#define DESTS_MAX           4096u       /* distinct destinations; more are refused */
#define KEEP_BYTES_MAX      (1u << 20)  /* an output buffer above this is released when empty */
#define REOPEN_MS           1000u       /* a file that failed to open is retried this often */

dw_logd_counters_t dw_logd_counters;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A warning at most every 5 s per destination (n counts what was suppressed meanwhile). */
static bool warn_ok(dw_logd_dest_t *d)
{
    uint64_t now = now_ms();
    if (d->warned_ms && now - d->warned_ms < 5000) return false;
    d->warned_ms = now;
    return true;
}

static const char *dest_name(const dw_logd_dest_t *d)
{
    switch (d->output) {
    case DW_CFG_LOG_STDOUT: return "stdout";
    case DW_CFG_LOG_STDERR: return "stderr";
    case DW_CFG_LOG_DISCARD: return "discard";
    default: return d->path ? d->path : "?";
    }
}

/* --- JSON lines ------------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p (n bytes available), 0 when invalid (RFC 3629:
 * no overlongs, no surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    return len;
}

void dw_logd_json_str(dw_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    dw_buf_putc(b, '"');
    size_t run = 0; /* bytes copied as they are, appended in runs */
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t take = 1;
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            run++, i++;
            continue;
        }
        if (c >= 0x80 && (take = utf8_len(p + i, n - i)) != 0) {
            run += take, i += take;
            continue;
        }
        if (run) dw_buf_append(b, p + i - run, run), run = 0;
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        switch (c) {
        case '"': dw_buf_append(b, "\\\"", 2); break;
        case '\\': dw_buf_append(b, "\\\\", 2); break;
        case '\n': dw_buf_append(b, "\\n", 2); break;
        case '\r': dw_buf_append(b, "\\r", 2); break;
        case '\t': dw_buf_append(b, "\\t", 2); break;
        default:
            if (c >= 0x80)
                dw_buf_append(b, "\\ufffd", 6); /* not UTF-8: one replacement per byte */
            else
                dw_buf_append(b, esc, sizeof esc);
        }
        i++;
    }
    if (run) dw_buf_append(b, p + n - run, run);
    dw_buf_putc(b, '"');
}

/* One record's fields as a compact JSON object line, keys in the order received. Returns
 * false (and leaves b as it was) when a key or value has a type a line cannot carry. */
bool dw_logd_json_line(dw_buf_t *b, const msgpack_object *fields)
{
    if (fields->type != MSGPACK_OBJECT_MAP) return false;
    size_t start = b->len;
    dw_buf_putc(b, '{');
    const msgpack_object_map *m = &fields->via.map;
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR || k->via.str.size == 0) goto bad;
        if (i) dw_buf_putc(b, ',');
        dw_logd_json_str(b, k->via.str.ptr, k->via.str.size);
        dw_buf_putc(b, ':');
        switch (v->type) {
        case MSGPACK_OBJECT_STR: dw_logd_json_str(b, v->via.str.ptr, v->via.str.size); break;
        case MSGPACK_OBJECT_POSITIVE_INTEGER: dw_buf_append_u64(b, v->via.u64); break;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            dw_buf_putc(b, '-');
            dw_buf_append_u64(b, (uint64_t)0 - (uint64_t)v->via.i64);
            break;
        case MSGPACK_OBJECT_BOOLEAN: dw_buf_append_c(b, v->via.boolean ? "true" : "false"); break;
        default: goto bad; /* nil, float, bin, array, map, ext: never sent by a batcher */
        }
    }
    dw_buf_append(b, "}\n", 2);
    if (!b->failed) return true;
bad:
    b->len = start;
    if (b->data) b->data[start] = '\0';
    b->failed = 0;
    return false;
}

/* --- destinations ---------------------------------------------------------------------------- */

static size_t count_lines(const char *p, size_t n)
{
    size_t k = 0;
    for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++) k++;
    return k;
}

/* Drops what d has not written yet (counted as records). */
static void dest_drop_pending(dw_logd_dest_t *d)
{
    size_t lost = count_lines(d->out.data + d->off, d->out.len - d->off);
    if (lost) atomic_fetch_add(&dw_logd_counters.records_dropped, lost);
    d->off = 0;
    dw_buf_reset(&d->out);
}

static void dest_close(dw_logd_dest_t *d)
{
    if (d->io) {
        dw_io_free(d->io);
        d->io = NULL;
    }
    d->waiting = false;
    if (d->own_fd && d->fd >= 0) close(d->fd);
    d->fd = -1;
    d->own_fd = false;
    d->opened = false;
}

/* stdout/stderr: a pipe is reopened as our own non-blocking open file description (the shared
 * one stays as it is for everyone else), a socket is written with MSG_DONTWAIT; files and
 * terminals are written with plain blocking writes. */
static void dest_open_std(dw_logd_dest_t *d, int fd)
{
    d->fd = fd;
    d->mode = W_BLOCK;
    d->opened = true;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        d->fd = -1; /* closed: every record is dropped */
        return;
    }
    if (S_ISFIFO(st.st_mode)) {
        char p[40];
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        int nfd = open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (nfd >= 0) d->fd = nfd, d->own_fd = true, d->mode = W_NONBLOCK;
    } else if (S_ISSOCK(st.st_mode)) {
        d->mode = W_SOCKET;
    }
}

static bool dest_open(dw_logd_t *ld, dw_logd_dest_t *d)
{
    (void)ld;
    if (d->opened) return d->fd >= 0;
    switch (d->output) {
    case DW_CFG_LOG_STDOUT: dest_open_std(d, STDOUT_FILENO); break;
    case DW_CFG_LOG_STDERR: dest_open_std(d, STDERR_FILENO); break;
    case DW_CFG_LOG_FILE: {
        uint64_t now = now_ms();
        if (d->open_failed_ms && now - d->open_failed_ms < REOPEN_MS) return false;
        int fd = open(d->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            d->open_failed_ms = now;
            if (warn_ok(d)) DW_WARN("logd", "cannot open %s: %s", d->path, strerror(errno));
            return false;
        }
        d->open_failed_ms = 0;
        d->fd = fd, d->own_fd = true, d->mode = W_BLOCK, d->opened = true;
        break;
    }
    default: return false;
    }
    return d->fd >= 0;
}

/* Writes d's pending bytes: 1 = all written, 0 = the fd is full (non-blocking destinations
 * only), -1 = failed (what was pending is dropped and counted). */
static int dest_write_some(dw_logd_dest_t *d)
{
    while (d->off < d->out.len) {
        const char *p = d->out.data + d->off;
        size_t n = d->out.len - d->off;
        ssize_t w;
        if (d->mode == W_SOCKET) {
            w = send(d->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w < 0 && errno == ENOTSOCK) {
                d->mode = W_BLOCK;
                continue;
            }
        } else {
            w = write(d->fd, p, n);
        }
        if (w > 0) {
            d->off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && d->mode != W_BLOCK) {
            /* keep only what is still to write, so a reader that is always a little behind
             * never makes the buffer grow past pending_max */
            if (d->off) {
                memmove(d->out.data, d->out.data + d->off, d->out.len - d->off);
                d->out.len -= d->off;
                d->out.data[d->out.len] = '\0';
                d->off = 0;
            }
            return 0;
        }
        if (warn_ok(d))
            DW_WARN("logd", "cannot write to %s: %s; records dropped", dest_name(d),
                    w < 0 ? strerror(errno) : "nothing written");
        dest_drop_pending(d);
        if (d->output == DW_CFG_LOG_FILE) dest_close(d); /* reopened on the next batch */
        return -1;
    }
    d->off = 0;
    dw_buf_reset(&d->out);
    if (d->out.cap > KEEP_BYTES_MAX) {
        dw_buf_deinit(&d->out);
        dw_buf_init(&d->out, 0);
    }
    return 1;
}

static void dest_io_cb(int fd, int events, void *arg);

/* Writes what the destination takes now; a full non-blocking fd is waited for on the loop. */
static void dest_write(dw_logd_t *ld, dw_logd_dest_t *d)
{
    int rc = dest_write_some(d);
    if (rc == 0) {
        if (!ld->loop) return; /* no loop (tests): the next flush tries again */
        if (!d->io) d->io = dw_io_new(ld->loop, d->fd, dest_io_cb, d);
        if (d->io) {
            dw_io_want(d->io, false, true);
            d->waiting = true;
            return;
        }
        dest_drop_pending(d);
    }
    if (d->waiting && d->io) dw_io_want(d->io, false, false);
    d->waiting = false;
}

static void dest_io_cb(int fd, int events, void *arg)
{
    (void)fd, (void)events;
    dw_logd_dest_t *d = arg;
    dest_write(d->ld, d);
}

static bool dest_is(const dw_logd_dest_t *d, uint8_t output, dw_str_t path)
{
    if (d->output != output) return false;
    if (output != DW_CFG_LOG_FILE && output != DW_CFG_LOG_UNIX) return true;
    return strlen(d->path) == path.len && memcmp(d->path, path.ptr, path.len) == 0;
}

dw_logd_dest_t *dw_logd_dest_get(dw_logd_t *ld, uint8_t output, dw_str_t path)
{
    /* the records of a batch mostly share a destination */
    if (ld->last && dest_is(ld->last, output, path)) return ld->last;
    for (size_t i = 0; i < ld->ndests; i++) {
        if (dest_is(ld->dests[i], output, path)) return ld->last = ld->dests[i];
    }
    if (ld->ndests >= DESTS_MAX) return NULL;
    if (ld->ndests == ld->dests_cap) {
        size_t ncap = ld->dests_cap ? ld->dests_cap * 2 : 8;
        dw_logd_dest_t **nd = realloc(ld->dests, ncap * sizeof *nd);
        if (!nd) return NULL;
        ld->dests = nd, ld->dests_cap = ncap;
    }
    dw_logd_dest_t *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->ld = ld;
    d->output = output;
    d->fd = -1;
    dw_buf_init(&d->out, 0);
    if (output == DW_CFG_LOG_FILE || output == DW_CFG_LOG_UNIX) {
        d->path = malloc(path.len + 1);
        if (!d->path) {
            free(d);
            return NULL;
        }
        memcpy(d->path, path.ptr, path.len);
        d->path[path.len] = '\0';
    }
    ld->dests[ld->ndests++] = d;
    return ld->last = d;
}

static void dest_free(dw_logd_dest_t *d)
{
    dest_close(d);
    dw_buf_deinit(&d->out);
    free(d->path);
    free(d);
}

/* --- batches --------------------------------------------------------------------------------- */

static bool output_kind(dw_str_t s, uint8_t *out)
{
    static const char *const kinds[] = {"stdout", "stderr", "discard", "file", "unix"};
    for (size_t i = 0; i < DW_ARRAY_LEN(kinds); i++)
        if (dw_str_eq_c(s, kinds[i])) {
            *out = (uint8_t)i;
            return true;
        }
    return false;
}

static void record_malformed(void)
{
    atomic_fetch_add(&dw_logd_counters.records_malformed, 1);
}

static void handle_record(dw_logd_t *ld, const msgpack_object *rec)
{
    if (rec->type != MSGPACK_OBJECT_MAP) return record_malformed();
    const msgpack_object *dest = dw_mp_get(rec, "dest");
    const msgpack_object *fields = dw_mp_get(rec, "fields");
    dw_str_t output, path = DW_STR_NULL, format = DW_STR("json");
    uint8_t kind;
    if (!dest || dest->type != MSGPACK_OBJECT_MAP || !fields ||
        fields->type != MSGPACK_OBJECT_MAP || !dw_mp_get_str(dest, "output", &output) ||
        !output_kind(output, &kind))
        return record_malformed();
    if (dw_mp_get(dest, "format") && !dw_mp_get_str(dest, "format", &format))
        return record_malformed();
    if (!dw_str_eq_c(format, "json") && !dw_str_eq_c(format, "console")) return record_malformed();
    if (kind == DW_CFG_LOG_FILE || kind == DW_CFG_LOG_UNIX) {
        if (!dw_mp_get_str(dest, "path", &path) || !path.len || memchr(path.ptr, 0, path.len))
            return record_malformed();
    }
    dw_logd_dest_t *d = dw_logd_dest_get(ld, kind, path);
    if (!d) {
        atomic_fetch_add(&dw_logd_counters.records_dropped, 1);
        return;
    }
    if (kind == DW_CFG_LOG_UNIX) {
        /* the unix socket sink arrives with the observability issue */
        if (warn_ok(d))
            DW_WARN("logd", "output unix %s is not supported yet; records dropped", d->path);
        atomic_fetch_add(&dw_logd_counters.records_dropped, 1);
        return;
    }
    if (kind == DW_CFG_LOG_DISCARD) {
        /* built and dropped: the record is still checked */
        size_t len = ld->scratch.len;
        bool ok = dw_logd_json_line(&ld->scratch, fields);
        ld->scratch.len = len;
        if (!ok) return record_malformed();
        atomic_fetch_add(&dw_logd_counters.records_written, 1);
        return;
    }
    if (d->out.len - d->off >= ld->pending_max) {
        /* a non-blocking destination that does not keep up */
        if (warn_ok(d)) DW_WARN("logd", "%s is not keeping up; dropping records", dest_name(d));
        atomic_fetch_add(&dw_logd_counters.records_dropped, 1);
        return;
    }
    /* format console arrives with the observability issue: JSON meanwhile */
    if (!dw_logd_json_line(&d->out, fields)) return record_malformed();
    atomic_fetch_add(&dw_logd_counters.records_written, 1);
}

void dw_logd_handle_body(dw_logd_t *ld, const msgpack_object *body)
{
    atomic_fetch_add(&dw_logd_counters.batches, 1);
    const msgpack_object *recs;
    size_t n;
    if (!body || body->type != MSGPACK_OBJECT_MAP || !dw_mp_get_array(body, "records", &recs, &n)) {
        atomic_fetch_add(&dw_logd_counters.batches_malformed, 1);
        return;
    }
    for (size_t i = 0; i < n; i++) handle_record(ld, &recs[i]);
    dw_logd_flush(ld);
}

void dw_logd_flush(dw_logd_t *ld)
{
    for (size_t i = 0; i < ld->ndests; i++) {
        dw_logd_dest_t *d = ld->dests[i];
        if (d->off >= d->out.len || d->waiting) continue; /* nothing new, or waiting for the fd */
        if (!dest_open(ld, d)) {
            dest_drop_pending(d);
            continue;
        }
        dest_write(ld, d);
    }
}

static void on_batch(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *msg,
                     void *arg)
{
    (void)s, (void)from;
    dw_logd_handle_body(arg, msg->body);
}

/* --- the service ----------------------------------------------------------------------------- */

void dw_logd_free(dw_logd_t *ld)
{
    if (!ld) return;
    for (size_t i = 0; i < ld->ndests; i++) dest_free(ld->dests[i]);
    free(ld->dests);
    dw_buf_deinit(&ld->scratch);
    free(ld->endpoint);
    free(ld);
}

dw_logd_t *dw_logd_new(const dw_logd_opts_t *opts)
{
    dw_logd_t *ld = calloc(1, sizeof *ld);
    if (!ld) return NULL;
    if (opts && opts->endpoint) {
        ld->endpoint = strdup(opts->endpoint);
        if (!ld->endpoint) {
            free(ld);
            return NULL;
        }
    }
    ld->drain_ms = opts && opts->drain_ms ? opts->drain_ms : DRAIN_MS_DEFAULT;
    ld->rcvhwm = opts && opts->rcvhwm > 0 ? opts->rcvhwm : RCVHWM_DEFAULT;
    ld->pending_max = opts && opts->pending_max ? opts->pending_max : PENDING_MAX_DEFAULT;
    dw_buf_init(&ld->scratch, 0);
    return ld;
}

static int logd_init(dw_service_t *svc, void *arg, char *err, size_t errlen)
{
    static const dw_bus_handler_t handlers[] = {
        {DW_LOG_BATCH_TYPE, DW_LOG_BATCH_VERSION, DW_LOG_BATCH_VERSION, on_batch},
        {NULL, 0, 0, NULL},
    };
    dw_logd_t *ld = arg;
    if (!ld || !ld->endpoint) {
        snprintf(err, errlen, "logd: %s", ld ? "no endpoint to bind" : "out of memory");
        dw_logd_free(ld);
        return -1;
    }
    ld->loop = dw_service_loop(svc);
    dw_bus_sock_opts_t o = {
        .zmq_type = ZMQ_PULL,
        .endpoint = ld->endpoint,
        .bind = true,
        .handlers = handlers,
        .arg = ld,
        .max_msg = MAX_MSG,
        .rcvhwm = ld->rcvhwm,
    };
    ld->sock = dw_bus_open(svc, &o, err, errlen);
    if (!ld->sock) {
        dw_logd_free(ld);
        return -1;
    }
    /* a reader that went away is an EPIPE for this thread, never a process-killing signal */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    return 0;
}

/* On stop: what is queued on the socket is still written, within drain_ms. */
static void drain(dw_logd_t *ld)
{
    void *raw = dw_bus_sock_raw(ld->sock);
    uint64_t deadline = now_ms() + ld->drain_ms;
    while (raw) {
        uint64_t now = now_ms();
        if (now >= deadline) break;
        /* what is already queued, plus what is in flight from a batcher flushed just now */
        zmq_pollitem_t it = {.socket = raw, .events = ZMQ_POLLIN};
        long wait = (long)(deadline - now < 20 ? deadline - now : 20);
        if (zmq_poll(&it, 1, wait) <= 0 || !(it.revents & ZMQ_POLLIN)) break;
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, raw, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        dw_bus_msg_t msg;
        if (dw_bus_decode(zmq_msg_data(&m), zmq_msg_size(&m), MAX_MSG, &msg) == DW_BUS_OK) {
            if (dw_str_eq_c(msg.type, DW_LOG_BATCH_TYPE) && msg.version == DW_LOG_BATCH_VERSION)
                dw_logd_handle_body(ld, msg.body);
            dw_bus_msg_free(&msg);
        }
        zmq_msg_close(&m);
    }
    /* non-blocking destinations: wait for them until the deadline, then give up */
    for (size_t i = 0; i < ld->ndests; i++) {
        dw_logd_dest_t *d = ld->dests[i];
        if (d->io) {
            dw_io_free(d->io); /* the loop has stopped: written directly from here on */
            d->io = NULL;
        }
        d->waiting = false;
        while (d->off < d->out.len && d->fd >= 0 && dest_write_some(d) == 0) {
            uint64_t now = now_ms();
            if (now >= deadline) break;
            struct pollfd p = {.fd = d->fd, .events = POLLOUT};
            if (poll(&p, 1, (int)(deadline - now)) <= 0) break;
        }
        if (d->off < d->out.len) dest_drop_pending(d);
    }
}

static void logd_fini(dw_service_t *svc, void *arg)
{
    (void)svc;
    dw_logd_t *ld = arg;
    if (!ld) return;
    if (ld->sock) {
        drain(ld);
        dw_bus_close(ld->sock);
        ld->sock = NULL;
    }
    dw_logd_free(ld);
}

dw_service_def_t dw_logd_service(const dw_logd_opts_t *opts)
{
    return (dw_service_def_t){
        .name = "logd",
        .init = logd_init,
        .fini = logd_fini,
        .arg = dw_logd_new(opts),
    };
}
