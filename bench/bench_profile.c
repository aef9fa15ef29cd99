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
static char tmp_dir[256], profile_path[320], heaptrack_out[320], heaptrack_zst[330], log_path[320];
static volatile sig_atomic_t tmp_live;
static volatile pid_t running_child;

static void tmp_remove(void) {
    if (!tmp_live) return;
    unlink(profile_path);
    unlink(heaptrack_zst);
    unlink(heaptrack_out);
    unlink(log_path);
    rmdir(tmp_dir);
    tmp_live = 0;
}

static void on_signal(int sig) {
    pid_t child = running_child;
    if (child > 0) {
        kill(child, SIGTERM);
        waitpid(child, NULL, 0);
    }
    tmp_remove();
    signal(sig, SIG_DFL);
    raise(sig);
}

static bool tmp_create(void) {
    const char *base = getenv("TMPDIR");
    if (base == NULL || *base == 0) base = "/tmp";
    if ((size_t)snprintf(tmp_dir, sizeof tmp_dir, "%s/bench_profile-XXXXXX", base) >=
        sizeof tmp_dir)
        return false;
    if (mkdtemp(tmp_dir) == NULL) return false;
    snprintf(profile_path, sizeof profile_path, "%s/profile.json", tmp_dir);
    snprintf(profile_env, sizeof profile_env, "ALLOY_PROFILE=%s", profile_path);
    snprintf(heaptrack_out, sizeof heaptrack_out, "%s/heaptrack", tmp_dir);
    snprintf(heaptrack_zst, sizeof heaptrack_zst, "%s.zst", heaptrack_out);
    snprintf(log_path, sizeof log_path, "%s/log.txt", tmp_dir);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < 3; i++) sigaddset(&sa.sa_mask, sigs[i]);
    for (size_t i = 0; i < 3; i++) sigaction(sigs[i], &sa, NULL);
    tmp_live = 1;
    return true;
}

static bool on_path(const char *prog) {
    const char *path = getenv("PATH");
    if (path == NULL) return false;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *dir = strtok(buf, ":"); dir != NULL; dir = strtok(NULL, ":")) {
        char full[4352];
        snprintf(full, sizeof full, "%s/%s", dir, prog);
        if (access(full, X_OK) == 0) return true;
    }
    return false;
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
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        for (size_t i = 0; c->env[i] != NULL; i++) putenv((char *)c->env[i]);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    running_child = pid;
    int status;
    struct rusage ru;
    pid_t got;
    while ((got = wait4(pid, &status, 0, &ru)) < 0 && errno == EINTR) {
    }
    running_child = 0;
    if (got < 0) return false;
    *cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    *rss_mb = (double)ru.ru_maxrss / 1024.0;
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
    int rounds = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            rounds = 1;
            snprintf(ops_arg, sizeof ops_arg, "200000");
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc) {
            snprintf(ops_arg, sizeof ops_arg, "%s", argv[++i]);
        } else {
            bool help = strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
            fprintf(help ? stdout : stderr,
                    "usage: %s [--quick] [--rounds N] [--ops N] [--help]\n"
                    "Runs a 2-thread malloc/free churn plain, under alloy's profiler (full, full\n"
                    "with stacks, sampled) and under heaptrack, and prints CPU time, peak RSS and\n"
                    "output size per million allocations (medians of N rounds, default 5;\n"
                    "--quick: 1 round of 200000 operations).\n",
                    argv[0]);
            return help ? 0 : 2;
        }
    }
    if (rounds < 1) rounds = 1;
    if (rounds > 32) rounds = 32;
    if (!tmp_create()) {
        perror("bench_profile: temporary directory");
        return 1;
    }
    configs[NCONF - 1].available = on_path("heaptrack");
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
    tmp_remove();
    return 0;
}
