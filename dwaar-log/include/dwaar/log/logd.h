/* logd: the service that receives "log.batch" messages from the workers' batchers and writes
 * one line per record to the record's destination (spec 30 §2.4-2.6, ARCHITECTURE "logd").
 *
 * It binds a PULL socket; the bus runner checks envelope, type and version, logd checks the
 * body (a malformed batch or record is counted and skipped, never fatal). Per batch, the lines
 * for one destination are built in one buffer and written with as few write() calls as
 * possible:
 *   stdout / stderr  pipes and sockets are written without blocking (what does not fit waits
 *                    for the fd to become writable, bounded; beyond the bound new records are
 *                    dropped and counted); regular files and terminals with plain writes;
 *   discard          nothing is written;
 *   file <path>      opened O_WRONLY|O_APPEND|O_CREAT 0644 on first use, one writer per
 *                    distinct path, blocking writes (logd is not on the request path).
 * Not yet (later observability issue): rotation (max_size/keep are carried but ignored), the
 * unix socket sink (records for it are dropped and counted), the console format (written as
 * JSON for now).
 *
 * On stop, what is already queued on the socket is read and written (bounded by drain_ms). */
#ifndef DWAAR_LOG_LOGD_H
#define DWAAR_LOG_LOGD_H

#include <dwaar/bus/bus.h>
#include <stdatomic.h>

typedef struct dw_logd_opts {
    const char *endpoint; /* PULL socket to bind, e.g. "inproc://dwaar-logd" (copied) */
    unsigned drain_ms;    /* on stop: drain the socket at most this long; 0 = 200 */
    int rcvhwm;           /* batches queued toward logd; 0 = 64 */
    size_t pending_max;   /* per non-blocking destination: unwritten bytes kept; 0 = 4 MiB */
} dw_logd_opts_t;

/* Process-wide counters (all logd instances), for metrics and tests. */
typedef struct dw_logd_counters {
    atomic_uint_fast64_t batches;           /* log.batch messages handled */
    atomic_uint_fast64_t batches_malformed; /* body not {"records": [...]} */
    atomic_uint_fast64_t records_written;   /* lines handed to the destination (or discard) */
    atomic_uint_fast64_t records_malformed; /* skipped: bad dest, fields or value types */
    atomic_uint_fast64_t records_dropped;   /* destination failed or full */
} dw_logd_counters_t;
extern dw_logd_counters_t dw_logd_counters;

/* The service definition for dw_service_start() / dw_service_run(). The definition owns a
 * private state (a copy of opts), released by the service's fini, or by its init when that
 * fails; a definition that is never started leaks that small state. */
dw_service_def_t dw_logd_service(const dw_logd_opts_t *opts);

#endif
