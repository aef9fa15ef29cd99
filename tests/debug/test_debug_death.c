/* SPDX-License-Identifier: MIT */
/* tests/debug/test_debug_death.c - one death test per error class.
 *
 * Each scenario runs in a forked child with the default handler (abort) and its
 * stderr in a pipe; the parent asserts how the child ended and that the report
 * names the error, the block's size, and the function and file:line of each
 * stack that matters (the lines are recorded next to the calls).
 */
#define _GNU_SOURCE
#include <alloy.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmocka_main.h"
#include "debug_child.h"

static alloy_debug dbg;
static alloy_allocator A;
static int alloc_line, free_line, bad_line;
static char global_buf[64];

/* The child tells the parent the lines it recorded (the parent's copies are never set). */
static void announce(void) {
    fprintf(stderr, "@lines %d %d %d\n", alloc_line, free_line, bad_line);
    fflush(stderr);
}
#define AT(var, stmt)                                                                              \
    do {                                                                                           \
        var = __LINE__;                                                                            \
        announce();                                                                                \
        stmt;                                                                                      \
    } while (0)

static void open_debug(size_t quarantine) {
    alloy_debug_options o;
    alloy_debug_options_default(&o);
    o.name = "test";
    o.quarantine_bytes = quarantine;
    if (!alloy_debug_init(&dbg, alloy_heap(), &o)) abort();
    A = alloy_debug_allocator(&dbg);
}

/* ---- running a child ------------------------------------------------------------------ */

static int run_child(void (*fn)(void)) {
    int status = run_child_capture(fn);
    alloc_line = free_line = bad_line = -1;
    const char *l = NULL;
    for (const char *q = report; (q = strstr(q, "@lines ")) != NULL; q++) l = q; /* the last */
    if (l != NULL) sscanf(l, "@lines %d %d %d", &alloc_line, &free_line, &bad_line);
    return status;
}

static void expect_line(int line) {
    char buf[64];
    snprintf(buf, sizeof buf, "test_debug_death.c:%d", line);
    expect_text(buf);
}

/* ---- scenarios ---------------------------------------------------------------------------- */

__attribute__((noinline)) static void do_double_free(void) {
    open_debug(1 << 20);
    char *p = (alloc_line = __LINE__, alloy_alloc(A, 24, 8));
    AT(free_line, alloy_dealloc(A, p, 24, 8));
    AT(bad_line, alloy_dealloc(A, p, 24, 8));
}

static void double_free(void **state) {
    (void)state;
    expect_abort(run_child(do_double_free));
    expect_text("ERROR: alloy debug (test): double-free on a 24-byte block");
    expect_text("freed again");
    expect_text("first freed at");
    expect_text("in do_double_free");
    expect_line(alloc_line);
    expect_line(free_line);
    expect_line(bad_line);
}

__attribute__((noinline)) static void do_interior_free(void) {
    open_debug(1 << 20);
    char *p = (alloc_line = __LINE__, alloy_alloc(A, 40, 8));
    AT(bad_line, alloy_dealloc(A, p + 8, 32, 8));
}

static void invalid_free_interior(void **state) {
    (void)state;
    expect_abort(run_child(do_interior_free));
    expect_text("ERROR: alloy debug (test): invalid-free");
    expect_text("interior pointer: 8 bytes into the live 40-byte block");
    expect_text("in do_interior_free");
    expect_line(alloc_line);
    expect_line(bad_line);
}

__attribute__((noinline)) static void do_stack_free(void) {
    open_debug(1 << 20);
    char local[32];
    char *p = local;
    __asm__ volatile("" : "+r"(p));
    AT(bad_line, alloy_dealloc(A, p, 32, 16));
}

static void invalid_free_stack(void **state) {
    (void)state;
    expect_abort(run_child(do_stack_free));
    expect_text("ERROR: alloy debug (test): invalid-free");
    expect_text("stack memory of thread");
    expect_text("in do_stack_free");
    expect_line(bad_line);
}

__attribute__((noinline)) static void do_global_free(void) {
    open_debug(1 << 20);
    AT(bad_line, alloy_dealloc(A, global_buf + 16, 16, 16));
}

static void invalid_free_global(void **state) {
    (void)state;
    expect_abort(run_child(do_global_free));
    expect_text("ERROR: alloy debug (test): invalid-free");
    expect_text("global memory of");
    expect_text("in do_global_free");
    expect_line(bad_line);
}

/* A wild pointer into memory that cannot be read: reading the word before it would fault.
 * (Kept reserved, inaccessible, so nothing else is mapped there meanwhile.) */
__attribute__((noinline)) static void do_unmapped_free(void) {
    open_debug(1 << 20);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) abort();
    AT(bad_line, alloy_dealloc(A, m + 64, 32, 16));
}

static void invalid_free_unmapped(void **state) {
    (void)state;
    expect_abort(run_child(do_unmapped_free));
    expect_text("ERROR: alloy debug (test): invalid-free");
    expect_text("not a block of this allocator");
    expect_text("in do_unmapped_free");
    expect_line(bad_line);
}

__attribute__((noinline)) static void do_other_allocator_free(void) {
    open_debug(1 << 20);
    alloy_debug other;
    alloy_debug_options o;
    alloy_debug_options_default(&o);
    o.name = "other";
    alloy_debug_init(&other, alloy_heap(), &o);
    char *p = (alloc_line = __LINE__, alloy_alloc(alloy_debug_allocator(&other), 16, 8));
    AT(bad_line, alloy_dealloc(A, p, 16, 8));
}

static void invalid_free_other_allocator(void **state) {
    (void)state;
    expect_abort(run_child(do_other_allocator_free));
    expect_text("ERROR: alloy debug (test): invalid-free");
    expect_text("a block of another allocator (debug allocator \"other\")");
    expect_line(bad_line);
}

__attribute__((noinline)) static void do_size_mismatch(void) {
    open_debug(1 << 20);
    char *p = (alloc_line = __LINE__, alloy_alloc(A, 40, 8));
    AT(bad_line, alloy_dealloc(A, p, 48, 8));
}

static void size_mismatch(void **state) {
    (void)state;
    expect_abort(run_child(do_size_mismatch));
    expect_text("ERROR: alloy debug (test): size-mismatch on a 40-byte block");
    expect_text("was freed with size 48");
    expect_text("in do_size_mismatch");
    expect_line(alloc_line);
    expect_line(bad_line);
}

__attribute__((noinline)) static void do_align_mismatch(void) {
    open_debug(1 << 20);
    char *p = (alloc_line = __LINE__, alloy_alloc(A, 64, 64));
    AT(bad_line, alloy_dealloc(A, p, 64, 16));
}

static void alignment_mismatch(void **state) {
    (void)state;
    expect_abort(run_child(do_align_mismatch));
    expect_text("ERROR: alloy debug (test): alignment-mismatch on a 64-byte block");
    expect_text("alignment 64) was freed with alignment 16");
    expect_line(alloc_line);
    expect_line(bad_line);
}

__attribute__((noinline)) static void do_overflow(void) {
    open_debug(1 << 20);
    char *p = (alloc_line = __LINE__, alloy_alloc(A, 13, 1));
    memset(p, 'x', 14); /* one byte too many */
    AT(free_line, alloy_dealloc(A, p, 13, 1));
}

static void overflow_on_free(void **state) {
    (void)state;
    expect_abort(run_child(do_overflow));
    expect_text("ERROR: alloy debug (test): heap-buffer-overflow on a 13-byte block");
    expect_text("is 0 bytes after the 13-byte block");
    expect_text("in do_overflow");
    expect_line(alloc_line);
    expect_line(free_line);
}

__attribute__((noinline)) static void do_underflow(void) {
    open_debug(1 << 20);
    char *p = (alloc_line = __LINE__, alloy_alloc(A, 32, 8));
    p[-1] = 1;
    AT(free_line, alloy_dealloc(A, p, 32, 8));
}

static void underflow_on_free(void **state) {
    (void)state;
    expect_abort(run_child(do_underflow));
    expect_text("ERROR: alloy debug (test): heap-buffer-underflow on a 32-byte block");
    expect_text("is 1 bytes before the 32-byte block");
    expect_line(alloc_line);
    expect_line(free_line);
}

__attribute__((noinline)) static void do_overflow_check(void) {
    open_debug(1 << 20);
    char *p = (alloc_line = __LINE__, alloy_alloc(A, 20, 4));
    p[22] = 1;
    AT(bad_line, alloy_debug_check(&dbg));
}

static void overflow_by_check(void **state) {
    (void)state;
    expect_abort(run_child(do_overflow_check));
    expect_text("ERROR: alloy debug (test): heap-buffer-overflow on a 20-byte block");
    expect_text("is 2 bytes after the 20-byte block");
    expect_text("found by a check at");
    expect_line(alloc_line);
    expect_line(bad_line);
}

__attribute__((noinline)) static void do_use_after_free(void) {
    open_debug(1 << 20);
    long *p = (alloc_line = __LINE__, alloy_alloc(A, 48, 8));
    AT(free_line, alloy_dealloc(A, p, 48, 8));
    __asm__ volatile("" : "+r"(p));
    p[2] = 42; /* write after free */
    alloy_debug_check(&dbg);
}

static void use_after_free_by_check(void **state) {
    (void)state;
    expect_abort(run_child(do_use_after_free));
    expect_text("ERROR: alloy debug (test): use-after-free on a 48-byte block");
    expect_text("is 16 bytes inside the 48-byte block");
    expect_text("freed at");
    expect_line(alloc_line);
    expect_line(free_line);
}

__attribute__((noinline)) static void do_use_after_free_evicted(void) {
    open_debug(1); /* every free pushes the previous block out */
    long *p = (alloc_line = __LINE__, alloy_alloc(A, 32, 8));
    long *q = alloy_alloc(A, 32, 8);
    AT(free_line, alloy_dealloc(A, p, 32, 8));
    __asm__ volatile("" : "+r"(p));
    p[0] = 7;
    AT(bad_line, alloy_dealloc(A, q, 32, 8));
}

static void use_after_free_on_eviction(void **state) {
    (void)state;
    expect_abort(run_child(do_use_after_free_evicted));
    expect_text("ERROR: alloy debug (test): use-after-free on a 32-byte block");
    expect_text("detected at a free");
    expect_line(alloc_line);
    expect_line(free_line);
    expect_line(bad_line);
}

__attribute__((noinline)) static void do_remap_freed(void) {
    open_debug(1 << 20);
    char *p = alloy_alloc(A, 24, 8);
    alloy_dealloc(A, p, 24, 8);
    void *q;
    AT(bad_line, q = alloy_remap(A, p, 24, 64, 8));
    (void)q;
}

static void remap_after_free(void **state) {
    (void)state;
    expect_abort(run_child(do_remap_freed));
    expect_text("ERROR: alloy debug (test): double-free on a 24-byte block");
    expect_text("reallocated");
    expect_line(bad_line);
}

__attribute__((noinline)) static void do_leaks(void) {
    open_debug(1 << 20);
    for (int i = 0; i < 2; i++) {
        void *p = (alloc_line = __LINE__, alloy_alloc(A, 24, 8));
        (void)p;
    }
    announce();
    size_t n = alloy_debug_deinit(&dbg);
    _exit(n == 2 ? 0 : 3);
}

static void leaks_at_deinit(void **state) {
    (void)state;
    int status = run_child(do_leaks);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    expect_text("LEAKS: alloy debug (test): 2 leaked blocks, 48 bytes, from 1 allocation sites");
    expect_text("-- leak: 2 blocks, 48 bytes (24 bytes each)");
    expect_text("in do_leaks");
    expect_line(alloc_line);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(double_free),
    cmocka_unit_test(invalid_free_interior),
    cmocka_unit_test(invalid_free_stack),
    cmocka_unit_test(invalid_free_global),
    cmocka_unit_test(invalid_free_unmapped),
    cmocka_unit_test(invalid_free_other_allocator),
    cmocka_unit_test(size_mismatch),
    cmocka_unit_test(alignment_mismatch),
    cmocka_unit_test(overflow_on_free),
    cmocka_unit_test(underflow_on_free),
    cmocka_unit_test(overflow_by_check),
    cmocka_unit_test(use_after_free_by_check),
    cmocka_unit_test(use_after_free_on_eviction),
    cmocka_unit_test(remap_after_free),
    cmocka_unit_test(leaks_at_deinit),
};

ALLOY_TEST_MAIN(tests)
