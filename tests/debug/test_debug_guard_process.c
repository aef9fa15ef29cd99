/* SPDX-License-Identifier: MIT */
/* tests/debug/test_debug_guard_process.c - ALLOY_DEBUG=1 with ALLOY_DEBUG_GUARD=all (set by
 * ctest): the byte after every malloc'd block is on the guard page, for every size (issue 15,
 * item 7), and reading it is reported.
 */
#define _GNU_SOURCE
#include <alloy.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_main.h"
#include "debug_child.h"

static volatile char sink;
static size_t read_size;
static struct sigaction alloy_handler;

/* cmocka installs its own SIGSEGV handler around each test; the child puts back the one the
 * debug allocator installed at start (kept here before cmocka runs). */
__attribute__((constructor)) static void keep_alloy_handler(void) {
    alloy_free(alloy_malloc(1));
    sigaction(SIGSEGV, NULL, &alloy_handler);
}

static void check_end(size_t n) {
    char *p = alloy_malloc(n);
    assert_non_null(p);
    memset(p, 7, n);
    if (((uintptr_t)(p + n) & 4095) != 0) {
        fprintf(stderr, "malloc(%zu) = %p: its end is %zu bytes before the guard page\n", n,
                (void *)p, 4096 - ((uintptr_t)(p + n) & 4095));
        fail();
    }
    /* As aligned as its size allows, up to 16. */
    size_t want = n & (~n + 1);
    if (want > 16 || n == 0) want = 16;
    assert_int_equal((uintptr_t)p % want, 0);
    alloy_free(p);
}

static void block_end_is_the_guard_page(void **state) {
    (void)state;
    assert_non_null(alloy_debug_process());
    for (size_t n = 1; n <= 64; n++) check_end(n);
    static const size_t large[] = {100, 1000, 1001, 4095, 4096, 4097, 10000, 16384};
    for (size_t i = 0; i < sizeof large / sizeof large[0]; i++) check_end(large[i]);
}

/* An explicit alignment wins: the block may end short of the page by less than it. */
static void aligned_block_keeps_its_alignment(void **state) {
    (void)state;
    char *p = alloy_malloc_aligned(40, 64);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 64, 0);
    assert_true(4096 - ((uintptr_t)(p + 40) & 4095) < 64 || ((uintptr_t)(p + 40) & 4095) == 0);
    alloy_free(p);
}

__attribute__((noinline)) static void read_past(void) {
    sigaction(SIGSEGV, &alloy_handler, NULL);
    char *p = alloy_malloc(read_size);
    memset(p, 1, read_size);
    sink = p[read_size];
}

static void read_past_odd_sizes_is_reported(void **state) {
    (void)state;
    static const size_t sizes[] = {24, 40, 100};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        read_size = sizes[i];
        int status = run_child_capture(read_past);
        expect_abort(status);
        char want[96];
        snprintf(want, sizeof want, "heap-buffer-overflow on a %zu-byte block", sizes[i]);
        expect_text(want);
        snprintf(want, sizeof want, "is 0 bytes after the %zu-byte block", sizes[i]);
        expect_text(want);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(block_end_is_the_guard_page),
    cmocka_unit_test(aligned_block_keeps_its_alignment),
    cmocka_unit_test(read_past_odd_sizes_is_reported),
};

ALLOY_TEST_MAIN(tests)
