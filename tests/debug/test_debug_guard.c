/* SPDX-License-Identifier: MIT */
/* tests/debug/test_debug_guard.c - guard-page mode: out-of-bounds and after-free reads fault.
 *
 * Each read runs in a forked child (it faults on purpose); the report must name
 * the error, the block's size, and the reading function and allocation line.
 */
#define _GNU_SOURCE
#include <alloy.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmocka_main.h"
#include "debug_child.h"

static alloy_debug dbg;
static alloy_allocator A;
static volatile char sink;

static void open_guarded(alloy_debug_guard mode, unsigned rate) {
    alloy_debug_options o;
    alloy_debug_options_default(&o);
    o.name = "guard";
    o.guard = mode;
    o.guard_sample_rate = rate;
    o.guard_slots = 64;
    if (!alloy_debug_init(&dbg, alloy_heap(), &o)) abort();
    A = alloy_debug_allocator(&dbg);
}

__attribute__((noinline)) static char *make13(void) {
    return alloy_alloc(A, 13, 1);
}

__attribute__((noinline)) static void read_one_past(void) {
    open_guarded(ALLOY_DEBUG_GUARD_ALL, 1);
    char *p = make13();
    memset(p, 1, 13);
    sink = p[13]; /* one byte past the end: the guard page */
}

static void out_of_bounds_read_faults(void **state) {
    (void)state;
    int status = run_child_capture(read_one_past);
    expect_abort(status);
    assert_int_equal(WTERMSIG(status), SIGABRT);
    expect_text("ERROR: alloy debug (guard): heap-buffer-overflow on a 13-byte block");
    expect_text("is 0 bytes after the 13-byte block");
    expect_text("read of an inaccessible page (guard-page mode)");
    expect_text("read at");
    expect_text("in read_one_past");
    expect_text("in make13");
    expect_text("test_debug_guard.c:");
}

__attribute__((noinline)) static void read_after_free(void) {
    open_guarded(ALLOY_DEBUG_GUARD_ALL, 1);
    long *p = alloy_alloc(A, 64, 8);
    p[3] = 5;
    alloy_dealloc(A, p, 64, 8);
    __asm__ volatile("" : "+r"(p));
    sink = (char)p[3];
}

static void read_after_free_faults(void **state) {
    (void)state;
    int status = run_child_capture(read_after_free);
    expect_abort(status);
    assert_int_equal(WTERMSIG(status), SIGABRT);
    expect_text("ERROR: alloy debug (guard): use-after-free on a 64-byte block");
    expect_text("is 24 bytes inside the 64-byte block");
    expect_text("read at");
    expect_text("freed at");
    expect_text("allocated at");
    expect_text("in read_after_free");
}

__attribute__((noinline)) static void double_free_guarded(void) {
    open_guarded(ALLOY_DEBUG_GUARD_ALL, 1);
    char *p = alloy_alloc(A, 100, 4);
    alloy_dealloc(A, p, 100, 4);
    alloy_dealloc(A, p, 100, 4);
}

static void guarded_double_free_is_named(void **state) {
    (void)state;
    int status = run_child_capture(double_free_guarded);
    expect_abort(status);
    expect_text("ERROR: alloy debug (guard): double-free on a 100-byte block");
    expect_text("in double_free_guarded");
}

/* Sampled: only about one block in rate gets a guard page; all blocks work the same. */
static void sampled_mode_guards_a_fraction(void **state) {
    (void)state;
    open_guarded(ALLOY_DEBUG_GUARD_SAMPLE, 8);
    size_t guarded = 0;
    enum { N = 400 };
    static char *blocks[N];
    for (size_t i = 0; i < N; i++) {
        blocks[i] = alloy_alloc(A, 40, 8);
        memset(blocks[i], 3, 40);
        /* A guarded block ends exactly at a page boundary. */
        guarded += ((uintptr_t)(blocks[i] + 40) & 4095) == 0;
    }
    for (size_t i = 0; i < N; i++) alloy_dealloc(A, blocks[i], 40, 8);
    assert_true(guarded >= N / 8 / 3 && guarded <= N / 8 * 3);
    assert_int_equal(alloy_debug_check(&dbg), 0);
    assert_int_equal(alloy_debug_deinit(&dbg), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(out_of_bounds_read_faults),
    cmocka_unit_test(read_after_free_faults),
    cmocka_unit_test(guarded_double_free_is_named),
    cmocka_unit_test(sampled_mode_guards_a_fraction),
};

ALLOY_TEST_MAIN(tests)
