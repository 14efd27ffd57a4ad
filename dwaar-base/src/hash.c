#include <dwaar/base/error.h>
#include <dwaar/base/hash.h>

static uint64_t key_hash(const dw_strmap_t *m, dw_str_t k)
{
    if (!m->nocase) return dw_fnv1a64(k.ptr, k.len);
    uint64_t h = DW_FNV1A64_OFFSET;
    for (size_t i = 0; i < k.len; i++)
        h = (h ^ (unsigned char)dw_ascii_lower(k.ptr[i])) * DW_FNV1A64_PRIME;
    return h;
}

static bool key_eq(const dw_strmap_t *m, dw_str_t a, dw_str_t b)
{
    return m->nocase ? dw_str_caseeq(a, b) : dw_str_eq(a, b);
}

void dw_strmap_init(dw_strmap_t *m, bool nocase)
{
    memset(m, 0, sizeof(*m));
    m->nocase = nocase;
}

void dw_strmap_deinit(dw_strmap_t *m)
{
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

static dw_strmap_slot_t *find_slot(dw_strmap_slot_t *slots, size_t cap, const dw_strmap_t *m,
                                   dw_str_t key, uint64_t h)
{
    size_t i = (size_t)h & (cap - 1);
    for (;;) {
        dw_strmap_slot_t *s = &slots[i];
        if (!s->key.ptr || (s->hash == h && key_eq(m, s->key, key))) return s;
        i = (i + 1) & (cap - 1);
    }
}

void *dw_strmap_get(const dw_strmap_t *m, dw_str_t key)
{
    if (!m->cap) return NULL;
    dw_strmap_slot_t *s = find_slot(m->slots, m->cap, m, key, key_hash(m, key));
    return s->key.ptr ? s->value : NULL;
}

int dw_strmap_put(dw_strmap_t *m, dw_str_t key, void *value, void **old)
{
    if (old) *old = NULL;
    if ((m->n + 1) * 4 > m->cap * 3) {
        size_t ncap = m->cap ? m->cap * 2 : 16;
        dw_strmap_slot_t *ns = calloc(ncap, sizeof(*ns));
        if (!ns) return DW_ENOMEM;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].key.ptr)
                *find_slot(ns, ncap, m, m->slots[i].key, m->slots[i].hash) = m->slots[i];
        free(m->slots);
        m->slots = ns;
        m->cap = ncap;
    }
    uint64_t h = key_hash(m, key);
    dw_strmap_slot_t *s = find_slot(m->slots, m->cap, m, key, h);
    if (s->key.ptr) {
        if (old) *old = s->value;
        s->value = value;
        return DW_OK;
    }
    /* An empty key still needs a non-NULL pointer to mark the slot used. */
    s->key = key.ptr ? key : DW_STR("");
    s->hash = h;
    s->value = value;
    m->n++;
    return DW_OK;
}
