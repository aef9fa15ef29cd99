/* SPDX-License-Identifier: MIT */
/* tests/debug/test_debug_env.c - hostile values in every ALLOY_DEBUG* variable (issue 15, items
 * 2-5).
 *
 * One case per variable: debug_victim runs under ALLOY_DEBUG=1 with the variable set to each
 * value of a table of garbage (negative, huge, overflowing, non-numeric, control characters,
 * non-ASCII). Every run must finish its workload correctly, in bounded memory, with exactly one
 * line on stderr that names the variable, shows the value escaped and says what is accepted.
 */
#define _GNU_SOURCE
#include <alloy.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_main.h"
#include "victim_run.h"

static const char *const garbage[] = {
    "-1",
    "-4096",
    "18446744073709551615",
    "99999999999999999999",
    "18446744073709551615G",
    "banana",
    "12Q",
    "4G",
    " 7",
    "\x1b[2J\x1b[H\nsecond line",
    "\xff\xfe\xc3(",
};

/* Every byte printable ASCII, or a newline ending a line. */
static void expect_clean_text(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '\n') continue;
        if (*p < 0x20 || *p >= 0x7f) {
            fprintf(stderr, "raw byte 0x%02x in stderr:\n%s\n", *p, s);
            fail();
        }
    }
}

static long peak_rss_kib(void) {
    const char *r = strstr(v_out, "rss ");
    return r != NULL ? strtol(r + 4, NULL, 10) : -1;
}

/* Run the workload with name=value (and extra settings); it must succeed with one reject line. */
static void hostile(const char *name, const char *extra) {
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        char setting[256];
        snprintf(setting, sizeof setting, "%s=%s", name, garbage[i]);
        const char *env[] = {"ALLOY_DEBUG=1", "ALLOY_DEBUG_LEAKS=0", extra, setting, NULL};
        if (strcmp(name, "ALLOY_DEBUG") == 0 || strcmp(name, "ALLOY_DEBUG_LEAKS") == 0)
            env[1] = "ALLOY_DEBUG_LEAKS=0";
        const char *args[] = {"work", NULL};
        int st = run_victim(env, args);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || strstr(v_out, "victim ok") == NULL) {
            fprintf(stderr, "%s: status 0x%x, stdout:\n%s\nstderr:\n%s\n", setting, st, v_out,
                    v_err);
            fail();
        }
        long rss = peak_rss_kib();
        if (rss <= 0 || rss > 256 * 1024) {
            fprintf(stderr, "%s: peak RSS %ld KiB\n", setting, rss);
            fail();
        }
        expect_clean_text(v_err);
        char head[128];
        snprintf(head, sizeof head, "alloy: %s=", name);
        if (count_lines_with(v_err, "alloy: ") != 1 || strncmp(v_err, head, strlen(head)) != 0 ||
            strstr(v_err, " is not valid: accepted ") == NULL ||
            strstr(v_err, "; using ") == NULL) {
            fprintf(stderr, "%s: expected one reject line, stderr:\n%s\n", setting, v_err);
            fail();
        }
    }
    /* Empty means the default, without a word. */
    char empty[128];
    snprintf(empty, sizeof empty, "%s=", name);
    const char *env[] = {"ALLOY_DEBUG=1", "ALLOY_DEBUG_LEAKS=0", extra, empty, NULL};
    const char *args[] = {"work", NULL};
    int st = run_victim(env, args);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_string_equal(v_err, "");
}

static void env_debug(void **s) {
    (void)s;
    hostile("ALLOY_DEBUG", "ALLOY_DEBUG_QUARANTINE=1");
}
static void env_guard_only(void **s) {
    (void)s;
    hostile("ALLOY_DEBUG_GUARD_ONLY", "ALLOY_DEBUG_GUARD=4");
}
static void env_quarantine(void **s) {
    (void)s;
    hostile("ALLOY_DEBUG_QUARANTINE", "ALLOY_DEBUG_DEPTH=4");
}
static void env_depth(void **s) {
    (void)s;
    hostile("ALLOY_DEBUG_DEPTH", "ALLOY_DEBUG_DEPTH2=");
}
static void env_fill(void **s) {
    (void)s;
    hostile("ALLOY_DEBUG_FILL", "ALLOY_DEBUG_DEPTH=4");
}
static void env_unwind(void **s) {
    (void)s;
    hostile("ALLOY_DEBUG_UNWIND", "ALLOY_DEBUG_DEPTH=4");
}
static void env_guard(void **s) {
    (void)s;
    hostile("ALLOY_DEBUG_GUARD", "ALLOY_DEBUG_DEPTH=4");
}
static void env_guard_slots(void **s) {
    (void)s;
    hostile("ALLOY_DEBUG_GUARD_SLOTS", "ALLOY_DEBUG_GUARD=all");
}
static void env_guard_max(void **s) {
    (void)s;
    hostile("ALLOY_DEBUG_GUARD_MAX", "ALLOY_DEBUG_GUARD=all");
}
static void env_on_error(void **s) {
    (void)s;
    hostile("ALLOY_DEBUG_ON_ERROR", "ALLOY_DEBUG_DEPTH=4");
}
static void env_leak_exitcode(void **s) {
    (void)s;
    hostile("ALLOY_DEBUG_LEAK_EXITCODE", "ALLOY_DEBUG_DEPTH=4");
}
static void env_leaks(void **s) {
    (void)s;
    hostile("ALLOY_DEBUG_LEAKS", "ALLOY_DEBUG_DEPTH=4");
}

/* The edges of every range are accepted and work: the smallest guard pool, no quarantine, no
 * stacks, every byte filled. */
static void env_edges_work(void **s) {
    (void)s;
    const char *env[] = {"ALLOY_DEBUG=1",
                         "ALLOY_DEBUG_LEAKS=0",
                         "ALLOY_DEBUG_GUARD=all",
                         "ALLOY_DEBUG_GUARD_SLOTS=1",
                         "ALLOY_DEBUG_GUARD_MAX=1",
                         "ALLOY_DEBUG_QUARANTINE=0",
                         "ALLOY_DEBUG_DEPTH=0",
                         "ALLOY_DEBUG_FILL=all",
                         NULL};
    const char *args[] = {"work", NULL};
    int st = run_victim(env, args);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || v_err[0] != '\0') {
        fprintf(stderr, "status 0x%x\n%s\n%s\n", st, v_out, v_err);
        fail();
    }
}

/* A leak with ALLOY_DEBUG_LEAK_EXITCODE=n exits n; n outside 0..255 is refused, not wrapped. */
static void env_leak_exitcode_is_kept(void **s) {
    (void)s;
    const char *env[] = {"ALLOY_DEBUG=1", "ALLOY_DEBUG_LEAK_EXITCODE=23", NULL};
    const char *args[] = {"leak", NULL};
    int st = run_victim(env, args);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 23);
    const char *env2[] = {"ALLOY_DEBUG=1", "ALLOY_DEBUG_LEAK_EXITCODE=4096", NULL};
    st = run_victim(env2, args);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_non_null(strstr(v_err, "alloy: ALLOY_DEBUG_LEAK_EXITCODE=4096 is not valid"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(env_debug),         cmocka_unit_test(env_guard_only),

    cmocka_unit_test(env_quarantine),    cmocka_unit_test(env_depth),
    cmocka_unit_test(env_fill),          cmocka_unit_test(env_unwind),
    cmocka_unit_test(env_guard),         cmocka_unit_test(env_guard_slots),
    cmocka_unit_test(env_guard_max),     cmocka_unit_test(env_on_error),
    cmocka_unit_test(env_leak_exitcode), cmocka_unit_test(env_leaks),
    cmocka_unit_test(env_edges_work),    cmocka_unit_test(env_leak_exitcode_is_kept),
};

ALLOY_TEST_MAIN(tests)
