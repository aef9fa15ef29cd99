/* SPDX-License-Identifier: MIT */
/* tests/unit/test_layers.c - the layer stack: nothing on the default path,
 * counting switched on mid-run, counting and the debug heap stacked in both
 * orders the API allows.
 *
 * The stack is fixed when alloy initializes (before main), so each case runs
 * its scenario in a fresh image of this program: fork, set the environment,
 * exec /proc/self/exe --scenario NAME. The scenario checks what it can itself
 * (a failed check exits 1 with a line on stderr); the case checks the exit
 * status and, for the debug scenarios, the report on stderr. */
#define _GNU_SOURCE
#include <alloy.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmocka_main.h"
#include "read_all.h"

/* ---- scenarios (child images) ---------------------------------------------- */

static int failures;
#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "scenario check failed, line %d: %s\n", __LINE__, #cond);              \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void *volatile sink;

static void expect_stack(const char *want) {
    char text[256];
    alloy_layer_describe(text, sizeof text);
    if (strcmp(text, want) != 0) {
        fprintf(stderr, "stack is \"%s\", want \"%s\"\n", text, want);
        failures++;
    }
}

static void stack_with(const char *layers) {
    char want[256];
    snprintf(want, sizeof want, "%s%s", layers, alloy_backend_name());
    expect_stack(want);
}

/* No layer: nothing counted, nothing reported; then counting from the middle. */
static void scenario_none_then_late_count(void) {
    enum { OLD = 20, NEW = 10 };
    void *old[OLD], *young[NEW];
    for (int i = 0; i < OLD; i++) old[i] = alloy_malloc(1000);
    alloy_stats s;
    EXPECT(!alloy_stats_get(&s));
    EXPECT(s.alloc_count == 0 && s.current_bytes == 0 && s.peak_bytes == 0);
    EXPECT(!alloy_layer_active(ALLOY_LAYER_COUNT));
    stack_with("");
    /* Too late for the debug heap: it must see every block. */
    errno = 0;
    EXPECT(!alloy_layer_push(ALLOY_LAYER_DEBUG) && errno == EBUSY);
    EXPECT(!alloy_layer_push((alloy_layer)42) && errno == EINVAL);

    EXPECT(alloy_layer_push(ALLOY_LAYER_COUNT));
    EXPECT(alloy_layer_push(ALLOY_LAYER_COUNT)); /* already on: fine */
    EXPECT(alloy_layer_active(ALLOY_LAYER_COUNT));
    stack_with("count > ");
    uint64_t young_bytes = 0;
    for (int i = 0; i < NEW; i++) {
        young[i] = alloy_malloc(100);
        young_bytes += alloy_usable_size(young[i]);
    }
    EXPECT(alloy_stats_get(&s));
    EXPECT(s.alloc_count == NEW && s.alloc_bytes == young_bytes && s.free_count == 0);
    EXPECT(s.current_count == NEW && s.current_bytes == young_bytes);
    /* The window frees more than it allocated: the net floors at 0, never wraps. */
    uint64_t old_bytes = 0;
    for (int i = 0; i < OLD; i++) {
        old_bytes += alloy_usable_size(old[i]);
        alloy_free(old[i]);
    }
    EXPECT(alloy_stats_get(&s));
    EXPECT(s.free_count == OLD && s.free_bytes == old_bytes);
    EXPECT(s.current_count == 0 && s.current_bytes == 0);
    for (int i = 0; i < NEW; i++) alloy_free(young[i]);
    EXPECT(alloy_stats_get(&s));
    EXPECT(s.alloc_count == NEW && s.free_count == OLD + NEW);
    EXPECT(s.current_count == 0 && s.current_bytes == 0);
    EXPECT(s.peak_bytes >= young_bytes && s.peak_bytes < (1ull << 62));
}

/* A mixed workload whose counters must come back to where they started. */
static void workload_balances(bool requested_sizes, bool drain) {
    alloy_stats a, b;
    EXPECT(alloy_stats_get(&a));
    void *p = alloy_malloc(100);
    void *q = alloy_calloc(10, 30);
    void *r = alloy_malloc_aligned(200, 256);
    void *t = alloy_malloc(50);
    EXPECT(p && q && r && t);
    EXPECT(alloy_stats_get(&b));
    EXPECT(b.alloc_count - a.alloc_count == 4);
    /* Over the debug heap the counted size is the requested one. */
    if (requested_sizes) EXPECT(b.alloc_bytes - a.alloc_bytes == 100 + 300 + 200 + 50);
    t = alloy_realloc(t, 5000);
    EXPECT(t != NULL);
    alloy_free(p);
    alloy_free_sized(q, 300);
    alloy_free_aligned_sized(r, 256, 200);
    alloy_free(t);
    /* Under the counting layer the debug heap's quarantine is still live memory
     * until alloy_collect(true) returns it. */
    if (drain) alloy_collect(true);
    EXPECT(alloy_stats_get(&b));
    EXPECT(b.current_count == a.current_count && b.current_bytes == a.current_bytes);
}

__attribute__((noinline)) static void double_free_site(void *p) {
    alloy_free(p);
    alloy_free(p);
}

static void end_with_double_free(void) {
    void *p = alloy_malloc(24);
    sink = p;
    double_free_site(p);
}

/* ALLOY_DEBUG=1 ALLOY_STATS=1: the documented order, count over debug. */
static void scenario_count_over_debug(void) {
    stack_with("count > debug > ");
    workload_balances(true, false);
    if (failures == 0) end_with_double_free();
}

/* The other order, by the API before the first allocation: debug over count. */
static void scenario_debug_over_count(void) {
    EXPECT(alloy_layer_push(ALLOY_LAYER_COUNT));
    EXPECT(alloy_layer_push(ALLOY_LAYER_DEBUG));
    stack_with("debug > count > ");
    workload_balances(false, true);
    if (failures == 0) end_with_double_free();
}

static const struct {
    const char *name;
    void (*run)(void);
} scenarios[] = {
    {"none_then_late_count", scenario_none_then_late_count},
    {"count_over_debug", scenario_count_over_debug},
    {"debug_over_count", scenario_debug_over_count},
};

/* ---- cases (parent) ---------------------------------------------------------- */

static char err[65536];

/* Run scenario name in a fresh image with env (NAME=VALUE strings, NULL-ended)
 * added to a copy of this environment less every ALLOY_* variable. */
static int run_scenario(const char *name, const char *const *env) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        unsetenv("ALLOY_STATS");
        unsetenv("ALLOY_DEBUG");
        unsetenv("ALLOY_LEAK_CHECK");
        for (size_t i = 0; env[i] != NULL; i++) putenv((char *)env[i]);
        execl("/proc/self/exe", "test_layers", "--scenario", name, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    read_all(fds[0], err, sizeof err);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

static void expect_in_report(const char *what) {
    if (strstr(err, what) == NULL) fail_msg("report lacks \"%s\":\n%s", what, err);
}

static void default_path_counts_nothing_then_late_count_is_exact(void **state) {
    (void)state;
    const char *env[] = {NULL};
    int st = run_scenario("none_then_late_count", env);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("scenario failed (%d):\n%s", st, err);
}

static void debug_report_through(const char *scenario, const char *const *env) {
    int st = run_scenario(scenario, env);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT)
        fail_msg("scenario did not end in the debug heap's abort (%d):\n%s", st, err);
    assert_null(strstr(err, "scenario check failed"));
    expect_in_report("double-free");
    expect_in_report("double_free_site");
    expect_in_report("end_with_double_free");
}

static void count_over_debug_balances_and_reports(void **state) {
    (void)state;
    const char *env[] = {"ALLOY_STATS=1", "ALLOY_DEBUG=1", "ALLOY_DEBUG_LEAKS=0", NULL};
    debug_report_through("count_over_debug", env);
}

static void debug_over_count_balances_and_reports(void **state) {
    (void)state;
    const char *env[] = {"ALLOY_DEBUG_LEAKS=0", NULL};
    debug_report_through("debug_over_count", env);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(default_path_counts_nothing_then_late_count_is_exact),
    cmocka_unit_test(count_over_debug_balances_and_reports),
    cmocka_unit_test(debug_over_count_balances_and_reports),
};

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--scenario") == 0) {
        for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
            if (strcmp(scenarios[i].name, argv[2]) == 0) {
                scenarios[i].run();
                return failures == 0 ? 0 : 1;
            }
        fprintf(stderr, "no scenario %s\n", argv[2]);
        return 2;
    }
    return alloy_test_run(__FILE__, tests, sizeof tests / sizeof tests[0], argc, argv);
}
