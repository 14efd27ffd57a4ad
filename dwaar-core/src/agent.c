/* The config agent. configd publishes each change (PUB, pushed at once); because publications
 * can be missed (slow joiner, control plane restarted, network cut), the agent also pings
 * configd every second and fetches the snapshot (config.get) whenever configd's (instance,
 * generation) differs from what it applied. Compiling happens here, off the workers. */
#include "agent.h"
#include <dwaar/base/log.h>
#include <dwaar/base/time.h>
#include <dwaar/bus/bus.h>
#include <dwaar/config/source.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define PING_MS       1000u
#define LOST_AFTER_MS 3500u

struct dw_agent {
    dw_server_opts_t o;
    dw_agent_cbs_t cbs;
    dw_service_t *svc;
    dw_bus_sock_t *rpc, *sub;
    dw_timer_t *ping;
    dw_async_t *resync;
    char node[160];
    /* what is applied, and the last snapshot that failed (not fetched again) */
    char instance[64], failed_instance[64];
    uint64_t generation, failed_generation;
    uint64_t last_pong_ms, last_get_ms;
    bool lost, ever_connected;
};

static void send_simple(dw_agent_t *a, const char *type, bool ping)
{
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    dw_bus_begin(&w, type, 1, dw_bus_next_id());
    if (ping) {
        msgpack_pack_map(&w.pk, 4);
        dw_mp_kv_cstr(&w.pk, "node", a->node);
        dw_mp_kv_uint(&w.pk, "pid", (uint64_t)getpid());
        dw_mp_kv_cstr(&w.pk, "instance", a->instance);
        dw_mp_kv_uint(&w.pk, "generation", a->generation);
    } else {
        msgpack_pack_map(&w.pk, 0);
    }
    dw_bus_send(a->rpc, NULL, w.sb.data, w.sb.size);
    dw_bus_writer_free(&w);
}

static void fetch(dw_agent_t *a)
{
    a->last_get_ms = dw_time_mono_ms();
    send_simple(a, "config.get", false);
}

static bool is_current(const dw_agent_t *a, dw_str_t inst, uint64_t gen)
{
    return gen == a->generation && dw_str_eq_c(inst, a->instance);
}

static bool is_failed(const dw_agent_t *a, dw_str_t inst, uint64_t gen)
{
    return gen == a->failed_generation && dw_str_eq_c(inst, a->failed_instance);
}

static void on_snapshot(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *msg,
                        void *arg)
{
    (void)s;
    (void)from;
    dw_agent_t *a = arg;
    dw_str_t inst;
    uint64_t gen;
    const msgpack_object *src_o = dw_mp_get(msg->body, "source");
    const msgpack_object *ov_o = dw_mp_get(msg->body, "overlay");
    if (!dw_mp_get_str(msg->body, "instance", &inst) || !inst.len ||
        inst.len >= sizeof a->instance || !dw_mp_get_uint(msg->body, "generation", &gen) ||
        !src_o || !ov_o) {
        DW_WARN("agent", "ignoring a config.snapshot without instance, generation, source and "
                         "overlay");
        return;
    }
    if (is_current(a, inst, gen) || is_failed(a, inst, gen)) return;
    /* a publication older than what we run (reordered after a fetch) is not applied */
    if (dw_str_eq_c(inst, a->instance) && gen < a->generation) return;
    char err[256];
    dw_cfg_overlay_t ov;
    dw_cfg_overlay_init(&ov);
    dw_cfg_source_t *src = dw_cfg_source_unpack(src_o, err, sizeof err);
    dw_config_t *cfg = NULL;
    dw_buf_t why = DW_BUF_INIT;
    if (!src || dw_cfg_overlay_unpack(ov_o, &ov, err, sizeof err) != 0) {
        dw_buf_appendf(&why, "invalid config snapshot: %s", err);
    } else {
        dw_diags_t diags;
        dw_diags_init(&diags);
        cfg = dw_cfg_load_source(src, &ov, a->o.load_opts, &diags);
        for (size_t i = 0; i < diags.n; i++) {
            if (why.len) dw_buf_append(&why, "\n", 1);
            dw_diag_format(&diags.items[i], &why);
        }
        dw_diags_deinit(&diags);
    }
    dw_snapshot_t *snap = NULL;
    if (cfg) {
        if (cfg->global.debug && dw_log_level < DW_LOG_DEBUG) dw_log_level = DW_LOG_DEBUG;
        dw_err_t e = {0};
        dw_buf_reset(&why);
        snap = dw_snapshot_build(cfg, &e);
        if (!snap) dw_buf_appendf(&why, "%s", e.msg);
    }
    if (snap) {
        snprintf(a->instance, sizeof a->instance, "%.*s", DW_STR_FMT(inst));
        a->generation = gen;
        a->cbs.apply(a->cbs.arg, snap, gen);
    } else {
        snprintf(a->failed_instance, sizeof a->failed_instance, "%.*s", DW_STR_FMT(inst));
        a->failed_generation = gen;
        const char *text = why.len ? why.data : "the configuration has errors";
        DW_ERROR("agent", "config generation %llu not applied; still serving the previous one: %s",
                 (unsigned long long)gen, text);
        a->cbs.failed(a->cbs.arg, text);
    }
    dw_buf_deinit(&why);
    dw_cfg_overlay_free(&ov);
    dw_cfg_source_free(src);
}

static void on_pong(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *msg, void *arg)
{
    (void)s;
    (void)from;
    dw_agent_t *a = arg;
    dw_str_t inst;
    uint64_t gen;
    if (!dw_mp_get_str(msg->body, "instance", &inst) ||
        !dw_mp_get_uint(msg->body, "generation", &gen))
        return;
    a->last_pong_ms = dw_time_mono_ms();
    if (a->lost) {
        DW_INFO("agent", "control plane %s is back", a->o.control_endpoint);
        a->lost = false;
    }
    a->ever_connected = true;
    if (!is_current(a, inst, gen) && !is_failed(a, inst, gen)) fetch(a);
}

static void on_error_reply(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *msg,
                           void *arg)
{
    (void)s;
    (void)from;
    (void)arg;
    dw_str_t code = DW_STR_NULL, text = DW_STR_NULL;
    dw_mp_get_str(msg->body, "code", &code);
    dw_mp_get_str(msg->body, "message", &text);
    DW_WARN("agent", "control plane answered an error: %.*s: %.*s", DW_STR_FMT(code),
            DW_STR_FMT(text));
}

static void on_ping_timer(void *arg)
{
    dw_agent_t *a = arg;
    dw_time_update();
    uint64_t now = dw_time_mono_ms();
    if (!a->lost && now - a->last_pong_ms > LOST_AFTER_MS && (a->ever_connected || a->generation)) {
        a->lost = true;
        DW_WARN("agent",
                "lost contact with the control plane %s; serving config generation %llu until "
                "it returns",
                a->o.control_endpoint, (unsigned long long)a->generation);
    }
    /* nothing applied yet: ask again (the first request may have gone before the peer was up) */
    if (!a->generation && now - a->last_get_ms >= PING_MS) fetch(a);
    send_simple(a, "config.ping", true);
    dw_timer_start(a->ping, PING_MS);
}

static void on_resync(void *arg)
{
    dw_agent_t *a = arg;
    a->failed_generation = 0;
    a->failed_instance[0] = '\0';
    a->generation = 0; /* forces the next snapshot to be applied */
    a->instance[0] = '\0';
    fetch(a);
}

static const dw_bus_handler_t rpc_handlers[] = {
    {"config.snapshot", 1, 1, on_snapshot},
    {"config.pong", 1, 1, on_pong},
    {DW_BUS_ERROR_TYPE, 1, 1, on_error_reply},
    {NULL, 0, 0, NULL},
};
static const dw_bus_handler_t sub_handlers[] = {
    {"config.snapshot", 1, 1, on_snapshot},
    {NULL, 0, 0, NULL},
};

static void agent_fini(dw_service_t *svc, void *arg);

static int agent_open(dw_service_t *svc, dw_agent_t *a, char *err, size_t errlen)
{
    a->svc = svc;
    dw_time_update();
    dw_bus_sock_opts_t ro = {.zmq_type = ZMQ_DEALER,
                             .endpoint = a->o.control_endpoint,
                             .handlers = rpc_handlers,
                             .arg = a,
                             .sndhwm = 16};
    a->rpc = dw_bus_open(svc, &ro, err, errlen);
    if (!a->rpc) return -1;
    /* requests go only to a connected configd: while it is away pings are dropped, not
     * queued to be replayed in a burst */
    int one = 1;
    zmq_setsockopt(dw_bus_sock_raw(a->rpc), ZMQ_IMMEDIATE, &one, sizeof one);
    dw_bus_sock_opts_t so = {.zmq_type = ZMQ_SUB,
                             .endpoint = a->o.updates_endpoint,
                             .handlers = sub_handlers,
                             .arg = a,
                             .subscribe = ""};
    a->sub = dw_bus_open(svc, &so, err, errlen);
    if (!a->sub) return -1;
    a->ping = dw_timer_new(dw_service_loop(svc), on_ping_timer, a);
    a->resync = dw_async_new(dw_service_loop(svc), on_resync, a);
    if (!a->ping || !a->resync) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->last_pong_ms = dw_time_mono_ms();
    fetch(a);
    dw_timer_start(a->ping, 50); /* first ping soon: a fetch sent before connecting is lost */
    return 0;
}

static int agent_init(dw_service_t *svc, void *arg, char *err, size_t errlen)
{
    /* the runner calls fini only after a successful init */
    if (agent_open(svc, arg, err, errlen) == 0) return 0;
    agent_fini(svc, arg);
    return -1;
}

static void agent_fini(dw_service_t *svc, void *arg)
{
    (void)svc;
    dw_agent_t *a = arg;
    if (a->ping) dw_timer_free(a->ping);
    if (a->resync) dw_async_free(a->resync);
    a->ping = NULL;
    a->resync = NULL;
    if (a->rpc) dw_bus_close(a->rpc);
    if (a->sub) dw_bus_close(a->sub);
    a->rpc = a->sub = NULL;
}

dw_agent_t *dw_agent_start(const dw_server_opts_t *opts, const dw_agent_cbs_t *cbs, char *err,
                           size_t errlen)
{
    dw_agent_t *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->o = *opts;
    a->cbs = *cbs;
    if (opts->node_name) {
        snprintf(a->node, sizeof a->node, "%s", opts->node_name);
    } else {
        char host[64] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(a->node, sizeof a->node, "%s:%ld", host, (long)getpid());
    }
    dw_service_def_t def = {.name = "agent", .init = agent_init, .fini = agent_fini, .arg = a};
    a->svc = dw_service_start(&def, err, errlen);
    if (!a->svc) {
        free(a);
        return NULL;
    }
    return a;
}

void dw_agent_resync(dw_agent_t *a)
{
    if (a && a->resync) dw_async_notify(a->resync);
}

void dw_agent_stop(dw_agent_t *a)
{
    if (!a) return;
    dw_service_stop(a->svc);
    free(a);
}
