/* Non-cryptographic hashing and a small string-keyed hash table for boot/config code. */
#ifndef DWAAR_BASE_HASH_H
#define DWAAR_BASE_HASH_H

#include <dwaar/base/str.h>

#define DW_FNV1A64_OFFSET 14695981039346656037ULL
#define DW_FNV1A64_PRIME  1099511628211ULL

static inline uint64_t dw_fnv1a64(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = DW_FNV1A64_OFFSET;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * DW_FNV1A64_PRIME;
    return h;
}

/* Open addressing, keys are views the caller keeps alive; values are pointers. */
typedef struct dw_strmap_slot {
    dw_str_t key;
    uint64_t hash;
    void *value;
} dw_strmap_slot_t;

typedef struct dw_strmap {
    dw_strmap_slot_t *slots;
    size_t n, cap; /* cap is a power of two */
    bool nocase;   /* ASCII case-insensitive keys */
} dw_strmap_t;

void dw_strmap_init(dw_strmap_t *m, bool nocase);
void dw_strmap_deinit(dw_strmap_t *m);
void *dw_strmap_get(const dw_strmap_t *m, dw_str_t key);
/* Inserts or replaces; returns DW_OK or DW_ENOMEM. *old (if given) gets the replaced value. */
int dw_strmap_put(dw_strmap_t *m, dw_str_t key, void *value, void **old);

#endif
