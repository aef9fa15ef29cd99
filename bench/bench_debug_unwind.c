/* SPDX-License-Identifier: MIT */
/* bench/bench_debug_unwind.c - cost and correctness of each stack unwinder.
 *
 * For each unwinder alloy_debug_backtrace offers (frame pointers, the hybrid
 * rule cache, libunwind's unw_backtrace, glibc's backtrace), time a capture at
 * several call depths (median of rounds, ns per capture) and check whether a
 * capture taken inside a qsort comparator reaches the function that called
 * qsort: glibc is built without frame pointers, so a walker that needs them
 * loses that frame.
 *
 * Usage: bench_debug_unwind [--quick]
 */
#define _GNU_SOURCE
#include <alloy.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct {
    const char *name;
    alloy_debug_unwinder how;
} unwinders[] = {
    {"frame pointers", ALLOY_DEBUG_UNWIND_FP},
    {"hybrid (default)", ALLOY_DEBUG_UNWIND_HYBRID},
    {"libunwind unw_backtrace", ALLOY_DEBUG_UNWIND_LIBUNWIND},
    {"glibc backtrace()", ALLOY_DEBUG_UNWIND_BACKTRACE},
};
#define NU (sizeof unwinders / sizeof unwinders[0])

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static volatile size_t sink;
static alloy_debug_unwinder current;
static int iterations;

__attribute__((noinline)) static size_t capture(void) {
    void *pcs[64];
    size_t n = 0;
    for (int i = 0; i < iterations; i++) n = alloy_debug_backtrace(pcs, 64, current);
    return n;
}

__attribute__((noinline)) static size_t descend(int depth) {
    if (depth == 0) return capture();
    size_t n = descend(depth - 1);
    sink += n;
    return n;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- through glibc ------------------------------------------------------------------ */

static bool found_caller;
static int compare(const void *a, const void *b) {
    void *pcs[64];
    size_t n = alloy_debug_backtrace(pcs, 64, current);
    for (size_t i = 0; i < n; i++) {
        char line[512];
        if (alloy_debug_symbolize(pcs[i], line, sizeof line) &&
            strstr(line, "sort_from_here") != NULL)
            found_caller = true;
    }
    return *(const int *)a - *(const int *)b;
}

__attribute__((noinline)) static void sort_from_here(void) {
    int v[4] = {4, 2, 3, 1};
    qsort(v, 4, sizeof v[0], compare);
}

int main(int argc, char **argv) {
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = true;
        } else {
            bool help = strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
            fprintf(help ? stdout : stderr,
                    "usage: %s [--quick] [--help]\n"
                    "Times one stack capture with each unwinder at depths 4, 16 and 32.\n",
                    argv[0]);
            return help ? 0 : 2;
        }
    }
    int rounds = quick ? 3 : 9;
    iterations = quick ? 2000 : 20000;
    int depths[] = {4, 16, 32};
    printf("stack capture cost, ns per capture (median of %d rounds of %d)\n", rounds, iterations);
    printf("%-26s %10s %10s %10s %14s\n", "unwinder", "depth 4", "depth 16", "depth 32",
           "through glibc");
    for (size_t u = 0; u < NU; u++) {
        current = unwinders[u].how;
        double med[3];
        size_t frames[3];
        for (int d = 0; d < 3; d++) {
            double t[16];
            frames[d] = descend(depths[d]); /* warm: learn rules, load libraries */
            for (int r = 0; r < rounds; r++) {
                double t0 = now();
                descend(depths[d]);
                t[r] = (now() - t0) / iterations * 1e9;
            }
            qsort(t, (size_t)rounds, sizeof t[0], cmp_double);
            med[d] = t[rounds / 2];
        }
        found_caller = false;
        sort_from_here();
        printf("%-26s %10.0f %10.0f %10.0f %14s   (frames: %zu/%zu/%zu)\n", unwinders[u].name,
               med[0], med[1], med[2], found_caller ? "yes" : "NO", frames[0], frames[1],
               frames[2]);
    }
    return 0;
}
