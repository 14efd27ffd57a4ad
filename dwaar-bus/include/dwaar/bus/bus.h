/* ZeroMQ endpoints and the service runner every control-plane part uses.
 *
 * A service is one thread (or a whole daemon process) that owns a libevent loop (dw_loop) and
 * a set of ZeroMQ sockets; the runner watches each socket's ZMQ_FD on the loop, so timers,
 * signals, inotify and plain fds are served by the same loop as the bus. Messages are decoded
 * and checked by the runner before any handler sees them:
 *   - undecodable input (malformed, truncated, oversized) is counted and, on sockets that
 *     answer (ROUTER/REP), answered with an "error" message when an id could be read, else
 *     dropped;
 *   - a type with no handler, or a version the handler does not accept, is answered with an
 *     "error" (code "unknown_type"/"bad_version") on answering sockets, dropped on the others;
 *     both are counted.
 * Nothing a peer sends can make a service crash or stop.
 *
 * Endpoints are ZeroMQ URLs: inproc://name (threads of one process; all share the process
 * context from dw_bus_context()), ipc:///path, tcp://host:port. */
#ifndef DWAAR_BUS_BUS_H
#define DWAAR_BUS_BUS_H

#include <dwaar/base/loop.h>
#include <dwaar/bus/msg.h>
#include <stdatomic.h>

/* The process-wide ZeroMQ context (created on first use; thread-safe). */
void *dw_bus_context(void);
/* Terminates it at exit, after every socket is closed. */
void dw_bus_context_term(void);

/* Counters kept per socket, readable from any thread. */
typedef struct dw_bus_stats {
    atomic_uint_fast64_t received;                  /* messages handed to a handler */
    atomic_uint_fast64_t rejected[DW_BUS_E__COUNT]; /* by dw_bus_status_t */
    atomic_uint_fast64_t send_dropped; /* sends refused because the peer queue was full */
} dw_bus_stats_t;

typedef struct dw_service dw_service_t;
typedef struct dw_bus_sock dw_bus_sock_t;

/* Who sent a message on a ROUTER socket (its routing id and the REQ-style empty delimiter),
 * so the handler can answer later from the same thread. Empty for other socket types. */
typedef struct dw_bus_peer {
    uint8_t rid[256];
    size_t rid_len;
    bool delimited; /* the request had an empty delimiter frame (REQ/our DEALER clients) */
} dw_bus_peer_t;

typedef void (*dw_bus_handler_fn)(dw_bus_sock_t *s, const dw_bus_peer_t *from,
                                  const dw_bus_msg_t *msg, void *arg);

/* One message type a socket accepts: versions min_version..max_version. */
typedef struct dw_bus_handler {
    const char *type;
    uint32_t min_version, max_version;
    dw_bus_handler_fn fn;
} dw_bus_handler_t;

typedef struct dw_bus_sock_opts {
    int zmq_type;                     /* ZMQ_ROUTER, ZMQ_PUB, ZMQ_SUB, ZMQ_PULL, ZMQ_PUSH, ... */
    const char *endpoint;             /* URL */
    bool bind;                        /* bind (servers) or connect (clients) */
    const dw_bus_handler_t *handlers; /* terminated by {NULL}; NULL for send-only sockets */
    void *arg;                        /* passed to the handlers */
    size_t max_msg;                   /* 0 = DW_BUS_MAX_MSG_DEFAULT; also set as ZMQ_MAXMSGSIZE */
    int sndhwm, rcvhwm;               /* 0 = ZeroMQ defaults */
    const char *subscribe;            /* SUB: prefix filter ("" = everything); NULL = "" */
} dw_bus_sock_opts_t;

/* Opens a socket owned by svc and watched by its loop. Returns NULL with a message in err
 * (e.g. "cannot bind tcp://127.0.0.1:7000: Address already in use"). For ipc:// binds, a
 * stale socket file is replaced and the file gets mode 0600. */
dw_bus_sock_t *dw_bus_open(dw_service_t *svc, const dw_bus_sock_opts_t *o, char *err,
                           size_t errlen);
void dw_bus_close(dw_bus_sock_t *s);
dw_bus_stats_t *dw_bus_sock_stats(dw_bus_sock_t *s);
/* The raw ZeroMQ socket (for options such as ZMQ_LINGER). */
void *dw_bus_sock_raw(dw_bus_sock_t *s);

/* Sends one encoded message (the bytes of a dw_bus_writer_t). to = the peer to answer on a
 * ROUTER socket, NULL otherwise. Never blocks: when the peer's queue is full the message is
 * dropped, counted in send_dropped, and -1 returned. */
int dw_bus_send(dw_bus_sock_t *s, const dw_bus_peer_t *to, const void *data, size_t len);
/* Encodes and sends the standard error reply. */
int dw_bus_reply_error(dw_bus_sock_t *s, const dw_bus_peer_t *to, uint64_t id, const char *code,
                       const char *message);

/* --- services ------------------------------------------------------------------------------- */

typedef struct dw_service_def {
    const char *name; /* for logs: "configd", "admind", "logd", ... */
    /* Runs on the service's thread before the loop: open sockets, timers. Non-zero = failed
     * (the message in err is what dw_service_start reports). */
    int (*init)(dw_service_t *svc, void *arg, char *err, size_t errlen);
    /* Runs on the service's thread after the loop stopped: close what init opened. */
    void (*fini)(dw_service_t *svc, void *arg);
    void *arg;
} dw_service_def_t;

/* Starts the service on a new thread and waits until its init finished. Returns NULL (with
 * init's message in err) when init failed. */
dw_service_t *dw_service_start(const dw_service_def_t *def, char *err, size_t errlen);
/* Asks the service to stop (from any thread), waits for its thread, frees it. */
void dw_service_stop(dw_service_t *svc);
/* Runs the service on the calling thread until SIGTERM/SIGINT or dw_service_break(); used by
 * the standalone daemons. Returns 0 after a clean stop, 1 when init failed (message printed
 * to stderr). */
int dw_service_run(const dw_service_def_t *def);
/* Stops the loop of the calling service from inside one of its callbacks. */
void dw_service_break(dw_service_t *svc);

dw_loop_t *dw_service_loop(dw_service_t *svc);
const char *dw_service_name(const dw_service_t *svc);

/* --- clients -------------------------------------------------------------------------------- */

/* One request/response exchange with a ROUTER/REP endpoint, for callers without a service
 * (CLIs, tests) or that must wait for the answer (admind asking configd): connects a fresh
 * DEALER, sends req (an encoded message), waits up to timeout_ms for the reply whose id equals
 * req_id (others are discarded), decodes it into reply. Returns DW_BUS_OK, a decode status, or
 * -1 with errno ETIMEDOUT / the connect error. The caller frees reply on success. */
int dw_bus_request(const char *endpoint, const void *req, size_t len, uint64_t req_id,
                   int timeout_ms, size_t max_reply, dw_bus_msg_t *reply);

/* A fresh non-zero message id (process-wide counter mixed with the pid). */
uint64_t dw_bus_next_id(void);

#endif
