/* SPDX-License-Identifier: MIT */
/* bench/bench_profile.c - what the profiler costs, beside heaptrack, on the churn workload.
 *
 * Runs bench_debug_churn (2 threads, mixed sizes, ~1M malloc/free) plain (glibc), under
 * liballoy-override.so without a profiler, with ALLOY_PROFILE in full mode, full mode with
 * stacks, sampled mode (512 KiB), and under heaptrack. Each round runs every configuration once,
 * in turn; the table shows medians over rounds of CPU seconds (user + system, from wait4) and
 * peak RSS, their ratios to the plain run and to alloy without the profiler, and the output each
 * profiler left per million allocations. It also times the two latency clocks the profiler can
 * use (rdtsc and clock_gettime through the vDSO), per call, in this process.
 *
 * Usage: bench_profile [--quick] [--rounds N] [--ops N] [--help]
 * Output goes to a directory under $TMPDIR (default /tmp), removed at the end and when the
 * program is interrupted (SIGINT, SIGTERM, SIGHUP). Exit status 0 even if a target is missed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_child.h"

#ifndef BENCH_CHURN
#error BENCH_CHURN and BENCH_OVERRIDE are set by CMake
#endif

enum { OUT_NONE, OUT_PROFILE, OUT_HEAPTRACK };

typedef struct config {
    const char *name;
    const char *env[6];
    const char *wrap[4];
    int out;
    bool available;
    double cpu[32], rss[32], out_bytes[32];
} config;

#define PRELOAD "LD_PRELOAD=" BENCH_OVERRIDE
static char profile_env[400];

static config configs[] = {
    {"plain (glibc malloc)", {NULL}, {NULL}, OUT_NONE, true, {0}, {0}, {0}},
    {"alloy LD_PRELOAD, no profiler", {PRELOAD, NULL}, {NULL}, OUT_NONE, true, {0}, {0}, {0}},
    {"alloy profile full", {PRELOAD, profile_env, NULL}, {NULL}, OUT_PROFILE, true, {0}, {0}, {0}},
    {"alloy profile full + stacks",
     {PRELOAD, profile_env, "ALLOY_PROFILE_STACKS=1", NULL},
     {NULL},
     OUT_PROFILE,
     true,
     {0},
     {0},
     {0}},
    {"alloy profile sampled 512K",
     {PRELOAD, profile_env, "ALLOY_PROFILE_SAMPLE=512K", "ALLOY_PROFILE_LATENCY_EVERY=64", NULL},
     {NULL},
     OUT_PROFILE,
     true,
     {0},
     {0},
     {0}},
    {"heaptrack", {NULL}, {"heaptrack", "-o", NULL}, OUT_HEAPTRACK, true, {0}, {0}, {0}},
};
#define NCONF (sizeof configs / sizeof configs[0])

static char ops_arg[32] = "1000000";
static char *profile_path, *heaptrack_out, *heaptrack_zst, *log_path;

static bool tmp_create(void) {
    if (!bench_tmp_create("bench_profile")) return false;
    profile_path = bench_tmp_path("profile.json");
    heaptrack_out = bench_tmp_path("heaptrack");
    heaptrack_zst = bench_tmp_path("heaptrack.zst");
    log_path = bench_tmp_path("log.txt");
    if (log_path == NULL) return false;
    snprintf(profile_env, sizeof profile_env, "ALLOY_PROFILE=%s", profile_path);
    return true;
}

static double file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (double)st.st_size : 0.0;
}

static bool run(config *c, double *cpu, double *rss_mb, double *out) {
    unlink(profile_path);
    unlink(heaptrack_zst);
    const char *argv[12];
    size_t n = 0;
    for (size_t i = 0; c->wrap[i] != NULL; i++) argv[n++] = c->wrap[i];
    if (c->out == OUT_HEAPTRACK) argv[n++] = heaptrack_out;
    argv[n++] = BENCH_CHURN;
    argv[n++] = ops_arg;
    argv[n] = NULL;
    int status = bench_run_child(argv, c->env, log_path, cpu, rss_mb);
    if (status < 0) return false;
    *out = c->out == OUT_PROFILE     ? file_size(profile_path)
           : c->out == OUT_HEAPTRACK ? file_size(heaptrack_zst)
                                     : 0.0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
    double t[32];
    memcpy(t, v, (size_t)n * sizeof *t);
    qsort(t, (size_t)n, sizeof *t, cmp);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

/* ns per call of each clock, median of 5 runs of 2M calls. */
static double mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void time_clocks(void) {
    enum { N = 2000000 };
    double tsc[5], cg[5];
    volatile uint64_t sink = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = mono_ns();
#if defined(__x86_64__)
        for (int i = 0; i < N; i++) {
            unsigned lo, hi;
            __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
            sink += lo;
        }
#endif
        double t1 = mono_ns();
        for (int i = 0; i < N; i++) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            sink += (uint64_t)ts.tv_nsec;
        }
        double t2 = mono_ns();
        tsc[r] = (t1 - t0) / N;
        cg[r] = (t2 - t1) / N;
    }
    (void)sink;
    printf("latency clock, ns per read (median of 5 x %d): rdtsc %.1f, clock_gettime(MONOTONIC) "
           "%.1f\n\n",
           N, median(tsc, 5), median(cg, 5));
}

int main(int argc, char **argv) {
    int rounds;
    int done = bench_churn_options(
        argc, argv, &rounds, ops_arg, sizeof ops_arg,
        "Runs a 2-thread malloc/free churn plain, under alloy's profiler (full, full\n"
        "with stacks, sampled) and under heaptrack, and prints CPU time, peak RSS and\n"
        "output size per million allocations (medians of N rounds, default 5;\n"
        "--quick: 1 round of 200000 operations).\n");
    if (done >= 0) return done;
    if (!tmp_create()) {
        perror("bench_profile: temporary directory");
        return 1;
    }
    configs[NCONF - 1].available = bench_on_path("heaptrack");
    time_clocks();
    for (int r = 0; r < rounds; r++) {
        for (size_t k = 0; k < NCONF; k++) {
            config *c = &configs[k];
            if (!c->available) continue;
            if (!run(c, &c->cpu[r], &c->rss[r], &c->out_bytes[r])) {
                fprintf(stderr, "bench_profile: %s failed (see its output in %s)\n", c->name,
                        log_path);
                c->available = false;
            }
        }
    }
    double base_cpu = median(configs[0].cpu, rounds), base_rss = median(configs[0].rss, rounds);
    double alloy_cpu = median(configs[1].cpu, rounds);
    double mallocs = atof(ops_arg) + 4096.0 * 2; /* each op allocates once; plus the tables */
    printf("churn: 2 threads, %s ops, %d round(s), medians\n\n", ops_arg, rounds);
    printf("| configuration | CPU s | x plain | x alloy | peak RSS MB | x plain | output KB / M "
           "allocs |\n|---|---|---|---|---|---|---|\n");
    for (size_t k = 0; k < NCONF; k++) {
        config *c = &configs[k];
        if (!c->available) {
            printf("| %s | not available | | | | | |\n", c->name);
            continue;
        }
        double cpu = median(c->cpu, rounds), rss = median(c->rss, rounds);
        double out = median(c->out_bytes, rounds);
        printf("| %s | %.3f | %.2f | %.2f | %.1f | %.2f | ", c->name, cpu, cpu / base_cpu,
               cpu / alloy_cpu, rss, rss / base_rss);
        if (c->out == OUT_NONE)
            printf("- |\n");
        else
            printf("%.1f |\n", out / 1024.0 / (mallocs / 1e6));
    }
    printf("\ntargets: full <= 3x CPU and <= 1.5x peak RSS of plain; sampled <= 1.05x CPU\n");
    bench_tmp_remove();
    return 0;
}
