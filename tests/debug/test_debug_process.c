/* SPDX-License-Identifier: MIT */
/* tests/debug/test_debug_process.c - the routed API with ALLOY_DEBUG=1 (set by ctest).
 *
 * Run once per backend. The counters must still balance (the debug table
 * reports requested sizes as usable sizes), misuse reaches the handler, and
 * a mid-run leak check counts exactly the blocks made unreachable.
 */
#define _GNU_SOURCE
#include <alloy.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_main.h"

static int errors[ALLOY_DEBUG_LEAK + 1];

static alloy_debug_action record(const alloy_debug_error *e, void *arg) {
    (void)arg;
    errors[e->kind]++;
    return ALLOY_DEBUG_CONTINUE;
}

static void debug_mode_is_on(void **state) {
    (void)state;
    assert_non_null(alloy_debug_process());
    const char *want = getenv("ALLOY_BACKEND");
    if (want != NULL) assert_string_equal(alloy_backend_name(), want);
}

static void counters_balance_and_sizes_are_exact(void **state) {
    (void)state;
    alloy_stats s0, s1;
    alloy_stats_get(&s0);
    void *p[6];
    p[0] = alloy_malloc(0);
    p[1] = alloy_malloc(13);
    p[2] = alloy_calloc(7, 9);
    p[3] = alloy_malloc_aligned(100, 256);
    p[4] = alloy_strdup("debug");
    p[5] = alloy_realloc(alloy_malloc(10), 5000);
    assert_int_equal(alloy_usable_size(p[1]), 13);
    assert_int_equal(alloy_usable_size(p[2]), 63);
    for (int i = 0; i < 63; i++) assert_int_equal(((unsigned char *)p[2])[i], 0);
    assert_int_equal((uintptr_t)p[3] % 256, 0);
    assert_int_equal(alloy_usable_size(p[5]), 5000);
    alloy_free(p[0]);
    alloy_free_sized(p[1], 13);
    alloy_free(p[2]);
    alloy_free_aligned_sized(p[3], 256, 100);
    alloy_free(p[4]);
    alloy_free(p[5]);
    if (alloy_stats_get(&s1)) {
        assert_int_equal(s1.current_bytes, s0.current_bytes);
        assert_int_equal(s1.current_count, s0.current_count);
    }
}

static void misuse_reaches_the_handler(void **state) {
    (void)state;
    alloy_debug *d = alloy_debug_process();
    alloy_debug_set_handler(d, record, NULL);
    char *p = alloy_malloc(40);
    alloy_free_sized(p, 48);
    assert_int_equal(errors[ALLOY_DEBUG_SIZE_MISMATCH], 1);
    char *q = alloy_malloc(16);
    alloy_free(q);
    alloy_free(q);
    assert_int_equal(errors[ALLOY_DEBUG_DOUBLE_FREE], 1);
    int local;
    alloy_free(&local);
    assert_int_equal(errors[ALLOY_DEBUG_INVALID_FREE], 1);
    alloy_debug_set_handler(d, NULL, NULL);
}

static void *volatile kept;

__attribute__((noinline)) static void make_unreachable(int n) {
    for (int i = 0; i < n; i++) {
        char *p = alloy_malloc(24);
        memset(p, 0, 24);
        kept = p;
    }
    kept = NULL;
}

/* Overwrite the stack below us, so no stale copy of a pointer survives there. */
__attribute__((noinline)) static void scrub_stack(void) {
    volatile char junk[16384];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = 0;
}

static void leak_check_counts_exactly(void **state) {
    (void)state;
    scrub_stack();
    size_t base = alloy_debug_leak_check();
    make_unreachable(3);
    scrub_stack();
    assert_int_equal(alloy_debug_leak_check(), base + 3);
    static char *reachable;
    reachable = alloy_malloc(10); /* from a global: not a leak */
    scrub_stack();
    assert_int_equal(alloy_debug_leak_check(), base + 3);
    alloy_free(reachable);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(debug_mode_is_on),
    cmocka_unit_test(counters_balance_and_sizes_are_exact),
    cmocka_unit_test(misuse_reaches_the_handler),
    cmocka_unit_test(leak_check_counts_exactly),
};

ALLOY_TEST_MAIN(tests)
