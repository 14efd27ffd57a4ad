/* The event loop: a thin wrapper over libevent, the only place that includes it, so the rest of
 * the code depends on these few calls and nothing else. One loop per thread; nothing here is
 * shared between loops except dw_async_notify(), which may be called from any thread. */
#ifndef DWAAR_BASE_LOOP_H
#define DWAAR_BASE_LOOP_H

#include <dwaar/base/compiler.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct dw_loop dw_loop_t;
typedef struct dw_io dw_io_t;
typedef struct dw_timer dw_timer_t;
typedef struct dw_async dw_async_t;
typedef struct dw_signal dw_signal_t;

#define DW_IO_READ  0x02
#define DW_IO_WRITE 0x04

typedef void (*dw_io_cb)(int fd, int events, void *arg);
typedef void (*dw_loop_cb)(void *arg);

/* Call once per process before creating loops used from several threads. */
void dw_loop_global_init(void);

dw_loop_t *dw_loop_new(void);
void dw_loop_free(dw_loop_t *l);
/* Runs until dw_loop_break(). Refreshes the thread's time cache once per wakeup. */
int dw_loop_run(dw_loop_t *l);
void dw_loop_break(dw_loop_t *l);

/* A persistent fd watcher; interest is set with dw_io_want (level-triggered). */
dw_io_t *dw_io_new(dw_loop_t *l, int fd, dw_io_cb cb, void *arg);
void dw_io_want(dw_io_t *io, bool read, bool write);
/* Runs the callback once on the next loop turn with these events, whatever the fd says (TLS
 * may hold bytes the socket no longer signals). */
void dw_io_activate(dw_io_t *io, int events);
/* The read interest currently registered. */
bool dw_io_reading(const dw_io_t *io);
void dw_io_free(dw_io_t *io);

/* A one-shot timer; dw_timer_start re-arms (replacing a pending expiry). */
dw_timer_t *dw_timer_new(dw_loop_t *l, dw_loop_cb cb, void *arg);
void dw_timer_start(dw_timer_t *t, uint64_t ms);
void dw_timer_stop(dw_timer_t *t);
bool dw_timer_pending(const dw_timer_t *t);
void dw_timer_free(dw_timer_t *t);

/* Wakes the owning loop from any thread; cb runs on the loop's thread. */
dw_async_t *dw_async_new(dw_loop_t *l, dw_loop_cb cb, void *arg);
void dw_async_notify(dw_async_t *a);
void dw_async_free(dw_async_t *a);

/* A signal delivered to this loop (install on one loop only). */
dw_signal_t *dw_signal_new(dw_loop_t *l, int signo, dw_loop_cb cb, void *arg);
void dw_signal_free(dw_signal_t *s);

#endif
