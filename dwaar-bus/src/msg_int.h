/* Private to dwaar-bus: the structural pre-scan, the id peek, and a decode that borrows. */
#ifndef DWAAR_BUS_MSG_INT_H
#define DWAAR_BUS_MSG_INT_H

#include <dwaar/bus/msg.h>

/* Nesting limit of the pre-scan: the same as msgpack-c's fixed unpack stack
 * (MSGPACK_EMBED_STACK_SIZE), so anything the scan accepts msgpack-c can unpack. Empty
 * containers do not count, as in msgpack-c. */
#define DW_BUS_MAX_DEPTH 32
/* Longest accepted "type". */
#define DW_BUS_MAX_TYPE_LEN 128
/* How far into an oversized message the runner looks for an id to answer with. */
#define DW_BUS_PEEK_OVERSIZED 4096

/* Checks that data starts with one complete msgpack object without materialising it: every
 * header byte, every length, nesting depth, and that the objects still announced fit in the
 * bytes left (each needs one byte at least), so msgpack-c's up-front array allocation is
 * bounded by the input size. *end = the offset just past the object. */
dw_bus_status_t dw_bus_scan(const void *data, size_t len, size_t *end);

/* Best effort for error replies: the unsigned "id" of a top-level map, looked for in the first
 * limit bytes of data even when the rest is broken. */
bool dw_bus_peek_id(const void *data, size_t len, size_t limit, uint64_t *id);

/* dw_bus_decode without the copy: the message points into data, which must outlive it. */
dw_bus_status_t dw_bus_decode_borrowed(const void *data, size_t len, size_t max, dw_bus_msg_t *out);

#endif
