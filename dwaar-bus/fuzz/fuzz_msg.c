/* libFuzzer harness for the bus envelope: decode under a small limit, walk the body the way
 * handlers do, peek the id as the runner does for broken input, and encode the error reply. */
#include "msg_int.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX 4096

static volatile size_t sink; /* keeps the reads from being optimised away */

static void walk_map(const msgpack_object *map)
{
    dw_str_t s;
    uint64_t u;
    int64_t i;
    bool b;
    if (dw_mp_get_str(map, "instance", &s)) sink += s.len ? (unsigned char)s.ptr[0] : 0;
    if (dw_mp_get_str(map, "domain", &s)) sink += s.len;
    if (dw_mp_get_uint(map, "generation", &u)) sink += (size_t)u;
    if (dw_mp_get_int(map, "pid", &i)) sink += (size_t)i;
    if (dw_mp_get_bool(map, "ok", &b)) sink += b;
    const msgpack_object *o = dw_mp_get(map, "source");
    if (o) sink += dw_mp_as_str(o).len;
}

static void walk_body(const msgpack_object *body)
{
    walk_map(body);
    const msgpack_object *items;
    size_t n;
    if (dw_mp_get_array(body, "routes", &items, &n)) {
        for (size_t k = 0; k < n; k++) walk_map(&items[k]);
    }
    if (dw_mp_get_array(body, "records", &items, &n)) {
        for (size_t k = 0; k < n; k++) sink += dw_mp_as_str(&items[k]).len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dw_bus_msg_t m;
    dw_bus_status_t st = dw_bus_decode(data, size, FUZZ_MAX, &m);
    uint64_t id = 0;
    bool have_id = false;
    if (st == DW_BUS_OK) {
        if (m.type.len == 0 || m.type.len > DW_BUS_MAX_TYPE_LEN || !m.body) abort();
        walk_body(m.body);
        id = m.id, have_id = true;
        /* the same bytes decoded in place agree */
        dw_bus_msg_t b;
        if (dw_bus_decode_borrowed(data, size, FUZZ_MAX, &b) != DW_BUS_OK || b.id != m.id ||
            !dw_str_eq(b.type, m.type))
            abort();
        dw_bus_msg_free(&b);
        dw_bus_msg_free(&m);
    } else {
        if (st >= DW_BUS_E__COUNT || st == DW_BUS_E_UNKNOWN_TYPE || st == DW_BUS_E_VERSION) abort();
        /* the pre-scan's verdict matches msgpack-c's own on what it cannot parse */
        size_t end;
        if (size <= FUZZ_MAX && dw_bus_scan(data, size, &end) == DW_BUS_OK && end == size &&
            st == DW_BUS_E_TRUNCATED)
            abort();
        have_id = dw_bus_peek_id(data, size, size, &id);
    }

    /* the error reply the runner would send, which must itself decode */
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    dw_bus_encode_error(&w, have_id ? id : 0, dw_bus_status_name(st), "fuzz");
    dw_bus_msg_t e;
    if (dw_bus_decode(w.sb.data, w.sb.size, 0, &e) != DW_BUS_OK || e.id != (have_id ? id : 0))
        abort();
    dw_bus_msg_free(&e);
    dw_bus_writer_free(&w);
    return 0;
}
