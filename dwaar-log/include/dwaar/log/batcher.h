/* The worker side of request logging (spec 30 §2.5, ARCHITECTURE "logd"): each worker owns a
 * batcher that packs finished-request records into one msgpack "log.batch" message and sends
 * it to logd over a ZeroMQ PUSH socket when max_records are pending or max_ms after the first
 * record of the batch, whichever comes first. Sending never blocks: when logd is slow or gone
 * (its queue is full) the whole batch is dropped and its records counted as dropped.
 * Not thread-safe: one batcher per worker thread, used only on that thread. */
#ifndef DWAAR_LOG_BATCHER_H
#define DWAAR_LOG_BATCHER_H

#include <dwaar/base/loop.h>
#include <dwaar/log/record.h>
#include <stdatomic.h>

typedef struct dw_log_batcher dw_log_batcher_t;

/* Process-wide counters (all batchers), for metrics and tests. */
typedef struct dw_log_counters {
    atomic_uint_fast64_t records_sent;
    atomic_uint_fast64_t records_dropped;
    atomic_uint_fast64_t batches_sent;
} dw_log_counters_t;
extern dw_log_counters_t dw_log_counters;

#define DW_LOG_BATCH_RECORDS 200u /* spec 30 §2.5 */
#define DW_LOG_BATCH_MS      500u

/* Connects a PUSH socket to endpoint (inproc:// needs logd already bound in this process;
 * tcp:// and ipc:// connect lazily). max_records/max_ms = 0 take the defaults above. NULL on
 * failure (reason logged). */
dw_log_batcher_t *dw_log_batcher_new(dw_loop_t *loop, const char *endpoint, unsigned max_records,
                                     unsigned max_ms);
/* Adds one record for destination dest (the site's `log` directive). Cheap: packs into the
 * pending batch; may send it. */
void dw_log_batcher_add(dw_log_batcher_t *b, const dw_cfg_log_t *dest, const dw_log_record_t *rec);
/* Sends what is pending now (shutdown). */
void dw_log_batcher_flush(dw_log_batcher_t *b);
/* Flushes, closes the socket (linger bounded to 1 s) and frees. */
void dw_log_batcher_free(dw_log_batcher_t *b);

#endif
