/* SPDX-License-Identifier: MIT */
/* tests/alloc/test_alloc_units.c - behaviour specific to each allocator:
 * arena chunks, marks and reset modes; fixed-buffer bounds; pool reuse;
 * failing modes; tally counters; backends by name. */
#define _GNU_SOURCE
#include <alloy.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc_test_util.h"
#include "cmocka_main.h"

static uint64_t live_blocks(const alloy_tally *t) {
    alloy_tally_report r;
    alloy_tally_stats_get(t, &r);
    return r.totals.current_count;
}

static uint64_t parent_allocs(const alloy_tally *t) {
    alloy_tally_report r;
    alloy_tally_stats_get(t, &r);
    return r.alloc_calls;
}

/* ---- arena --------------------------------------------------------------- */

static void arena_bump_and_free_last(void **state) {
    (void)state;
    alloy_tally t;
    alloy_tally_init(&t, alloy_heap());
    alloy_arena a;
    alloy_arena_init(&a, alloy_tally_allocator(&t), 4096);
    assert_int_equal(parent_allocs(&t), 0); /* nothing taken before first use */
    char *p = alloy_arena_alloc(&a, 10, 1);
    char *q = alloy_arena_alloc(&a, 10, 1);
    assert_ptr_equal(q, p + 16); /* 8-byte grain */
    alloy_arena_free(&a, q, 10);
    char *r = alloy_arena_alloc(&a, 24, 8);
    assert_ptr_equal(r, q); /* the latest block came back */
    assert_true(alloy_arena_resize(&a, r, 24, 100));
    char *s = alloy_arena_alloc(&a, 8, 8);
    assert_ptr_equal(s, r + 104);
    assert_false(alloy_arena_resize(&a, r, 100, 200)); /* no longer the latest */
    assert_true(alloy_arena_resize(&a, r, 100, 50));   /* shrinking always works */
    char *al = alloy_arena_alloc(&a, 1, 256);
    assert_int_equal((uintptr_t)al % 256, 0);
    alloy_arena_stats st;
    alloy_arena_stats_get(&a, &st);
    assert_int_equal(st.chunks, 1);
    assert_true(st.used >= 16 + 104 + 8 + 1 && st.used <= st.committed);
    alloy_arena_deinit(&a);
    assert_int_equal(live_blocks(&t), 0);
}

static void arena_geometric_growth_and_large(void **state) {
    (void)state;
    alloy_tally t;
    alloy_tally_init(&t, alloy_heap());
    alloy_arena_options opt = {1024, 16384, 200};
    alloy_arena a;
    alloy_arena_init_ex(&a, alloy_tally_allocator(&t), &opt);
    for (int i = 0; i < 2000; i++) {
        unsigned char *p = alloy_arena_alloc(&a, 100, 8);
        assert_non_null(p);
        pattern_fill(p, 100, (uint64_t)i);
    }
    alloy_tally_report r;
    alloy_tally_stats_get(&t, &r);
    /* 200 KB in chunks of 1, 2, 4, 8, then 16 KiB: far fewer than 200 chunks. */
    assert_true(r.alloc_calls >= 5 && r.alloc_calls <= 20);
    assert_int_equal(r.histogram[alloy_tally_class(16384)], r.alloc_calls - 4);
    uint64_t before = r.alloc_calls;
    void *big = alloy_arena_alloc(&a, 5000, 64); /* above the threshold: from the parent */
    assert_non_null(big);
    assert_int_equal((uintptr_t)big % 64, 0);
    assert_int_equal(parent_allocs(&t), before + 1);
    alloy_arena_stats st;
    alloy_arena_stats_get(&a, &st);
    assert_int_equal(st.large_blocks, 1);
    assert_true(st.wasted > 0 && st.wasted < st.committed / 4);
    alloy_arena_free(&a, big, 5000); /* large blocks go back at once */
    alloy_arena_stats_get(&a, &st);
    assert_int_equal(st.large_blocks, 0);
    assert_int_equal(live_blocks(&t), st.chunks);
    void *big2 = alloy_arena_alloc(&a, 7000, 8); /* released with the arena */
    assert_non_null(big2);
    alloy_arena_deinit(&a);
    assert_int_equal(live_blocks(&t), 0);
}

static void arena_reset_modes(void **state) {
    (void)state;
    alloy_tally t;
    alloy_tally_init(&t, alloy_heap());
    alloy_arena a;
    alloy_arena_init(&a, alloy_tally_allocator(&t), 1024);
    for (int i = 0; i < 1000; i++) assert_non_null(alloy_arena_alloc(&a, 64, 8));
    alloy_arena_stats st;
    alloy_arena_stats_get(&a, &st);
    size_t committed = st.committed;
    uint64_t allocs = parent_allocs(&t);
    /* Retain: the same work again needs nothing from the parent. */
    alloy_arena_reset(&a, ALLOY_ARENA_RETAIN);
    alloy_arena_stats_get(&a, &st);
    assert_int_equal(st.committed, committed);
    assert_int_equal(st.used, 0);
    for (int i = 0; i < 1000; i++) assert_non_null(alloy_arena_alloc(&a, 64, 8));
    assert_int_equal(parent_allocs(&t), allocs);
    /* Retain up to a limit. */
    alloy_arena_reset(&a, committed / 2);
    alloy_arena_stats_get(&a, &st);
    assert_true(st.committed <= committed / 2 && st.committed > 0);
    assert_int_equal(live_blocks(&t), st.chunks);
    /* Free all. */
    alloy_arena_reset(&a, ALLOY_ARENA_FREE_ALL);
    alloy_arena_stats_get(&a, &st);
    assert_int_equal(st.committed, 0);
    assert_int_equal(st.chunks, 0);
    assert_int_equal(live_blocks(&t), 0);
    assert_non_null(alloy_arena_alloc(&a, 64, 8)); /* usable after */
    alloy_arena_deinit(&a);
    assert_int_equal(live_blocks(&t), 0);
}

static void arena_marks_nest(void **state) {
    (void)state;
    alloy_tally t;
    alloy_tally_init(&t, alloy_heap());
    alloy_arena_options opt = {512, 4096, 128};
    alloy_arena a;
    alloy_arena_init_ex(&a, alloy_tally_allocator(&t), &opt);
    unsigned char *keep = alloy_arena_alloc(&a, 100, 8);
    pattern_fill(keep, 100, 1);
    void *keep_big = alloy_arena_alloc(&a, 1000, 8);
    alloy_arena_mark m1 = alloy_arena_save(&a);
    for (int i = 0; i < 50; i++) assert_non_null(alloy_arena_alloc(&a, 100, 8)); /* new chunks */
    void *big1 = alloy_arena_alloc(&a, 1000, 8);
    assert_non_null(big1);
    alloy_arena_free(&a, keep_big, 1000); /* an older large block freed in between */
    alloy_arena_mark m2 = alloy_arena_save(&a);
    for (int i = 0; i < 50; i++) assert_non_null(alloy_arena_alloc(&a, 100, 8));
    assert_non_null(alloy_arena_alloc(&a, 2000, 8));
    alloy_arena_restore(&a, m2);
    alloy_arena_stats st;
    alloy_arena_stats_get(&a, &st);
    assert_int_equal(st.large_blocks, 1); /* big1 only */
    alloy_arena_restore(&a, m1);
    alloy_arena_stats_get(&a, &st);
    assert_int_equal(st.large_blocks, 0);
    assert_int_equal(st.used, 104);
    assert_int_equal(pattern_check(keep, 100, 1), 100);
    /* Retained chunks serve the next round without the parent. */
    uint64_t allocs = parent_allocs(&t);
    for (int i = 0; i < 50; i++) assert_non_null(alloy_arena_alloc(&a, 100, 8));
    assert_int_equal(parent_allocs(&t), allocs);
    assert_int_equal(pattern_check(keep, 100, 1), 100);
    /* A mark taken on an empty arena rewinds everything. */
    alloy_arena b;
    alloy_arena_init(&b, alloy_tally_allocator(&t), 0);
    alloy_arena_mark m0 = alloy_arena_save(&b);
    assert_non_null(alloy_arena_alloc(&b, 3000, 8));
    alloy_arena_restore(&b, m0);
    alloy_arena_stats_get(&b, &st);
    assert_int_equal(st.used, 0);
    alloy_arena_deinit(&b);
    alloy_arena_deinit(&a);
    assert_int_equal(live_blocks(&t), 0);
}

static void arena_parent_failure(void **state) {
    (void)state;
    alloy_failing f;
    alloy_failing_init(&f, alloy_heap());
    alloy_arena a;
    alloy_arena_init(&a, alloy_failing_allocator(&f), 1024);
    alloy_failing_fail_from(&f, 0);
    assert_null(alloy_arena_alloc(&a, 10, 8));
    assert_null(alloy_arena_alloc(&a, 100000, 8));
    alloy_failing_fail_none(&f);
    assert_non_null(alloy_arena_alloc(&a, 10, 8));
    assert_null(alloy_arena_alloc(&a, SIZE_MAX, 8)); /* never wraps */
    assert_null(alloy_arena_alloc(&a, SIZE_MAX - 8, 16));
    alloy_arena_deinit(&a);
}

/* ---- fixed buffer -------------------------------------------------------- */

static void fixed_stays_inside(void **state) {
    (void)state;
    unsigned char mem[1024 + 64];
    memset(mem, 0xAB, sizeof mem);
    alloy_fixed f;
    alloy_fixed_init(&f, mem + 32, 1024);
    size_t total = 0;
    for (;;) {
        unsigned char *p = alloy_fixed_alloc(&f, 24, 8);
        if (p == NULL) break;
        assert_true(p >= mem + 32 && p + 24 <= mem + 32 + 1024);
        memset(p, 0x11, 24);
        total += 24;
    }
    assert_true(total >= 1024 - 24 - 8 - 24);
    for (int i = 0; i < 32; i++) assert_int_equal(mem[i], 0xAB);
    for (int i = 0; i < 32; i++) assert_int_equal(mem[32 + 1024 + i], 0xAB);
    alloy_fixed_reset(&f);
    assert_int_equal(alloy_fixed_used(&f), 0);
    void *p = alloy_fixed_alloc(&f, 1000, 1);
    assert_non_null(p);
    assert_null(alloy_fixed_alloc(&f, 100, 1));
    assert_true(alloy_fixed_resize(&f, p, 1000, 1024));
    assert_false(alloy_fixed_resize(&f, p, 1024, 1025));
    alloy_fixed_free(&f, p, 1024);
    assert_int_equal(alloy_fixed_used(&f), 0);
    alloy_fixed_deinit(&f);
    alloy_fixed empty;
    alloy_fixed_init(&empty, NULL, 0);
    assert_null(alloy_fixed_alloc(&empty, 1, 1));
    assert_null(alloy_alloc(alloy_fixed_allocator(&empty), 1, 1));
}

/* ---- pool ---------------------------------------------------------------- */

static void pool_lifo_reuse(void **state) {
    (void)state;
    alloy_tally t;
    alloy_tally_init(&t, alloy_heap());
    alloy_pool p;
    assert_false(alloy_pool_init(&p, alloy_heap(), 0, 8));
    assert_false(alloy_pool_init(&p, alloy_heap(), 16, 12));
    assert_true(alloy_pool_init(&p, alloy_tally_allocator(&t), 40, 32));
    alloy_pool_stats st;
    alloy_pool_stats_get(&p, &st);
    assert_int_equal(st.block_size, 64); /* rounded up to the alignment */
    void *a = alloy_pool_alloc(&p), *b = alloy_pool_alloc(&p);
    assert_int_equal((uintptr_t)a % 32, 0);
    assert_int_equal((uintptr_t)b % 32, 0);
    assert_true(a != b);
    alloy_pool_free(&p, a);
    alloy_pool_free(&p, b);
    assert_ptr_equal(alloy_pool_alloc(&p), b);
    assert_ptr_equal(alloy_pool_alloc(&p), a);
    void *blocks[1000];
    for (int i = 0; i < 1000; i++) {
        blocks[i] = alloy_pool_alloc(&p);
        assert_non_null(blocks[i]);
        pattern_fill(blocks[i], 40, (uint64_t)i);
    }
    alloy_pool_stats_get(&p, &st);
    assert_int_equal(st.live, 1002);
    assert_true(st.capacity >= 1002);
    assert_true(st.slabs < 10); /* slabs grow */
    for (int i = 0; i < 1000; i++) assert_int_equal(pattern_check(blocks[i], 40, (uint64_t)i), 40);
    for (int i = 0; i < 1000; i++) alloy_pool_free(&p, blocks[i]);
    alloy_pool_free(&p, a);
    alloy_pool_free(&p, b);
    alloy_pool_stats_get(&p, &st);
    assert_int_equal(st.live, 0);
    uint64_t allocs = parent_allocs(&t);
    alloy_pool_reset(&p);
    for (int i = 0; i < 1000; i++) assert_non_null(alloy_pool_alloc(&p));
    assert_int_equal(parent_allocs(&t), allocs); /* reset retained the slabs */
    alloy_pool_deinit(&p);
    assert_int_equal(live_blocks(&t), 0);
}

/* ---- failing ------------------------------------------------------------- */

static void failing_modes(void **state) {
    (void)state;
    alloy_tally t;
    alloy_tally_init(&t, alloy_heap());
    alloy_failing f;
    alloy_failing_init(&f, alloy_tally_allocator(&t));
    alloy_allocator a = alloy_failing_allocator(&f);
    void *p[10];
    alloy_failing_fail_nth(&f, 3);
    for (int i = 0; i < 10; i++) {
        p[i] = alloy_alloc(a, 16, 8);
        assert_int_equal(p[i] == NULL, i == 3);
    }
    assert_int_equal(alloy_failing_attempts(&f), 10);
    assert_int_equal(alloy_failing_failures(&f), 1);
    for (int i = 0; i < 10; i++) alloy_dealloc(a, p[i], 16, 8);
    alloy_failing_fail_from(&f, 4);
    for (int i = 0; i < 10; i++) {
        p[i] = alloy_alloc(a, 16, 8);
        assert_int_equal(p[i] == NULL, i >= 4);
    }
    for (int i = 0; i < 10; i++) alloy_dealloc(a, p[i], 16, 8);
    /* remap counts as an attempt and fails without touching the block */
    alloy_failing_fail_nth(&f, 1);
    unsigned char *q = alloy_alloc(a, 16, 8);
    pattern_fill(q, 16, 2);
    assert_null(alloy_remap(a, q, 16, 5000, 8));
    assert_int_equal(pattern_check(q, 16, 2), 16);
    alloy_dealloc(a, q, 16, 8);
    /* random: reproducible from the seed, roughly the asked rate */
    bool first[1000];
    int fails = 0;
    alloy_failing_fail_random(&f, 99, 10);
    for (int i = 0; i < 1000; i++) {
        void *x = alloy_alloc(a, 8, 8);
        first[i] = x == NULL;
        fails += first[i];
        alloy_dealloc(a, x, 8, 8);
    }
    assert_true(fails > 50 && fails < 150);
    alloy_failing_fail_random(&f, 99, 10);
    for (int i = 0; i < 1000; i++) {
        void *x = alloy_alloc(a, 8, 8);
        assert_int_equal(x == NULL, first[i]);
        alloy_dealloc(a, x, 8, 8);
    }
    alloy_failing_deinit(&f);
    assert_int_equal(live_blocks(&t), 0);
}

/* ---- tally --------------------------------------------------------------- */

static void tally_counts(void **state) {
    (void)state;
    assert_int_equal(alloy_tally_class(1), 0);
    assert_int_equal(alloy_tally_class(8), 0);
    assert_int_equal(alloy_tally_class(9), 1);
    assert_int_equal(alloy_tally_class(16), 1);
    assert_int_equal(alloy_tally_class(17), 2);
    assert_int_equal(alloy_tally_class(4096), 9);
    assert_int_equal(alloy_tally_class(SIZE_MAX), ALLOY_TALLY_CLASSES - 1);
    alloy_arena arena;
    alloy_arena_init(&arena, alloy_heap(), 4096);
    alloy_tally t;
    alloy_tally_init(&t, alloy_arena_allocator(&arena));
    alloy_allocator a = alloy_tally_allocator(&t);
    void *x = alloy_alloc(a, 100, 8), *y = alloy_alloc(a, 10, 8);
    assert_true(alloy_resize(a, y, 10, 20, 8)); /* latest block grows in place */
    assert_false(alloy_resize(a, x, 100, 200, 8));
    alloy_tally_report r;
    alloy_tally_stats_get(&t, &r);
    assert_int_equal(r.alloc_calls, 2);
    assert_int_equal(r.totals.current_count, 2);
    assert_int_equal(r.totals.current_bytes, 120);
    assert_int_equal(r.totals.peak_bytes, 120);
    assert_int_equal(r.resize_calls, 2);
    assert_int_equal(r.resize_failed, 1);
    assert_int_equal(r.histogram[alloy_tally_class(100)], 1);
    assert_int_equal(r.histogram[alloy_tally_class(10)], 1);
    alloy_dealloc(a, y, 20, 8);
    alloy_tally_stats_get(&t, &r);
    assert_int_equal(r.totals.current_bytes, 100);
    assert_int_equal(r.totals.peak_bytes, 120);
    assert_true(alloy_reset(a)); /* the arena can: every block counts as freed */
    alloy_tally_stats_get(&t, &r);
    assert_int_equal(r.totals.current_count, 0);
    assert_int_equal(r.totals.free_count, 2);
    assert_int_equal(r.reset_calls, 1);
    alloy_tally_reset(&t);
    alloy_tally_stats_get(&t, &r);
    assert_int_equal(r.alloc_calls, 0);
    assert_int_equal(r.totals.peak_bytes, 0);
    char buf[4096];
    FILE *out = fmemopen(buf, sizeof buf, "w");
    assert_non_null(out);
    x = alloy_alloc(a, 100, 8);
    alloy_tally_print(&t, "t", out);
    fclose(out);
    assert_non_null(strstr(buf, "t: allocs 1"));
    assert_non_null(strstr(buf, "sizes <= 128: 1"));
    alloy_dealloc(a, x, 100, 8);
    alloy_arena_deinit(&arena);
}

/* ---- heap and backends --------------------------------------------------- */

static void backends_by_name(void **state) {
    (void)state;
    char list[128];
    snprintf(list, sizeof list, "%s", alloy_backend_list());
    int n = 0;
    for (char *name = strtok(list, " "); name != NULL; name = strtok(NULL, " ")) {
        alloy_allocator a;
        if (!alloy_backend_available(name)) {
            /* compiled in but not loadable here: say so rather than pass in silence */
            fprintf(stderr, "SKIP backends_by_name: backend %s is compiled in but not loadable\n",
                    name);
            continue;
        }
        assert_true(alloy_backend_allocator(name, &a));
        unsigned char *p = alloy_alloc(a, 1000, 64);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 64, 0);
        pattern_fill(p, 1000, 5);
        p = alloy_reallocate(a, p, 1000, 50000, 64);
        assert_non_null(p);
        assert_int_equal(pattern_check(p, 1000, 5), 1000);
        alloy_dealloc(a, p, 50000, 64);
        n++;
    }
    assert_true(n >= 1);
    alloy_allocator a;
    assert_false(alloy_backend_allocator("no-such-backend", &a));
    assert_true(alloy_backend_allocator(NULL, &a));
    alloy_stats s;
    assert_false(alloy_allocator_stats_get(a, &s)); /* backends are uncounted */
    assert_true(alloy_allocator_stats_get(alloy_heap(), &s));
}

static void heap_is_counted(void **state) {
    (void)state;
    alloy_stats before, after;
    if (!alloy_stats_get(&before)) {
        fprintf(stderr, "SKIP heap_is_counted: the routed heap's counters are off\n");
        skip();
    }
    void *p = alloy_alloc(alloy_heap(), 5000, 128);
    assert_non_null(p);
    assert_true(alloy_stats_get(&after));
    assert_int_equal(after.current_count, before.current_count + 1);
    assert_true(after.current_bytes >= before.current_bytes + 5000);
    alloy_dealloc(alloy_heap(), p, 5000, 128);
    assert_true(alloy_stats_get(&after));
    assert_int_equal(after.current_count, before.current_count);
    assert_int_equal(after.current_bytes, before.current_bytes);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(arena_bump_and_free_last),
    cmocka_unit_test(arena_geometric_growth_and_large),
    cmocka_unit_test(arena_reset_modes),
    cmocka_unit_test(arena_marks_nest),
    cmocka_unit_test(arena_parent_failure),
    cmocka_unit_test(fixed_stays_inside),
    cmocka_unit_test(pool_lifo_reuse),
    cmocka_unit_test(failing_modes),
    cmocka_unit_test(tally_counts),
    cmocka_unit_test(backends_by_name),
    cmocka_unit_test(heap_is_counted),
};

ALLOY_TEST_MAIN(tests)
