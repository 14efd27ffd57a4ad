/* Arenas: bump allocation from chained blocks, freed in one step. Not thread-safe by design:
 * an arena has one owner (a config snapshot, a request). */
#ifndef DWAAR_BASE_ARENA_H
#define DWAAR_BASE_ARENA_H

#include <dwaar/base/str.h>
#include <stdalign.h>

typedef struct dw_arena_block dw_arena_block_t;
typedef struct dw_arena_cleanup dw_arena_cleanup_t;

typedef struct dw_arena {
    dw_arena_block_t *head; /* current block; older blocks chain behind it */
    size_t block_size;      /* size of ordinary blocks */
    size_t total;           /* bytes obtained from malloc, for accounting */
    dw_arena_cleanup_t *cleanups;
} dw_arena_t;

#define DW_ARENA_DEFAULT_BLOCK 8192

void dw_arena_init(dw_arena_t *a, size_t block_size);
/* Runs cleanups (last registered first) and frees every block. */
void dw_arena_deinit(dw_arena_t *a);

/* Aligned to max_align_t; NULL only when malloc fails. */
void *dw_arena_alloc(dw_arena_t *a, size_t n);
void *dw_arena_zalloc(dw_arena_t *a, size_t n);
void *dw_arena_memdup(dw_arena_t *a, const void *p, size_t n);
/* NUL-terminated copies. */
char *dw_arena_strndup(dw_arena_t *a, const char *s, size_t n);
static inline char *dw_arena_strdup(dw_arena_t *a, const char *s)
{
    return dw_arena_strndup(a, s, strlen(s));
}
static inline dw_str_t dw_arena_str_dup(dw_arena_t *a, dw_str_t s)
{
    char *p = dw_arena_strndup(a, s.ptr, s.len);
    return p ? dw_str_make(p, s.len) : DW_STR_NULL;
}
char *dw_arena_sprintf(dw_arena_t *a, const char *fmt, ...) DW_PRINTF(2, 3);

/* Grow an arena-held array of `elem` bytes per item so that one more fits: *cap doubles,
 * contents are copied, the old copy stays in the arena until it is freed. Returns the array. */
void *dw_arena_grow(dw_arena_t *a, void *arr, size_t elem, size_t n, size_t *cap);

/* Push into an arena array: DW_ARENA_PUSH(arena, arr, n, cap) yields a pointer to the new,
 * zeroed slot (or NULL on allocation failure); n is incremented. */
#define DW_ARENA_PUSH(a, arr, n, cap)                                                              \
    (((n) < (cap) || ((arr) = dw_arena_grow((a), (arr), sizeof(*(arr)), (n), &(cap))))             \
         ? (memset(&(arr)[(n)], 0, sizeof(*(arr))), &(arr)[(n)++])                                 \
         : NULL)

/* Run fn(data) when the arena is deinitialised (fds, timers, handles the arena's owner holds). */
int dw_arena_on_cleanup(dw_arena_t *a, void (*fn)(void *), void *data);

#endif
