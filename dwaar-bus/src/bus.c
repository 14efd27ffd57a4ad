/* ZeroMQ sockets on a dw_loop, the service runner, and the one-shot request client.
 *
 * ZMQ_FD is an edge signal, not a level: it fires when the socket's command mailbox gets
 * something, and any zmq_send/zmq_recv on the socket may consume that edge while leaving
 * messages queued. So a socket is drained (bounded batches, re-armed through a zero-delay
 * timer) whenever its fd fires, and after every send the runner asks ZMQ_EVENTS whether
 * input is waiting and schedules a drain if so. */
#include "msg_int.h"

#include <dwaar/bus/bus.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* Messages handled per wakeup before the socket yields to the rest of the loop. */
#define DRAIN_BATCH 256
/* Milliseconds a closing socket may spend flushing queued output; bounded so that closing
 * and zmq_ctx_term never hang on an absent peer. */
#define LINGER_MS 100
/* How long a bind keeps retrying "address in use": ZeroMQ closes listeners (and, for inproc,
 * forgets names) on its own threads after zmq_close returns, so a service restarted at once
 * could otherwise find its own old endpoint still taken. */
#define REBIND_MS 250

/* --- the process context ------------------------------------------------------------------ */

static pthread_mutex_t ctx_mu = PTHREAD_MUTEX_INITIALIZER;
static void *ctx;

void *dw_bus_context(void)
{
    pthread_mutex_lock(&ctx_mu);
    if (!ctx) ctx = zmq_ctx_new();
    void *c = ctx;
    pthread_mutex_unlock(&ctx_mu);
    return c;
}

void dw_bus_context_term(void)
{
    pthread_mutex_lock(&ctx_mu);
    void *c = ctx;
    ctx = NULL;
    pthread_mutex_unlock(&ctx_mu);
    if (c) zmq_ctx_term(c);
}

uint64_t dw_bus_next_id(void)
{
    static atomic_uint_fast64_t counter;
    for (;;) {
        /* pid in the high half: two processes talking to one endpoint rarely collide */
        uint64_t n = (uint64_t)atomic_fetch_add(&counter, 1) + 1;
        uint64_t id = ((uint64_t)(uint32_t)getpid() << 32) ^ n;
        if (id != 0) return id;
    }
}

/* --- services and sockets ----------------------------------------------------------------- */

enum { PHASE_STARTING, PHASE_RUNNING, PHASE_FAILED };

struct dw_service {
    dw_service_def_t def;
    dw_loop_t *loop;
    dw_async_t *wake;     /* dw_service_stop from another thread */
    dw_signal_t *sigs[2]; /* dw_service_run: SIGTERM, SIGINT */
    dw_bus_sock_t *socks; /* open sockets, closed at the end if fini left any */
    pthread_t thread;
    pthread_t owner; /* the thread running the loop, set by that thread (debug checks) */
    bool threaded;
    bool broke; /* dw_service_break before the loop ran (libevent forgets it) */
    atomic_bool stop;
    pthread_mutex_t mu; /* phase handshake with dw_service_start */
    pthread_cond_t cv;
    int phase;
    char err[512];
};

struct dw_bus_sock {
    dw_service_t *svc;
    dw_bus_sock_t *prev, *next;
    void *zs;
    int type;
    dw_io_t *io;       /* NULL for send-only sockets */
    dw_timer_t *drain; /* zero-delay re-arm of the drain */
    const dw_bus_handler_t *handlers;
    void *arg;
    size_t max_msg;
    char *bound; /* the resolved endpoint of a bind, unbound before close */
    dw_bus_stats_t stats;
    bool answers;  /* ROUTER/REP: errors are answered */
    bool draining; /* inside drain(): dw_bus_close is deferred to its end */
    bool closing;
    bool rep_owed;   /* REP: the current request has not been answered yet */
    uint64_t cur_id; /* REP: id of the current request, for the fallback answer */
};

/* Sockets belong to their service's thread; ZeroMQ sockets are not thread-safe. */
#define ON_OWNER(svc) DW_BUG_ON(!pthread_equal(pthread_self(), (svc)->owner))

static bool type_receives(int t)
{
    return t != ZMQ_PUB && t != ZMQ_PUSH && t != ZMQ_XPUB;
}

static void count_reject(dw_bus_sock_t *s, dw_bus_status_t st)
{
    atomic_fetch_add(&s->stats.rejected[st], 1);
}

/* Input may be waiting that no fd edge will announce: drain on the next loop turn. */
static void check_input(dw_bus_sock_t *s)
{
    if (!s->drain || s->closing) return;
    int ev = 0;
    size_t sz = sizeof ev;
    if (zmq_getsockopt(s->zs, ZMQ_EVENTS, &ev, &sz) == 0 && (ev & ZMQ_POLLIN) &&
        !dw_timer_pending(s->drain))
        dw_timer_start(s->drain, 0);
}

static int send_frames(dw_bus_sock_t *s, const dw_bus_peer_t *to, const void *data, size_t len)
{
    int more = ZMQ_DONTWAIT | ZMQ_SNDMORE;
    int rc = 0;
    if (s->type == ZMQ_ROUTER) {
        if (!to || to->rid_len == 0 || to->rid_len > sizeof to->rid) {
            errno = EINVAL;
            return -1;
        }
        rc = zmq_send(s->zs, to->rid, to->rid_len, more);
        if (rc >= 0 && to->delimited) rc = zmq_send(s->zs, "", 0, more);
    } else if (s->type == ZMQ_DEALER) {
        /* our DEALERs speak like REQ: [empty][payload] */
        rc = zmq_send(s->zs, "", 0, more);
    }
    if (rc >= 0) rc = zmq_send(s->zs, data, len, ZMQ_DONTWAIT);
    return rc < 0 ? -1 : 0;
}

int dw_bus_send(dw_bus_sock_t *s, const dw_bus_peer_t *to, const void *data, size_t len)
{
    if (!s || s->closing) return -1;
    ON_OWNER(s->svc);
    int rc = send_frames(s, to, data, len);
    if (rc < 0 && zmq_errno() == EAGAIN) atomic_fetch_add(&s->stats.send_dropped, 1);
    if (rc == 0 && s->type == ZMQ_REP) s->rep_owed = false;
    /* inside a drain, the drain itself looks again when it ends */
    if (!s->draining) check_input(s);
    return rc;
}

int dw_bus_reply_error(dw_bus_sock_t *s, const dw_bus_peer_t *to, uint64_t id, const char *code,
                       const char *message)
{
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    dw_bus_encode_error(&w, id, code, message);
    int rc = dw_bus_send(s, to, w.sb.data, w.sb.size);
    dw_bus_writer_free(&w);
    return rc;
}

/* A peer-chosen type for an error text: printable ASCII only. */
static void printable(char *dst, size_t cap, dw_str_t s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    for (size_t i = 0; i < n; i++) {
        char c = s.ptr[i];
        dst[i] = (c >= 0x20 && c < 0x7f && c != '"') ? c : '?';
    }
    dst[n] = '\0';
}

/* Counts a rejected message and answers it where the socket answers and an id is known. A
 * REP socket must answer every request (its state machine allows nothing else), so it
 * answers with id 0 when the id is unknown. */
static void reject(dw_bus_sock_t *s, const dw_bus_peer_t *from, dw_bus_status_t st, bool have_id,
                   uint64_t id, const char *message)
{
    count_reject(s, st);
    if (!s->answers || s->closing) return;
    if (!have_id && s->type != ZMQ_REP) return;
    dw_bus_reply_error(s, from, have_id ? id : 0, dw_bus_status_name(st), message);
}

static void handle_payload(dw_bus_sock_t *s, const dw_bus_peer_t *from, const void *data,
                           size_t len)
{
    char text[256];
    uint64_t id = 0;
    if (len > s->max_msg) {
        /* inproc skips ZMQ_MAXMSGSIZE; look for an id near the start only */
        bool have = dw_bus_peek_id(data, len, DW_BUS_PEEK_OVERSIZED, &id);
        s->cur_id = have ? id : 0;
        snprintf(text, sizeof text, "message of %zu bytes exceeds the limit of %zu", len,
                 s->max_msg);
        reject(s, from, DW_BUS_E_OVERSIZED, have, id, text);
        return;
    }
    dw_bus_msg_t msg;
    dw_bus_status_t st = dw_bus_decode_borrowed(data, len, s->max_msg, &msg);
    if (st != DW_BUS_OK) {
        bool have = dw_bus_peek_id(data, len, len, &id);
        s->cur_id = have ? id : 0;
        snprintf(text, sizeof text, "cannot decode the message: %s", dw_bus_status_name(st));
        reject(s, from, st, have, id, text);
        return;
    }
    s->cur_id = msg.id;
    const dw_bus_handler_t *h = s->handlers;
    while (h && h->type && !dw_str_eq_c(msg.type, h->type)) h++;
    char tname[DW_BUS_MAX_TYPE_LEN + 1];
    if (!h || !h->type) {
        printable(tname, sizeof tname, msg.type);
        snprintf(text, sizeof text, "unknown message type \"%s\"", tname);
        /* An unanswered error is not answered with another one: two answering peers would
         * bounce errors forever. */
        if (dw_str_eq_c(msg.type, DW_BUS_ERROR_TYPE) && s->type != ZMQ_REP)
            count_reject(s, DW_BUS_E_UNKNOWN_TYPE);
        else
            reject(s, from, DW_BUS_E_UNKNOWN_TYPE, true, msg.id, text);
    } else if (msg.version < h->min_version || msg.version > h->max_version) {
        printable(tname, sizeof tname, msg.type);
        snprintf(text, sizeof text, "version %u of \"%s\" is not supported (%u..%u)",
                 (unsigned)msg.version, tname, (unsigned)h->min_version, (unsigned)h->max_version);
        reject(s, from, DW_BUS_E_VERSION, true, msg.id, text);
    } else {
        atomic_fetch_add(&s->stats.received, 1);
        h->fn(s, from, &msg, s->arg);
    }
    dw_bus_msg_free(&msg);
}

/* Receives and handles one message. 1 = consumed one (good or bad), 0 = nothing waiting,
 * -1 = the socket cannot receive (closed context, REP state). */
static int recv_one(dw_bus_sock_t *s)
{
    zmq_msg_t f[3], extra;
    size_t nf = 0, total = 0;
    int rc = 1;
    for (;;) {
        zmq_msg_t *m = nf < 3 ? &f[nf] : &extra;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, s->zs, ZMQ_DONTWAIT) < 0) {
            int e = zmq_errno();
            zmq_msg_close(m);
            if (total == 0) {
                rc = e == EAGAIN || e == EINTR ? 0 : -1;
                goto out;
            }
            break; /* parts of one message arrive together; cannot happen */
        }
        total++;
        bool more = zmq_msg_more(m);
        if (m == &extra)
            zmq_msg_close(m);
        else
            nf++;
        if (!more) break;
    }

    dw_bus_peer_t peer;
    peer.rid_len = 0, peer.delimited = false;
    zmq_msg_t *payload = NULL;
    switch (s->type) {
    case ZMQ_ROUTER:
        /* [rid][payload] from a DEALER, [rid][empty][payload] from REQ and our clients */
        if (zmq_msg_size(&f[0]) > sizeof peer.rid || zmq_msg_size(&f[0]) == 0) break;
        if (total == 2) {
            payload = &f[1];
        } else if (total == 3 && zmq_msg_size(&f[1]) == 0) {
            payload = &f[2];
            peer.delimited = true;
        }
        if (payload) {
            peer.rid_len = zmq_msg_size(&f[0]);
            memcpy(peer.rid, zmq_msg_data(&f[0]), peer.rid_len);
        }
        break;
    case ZMQ_DEALER:
        if (total == 1)
            payload = &f[0];
        else if (total == 2 && zmq_msg_size(&f[0]) == 0)
            payload = &f[1];
        break;
    default:
        if (total == 1) payload = &f[0];
        break;
    }
    if (s->type == ZMQ_REP) s->rep_owed = true, s->cur_id = 0;
    if (payload) {
        handle_payload(s, &peer, zmq_msg_data(payload), zmq_msg_size(payload));
    } else {
        /* an unexpected frame count: nobody to answer on ROUTER (which frame is what?) */
        reject(s, &peer, DW_BUS_E_MALFORMED, false, 0, "unexpected number of message frames");
    }
    if (s->type == ZMQ_REP && s->rep_owed && !s->closing)
        dw_bus_reply_error(s, NULL, s->cur_id, "no_reply", "the handler did not answer");
out:
    for (size_t i = 0; i < nf; i++) zmq_msg_close(&f[i]);
    return rc;
}

static void sock_destroy(dw_bus_sock_t *s)
{
    dw_service_t *svc = s->svc;
    if (s->prev)
        s->prev->next = s->next;
    else
        svc->socks = s->next;
    if (s->next) s->next->prev = s->prev;
    dw_io_free(s->io);
    dw_timer_free(s->drain);
    /* for inproc this frees the name now rather than when the reaper gets to the socket */
    if (s->bound) zmq_unbind(s->zs, s->bound);
    free(s->bound);
    int linger = -1;
    size_t sz = sizeof linger;
    /* whatever a caller set through dw_bus_sock_raw, never wait forever */
    if (zmq_getsockopt(s->zs, ZMQ_LINGER, &linger, &sz) != 0 || linger < 0) {
        linger = LINGER_MS;
        zmq_setsockopt(s->zs, ZMQ_LINGER, &linger, sizeof linger);
    }
    zmq_close(s->zs);
    free(s);
}

static void drain(dw_bus_sock_t *s)
{
    bool more = false;
    int rc = 0;
    s->draining = true;
    for (int n = 0; !s->closing; n++) {
        if (n == DRAIN_BATCH) {
            more = true;
            break;
        }
        if ((rc = recv_one(s)) <= 0) break;
    }
    s->draining = false;
    if (s->closing) {
        sock_destroy(s);
        return;
    }
    if (rc < 0) {
        /* the socket cannot receive any more (context terminated, REP out of step): stop
         * watching it rather than spin on a readable fd */
        dw_io_want(s->io, false, false);
        dw_timer_stop(s->drain);
        return;
    }
    if (more)
        dw_timer_start(s->drain, 0);
    else
        check_input(s);
}

static void on_fd(int fd, int events, void *arg)
{
    (void)fd, (void)events;
    drain(arg);
}

static void on_drain_timer(void *arg)
{
    drain(arg);
}

/* ipc:// bind: ZeroMQ unlinks whatever is at the path, so look first: a regular file is
 * refused, a socket someone still accepts on is refused, a stale socket is removed.
 * 0 = ready to bind, EADDRINUSE = someone is listening, -1 = another error (in err). */
static int ipc_prepare(const char *ep, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "cannot bind %s: %s", ep, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "cannot bind %s: the path exists and is not a socket", ep);
        return -1;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (n >= sizeof sa.sun_path) return 0; /* ZeroMQ reports the name as too long */
    memcpy(sa.sun_path, path, n + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot bind %s: %s", ep, strerror(errno));
        return -1;
    }
    int live = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    if (live) {
        snprintf(err, errlen, "cannot bind %s: another process is listening there", ep);
        return EADDRINUSE;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot bind %s: cannot remove the stale socket: %s", ep,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* After an ipc:// bind: owner-only, so only our user can talk to the control socket. */
static int ipc_restrict(const char *bound, const char *ep, char *err, size_t errlen)
{
    const char *path = strncmp(bound, "ipc://", 6) == 0 ? bound + 6 : NULL;
    if (!path || path[0] == '@') return 0; /* abstract namespace: no file */
    if (chmod(path, 0600) != 0) {
        snprintf(err, errlen, "cannot restrict %s to mode 0600: %s", ep, strerror(errno));
        return -1;
    }
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void);

/* Binds, retrying "in use" for REBIND_MS, and remembers the resolved endpoint. */
static int bind_endpoint(dw_bus_sock_t *s, const char *ep, char *err, size_t errlen)
{
    bool ipc = strncmp(ep, "ipc://", 6) == 0;
    const char *path = ep + 6;
    bool has_file = ipc && path[0] != '@' && strcmp(path, "*") != 0;
    int64_t until = now_ms() + REBIND_MS;
    for (;;) {
        /* a live listener may be our own old one, still closing: retried like EADDRINUSE */
        int e = has_file ? ipc_prepare(ep, path, err, errlen) : 0;
        if (e < 0) return -1;
        bool prepared = e == 0;
        if (prepared && zmq_bind(s->zs, ep) != 0) e = zmq_errno();
        if (e == 0) break;
        if (e != EADDRINUSE || now_ms() >= until) {
            if (prepared) snprintf(err, errlen, "cannot bind %s: %s", ep, zmq_strerror(e));
            return -1;
        }
        sleep_ms(5);
    }
    char last[1024];
    size_t sz = sizeof last;
    if (zmq_getsockopt(s->zs, ZMQ_LAST_ENDPOINT, last, &sz) != 0) last[0] = '\0';
    last[sizeof last - 1] = '\0';
    s->bound = strdup(last[0] ? last : ep);
    if (!s->bound) {
        snprintf(err, errlen, "cannot bind %s: out of memory", ep);
        return -1;
    }
    return ipc ? ipc_restrict(s->bound, ep, err, errlen) : 0;
}

static bool handlers_valid(const dw_bus_handler_t *h)
{
    for (; h && h->type; h++)
        if (!h->fn || h->min_version > h->max_version || !h->type[0] ||
            strlen(h->type) > DW_BUS_MAX_TYPE_LEN)
            return false;
    return true;
}

static int set_int(void *zs, int opt, int v)
{
    return zmq_setsockopt(zs, opt, &v, sizeof v);
}

dw_bus_sock_t *dw_bus_open(dw_service_t *svc, const dw_bus_sock_opts_t *o, char *err, size_t errlen)
{
    const char *ep = o->endpoint ? o->endpoint : "";
    if (!svc || !o->endpoint || !handlers_valid(o->handlers)) {
        snprintf(err, errlen, "cannot open %s: invalid socket options", ep);
        return NULL;
    }
    ON_OWNER(svc);
    dw_bus_sock_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "cannot open %s: out of memory", ep);
        return NULL;
    }
    s->svc = svc, s->type = o->zmq_type, s->handlers = o->handlers, s->arg = o->arg;
    s->max_msg = o->max_msg ? o->max_msg : DW_BUS_MAX_MSG_DEFAULT;
    s->answers = s->type == ZMQ_ROUTER || s->type == ZMQ_REP;
    s->zs = zmq_socket(dw_bus_context(), o->zmq_type);
    if (!s->zs) {
        snprintf(err, errlen, "cannot open %s: %s", ep, zmq_strerror(zmq_errno()));
        free(s);
        return NULL;
    }
    int64_t maxmsg = s->max_msg > INT64_MAX ? -1 : (int64_t)s->max_msg;
    bool ok = set_int(s->zs, ZMQ_LINGER, LINGER_MS) == 0 &&
              zmq_setsockopt(s->zs, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) == 0;
    if (ok && o->sndhwm) ok = set_int(s->zs, ZMQ_SNDHWM, o->sndhwm) == 0;
    if (ok && o->rcvhwm) ok = set_int(s->zs, ZMQ_RCVHWM, o->rcvhwm) == 0;
    /* unroutable replies (the client went away) are dropped, not an error */
    if (ok && s->type == ZMQ_ROUTER) ok = set_int(s->zs, ZMQ_ROUTER_MANDATORY, 0) == 0;
    if (ok && s->type == ZMQ_SUB) {
        const char *sub = o->subscribe ? o->subscribe : "";
        ok = zmq_setsockopt(s->zs, ZMQ_SUBSCRIBE, sub, strlen(sub)) == 0;
    }
    if (ok && strncmp(ep, "tcp://", 6) == 0 && strchr(ep, '['))
        ok = set_int(s->zs, ZMQ_IPV6, 1) == 0;
    if (!ok) {
        snprintf(err, errlen, "cannot open %s: %s", ep, zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (o->bind ? bind_endpoint(s, ep, err, errlen) != 0 : zmq_connect(s->zs, ep) != 0) {
        if (!o->bind) snprintf(err, errlen, "cannot connect %s: %s", ep, zmq_strerror(zmq_errno()));
        goto fail;
    }

    if (type_receives(s->type)) {
        int fd = -1;
        size_t sz = sizeof fd;
        if (zmq_getsockopt(s->zs, ZMQ_FD, &fd, &sz) != 0) {
            snprintf(err, errlen, "cannot open %s: %s", ep, zmq_strerror(zmq_errno()));
            goto fail;
        }
        s->io = dw_io_new(svc->loop, fd, on_fd, s);
        s->drain = dw_timer_new(svc->loop, on_drain_timer, s);
        if (!s->io || !s->drain) {
            snprintf(err, errlen, "cannot open %s: out of memory", ep);
            goto fail;
        }
        dw_io_want(s->io, true, false);
        dw_timer_start(s->drain, 0); /* anything already queued has consumed its edge */
    }
    s->next = svc->socks;
    if (svc->socks) svc->socks->prev = s;
    svc->socks = s;
    return s;

fail:
    if (s->bound) zmq_unbind(s->zs, s->bound);
    free(s->bound);
    dw_io_free(s->io);
    dw_timer_free(s->drain);
    set_int(s->zs, ZMQ_LINGER, 0);
    zmq_close(s->zs);
    free(s);
    return NULL;
}

void dw_bus_close(dw_bus_sock_t *s)
{
    if (!s || s->closing) return;
    ON_OWNER(s->svc);
    s->closing = true;
    if (!s->draining) sock_destroy(s); /* else drain() finishes the job */
}

dw_bus_stats_t *dw_bus_sock_stats(dw_bus_sock_t *s)
{
    return &s->stats;
}

void *dw_bus_sock_raw(dw_bus_sock_t *s)
{
    return s->zs;
}

/* --- the runner ----------------------------------------------------------------------------- */

static void close_all(dw_service_t *svc)
{
    while (svc->socks) {
        dw_bus_sock_t *s = svc->socks;
        s->closing = true;
        sock_destroy(s);
    }
}

static void on_wake(void *arg)
{
    dw_service_t *svc = arg;
    if (atomic_load(&svc->stop)) dw_loop_break(svc->loop);
}

static void on_signal(void *arg)
{
    dw_service_t *svc = arg;
    dw_loop_break(svc->loop);
}

static dw_service_t *service_new(const dw_service_def_t *def)
{
    dw_service_t *svc = calloc(1, sizeof *svc);
    if (!svc) return NULL;
    svc->def = *def;
    if (!svc->def.name) svc->def.name = "service";
    atomic_init(&svc->stop, false);
    pthread_mutex_init(&svc->mu, NULL);
    pthread_cond_init(&svc->cv, NULL);
    svc->loop = dw_loop_new();
    if (svc->loop) svc->wake = dw_async_new(svc->loop, on_wake, svc);
    if (!svc->loop || !svc->wake) {
        dw_loop_free(svc->loop);
        pthread_mutex_destroy(&svc->mu);
        pthread_cond_destroy(&svc->cv);
        free(svc);
        return NULL;
    }
    return svc;
}

static void service_free(dw_service_t *svc)
{
    for (size_t i = 0; i < DW_ARRAY_LEN(svc->sigs); i++) dw_signal_free(svc->sigs[i]);
    dw_async_free(svc->wake);
    dw_loop_free(svc->loop);
    pthread_mutex_destroy(&svc->mu);
    pthread_cond_destroy(&svc->cv);
    free(svc);
}

static int service_init(dw_service_t *svc)
{
    svc->owner = pthread_self();
    svc->err[0] = '\0';
    int rc = svc->def.init ? svc->def.init(svc, svc->def.arg, svc->err, sizeof svc->err) : 0;
    if (rc != 0) {
        if (!svc->err[0]) snprintf(svc->err, sizeof svc->err, "%s: init failed", svc->def.name);
        close_all(svc);
    }
    return rc;
}

static void service_body(dw_service_t *svc)
{
    if (!atomic_load(&svc->stop) && !svc->broke) dw_loop_run(svc->loop);
    if (svc->def.fini) svc->def.fini(svc, svc->def.arg);
    close_all(svc);
}

static void *service_thread(void *arg)
{
    dw_service_t *svc = arg;
    int rc = service_init(svc);
    pthread_mutex_lock(&svc->mu);
    svc->phase = rc == 0 ? PHASE_RUNNING : PHASE_FAILED;
    pthread_cond_signal(&svc->cv);
    pthread_mutex_unlock(&svc->mu);
    if (rc == 0) service_body(svc);
    return NULL;
}

dw_service_t *dw_service_start(const dw_service_def_t *def, char *err, size_t errlen)
{
    dw_service_t *svc = service_new(def);
    if (!svc) {
        snprintf(err, errlen, "%s: cannot create the service loop", def->name ? def->name : "");
        return NULL;
    }
    svc->threaded = true;
    int e = pthread_create(&svc->thread, NULL, service_thread, svc);
    if (e != 0) {
        snprintf(err, errlen, "%s: cannot start a thread: %s", svc->def.name, strerror(e));
        service_free(svc);
        return NULL;
    }
    char tname[16]; /* the kernel's limit, with the NUL */
    snprintf(tname, sizeof tname, "%s", svc->def.name);
    pthread_setname_np(svc->thread, tname);
    pthread_mutex_lock(&svc->mu);
    while (svc->phase == PHASE_STARTING) pthread_cond_wait(&svc->cv, &svc->mu);
    int phase = svc->phase;
    pthread_mutex_unlock(&svc->mu);
    if (phase == PHASE_FAILED) {
        pthread_join(svc->thread, NULL);
        snprintf(err, errlen, "%s", svc->err);
        service_free(svc);
        return NULL;
    }
    return svc;
}

void dw_service_stop(dw_service_t *svc)
{
    if (!svc) return;
    DW_BUG_ON(!svc->threaded);
    DW_BUG_ON(pthread_equal(pthread_self(), svc->thread));
    atomic_store(&svc->stop, true);
    dw_async_notify(svc->wake);
    pthread_join(svc->thread, NULL);
    service_free(svc);
}

int dw_service_run(const dw_service_def_t *def)
{
    dw_service_t *svc = service_new(def);
    if (!svc) {
        fprintf(stderr, "%s: cannot create the service loop\n", def->name ? def->name : "");
        return 1;
    }
    static const int signos[2] = {SIGTERM, SIGINT};
    for (size_t i = 0; i < DW_ARRAY_LEN(signos); i++) {
        svc->sigs[i] = dw_signal_new(svc->loop, signos[i], on_signal, svc);
        if (!svc->sigs[i]) {
            fprintf(stderr, "%s: cannot watch signal %d\n", svc->def.name, signos[i]);
            service_free(svc);
            return 1;
        }
    }
    if (service_init(svc) != 0) {
        fprintf(stderr, "%s\n", svc->err);
        service_free(svc);
        return 1;
    }
    service_body(svc);
    service_free(svc);
    return 0;
}

void dw_service_break(dw_service_t *svc)
{
    ON_OWNER(svc);
    svc->broke = true;
    dw_loop_break(svc->loop);
}

dw_loop_t *dw_service_loop(dw_service_t *svc)
{
    return svc->loop;
}

const char *dw_service_name(const dw_service_t *svc)
{
    return svc->def.name;
}

/* --- the one-shot client -------------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Receives one whole message; *payload = its payload frame by DEALER rules, or -1 when the
 * frame count is unexpected. Returns -1 on EAGAIN/error. f must hold 2 initialised msgs. */
static int recv_reply(void *zs, zmq_msg_t f[2], int *payload)
{
    size_t nf = 0, total = 0;
    for (;;) {
        zmq_msg_t extra, *m = nf < 2 ? &f[nf] : &extra;
        if (m == &extra) zmq_msg_init(m);
        if (zmq_msg_recv(m, zs, ZMQ_DONTWAIT) < 0) {
            if (m == &extra) zmq_msg_close(m);
            if (total == 0) return -1;
            break;
        }
        total++;
        bool more = zmq_msg_more(m);
        if (m == &extra)
            zmq_msg_close(m);
        else
            nf++;
        if (!more) break;
    }
    *payload = total == 1 ? 0 : (total == 2 && zmq_msg_size(&f[0]) == 0) ? 1 : -1;
    return 0;
}

int dw_bus_request(const char *endpoint, const void *req, size_t len, uint64_t req_id,
                   int timeout_ms, size_t max_reply, dw_bus_msg_t *reply)
{
    memset(reply, 0, sizeof *reply);
    msgpack_unpacked_init(&reply->up);
    if (!max_reply) max_reply = DW_BUS_MAX_MSG_DEFAULT;
    void *zs = zmq_socket(dw_bus_context(), ZMQ_DEALER);
    if (!zs) return -1; /* errno set by ZeroMQ */
    int64_t maxmsg = max_reply > INT64_MAX ? -1 : (int64_t)max_reply;
    int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : INT64_MAX;
    int rc = -1, err = 0;
    set_int(zs, ZMQ_LINGER, 0);
    zmq_setsockopt(zs, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    /* a send waits for a connection at most the whole timeout */
    set_int(zs, ZMQ_SNDTIMEO, timeout_ms >= 0 ? timeout_ms : -1);
    if (strncmp(endpoint, "tcp://", 6) == 0 && strchr(endpoint, '[')) set_int(zs, ZMQ_IPV6, 1);
    if (zmq_connect(zs, endpoint) != 0) {
        err = zmq_errno();
        goto out;
    }
    if (zmq_send(zs, "", 0, ZMQ_SNDMORE) < 0 || zmq_send(zs, req, len, 0) < 0) {
        err = zmq_errno() == EAGAIN ? ETIMEDOUT : zmq_errno();
        goto out;
    }
    for (;;) {
        int64_t left = deadline == INT64_MAX ? -1 : deadline - now_ms();
        if (deadline != INT64_MAX && left <= 0) {
            err = ETIMEDOUT;
            break;
        }
        zmq_pollitem_t it = {.socket = zs, .events = ZMQ_POLLIN};
        int n = zmq_poll(&it, 1, (long)left);
        if (n < 0) {
            if (zmq_errno() == EINTR) continue;
            err = zmq_errno();
            break;
        }
        if (n == 0 || !(it.revents & ZMQ_POLLIN)) continue;
        zmq_msg_t f[2];
        zmq_msg_init(&f[0]), zmq_msg_init(&f[1]);
        int which = -1;
        if (recv_reply(zs, f, &which) == 0 && which >= 0) {
            dw_bus_status_t st =
                dw_bus_decode(zmq_msg_data(&f[which]), zmq_msg_size(&f[which]), max_reply, reply);
            if (st != DW_BUS_OK || reply->id == req_id)
                rc = (int)st;
            else
                dw_bus_msg_free(reply); /* an answer to someone else: keep waiting */
        }
        zmq_msg_close(&f[0]), zmq_msg_close(&f[1]);
        if (rc >= 0) break;
    }
out:
    zmq_close(zs);
    if (rc < 0) errno = err;
    return rc;
}
