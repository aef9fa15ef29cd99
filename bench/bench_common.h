/* SPDX-License-Identifier: MIT */
/* bench/bench_common.h - what the heap benchmarks share: the clock, medians,
 * the machine line, the load check, one child process per backend (the
 * backend is fixed when alloy starts, so each backend needs its own process),
 * and each backend's own public entry points as a program would call them.
 */
#ifndef ALLOY_BENCH_COMMON_H
#define ALLOY_BENCH_COMMON_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_UNUSED __attribute__((unused))

/* A heap as the benchmarks call it: through function pointers, as a program
 * calls a shared library through its PLT. usable is the backend's usable-size
 * lookup (NULL for alloy's variants). */
typedef struct bench_impl {
    const char *name;
    void *(*malloc)(size_t);
    void (*free)(void *);
    void (*free_sized)(void *, size_t);
    size_t (*usable)(void *);
} bench_impl;

/* A single-producer single-consumer ring of blocks passed to another thread to free. */
enum { BENCH_RING = 1024 };
typedef struct bench_ring {
    _Alignas(64) _Atomic size_t head;
    _Alignas(64) _Atomic size_t tail;
    _Alignas(64) void *slot[BENCH_RING];
} bench_ring;

BENCH_UNUSED static double bench_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v). */
BENCH_UNUSED static double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

BENCH_UNUSED static double bench_load1(void) {
    double load = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &load) != 1) load = 0;
        fclose(f);
    }
    return load;
}

BENCH_UNUSED static long bench_cores(void) {
    return sysconf(_SC_NPROCESSORS_ONLN);
}

/* "machine: <CPU model>, N cores online, load L (1 min)" */
BENCH_UNUSED static void bench_print_machine(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256], model[160] = "unknown CPU";
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            snprintf(model, sizeof model, "%.150s", c ? c + 2 : line);
            model[strcspn(model, "\n")] = '\0';
            break;
        }
    if (f) fclose(f);
    printf("machine: %s, %ld cores online, load %.2f (1 min)\n", model, bench_cores(),
           bench_load1());
}

/* Warn when other work on the machine leaves fewer cores than the benchmark
 * needs: its 1-minute load (taken before the run) plus its own threads over the
 * cores by more than half a core (the average still holds the tail of a
 * benchmark that just ran). True if it warned. */
BENCH_UNUSED static bool bench_warn_load(double load_before, int threads) {
    long cores = bench_cores();
    if (load_before + threads <= (double)cores + 0.5) return false;
    printf("WARNING: load %.2f before the run with %d benchmark thread(s) on %ld cores: other "
           "work shares the CPUs, the numbers cannot be trusted\n",
           load_before, threads, cores);
    return true;
}

/* The closing lines of a table: the A/A noise (worst is the largest |A/A - 1|)
 * and the load, and a WARNING line when either means the numbers cannot be
 * trusted. */
BENCH_UNUSED static void bench_print_noise(double worst, double load, int threads, bool quick) {
    printf("noise: A/A within %.1f%% on every row; load %.2f before the run\n", worst * 100, load);
    bool warned = bench_warn_load(load, threads);
    if (worst > 0.05)
        printf("WARNING: the A/A ratio is off by %.1f%%%s%s\n", worst * 100,
               warned ? "" : ": the numbers cannot be trusted",
               quick ? " (--quick: rerun without it)" : "");
}

/* The options every heap benchmark takes: --quick, --rounds N, --backend NAME,
 * --help (prints usage and exits 0). True if argv[*i] was one of them (*i
 * moved past its value). */
typedef struct bench_opts {
    void (*usage)(FILE *);
    bool quick;
    int rounds; /* 0: the program's default */
    const char *only;
} bench_opts;

BENCH_UNUSED static bool bench_common_option(int argc, char **argv, int *i, bench_opts *o) {
    if (strcmp(argv[*i], "--quick") == 0) {
        o->quick = true;
    } else if (strcmp(argv[*i], "--rounds") == 0 && *i + 1 < argc) {
        o->rounds = atoi(argv[++*i]);
        if (o->rounds < 1 || o->rounds > 64) {
            fprintf(stderr, "bench: --rounds must be 1..64\n");
            exit(2);
        }
    } else if (strcmp(argv[*i], "--backend") == 0 && *i + 1 < argc) {
        o->only = argv[++*i];
    } else if (strcmp(argv[*i], "--help") == 0 || strcmp(argv[*i], "-h") == 0) {
        o->usage(stdout);
        exit(0);
    } else {
        return false;
    }
    return true;
}

/* This program's original command line, from /proc/self/cmdline, as started:
 * through the dynamic loader (ld-linux.so PROGRAM ...) or a wrapper it runs
 * the same way again, which /proc/self/exe (the loader, then) would not.
 * args[0..n) and a NULL after them; *prefix: how many of them name the program
 * (2 when started through the loader, else 1). */
static int bench_cmdline(char **args, int max, int *prefix) {
    static char buf[16384];
    FILE *f = fopen("/proc/self/cmdline", "r");
    if (f == NULL) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    int argc = 0;
    for (size_t i = 0; i < n && argc < max - 1; i += strlen(buf + i) + 1) args[argc++] = buf + i;
    args[argc] = NULL;
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[len > 0 ? len : 0] = '\0';
    const char *base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
    *prefix = strncmp(base, "ld-", 3) == 0 && argc > 1 ? 2 : 1;
    return argc;
}

/* Re-execute this program with its original command line. Returns only on failure. */
static void bench_reexec(void) {
    static char *args[256];
    int prefix;
    if (bench_cmdline(args, 256, &prefix) > 0) execvp(args[0], args);
}

/* Start this program again as a child with ALLOY_BACKEND=backend and
 * ALLOY_BENCH_CHILD=1, its stdout a pipe that the caller reads; no layer is
 * switched on from the environment there (each variant chooses its own). */
BENCH_UNUSED static FILE *bench_spawn(const char *backend, pid_t *pid) {
    int fd[2];
    if (pipe(fd) != 0) return NULL;
    fflush(stdout);
    *pid = fork();
    if (*pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        setenv("ALLOY_BACKEND", backend, 1);
        setenv("ALLOY_BENCH_CHILD", "1", 1);
        unsetenv("ALLOY_STATS");
        unsetenv("ALLOY_LEAK_CHECK");
        unsetenv("ALLOY_DEBUG");
        unsetenv("ALLOY_PROFILE");
        bench_reexec();
        perror("bench: re-exec");
        _exit(127);
    }
    close(fd[1]);
    return fdopen(fd[0], "r");
}

/* Wait for the child; 0 if it exited with 0. */
BENCH_UNUSED static int bench_wait(pid_t pid, const char *backend) {
    int st;
    waitpid(pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    fprintf(stderr, "bench: %s run failed\n", backend);
    return 1;
}

static void *bench_sym(void *h, const char *name) {
    void *p = dlsym(h, name);
    if (p == NULL) {
        fprintf(stderr, "bench: %s: %s\n", name, dlerror());
        exit(2);
    }
    return p;
}

/* *(fn *)dst = dlsym(h, name), without casting an object pointer to a function pointer. */
BENCH_UNUSED static void bench_fn(void *dst, void *h, const char *name) {
    void *p = bench_sym(h, name);
    memcpy(dst, &p, sizeof p);
}

static void bench_free_unsized(void *p, size_t n) {
    (void)n;
    free(p);
}

static size_t bench_libc_usable(void *p) {
    return malloc_usable_size(p);
}

/* sdallocx(p, n, flags) with flags 0: a tail jump (the flags register cleared). */
static void (*bench_je_sdallocx)(void *, size_t, int);
static void bench_je_free_sized(void *p, size_t n) {
    bench_je_sdallocx(p, n, 0);
}

/* The library that file (a loaded object's path) is, for the check below. */
static bool bench_fn_from(void *fn, const char *lib) {
    Dl_info info;
    return dladdr(fn, &info) && info.dli_fname && strstr(info.dli_fname, lib) != NULL;
}

/* The backend's own fastest public entry points, as a program calls them:
 * mimalloc mi_malloc/mi_free/mi_free_size/mi_usable_size; jemalloc's own
 * malloc/free/sdallocx(p, n, 0)/malloc_usable_size (taken from the jemalloc
 * handle: this process links it after libc, so plain malloc stays glibc's);
 * tcmalloc tc_malloc/tc_free/tc_free_sized/tc_malloc_size; glibc's
 * malloc/free/malloc_usable_size (glibc 2.36 has no free_sized: plain free). */
BENCH_UNUSED static bench_impl bench_backend_direct(const char *backend) {
    bench_impl d = {backend, malloc, free, bench_free_unsized, bench_libc_usable};
    const char *lib = NULL, *m = NULL, *f = NULL, *fs = NULL, *us = NULL;
    if (strcmp(backend, "mimalloc") == 0) {
        lib = "libmimalloc.so.2", m = "mi_malloc", f = "mi_free", fs = "mi_free_size";
        us = "mi_usable_size";
    } else if (strcmp(backend, "jemalloc") == 0) {
        lib = "libjemalloc.so.2", m = "malloc", f = "free", fs = "sdallocx";
        us = "malloc_usable_size";
    } else if (strcmp(backend, "tcmalloc") == 0) {
        lib = "libtcmalloc_minimal.so.4", m = "tc_malloc", f = "tc_free", fs = "tc_free_sized";
        us = "tc_malloc_size";
    }
    if (lib != NULL) {
        void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            fprintf(stderr, "bench: %s\n", dlerror());
            exit(2);
        }
        bench_fn(&d.malloc, h, m);
        bench_fn(&d.free, h, f);
        bench_fn(&d.usable, h, us);
        if (strcmp(backend, "jemalloc") == 0) {
            bench_fn(&bench_je_sdallocx, h, fs);
            d.free_sized = bench_je_free_sized;
        } else {
            bench_fn(&d.free_sized, h, fs);
        }
        lib = strcmp(backend, "tcmalloc") == 0 ? "tcmalloc" : backend;
    } else {
        lib = "libc.so";
    }
    void *mp;
    memcpy(&mp, &d.malloc, sizeof mp);
    if (!bench_fn_from(mp, lib)) {
        fprintf(stderr, "bench: %s's malloc entry point is not in %s\n", backend, lib);
        exit(2);
    }
    return d;
}

#endif /* ALLOY_BENCH_COMMON_H */
