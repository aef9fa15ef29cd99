/* SPDX-License-Identifier: MIT */
/* bench/bench_debug.c - the churn workload under every memory checker, side by side.
 *
 * Runs bench_debug_churn (2 threads, ~1M mixed-size malloc/free, 5 deliberate
 * leaks = 592 bytes) plain, under alloy's debug mode through LD_PRELOAD (over
 * glibc's allocator, like the plain run, and over mimalloc), built with clang
 * ASan and LSan, under valgrind memcheck and under heaptrack. Each round runs
 * every configuration once, in turn; the table shows medians over rounds of
 * CPU seconds (user + system, from wait4, children included) and peak RSS
 * (ru_maxrss: the largest process of the run), their ratios to the plain run,
 * and the leaks each tool reported. Exit status 0 even if a target is missed:
 * this is a measurement, the table says met or not met.
 *
 * Usage: bench_debug [--quick] [--rounds N] [--ops N] [--help]
 * The runs' output goes to a directory under $TMPDIR (default /tmp), removed
 * at the end and when the program is interrupted (SIGINT, SIGTERM, SIGHUP).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_child.h"
#include "bench_debug_churn.h"

#ifndef BENCH_CHURN
#error BENCH_CHURN, BENCH_CHURN_ASAN, BENCH_CHURN_LSAN and BENCH_OVERRIDE are set by CMake
#endif

typedef struct config {
    const char *name;
    const char *exe;
    const char *env[6];
    const char *wrap[6]; /* tool and its options before the program, NULL-terminated */
    int leak_kind;       /* how to read its leak report */
    bool available;
    double cpu[32], rss[32];
    long leak_blocks, leak_bytes;
} config;

enum { LEAK_NONE, LEAK_ALLOY, LEAK_SANITIZER, LEAK_MEMCHECK, LEAK_HEAPTRACK };

static config configs[] = {
    {"plain (glibc malloc)", BENCH_CHURN, {NULL}, {NULL}, LEAK_NONE, true, {0}, {0}, -1, -1},
    {"alloy debug, LD_PRELOAD, libc backend",
     BENCH_CHURN,
     {"LD_PRELOAD=" BENCH_OVERRIDE, "ALLOY_DEBUG=1", "ALLOY_BACKEND=libc", NULL},
     {NULL},
     LEAK_ALLOY,
     true,
     {0},
     {0},
     -1,
     -1},
    {"alloy debug, LD_PRELOAD, mimalloc backend",
     BENCH_CHURN,
     {"LD_PRELOAD=" BENCH_OVERRIDE, "ALLOY_DEBUG=1", "ALLOY_BACKEND=mimalloc", NULL},
     {NULL},
     LEAK_ALLOY,
     true,
     {0},
     {0},
     -1,
     -1},
    {"alloy debug, libc backend, guard 1/1000",
     BENCH_CHURN,
     {"LD_PRELOAD=" BENCH_OVERRIDE, "ALLOY_DEBUG=1", "ALLOY_BACKEND=libc",
      "ALLOY_DEBUG_GUARD=1000"},
     {NULL},
     LEAK_ALLOY,
     true,
     {0},
     {0},
     -1,
     -1},
    {"alloy guard-only 1/1000, libc backend",
     BENCH_CHURN,
     {"LD_PRELOAD=" BENCH_OVERRIDE, "ALLOY_DEBUG=1", "ALLOY_BACKEND=libc", "ALLOY_DEBUG_GUARD=1000",
      "ALLOY_DEBUG_GUARD_ONLY=1"},
     {NULL},
     LEAK_ALLOY,
     true,
     {0},
     {0},
     -1,
     -1},
    {"alloy without debug, LD_PRELOAD, mimalloc",
     BENCH_CHURN,
     {"LD_PRELOAD=" BENCH_OVERRIDE, "ALLOY_BACKEND=mimalloc", NULL},
     {NULL},
     LEAK_NONE,
     true,
     {0},
     {0},
     -1,
     -1},
    {"clang ASan (+LSan at exit)",
     BENCH_CHURN_ASAN,
     {"ASAN_OPTIONS=detect_leaks=1", NULL},
     {NULL},
     LEAK_SANITIZER,
     true,
     {0},
     {0},
     -1,
     -1},
    {"clang LSan", BENCH_CHURN_LSAN, {NULL}, {NULL}, LEAK_SANITIZER, true, {0}, {0}, -1, -1},
    {"valgrind memcheck",
     BENCH_CHURN,
     {NULL},
     {"valgrind", "--tool=memcheck", "--leak-check=full", NULL},
     LEAK_MEMCHECK,
     true,
     {0},
     {0},
     -1,
     -1},
    {"heaptrack",
     BENCH_CHURN,
     {NULL},
     {"heaptrack", "-o", NULL},
     LEAK_HEAPTRACK,
     true,
     {0},
     {0},
     -1,
     -1},
};
#define NCONF (sizeof configs / sizeof configs[0])

static char ops_arg[32] = "1000000";
static char *heaptrack_out, *heaptrack_zst;

/* Every file a run may leave: one output per configuration, heaptrack's trace. */
static char *run_files[NCONF];

static bool tmp_create(void) {
    if (!bench_tmp_create("bench_debug")) return false;
    char name[32];
    for (size_t k = 0; k < NCONF; k++) {
        snprintf(name, sizeof name, "run-%zu.txt", k);
        run_files[k] = bench_tmp_path(name);
    }
    heaptrack_out = bench_tmp_path("heaptrack");
    heaptrack_zst = bench_tmp_path("heaptrack.zst");
    return heaptrack_zst != NULL;
}

/* Run one configuration; its stderr+stdout go to out_path. */
static bool run(config *c, const char *out_path, double *cpu, double *rss_mb) {
    const char *argv[16];
    size_t n = 0;
    for (size_t i = 0; c->wrap[i] != NULL; i++) argv[n++] = c->wrap[i];
    if (c->leak_kind == LEAK_HEAPTRACK) argv[n++] = heaptrack_out;
    argv[n++] = c->exe;
    argv[n++] = ops_arg;
    argv[n] = NULL;
    int status = bench_run_child(argv, c->env, out_path, cpu, rss_mb);
    if (status < 0) return false;
    /* A checker may exit non-zero because it found the leaks (LSan: 23); only a crash fails. */
    return WIFEXITED(status) && WEXITSTATUS(status) != 127;
}

/* Read "<bytes> ... <blocks>" from the tool's own leak summary line. */
static void read_leaks(config *c, const char *out_path) {
    FILE *f = fopen(out_path, "r");
    if (f == NULL) return;
    char line[1024];
    long bytes = -1, blocks = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        const char *p;
        if (c->leak_kind == LEAK_ALLOY && (p = strstr(line, "SUMMARY: alloy debug: ")) != NULL)
            sscanf(p, "SUMMARY: alloy debug: %ld bytes leaked in %ld blocks", &bytes, &blocks);
        if (c->leak_kind == LEAK_SANITIZER && (p = strstr(line, "SUMMARY: ")) != NULL &&
            (p = strstr(p + 9, ": ")) != NULL && strstr(line, "leaked") != NULL)
            sscanf(p + 2, "%ld byte(s) leaked in %ld allocation(s)", &bytes, &blocks);
        if (c->leak_kind == LEAK_MEMCHECK && (p = strstr(line, "definitely lost: ")) != NULL) {
            char b[64], k[64];
            if (sscanf(p, "definitely lost: %63s bytes in %63s blocks", b, k) == 2) {
                char *q, *r;
                for (q = r = b; *q; q++)
                    if (*q != ',') *r++ = *q;
                *r = '\0';
                for (q = r = k; *q; q++)
                    if (*q != ',') *r++ = *q;
                *r = '\0';
                bytes = atol(b);
                blocks = atol(k);
            }
        }
    }
    fclose(f);
    if (c->leak_kind == LEAK_HEAPTRACK) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "heaptrack_print -f %s.zst -l 1 -p 0 -a 0 -T 0 -s 0 2>/dev/null",
                 heaptrack_out);
        FILE *p = popen(cmd, "r");
        if (p != NULL) {
            while (fgets(line, sizeof line, p) != NULL) {
                const char *q = strstr(line, "total memory leaked: ");
                if (q != NULL) {
                    double v;
                    char unit[8] = "";
                    if (sscanf(q, "total memory leaked: %lf%7s", &v, unit) >= 1)
                        bytes = (long)(v * (unit[0] == 'K' ? 1000 : unit[0] == 'M' ? 1e6 : 1));
                }
            }
            pclose(p);
        }
    }
    c->leak_bytes = bytes;
    c->leak_blocks = blocks;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    double t[32];
    memcpy(t, v, (size_t)n * sizeof *t);
    qsort(t, (size_t)n, sizeof *t, cmp);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

int main(int argc, char **argv) {
    int rounds;
    int done = bench_churn_options(
        argc, argv, &rounds, ops_arg, sizeof ops_arg,
        "Runs a malloc/free churn program plain and under alloy's debug mode, ASan,\n"
        "LSan, valgrind memcheck and heaptrack, and prints CPU time, peak RSS and the\n"
        "leaks each reported (medians of N rounds, default 5; --quick: 1 round of\n"
        "200000 operations).\n");
    if (done >= 0) return done;
    if (!tmp_create()) {
        perror("bench_debug: temporary directory");
        return 1;
    }
    for (size_t k = 0; k < NCONF; k++) {
        config *c = &configs[k];
        c->available =
            bench_on_path(c->wrap[0] != NULL ? c->wrap[0] : c->exe) && bench_on_path(c->exe);
        if (!c->available) fprintf(stderr, "bench_debug: %s: not available, skipped\n", c->name);
    }
    for (int r = 0; r < rounds; r++) {
        for (size_t k = 0; k < NCONF; k++) {
            config *c = &configs[k];
            if (!c->available) continue;
            char *out = run_files[k];
            if (!run(c, out, &c->cpu[r], &c->rss[r])) {
                fprintf(stderr, "bench_debug: %s failed (output in %s, kept)\n", c->name, out);
                out[0] = 0; /* not removed: the directory stays with it */
                c->available = false;
                continue;
            }
            if (r == 0) read_leaks(c, out);
            unlink(out);
            unlink(heaptrack_zst);
        }
    }
    bench_tmp_remove();

    double cpu0 = median(configs[0].cpu, rounds), rss0 = median(configs[0].rss, rounds);
    printf("churn: %d threads, %s malloc/free, %d deliberate leaks (%d bytes); median of %d "
           "rounds\n\n",
           CHURN_THREADS, ops_arg, CHURN_LEAK_BLOCKS, CHURN_LEAK_BYTES, rounds);
    printf("| %-42s | %8s | %7s | %9s | %7s | %-22s |\n", "configuration", "CPU s", "x plain",
           "peak RSS", "x plain", "leaks reported");
    printf("|%s|%s|%s|%s|%s|%s|\n", "--------------------------------------------", "----------",
           "---------", "-----------", "---------", "------------------------");
    for (size_t k = 0; k < NCONF; k++) {
        config *c = &configs[k];
        if (!c->available) {
            printf("| %-42s | %8s | %7s | %9s | %7s | %-22s |\n", c->name, "n/a", "", "", "", "");
            continue;
        }
        double cpu = median(c->cpu, rounds), rss = median(c->rss, rounds);
        char leaks[64] = "-";
        if (c->leak_kind == LEAK_HEAPTRACK && c->leak_bytes >= 0)
            snprintf(leaks, sizeof leaks, "%ld bytes", c->leak_bytes);
        else if (c->leak_kind != LEAK_NONE && c->leak_bytes >= 0)
            snprintf(leaks, sizeof leaks, "%ld blocks, %ld bytes", c->leak_blocks, c->leak_bytes);
        else if (c->leak_kind != LEAK_NONE)
            snprintf(leaks, sizeof leaks, "none found");
        printf("| %-42s | %8.3f | %7.2f | %6.1f MB | %7.2f | %-22s |\n", c->name, cpu, cpu / cpu0,
               rss, rss / rss0, leaks);
    }
    printf("\ntargets for alloy debug (libc backend, as the plain run): CPU <= 3x plain, peak RSS "
           "<= 2x plain, leaks exact (%d blocks, %d bytes)\n",
           CHURN_LEAK_BLOCKS, CHURN_LEAK_BYTES);
    config *d = &configs[1];
    if (d->available) {
        double cpu = median(d->cpu, rounds) / cpu0, rss = median(d->rss, rounds) / rss0;
        printf("  CPU  %.2fx: %s\n  RSS  %.2fx: %s\n  leaks %ld blocks, %ld bytes: %s\n", cpu,
               cpu <= 3.0 ? "met" : "NOT met", rss, rss <= 2.0 ? "met" : "NOT met", d->leak_blocks,
               d->leak_bytes,
               d->leak_blocks == CHURN_LEAK_BLOCKS && d->leak_bytes == CHURN_LEAK_BYTES
                   ? "exact"
                   : "NOT exact");
    }
    return 0;
}
