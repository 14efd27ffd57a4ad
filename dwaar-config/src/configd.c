/* configd: the one place the Dwaarfile is read at run time. It keeps the current source, the
 * API overlay and the model compiled from both (to validate changes and to list routes), and
 * publishes every accepted change as a config.snapshot; data planes also pull it with
 * config.get when their config.ping shows they are behind (missed publication, restart). */
#include <dwaar/base/log.h>
#include <dwaar/base/time.h>
#include <dwaar/config/configd.h>
#include <dwaar/config/source.h>
#include <dwaar/config/watch.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_NODES 256

typedef struct node {
    char name[128];
    uint64_t pid, generation;
    uint64_t last_seen_ms;
} node_t;

typedef struct configd {
    dw_configd_opts_t o;
    char *path;       /* absolute */
    const char *name; /* file name part of path */
    dw_bus_sock_t *rpc, *pub;
    dw_cfg_watch_t *watch;
    dw_cfg_source_t *src;
    dw_cfg_overlay_t ov;
    dw_config_t *model;
    char instance[33];
    uint64_t generation;
    uint64_t reloads_ok, reloads_failed;
    char *last_error;
    char failed_digest[65]; /* the text of the last failed reload: the watcher skips it */
    node_t nodes[MAX_NODES];
    size_t nnodes;
} configd_t;

/* --- helpers ----------------------------------------------------------------------------- */

/* The error diagnostics as the text a reload requester shows (one per line, no trailing
 * newline). A read failure is reported as spec 30 §1.5 words it. */
static char *diags_text(const dw_diags_t *d)
{
    dw_buf_t b = DW_BUF_INIT;
    for (size_t i = 0; i < d->n; i++) {
        const dw_diag_t *g = &d->items[i];
        if (g->severity != DW_SEV_ERROR) continue;
        if (b.len) dw_buf_append(&b, "\n", 1);
        if (strncmp(g->message, "cannot read config file", 23) == 0)
            dw_buf_append(&b, g->message, strlen(g->message));
        else
            dw_diag_format(g, &b);
    }
    if (!b.len) dw_buf_appendf(&b, "the configuration has errors");
    return dw_buf_take(&b);
}

static void pack_route(msgpack_packer *pk, const dw_cfg_route_info_t *r)
{
    msgpack_pack_map(pk, 6);
    dw_mp_kv_cstr(pk, "domain", r->domain);
    dw_mp_kv_cstr(pk, "upstream", r->upstream[0] ? r->upstream : NULL);
    dw_mp_kv_bool(pk, "tls", r->tls);
    if (r->has_rate)
        dw_mp_kv_uint(pk, "rate_limit_rps", r->rate_limit_rps);
    else
        dw_mp_kv_nil(pk, "rate_limit_rps");
    dw_mp_kv_bool(pk, "under_attack", r->under_attack);
    dw_mp_kv_cstr(pk, "source", r->source[0] ? r->source : NULL);
}

static void encode_snapshot(configd_t *cd, dw_bus_writer_t *w, uint64_t id)
{
    dw_bus_begin(w, "config.snapshot", 1, id);
    msgpack_pack_map(&w->pk, 4);
    dw_mp_kv_cstr(&w->pk, "instance", cd->instance);
    dw_mp_kv_uint(&w->pk, "generation", cd->generation);
    dw_mp_cstr(&w->pk, "source");
    dw_cfg_source_pack(&w->pk, cd->src);
    dw_mp_cstr(&w->pk, "overlay");
    dw_cfg_overlay_pack(&w->pk, &cd->ov);
}

static void publish(configd_t *cd)
{
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    encode_snapshot(cd, &w, 0);
    if (dw_bus_send(cd->pub, NULL, w.sb.data, w.sb.size) != 0)
        DW_WARN("configd", "snapshot publication dropped (a subscriber is too slow); data "
                           "planes will fetch it on their next ping");
    dw_bus_writer_free(&w);
}

/* Compiles src + ov into a model; NULL with the error text in *errtext. */
static dw_config_t *compile(configd_t *cd, const dw_cfg_source_t *src, const dw_cfg_overlay_t *ov,
                            char **errtext)
{
    dw_diags_t diags;
    dw_diags_init(&diags);
    dw_config_t *m = dw_cfg_load_source(src, ov, cd->o.load_opts, &diags);
    if (!m) *errtext = diags_text(&diags);
    dw_diags_deinit(&diags);
    return m;
}

/* Adopts a new model (and source, when given): generation moves on, data planes hear it. */
static void adopt(configd_t *cd, dw_cfg_source_t *src, dw_config_t *model)
{
    if (src) {
        dw_cfg_source_free(cd->src);
        cd->src = src;
    }
    dw_config_free(cd->model);
    cd->model = model;
    cd->generation++;
    publish(cd);
}

typedef enum origin { O_ADMIN, O_CTL, O_SIGNAL, O_WATCH } origin_t;

/* Re-reads the Dwaarfile. A no-op save seen by the watcher changes nothing; any other
 * successful reload rebuilds the table from the file alone (API routes are dropped, spec 30
 * §1.5). Returns 0 on success, else -1 with *errtext. */
static int reload(configd_t *cd, origin_t origin, bool *changed, char **errtext)
{
    *changed = false;
    *errtext = NULL;
    dw_diags_t diags;
    dw_diags_init(&diags);
    dw_cfg_source_t *src = dw_cfg_source_read_file(cd->path, cd->o.load_opts, &diags);
    if (!src) *errtext = diags_text(&diags);
    dw_diags_deinit(&diags);
    if (src && origin == O_WATCH &&
        (strcmp(dw_cfg_source_digest(src), dw_cfg_source_digest(cd->src)) == 0 ||
         strcmp(dw_cfg_source_digest(src), cd->failed_digest) == 0)) {
        dw_cfg_source_free(src);
        return 0;
    }
    dw_config_t *model = src ? compile(cd, src, NULL, errtext) : NULL;
    if (!model) {
        snprintf(cd->failed_digest, sizeof cd->failed_digest, "%s",
                 src ? dw_cfg_source_digest(src) : "");
        dw_cfg_source_free(src);
        cd->reloads_failed++;
        free(cd->last_error);
        cd->last_error = strdup(*errtext);
        DW_ERROR("configd", "reload failed; still serving the previous configuration:\n%s",
                 *errtext);
        return -1;
    }
    dw_cfg_overlay_clear(&cd->ov);
    adopt(cd, src, model);
    cd->reloads_ok++;
    free(cd->last_error);
    cd->last_error = NULL;
    cd->failed_digest[0] = '\0';
    *changed = true;
    static const char *const names[] = {"admin API", "dwaarctl", "signal", "file change"};
    DW_INFO("configd", "configuration reloaded (generation %llu, by %s, %zu sites)",
            (unsigned long long)cd->generation, names[origin], model->nsites);
    return 0;
}

/* --- message handlers ------------------------------------------------------------------------ */

typedef struct reply {
    dw_bus_writer_t w;
} reply_t;

static msgpack_packer *reply_begin(reply_t *r, const char *type, const dw_bus_msg_t *req)
{
    dw_bus_writer_init(&r->w);
    dw_bus_begin(&r->w, type, 1, req->id);
    return &r->w.pk;
}

static void reply_send(reply_t *r, dw_bus_sock_t *s, const dw_bus_peer_t *to)
{
    dw_bus_send(s, to, r->w.sb.data, r->w.sb.size);
    dw_bus_writer_free(&r->w);
}

static void on_get(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *msg, void *arg)
{
    configd_t *cd = arg;
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    encode_snapshot(cd, &w, msg->id);
    dw_bus_send(s, from, w.sb.data, w.sb.size);
    dw_bus_writer_free(&w);
}

static void on_ping(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *msg, void *arg)
{
    configd_t *cd = arg;
    dw_str_t name = DW_STR_NULL;
    uint64_t pid = 0, gen = 0;
    dw_mp_get_str(msg->body, "node", &name);
    dw_mp_get_uint(msg->body, "pid", &pid);
    dw_mp_get_uint(msg->body, "generation", &gen);
    if (name.len && name.len < sizeof cd->nodes[0].name) {
        node_t *n = NULL;
        for (size_t i = 0; i < cd->nnodes && !n; i++)
            if (strlen(cd->nodes[i].name) == name.len &&
                memcmp(cd->nodes[i].name, name.ptr, name.len) == 0)
                n = &cd->nodes[i];
        if (!n && cd->nnodes < MAX_NODES) {
            n = &cd->nodes[cd->nnodes++];
            memcpy(n->name, name.ptr, name.len);
            n->name[name.len] = '\0';
        }
        if (n) {
            n->pid = pid;
            n->generation = gen;
            n->last_seen_ms = dw_time_mono_ms();
        }
    }
    reply_t r;
    msgpack_packer *pk = reply_begin(&r, "config.pong", msg);
    msgpack_pack_map(pk, 2);
    dw_mp_kv_cstr(pk, "instance", cd->instance);
    dw_mp_kv_uint(pk, "generation", cd->generation);
    reply_send(&r, s, from);
}

static void on_reload(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *msg,
                      void *arg)
{
    configd_t *cd = arg;
    dw_str_t o = DW_STR_NULL;
    dw_mp_get_str(msg->body, "origin", &o);
    origin_t origin = dw_str_eq_c(o, "ctl")      ? O_CTL
                      : dw_str_eq_c(o, "signal") ? O_SIGNAL
                      : dw_str_eq_c(o, "watch")  ? O_WATCH
                                                 : O_ADMIN;
    bool changed;
    char *errtext;
    int rc = reload(cd, origin, &changed, &errtext);
    reply_t r;
    msgpack_packer *pk = reply_begin(&r, "config.reload_result", msg);
    msgpack_pack_map(pk, 6);
    dw_mp_kv_bool(pk, "ok", rc == 0);
    dw_mp_kv_bool(pk, "changed", changed);
    dw_mp_kv_uint(pk, "generation", cd->generation);
    dw_mp_kv_cstr(pk, "error", errtext);
    dw_mp_kv_cstr(pk, "path", cd->path);
    dw_mp_kv_cstr(pk, "name", cd->name);
    reply_send(&r, s, from);
    free(errtext);
}

static void on_validate(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *msg,
                        void *arg)
{
    configd_t *cd = arg;
    dw_str_t text = DW_STR_NULL, name = DW_STR_NULL;
    bool has_text = dw_mp_get_str(msg->body, "text", &text);
    dw_mp_get_str(msg->body, "name", &name);
    dw_diags_t diags;
    dw_diags_init(&diags);
    dw_cfg_source_t *src;
    if (has_text) {
        char display[128];
        snprintf(display, sizeof display, "%.*s", name.len ? (int)name.len : 6,
                 name.len ? name.ptr : "<text>");
        src = dw_cfg_source_read_string(display, dw_cfg_source_base_dir(cd->src), text.ptr,
                                        text.len, cd->o.load_opts, &diags);
    } else {
        src = dw_cfg_source_read_file(cd->path, cd->o.load_opts, &diags);
    }
    dw_config_t *m = src ? dw_cfg_load_source(src, NULL, cd->o.load_opts, &diags) : NULL;
    char *errtext = m ? NULL : diags_text(&diags);
    reply_t r;
    msgpack_packer *pk = reply_begin(&r, "config.validate_result", msg);
    msgpack_pack_map(pk, 4);
    dw_mp_kv_bool(pk, "ok", m != NULL);
    dw_mp_kv_cstr(pk, "error", errtext);
    dw_mp_kv_uint(pk, "sites", m ? m->naddresses : 0);
    dw_mp_kv_uint(pk, "routes", m ? m->nroutes : 0);
    reply_send(&r, s, from);
    free(errtext);
    dw_config_free(m);
    dw_cfg_source_free(src);
    dw_diags_deinit(&diags);
}

static void on_routes(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *msg,
                      void *arg)
{
    configd_t *cd = arg;
    dw_cfg_route_info_t *routes = NULL;
    size_t n = dw_cfg_routes(cd->model, &routes);
    reply_t r;
    msgpack_packer *pk = reply_begin(&r, "config.routes_result", msg);
    msgpack_pack_map(pk, 1);
    dw_mp_cstr(pk, "routes");
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) pack_route(pk, &routes[i]);
    reply_send(&r, s, from);
    free(routes);
}

static bool find_route(const dw_config_t *m, const char *domain, dw_cfg_route_info_t *out)
{
    dw_cfg_route_info_t *routes = NULL;
    size_t n = dw_cfg_routes(m, &routes);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++) {
        if (strcmp(routes[i].domain, domain) == 0) {
            *out = routes[i];
            found = true;
        }
    }
    free(routes);
    return found;
}

/* Applies an overlay change: compile, adopt on success, restore the previous overlay on
 * failure. saved holds the overlay as it was (packed). */
static int apply_overlay(configd_t *cd, const dw_bus_writer_t *saved, char **errtext)
{
    dw_config_t *m = compile(cd, cd->src, &cd->ov, errtext);
    if (m) {
        adopt(cd, NULL, m);
        return 0;
    }
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    char err[256];
    dw_cfg_overlay_free(&cd->ov);
    dw_cfg_overlay_init(&cd->ov);
    if (msgpack_unpack_next(&up, saved->sb.data, saved->sb.size, &off) == MSGPACK_UNPACK_SUCCESS)
        dw_cfg_overlay_unpack(&up.data, &cd->ov, err, sizeof err);
    msgpack_unpacked_destroy(&up);
    return -1;
}

static void save_overlay(configd_t *cd, dw_bus_writer_t *saved)
{
    dw_bus_writer_init(saved);
    dw_cfg_overlay_pack(&saved->pk, &cd->ov);
}

static void lower(char *p)
{
    for (; p && *p; p++) *p = dw_ascii_lower(*p);
}

static char *strz(dw_str_t s)
{
    char *p = malloc(s.len + 1);
    if (p) {
        if (s.len) memcpy(p, s.ptr, s.len);
        p[s.len] = '\0';
    }
    return p;
}

static void on_route_add(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *msg,
                         void *arg)
{
    configd_t *cd = arg;
    dw_str_t domain, upstream, source = DW_STR_NULL;
    bool tls;
    if (!dw_mp_get_str(msg->body, "domain", &domain) ||
        !dw_mp_get_str(msg->body, "upstream", &upstream) ||
        !dw_mp_get_bool(msg->body, "tls", &tls)) {
        dw_bus_reply_error(s, from, msg->id, "bad_request",
                           "config.route_add needs domain, upstream and tls");
        return;
    }
    bool has_source = dw_mp_get_str(msg->body, "source", &source);
    char *d = strz(domain), *u = strz(upstream), *src = has_source ? strz(source) : NULL;
    char err[512] = "";
    char *errtext = NULL;
    dw_bus_writer_t saved;
    save_overlay(cd, &saved);
    int rc = -1;
    if (d && u && dw_cfg_overlay_put(&cd->ov, d, u, tls, src, err, sizeof err) == 0)
        rc = apply_overlay(cd, &saved, &errtext);
    dw_bus_writer_free(&saved);
    reply_t r;
    msgpack_packer *pk = reply_begin(&r, "config.route_result", msg);
    dw_cfg_route_info_t info;
    lower(d);
    bool found = rc == 0 && d && find_route(cd->model, d, &info);
    msgpack_pack_map(pk, 3);
    dw_mp_kv_bool(pk, "ok", rc == 0);
    dw_mp_kv_cstr(pk, "error", rc == 0 ? NULL : errtext ? errtext : err[0] ? err : "out of memory");
    dw_mp_cstr(pk, "route");
    if (found)
        pack_route(pk, &info);
    else
        msgpack_pack_nil(pk);
    reply_send(&r, s, from);
    if (rc == 0)
        DW_INFO("configd", "route %s added (generation %llu)", d,
                (unsigned long long)cd->generation);
    free(errtext);
    free(d);
    free(u);
    free(src);
}

static void on_route_remove(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *msg,
                            void *arg)
{
    configd_t *cd = arg;
    dw_str_t domain;
    if (!dw_mp_get_str(msg->body, "domain", &domain)) {
        dw_bus_reply_error(s, from, msg->id, "bad_request", "config.route_remove needs domain");
        return;
    }
    char *d = strz(domain);
    lower(d);
    dw_bus_writer_t saved;
    save_overlay(cd, &saved);
    bool found = d && dw_cfg_overlay_remove(&cd->ov, cd->model, d);
    char *errtext = NULL;
    int rc = found ? apply_overlay(cd, &saved, &errtext) : 0;
    dw_bus_writer_free(&saved);
    reply_t r;
    msgpack_packer *pk = reply_begin(&r, "config.route_result", msg);
    msgpack_pack_map(pk, rc == 0 ? 2 : 3);
    dw_mp_kv_bool(pk, "ok", rc == 0);
    dw_mp_kv_bool(pk, "found", found);
    if (rc != 0) dw_mp_kv_cstr(pk, "error", errtext);
    reply_send(&r, s, from);
    if (found && rc == 0)
        DW_INFO("configd", "route %s removed (generation %llu)", d,
                (unsigned long long)cd->generation);
    free(errtext);
    free(d);
}

static void on_status(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *msg,
                      void *arg)
{
    configd_t *cd = arg;
    reply_t r;
    msgpack_packer *pk = reply_begin(&r, "config.status_result", msg);
    msgpack_pack_map(pk, 7);
    dw_mp_kv_cstr(pk, "instance", cd->instance);
    dw_mp_kv_uint(pk, "generation", cd->generation);
    dw_mp_kv_cstr(pk, "path", cd->path);
    dw_mp_kv_uint(pk, "reloads_ok", cd->reloads_ok);
    dw_mp_kv_uint(pk, "reloads_failed", cd->reloads_failed);
    dw_mp_kv_cstr(pk, "last_error", cd->last_error);
    dw_mp_cstr(pk, "nodes");
    msgpack_pack_array(pk, cd->nnodes);
    uint64_t now = dw_time_mono_ms();
    for (size_t i = 0; i < cd->nnodes; i++) {
        const node_t *n = &cd->nodes[i];
        msgpack_pack_map(pk, 4);
        dw_mp_kv_cstr(pk, "node", n->name);
        dw_mp_kv_uint(pk, "pid", n->pid);
        dw_mp_kv_uint(pk, "generation", n->generation);
        dw_mp_kv_uint(pk, "age_ms", now - n->last_seen_ms);
    }
    reply_send(&r, s, from);
}

static const dw_bus_handler_t rpc_handlers[] = {
    {"config.get", 1, 1, on_get},
    {"config.ping", 1, 1, on_ping},
    {"config.reload", 1, 1, on_reload},
    {"config.validate", 1, 1, on_validate},
    {"config.routes", 1, 1, on_routes},
    {"config.route_add", 1, 1, on_route_add},
    {"config.route_remove", 1, 1, on_route_remove},
    {"config.status", 1, 1, on_status},
    {NULL, 0, 0, NULL},
};

/* --- the service ------------------------------------------------------------------------------ */

static void on_watch(void *arg)
{
    configd_t *cd = arg;
    bool changed;
    char *errtext;
    reload(cd, O_WATCH, &changed, &errtext);
    free(errtext);
}

static void cd_fini(dw_service_t *svc, void *arg);

/* The runner calls fini only after a successful init: a failed one frees its state itself. */
static int cd_init_failed(dw_service_t *svc, configd_t *cd)
{
    cd_fini(svc, cd);
    return -1;
}

static int cd_init(dw_service_t *svc, void *arg, char *err, size_t errlen)
{
    configd_t *cd = arg;
    dw_time_update();
    uint8_t rnd[16];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        uint64_t t = dw_time_mono_ms() ^ (uint64_t)getpid();
        memcpy(rnd, &t, sizeof t);
        memcpy(rnd + 8, &t, sizeof t);
    }
    for (size_t i = 0; i < sizeof rnd; i++) snprintf(cd->instance + 2 * i, 3, "%02x", rnd[i]);
    dw_diags_t diags;
    dw_diags_init(&diags);
    cd->src = dw_cfg_source_read_file(cd->path, cd->o.load_opts, &diags);
    cd->model = cd->src ? dw_cfg_load_source(cd->src, NULL, cd->o.load_opts, &diags) : NULL;
    dw_diags_print(&diags, -1, stderr);
    dw_diags_deinit(&diags);
    if (!cd->model) {
        snprintf(err, errlen, "the configuration has errors");
        return cd_init_failed(svc, cd);
    }
    cd->generation = 1;
    dw_bus_sock_opts_t ro = {.zmq_type = ZMQ_ROUTER,
                             .endpoint = cd->o.rpc_endpoint,
                             .bind = true,
                             .handlers = rpc_handlers,
                             .arg = cd,
                             /* requests are small; the largest is a validate with a whole
                              * Dwaarfile (at most DW_CFG_MAX_FILE_SIZE) */
                             .max_msg = 2 * DW_CFG_MAX_FILE_SIZE};
    cd->rpc = dw_bus_open(svc, &ro, err, errlen);
    if (!cd->rpc) return cd_init_failed(svc, cd);
    dw_bus_sock_opts_t po = {
        .zmq_type = ZMQ_PUB, .endpoint = cd->o.updates_endpoint, .bind = true, .sndhwm = 8};
    cd->pub = dw_bus_open(svc, &po, err, errlen);
    if (!cd->pub) return cd_init_failed(svc, cd);
    if (cd->o.watch) {
        char werr[256];
        cd->watch = dw_cfg_watch_new(dw_service_loop(svc), cd->path,
                                     cd->o.debounce_ms ? cd->o.debounce_ms : 500, on_watch, cd,
                                     werr, sizeof werr);
        if (!cd->watch) DW_WARN("configd", "not watching %s for changes: %s", cd->path, werr);
    }
    return 0;
}

static void cd_fini(dw_service_t *svc, void *arg)
{
    (void)svc;
    configd_t *cd = arg;
    dw_cfg_watch_free(cd->watch);
    if (cd->rpc) dw_bus_close(cd->rpc);
    if (cd->pub) dw_bus_close(cd->pub);
    dw_cfg_overlay_free(&cd->ov);
    dw_config_free(cd->model);
    dw_cfg_source_free(cd->src);
    free(cd->last_error);
    free(cd->path);
    free(cd);
}

dw_service_def_t dw_configd_service(const dw_configd_opts_t *opts)
{
    configd_t *cd = calloc(1, sizeof *cd);
    if (!cd) abort();
    cd->o = *opts;
    cd->path = realpath(opts->config_path, NULL);
    if (!cd->path) cd->path = strdup(opts->config_path);
    if (!cd->path) abort();
    const char *slash = strrchr(cd->path, '/');
    cd->name = slash ? slash + 1 : cd->path;
    dw_cfg_overlay_init(&cd->ov);
    return (dw_service_def_t){.name = "configd", .init = cd_init, .fini = cd_fini, .arg = cd};
}
