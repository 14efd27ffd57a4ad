/* Bus messages: the envelope every control-plane message travels in, and msgpack helpers.
 *
 * On the wire a message is one ZeroMQ frame holding one msgpack map with exactly these keys:
 *   "type"    str   dotted name owned by a library, e.g. "config.snapshot", "log.batch"
 *   "version" uint  the body schema version of that type (starts at 1)
 *   "id"      uint  chosen by the sender; a reply carries the id of its request; 0 = none
 *   "body"    any   the type's payload (a map for every message we define), nil if none
 * Keys may come in any order; unknown envelope keys are an error (not a forward-compatible
 * extension point: new fields go in the body, new shapes get a new version).
 *
 * Decoding never trusts the input: every length is checked, nesting depth is bounded by
 * msgpack-c's fixed unpack stack, and the whole message is refused above a size limit. */
#ifndef DWAAR_BUS_MSG_H
#define DWAAR_BUS_MSG_H

#include <dwaar/base/str.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Default size limit for one message (a 10,000-site config snapshot is a few MiB). */
#define DW_BUS_MAX_MSG_DEFAULT (64u * 1024u * 1024u)

typedef enum dw_bus_status {
    DW_BUS_OK = 0,
    DW_BUS_E_MALFORMED,    /* not msgpack, not a map, missing/mistyped envelope key, trailing
                              bytes after the map, duplicate or unknown envelope key */
    DW_BUS_E_TRUNCATED,    /* the msgpack data ends early */
    DW_BUS_E_OVERSIZED,    /* larger than the limit given to dw_bus_decode */
    DW_BUS_E_UNKNOWN_TYPE, /* well formed, but no handler knows the type (runner) */
    DW_BUS_E_VERSION,      /* known type, unsupported version (runner) */
    DW_BUS_E__COUNT
} dw_bus_status_t;

/* Stable lower-case names used in error replies and docs: "malformed", "truncated",
 * "oversized", "unknown_type", "bad_version". */
const char *dw_bus_status_name(dw_bus_status_t st);

/* A decoded message. type and body point into the unpacked zone owned by the message. */
typedef struct dw_bus_msg {
    dw_str_t type;
    uint32_t version;
    uint64_t id;
    const msgpack_object *body; /* never NULL after a successful decode (nil object if absent) */
    msgpack_unpacked up;        /* owns the zone */
} dw_bus_msg_t;

/* Decodes one message from data. On success (DW_BUS_OK) the caller frees with
 * dw_bus_msg_free(); on failure nothing needs freeing. max = 0 means the default limit. */
dw_bus_status_t dw_bus_decode(const void *data, size_t len, size_t max, dw_bus_msg_t *out);
void dw_bus_msg_free(dw_bus_msg_t *m);

/* --- encoding ---------------------------------------------------------------------------------
 * A writer is a msgpack_packer over a growable buffer. Start the envelope with dw_bus_begin(),
 * then pack exactly one body object (usually a map) with the msgpack_pack_* calls or the
 * helpers below, then take the bytes. */
typedef struct dw_bus_writer {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} dw_bus_writer_t;

void dw_bus_writer_init(dw_bus_writer_t *w);
void dw_bus_writer_reset(dw_bus_writer_t *w); /* empty again, keeps the allocation */
void dw_bus_writer_free(dw_bus_writer_t *w);
/* Writes the envelope map header and the type/version/id entries, then the "body" key: the
 * next packed object is the body. */
void dw_bus_begin(dw_bus_writer_t *w, const char *type, uint32_t version, uint64_t id);

/* Body helpers (all append to w->pk). */
void dw_mp_str(msgpack_packer *pk, const char *s, size_t n);
void dw_mp_cstr(msgpack_packer *pk, const char *s); /* NULL packs nil */
void dw_mp_dwstr(msgpack_packer *pk, dw_str_t s);
/* "key": value pairs for maps */
void dw_mp_kv_cstr(msgpack_packer *pk, const char *key, const char *val); /* NULL val -> nil */
void dw_mp_kv_str(msgpack_packer *pk, const char *key, const char *val, size_t n);
void dw_mp_kv_uint(msgpack_packer *pk, const char *key, uint64_t val);
void dw_mp_kv_int(msgpack_packer *pk, const char *key, int64_t val);
void dw_mp_kv_bool(msgpack_packer *pk, const char *key, bool val);
void dw_mp_kv_nil(msgpack_packer *pk, const char *key);

/* --- reading bodies ---------------------------------------------------------------------------
 * Lookups in a decoded map by key. Each returns false when the key is missing or has another
 * type (the caller decides whether that is an error); none of them allocates. */
const msgpack_object *dw_mp_get(const msgpack_object *map, const char *key);
bool dw_mp_get_str(const msgpack_object *map, const char *key, dw_str_t *out);
bool dw_mp_get_uint(const msgpack_object *map, const char *key, uint64_t *out);
bool dw_mp_get_int(const msgpack_object *map, const char *key, int64_t *out);
bool dw_mp_get_bool(const msgpack_object *map, const char *key, bool *out);
/* An array value: items and n are set (n may be 0). */
bool dw_mp_get_array(const msgpack_object *map, const char *key, const msgpack_object **items,
                     size_t *n);
static inline dw_str_t dw_mp_as_str(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_STR ? dw_str_make(o->via.str.ptr, o->via.str.size)
                                         : DW_STR_NULL;
}

/* The standard error reply: type "error", version 1, body
 *   {"code": <status name or a type-specific code>, "message": <text>}
 * id = the id of the request it answers. */
#define DW_BUS_ERROR_TYPE "error"
void dw_bus_encode_error(dw_bus_writer_t *w, uint64_t id, const char *code, const char *message);

#endif
