/* libevent behind dw_loop (see loop.h). */
#include <dwaar/base/loop.h>
#include <dwaar/base/time.h>
#include <event2/event.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct dw_loop {
    struct event_base *base;
};

struct dw_io {
    struct event *ev;
    dw_loop_t *loop;
    int fd;
    short cur; /* EV_READ|EV_WRITE currently registered */
    dw_io_cb cb;
    void *arg;
};

struct dw_timer {
    struct event *ev;
    dw_loop_cb cb;
    void *arg;
};

struct dw_async {
    struct event *ev;
    int efd;
    dw_loop_cb cb;
    void *arg;
};

struct dw_signal {
    struct event *ev;
    dw_loop_cb cb;
    void *arg;
};

/* Loops are single-threaded (EVENT_BASE_FLAG_NOLOCK: no mutex around every event
 * operation); the only cross-thread call, dw_async_notify, goes through an eventfd. */
void dw_loop_global_init(void) {}

dw_loop_t *dw_loop_new(void)
{
    dw_loop_t *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    struct event_config *cfg = event_config_new();
    if (cfg) {
        /* Timeouts are read from the cached time; we refresh our own cache per wakeup. */
        event_config_set_flag(cfg, EVENT_BASE_FLAG_NO_CACHE_TIME);
        event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
        l->base = event_base_new_with_config(cfg);
        event_config_free(cfg);
    }
    if (!l->base) {
        free(l);
        return NULL;
    }
    return l;
}

void dw_loop_free(dw_loop_t *l)
{
    if (!l) return;
    event_base_free(l->base);
    free(l);
}

int dw_loop_run(dw_loop_t *l)
{
    return event_base_loop(l->base, 0);
}

void dw_loop_break(dw_loop_t *l)
{
    event_base_loopbreak(l->base);
}

static void io_trampoline(evutil_socket_t fd, short what, void *arg)
{
    dw_io_t *io = arg;
    dw_time_update();
    io->cb((int)fd, ((what & EV_READ) ? DW_IO_READ : 0) | ((what & EV_WRITE) ? DW_IO_WRITE : 0),
           io->arg);
}

dw_io_t *dw_io_new(dw_loop_t *l, int fd, dw_io_cb cb, void *arg)
{
    dw_io_t *io = calloc(1, sizeof *io);
    if (!io) return NULL;
    io->loop = l, io->fd = fd, io->cb = cb, io->arg = arg;
    return io;
}

void dw_io_want(dw_io_t *io, bool read, bool write)
{
    short want = (short)((read ? EV_READ : 0) | (write ? EV_WRITE : 0));
    if (want == io->cur) return;
    if (io->ev) {
        event_del(io->ev);
        if (want) {
            event_assign(io->ev, io->loop->base, io->fd, want | EV_PERSIST, io_trampoline, io);
        }
    } else if (want) {
        io->ev = event_new(io->loop->base, io->fd, want | EV_PERSIST, io_trampoline, io);
        if (!io->ev) return;
    }
    if (want) event_add(io->ev, NULL);
    io->cur = want;
}

void dw_io_activate(dw_io_t *io, int events)
{
    if (!io->ev) {
        io->ev = event_new(io->loop->base, io->fd, EV_READ | EV_PERSIST, io_trampoline, io);
        if (!io->ev) return;
    }
    event_active(
        io->ev, ((events & DW_IO_READ) ? EV_READ : 0) | ((events & DW_IO_WRITE) ? EV_WRITE : 0), 0);
}

bool dw_io_reading(const dw_io_t *io)
{
    return (io->cur & EV_READ) != 0;
}

void dw_io_free(dw_io_t *io)
{
    if (!io) return;
    if (io->ev) event_free(io->ev);
    free(io);
}

static void timer_trampoline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    dw_timer_t *t = arg;
    dw_time_update();
    t->cb(t->arg);
}

dw_timer_t *dw_timer_new(dw_loop_t *l, dw_loop_cb cb, void *arg)
{
    dw_timer_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cb = cb, t->arg = arg;
    t->ev = evtimer_new(l->base, timer_trampoline, t);
    if (!t->ev) {
        free(t);
        return NULL;
    }
    return t;
}

void dw_timer_start(dw_timer_t *t, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(t->ev, &tv);
}

void dw_timer_stop(dw_timer_t *t)
{
    evtimer_del(t->ev);
}

bool dw_timer_pending(const dw_timer_t *t)
{
    return evtimer_pending(t->ev, NULL) != 0;
}

void dw_timer_free(dw_timer_t *t)
{
    if (!t) return;
    event_free(t->ev);
    free(t);
}

static void async_trampoline(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    dw_async_t *a = arg;
    uint64_t n;
    if (read((int)fd, &n, sizeof n) != (ssize_t)sizeof n) return; /* spurious */
    dw_time_update();
    a->cb(a->arg);
}

dw_async_t *dw_async_new(dw_loop_t *l, dw_loop_cb cb, void *arg)
{
    dw_async_t *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->cb = cb, a->arg = arg;
    a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    a->ev =
        a->efd >= 0 ? event_new(l->base, a->efd, EV_READ | EV_PERSIST, async_trampoline, a) : NULL;
    if (!a->ev || event_add(a->ev, NULL) != 0) {
        if (a->ev) event_free(a->ev);
        if (a->efd >= 0) close(a->efd);
        free(a);
        return NULL;
    }
    return a;
}

void dw_async_notify(dw_async_t *a)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is saturated: a wakeup is pending anyway */
    (void)!write(a->efd, &one, sizeof one);
}

void dw_async_free(dw_async_t *a)
{
    if (!a) return;
    event_free(a->ev);
    close(a->efd);
    free(a);
}

static void signal_trampoline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    dw_signal_t *s = arg;
    dw_time_update();
    s->cb(s->arg);
}

dw_signal_t *dw_signal_new(dw_loop_t *l, int signo, dw_loop_cb cb, void *arg)
{
    dw_signal_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cb = cb, s->arg = arg;
    s->ev = evsignal_new(l->base, signo, signal_trampoline, s);
    if (!s->ev || evsignal_add(s->ev, NULL) != 0) {
        if (s->ev) event_free(s->ev);
        free(s);
        return NULL;
    }
    return s;
}

void dw_signal_free(dw_signal_t *s)
{
    if (!s) return;
    event_free(s->ev);
    free(s);
}
