/* SPDX-License-Identifier: MIT */
/* tests/debug/test_debug_exit_leaks.c - a leak whose address survives only in dead stack slots is
 * reported at exit, every run, on every backend (issue 15, item 6).
 *
 * debug_victim's leak42 keeps the block's address in a local and a global and clears both; the
 * frames that exit runs on reuse the stack those calls used. Twenty runs each, in the process
 * and in a forked child: every run must report the 42-byte block.
 */
#define _GNU_SOURCE
#include <alloy.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_main.h"
#include "victim_run.h"

enum { RUNS = 20 };

static void every_run_reports(const char *mode) {
    const char *env[] = {"ALLOY_DEBUG=1", NULL};
    const char *args[] = {mode, NULL};
    for (int i = 0; i < RUNS; i++) {
        int st = run_victim(env, args);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
            strstr(v_err, "SUMMARY: alloy debug: 42 bytes leaked in 1 blocks") == NULL) {
            fprintf(stderr, "run %d of %s: status 0x%x, stderr:\n%s\n", i, mode, st, v_err);
            fail();
        }
    }
}

static void leak_after_main_returns(void **state) {
    (void)state;
    every_run_reports("leak");
}

static void leak_in_forked_child(void **state) {
    (void)state;
    every_run_reports("forkleak");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(leak_after_main_returns),
    cmocka_unit_test(leak_in_forked_child),
};

ALLOY_TEST_MAIN(tests)
