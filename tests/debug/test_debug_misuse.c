/* SPDX-License-Identifier: MIT */
/* tests/debug/test_debug_misuse.c - reports that are complete and true (issue 15, items 8, 10).
 *
 * debug_victim runs each misuse under ALLOY_DEBUG=1; the report must name it correctly: a free
 * of an aligned block with alloy_free_sized, the thread of a forked child, the faulting
 * function first in a guard-page report, and the address of a free of a stack address.
 */
#define _GNU_SOURCE
#include <alloy.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_main.h"
#include "victim_run.h"

static void expect_err(const char *what) {
    if (strstr(v_err, what) == NULL) {
        fprintf(stderr, "stderr lacks \"%s\":\n%s\n", what, v_err);
        fail();
    }
}

static void free_sized_of_aligned_block(void **state) {
    (void)state;
    const char *env[] = {"ALLOY_DEBUG=1", NULL};
    const char *args[] = {"aligned", NULL};
    int st = run_victim(env, args);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    expect_err("ERROR: alloy debug (ALLOY_DEBUG): alignment-mismatch on a 100-byte block");
    expect_err("freed with alloy_free_sized");
}

static void stack_free_summary(void **state) {
    (void)state;
    const char *env[] = {"ALLOY_DEBUG=1", NULL};
    const char *args[] = {"stackfree", NULL};
    int st = run_victim(env, args);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    expect_err("SUMMARY: alloy debug: invalid-free of 0x");
    assert_null(strstr(v_err, "0-byte block"));
}

static void forked_child_names_its_thread(void **state) {
    (void)state;
    const char *env[] = {"ALLOY_DEBUG=1", NULL};
    const char *args[] = {"forkfree", NULL};
    run_victim(env, args);
    long child = 0;
    const char *c = strstr(v_out, "child ");
    assert_non_null(c);
    child = strtol(c + 6, NULL, 10);
    char want[96];
    snprintf(want, sizeof want, "double-free on a 16-byte block at");
    expect_err(want);
    snprintf(want, sizeof want, "(thread %ld)\n", child);
    expect_err(want);
    snprintf(want, sizeof want, "freed again (thread %ld)", child);
    expect_err(want);
}

static void guard_fault_stack_starts_at_the_access(void **state) {
    (void)state;
    const char *env[] = {"ALLOY_DEBUG=1", "ALLOY_DEBUG_GUARD=all", NULL};
    const char *args[] = {"guardread", NULL};
    int st = run_victim(env, args);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    expect_err("heap-buffer-overflow on a 24-byte block");
    assert_null(strstr(v_err, "__restore_rt"));
    const char *at = strstr(v_err, "read at");
    assert_non_null(at);
    const char *f0 = strstr(at, "#0 ");
    const char *nl = f0 != NULL ? strchr(f0, '\n') : NULL;
    const char *fn = f0 != NULL ? strstr(f0, " in guard_read ") : NULL;
    if (fn == NULL || fn > nl) {
        fprintf(stderr, "frame #0 of the access is not guard_read:\n%s\n", v_err);
        fail();
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(free_sized_of_aligned_block),
    cmocka_unit_test(stack_free_summary),
    cmocka_unit_test(forked_child_names_its_thread),
    cmocka_unit_test(guard_fault_stack_starts_at_the_access),
};

ALLOY_TEST_MAIN(tests)
