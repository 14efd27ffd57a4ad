/* What every front end (HTTP/1.1, HTTP/2) does around an exchange: create it on the worker's
 * current snapshot, fill the connection facts, and end it (request-log record, arena, snapshot
 * reference). Internal. */
#ifndef DWAAR_CORE_EXCHANGE_H
#define DWAAR_CORE_EXCHANGE_H

#include "worker.h"
#include <sys/socket.h>

/* A new exchange on the worker's current snapshot (one snapshot reference held in *sref),
 * with the request id made and the log start time taken. NULL when out of memory. */
dw_exchange_t *dw_exchange_new(dw_worker_t *w, dw_snapref_t **sref);
/* Ends it: the request-log record when the site logs (bytes_received = request body bytes),
 * then frees the arena and releases the snapshot reference. */
void dw_exchange_end(dw_worker_t *w, dw_exchange_t *ex, dw_snapref_t *sref,
                     uint64_t bytes_received);

/* The origin-form target (path[?query], or "*"): orig_uri, path, query and the normalised
 * path. Not DW_OK when the path does not normalise (400). */
int dw_req_set_target(dw_req_t *r, dw_str_t target);

/* Socket address to dw_ip_t (IPv4-mapped IPv6 becomes IPv4). */
void dw_ip_from_sockaddr(dw_ip_t *ip, const struct sockaddr_storage *ss);
/* Host or :authority to the normalised host key (lower-case, no port, no trailing dot, no
 * brackets) and port (0 when absent). False when malformed (400). */
bool dw_host_split(dw_arena_t *a, dw_str_t hostport, dw_str_t *host, uint16_t *port);

#endif
