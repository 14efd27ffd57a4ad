/* Bus envelope: decoding with every check the header promises, encoding, body helpers. */
#include "msg_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const status_names[DW_BUS_E__COUNT] = {
    [DW_BUS_OK] = "ok",
    [DW_BUS_E_MALFORMED] = "malformed",
    [DW_BUS_E_TRUNCATED] = "truncated",
    [DW_BUS_E_OVERSIZED] = "oversized",
    [DW_BUS_E_UNKNOWN_TYPE] = "unknown_type",
    [DW_BUS_E_VERSION] = "bad_version",
};

const char *dw_bus_status_name(dw_bus_status_t st)
{
    if ((unsigned)st >= DW_BUS_E__COUNT) return "unknown";
    return status_names[st];
}

/* --- the structural pre-scan ------------------------------------------------------------- */

static uint64_t load_be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

/* What one object's head announces: payload bytes to skip, or children to read. */
typedef struct head {
    uint64_t skip;
    uint64_t kids; /* map entries count twice: key and value */
    bool container;
} head_t;

/* Reads the head at p[*off], advancing *off past it (not past the payload). */
static dw_bus_status_t read_head(const uint8_t *p, size_t len, size_t *off, head_t *h)
{
    if (*off >= len) return DW_BUS_E_TRUNCATED;
    uint8_t b = p[(*off)++];
    unsigned lenbytes = 0; /* a big-endian length follows the first byte */
    uint64_t extra = 0;    /* ext: the type byte after the length */
    bool map = false;
    *h = (head_t){0};
    if (b <= 0x7f || b >= 0xe0) return DW_BUS_OK; /* fixints */
    if (b >= 0xa0 && b <= 0xbf) {
        h->skip = b & 0x1f;
        return DW_BUS_OK;
    }
    if (b >= 0x80 && b <= 0x9f) {
        h->container = true;
        h->kids = (uint64_t)(b & 0x0f) * (b <= 0x8f ? 2 : 1);
        return DW_BUS_OK;
    }
    switch (b) {
    case 0xc0:
    case 0xc2:
    case 0xc3: return DW_BUS_OK;          /* nil, false, true */
    case 0xc1: return DW_BUS_E_MALFORMED; /* never used */
    case 0xc4:
    case 0xd9: lenbytes = 1; break; /* bin8, str8 */
    case 0xc5:
    case 0xda: lenbytes = 2; break;
    case 0xc6:
    case 0xdb: lenbytes = 4; break;
    case 0xc7: lenbytes = 1, extra = 1; break; /* ext8/16/32 */
    case 0xc8: lenbytes = 2, extra = 1; break;
    case 0xc9: lenbytes = 4, extra = 1; break;
    case 0xca: h->skip = 4; return DW_BUS_OK; /* float32 */
    case 0xcb: h->skip = 8; return DW_BUS_OK;
    case 0xcc:
    case 0xd0: h->skip = 1; return DW_BUS_OK; /* (u)int8..64 */
    case 0xcd:
    case 0xd1: h->skip = 2; return DW_BUS_OK;
    case 0xce:
    case 0xd2: h->skip = 4; return DW_BUS_OK;
    case 0xcf:
    case 0xd3: h->skip = 8; return DW_BUS_OK;
    case 0xd4: h->skip = 2; return DW_BUS_OK; /* fixext: type byte + 1..16 */
    case 0xd5: h->skip = 3; return DW_BUS_OK;
    case 0xd6: h->skip = 5; return DW_BUS_OK;
    case 0xd7: h->skip = 9; return DW_BUS_OK;
    case 0xd8: h->skip = 17; return DW_BUS_OK;
    case 0xdc: lenbytes = 2, h->container = true; break; /* array16/32 */
    case 0xdd: lenbytes = 4, h->container = true; break;
    case 0xde: lenbytes = 2, h->container = true, map = true; break; /* map16/32 */
    case 0xdf: lenbytes = 4, h->container = true, map = true; break;
    default: return DW_BUS_E_MALFORMED; /* unreachable: every byte is covered above */
    }
    if (len - *off < lenbytes) return DW_BUS_E_TRUNCATED;
    uint64_t v = load_be(p + *off, lenbytes);
    *off += lenbytes;
    if (h->container)
        h->kids = map ? v * 2 : v;
    else
        h->skip = v + extra;
    return DW_BUS_OK;
}

dw_bus_status_t dw_bus_scan(const void *data, size_t len, size_t *end)
{
    const uint8_t *p = data;
    uint64_t left[DW_BUS_MAX_DEPTH + 1]; /* objects still to read per open container; [0] = root */
    unsigned depth = 0;
    uint64_t need = 1; /* objects announced and not read yet, over all levels */
    size_t off = 0;
    left[0] = 1;
    for (;;) {
        head_t h;
        dw_bus_status_t st = read_head(p, len, &off, &h);
        if (st != DW_BUS_OK) return st;
        if (h.skip > len - off) return DW_BUS_E_TRUNCATED;
        off += (size_t)h.skip;
        left[depth]--, need--;
        if (h.container && h.kids > 0) {
            if (depth == DW_BUS_MAX_DEPTH) return DW_BUS_E_MALFORMED;
            need += h.kids;
            left[++depth] = h.kids;
        }
        /* Every announced object takes a byte at least: more than that cannot be complete,
         * and saying so now keeps msgpack-c from allocating for objects that never come. */
        if (need > len - off) return DW_BUS_E_TRUNCATED;
        while (left[depth] == 0) {
            if (depth == 0) {
                *end = off;
                return DW_BUS_OK;
            }
            depth--;
        }
    }
}

/* Reads an unsigned integer object at p[*off] (any encoding msgpack-c would decode as a
 * positive integer). false when it is not one or is cut short. */
static bool read_uint(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
    if (*off >= len) return false;
    uint8_t b = p[*off];
    if (b <= 0x7f) {
        *v = b;
        (*off)++;
        return true;
    }
    unsigned n;
    bool is_signed = false;
    switch (b) {
    case 0xcc: n = 1; break;
    case 0xcd: n = 2; break;
    case 0xce: n = 4; break;
    case 0xcf: n = 8; break;
    case 0xd0: n = 1, is_signed = true; break;
    case 0xd1: n = 2, is_signed = true; break;
    case 0xd2: n = 4, is_signed = true; break;
    case 0xd3: n = 8, is_signed = true; break;
    default: return false;
    }
    if (len - *off - 1 < n) return false;
    uint64_t x = load_be(p + *off + 1, n);
    if (is_signed && (x >> (8 * n - 1)) != 0) return false; /* negative */
    *v = x;
    *off += 1 + n;
    return true;
}

/* Whether the complete object p[0..n) is the string "id", in any str encoding. */
static bool is_id_key(const uint8_t *p, size_t n)
{
    size_t hdr = p[0] >= 0xa0 && p[0] <= 0xbf ? 1
                 : p[0] == 0xd9               ? 2
                 : p[0] == 0xda               ? 3
                 : p[0] == 0xdb               ? 5
                                              : 0;
    return hdr && n == hdr + 2 && p[hdr] == 'i' && p[hdr + 1] == 'd';
}

bool dw_bus_peek_id(const void *data, size_t len, size_t limit, uint64_t *id)
{
    const uint8_t *p = data;
    if (len > limit) len = limit;
    if (len == 0 || !((p[0] >= 0x80 && p[0] <= 0x8f) || p[0] == 0xde || p[0] == 0xdf)) return false;
    size_t off = 0;
    head_t h;
    if (read_head(p, len, &off, &h) != DW_BUS_OK) return false;
    for (uint64_t i = 0; i < h.kids / 2; i++) {
        size_t key = off, end;
        if (dw_bus_scan(p + off, len - off, &end) != DW_BUS_OK) return false;
        off += end;
        if (is_id_key(p + key, end)) {
            size_t at = off;
            if (read_uint(p, len, &at, id)) return true;
        }
        if (dw_bus_scan(p + off, len - off, &end) != DW_BUS_OK) return false;
        off += end;
    }
    return false;
}

/* --- decoding ------------------------------------------------------------------------------ */

static const msgpack_object nil_object = {.type = MSGPACK_OBJECT_NIL};

enum { K_TYPE, K_VERSION, K_ID, K_BODY, K__COUNT };
static const char *const envelope_keys[K__COUNT] = {"type", "version", "id", "body"};

static dw_bus_status_t check_envelope(dw_bus_msg_t *m)
{
    const msgpack_object *root = &m->up.data;
    if (root->type != MSGPACK_OBJECT_MAP) return DW_BUS_E_MALFORMED;
    bool seen[K__COUNT] = {false};
    m->body = &nil_object;
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object_kv *kv = &root->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR) return DW_BUS_E_MALFORMED;
        dw_str_t k = dw_mp_as_str(&kv->key);
        int which = -1;
        for (int j = 0; j < K__COUNT; j++)
            if (dw_str_eq_c(k, envelope_keys[j])) which = j;
        if (which < 0 || seen[which]) return DW_BUS_E_MALFORMED;
        seen[which] = true;
        const msgpack_object *v = &kv->val;
        switch (which) {
        case K_TYPE:
            if (v->type != MSGPACK_OBJECT_STR || v->via.str.size == 0 ||
                v->via.str.size > DW_BUS_MAX_TYPE_LEN)
                return DW_BUS_E_MALFORMED;
            m->type = dw_mp_as_str(v);
            break;
        case K_VERSION:
            if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 > UINT32_MAX)
                return DW_BUS_E_MALFORMED;
            m->version = (uint32_t)v->via.u64;
            break;
        case K_ID:
            if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) return DW_BUS_E_MALFORMED;
            m->id = v->via.u64;
            break;
        default: m->body = v; break;
        }
    }
    if (!seen[K_TYPE] || !seen[K_VERSION] || !seen[K_ID]) return DW_BUS_E_MALFORMED;
    return DW_BUS_OK;
}

static void msg_clear(dw_bus_msg_t *m)
{
    msgpack_unpacked_destroy(&m->up);
    memset(m, 0, sizeof *m);
    msgpack_unpacked_init(&m->up);
}

/* copy: the message gets its own copy of the bytes (freed with its zone); else it borrows. */
static dw_bus_status_t decode(const void *data, size_t len, size_t max, dw_bus_msg_t *out,
                              bool copy)
{
    memset(out, 0, sizeof *out);
    msgpack_unpacked_init(&out->up);
    if (max == 0) max = DW_BUS_MAX_MSG_DEFAULT;
    if (len > max) return DW_BUS_E_OVERSIZED;
    size_t end = 0;
    dw_bus_status_t st = dw_bus_scan(data, len, &end);
    if (st != DW_BUS_OK) return st;
    if (end != len) return DW_BUS_E_MALFORMED; /* trailing bytes */

    /* msgpack-c's C unpacker points strings into the input: a message that outlives the
     * caller's buffer needs its own copy, which its zone frees. */
    char *own = NULL;
    const char *src = data;
    if (copy) {
        own = malloc(len);
        if (!own) return DW_BUS_E_OVERSIZED; /* no status for memory; too big for us now */
        memcpy(own, data, len);
        src = own;
    }
    size_t off = 0;
    switch (msgpack_unpack_next(&out->up, src, len, &off)) {
    case MSGPACK_UNPACK_SUCCESS:
    case MSGPACK_UNPACK_EXTRA_BYTES: st = off == len ? DW_BUS_OK : DW_BUS_E_MALFORMED; break;
    case MSGPACK_UNPACK_CONTINUE: st = DW_BUS_E_TRUNCATED; break;
    /* NOMEM is also what msgpack-c says for nesting beyond its stack (the scan refuses that
     * first); a real allocation failure leaves a message we cannot read either. */
    default: st = DW_BUS_E_MALFORMED; break;
    }
    if (st == DW_BUS_OK) st = check_envelope(out);
    if (st == DW_BUS_OK && own) {
        /* a valid envelope is a non-empty map, so the zone exists */
        if (!out->up.zone || !msgpack_zone_push_finalizer(out->up.zone, free, own))
            st = DW_BUS_E_OVERSIZED;
        else
            own = NULL;
    }
    if (st != DW_BUS_OK) {
        msg_clear(out);
        free(own);
    }
    return st;
}

dw_bus_status_t dw_bus_decode(const void *data, size_t len, size_t max, dw_bus_msg_t *out)
{
    return decode(data, len, max, out, true);
}

dw_bus_status_t dw_bus_decode_borrowed(const void *data, size_t len, size_t max, dw_bus_msg_t *out)
{
    return decode(data, len, max, out, false);
}

void dw_bus_msg_free(dw_bus_msg_t *m)
{
    if (m) msg_clear(m);
}

/* --- encoding ------------------------------------------------------------------------------ */

void dw_bus_writer_init(dw_bus_writer_t *w)
{
    msgpack_sbuffer_init(&w->sb);
    msgpack_packer_init(&w->pk, &w->sb, msgpack_sbuffer_write);
}

void dw_bus_writer_reset(dw_bus_writer_t *w)
{
    msgpack_sbuffer_clear(&w->sb);
}

void dw_bus_writer_free(dw_bus_writer_t *w)
{
    msgpack_sbuffer_destroy(&w->sb);
    msgpack_sbuffer_init(&w->sb);
}

void dw_bus_begin(dw_bus_writer_t *w, const char *type, uint32_t version, uint64_t id)
{
    msgpack_pack_map(&w->pk, 4);
    dw_mp_kv_cstr(&w->pk, "type", type);
    dw_mp_kv_uint(&w->pk, "version", version);
    dw_mp_kv_uint(&w->pk, "id", id);
    dw_mp_str(&w->pk, "body", 4);
}

void dw_mp_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    if (n) msgpack_pack_str_body(pk, s, n); /* no memcpy from a NULL s */
}

void dw_mp_cstr(msgpack_packer *pk, const char *s)
{
    if (s)
        dw_mp_str(pk, s, strlen(s));
    else
        msgpack_pack_nil(pk);
}

/* DW_STR_NULL packs nil, like a NULL C string; an empty non-NULL view packs "". */
void dw_mp_dwstr(msgpack_packer *pk, dw_str_t s)
{
    if (s.ptr)
        dw_mp_str(pk, s.ptr, s.len);
    else
        msgpack_pack_nil(pk);
}

void dw_mp_kv_cstr(msgpack_packer *pk, const char *key, const char *val)
{
    dw_mp_cstr(pk, key);
    dw_mp_cstr(pk, val);
}

void dw_mp_kv_str(msgpack_packer *pk, const char *key, const char *val, size_t n)
{
    dw_mp_cstr(pk, key);
    dw_mp_str(pk, val, n);
}

void dw_mp_kv_uint(msgpack_packer *pk, const char *key, uint64_t val)
{
    dw_mp_cstr(pk, key);
    msgpack_pack_uint64(pk, val);
}

void dw_mp_kv_int(msgpack_packer *pk, const char *key, int64_t val)
{
    dw_mp_cstr(pk, key);
    msgpack_pack_int64(pk, val);
}

void dw_mp_kv_bool(msgpack_packer *pk, const char *key, bool val)
{
    dw_mp_cstr(pk, key);
    if (val)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

void dw_mp_kv_nil(msgpack_packer *pk, const char *key)
{
    dw_mp_cstr(pk, key);
    msgpack_pack_nil(pk);
}

/* --- reading bodies -------------------------------------------------------------------------
 * Out parameters are left untouched when a lookup fails. With duplicate keys the first wins. */

const msgpack_object *dw_mp_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP || !key) return NULL;
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
            (klen == 0 || memcmp(k->via.str.ptr, key, klen) == 0))
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

bool dw_mp_get_str(const msgpack_object *map, const char *key, dw_str_t *out)
{
    const msgpack_object *v = dw_mp_get(map, key);
    if (!v || v->type != MSGPACK_OBJECT_STR) return false;
    *out = dw_mp_as_str(v);
    return true;
}

bool dw_mp_get_uint(const msgpack_object *map, const char *key, uint64_t *out)
{
    const msgpack_object *v = dw_mp_get(map, key);
    if (!v || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) return false;
    *out = v->via.u64;
    return true;
}

bool dw_mp_get_int(const msgpack_object *map, const char *key, int64_t *out)
{
    const msgpack_object *v = dw_mp_get(map, key);
    if (!v) return false;
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = v->via.i64;
        return true;
    }
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX) {
        *out = (int64_t)v->via.u64;
        return true;
    }
    return false;
}

bool dw_mp_get_bool(const msgpack_object *map, const char *key, bool *out)
{
    const msgpack_object *v = dw_mp_get(map, key);
    if (!v || v->type != MSGPACK_OBJECT_BOOLEAN) return false;
    *out = v->via.boolean;
    return true;
}

bool dw_mp_get_array(const msgpack_object *map, const char *key, const msgpack_object **items,
                     size_t *n)
{
    const msgpack_object *v = dw_mp_get(map, key);
    if (!v || v->type != MSGPACK_OBJECT_ARRAY) return false;
    *items = v->via.array.ptr;
    *n = v->via.array.size;
    return true;
}

void dw_bus_encode_error(dw_bus_writer_t *w, uint64_t id, const char *code, const char *message)
{
    dw_bus_begin(w, DW_BUS_ERROR_TYPE, 1, id);
    msgpack_pack_map(&w->pk, 2);
    dw_mp_kv_cstr(&w->pk, "code", code ? code : "error");
    dw_mp_kv_cstr(&w->pk, "message", message ? message : "");
}
