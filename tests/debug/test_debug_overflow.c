/* SPDX-License-Identifier: MIT */
/* tests/debug/test_debug_overflow.c - an overflow far past the guard bytes is reported, not
 * crashed on (issue 15, item 1).
 *
 * malloc(50) and a write of 1, 8, 50 or 4096 bytes past its end, then free: the last two run
 * over the backend's metadata for the next block. The report must come out whole (error line,
 * stacks, summary) and the process end in the debug allocator's abort, on every backend, through
 * the routed API and through the override (plain malloc under LD_PRELOAD).
 */
#define _GNU_SOURCE
#include <alloy.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_main.h"
#include "victim_run.h"

static void overflow_is_reported(const char *mode, const char *preload) {
    static const char *const past[] = {"1", "8", "50", "4096"};
    for (size_t i = 0; i < sizeof past / sizeof past[0]; i++) {
        const char *env[] = {"ALLOY_DEBUG=1", preload, NULL};
        const char *args[] = {mode, past[i], NULL};
        int st = run_victim(env, args);
        if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT ||
            strstr(v_err, "ERROR: alloy debug (ALLOY_DEBUG): heap-buffer-overflow on a 50-byte "
                          "block") == NULL ||
            strstr(v_err, "allocated at") == NULL ||
            strstr(v_err, "SUMMARY: alloy debug: heap-buffer-overflow (50-byte block)") == NULL ||
            strstr(v_err, "ABORTING (alloy debug") == NULL) {
            fprintf(stderr, "%s %s bytes past: status 0x%x, stderr:\n%s\n", mode, past[i], st,
                    v_err);
            fail();
        }
    }
}

static void overflow_routed(void **state) {
    (void)state;
    overflow_is_reported("overflow", NULL);
}

static void overflow_override(void **state) {
    (void)state;
    overflow_is_reported("malloc-overflow", "LD_PRELOAD=" ALLOY_OVERRIDE_LIB);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(overflow_routed),
    cmocka_unit_test(overflow_override),
};

ALLOY_TEST_MAIN(tests)
