/* Request helpers: header field lists, variables, the §5 client IP, URI changes. */
#include "match.h"
#include "snapshot.h"
#include <arpa/inet.h>

/* --- field lists -------------------------------------------------------------------------- */

dw_field_t *dw_fields_add(dw_arena_t *a, dw_fields_t *f, dw_str_t name, dw_str_t value)
{
    dw_field_t *slot = DW_ARENA_PUSH(a, f->v, f->n, f->cap);
    if (slot) slot->name = name, slot->value = value;
    return slot;
}

dw_field_t *dw_fields_get(const dw_fields_t *f, dw_str_t name)
{
    for (size_t i = 0; i < f->n; i++)
        if (dw_str_caseeq(f->v[i].name, name)) return &f->v[i];
    return NULL;
}

size_t dw_fields_del(dw_fields_t *f, dw_str_t name)
{
    size_t o = 0;
    for (size_t i = 0; i < f->n; i++)
        if (!dw_str_caseeq(f->v[i].name, name)) f->v[o++] = f->v[i]; /* keeps the order */
    size_t removed = f->n - o;
    f->n = o;
    return removed;
}

void dw_fields_set(dw_arena_t *a, dw_fields_t *f, dw_str_t name, dw_str_t value)
{
    dw_field_t *first = dw_fields_get(f, name);
    if (!first) {
        dw_fields_add(a, f, name, value);
        return;
    }
    /* The first keeps its position; later ones of that name go. */
    size_t keep = (size_t)(first - f->v), o = keep + 1;
    first->name = name, first->value = value;
    for (size_t i = keep + 1; i < f->n; i++)
        if (!dw_str_caseeq(f->v[i].name, name)) f->v[o++] = f->v[i];
    f->n = o;
}

/* --- variables ------------------------------------------------------------------------------ */

const dw_str_t *dw_req_var(const dw_req_t *r, dw_str_t name)
{
    for (size_t i = 0; i < r->nvars; i++)
        if (dw_str_eq(r->vars[i].name, name)) return &r->vars[i].value;
    return NULL;
}

void dw_req_set_var(dw_req_t *r, dw_str_t name, dw_str_t value)
{
    for (size_t i = 0; i < r->nvars; i++) {
        if (dw_str_eq(r->vars[i].name, name)) {
            r->vars[i].value = value; /* later definitions win */
            return;
        }
    }
    dw_var_t *v = DW_ARENA_PUSH(r->arena, r->vars, r->nvars, r->vars_cap);
    if (v) v->name = name, v->value = value;
}

/* --- client IP ------------------------------------------------------------------------------ */

/* One X-Forwarded-For entry: an IPv4 or IPv6 literal, optionally `[v6]`, `[v6]:port` or
 * `v4:port` (some proxies append the port). */
static bool parse_xff_ip(dw_str_t s, dw_ip_t *out)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) s.ptr++, s.len--;
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t')) s.len--;
    if (s.len && s.ptr[0] == '[') {
        ptrdiff_t close = dw_str_chr(s, ']');
        if (close < 0) return false;
        s = dw_str_sub(s, 1, (size_t)close - 1);
    } else if (dw_str_chr(s, '.') >= 0) {
        /* `v4:port` has one colon; `::ffff:1.2.3.4` has more and is kept whole */
        const char *last = memrchr(s.ptr, ':', s.len);
        ptrdiff_t colon = dw_str_chr(s, ':');
        if (colon >= 0 && s.ptr + colon == last) s.len = (size_t)colon;
    }
    char buf[INET6_ADDRSTRLEN];
    if (s.len == 0 || s.len >= sizeof(buf)) return false;
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = 4;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = 6;
    } else {
        return false;
    }
    /* canonical text, as {client_ip} shows it */
    if (!inet_ntop(out->family == 4 ? AF_INET : AF_INET6, out->addr, out->text, sizeof(out->text)))
        return false;
    return true;
}

const dw_ip_t *dw_req_client_ip(dw_req_t *r)
{
    if (r->client_ip_done) return &r->client_ip;
    r->client_ip_done = true;
    r->client_ip = r->peer;
    const dw_cfg_cidrs_t *trusted =
        r->snap && r->snap->cfg ? &r->snap->cfg->global.servers.trusted_proxies : NULL;
    if (!trusted || trusted->n == 0 || !dw_ip_in_cidrs(&r->peer, trusted)) return &r->client_ip;
    /* left-most valid entry over every X-Forwarded-For field, in order */
    static const dw_str_t xff = DW_STR("X-Forwarded-For");
    for (size_t i = 0; i < r->headers.n; i++) {
        if (!dw_str_caseeq(r->headers.v[i].name, xff)) continue;
        dw_str_t v = r->headers.v[i].value;
        while (v.len) {
            ptrdiff_t comma = dw_str_chr(v, ',');
            size_t n = comma < 0 ? v.len : (size_t)comma;
            dw_ip_t ip;
            if (parse_xff_ip(dw_str_sub(v, 0, n), &ip)) {
                r->client_ip = ip;
                return &r->client_ip;
            }
            v = dw_str_sub(v, comma < 0 ? v.len : n + 1, v.len);
        }
    }
    return &r->client_ip;
}

/* --- URI ------------------------------------------------------------------------------------ */

int dw_req_set_uri(dw_req_t *r, dw_str_t path, dw_str_t query, bool has_query)
{
    dw_str_t npath;
    if (dw_path_normalize(r->arena, path, &npath) != DW_OK) return -1;
    r->path = path;
    r->npath = npath;
    r->query = has_query ? query : DW_STR("");
    r->has_query = has_query;
    r->uri_changed = true;
    return 0;
}
