/* Unit tests for dwaar-base arenas (dwaar/base/arena.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dwaar/base/arena.h>

#define IS_MAX_ALIGNED(p) (((uintptr_t)(p) % alignof(max_align_t)) == 0)

static void arena_small_allocs_are_aligned_and_distinct(void **state)
{
    (void)state;
    enum { N = 2000 };
    static unsigned char *ptrs[N];
    static size_t sizes[N];
    dw_arena_t a;
    dw_arena_init(&a, 512);
    for (size_t i = 0; i < N; i++) {
        sizes[i] = 1 + i % 37;
        ptrs[i] = dw_arena_alloc(&a, sizes[i]);
        assert_non_null(ptrs[i]);
        assert_true(IS_MAX_ALIGNED(ptrs[i]));
        memset(ptrs[i], (int)(i & 0xff), sizes[i]);
    }
    /* Every allocation still holds its own pattern: none overlaps another. */
    for (size_t i = 0; i < N; i++)
        for (size_t k = 0; k < sizes[i]; k++) assert_int_equal(ptrs[i][k], i & 0xff);
    for (size_t i = 1; i < N; i++) assert_ptr_not_equal(ptrs[i], ptrs[i - 1]);
    /* Zero-byte requests still give distinct, aligned pointers. */
    void *z1 = dw_arena_alloc(&a, 0), *z2 = dw_arena_alloc(&a, 0);
    assert_non_null(z1);
    assert_non_null(z2);
    assert_ptr_not_equal(z1, z2);
    assert_true(IS_MAX_ALIGNED(z1) && IS_MAX_ALIGNED(z2));
    assert_true(a.total >= N);
    dw_arena_deinit(&a);
}

static void arena_large_alloc_keeps_current_block_usable(void **state)
{
    (void)state;
    dw_arena_t a;
    dw_arena_init(&a, 1024);
    unsigned char *p1 = dw_arena_alloc(&a, 64);
    assert_non_null(p1);
    dw_arena_block_t *head = a.head;
    size_t total = a.total;

    unsigned char *big = dw_arena_alloc(&a, 10000); /* > block size */
    assert_non_null(big);
    assert_true(IS_MAX_ALIGNED(big));
    memset(big, 0x5a, 10000);
    assert_true(a.total >= total + 10000);
    assert_ptr_equal(a.head, head); /* still bumping in the same block */

    /* The next small allocation continues right after p1 in the current block. */
    unsigned char *p2 = dw_arena_alloc(&a, 64);
    assert_ptr_equal(p2, p1 + 64);
    memset(p1, 1, 64);
    memset(p2, 2, 64);
    for (size_t i = 0; i < 10000; i++) assert_int_equal(big[i], 0x5a);

    /* A second large allocation is distinct from the first. */
    unsigned char *big2 = dw_arena_alloc(&a, 5000);
    assert_non_null(big2);
    memset(big2, 0x33, 5000);
    assert_true(big2 + 5000 <= big || big2 >= big + 10000);
    assert_int_equal(big[9999], 0x5a);
    assert_ptr_equal(dw_arena_alloc(&a, 16), p2 + 64);
    dw_arena_deinit(&a);

    /* A large first allocation (no current block yet) works too. */
    dw_arena_init(&a, 256);
    unsigned char *first = dw_arena_alloc(&a, 4096);
    assert_non_null(first);
    memset(first, 7, 4096);
    unsigned char *after = dw_arena_alloc(&a, 32);
    assert_non_null(after);
    memset(after, 8, 32);
    assert_int_equal(first[4095], 7);
    dw_arena_deinit(&a);
}

static void arena_zalloc_zeroes(void **state)
{
    (void)state;
    dw_arena_t a;
    dw_arena_init(&a, 256);
    /* Dirty some arena memory first so zeroes are not an accident of malloc. */
    for (int round = 0; round < 8; round++) {
        unsigned char *d = dw_arena_alloc(&a, 100);
        assert_non_null(d);
        memset(d, 0xff, 100);
        unsigned char *z = dw_arena_zalloc(&a, 100);
        assert_non_null(z);
        for (size_t i = 0; i < 100; i++) assert_int_equal(z[i], 0);
    }
    unsigned char *zbig = dw_arena_zalloc(&a, 3000);
    assert_non_null(zbig);
    for (size_t i = 0; i < 3000; i++) assert_int_equal(zbig[i], 0);
    assert_non_null(dw_arena_zalloc(&a, 0));
    dw_arena_deinit(&a);
}

static void arena_string_and_memory_copies(void **state)
{
    (void)state;
    dw_arena_t a;
    dw_arena_init(&a, 0);
    assert_int_equal(a.block_size, DW_ARENA_DEFAULT_BLOCK);

    char src[] = "hello world";
    char *s = dw_arena_strndup(&a, src, 5);
    assert_non_null(s);
    assert_string_equal(s, "hello");
    assert_ptr_not_equal(s, src);

    char *e = dw_arena_strndup(&a, src, 0);
    assert_non_null(e);
    assert_string_equal(e, "");

    char *d = dw_arena_strdup(&a, src);
    assert_string_equal(d, "hello world");
    src[0] = 'J'; /* a copy, not a view */
    assert_string_equal(d, "hello world");

    dw_str_t v = dw_arena_str_dup(&a, DW_STR("view\0tail"));
    assert_int_equal(v.len, 9);
    assert_memory_equal(v.ptr, "view\0tail", 9);
    assert_int_equal(v.ptr[9], '\0');

    static const unsigned char bin[] = {0, 1, 2, 0xff, 0, 42};
    unsigned char *m = dw_arena_memdup(&a, bin, sizeof(bin));
    assert_non_null(m);
    assert_memory_equal(m, bin, sizeof(bin));
    assert_non_null(dw_arena_memdup(&a, bin, 0));

    char *f = dw_arena_sprintf(&a, "%s-%d-%c-%zu", "id", -42, 'x', (size_t)7);
    assert_string_equal(f, "id--42-x-7");
    assert_string_equal(dw_arena_sprintf(&a, "%s", ""), "");

    /* Longer than a block: formatted into its own allocation. */
    char *long_s = dw_arena_sprintf(&a, "%20000d|", 5);
    assert_non_null(long_s);
    assert_int_equal(strlen(long_s), 20001);
    assert_int_equal(long_s[19999], '5');
    assert_int_equal(long_s[20000], '|');
    assert_int_equal(long_s[0], ' ');
    dw_arena_deinit(&a);
}

typedef struct item {
    uint64_t id;
    int32_t tag;
    char name[12];
} item_t;

static void arena_push_grows_preserves_and_zeroes(void **state)
{
    (void)state;
    dw_arena_t a;
    dw_arena_init(&a, 512);
    /* Dirty memory so that zeroed slots prove the memset. */
    memset(dw_arena_alloc(&a, 400), 0xee, 400);

    item_t *arr = NULL;
    size_t n = 0, cap = 0, grows = 0, last_cap = 0;
    enum { COUNT = 300 }; /* 4 -> 8 -> ... -> 512: seven doublings */
    for (size_t i = 0; i < COUNT; i++) {
        item_t *it = DW_ARENA_PUSH(&a, arr, n, cap);
        assert_non_null(it);
        assert_ptr_equal(it, &arr[i]);
        assert_int_equal(n, i + 1);
        assert_true(n <= cap);
        if (cap != last_cap) {
            if (last_cap) assert_int_equal(cap, last_cap * 2);
            grows++;
            last_cap = cap;
        }
        assert_int_equal(it->id, 0);
        assert_int_equal(it->tag, 0);
        for (size_t k = 0; k < sizeof(it->name); k++) assert_int_equal(it->name[k], 0);
        it->id = i * 1000 + 1;
        it->tag = -(int32_t)i;
        snprintf(it->name, sizeof(it->name), "n%zu", i);
        /* Earlier contents survive each move. */
        assert_int_equal(arr[0].id, 1);
        assert_string_equal(arr[0].name, "n0");
    }
    assert_int_equal(n, COUNT);
    assert_true(grows >= 7);
    for (size_t i = 0; i < COUNT; i++) {
        char want[12];
        snprintf(want, sizeof(want), "n%zu", i);
        assert_int_equal(arr[i].id, i * 1000 + 1);
        assert_int_equal(arr[i].tag, -(int32_t)i);
        assert_string_equal(arr[i].name, want);
    }

    /* Plain ints too, with a start from an existing capacity. */
    int *ints = NULL;
    size_t in = 0, icap = 0;
    for (int i = 0; i < 1000; i++) {
        int *slot = DW_ARENA_PUSH(&a, ints, in, icap);
        assert_non_null(slot);
        assert_int_equal(*slot, 0);
        *slot = i * 3;
    }
    for (int i = 0; i < 1000; i++) assert_int_equal(ints[i], i * 3);

    /* dw_arena_grow directly: capacity at least n + 1, data copied. */
    size_t gcap = 2;
    int *g = dw_arena_alloc(&a, 2 * sizeof(int));
    g[0] = 10, g[1] = 20;
    int *g2 = dw_arena_grow(&a, g, sizeof(int), 2, &gcap);
    assert_non_null(g2);
    assert_int_equal(gcap, 4);
    assert_int_equal(g2[0], 10);
    assert_int_equal(g2[1], 20);
    g2[3] = 1; /* the new capacity is usable */
    dw_arena_deinit(&a);
}

typedef struct cleanup_log {
    int order[16];
    int n;
} cleanup_log_t;

typedef struct cleanup_ctx {
    cleanup_log_t *log;
    int id;
} cleanup_ctx_t;

static void record_cleanup(void *p)
{
    cleanup_ctx_t *c = p;
    c->log->order[c->log->n++] = c->id;
}

static void arena_cleanups_run_in_reverse_order(void **state)
{
    (void)state;
    cleanup_log_t log = {{0}, 0};
    cleanup_ctx_t ctx[5];
    dw_arena_t a;
    dw_arena_init(&a, 128);
    for (int i = 0; i < 5; i++) {
        ctx[i].log = &log;
        ctx[i].id = i + 1;
        assert_int_equal(dw_arena_on_cleanup(&a, record_cleanup, &ctx[i]), 0);
        /* Spread registrations over several blocks. */
        assert_non_null(dw_arena_alloc(&a, 100));
        assert_non_null(dw_arena_alloc(&a, 1000));
    }
    assert_int_equal(log.n, 0); /* nothing runs before deinit */
    dw_arena_deinit(&a);
    assert_int_equal(log.n, 5);
    for (int i = 0; i < 5; i++) assert_int_equal(log.order[i], 5 - i);
}

static void arena_deinit_then_reinit(void **state)
{
    (void)state;
    cleanup_log_t log = {{0}, 0};
    cleanup_ctx_t ctx = {&log, 1};
    dw_arena_t a;
    dw_arena_init(&a, 256);
    dw_arena_deinit(&a); /* never used */
    assert_null(a.head);

    dw_arena_init(&a, 256);
    assert_non_null(dw_arena_strdup(&a, "first life"));
    assert_non_null(dw_arena_alloc(&a, 5000));
    dw_arena_on_cleanup(&a, record_cleanup, &ctx);
    dw_arena_deinit(&a);
    assert_null(a.head);
    assert_null(a.cleanups);
    assert_int_equal(a.total, 0);
    assert_int_equal(log.n, 1);

    dw_arena_init(&a, 64);
    assert_int_equal(a.block_size, 64);
    char *s = dw_arena_strdup(&a, "second life");
    assert_string_equal(s, "second life");
    for (int i = 0; i < 100; i++) assert_non_null(dw_arena_alloc(&a, 48));
    dw_arena_deinit(&a);
    assert_int_equal(log.n, 1); /* the old cleanup did not run again */
}

/* A big array grows in its own block with realloc: no dead copies pile up in the arena. */
static void arena_push_large_array_grows_in_place(void **state)
{
    (void)state;
    dw_arena_t a;
    dw_arena_init(&a, 4096);
    uint64_t *arr = NULL;
    size_t n = 0, cap = 0;
    for (uint64_t i = 0; i < 200000; i++) {
        uint64_t *slot = DW_ARENA_PUSH(&a, arr, n, cap);
        assert_non_null(slot);
        *slot = i * 7;
    }
    for (size_t i = 0; i < n; i++) assert_int_equal(arr[i], i * 7);
    /* final array is cap * 8 bytes; doubling with copies would hold about twice that */
    assert_true(a.total < cap * sizeof(uint64_t) + cap * sizeof(uint64_t) / 2);
    dw_arena_deinit(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arena_small_allocs_are_aligned_and_distinct),
        cmocka_unit_test(arena_large_alloc_keeps_current_block_usable),
        cmocka_unit_test(arena_zalloc_zeroes),
        cmocka_unit_test(arena_string_and_memory_copies),
        cmocka_unit_test(arena_push_grows_preserves_and_zeroes),
        cmocka_unit_test(arena_cleanups_run_in_reverse_order),
        cmocka_unit_test(arena_deinit_then_reinit),
        cmocka_unit_test(arena_push_large_array_grows_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
