/* SPDX-License-Identifier: MIT */
/* tests/alloc/test_alloc_conformance.c - one suite run against every
 * allocator value; ctest runs it once per compiled-in backend.
 *
 * Each allocator under test sits between two tallies: an observer the
 * properties allocate through (proving each property released what it
 * allocated) and a parent over alloy_heap() (proving the allocator gave
 * everything back at deinit). With counters compiled in, the routed counters
 * must also return to where they started.
 */
#include <alloy.h>
#include <errno.h>
#include <stdlib.h>

#include "alloc_test_util.h"
#include "cmocka_main.h"

#define FIXED_BYTES ((size_t)16 << 20)

typedef enum kind {
    K_HEAP,
    K_BACKEND,
    K_ARENA,
    K_ARENA_SMALL,
    K_FIXED,
    K_POOL,
    K_POOL_PAGE,
    K_SHARED_POOL,
    K_FAILING,
    K_TALLY,
    K_ARENA_OVER_FIXED,
    K_POOL_OVER_ARENA,
} kind;

typedef struct fixture {
    kind k;
    const char *name;
    alloy_allocator under; /* the allocator under test */
    alloy_allocator use;   /* the observer over it: what properties call */
    size_t max_size;       /* larger requests must fail */
    size_t max_align;      /* larger alignments must fail */
    bool can_reset;
    bool grows_last_in_place; /* resize of the latest block must succeed */
    alloy_tally parent, observer, inner_tally;
    alloy_arena arena, arena2;
    alloy_fixed fixed;
    void *fixed_buf;
    alloy_pool pool;
    alloy_shared_pool spool;
    alloy_failing failing;
    alloy_stats heap_before;
    bool heap_counted;
} fixture;

static const char *backend_name(void) {
    const char *b = getenv("ALLOY_BACKEND");
    return b != NULL && *b != '\0' ? b : NULL;
}

static void setup(fixture *fx, kind k) {
    memset(fx, 0, sizeof *fx);
    fx->k = k;
    fx->heap_counted = alloy_stats_get(&fx->heap_before);
    alloy_tally_init(&fx->parent, alloy_heap());
    alloy_allocator parent = alloy_tally_allocator(&fx->parent);
    fx->max_size = SIZE_MAX;
    fx->max_align = 4096;
    switch (k) {
    case K_HEAP:
        fx->name = "heap";
        fx->under = alloy_heap();
        break;
    case K_BACKEND:
        fx->name = "backend";
        assert_true(alloy_backend_allocator(backend_name(), &fx->under));
        break;
    case K_ARENA:
        fx->name = "arena";
        alloy_arena_init(&fx->arena, parent, 4096);
        fx->under = alloy_arena_allocator(&fx->arena);
        fx->can_reset = fx->grows_last_in_place = true;
        break;
    case K_ARENA_SMALL: {
        fx->name = "arena(small chunks)";
        alloy_arena_options opt = {256, 1024, 64};
        alloy_arena_init_ex(&fx->arena, parent, &opt);
        fx->under = alloy_arena_allocator(&fx->arena);
        fx->can_reset = true;
        break;
    }
    case K_FIXED:
        fx->name = "fixed";
        fx->fixed_buf = alloy_alloc(parent, FIXED_BYTES, 64);
        assert_non_null(fx->fixed_buf);
        alloy_fixed_init(&fx->fixed, fx->fixed_buf, FIXED_BYTES);
        fx->under = alloy_fixed_allocator(&fx->fixed);
        fx->can_reset = fx->grows_last_in_place = true;
        break;
    case K_POOL:
        fx->name = "pool";
        assert_true(alloy_pool_init(&fx->pool, parent, 256, 64));
        fx->under = alloy_pool_allocator(&fx->pool);
        fx->max_size = 256;
        fx->max_align = 64;
        fx->can_reset = true;
        break;
    case K_POOL_PAGE:
        fx->name = "pool(4 KiB blocks)";
        assert_true(alloy_pool_init(&fx->pool, parent, 4096, 4096));
        fx->under = alloy_pool_allocator(&fx->pool);
        fx->max_size = 4096;
        fx->can_reset = true;
        break;
    case K_SHARED_POOL:
        fx->name = "shared pool";
        assert_true(alloy_shared_pool_init(&fx->spool, parent, 512, 64));
        fx->under = alloy_shared_pool_allocator(&fx->spool);
        fx->max_size = 512;
        fx->max_align = 64;
        break;
    case K_FAILING:
        fx->name = "failing(never)";
        alloy_failing_init(&fx->failing, parent);
        fx->under = alloy_failing_allocator(&fx->failing);
        break;
    case K_TALLY:
        fx->name = "tally";
        alloy_tally_init(&fx->inner_tally, parent);
        fx->under = alloy_tally_allocator(&fx->inner_tally);
        break;
    case K_ARENA_OVER_FIXED:
        fx->name = "arena over fixed";
        fx->fixed_buf = alloy_alloc(parent, FIXED_BYTES, 64);
        assert_non_null(fx->fixed_buf);
        alloy_fixed_init(&fx->fixed, fx->fixed_buf, FIXED_BYTES);
        alloy_tally_init(&fx->inner_tally, alloy_fixed_allocator(&fx->fixed));
        alloy_arena_init(&fx->arena, alloy_tally_allocator(&fx->inner_tally), 1024);
        fx->under = alloy_arena_allocator(&fx->arena);
        fx->can_reset = fx->grows_last_in_place = true;
        break;
    case K_POOL_OVER_ARENA:
        fx->name = "pool over arena";
        alloy_arena_init(&fx->arena2, parent, 8192);
        alloy_tally_init(&fx->inner_tally, alloy_arena_allocator(&fx->arena2));
        assert_true(alloy_pool_init(&fx->pool, alloy_tally_allocator(&fx->inner_tally), 128, 16));
        fx->under = alloy_pool_allocator(&fx->pool);
        fx->max_size = 128;
        fx->max_align = 16;
        fx->can_reset = true;
        break;
    }
    alloy_tally_init(&fx->observer, fx->under);
    fx->use = alloy_tally_allocator(&fx->observer);
}

/* The property just run released every block it allocated. */
static void assert_observer_clean(fixture *fx, const char *property) {
    alloy_tally_report r;
    alloy_tally_stats_get(&fx->observer, &r);
    if (r.totals.current_count != 0 || r.totals.current_bytes != 0)
        fail_msg("%s/%s: %llu blocks (%llu bytes) still live", fx->name, property,
                 (unsigned long long)r.totals.current_count,
                 (unsigned long long)r.totals.current_bytes);
}

static void teardown(fixture *fx) {
    assert_observer_clean(fx, "end");
    switch (fx->k) {
    case K_ARENA:
    case K_ARENA_SMALL:
        alloy_arena_deinit(&fx->arena);
        break;
    case K_FIXED:
        alloy_fixed_deinit(&fx->fixed);
        break;
    case K_POOL:
    case K_POOL_PAGE:
        alloy_pool_deinit(&fx->pool);
        break;
    case K_SHARED_POOL:
        alloy_shared_pool_deinit(&fx->spool);
        break;
    case K_FAILING:
        alloy_failing_deinit(&fx->failing);
        break;
    case K_TALLY:
        break;
    case K_ARENA_OVER_FIXED:
        alloy_arena_deinit(&fx->arena);
        alloy_fixed_deinit(&fx->fixed);
        break;
    case K_POOL_OVER_ARENA:
        alloy_pool_deinit(&fx->pool);
        alloy_arena_deinit(&fx->arena2);
        break;
    default:
        break;
    }
    if (fx->k == K_TALLY || fx->k == K_ARENA_OVER_FIXED || fx->k == K_POOL_OVER_ARENA) {
        /* The middle allocator was told to free everything it was given. */
        alloy_tally_report t;
        alloy_tally_stats_get(&fx->inner_tally, &t);
        assert_int_equal(t.totals.current_count, 0);
        assert_int_equal(t.totals.current_bytes, 0);
        alloy_tally_deinit(&fx->inner_tally);
    }
    if (fx->fixed_buf != NULL)
        alloy_dealloc(alloy_tally_allocator(&fx->parent), fx->fixed_buf, FIXED_BYTES, 64);
    alloy_tally_report r;
    alloy_tally_stats_get(&fx->parent, &r);
    if (r.totals.current_count != 0 || r.totals.current_bytes != 0)
        fail_msg("%s: %llu blocks (%llu bytes) not returned to the parent", fx->name,
                 (unsigned long long)r.totals.current_count,
                 (unsigned long long)r.totals.current_bytes);
    alloy_stats after;
    if (fx->heap_counted && alloy_stats_get(&after)) {
        assert_int_equal(after.current_count, fx->heap_before.current_count);
        assert_int_equal(after.current_bytes, fx->heap_before.current_bytes);
    }
}

/* ---- properties ---------------------------------------------------------- */

typedef struct block {
    unsigned char *p;
    size_t size, align;
    uint64_t seed;
} block;

static void check_block(const fixture *fx, const block *b) {
    size_t at = pattern_check(b->p, b->size, b->seed);
    if (at != b->size)
        fail_msg("%s: block %p (%zu bytes) corrupted at byte %zu", fx->name, (void *)b->p, b->size,
                 at);
}

static void prop_basic(fixture *fx) {
    static const size_t sizes[] = {1,     2,     3,      7,   8,   15,  16,   17,
                                   31,    64,    100,    255, 256, 257, 1000, 4096,
                                   10000, 65536, 200000, 3,   48,  512, 4097, 33};
    block b[sizeof sizes / sizeof sizes[0]];
    size_t n = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = alloy_alloc(fx->use, sizes[i], 8);
        if (sizes[i] > fx->max_size) {
            assert_null(p);
            continue;
        }
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 8, 0);
        b[n] = (block){p, sizes[i], 8, i + 1};
        pattern_fill(p, sizes[i], i + 1);
        n++;
    }
    for (size_t i = 0; i < n; i++) check_block(fx, &b[i]);
    /* Free every other block, then the rest, checking the survivors each time. */
    for (size_t pass = 0; pass < 2; pass++)
        for (size_t i = pass; i < n; i += 2) {
            alloy_dealloc(fx->use, b[i].p, b[i].size, b[i].align);
            for (size_t j = i + 2; j < n; j += 2) check_block(fx, &b[j]);
            if (pass == 0)
                for (size_t j = 1; j < n; j += 2) check_block(fx, &b[j]);
        }
    assert_observer_clean(fx, "basic");
}

static void prop_aligned(fixture *fx) {
    static const size_t sizes[] = {1, 24, 100, 3000};
    block b[13 * 4];
    size_t n = 0;
    for (size_t align = 1; align <= 4096; align *= 2)
        for (size_t s = 0; s < 4; s++) {
            void *p = alloy_alloc(fx->use, sizes[s], align);
            if (align > fx->max_align || sizes[s] > fx->max_size) {
                assert_null(p);
                continue;
            }
            if (p == NULL) fail_msg("%s: alloc(%zu, align %zu) failed", fx->name, sizes[s], align);
            assert_int_equal((uintptr_t)p & (align - 1), 0);
            b[n] = (block){p, sizes[s], align, n + 100};
            pattern_fill(p, sizes[s], n + 100);
            n++;
        }
    for (size_t i = 0; i < n; i++) check_block(fx, &b[i]);
    for (size_t i = n; i-- > 0;) alloy_dealloc(fx->use, b[i].p, b[i].size, b[i].align);
    assert_observer_clean(fx, "aligned");
}

static void prop_resize(fixture *fx) {
    /* In-place growth needs room after the block: start from an empty chunk. */
    if (fx->grows_last_in_place) assert_true(alloy_reset(fx->use));
    size_t size = 100;
    unsigned char *p = alloy_alloc(fx->use, size, 16);
    assert_non_null(p);
    pattern_fill(p, size, 7);
    if (alloy_resize(fx->use, p, size, 50, 16)) {
        assert_int_equal(pattern_check(p, 50, 7), 50);
        size = 50;
    }
    bool grew = alloy_resize(fx->use, p, size, 200, 16);
    if (fx->grows_last_in_place && fx->max_size >= 200) assert_true(grew);
    if (grew) {
        assert_int_equal(pattern_check(p, size, 7), size);
        size = 200;
        pattern_fill(p, size, 8);
    }
    assert_false(alloy_resize(fx->use, p, size, 300, 3)); /* bad alignment */
    assert_false(alloy_resize(fx->use, p, size, SIZE_MAX, 16));
    assert_int_equal(pattern_check(p, size, grew ? 8 : 7), size);
    /* Resizing to 0 releases the block. */
    assert_true(alloy_resize(fx->use, p, size, 0, 16));
    assert_observer_clean(fx, "resize");
}

static void prop_remap(fixture *fx) {
    size_t size = 64;
    unsigned char *p = alloy_alloc(fx->use, size, 16);
    assert_non_null(p);
    pattern_fill(p, size, 9);
    size_t targets[] = {4096, 128, 16, 100000};
    for (size_t i = 0; i < 4; i++) {
        unsigned char *q = alloy_remap(fx->use, p, size, targets[i], 16);
        if (targets[i] > fx->max_size) assert_null(q);
        if (q == NULL) {
            assert_int_equal(pattern_check(p, size, 9), size); /* untouched */
            continue;
        }
        size_t keep = size < targets[i] ? size : targets[i];
        assert_int_equal(pattern_check(q, keep, 9), keep);
        p = q;
        size = targets[i];
        pattern_fill(p, size, 9);
    }
    assert_null(alloy_remap(fx->use, p, size, 10, 6));       /* bad alignment */
    unsigned char *z = alloy_remap(fx->use, p, size, 0, 16); /* to size 0: released */
    assert_non_null(z);
    assert_observer_clean(fx, "remap");
}

static void prop_reallocate(fixture *fx) {
    size_t size = 8;
    unsigned char *p = alloy_alloc(fx->use, size, 8);
    assert_non_null(p);
    pattern_fill(p, size, 11);
    /* An unrelated block after it, so in-place growth is not always possible. */
    void *other = alloy_alloc(fx->use, 24, 8);
    assert_non_null(other);
    for (size_t next = 16; next <= 65536; next *= 2) {
        unsigned char *q = alloy_reallocate(fx->use, p, size, next, 8);
        if (next > fx->max_size) {
            assert_null(q);
            break;
        }
        if (q == NULL) fail_msg("%s: reallocate %zu -> %zu failed", fx->name, size, next);
        assert_int_equal(pattern_check(q, size, 11), size);
        p = q;
        size = next;
        pattern_fill(p, size, 11);
    }
    unsigned char *q = alloy_reallocate(fx->use, p, size, 5, 8); /* shrink */
    assert_non_null(q);
    assert_int_equal(pattern_check(q, 5, 11), 5);
    alloy_dealloc(fx->use, q, 5, 8);
    alloy_dealloc(fx->use, other, 24, 8);
    assert_observer_clean(fx, "reallocate");
}

static void prop_zero_size(fixture *fx) {
    void *p = alloy_alloc(fx->use, 0, 16);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 16, 0);
    alloy_dealloc(fx->use, p, 0, 16);
    int *a = ALLOY_NEW_ARRAY(fx->use, int, 0);
    assert_non_null(a);
    ALLOY_DELETE_ARRAY(fx->use, int, a, 0);
    /* Growing from size 0 allocates; shrinking to 0 releases. */
    unsigned char *q = alloy_remap(fx->use, p, 0, 32, 16);
    assert_non_null(q);
    pattern_fill(q, 32, 3);
    assert_true(alloy_resize(fx->use, q, 32, 0, 16));
    unsigned char *r = alloy_reallocate(fx->use, NULL, 0, 40, 8);
    assert_non_null(r);
    pattern_fill(r, 40, 4);
    assert_non_null(alloy_reallocate(fx->use, r, 40, 0, 8));
    alloy_dealloc(fx->use, NULL, 10, 8); /* NULL is a no-op */
    assert_observer_clean(fx, "zero size");
}

static void prop_overflow(fixture *fx) {
    errno = 4242;
    assert_null(alloy_alloc(fx->use, SIZE_MAX, 8));
    assert_null(alloy_alloc(fx->use, (size_t)PTRDIFF_MAX, 8));
    assert_null(alloy_alloc(fx->use, (size_t)PTRDIFF_MAX - 4096, 4096));
    assert_null(alloy_alloc(fx->use, 16, 0));
    assert_null(alloy_alloc(fx->use, 16, 3));
    assert_null(alloy_alloc(fx->use, 16, 24));
    assert_null(ALLOY_NEW_ARRAY(fx->use, uint64_t, SIZE_MAX / 4));
    assert_null(ALLOY_NEW_ARRAY(fx->use, uint64_t, (SIZE_MAX / 8) + 2));
    assert_null(alloy_alloc_array_uninit(fx->use, SIZE_MAX / 2, 3, 1));
    assert_null(alloy_alloc_array_uninit(fx->use, (size_t)1 << 32, (size_t)1 << 32, 1));
    assert_int_equal(errno, 4242); /* allocator values leave errno alone */
    /* The allocator still works afterwards. */
    void *p = alloy_alloc(fx->use, 32, 8);
    assert_non_null(p);
    alloy_dealloc(fx->use, p, 32, 8);
    assert_observer_clean(fx, "overflow");
}

static void prop_typed(fixture *fx) {
    typedef struct node {
        double d;
        long l;
        struct node *next;
    } node;
    node *n = ALLOY_NEW(fx->use, node);
    assert_non_null(n);
    assert_int_equal((uintptr_t)n % ALLOY_ALIGNOF(node), 0);
    n->d = 1.5;
    n->l = 42;
    n->next = NULL;
    node *arr = ALLOY_NEW_ARRAY(fx->use, node, 4);
    assert_non_null(arr);
    for (int i = 0; i < 4; i++) arr[i] = (node){i, i, n};
    assert_true(arr[3].next == n && n->l == 42);
    ALLOY_DELETE_ARRAY(fx->use, node, arr, 4);
    ALLOY_DELETE(fx->use, node, n);
    ALLOY_DELETE(fx->use, node, (node *)NULL);
    char *s = alloy_strdup_in(fx->use, "alloy");
    assert_non_null(s);
    assert_string_equal(s, "alloy");
    alloy_dealloc(fx->use, s, 6, 1);
    unsigned char *z = alloy_alloc_zeroed(fx->use, 100, 8);
    assert_non_null(z);
    for (int i = 0; i < 100; i++) assert_int_equal(z[i], 0);
    alloy_dealloc(fx->use, z, 100, 8);
    assert_observer_clean(fx, "typed");
}

/* Random operations over up to 64 live blocks; every block keeps its pattern. */
static void prop_churn(fixture *fx) {
    enum { LIVE = 64, OPS = 3000 };
    block b[LIVE];
    size_t n = 0;
    test_rng rng = {0x1234567u + (uint64_t)fx->k};
    size_t max_size = fx->max_size < 2048 ? fx->max_size : 2048;
    size_t max_align = fx->max_align < 64 ? fx->max_align : 64;
    for (int op = 0; op < OPS; op++) {
        size_t r = rng_below(&rng, 10);
        if (n < LIVE && (r < 5 || n == 0)) {
            size_t size = 1 + rng_below(&rng, max_size);
            size_t align = (size_t)1 << rng_below(&rng, 7);
            if (align > max_align) align = max_align;
            void *p = alloy_alloc(fx->use, size, align);
            if (p == NULL) fail_msg("%s: churn alloc(%zu, %zu) failed", fx->name, size, align);
            assert_int_equal((uintptr_t)p & (align - 1), 0);
            b[n] = (block){p, size, align, (uint64_t)op};
            pattern_fill(p, size, (uint64_t)op);
            n++;
        } else if (r < 8) {
            size_t i = rng_below(&rng, n);
            check_block(fx, &b[i]);
            alloy_dealloc(fx->use, b[i].p, b[i].size, b[i].align);
            b[i] = b[--n];
        } else {
            size_t i = rng_below(&rng, n);
            check_block(fx, &b[i]);
            size_t size = 1 + rng_below(&rng, max_size);
            unsigned char *q = alloy_reallocate(fx->use, b[i].p, b[i].size, size, b[i].align);
            if (q == NULL) fail_msg("%s: churn reallocate failed", fx->name);
            size_t keep = size < b[i].size ? size : b[i].size;
            assert_int_equal(pattern_check(q, keep, b[i].seed), keep);
            b[i].p = q;
            b[i].size = size;
            pattern_fill(q, size, b[i].seed);
        }
    }
    for (size_t i = 0; i < n; i++) check_block(fx, &b[i]);
    for (size_t i = 0; i < n; i++) alloy_dealloc(fx->use, b[i].p, b[i].size, b[i].align);
    assert_observer_clean(fx, "churn");
}

static void prop_reset(fixture *fx) {
    block b[8];
    for (int i = 0; i < 8; i++) {
        size_t size = 16 + 8 * (size_t)i;
        b[i] = (block){alloy_alloc(fx->use, size, 8), size, 8, (uint64_t)i};
        assert_non_null(b[i].p);
        pattern_fill(b[i].p, size, (uint64_t)i);
    }
    bool ok = alloy_reset(fx->use);
    assert_int_equal(ok, fx->can_reset);
    if (!ok) {
        for (int i = 0; i < 8; i++) check_block(fx, &b[i]); /* still valid */
        for (int i = 0; i < 8; i++) alloy_dealloc(fx->use, b[i].p, b[i].size, 8);
    }
    /* Usable again after a reset, and again reset-able. */
    void *p = alloy_alloc(fx->use, 64, 8);
    assert_non_null(p);
    pattern_fill(p, 64, 5);
    assert_int_equal(pattern_check(p, 64, 5), 64);
    alloy_dealloc(fx->use, p, 64, 8);
    alloy_stats st;
    assert_true(alloy_allocator_stats_get(fx->use, &st)); /* the observer counts */
    assert_int_equal(st.current_count, 0);
    assert_observer_clean(fx, "reset");
}

static void run_all(kind k) {
    fixture fx;
    setup(&fx, k);
    prop_basic(&fx);
    prop_aligned(&fx);
    prop_resize(&fx);
    prop_remap(&fx);
    prop_reallocate(&fx);
    prop_zero_size(&fx);
    prop_overflow(&fx);
    prop_typed(&fx);
    prop_churn(&fx);
    prop_reset(&fx);
    teardown(&fx);
}

static void conformance_heap(void **state) {
    (void)state, run_all(K_HEAP);
}
static void conformance_backend(void **state) {
    (void)state, run_all(K_BACKEND);
}
static void conformance_arena(void **state) {
    (void)state, run_all(K_ARENA);
}
static void conformance_arena_small_chunks(void **state) {
    (void)state, run_all(K_ARENA_SMALL);
}
static void conformance_fixed(void **state) {
    (void)state, run_all(K_FIXED);
}
static void conformance_pool(void **state) {
    (void)state, run_all(K_POOL);
}
static void conformance_pool_page_blocks(void **state) {
    (void)state, run_all(K_POOL_PAGE);
}
static void conformance_shared_pool(void **state) {
    (void)state, run_all(K_SHARED_POOL);
}
static void conformance_failing(void **state) {
    (void)state, run_all(K_FAILING);
}
static void conformance_tally(void **state) {
    (void)state, run_all(K_TALLY);
}
static void conformance_arena_over_fixed(void **state) {
    (void)state, run_all(K_ARENA_OVER_FIXED);
}
static void conformance_pool_over_arena(void **state) {
    (void)state, run_all(K_POOL_OVER_ARENA);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(conformance_heap),
    cmocka_unit_test(conformance_backend),
    cmocka_unit_test(conformance_arena),
    cmocka_unit_test(conformance_arena_small_chunks),
    cmocka_unit_test(conformance_fixed),
    cmocka_unit_test(conformance_pool),
    cmocka_unit_test(conformance_pool_page_blocks),
    cmocka_unit_test(conformance_shared_pool),
    cmocka_unit_test(conformance_failing),
    cmocka_unit_test(conformance_tally),
    cmocka_unit_test(conformance_arena_over_fixed),
    cmocka_unit_test(conformance_pool_over_arena),
};

ALLOY_TEST_MAIN(tests)
