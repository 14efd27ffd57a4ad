/* Active health checks (see health.h). Probes run in parallel per pool every health_interval:
 * a new connection, `GET <health_uri> HTTP/1.1` with `Host: <ip:port>` and `Connection:
 * close`, 5 s per phase; a 2xx status line means healthy. Only transitions are logged. */
#include "health.h"
#include "pool.h"
#include <dwaar/base/log.h>
#include <dwaar/base/loop.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROBE_PHASE_MS 5000u

typedef struct probe probe_t;
typedef struct pool_sched pool_sched_t;

struct probe {
    pool_sched_t *ps;
    dw_backend_t *be;
    int fd;
    dw_io_t *io;
    dw_timer_t *timer;
    int phase; /* 0 connecting, 1 writing, 2 reading */
    char req[512];
    size_t req_len, req_off;
    char resp[64];
    size_t resp_len;
    probe_t *next;
};

struct pool_sched {
    dw_health_t *h;
    dw_pool_t *pool;
    dw_timer_t *timer;
    probe_t *probes;
};

struct dw_health {
    pthread_t thread;
    dw_loop_t *loop;
    dw_async_t *wake;
    pthread_mutex_t lock;
    dw_snapshot_t *pending; /* set by the publisher, taken by the thread */
    bool stop;
    dw_snapshot_t *snap;
    pool_sched_t *scheds;
    size_t nscheds;
};

static void probe_free(probe_t *p)
{
    pool_sched_t *ps = p->ps;
    probe_t **pp = &ps->probes;
    while (*pp && *pp != p) pp = &(*pp)->next;
    if (*pp) *pp = p->next;
    dw_io_free(p->io);
    dw_timer_free(p->timer);
    if (p->fd >= 0) close(p->fd);
    free(p);
}

static void set_health(dw_backend_t *be, bool healthy, const char *reason)
{
    bool was = atomic_exchange(&be->healthy, healthy);
    if (was == healthy) return;
    if (healthy)
        DW_INFO("health", "upstream %s is healthy", be->label);
    else
        DW_WARN("health", "upstream %s is unhealthy: reason=%s", be->label, reason);
}

static void probe_done(probe_t *p, bool healthy, const char *reason)
{
    set_health(p->be, healthy, reason);
    if (!healthy && p->ps->pool->cfg->fail_duration_ms) dw_backend_failed(p->ps->pool, p->be);
    probe_free(p);
}

static void probe_io(int fd, int events, void *arg)
{
    (void)events;
    probe_t *p = arg;
    if (p->phase == 0) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            probe_done(p, false, strerror(err));
            return;
        }
        p->phase = 1;
        dw_timer_start(p->timer, PROBE_PHASE_MS);
    }
    if (p->phase == 1) {
        while (p->req_off < p->req_len) {
            ssize_t n = send(fd, p->req + p->req_off, p->req_len - p->req_off, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) return;
                probe_done(p, false, strerror(errno));
                return;
            }
            p->req_off += (size_t)n;
        }
        p->phase = 2;
        dw_timer_start(p->timer, PROBE_PHASE_MS);
        dw_io_want(p->io, true, false);
        return;
    }
    ssize_t n = recv(fd, p->resp + p->resp_len, sizeof p->resp - 1 - p->resp_len, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        probe_done(p, false, strerror(errno));
        return;
    }
    p->resp_len += (size_t)n;
    p->resp[p->resp_len] = '\0';
    if (p->resp_len >= 12 || n == 0) {
        int status = 0;
        if (strncmp(p->resp, "HTTP/1.", 7) == 0 && p->resp_len >= 12) status = atoi(p->resp + 9);
        if (status >= 200 && status <= 299) {
            probe_done(p, true, NULL);
        } else {
            char reason[64];
            if (status)
                snprintf(reason, sizeof reason, "status %d", status);
            else
                snprintf(reason, sizeof reason, "invalid response");
            probe_done(p, false, reason);
        }
    }
}

static void probe_timeout(void *arg)
{
    probe_done(arg, false, "timeout");
}

static void probe_start(pool_sched_t *ps, dw_backend_t *be)
{
    if (!be->resolved) {
        set_health(be, false, "does not resolve");
        return;
    }
    /* one probe per backend at a time */
    for (probe_t *q = ps->probes; q; q = q->next)
        if (q->be == be) return;
    probe_t *p = calloc(1, sizeof *p);
    if (!p) return;
    p->ps = ps;
    p->be = be;
    p->fd = socket(be->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    p->next = ps->probes;
    ps->probes = p;
    p->io = p->fd >= 0 ? dw_io_new(ps->h->loop, p->fd, probe_io, p) : NULL;
    p->timer = dw_timer_new(ps->h->loop, probe_timeout, p);
    if (!p->io || !p->timer) {
        probe_done(p, false, "cannot create socket");
        return;
    }
    const char *hostport = be->key;
    int len = snprintf(p->req, sizeof p->req,
                       "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: dwaar-health\r\n"
                       "Connection: close\r\n\r\n",
                       ps->pool->cfg->health_uri.ptr, hostport);
    p->req_len = len > 0 && (size_t)len < sizeof p->req ? (size_t)len : 0;
    if (connect(p->fd, (struct sockaddr *)&be->addr, be->addrlen) < 0 && errno != EINPROGRESS) {
        probe_done(p, false, strerror(errno));
        return;
    }
    dw_io_want(p->io, false, true);
    dw_timer_start(p->timer, PROBE_PHASE_MS);
}

static void pool_round(void *arg)
{
    pool_sched_t *ps = arg;
    for (size_t i = 0; i < ps->pool->n; i++) probe_start(ps, &ps->pool->be[i]);
    dw_timer_start(ps->timer, ps->pool->cfg->health_interval_ms);
}

static void clear_scheds(dw_health_t *h)
{
    for (size_t i = 0; i < h->nscheds; i++) {
        pool_sched_t *ps = &h->scheds[i];
        while (ps->probes) probe_free(ps->probes);
        dw_timer_free(ps->timer);
    }
    free(h->scheds);
    h->scheds = NULL;
    h->nscheds = 0;
    if (h->snap) dw_snapshot_unref(h->snap);
    h->snap = NULL;
}

static void adopt(dw_health_t *h, dw_snapshot_t *snap)
{
    clear_scheds(h);
    h->snap = snap;
    size_t n = 0;
    for (size_t i = 0; i < snap->npools; i++)
        if (snap->pools[i]->cfg->health_uri.len) n++;
    if (!n) return;
    h->scheds = calloc(n, sizeof *h->scheds);
    if (!h->scheds) return;
    for (size_t i = 0; i < snap->npools; i++) {
        dw_pool_t *p = snap->pools[i];
        if (!p->cfg->health_uri.len) continue;
        pool_sched_t *ps = &h->scheds[h->nscheds++];
        ps->h = h;
        ps->pool = p;
        ps->timer = dw_timer_new(h->loop, pool_round, ps);
        if (ps->timer) pool_round(ps); /* first round at once */
    }
}

static void on_wake(void *arg)
{
    dw_health_t *h = arg;
    pthread_mutex_lock(&h->lock);
    dw_snapshot_t *snap = h->pending;
    h->pending = NULL;
    bool stop = h->stop;
    pthread_mutex_unlock(&h->lock);
    if (snap) adopt(h, snap);
    if (stop) dw_loop_break(h->loop);
}

static void *health_main(void *arg)
{
    dw_health_t *h = arg;
    on_wake(h);
    dw_loop_run(h->loop);
    clear_scheds(h);
    return NULL;
}

dw_health_t *dw_health_start(dw_snapshot_t *snap)
{
    dw_health_t *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    pthread_mutex_init(&h->lock, NULL);
    h->loop = dw_loop_new();
    h->wake = h->loop ? dw_async_new(h->loop, on_wake, h) : NULL;
    if (!h->wake) {
        dw_loop_free(h->loop);
        free(h);
        return NULL;
    }
    dw_snapshot_ref(snap);
    h->pending = snap;
    if (pthread_create(&h->thread, NULL, health_main, h) != 0) {
        dw_snapshot_unref(snap);
        dw_async_free(h->wake);
        dw_loop_free(h->loop);
        free(h);
        return NULL;
    }
    return h;
}

void dw_health_set_snapshot(dw_health_t *h, dw_snapshot_t *snap)
{
    dw_snapshot_ref(snap);
    pthread_mutex_lock(&h->lock);
    dw_snapshot_t *old = h->pending;
    h->pending = snap;
    pthread_mutex_unlock(&h->lock);
    if (old) dw_snapshot_unref(old);
    dw_async_notify(h->wake);
}

void dw_health_stop(dw_health_t *h)
{
    if (!h) return;
    pthread_mutex_lock(&h->lock);
    h->stop = true;
    pthread_mutex_unlock(&h->lock);
    dw_async_notify(h->wake);
    pthread_join(h->thread, NULL);
    pthread_mutex_lock(&h->lock);
    if (h->pending) dw_snapshot_unref(h->pending);
    pthread_mutex_unlock(&h->lock);
    dw_async_free(h->wake);
    dw_loop_free(h->loop);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
