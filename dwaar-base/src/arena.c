#include <dwaar/base/arena.h>
#include <stdarg.h>
#include <stdint.h>

struct dw_arena_block {
    dw_arena_block_t *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

struct dw_arena_cleanup {
    dw_arena_cleanup_t *next;
    void (*fn)(void *);
    void *data;
};

#define ALIGN_UP(n) (((n) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1))

void dw_arena_init(dw_arena_t *a, size_t block_size)
{
    memset(a, 0, sizeof(*a));
    a->block_size = block_size ? block_size : DW_ARENA_DEFAULT_BLOCK;
}

void dw_arena_deinit(dw_arena_t *a)
{
    for (dw_arena_cleanup_t *c = a->cleanups; c; c = c->next) c->fn(c->data);
    dw_arena_block_t *b = a->head;
    while (b) {
        dw_arena_block_t *next = b->next;
        free(b);
        b = next;
    }
    memset(a, 0, sizeof(*a));
}

static dw_arena_block_t *new_block(dw_arena_t *a, size_t need)
{
    size_t size = need > a->block_size ? need : a->block_size;
    dw_arena_block_t *b = malloc(sizeof(*b) + size);
    if (!b) return NULL;
    b->size = size;
    b->used = 0;
    a->total += sizeof(*b) + size;
    return b;
}

void *dw_arena_alloc(dw_arena_t *a, size_t n)
{
    if (n == 0) n = 1;
    if (n > SIZE_MAX / 2) return NULL;
    n = ALIGN_UP(n);
    dw_arena_block_t *b = a->head;
    if (!b || b->size - b->used < n) {
        dw_arena_block_t *nb = new_block(a, n);
        if (!nb) return NULL;
        if (b && n > a->block_size / 4) {
            /* A large allocation gets its own block behind the current one, so the
             * current block's free space is not abandoned. */
            nb->next = b->next;
            b->next = nb;
            nb->used = n;
            return nb->data;
        }
        nb->next = b;
        a->head = b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

void *dw_arena_zalloc(dw_arena_t *a, size_t n)
{
    void *p = dw_arena_alloc(a, n);
    if (p) memset(p, 0, n);
    return p;
}

void *dw_arena_memdup(dw_arena_t *a, const void *src, size_t n)
{
    void *p = dw_arena_alloc(a, n);
    if (p && n) memcpy(p, src, n);
    return p;
}

char *dw_arena_strndup(dw_arena_t *a, const char *s, size_t n)
{
    char *p = dw_arena_alloc(a, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *dw_arena_sprintf(dw_arena_t *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = n >= 0 ? dw_arena_alloc(a, (size_t)n + 1) : NULL;
    if (p) vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

/* A large array that is alone in its own block can be resized with realloc instead of being
 * copied, so growing big arrays (token streams) does not leave dead copies behind. */
static void *grow_in_place(dw_arena_t *a, void *arr, size_t old_bytes, size_t new_bytes)
{
    if (!arr || old_bytes <= a->block_size / 4) return NULL;
    for (dw_arena_block_t **link = &a->head; *link; link = &(*link)->next) {
        dw_arena_block_t *b = *link;
        if ((void *)b->data != arr) continue;
        if (b->used != ALIGN_UP(old_bytes)) return NULL; /* shares the block */
        size_t used = ALIGN_UP(new_bytes);
        dw_arena_block_t *nb = realloc(b, sizeof(*nb) + used);
        if (!nb) return NULL;
        a->total += used - nb->size;
        nb->size = nb->used = used;
        *link = nb;
        return nb->data;
    }
    return NULL;
}

void *dw_arena_grow(dw_arena_t *a, void *arr, size_t elem, size_t n, size_t *cap)
{
    size_t ncap = *cap ? *cap * 2 : 4;
    if (ncap < n + 1) ncap = n + 1;
    if (elem && ncap > SIZE_MAX / 2 / elem) return NULL;
    void *p = grow_in_place(a, arr, *cap * elem, ncap * elem);
    if (p) {
        *cap = ncap;
        return p;
    }
    p = dw_arena_alloc(a, ncap * elem);
    if (!p) return NULL;
    if (n) memcpy(p, arr, n * elem);
    *cap = ncap;
    return p;
}

int dw_arena_on_cleanup(dw_arena_t *a, void (*fn)(void *), void *data)
{
    dw_arena_cleanup_t *c = dw_arena_alloc(a, sizeof(*c));
    if (!c) return -1;
    c->fn = fn;
    c->data = data;
    c->next = a->cleanups;
    a->cleanups = c;
    return 0;
}
