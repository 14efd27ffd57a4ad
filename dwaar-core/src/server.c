/* The data plane process: worker threads, their listeners, snapshot publication (liburcu) of
 * what the config agent receives, graceful stop on SIGTERM/SIGINT. */
#include "agent.h"
#include "health.h"
#include "upstream.h"
#include <arpa/inet.h>
#include <dwaar/base/log.h>
#include <dwaar/base/time.h>
#include <dwaar/core/server.h>
#include <dwaar/log/batcher.h>
#include <dwaar/tls/tls.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <urcu/pointer.h>
#include <urcu/urcu-memb.h>

#define STOP_POLL_MS     100u
#define FIRST_SNAPSHOT_S 10

typedef struct dw_server {
    dw_server_opts_t opts;
    dw_loop_t *loop;
    dw_worker_t *workers;
    unsigned nworkers;
    dw_snapshot_t *current; /* RCU-published; the pointer holds one reference */
    dw_health_t *health;
    dw_agent_t *agent;
    pthread_mutex_t start_lock; /* also guards the hand-over of snapshots before running */
    pthread_cond_t start_cond;
    unsigned started;
    bool running;           /* workers started: new snapshots are published */
    dw_snapshot_t *pending; /* arrived while the workers were starting */
    char *first_error;      /* the first snapshot did not compile (single host: fatal) */
    bool stopping;
    int exit_code;
    dw_tls_server_t *tls;     /* shared by every worker's TLS listeners */
    dw_timer_t *ticket_timer; /* rotates the session ticket keys */
} dw_server_t;

#define TICKET_ROTATE_MS (12u * 3600u * 1000u)

static void rotate_tickets(void *arg)
{
    dw_server_t *s = arg;
    dw_tls_server_rotate_tickets(s->tls);
    dw_timer_start(s->ticket_timer, TICKET_ROTATE_MS);
}

/* --- snapshot references held by a worker ---------------------------------------------------- */

static dw_snapshot_t *load_current(dw_server_t *s)
{
    urcu_memb_read_lock();
    dw_snapshot_t *snap = rcu_dereference(s->current);
    dw_snapshot_ref(snap);
    urcu_memb_read_unlock();
    return snap;
}

dw_snapref_t *dw_worker_snap_acquire(dw_worker_t *w)
{
    w->cur->users++;
    return w->cur;
}

static void snapref_drop(dw_worker_t *w, dw_snapref_t *ref)
{
    dw_snapref_t **pp = &w->old;
    while (*pp && *pp != ref) pp = &(*pp)->next;
    if (*pp) *pp = ref->next;
    dw_snapshot_unref(ref->snap);
    free(ref);
}

void dw_worker_snap_release(dw_worker_t *w, dw_snapref_t *ref)
{
    if (--ref->users == 0 && ref != w->cur) snapref_drop(w, ref);
}

/* --- listeners ---------------------------------------------------------------------------------
 */

static void listener_on_io(int fd, int events, void *arg)
{
    (void)events;
    dw_listener_t *l = arg;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int cfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                DW_WARN("server", "accept: %s", strerror(errno));
            return;
        }
        if (ss.ss_family != AF_UNIX) {
            int one = 1;
            setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        } else {
            memset(&ss, 0, sizeof ss);
        }
        dw_h1_accept(l->w, cfd, &ss, l->port, l->key, l->tls);
    }
}

static int open_listener(const dw_rt_listen_t *ls, bool reuseport, char *err, size_t errlen)
{
    int fd = -1;
    if (ls->unix_path) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        if (fd < 0 || strlen(ls->unix_path) >= sizeof un.sun_path) goto fail;
        memcpy(un.sun_path, ls->unix_path, strlen(ls->unix_path) + 1);
        struct stat st;
        if (lstat(ls->unix_path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(ls->unix_path);
        if (bind(fd, (struct sockaddr *)&un, sizeof un) < 0 || listen(fd, 4096) < 0) goto fail;
        chmod(ls->unix_path, 0666);
        return fd;
    }
    struct sockaddr_storage ss = {0};
    socklen_t len;
    bool v6 = ls->host[0] == '\0' || strchr(ls->host, ':');
    if (v6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(ls->port);
        if (ls->host[0] && inet_pton(AF_INET6, ls->host, &in6->sin6_addr) != 1) goto fail;
        len = sizeof *in6;
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(ls->port);
        if (inet_pton(AF_INET, ls->host, &in->sin_addr) != 1) goto fail;
        len = sizeof *in;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && ls->host[0] == '\0') {
        /* no IPv6: all IPv4 interfaces */
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        memset(&ss, 0, sizeof ss);
        in->sin_family = AF_INET;
        in->sin_port = htons(ls->port);
        len = sizeof *in;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (fd < 0) goto fail;
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (ss.ss_family == AF_INET6 && ls->host[0] == '\0')
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0) goto fail;
    return fd;
fail:
    if (ls->unix_path)
        snprintf(err, errlen, "listen on unix/%s: %s", ls->unix_path,
                 strerror(errno ? errno : EINVAL));
    else
        snprintf(err, errlen, "listen on %s:%u: %s", ls->host[0] ? ls->host : "*", ls->port,
                 strerror(errno ? errno : EINVAL));
    if (fd >= 0) close(fd);
    return -1;
}

static void listener_free(dw_listener_t *l)
{
    dw_io_free(l->io);
    close(l->fd);
    free(l);
}

/* Opens the snapshot's listeners this worker lacks and closes those it no longer has. Unix
 * sockets are served by worker 0 only (SO_REUSEPORT does not apply to them). */
static int reconcile_listeners(dw_worker_t *w, const dw_snapshot_t *snap)
{
    int rc = 0;
    for (size_t i = 0; i < w->nlisteners; i++) w->listeners[i]->keep = false;
    for (size_t i = 0; i < snap->nlistens; i++) {
        const dw_rt_listen_t *ls = &snap->listens[i];
        if (ls->unix_path && w->id != 0) continue;
        char key[256];
        dw_rt_listen_key(ls, key, sizeof key);
        bool have = false;
        for (size_t k = 0; k < w->nlisteners; k++)
            if (strcmp(w->listeners[k]->key, key) == 0) {
                w->listeners[k]->keep = have = true;
                w->listeners[k]->tls = ls->tls; /* a reload may turn TLS on or off */
            }
        if (have) continue;
        char err[256];
        int fd = open_listener(ls, !ls->unix_path, err, sizeof err);
        if (fd < 0) {
            snprintf(w->start_error, sizeof w->start_error, "%s", err);
            DW_ERROR("server", "%s", err);
            rc = -1;
            continue;
        }
        dw_listener_t *l = calloc(1, sizeof *l);
        if (!l) {
            close(fd);
            rc = -1;
            continue;
        }
        l->fd = fd;
        l->port = ls->port;
        l->tls = ls->tls;
        l->w = w;
        l->keep = true;
        snprintf(l->key, sizeof l->key, "%s", key);
        l->io = dw_io_new(w->loop, fd, listener_on_io, l);
        dw_listener_t **slot =
            w->nlisteners < w->listeners_cap ? &w->listeners[w->nlisteners] : NULL;
        if (!slot) {
            size_t ncap = w->listeners_cap ? w->listeners_cap * 2 : 8;
            dw_listener_t **nl = realloc(w->listeners, ncap * sizeof *nl);
            if (!nl) {
                listener_free(l);
                rc = -1;
                continue;
            }
            w->listeners = nl, w->listeners_cap = ncap;
            slot = &w->listeners[w->nlisteners];
        }
        *slot = l;
        w->nlisteners++;
        dw_io_want(l->io, true, false);
    }
    size_t o = 0;
    for (size_t i = 0; i < w->nlisteners; i++) {
        if (w->listeners[i]->keep)
            w->listeners[o++] = w->listeners[i];
        else
            listener_free(w->listeners[i]);
    }
    w->nlisteners = o;
    return rc;
}

static void close_listeners(dw_worker_t *w)
{
    for (size_t i = 0; i < w->nlisteners; i++) listener_free(w->listeners[i]);
    w->nlisteners = 0;
}

/* --- worker thread ---------------------------------------------------------------------------- */

void dw_worker_snapshot_changed(dw_worker_t *w)
{
    dw_snapshot_t *snap = load_current(w->srv);
    if (w->cur && w->cur->snap == snap) {
        dw_snapshot_unref(snap);
        return;
    }
    dw_snapref_t *ref = calloc(1, sizeof *ref);
    if (!ref) {
        dw_snapshot_unref(snap);
        return;
    }
    ref->snap = snap;
    dw_snapref_t *prev = w->cur;
    w->cur = ref;
    if (prev) {
        if (prev->users == 0) {
            dw_snapshot_unref(prev->snap);
            free(prev);
        } else {
            prev->next = w->old;
            w->old = prev;
        }
    }
    if (!w->stopping) reconcile_listeners(w, snap);
}

static void stop_poll(void *arg);

static void worker_wake(void *arg)
{
    dw_worker_t *w = arg;
    dw_server_t *s = w->srv;
    if (s->stopping && !w->stopping) {
        w->stopping = true;
        close_listeners(w);
        /* idle keep-alive connections go now; busy ones finish their request */
        for (dw_conn_t *c = w->conns, *next; c; c = next) {
            next = c->next;
            if (c->state == C_HEAD && c->rlen == 0) dw_conn_close(c);
        }
        stop_poll(w);
        return;
    }
    dw_worker_snapshot_changed(w);
}

typedef struct stop_state {
    dw_timer_t *t;
    uint64_t deadline;
} stop_state_t;

static _Thread_local stop_state_t stop_st;

static void stop_poll(void *arg)
{
    dw_worker_t *w = arg;
    if (!stop_st.t) {
        stop_st.t = dw_timer_new(w->loop, stop_poll, w);
        uint64_t drain = w->cur->snap->cfg->global.drain_timeout_ms;
        stop_st.deadline = dw_time_mono_ms() + drain;
        dw_h2_stop(w);
    }
    if ((w->nconns == 0 && w->nh2conns == 0) || dw_time_mono_ms() >= stop_st.deadline) {
        dw_h1_close_all(w);
        dw_h2_close_all(w);
        dw_loop_break(w->loop);
        return;
    }
    dw_timer_start(stop_st.t, STOP_POLL_MS);
}

static void *worker_main(void *arg)
{
    dw_worker_t *w = arg;
    dw_server_t *s = w->srv;
    urcu_memb_register_thread();
    dw_time_update();
    if (s->opts.logd_endpoint) w->alog = dw_log_batcher_new(w->loop, s->opts.logd_endpoint, 0, 0);
    dw_worker_snapshot_changed(w);
    pthread_mutex_lock(&s->start_lock);
    if (w->start_error[0]) w->start_failed = true;
    s->started++;
    pthread_cond_broadcast(&s->start_cond);
    pthread_mutex_unlock(&s->start_lock);
    dw_loop_run(w->loop);
    dw_h1_close_all(w);
    dw_h2_close_all(w);
    dw_upstream_idle_close_all(w);
    dw_proxy_h2_close_all(w);
    close_listeners(w);
    if (w->alog) dw_log_batcher_free(w->alog); /* flushes what is pending */
    w->alog = NULL;
    if (stop_st.t) dw_timer_free(stop_st.t);
    stop_st.t = NULL;
    while (w->old) snapref_drop(w, w->old);
    if (w->cur) {
        dw_snapshot_unref(w->cur->snap);
        free(w->cur);
        w->cur = NULL;
    }
    urcu_memb_unregister_thread();
    return NULL;
}

/* --- the process -------------------------------------------------------------------------------
 */

static void notify_workers(dw_server_t *s)
{
    for (unsigned i = 0; i < s->nworkers; i++) dw_async_notify(s->workers[i].wake);
}

/* Publishes snap as the current snapshot (taking the caller's reference). */
static void publish(dw_server_t *s, dw_snapshot_t *snap)
{
    dw_snapshot_t *old = rcu_xchg_pointer(&s->current, snap);
    if (s->health) dw_health_set_snapshot(s->health, snap);
    notify_workers(s);
    if (old) {
        urcu_memb_synchronize_rcu();
        dw_snapshot_unref(old);
    }
}

/* Agent thread: a compiled snapshot. Before the workers run it becomes the starting one. */
static void on_snapshot(void *arg, dw_snapshot_t *snap, uint64_t generation)
{
    dw_server_t *s = arg;
    pthread_mutex_lock(&s->start_lock);
    if (!s->running) {
        /* the first becomes current; later ones wait until the workers run */
        dw_snapshot_t **slot = s->current ? &s->pending : &s->current;
        dw_snapshot_t *old = *slot;
        *slot = snap;
        pthread_cond_broadcast(&s->start_cond);
        pthread_mutex_unlock(&s->start_lock);
        if (old) dw_snapshot_unref(old);
        return;
    }
    size_t nsites = snap->cfg->nsites;
    publish(s, snap);
    pthread_mutex_unlock(&s->start_lock);
    DW_INFO("server", "configuration generation %llu in service (%zu sites)",
            (unsigned long long)generation, nsites);
}

static void on_snapshot_failed(void *arg, const char *message)
{
    dw_server_t *s = arg;
    pthread_mutex_lock(&s->start_lock);
    if (!s->running && !s->current && !s->first_error) {
        s->first_error = strdup(message);
        pthread_cond_broadcast(&s->start_cond);
    }
    pthread_mutex_unlock(&s->start_lock);
}

static void on_reload(void *arg)
{
    dw_server_t *s = arg;
    if (s->opts.on_reload_signal)
        s->opts.on_reload_signal(s->opts.cb_arg);
    else
        dw_agent_resync(s->agent);
}

static void on_stop(void *arg)
{
    dw_server_t *s = arg;
    if (s->stopping) return;
    s->stopping = true;
    DW_INFO("server", "stopping: finishing in-flight requests");
    if (s->opts.on_stop) s->opts.on_stop(s->opts.cb_arg);
    notify_workers(s);
    dw_loop_break(s->loop);
}

/* Waits for the agent's first snapshot. false (reason printed) when it cannot be had. */
static bool wait_first_snapshot(dw_server_t *s)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += FIRST_SNAPSHOT_S;
    bool told = false;
    pthread_mutex_lock(&s->start_lock);
    while (!s->current) {
        if (s->first_error && !s->opts.wait_for_control) break;
        if (s->opts.wait_for_control) {
            if (!told) {
                DW_INFO("server", "waiting for the control plane at %s", s->opts.control_endpoint);
                told = true;
            }
            pthread_cond_wait(&s->start_cond, &s->start_lock);
        } else if (pthread_cond_timedwait(&s->start_cond, &s->start_lock, &deadline) != 0) {
            break;
        }
    }
    bool ok = s->current != NULL;
    pthread_mutex_unlock(&s->start_lock);
    if (!ok) {
        if (s->first_error)
            fprintf(stderr, "error: %s\n", s->first_error);
        else
            fprintf(stderr, "error: no configuration from the control plane at %s within %d s\n",
                    s->opts.control_endpoint, FIRST_SNAPSHOT_S);
    }
    return ok;
}

int dw_server_run(const dw_server_opts_t *opts)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_IGN); /* scale_to_zero wake commands are reaped by the kernel */
    dw_loop_global_init();
    dw_time_update();
    dw_server_t *s = calloc(1, sizeof *s);
    if (!s) return 1;
    s->opts = *opts;
    pthread_mutex_init(&s->start_lock, NULL);
    pthread_cond_init(&s->start_cond, NULL);
    char err[512];
    dw_agent_cbs_t cbs = {.apply = on_snapshot, .failed = on_snapshot_failed, .arg = s};
    s->agent = dw_agent_start(opts, &cbs, err, sizeof err);
    if (!s->agent) {
        fprintf(stderr, "error: %s\n", err);
        free(s);
        return 1;
    }
    if (!wait_first_snapshot(s)) {
        dw_agent_stop(s->agent);
        dw_snapshot_unref(s->current);
        free(s->first_error);
        free(s);
        return 1;
    }
    dw_snapshot_t *snap = s->current;
    unsigned n = opts->workers;
    if (!n) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (unsigned)cpus : 1;
    }
    s->nworkers = n;
    s->workers = calloc(n, sizeof *s->workers);
    s->loop = dw_loop_new();
    if (!s->workers || !s->loop) {
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    urcu_memb_register_thread();
    dw_err_t terr = {0};
    s->tls = dw_tls_server_new(&terr);
    if (!s->tls) {
        fprintf(stderr, "error: TLS: %s\n", terr.msg);
        return 1;
    }
    s->ticket_timer = dw_timer_new(s->loop, rotate_tickets, s);
    if (s->ticket_timer) dw_timer_start(s->ticket_timer, TICKET_ROTATE_MS);
    s->health = dw_health_start(snap);
    for (unsigned i = 0; i < n; i++) {
        dw_worker_t *w = &s->workers[i];
        w->id = (int)i;
        w->srv = s;
        w->loop = dw_loop_new();
        w->wake = w->loop ? dw_async_new(w->loop, worker_wake, w) : NULL;
        w->scratch = malloc(65536);
        dw_strmap_init(&w->idle, false);
        dw_strmap_init(&w->h2up, false);
        w->tls_server = s->tls;
        if (getrandom(&w->rng, sizeof w->rng, 0) != sizeof w->rng || !w->rng)
            w->rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)w;
        if (!w->loop || !w->wake || !w->scratch ||
            pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            fprintf(stderr, "error: cannot start worker %u\n", i);
            return 1;
        }
    }
    pthread_mutex_lock(&s->start_lock);
    while (s->started < n) pthread_cond_wait(&s->start_cond, &s->start_lock);
    pthread_mutex_unlock(&s->start_lock);
    bool failed = false;
    for (unsigned i = 0; i < n; i++) {
        if (s->workers[i].start_failed) {
            if (!failed) fprintf(stderr, "error: %s\n", s->workers[i].start_error);
            failed = true;
        }
    }
    dw_signal_t *sig_hup = NULL, *sig_term = NULL, *sig_int = NULL;
    if (!failed) {
        sig_hup = dw_signal_new(s->loop, SIGHUP, on_reload, s);
        sig_term = dw_signal_new(s->loop, SIGTERM, on_stop, s);
        sig_int = dw_signal_new(s->loop, SIGINT, on_stop, s);
        for (size_t i = 0; i < snap->nlistens; i++) {
            const dw_rt_listen_t *l = &snap->listens[i];
            if (l->unix_path)
                DW_INFO("server", "serving %s on unix/%s", l->tls ? "HTTPS" : "HTTP", l->unix_path);
            else
                DW_INFO("server", "serving %s on %s:%u", l->tls ? "HTTPS" : "HTTP",
                        l->host[0] ? l->host : "*", l->port);
        }
        /* from here on the agent publishes; one that arrived while the workers started goes
         * out first, under the lock, so publications never overtake each other */
        pthread_mutex_lock(&s->start_lock);
        s->running = true;
        if (s->pending) publish(s, s->pending);
        s->pending = NULL;
        pthread_mutex_unlock(&s->start_lock);
        dw_loop_run(s->loop);
    }
    s->stopping = true;
    dw_agent_stop(s->agent); /* no more publications */
    notify_workers(s);
    for (unsigned i = 0; i < n; i++) pthread_join(s->workers[i].thread, NULL);
    dw_health_stop(s->health);
    for (unsigned i = 0; i < n; i++) {
        dw_worker_t *w = &s->workers[i];
        dw_async_free(w->wake);
        dw_loop_free(w->loop);
        dw_strmap_deinit(&w->idle);
        dw_strmap_deinit(&w->h2up);
        free(w->listeners);
        free(w->scratch);
    }
    if (s->ticket_timer) dw_timer_free(s->ticket_timer);
    dw_tls_server_free(s->tls);
    dw_signal_free(sig_hup);
    dw_signal_free(sig_term);
    dw_signal_free(sig_int);
    dw_snapshot_unref(s->current);
    if (s->pending) dw_snapshot_unref(s->pending);
    urcu_memb_unregister_thread();
    dw_loop_free(s->loop);
    free(s->workers);
    pthread_mutex_destroy(&s->start_lock);
    pthread_cond_destroy(&s->start_cond);
    free(s->first_error);
    free(s);
    return failed ? 1 : 0;
}
