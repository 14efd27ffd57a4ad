/* libFuzzer harness: a config.snapshot message as a data plane receives it, a bus envelope
 * (dw_bus_decode) whose body holds
 *   {"source": <source>, "overlay": <overlay>, ...}
 * through dw_cfg_source_unpack / dw_cfg_overlay_unpack, then dw_cfg_load_source (tree builder,
 * directive parsers, overlay sites, whole-config checks), the JSON encoder, the routes table
 * and overlay removals. The source is unpacked twice: as published (digest checked) and with
 * the digest check off, so made-up token streams reach the back end too. */
#include "source_int.h"
#include <dwaar/bus/msg.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *fixed_env(const char *name, void *ctx)
{
    (void)name, (void)ctx;
    return NULL;
}

static const msgpack_object *get(const msgpack_object *map, const char *key)
{
    if (map->type != MSGPACK_OBJECT_MAP) return NULL;
    size_t n = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
            memcmp(k->via.str.ptr, key, n) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dw_bus_msg_t msg;
    if (dw_bus_decode(data, size, 0, &msg) != DW_BUS_OK) return 0;
    const msgpack_object *so = get(msg.body, "source"), *oo = get(msg.body, "overlay");
    char err[512];
    dw_cfg_overlay_t ov;
    dw_cfg_overlay_init(&ov);
    bool have_ov = oo && dw_cfg_overlay_unpack(oo, &ov, err, sizeof(err)) == 0;
    dw_cfg_source_t *checked = so ? dw_cfg_source_unpack(so, err, sizeof(err)) : NULL;
    dw_cfg_source_t *s = so ? dw_cfg_source_unpack_ex(so, false, err, sizeof(err)) : NULL;
    if (s) {
        /* what unpacks packs again */
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        dw_cfg_source_pack(&pk, s);
        msgpack_sbuffer_destroy(&sb);
        dw_cfg_load_opts_t opts = {.getenv_fn = fixed_env, .check_files = false};
        dw_diags_t diags;
        dw_diags_init(&diags);
        dw_config_t *cfg = dw_cfg_load_source(s, have_ov ? &ov : NULL, &opts, &diags);
        if (cfg) {
            dw_buf_t json = DW_BUF_INIT;
            (void)dw_config_to_json(cfg, &json);
            dw_buf_deinit(&json);
            dw_cfg_route_info_t *routes = NULL;
            size_t n = dw_cfg_routes(cfg, &routes);
            for (size_t i = 0; i < n && i < 4; i++) {
                (void)dw_cfg_has_route(cfg, routes[i].domain);
                dw_cfg_overlay_remove(&ov, cfg, routes[i].domain);
            }
            free(routes);
        }
        dw_buf_t text = DW_BUF_INIT;
        for (size_t i = 0; i < diags.n; i++) dw_diag_format(&diags.items[i], &text);
        dw_buf_deinit(&text);
        dw_config_free(cfg);
        dw_diags_deinit(&diags);
    }
    if (have_ov) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        dw_cfg_overlay_pack(&pk, &ov);
        msgpack_sbuffer_destroy(&sb);
    }
    dw_cfg_source_free(checked);
    dw_cfg_source_free(s);
    dw_cfg_overlay_free(&ov);
    dw_bus_msg_free(&msg);
    return 0;
}
