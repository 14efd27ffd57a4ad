/* One request-log record as a worker fills it when a request ends (spec 30 §2.2), and the
 * "log.batch" message that carries records to logd.
 *
 * The record holds plain values and dw_str_t views that only need to stay valid during the
 * dw_log_batcher_add() call: the batcher serialises the record into its pending batch at once,
 * applying the privacy transforms of §2.3 on the way (client_ip anonymisation, query and referer
 * redaction), so raw client addresses and secrets in query strings never leave the worker.
 *
 * Wire format ("log.batch" version 1, body = one msgpack map):
 *   {"records": [rec, ...]}
 *   rec    = {"dest": dest, "fields": fields}
 *   dest   = {"output": "stdout"|"stderr"|"discard"|"file"|"unix",
 *             "path": str (file, unix), "format": "json"|"console",
 *             "max_size": uint (file, when set), "keep": uint (file, when set)}
 *   fields = the record's keys in spec order, values str / int / bool only (never nil);
 *            optional keys are absent. logd writes the keys it receives in the order
 *            received, so fields added later (log_append, tls_version, ...) need no logd change.
 */
#ifndef DWAAR_LOG_RECORD_H
#define DWAAR_LOG_RECORD_H

#include <dwaar/base/buf.h>
#include <dwaar/config/model.h>
#include <stdbool.h>
#include <stdint.h>

#define DW_LOG_BATCH_TYPE    "log.batch"
#define DW_LOG_BATCH_VERSION 1u

/* http_version values (the same encoding as dw_req_t.http_version) */
enum {
    DW_LOG_HTTP09 = 9,
    DW_LOG_HTTP10 = 10,
    DW_LOG_HTTP11 = 11,
    DW_LOG_HTTP2 = 20,
    DW_LOG_HTTP3 = 30
};

/* A view with ptr == NULL means "absent" for the optional fields (an empty header is present
 * and logged as ""). */
typedef struct dw_log_record {
    uint64_t wall_ms;    /* Unix ms when the record is built -> "timestamp" */
    dw_str_t request_id; /* UUID v7, 36 chars */
    dw_str_t method;     /* as received */
    dw_str_t path;       /* request path without '?query' */
    dw_str_t query;      /* raw query after '?'; used only when has_query */
    bool has_query;
    dw_str_t host;   /* Host (or :authority) as received; empty = "" */
    uint16_t status; /* sent to the client; 0 = none */
    uint64_t response_time_us;
    /* TCP peer (never X-Forwarded-For), raw: anonymised when packed. family 0 = unknown
     * ("0.0.0.0"); 4 = addr[0..3]; 6 = addr[0..15] (IPv4-mapped is logged as IPv4) */
    uint8_t client_family;
    uint8_t client_addr[16];
    dw_str_t user_agent; /* optional */
    dw_str_t referer;    /* optional; redacted when packed */
    uint64_t bytes_sent; /* response body bytes */
    uint64_t bytes_received;
    uint8_t http_version; /* DW_LOG_HTTP* */
    bool is_bot;
    dw_str_t upstream_addr; /* "ip:port" of the backend used; empty/NULL = "" */
    uint64_t upstream_response_time_us;
} dw_log_record_t;

/* --- the privacy transforms (spec 30 §2.3), exposed for tests and later sinks ------------- */

/* client_ip text: IPv4 with the last octet zeroed, IPv6 cut to /48 (RFC 5952 text), IPv4-mapped
 * IPv6 converted to IPv4 first, "0.0.0.0" for family 0. out needs 46 bytes; returns the
 * length. */
size_t dw_log_record_anon_ip(uint8_t family, const uint8_t addr[16], char out[46]);

/* Query redaction: pieces split on '&', key = text before the first '='; a non-empty value of
 * a sensitive key (token key secret password api_key access_token auth, ASCII
 * case-insensitive) becomes REDACTED. Appends the result to out (whose size grows by at most
 * a constant per piece). Returns true when something was redacted. */
bool dw_log_record_redact_query(dw_buf_t *out, dw_str_t query);

/* Referer redaction: the part after the first '?' is redacted as a query; without '?' a value
 * longer than 128 bytes is cut to 128 bytes at a UTF-8 boundary. Appends to out. */
void dw_log_record_redact_referer(dw_buf_t *out, dw_str_t referer);

/* "HTTP/1.1" etc. for a DW_LOG_HTTP* value ("HTTP/1.1" for unknown values). */
const char *dw_log_record_http_version(uint8_t v);

/* Formats wall_ms as RFC 3339 UTC with milliseconds ("2026-04-05T14:23:01.452Z"); out needs
 * 32 bytes. Returns the length. */
size_t dw_log_record_timestamp(uint64_t wall_ms, char out[32]);

#endif
