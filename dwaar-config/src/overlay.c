/* The API route overlay (spec 30 §1.5): validation, upserts and removals, its msgpack form,
 * and applying it to a model being loaded. API routes become ordinary sites, written as
 * Dwaarfile text and parsed by the same parser (display name "<api>"), so the data plane
 * compiles them like any other site. */
#include "source_int.h"
#include <arpa/inet.h>

#define API_DISPLAY "<api>"
#define DEFAULT_KEY "_default"

/* --- validation ------------------------------------------------------------------------------ */

static bool host_char(char c)
{
    return dw_ascii_isalnum(c) || c == '-' || c == '*';
}

/* A host name of labels 1-63 bytes of [A-Za-z0-9-*], at most 253 bytes. A `*` must be the whole
 * first label of a longer name (`*.example.com`): that is the only wildcard a site address
 * can serve, and a key no site can serve would be accepted and then never route. */
static bool valid_route_host(dw_str_t h)
{
    if (h.len == 0 || h.len > 253) return false;
    size_t i = 0;
    bool first = true;
    while (i <= h.len) {
        size_t j = i;
        while (j < h.len && h.ptr[j] != '.') j++;
        size_t n = j - i;
        if (n < 1 || n > 63) return false;
        for (size_t k = i; k < j; k++) {
            if (!host_char(h.ptr[k])) return false;
            if (h.ptr[k] == '*' && !(first && n == 1 && j < h.len)) return false;
        }
        first = false;
        i = j + 1;
    }
    return true;
}

/* Validates and lower-cases a route key into out (DW_CFG_ROUTE_KEY_MAX + 1 bytes). */
static bool route_key(const char *domain, size_t len, char *out)
{
    if (len == 0 || len > DW_CFG_ROUTE_KEY_MAX || memchr(domain, '\0', len)) return false;
    for (size_t i = 0; i < len; i++) out[i] = dw_ascii_lower(domain[i]);
    out[len] = '\0';
    dw_str_t k = dw_str_make(out, len);
    if (dw_str_find(k, DW_STR("..")) >= 0) return false;
    if (dw_str_eq_c(k, DEFAULT_KEY)) return true;
    ptrdiff_t slash = dw_str_chr(k, '/');
    dw_str_t host = slash < 0 ? k : dw_str_sub(k, 0, (size_t)slash);
    if (!valid_route_host(host)) return false;
    for (size_t i = host.len; i < len; i++)
        if (out[i] < 0x20 || out[i] > 0x7e) return false;
    return true;
}

/* An IPv4:port or [IPv6]:port literal, written canonically into out (64 bytes). */
static bool upstream_addr(const char *u, size_t len, char *out, char *err, size_t errlen)
{
    const char *what = "invalid upstream address: ";
    if (len == 0) {
        snprintf(err, errlen, "%sempty (expected IPv4:port or [IPv6]:port)", what);
        return false;
    }
    if (len > 64 || memchr(u, '\0', len)) {
        snprintf(err, errlen, "%s'%.64s...' is too long (expected IPv4:port or [IPv6]:port)", what,
                 u);
        return false;
    }
    char host[65];
    dw_str_t port;
    int af;
    if (u[0] == '[') {
        const char *close = memchr(u, ']', len);
        if (!close || close[1] != ':') {
            snprintf(err, errlen, "%s'%.*s' needs a port: [IPv6]:port", what, (int)len, u);
            return false;
        }
        size_t hl = (size_t)(close - u) - 1;
        memcpy(host, u + 1, hl);
        host[hl] = '\0';
        port = dw_str_make(close + 2, len - (size_t)(close + 2 - u));
        af = AF_INET6;
    } else {
        const char *colon = memchr(u, ':', len);
        if (!colon) {
            snprintf(err, errlen, "%s'%.*s' needs a port: IPv4:port or [IPv6]:port", what, (int)len,
                     u);
            return false;
        }
        if (memchr(colon + 1, ':', len - (size_t)(colon + 1 - u))) {
            snprintf(err, errlen, "%s'%.*s': an IPv6 address must be in brackets ([IPv6]:port)",
                     what, (int)len, u);
            return false;
        }
        size_t hl = (size_t)(colon - u);
        memcpy(host, u, hl);
        host[hl] = '\0';
        port = dw_str_make(colon + 1, len - hl - 1);
        af = AF_INET;
    }
    unsigned char bin[16];
    if (inet_pton(af, host, bin) != 1) {
        snprintf(err, errlen, "%s'%s' is not an IP%s address (host names are not accepted)", what,
                 host, af == AF_INET ? "v4" : "v6");
        return false;
    }
    uint16_t p;
    if (dw_parse_port(port, &p) != DW_OK || p == 0) {
        snprintf(err, errlen, "%sinvalid port '%.*s' in '%.*s'", what, DW_STR_FMT(port), (int)len,
                 u);
        return false;
    }
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(af, bin, ip, sizeof(ip));
    snprintf(out, 64, af == AF_INET ? "%s:%u" : "[%s]:%u", ip, p);
    return true;
}

/* --- the overlay ------------------------------------------------------------------------------ */

void dw_cfg_overlay_init(dw_cfg_overlay_t *ov)
{
    memset(ov, 0, sizeof(*ov));
}

static void route_free(dw_cfg_api_route_t *r)
{
    free(r->domain);
    free(r->upstream);
    free(r->source);
}

void dw_cfg_overlay_free(dw_cfg_overlay_t *ov)
{
    for (size_t i = 0; i < ov->nadd; i++) route_free(&ov->add[i]);
    for (size_t i = 0; i < ov->nremoved; i++) free(ov->removed[i]);
    free(ov->add);
    free(ov->removed);
    dw_cfg_overlay_init(ov);
}

void dw_cfg_overlay_clear(dw_cfg_overlay_t *ov)
{
    dw_cfg_overlay_free(ov);
}

static ptrdiff_t find_add(const dw_cfg_overlay_t *ov, const char *key)
{
    for (size_t i = 0; i < ov->nadd; i++)
        if (strcmp(ov->add[i].domain, key) == 0) return (ptrdiff_t)i;
    return -1;
}

static ptrdiff_t find_removed(const dw_cfg_overlay_t *ov, const char *key)
{
    for (size_t i = 0; i < ov->nremoved; i++)
        if (strcmp(ov->removed[i], key) == 0) return (ptrdiff_t)i;
    return -1;
}

static void drop_removed(dw_cfg_overlay_t *ov, const char *key)
{
    ptrdiff_t i = find_removed(ov, key);
    if (i < 0) return;
    free(ov->removed[i]);
    memmove(&ov->removed[i], &ov->removed[i + 1],
            (ov->nremoved - (size_t)i - 1) * sizeof(*ov->removed));
    ov->nremoved--;
}

static int push_removed(dw_cfg_overlay_t *ov, const char *key)
{
    if (find_removed(ov, key) >= 0) return 0;
    if (ov->nremoved >= DW_CFG_OVERLAY_MAX_ROUTES) return -1;
    if (ov->nremoved == ov->removed_cap) {
        size_t cap = ov->removed_cap ? ov->removed_cap * 2 : 8;
        char **v = realloc(ov->removed, cap * sizeof(*v));
        if (!v) return -1;
        ov->removed = v;
        ov->removed_cap = cap;
    }
    char *copy = strdup(key);
    if (!copy) return -1;
    ov->removed[ov->nremoved++] = copy;
    return 0;
}

/* put with explicit lengths (unpack checks strings that may hold NUL bytes). */
static int put(dw_cfg_overlay_t *ov, const char *domain, size_t dlen, const char *upstream,
               size_t ulen, bool tls, const char *source, size_t slen, char *err, size_t errlen)
{
    char key[DW_CFG_ROUTE_KEY_MAX + 1], up[64];
    if (!route_key(domain, dlen, key)) {
        snprintf(err, errlen, "invalid domain: %.*s", (int)(dlen > 300 ? 300 : dlen), domain);
        return -1;
    }
    if (!upstream_addr(upstream, ulen, up, err, errlen)) return -1;
    if (source && (slen > DW_CFG_ROUTE_SOURCE_MAX || memchr(source, '\0', slen))) {
        snprintf(err, errlen, "invalid source: longer than %u bytes", DW_CFG_ROUTE_SOURCE_MAX);
        return -1;
    }
    char *u = strdup(up), *s = source ? strndup(source, slen) : NULL;
    if (!u || (source && !s)) goto nomem;
    ptrdiff_t i = find_add(ov, key);
    if (i >= 0) {
        dw_cfg_api_route_t *r = &ov->add[i];
        free(r->upstream);
        free(r->source);
        r->upstream = u;
        r->source = s;
        r->tls = tls;
    } else {
        if (ov->nadd >= DW_CFG_OVERLAY_MAX_ROUTES) {
            free(u);
            free(s);
            snprintf(err, errlen, "too many API routes (max %u)", DW_CFG_OVERLAY_MAX_ROUTES);
            return -1;
        }
        if (ov->nadd == ov->add_cap) {
            size_t cap = ov->add_cap ? ov->add_cap * 2 : 8;
            dw_cfg_api_route_t *v = realloc(ov->add, cap * sizeof(*v));
            if (!v) goto nomem;
            ov->add = v;
            ov->add_cap = cap;
        }
        char *d = strdup(key);
        if (!d) goto nomem;
        ov->add[ov->nadd++] = (dw_cfg_api_route_t){d, u, tls, s};
    }
    /* an API route replaces whatever the key had: a recorded removal is moot */
    drop_removed(ov, key);
    return 0;
nomem:
    free(u);
    free(s);
    snprintf(err, errlen, "out of memory");
    return -1;
}

int dw_cfg_overlay_put(dw_cfg_overlay_t *ov, const char *domain, const char *upstream, bool tls,
                       const char *source, char *err, size_t errlen)
{
    return put(ov, domain, strlen(domain), upstream, strlen(upstream), tls, source,
               source ? strlen(source) : 0, err, errlen);
}

/* The API key of cfg with this key, or NULL. */
static const dw_cfg_api_key_t *model_api_key(const dw_config_t *cfg, dw_str_t key)
{
    for (size_t s = 0; cfg && s < cfg->nsites; s++)
        for (size_t i = 0; i < cfg->sites[s].napi_keys; i++)
            if (dw_str_eq(cfg->sites[s].api_keys[i].key, key)) return &cfg->sites[s].api_keys[i];
    return NULL;
}

static bool model_file_key(const dw_config_t *cfg, dw_str_t key)
{
    for (size_t s = 0; cfg && s < cfg->nsites; s++) {
        if (cfg->sites[s].from_api) continue;
        for (size_t i = 0; i < cfg->sites[s].naddrs; i++)
            if (dw_str_eq(dw_cfg_address_key(&cfg->sites[s].addrs[i]), key)) return true;
    }
    return false;
}

bool dw_cfg_overlay_remove(dw_cfg_overlay_t *ov, const dw_config_t *cfg, const char *domain)
{
    size_t len = strlen(domain);
    if (len == 0 || len > 300) return false;
    char key[301];
    for (size_t i = 0; i <= len; i++) key[i] = dw_ascii_lower(domain[i]);
    dw_str_t k = dw_str_make(key, len);
    bool found = false, record = model_file_key(cfg, k);
    ptrdiff_t i = find_add(ov, key);
    if (i >= 0) {
        found = true;
        route_free(&ov->add[i]);
        memmove(&ov->add[i], &ov->add[i + 1], (ov->nadd - (size_t)i - 1) * sizeof(*ov->add));
        ov->nadd--;
        /* it had replaced the Dwaarfile's route: removing the key removes that one too */
        const dw_cfg_api_key_t *ak = model_api_key(cfg, k);
        if (ak && ak->replaced) record = true;
    }
    if (record) {
        push_removed(ov, key); /* out of memory: the Dwaarfile route stays, nothing worse */
        found = true;
    }
    return found;
}

/* --- msgpack -----------------------------------------------------------------------------------
 */

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    if (n) msgpack_pack_str_body(pk, s, n);
}

void dw_cfg_overlay_pack(msgpack_packer *pk, const dw_cfg_overlay_t *ov)
{
    msgpack_pack_map(pk, 2);
    pack_cstr(pk, "add");
    msgpack_pack_array(pk, ov->nadd);
    for (size_t i = 0; i < ov->nadd; i++) {
        const dw_cfg_api_route_t *r = &ov->add[i];
        msgpack_pack_map(pk, 4);
        pack_cstr(pk, "domain");
        pack_cstr(pk, r->domain);
        pack_cstr(pk, "upstream");
        pack_cstr(pk, r->upstream);
        pack_cstr(pk, "tls");
        if (r->tls)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        pack_cstr(pk, "source");
        if (r->source)
            pack_cstr(pk, r->source);
        else
            msgpack_pack_nil(pk);
    }
    pack_cstr(pk, "removed");
    msgpack_pack_array(pk, ov->nremoved);
    for (size_t i = 0; i < ov->nremoved; i++) pack_cstr(pk, ov->removed[i]);
}

static bool is_key(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, name, n) == 0;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        goto fail;                                                                                 \
    } while (0)

static int unpack_route(dw_cfg_overlay_t *ov, const msgpack_object *o, size_t idx, char *err,
                        size_t errlen)
{
    const msgpack_object *domain = NULL, *upstream = NULL, *tls = NULL, *source = NULL;
    if (o->type != MSGPACK_OBJECT_MAP) FAIL("overlay: route %zu is not a map", idx);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        const msgpack_object **slot = is_key(&kv->key, "domain")     ? &domain
                                      : is_key(&kv->key, "upstream") ? &upstream
                                      : is_key(&kv->key, "tls")      ? &tls
                                      : is_key(&kv->key, "source")   ? &source
                                                                     : NULL;
        if (!slot) FAIL("overlay: route %zu: unknown key '%.*s'", idx, DW_CFG_MP_KEY_FMT(&kv->key));
        if (*slot) FAIL("overlay: route %zu: duplicate key", idx);
        *slot = &kv->val;
    }
    if (!domain || domain->type != MSGPACK_OBJECT_STR)
        FAIL("overlay: route %zu: 'domain' is not a string", idx);
    if (!upstream || upstream->type != MSGPACK_OBJECT_STR)
        FAIL("overlay: route %zu: 'upstream' is not a string", idx);
    if (!tls || tls->type != MSGPACK_OBJECT_BOOLEAN)
        FAIL("overlay: route %zu: 'tls' is not a boolean", idx);
    if (source && source->type != MSGPACK_OBJECT_STR && source->type != MSGPACK_OBJECT_NIL)
        FAIL("overlay: route %zu: 'source' is neither a string nor nil", idx);
    bool has_source = source && source->type == MSGPACK_OBJECT_STR;
    /* views into the msgpack zone are not NUL-terminated: copy them */
    char d[DW_CFG_ROUTE_KEY_MAX + 2], u[66], s[DW_CFG_ROUTE_SOURCE_MAX + 2];
    size_t dl = domain->via.str.size, ul = upstream->via.str.size;
    size_t sl = has_source ? source->via.str.size : 0;
    if (dl > DW_CFG_ROUTE_KEY_MAX) dl = DW_CFG_ROUTE_KEY_MAX + 1; /* still invalid */
    if (ul > 65) ul = 65;
    if (sl > DW_CFG_ROUTE_SOURCE_MAX) sl = DW_CFG_ROUTE_SOURCE_MAX + 1;
    memcpy(d, dl ? domain->via.str.ptr : "", dl);
    memcpy(u, ul ? upstream->via.str.ptr : "", ul);
    memcpy(s, sl ? source->via.str.ptr : "", sl);
    d[dl] = u[ul] = s[sl] = '\0';
    char key[DW_CFG_ROUTE_KEY_MAX + 1];
    if (route_key(d, dl, key) && find_add(ov, key) >= 0)
        FAIL("overlay: route %zu: duplicate domain '%s'", idx, key);
    char perr[400];
    if (put(ov, d, dl, u, ul, tls->via.boolean, has_source ? s : NULL, sl, perr, sizeof(perr)))
        FAIL("overlay: route %zu: %s", idx, perr);
    return 0;
fail:
    return -1;
}

int dw_cfg_overlay_unpack(const msgpack_object *o, dw_cfg_overlay_t *ov, char *err, size_t errlen)
{
    dw_cfg_overlay_t tmp;
    dw_cfg_overlay_init(&tmp);
    const msgpack_object *add = NULL, *removed = NULL;
    if (!o || o->type != MSGPACK_OBJECT_MAP) FAIL("overlay: not a map");
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        const msgpack_object **slot = is_key(&kv->key, "add")       ? &add
                                      : is_key(&kv->key, "removed") ? &removed
                                                                    : NULL;
        if (!slot) FAIL("overlay: unknown key '%.*s'", DW_CFG_MP_KEY_FMT(&kv->key));
        if (*slot) FAIL("overlay: duplicate key");
        *slot = &kv->val;
    }
    if (!add || add->type != MSGPACK_OBJECT_ARRAY) FAIL("overlay: 'add' is not an array");
    if (!removed || removed->type != MSGPACK_OBJECT_ARRAY)
        FAIL("overlay: 'removed' is not an array");
    if (add->via.array.size > DW_CFG_OVERLAY_MAX_ROUTES ||
        removed->via.array.size > DW_CFG_OVERLAY_MAX_ROUTES)
        FAIL("overlay: more than %u entries", DW_CFG_OVERLAY_MAX_ROUTES);
    for (uint32_t i = 0; i < add->via.array.size; i++)
        if (unpack_route(&tmp, &add->via.array.ptr[i], i, err, errlen) != 0) goto fail;
    for (uint32_t i = 0; i < removed->via.array.size; i++) {
        const msgpack_object *r = &removed->via.array.ptr[i];
        if (r->type != MSGPACK_OBJECT_STR || r->via.str.size == 0 || r->via.str.size > 300 ||
            memchr(r->via.str.ptr, '\0', r->via.str.size))
            FAIL("overlay: removed %u is not a route key", i);
        char key[301];
        memcpy(key, r->via.str.ptr, r->via.str.size);
        key[r->via.str.size] = '\0';
        if (find_removed(&tmp, key) >= 0) FAIL("overlay: removed %u: duplicate key", i);
        if (push_removed(&tmp, key) != 0) FAIL("overlay: out of memory");
    }
    dw_cfg_overlay_free(ov);
    *ov = tmp;
    return 0;
fail:
    dw_cfg_overlay_free(&tmp);
    dw_cfg_overlay_free(ov);
    return -1;
}

/* --- applying it to a model ---------------------------------------------------------------- */

dw_str_t dw_cfg_address_key(const dw_cfg_address_t *a)
{
    return a->host.len ? a->host : DW_STR(DEFAULT_KEY);
}

/* The API routes of one host: one generated site. */
typedef struct api_host {
    dw_str_t host; /* "_default" for the catch-all */
    const dw_cfg_api_route_t **routes;
    size_t n, cap;
    bool bare_replaced; /* its bare-host route took over a Dwaarfile address */
} api_host_t;

static dw_str_t key_host(const char *key)
{
    const char *slash = strchr(key, '/');
    return dw_str_make(key, slash ? (size_t)(slash - key) : strlen(key));
}

static size_t key_path_len(const dw_cfg_api_route_t *r)
{
    const char *slash = strchr(r->domain, '/');
    return slash ? strlen(slash) : 0;
}

/* Longest path first, the bare host (no path) last; equal lengths in byte order. */
static int cmp_route_path(const void *a, const void *b)
{
    const dw_cfg_api_route_t *x = *(const dw_cfg_api_route_t *const *)a;
    const dw_cfg_api_route_t *y = *(const dw_cfg_api_route_t *const *)b;
    size_t lx = key_path_len(x), ly = key_path_len(y);
    if (lx != ly) return lx > ly ? -1 : 1;
    return strcmp(x->domain, y->domain);
}

/* Characters a path can keep as a bare `handle /path*` word; anything else goes through a
 * quoted `path` matcher. */
static bool plain_path_char(char c)
{
    return dw_ascii_isalnum(c) || strchr("-._~/%!$&'()+,;=:@*", c) != NULL;
}

static void gen_proxy(dw_buf_t *b, const char *indent, const dw_cfg_api_route_t *r)
{
    dw_buf_appendf(b, "%sreverse_proxy %s://%s\n", indent, r->tls ? "https" : "http", r->upstream);
}

static void gen_site(dw_buf_t *b, const api_host_t *h)
{
    bool is_default = dw_str_eq_c(h->host, DEFAULT_KEY);
    dw_buf_appendf(b, "http://%.*s {\n", is_default ? 0 : (int)h->host.len, h->host.ptr);
    const dw_cfg_api_route_t *bare = NULL;
    size_t npaths = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (key_path_len(h->routes[i]) == 0)
            bare = h->routes[i];
        else
            npaths++;
    }
    if (npaths == 0) {
        gen_proxy(b, "\t", bare);
        dw_buf_append_c(b, "}\n");
        return;
    }
    for (size_t i = 0; i < h->n; i++) {
        const dw_cfg_api_route_t *r = h->routes[i];
        size_t plen = key_path_len(r);
        if (!plen) continue;
        const char *path = r->domain + strlen(r->domain) - plen;
        bool star = path[plen - 1] == '*', plain = true;
        for (size_t k = 0; k < plen; k++) plain &= plain_path_char(path[k]);
        if (plain) {
            dw_buf_appendf(b, "\thandle %s%s {\n", path, star ? "" : "*");
        } else {
            dw_buf_appendf(b, "\t@dw_api_%zu path \"", i);
            for (size_t k = 0; k < plen; k++) {
                if (path[k] == '"' || path[k] == '\\') dw_buf_putc(b, '\\');
                dw_buf_putc(b, path[k]);
            }
            dw_buf_appendf(b, "%s\"\n\thandle @dw_api_%zu {\n", star ? "" : "*", i);
        }
        gen_proxy(b, "\t\t", r);
        dw_buf_append_c(b, "\t}\n");
    }
    if (bare) {
        dw_buf_append_c(b, "\thandle {\n");
        gen_proxy(b, "\t\t", bare);
        dw_buf_append_c(b, "\t}\n");
    }
    dw_buf_append_c(b, "}\n");
}

/* Copies a host's routes into the generated site (keys in the overlay's order). */
static void mark_site(dw_cfg_parser_t *p, dw_cfg_site_t *site, const api_host_t *h,
                      const dw_cfg_overlay_t *ov)
{
    site->from_api = true;
    site->api_keys = dw_arena_zalloc(p->arena, h->n * sizeof(*site->api_keys));
    if (!site->api_keys) return;
    for (size_t i = 0; i < ov->nadd; i++) {
        const dw_cfg_api_route_t *r = &ov->add[i];
        if (!dw_str_eq(key_host(r->domain), h->host)) continue;
        dw_cfg_api_key_t *k = &site->api_keys[site->napi_keys++];
        k->key = dw_arena_str_dup(p->arena, dw_str_c(r->domain));
        k->upstream = dw_arena_str_dup(p->arena, dw_str_c(r->upstream));
        k->tls = r->tls;
        if (r->source) k->source = dw_arena_str_dup(p->arena, dw_str_c(r->source));
        k->replaced = h->bare_replaced && key_path_len(r) == 0;
        if (site->napi_keys == h->n) break;
    }
}

/* Drops the Dwaarfile addresses whose key is removed or whose host an API route serves. */
static void drop_addresses(dw_cfg_parser_t *p, const dw_cfg_overlay_t *ov, dw_strmap_t *hosts)
{
    dw_config_t *cfg = p->cfg;
    dw_strmap_t removed;
    dw_strmap_init(&removed, false);
    for (size_t i = 0; i < ov->nremoved; i++)
        dw_strmap_put(&removed, dw_str_c(ov->removed[i]), (void *)1, NULL);
    size_t w = 0;
    for (size_t s = 0; s < cfg->nsites; s++) {
        dw_cfg_site_t *site = &cfg->sites[s];
        size_t had = site->naddrs, kept = 0;
        for (size_t i = 0; i < site->naddrs; i++) {
            dw_str_t key = dw_cfg_address_key(&site->addrs[i]);
            api_host_t *h = dw_strmap_get(hosts, key);
            if (h) {
                for (size_t r = 0; r < h->n; r++)
                    if (key_path_len(h->routes[r]) == 0) h->bare_replaced = true;
                continue;
            }
            if (dw_strmap_get(&removed, key)) continue;
            site->addrs[kept++] = site->addrs[i];
        }
        site->naddrs = kept;
        if (had && !kept) continue; /* every address went: so does the site */
        if (w != s) cfg->sites[w] = *site;
        w++;
    }
    cfg->nsites = w;
    dw_strmap_deinit(&removed);
}

/* Writes, lexes and parses the API sites, one per host. */
static void parse_api_sites(dw_cfg_parser_t *p, api_host_t *hosts, size_t nhosts,
                            const dw_cfg_overlay_t *ov)
{
    dw_buf_t text = DW_BUF_INIT;
    for (size_t i = 0; i < nhosts; i++) {
        qsort(hosts[i].routes, hosts[i].n, sizeof(*hosts[i].routes), cmp_route_path);
        gen_site(&text, &hosts[i]);
    }
    char *src = text.failed ? NULL : dw_arena_memdup(&p->scratch, text.data, text.len);
    size_t len = text.len;
    dw_buf_deinit(&text);
    const char *display = dw_arena_strdup(p->arena, API_DISPLAY);
    if (!src || !display) {
        dw_cfg_err_at(p, (dw_cfg_loc_t){API_DISPLAY, 0, 0}, "out of memory");
        return;
    }
    dw_cfg_tokens_t toks = {0};
    if (dw_cfg_lex(&p->scratch, display, src, len, 0, &toks, p->diags)) return;
    dw_cfg_tree_t tree;
    dw_cfg_build_tree(p, &toks, &tree);
    if (tree.global || tree.nitems != nhosts) { /* cannot happen: the text is ours */
        dw_cfg_err_at(p, (dw_cfg_loc_t){display, 1, 1}, "internal error: bad API site text");
        return;
    }
    for (size_t i = 0; i < tree.nitems; i++) {
        size_t before = p->cfg->nsites;
        dw_cfg_parse_site(p, &tree.items[i]);
        if (p->cfg->nsites == before + 1) mark_site(p, &p->cfg->sites[before], &hosts[i], ov);
    }
}

void dw_cfg_apply_overlay(dw_cfg_parser_t *p, const dw_cfg_overlay_t *ov)
{
    if (!ov->nadd && !ov->nremoved) return;
    /* group the API routes by host, hosts in the order they first appear */
    dw_strmap_t byhost;
    dw_strmap_init(&byhost, false);
    api_host_t *hosts = NULL;
    size_t nhosts = 0;
    if (ov->nadd && !(hosts = dw_arena_zalloc(&p->scratch, ov->nadd * sizeof(*hosts)))) goto nomem;
    for (size_t i = 0; i < ov->nadd; i++) {
        const dw_cfg_api_route_t *r = &ov->add[i];
        dw_str_t host = key_host(r->domain);
        api_host_t *h = dw_strmap_get(&byhost, host);
        if (!h) {
            h = &hosts[nhosts++];
            h->host = host;
            if (dw_strmap_put(&byhost, host, h, NULL) != DW_OK) goto nomem;
        }
        const dw_cfg_api_route_t **slot = DW_ARENA_PUSH(&p->scratch, h->routes, h->n, h->cap);
        if (!slot) goto nomem;
        *slot = r;
    }
    drop_addresses(p, ov, &byhost);
    if (nhosts) parse_api_sites(p, hosts, nhosts, ov);
    dw_strmap_deinit(&byhost);
    return;
nomem:
    dw_cfg_err_at(p, (dw_cfg_loc_t){API_DISPLAY, 0, 0}, "out of memory");
    dw_strmap_deinit(&byhost);
}
