/* bus.msg: the envelope's round trips, every reject class, the body helpers, error replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "msg_int.h"

#include <stdlib.h>
#include <string.h>

/* A writer to build envelopes by hand, broken ones included. */
typedef struct raw {
    dw_bus_writer_t w;
} raw_t;

static msgpack_packer *raw_init(raw_t *r)
{
    dw_bus_writer_init(&r->w);
    return &r->w.pk;
}

static dw_bus_status_t raw_decode(raw_t *r, dw_bus_msg_t *m)
{
    dw_bus_status_t st = dw_bus_decode(r->w.sb.data, r->w.sb.size, 0, m);
    dw_bus_writer_free(&r->w);
    return st;
}

/* The status of decoding raw bytes (a message that decodes is freed). */
static dw_bus_status_t status_of(const void *data, size_t len, size_t max)
{
    dw_bus_msg_t m;
    dw_bus_status_t st = dw_bus_decode(data, len, max, &m);
    if (st == DW_BUS_OK) dw_bus_msg_free(&m);
    return st;
}

static void test_round_trip(void **state)
{
    (void)state;
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    dw_bus_begin(&w, "config.ping", 1, 42);
    msgpack_pack_map(&w.pk, 7);
    dw_mp_kv_cstr(&w.pk, "node", "edge-1");
    dw_mp_kv_uint(&w.pk, "pid", 1234);
    dw_mp_kv_int(&w.pk, "delta", -7);
    dw_mp_kv_bool(&w.pk, "ok", true);
    dw_mp_kv_nil(&w.pk, "error");
    dw_mp_kv_str(&w.pk, "raw", "a\0b", 3);
    dw_mp_cstr(&w.pk, "list");
    msgpack_pack_array(&w.pk, 2);
    dw_mp_dwstr(&w.pk, DW_STR("x"));
    dw_mp_dwstr(&w.pk, DW_STR_NULL);

    /* decode from a copy that is then scribbled over: the message owns its bytes */
    char *copy = malloc(w.sb.size);
    memcpy(copy, w.sb.data, w.sb.size);
    dw_bus_msg_t m;
    assert_int_equal(dw_bus_decode(copy, w.sb.size, 0, &m), DW_BUS_OK);
    memset(copy, 0xc1, w.sb.size);
    free(copy);

    assert_true(dw_str_eq_c(m.type, "config.ping"));
    assert_int_equal(m.version, 1);
    assert_int_equal(m.id, 42);
    assert_int_equal(m.body->type, MSGPACK_OBJECT_MAP);
    dw_str_t s;
    uint64_t u;
    int64_t i;
    bool b;
    assert_true(dw_mp_get_str(m.body, "node", &s));
    assert_true(dw_str_eq_c(s, "edge-1"));
    assert_true(dw_mp_get_uint(m.body, "pid", &u));
    assert_int_equal(u, 1234);
    assert_true(dw_mp_get_int(m.body, "pid", &i));
    assert_int_equal(i, 1234);
    assert_true(dw_mp_get_int(m.body, "delta", &i));
    assert_int_equal(i, -7);
    assert_false(dw_mp_get_uint(m.body, "delta", &u));
    assert_true(dw_mp_get_bool(m.body, "ok", &b));
    assert_true(b);
    assert_non_null(dw_mp_get(m.body, "error"));
    assert_int_equal(dw_mp_get(m.body, "error")->type, MSGPACK_OBJECT_NIL);
    assert_false(dw_mp_get_str(m.body, "error", &s)); /* nil is not a string */
    assert_true(dw_mp_get_str(m.body, "raw", &s));
    assert_int_equal(s.len, 3);
    assert_memory_equal(s.ptr, "a\0b", 3);
    const msgpack_object *items;
    size_t n;
    assert_true(dw_mp_get_array(m.body, "list", &items, &n));
    assert_int_equal(n, 2);
    assert_true(dw_str_eq_c(dw_mp_as_str(&items[0]), "x"));
    assert_int_equal(items[1].type, MSGPACK_OBJECT_NIL);
    assert_null(dw_mp_as_str(&items[1]).ptr);
    /* missing keys and wrong types leave the outputs alone */
    u = 99;
    assert_false(dw_mp_get_uint(m.body, "nope", &u));
    assert_false(dw_mp_get_uint(m.body, "node", &u));
    assert_int_equal(u, 99);
    assert_false(dw_mp_get_array(m.body, "node", &items, &n));
    assert_false(dw_mp_get_bool(m.body, "pid", &b));
    assert_null(dw_mp_get(&items[0], "x")); /* not a map */
    assert_null(dw_mp_get(NULL, "x"));
    dw_bus_msg_free(&m);
    dw_bus_msg_free(&m); /* freeing twice is harmless */

    /* the writer is reusable after a reset */
    dw_bus_writer_reset(&w);
    assert_int_equal(w.sb.size, 0);
    dw_bus_begin(&w, "t", UINT32_MAX, UINT64_MAX);
    msgpack_pack_map(&w.pk, 1);
    dw_mp_cstr(&w.pk, "empty");
    msgpack_pack_array(&w.pk, 0);
    assert_int_equal(dw_bus_decode(w.sb.data, w.sb.size, 0, &m), DW_BUS_OK);
    assert_int_equal(m.version, UINT32_MAX);
    assert_true(m.id == UINT64_MAX);
    assert_true(dw_mp_get_array(m.body, "empty", &items, &n));
    assert_int_equal(n, 0);
    /* the decoded message may be moved: nothing points into the struct itself */
    dw_bus_msg_t moved = m;
    assert_true(dw_str_eq_c(moved.type, "t"));
    dw_bus_msg_free(&moved);
    dw_bus_writer_free(&w);
}

/* Keys in another order, body absent, body of any type, positive ints in signed encodings. */
static void test_envelope_forms(void **state)
{
    (void)state;
    raw_t r;
    dw_bus_msg_t m;
    msgpack_packer *pk = raw_init(&r);
    msgpack_pack_map(pk, 3);
    dw_mp_kv_uint(pk, "id", 7);
    dw_mp_kv_cstr(pk, "type", "x.y");
    dw_mp_kv_uint(pk, "version", 2);
    assert_int_equal(raw_decode(&r, &m), DW_BUS_OK);
    assert_non_null(m.body);
    assert_int_equal(m.body->type, MSGPACK_OBJECT_NIL);
    assert_int_equal(m.id, 7);
    assert_int_equal(m.version, 2);
    dw_bus_msg_free(&m);

    pk = raw_init(&r);
    msgpack_pack_map(pk, 4);
    dw_mp_cstr(pk, "body");
    msgpack_pack_array(pk, 1);
    msgpack_pack_int(pk, 5);
    dw_mp_kv_cstr(pk, "type", "x.y");
    dw_mp_kv_uint(pk, "version", 1);
    dw_mp_kv_uint(pk, "id", 0);
    assert_int_equal(raw_decode(&r, &m), DW_BUS_OK);
    assert_int_equal(m.body->type, MSGPACK_OBJECT_ARRAY);
    dw_bus_msg_free(&m);

    /* version and id as int8/int64 with non-negative values, type as str8 */
    static const uint8_t signed_ints[] = {
        0x83, 0xa4, 't',  'y',  'p', 'e', 0xd9, 0x01, 'a', 0xa7, 'v', 'e', 'r', 's', 'i', 'o',
        'n',  0xd0, 0x03, 0xa2, 'i', 'd', 0xd3, 0,    0,   0,    0,   0,   0,   1,   0};
    assert_int_equal(dw_bus_decode(signed_ints, sizeof signed_ints, 0, &m), DW_BUS_OK);
    assert_int_equal(m.version, 3);
    assert_int_equal(m.id, 256);
    dw_bus_msg_free(&m);

    /* a type of exactly 128 bytes */
    char t128[129];
    memset(t128, 'a', 128);
    t128[128] = '\0';
    pk = raw_init(&r);
    dw_bus_begin(&r.w, t128, 1, 1);
    msgpack_pack_nil(pk);
    assert_int_equal(raw_decode(&r, &m), DW_BUS_OK);
    assert_int_equal(m.type.len, 128);
    dw_bus_msg_free(&m);
}

/* Envelope-level rejects: one builder per broken shape. */
typedef void (*build_fn)(msgpack_packer *pk);

static void b_array_root(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 4);
    dw_mp_cstr(pk, "type");
    dw_mp_cstr(pk, "x");
    msgpack_pack_uint32(pk, 1);
    msgpack_pack_uint32(pk, 1);
}
static void b_int_key(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 4);
    dw_mp_kv_cstr(pk, "type", "x");
    dw_mp_kv_uint(pk, "version", 1);
    dw_mp_kv_uint(pk, "id", 1);
    msgpack_pack_int(pk, 3);
    msgpack_pack_nil(pk);
}
static void b_bin_key(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    dw_mp_kv_cstr(pk, "type", "x");
    dw_mp_kv_uint(pk, "version", 1);
    msgpack_pack_bin(pk, 2);
    msgpack_pack_bin_body(pk, "id", 2);
    msgpack_pack_uint8(pk, 1);
}
static void b_no_type(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    dw_mp_kv_uint(pk, "version", 1);
    dw_mp_kv_uint(pk, "id", 1);
}
static void b_no_version(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    dw_mp_kv_cstr(pk, "type", "x");
    dw_mp_kv_uint(pk, "id", 1);
}
static void b_no_id(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    dw_mp_kv_cstr(pk, "type", "x");
    dw_mp_kv_uint(pk, "version", 1);
}
static void b_dup_key(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 4);
    dw_mp_kv_cstr(pk, "type", "x");
    dw_mp_kv_uint(pk, "version", 1);
    dw_mp_kv_uint(pk, "id", 1);
    dw_mp_kv_cstr(pk, "type", "y");
}
static void b_dup_body(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 5);
    dw_mp_kv_cstr(pk, "type", "x");
    dw_mp_kv_uint(pk, "version", 1);
    dw_mp_kv_uint(pk, "id", 1);
    dw_mp_kv_nil(pk, "body");
    dw_mp_kv_nil(pk, "body");
}
static void b_unknown_key(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 4);
    dw_mp_kv_cstr(pk, "type", "x");
    dw_mp_kv_uint(pk, "version", 1);
    dw_mp_kv_uint(pk, "id", 1);
    dw_mp_kv_uint(pk, "flags", 1);
}
static void b_version_big(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    dw_mp_kv_cstr(pk, "type", "x");
    dw_mp_kv_uint(pk, "version", (uint64_t)UINT32_MAX + 1);
    dw_mp_kv_uint(pk, "id", 1);
}
static void b_version_negative(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    dw_mp_kv_cstr(pk, "type", "x");
    dw_mp_kv_int(pk, "version", -1);
    dw_mp_kv_uint(pk, "id", 1);
}
static void b_version_float(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    dw_mp_kv_cstr(pk, "type", "x");
    dw_mp_cstr(pk, "version");
    msgpack_pack_double(pk, 1.0);
    dw_mp_kv_uint(pk, "id", 1);
}
static void b_id_negative(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    dw_mp_kv_cstr(pk, "type", "x");
    dw_mp_kv_uint(pk, "version", 1);
    dw_mp_kv_int(pk, "id", -5);
}
static void b_id_string(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    dw_mp_kv_cstr(pk, "type", "x");
    dw_mp_kv_uint(pk, "version", 1);
    dw_mp_kv_cstr(pk, "id", "1");
}
static void b_type_empty(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    dw_mp_kv_cstr(pk, "type", "");
    dw_mp_kv_uint(pk, "version", 1);
    dw_mp_kv_uint(pk, "id", 1);
}
static void b_type_long(msgpack_packer *pk)
{
    char t[130];
    memset(t, 'a', 129);
    t[129] = '\0';
    msgpack_pack_map(pk, 3);
    dw_mp_kv_cstr(pk, "type", t);
    dw_mp_kv_uint(pk, "version", 1);
    dw_mp_kv_uint(pk, "id", 1);
}
static void b_type_bin(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    dw_mp_cstr(pk, "type");
    msgpack_pack_bin(pk, 1);
    msgpack_pack_bin_body(pk, "x", 1);
    dw_mp_kv_uint(pk, "version", 1);
    dw_mp_kv_uint(pk, "id", 1);
}
static void b_type_nil(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    dw_mp_kv_nil(pk, "type");
    dw_mp_kv_uint(pk, "version", 1);
    dw_mp_kv_uint(pk, "id", 1);
}
static void b_empty_map(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 0);
}
static void b_scalar(msgpack_packer *pk)
{
    msgpack_pack_uint8(pk, 1);
}

static void test_rejects_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        build_fn fn;
    } cases[] = {
        {"array root", b_array_root},
        {"int key", b_int_key},
        {"bin key", b_bin_key},
        {"no type", b_no_type},
        {"no version", b_no_version},
        {"no id", b_no_id},
        {"duplicate type", b_dup_key},
        {"duplicate body", b_dup_body},
        {"unknown key", b_unknown_key},
        {"version > u32", b_version_big},
        {"negative version", b_version_negative},
        {"float version", b_version_float},
        {"negative id", b_id_negative},
        {"string id", b_id_string},
        {"empty type", b_type_empty},
        {"129-byte type", b_type_long},
        {"bin type", b_type_bin},
        {"nil type", b_type_nil},
        {"empty map", b_empty_map},
        {"scalar root", b_scalar},
    };
    for (size_t i = 0; i < DW_ARRAY_LEN(cases); i++) {
        raw_t r;
        dw_bus_msg_t m;
        cases[i].fn(raw_init(&r));
        dw_bus_status_t st = raw_decode(&r, &m);
        if (st != DW_BUS_E_MALFORMED) fail_msg("%s: status %d", cases[i].name, (int)st);
        /* a failed decode leaves nothing to free, and freeing anyway is harmless */
        assert_null(m.up.zone);
        dw_bus_msg_free(&m);
    }

    /* bytes that are not msgpack, and trailing bytes after a valid message */
    static const uint8_t c1[] = {0xc1};
    assert_int_equal(status_of(c1, 1, 0), DW_BUS_E_MALFORMED);
    static const uint8_t map_c1[] = {0x81, 0xa1, 'a', 0xc1};
    assert_int_equal(status_of(map_c1, sizeof map_c1, 0), DW_BUS_E_MALFORMED);
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    dw_bus_begin(&w, "x", 1, 1);
    msgpack_pack_nil(&w.pk);
    assert_int_equal(status_of(w.sb.data, w.sb.size, 0), DW_BUS_OK);
    msgpack_pack_nil(&w.pk);
    assert_int_equal(status_of(w.sb.data, w.sb.size, 0), DW_BUS_E_MALFORMED);
    dw_bus_writer_free(&w);
}

/* Every strict prefix of a valid message is truncated, never malformed or OK. */
static void test_rejects_truncated(void **state)
{
    (void)state;
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    dw_bus_begin(&w, "config.snapshot", 1, 0x1122334455667788ull);
    msgpack_pack_map(&w.pk, 6);
    dw_mp_kv_cstr(&w.pk, "instance", "abc");
    dw_mp_kv_uint(&w.pk, "generation", 70000);
    dw_mp_cstr(&w.pk, "bin");
    msgpack_pack_bin(&w.pk, 300);
    char big[300] = {0};
    msgpack_pack_bin_body(&w.pk, big, sizeof big);
    dw_mp_cstr(&w.pk, "ext");
    msgpack_pack_ext(&w.pk, 4, 5);
    msgpack_pack_ext_body(&w.pk, "abcd", 4);
    dw_mp_cstr(&w.pk, "f");
    msgpack_pack_double(&w.pk, 1.5);
    dw_mp_cstr(&w.pk, "deep");
    msgpack_pack_array(&w.pk, 1);
    msgpack_pack_map(&w.pk, 1);
    dw_mp_kv_int(&w.pk, "n", -100000);
    for (size_t n = 0; n < w.sb.size; n++) {
        dw_bus_status_t st = status_of(w.sb.data, n, 0);
        if (st != DW_BUS_E_TRUNCATED) fail_msg("prefix of %zu bytes: status %d", n, (int)st);
    }
    assert_int_equal(status_of(w.sb.data, w.sb.size, 0), DW_BUS_OK);
    assert_int_equal(status_of(NULL, 0, 0), DW_BUS_E_TRUNCATED);
    dw_bus_writer_free(&w);
}

static void test_rejects_oversized(void **state)
{
    (void)state;
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    dw_bus_begin(&w, "x", 1, 1);
    msgpack_pack_nil(&w.pk);
    size_t n = w.sb.size;
    assert_int_equal(status_of(w.sb.data, n, n), DW_BUS_OK);
    assert_int_equal(status_of(w.sb.data, n, n - 1), DW_BUS_E_OVERSIZED);
    /* oversized wins over anything else: the bytes are not even looked at */
    static uint8_t junk[64];
    memset(junk, 0xc1, sizeof junk);
    assert_int_equal(status_of(junk, sizeof junk, 10), DW_BUS_E_OVERSIZED);
    dw_bus_writer_free(&w);

    /* max = 0 means the default limit */
    size_t len = DW_BUS_MAX_MSG_DEFAULT + 1;
    uint8_t *huge = calloc(1, len);
    assert_non_null(huge);
    assert_int_equal(status_of(huge, len, 0), DW_BUS_E_OVERSIZED);
    free(huge);
}

/* Counts announced beyond the input: truncated at once, no allocation for them. */
static void test_count_bombs(void **state)
{
    (void)state;
    static const uint8_t array32[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0};
    static const uint8_t map32[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0};
    static const uint8_t str32[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    static const uint8_t ext32[] = {0xc9, 0xff, 0xff, 0xff, 0xff, 1, 'a'};
    /* arrays that each fit but whose totals do not */
    static const uint8_t nested[] = {0x93, 0x9f, 0x9f, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0,
                                     0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0};
    assert_int_equal(status_of(array32, sizeof array32, 0), DW_BUS_E_TRUNCATED);
    assert_int_equal(status_of(map32, sizeof map32, 0), DW_BUS_E_TRUNCATED);
    assert_int_equal(status_of(str32, sizeof str32, 0), DW_BUS_E_TRUNCATED);
    assert_int_equal(status_of(ext32, sizeof ext32, 0), DW_BUS_E_TRUNCATED);
    assert_int_equal(status_of(nested, sizeof nested, 0), DW_BUS_E_TRUNCATED);
}

/* Nesting: as deep as msgpack-c's stack allows is fine, one more is malformed. */
static void test_depth(void **state)
{
    (void)state;
    for (int depth = DW_BUS_MAX_DEPTH - 1; depth <= DW_BUS_MAX_DEPTH + 2; depth++) {
        dw_bus_writer_t w;
        dw_bus_writer_init(&w);
        dw_bus_begin(&w, "x", 1, 1); /* the envelope map is one level */
        for (int i = 1; i < depth; i++) msgpack_pack_array(&w.pk, 1);
        msgpack_pack_nil(&w.pk);
        dw_bus_status_t want = depth <= DW_BUS_MAX_DEPTH ? DW_BUS_OK : DW_BUS_E_MALFORMED;
        if (status_of(w.sb.data, w.sb.size, 0) != want) fail_msg("depth %d", depth);
        /* the scan and msgpack-c agree */
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        size_t off = 0;
        int r = msgpack_unpack_next(&up, w.sb.data, w.sb.size, &off);
        assert_int_equal(r == MSGPACK_UNPACK_SUCCESS, want == DW_BUS_OK);
        msgpack_unpacked_destroy(&up);
        dw_bus_writer_free(&w);
    }
    /* empty containers do not nest: 100 of them in a row at depth 2 */
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    dw_bus_begin(&w, "x", 1, 1);
    msgpack_pack_array(&w.pk, 100);
    for (int i = 0; i < 100; i++) msgpack_pack_map(&w.pk, 0);
    assert_int_equal(status_of(w.sb.data, w.sb.size, 0), DW_BUS_OK);
    dw_bus_writer_free(&w);
}

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(dw_bus_status_name(DW_BUS_OK), "ok");
    assert_string_equal(dw_bus_status_name(DW_BUS_E_MALFORMED), "malformed");
    assert_string_equal(dw_bus_status_name(DW_BUS_E_TRUNCATED), "truncated");
    assert_string_equal(dw_bus_status_name(DW_BUS_E_OVERSIZED), "oversized");
    assert_string_equal(dw_bus_status_name(DW_BUS_E_UNKNOWN_TYPE), "unknown_type");
    assert_string_equal(dw_bus_status_name(DW_BUS_E_VERSION), "bad_version");
    assert_string_equal(dw_bus_status_name(DW_BUS_E__COUNT), "unknown");
    assert_string_equal(dw_bus_status_name((dw_bus_status_t)-1), "unknown");
}

static void test_error_reply(void **state)
{
    (void)state;
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    dw_bus_encode_error(&w, 9001, "unknown_type", "unknown message type \"a.b\"");
    dw_bus_msg_t m;
    assert_int_equal(dw_bus_decode(w.sb.data, w.sb.size, 0, &m), DW_BUS_OK);
    assert_true(dw_str_eq_c(m.type, DW_BUS_ERROR_TYPE));
    assert_int_equal(m.version, 1);
    assert_int_equal(m.id, 9001);
    dw_str_t code, text;
    assert_true(dw_mp_get_str(m.body, "code", &code));
    assert_true(dw_mp_get_str(m.body, "message", &text));
    assert_true(dw_str_eq_c(code, "unknown_type"));
    assert_true(dw_str_eq_c(text, "unknown message type \"a.b\""));
    dw_bus_msg_free(&m);

    /* NULL code and message still give a well-formed reply */
    dw_bus_writer_reset(&w);
    dw_bus_encode_error(&w, 0, NULL, NULL);
    assert_int_equal(dw_bus_decode(w.sb.data, w.sb.size, 0, &m), DW_BUS_OK);
    assert_true(dw_mp_get_str(m.body, "code", &code));
    assert_true(dw_str_eq_c(code, "error"));
    dw_bus_msg_free(&m);
    dw_bus_writer_free(&w);
}

/* The id the runner echoes in error replies to messages it could not decode. */
static void test_peek_id(void **state)
{
    (void)state;
    uint64_t id = 0;
    raw_t r;
    /* an unknown key: malformed, but the id is readable */
    b_unknown_key(raw_init(&r));
    assert_true(dw_bus_peek_id(r.w.sb.data, r.w.sb.size, r.w.sb.size, &id));
    assert_int_equal(id, 1);
    dw_bus_writer_free(&r.w);

    /* id after a body, the message cut short after the id */
    msgpack_packer *pk = raw_init(&r);
    msgpack_pack_map(pk, 4);
    dw_mp_cstr(pk, "body");
    msgpack_pack_array(pk, 2);
    dw_mp_cstr(pk, "a");
    msgpack_pack_map(pk, 1);
    dw_mp_kv_uint(pk, "id", 5); /* nested: not the envelope's */
    dw_mp_kv_uint(pk, "id", 77777);
    dw_mp_kv_cstr(pk, "type", "x");
    size_t cut = r.w.sb.size;
    dw_mp_kv_uint(pk, "version", 1);
    assert_true(dw_bus_peek_id(r.w.sb.data, cut, cut, &id));
    assert_int_equal(id, 77777);
    assert_int_equal(status_of(r.w.sb.data, cut, 0), DW_BUS_E_TRUNCATED);
    /* the limit hides it */
    assert_false(dw_bus_peek_id(r.w.sb.data, cut, 10, &id));
    dw_bus_writer_free(&r.w);

    /* a negative or string id is no id; nor is anything that is not a map */
    b_id_negative(raw_init(&r));
    assert_false(dw_bus_peek_id(r.w.sb.data, r.w.sb.size, r.w.sb.size, &id));
    dw_bus_writer_free(&r.w);
    b_id_string(raw_init(&r));
    assert_false(dw_bus_peek_id(r.w.sb.data, r.w.sb.size, r.w.sb.size, &id));
    dw_bus_writer_free(&r.w);
    b_array_root(raw_init(&r));
    assert_false(dw_bus_peek_id(r.w.sb.data, r.w.sb.size, r.w.sb.size, &id));
    dw_bus_writer_free(&r.w);
    static const uint8_t junk[] = {0xc1, 0x00};
    assert_false(dw_bus_peek_id(junk, sizeof junk, sizeof junk, &id));
    assert_false(dw_bus_peek_id(NULL, 0, 0, &id));
    /* "id" as str8, value as uint16 */
    static const uint8_t str8_id[] = {0x81, 0xd9, 0x02, 'i', 'd', 0xcd, 0x01, 0x00};
    assert_true(dw_bus_peek_id(str8_id, sizeof str8_id, sizeof str8_id, &id));
    assert_int_equal(id, 256);
}

/* The borrowed decode points into the input, and agrees with the copying one. */
static void test_borrowed(void **state)
{
    (void)state;
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    dw_bus_begin(&w, "a.b", 1, 3);
    msgpack_pack_nil(&w.pk);
    dw_bus_msg_t m;
    assert_int_equal(dw_bus_decode_borrowed(w.sb.data, w.sb.size, 0, &m), DW_BUS_OK);
    assert_true(m.type.ptr >= w.sb.data && m.type.ptr < w.sb.data + w.sb.size);
    dw_bus_msg_free(&m);
    assert_int_equal(dw_bus_decode_borrowed(w.sb.data, w.sb.size - 1, 0, &m), DW_BUS_E_TRUNCATED);
    dw_bus_writer_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_envelope_forms),
        cmocka_unit_test(test_rejects_malformed),
        cmocka_unit_test(test_rejects_truncated),
        cmocka_unit_test(test_rejects_oversized),
        cmocka_unit_test(test_count_bombs),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_error_reply),
        cmocka_unit_test(test_peek_id),
        cmocka_unit_test(test_borrowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
