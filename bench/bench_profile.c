/* SPDX-License-Identifier: MIT */
/* bench/bench_profile.c - what the profiler costs, beside heaptrack, on the churn workload.
 *
 * Runs bench_debug_churn (2 threads, mixed sizes, one malloc and one free per operation) as
 * child processes: plain (glibc malloc, no preload) twice, under liballoy-override.so without
 * a profiler, with ALLOY_PROFILE in full mode and full mode with stacks (each with every call
 * timed, the default, and with 1 call in 64 timed, to show what the clock costs), sampled
 * mode (512 KiB, latency 1 call in 64), and under heaptrack. Each round runs every configuration
 * once, the order rotated by one each round so that none always runs first or last. The table
 * shows, per configuration, the median CPU seconds (user + system of the child, from wait4) and
 * peak RSS, and the median and range of the per-round ratios to the plain run of the same round
 * ("x plain") and to alloy without the profiler ("x alloy"). The second plain run, divided by
 * the first, is the noise floor of the run: a ratio closer to 1 than its spread is not a
 * measured difference. heaptrack is slow and runs in the first 3 rounds only.
 *
 * Beside the times, when valgrind is installed: instructions per operation (one malloc and
 * one free, plus the workload's own few hundred) inside the workload's worker threads, from
 * callgrind (bench/callgrind_pairs.sh --per-op), which do not drift with the machine's load.
 * It also times the two latency clocks the profiler can use (rdtsc and clock_gettime through
 * the vDSO), per call, in this process.
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
#error BENCH_CHURN, BENCH_OVERRIDE and BENCH_CALLGRIND are set by CMake
#endif

enum { OUT_NONE, OUT_PROFILE, OUT_HEAPTRACK };
enum { MAX_ROUNDS = 32, HEAPTRACK_ROUNDS = 3 };

typedef struct config {
    const char *name;
    const char *env[8];
    const char *wrap[4];
    int out;
    bool available;
    int nrounds; /* rounds it ran */
    double cpu[MAX_ROUNDS], rss[MAX_ROUNDS], out_bytes[MAX_ROUNDS];
    long ir; /* callgrind instructions per operation, -1 if not measured */
} config;

#define PRELOAD "LD_PRELOAD=" BENCH_OVERRIDE
static char profile_env[400];

/* Index 0 is the plain run every ratio divides by; 2 is alloy without the profiler. */
enum {
    C_PLAIN,
    C_PLAIN2,
    C_ALLOY,
    C_FULL,
    C_FULL64,
    C_STACKS,
    C_STACKS64,
    C_SAMPLED,
    C_HEAPTRACK,
    NCONF
};
static config configs[NCONF] = {
    [C_PLAIN] = {.name = "plain (glibc malloc)"},
    [C_PLAIN2] = {.name = "plain again (noise floor)"},
    [C_ALLOY] = {.name = "alloy LD_PRELOAD, no profiler", .env = {PRELOAD}},
    [C_FULL] = {.name = "alloy profile full", .env = {PRELOAD, profile_env}, .out = OUT_PROFILE},
    [C_FULL64] = {.name = "alloy profile full, latency 1/64",
                  .env = {PRELOAD, profile_env, "ALLOY_PROFILE_LATENCY_EVERY=64"},
                  .out = OUT_PROFILE},
    [C_STACKS] = {.name = "alloy profile full + stacks",
                  .env = {PRELOAD, profile_env, "ALLOY_PROFILE_STACKS=1"},
                  .out = OUT_PROFILE},
    [C_STACKS64] = {.name = "alloy profile full + stacks, latency 1/64",
                    .env = {PRELOAD, profile_env, "ALLOY_PROFILE_STACKS=1",
                            "ALLOY_PROFILE_LATENCY_EVERY=64"},
                    .out = OUT_PROFILE},
    [C_SAMPLED] = {.name = "alloy profile sampled 512K, latency 1/64",
                   .env = {PRELOAD, profile_env, "ALLOY_PROFILE_SAMPLE=512K",
                           "ALLOY_PROFILE_LATENCY_EVERY=64"},
                   .out = OUT_PROFILE},
    [C_HEAPTRACK] = {.name = "heaptrack", .wrap = {"heaptrack", "-o"}, .out = OUT_HEAPTRACK},
};

static char ops_arg[32] = "8000000";
static char *profile_path, *heaptrack_out, *heaptrack_zst, *log_path, *cg_path;

static bool tmp_create(void) {
    if (!bench_tmp_create("bench_profile")) return false;
    profile_path = bench_tmp_path("profile.json");
    heaptrack_out = bench_tmp_path("heaptrack");
    heaptrack_zst = bench_tmp_path("heaptrack.zst");
    log_path = bench_tmp_path("log.txt");
    cg_path = bench_tmp_path("callgrind.txt");
    if (cg_path == NULL) return false;
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

/* Instructions per churn operation inside the worker threads, under callgrind: -1 if it
 * could not be measured. The profile's environment gains ALLOY_PROFILE_EXEC=1 (valgrind's
 * launcher runs with it first and would otherwise take the variables out) and
 * ALLOY_PROFILE_OVERWRITE=1. */
static long callgrind_ir(const config *c, long n) {
    const char *argv[24];
    size_t k = 0;
    char nbuf[32];
    snprintf(nbuf, sizeof nbuf, "%ld", n);
    argv[k++] = BENCH_CALLGRIND;
    argv[k++] = "--per-op";
    argv[k++] = nbuf;
    argv[k++] = "worker";
    for (size_t i = 0; c->env[i] != NULL; i++) argv[k++] = c->env[i];
    if (c->out == OUT_PROFILE) {
        argv[k++] = "ALLOY_PROFILE_EXEC=1";
        argv[k++] = "ALLOY_PROFILE_OVERWRITE=1";
    }
    argv[k++] = BENCH_CHURN;
    argv[k++] = "@N@";
    argv[k] = NULL;
    const char *no_env[] = {NULL};
    double cpu, rss;
    int status = bench_run_child(argv, no_env, cg_path, &cpu, &rss);
    if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
    FILE *f = fopen(cg_path, "r");
    if (f == NULL) return -1;
    long v = -1;
    if (fscanf(f, "%ld", &v) != 1) v = -1;
    fclose(f);
    return v;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
    double t[MAX_ROUNDS];
    memcpy(t, v, (size_t)n * sizeof *t);
    qsort(t, (size_t)n, sizeof *t, cmp);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

/* Per-round ratios of c to base over the rounds both ran: median, min and max. */
typedef struct ratio {
    double med, lo, hi;
} ratio;
static ratio ratios(const config *c, const config *base) {
    double r[MAX_ROUNDS] = {0};
    int n = c->nrounds < base->nrounds ? c->nrounds : base->nrounds;
    for (int i = 0; i < n; i++) r[i] = c->cpu[i] / base->cpu[i];
    ratio out = {0, 0, 0};
    if (n == 0) return out;
    out.med = median(r, n);
    out.lo = out.hi = r[0];
    for (int i = 1; i < n; i++) {
        if (r[i] < out.lo) out.lo = r[i];
        if (r[i] > out.hi) out.hi = r[i];
    }
    return out;
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

static void target(const char *what, double value, double limit) {
    printf("  %-52s %5.2fx  %s\n", what, value, value <= limit ? "met" : "NOT met");
}

int main(int argc, char **argv) {
    int rounds;
    int done = bench_churn_options(
        argc, argv, &rounds, ops_arg, sizeof ops_arg,
        "Runs a 2-thread malloc/free churn (default 8000000 operations) plain, under\n"
        "alloy's profiler (full, full with stacks, sampled) and heaptrack, in rotated\n"
        "rounds (default 5); medians and ranges of CPU ratios, a plain-vs-plain noise\n"
        "floor, callgrind instructions per operation (--quick: 1 round of 200000).\n");
    if (done >= 0) return done;
    if (!tmp_create()) {
        perror("bench_profile: temporary directory");
        return 1;
    }
    for (size_t k = 0; k < NCONF; k++) {
        configs[k].available = true;
        configs[k].ir = -1;
    }
    configs[C_HEAPTRACK].available = bench_on_path("heaptrack");
    time_clocks();
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < NCONF; i++) {
            config *c = &configs[(i + (size_t)r) % NCONF];
            if (!c->available || (c->out == OUT_HEAPTRACK && r >= HEAPTRACK_ROUNDS)) continue;
            int k = c->nrounds;
            if (!run(c, &c->cpu[k], &c->rss[k], &c->out_bytes[k])) {
                fprintf(stderr, "bench_profile: %s failed (see its output in %s)\n", c->name,
                        log_path);
                c->available = false;
                continue;
            }
            c->nrounds++;
        }
    }
    /* Ratios pair runs of one round: every configuration but heaptrack ran in every round. */
    bool have_valgrind = bench_on_path("valgrind");
    long cg_n = atol(ops_arg) >= 1000000 ? 100000 : 20000;
    for (size_t k = 0; have_valgrind && k < NCONF; k++)
        if (configs[k].available && configs[k].out != OUT_HEAPTRACK && k != C_PLAIN2)
            configs[k].ir = callgrind_ir(&configs[k], cg_n);
    const config *plain = &configs[C_PLAIN], *alloy = &configs[C_ALLOY];
    double base_rss = median(plain->rss, plain->nrounds);
    double mallocs = atof(ops_arg) + 4096.0 * 2; /* each op allocates once; plus the tables */
    printf("churn: 2 threads, %s ops, %d round(s) (heaptrack: %d), medians; ratios are the "
           "median [min-max] of per-round ratios\n\n",
           ops_arg, rounds, configs[C_HEAPTRACK].nrounds);
    printf("| configuration | CPU s | x plain | x alloy | peak RSS MB | x plain | output KB / M "
           "allocs | Ir / op | Ir - plain | Ir - alloy |\n"
           "|---|---:|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (size_t k = 0; k < NCONF; k++) {
        config *c = &configs[k];
        if (!c->available || c->nrounds == 0) {
            printf("| %s | not available | | | | | | | | |\n", c->name);
            continue;
        }
        double cpu = median(c->cpu, c->nrounds), rss = median(c->rss, c->nrounds);
        double out = median(c->out_bytes, c->nrounds);
        ratio rp = ratios(c, plain), ra = ratios(c, alloy);
        printf("| %s | %.3f | %.2f [%.2f-%.2f] | %.2f [%.2f-%.2f] | %.1f | %.2f | ", c->name, cpu,
               rp.med, rp.lo, rp.hi, ra.med, ra.lo, ra.hi, rss, rss / base_rss);
        if (c->out == OUT_NONE)
            printf("- | ");
        else
            printf("%.1f | ", out / 1024.0 / (mallocs / 1e6));
        if (c->ir < 0 || plain->ir < 0 || alloy->ir < 0)
            printf("- | - | - |\n");
        else
            printf("%ld | %+ld | %+ld |\n", c->ir, c->ir - plain->ir, c->ir - alloy->ir);
    }
    if (!have_valgrind) printf("\n(valgrind not found: no instruction counts)\n");
    ratio noise = ratios(&configs[C_PLAIN2], plain);
    printf("\nnoise floor: plain / plain %.2f [%.2f-%.2f]\n", noise.med, noise.lo, noise.hi);
    printf("targets (median of per-round ratios):\n");
    target("full <= 3x CPU of plain (glibc)", ratios(&configs[C_FULL], plain).med, 3.0);
    target("full + stacks <= 3x CPU of plain (glibc)", ratios(&configs[C_STACKS], plain).med, 3.0);
    target("full + stacks <= 3x CPU of alloy without profiler",
           ratios(&configs[C_STACKS], alloy).med, 3.0);
    target("full + stacks, latency 1/64 <= 3x CPU of plain (glibc)",
           ratios(&configs[C_STACKS64], plain).med, 3.0);
    target("full + stacks <= 1.5x peak RSS of plain (glibc)",
           median(configs[C_STACKS].rss, configs[C_STACKS].nrounds) / base_rss, 1.5);
    target("sampled <= 1.05x CPU of plain (glibc)", ratios(&configs[C_SAMPLED], plain).med, 1.05);
    target("sampled <= 1.05x CPU of alloy without profiler", ratios(&configs[C_SAMPLED], alloy).med,
           1.05);
    bench_tmp_remove();
    return 0;
}
