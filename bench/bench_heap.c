/* bench/bench_heap.c - ns per malloc+free pair: each backend called directly,
 * through alloy with counters compiled out, and through alloy with counters.
 *
 *   bench_heap [--quick] [--rounds N] [--backend NAME]
 *
 * The backend is fixed once per process, so the parent runs one child per
 * backend (ALLOY_BACKEND=<name>) and prints the table. Inside a child the
 * three variants run in interleaved rounds (rotating order) so drift and noise
 * hit them alike; the table shows each median and its ratio to direct.
 * All variants are called through function pointers, as a program calls a
 * shared library through its PLT.
 */
#define _GNU_SOURCE
#include <alloy.h>

#include <dlfcn.h>
#if ALLOY_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct impl {
    const char *name;
    void *(*malloc)(size_t);
    void (*free)(void *);
    void (*free_sized)(void *, size_t);
} impl;

/* ---- workloads ------------------------------------------------------------ */

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static long scale = 1; /* --quick divides the work */

static double w_lifo64(const impl *m) {
    long n = 2000000 / scale;
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        volatile char *p = m->malloc(64);
        p[0] = 1;
        m->free((void *)p);
    }
    return (now_ns() - t) / (double)n;
}

/* What a runtime that knows its object sizes does: the sized free. */
static double w_lifo64_sized(const impl *m) {
    long n = 2000000 / scale;
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        volatile char *p = m->malloc(64);
        p[0] = 1;
        m->free_sized((void *)p, 64);
    }
    return (now_ns() - t) / (double)n;
}

enum { BATCH = 100000 };
static void *batch[BATCH];

static double w_batch(const impl *m) {
    long reps = 10 / scale + 1;
    double t = now_ns();
    for (long r = 0; r < reps; r++) {
        for (int i = 0; i < BATCH; i++) {
            batch[i] = m->malloc(64);
            *(volatile char *)batch[i] = 1;
        }
        for (int i = 0; i < BATCH; i++) m->free(batch[i]);
    }
    return (now_ns() - t) / (double)(reps * BATCH);
}

/* Mixed 16 B .. 64 KiB, log-uniform, over a live set of LIVE blocks. */
enum { LIVE = 8192, SEQ = 1 << 20 };
static uint32_t seq_size[SEQ];
static uint32_t seq_slot[SEQ];
static void *live[LIVE];

static void make_sequence(void) {
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < SEQ; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int bits = 4 + (int)(x % 12);                                      /* 16 .. 32 KiB bucket */
        seq_size[i] = (uint32_t)((1u << bits) + (x >> 20) % (1u << bits)); /* up to 64 KiB */
        seq_slot[i] = (uint32_t)((x >> 40) % LIVE);
    }
}

static double w_mixed(const impl *m) {
    for (int i = 0; i < LIVE; i++) live[i] = m->malloc(seq_size[i]);
    long n = SEQ / scale;
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        uint32_t s = seq_slot[i];
        m->free(live[s]);
        live[s] = m->malloc(seq_size[i]);
        *(volatile char *)live[s] = 1;
    }
    double ns = (now_ns() - t) / (double)n;
    for (int i = 0; i < LIVE; i++) m->free(live[i]);
    return ns;
}

/* Two threads; each allocates and sends blocks to the other, which frees them. */
enum { RING = 1024 };
typedef struct ring {
    _Alignas(64) _Atomic size_t head;
    _Alignas(64) _Atomic size_t tail;
    _Alignas(64) void *slot[RING];
} ring;

typedef struct xarg {
    const impl *m;
    ring *out, *in;
    long n;
} xarg;

static void *x_thread(void *p) {
    xarg *a = p;
    long sent = 0, got = 0;
    while (sent < a->n || got < a->n) {
        size_t h = atomic_load_explicit(&a->out->head, memory_order_relaxed);
        if (sent < a->n && h - atomic_load_explicit(&a->out->tail, memory_order_acquire) < RING) {
            void *b = a->m->malloc(16 + (size_t)(sent & 127) * 8);
            *(volatile char *)b = 1;
            a->out->slot[h % RING] = b;
            atomic_store_explicit(&a->out->head, h + 1, memory_order_release);
            sent++;
        }
        size_t t = atomic_load_explicit(&a->in->tail, memory_order_relaxed);
        if (t != atomic_load_explicit(&a->in->head, memory_order_acquire)) {
            a->m->free(a->in->slot[t % RING]);
            atomic_store_explicit(&a->in->tail, t + 1, memory_order_release);
            got++;
        }
    }
    return NULL;
}

static double w_xthread(const impl *m) {
    static ring r1, r2;
    atomic_store(&r1.head, 0);
    atomic_store(&r1.tail, 0);
    atomic_store(&r2.head, 0);
    atomic_store(&r2.tail, 0);
    long n = 500000 / scale;
    xarg a = {m, &r1, &r2, n}, b = {m, &r2, &r1, n};
    pthread_t ta, tb;
    double t = now_ns();
    pthread_create(&ta, NULL, x_thread, &a);
    pthread_create(&tb, NULL, x_thread, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    return (now_ns() - t) / (double)(2 * n);
}

typedef struct workload {
    const char *name;
    double (*run)(const impl *);
} workload;

static const workload workloads[] = {
    {"64 B LIFO", w_lifo64},         {"64 B LIFO, sized free", w_lifo64_sized},
    {"100K then free", w_batch},     {"mixed 16B-64K live", w_mixed},
    {"2 threads x-free", w_xthread},
};
#define NW (sizeof workloads / sizeof workloads[0])

/* ---- the backends called directly ------------------------------------------ */

#if ALLOY_HAVE_JEMALLOC
static void *je_malloc_direct(size_t n) {
    return mallocx(n, 0);
}
static void je_free_direct(void *p) {
    dallocx(p, 0);
}
static void je_free_sized_direct(void *p, size_t n) {
    sdallocx(p, n, 0);
}
#endif
static void libc_free_sized_direct(void *p, size_t n) {
    (void)n;
    free(p);
}

static void *sym(void *h, const char *name) {
    void *p = dlsym(h, name);
    if (p == NULL) {
        fprintf(stderr, "bench_heap: %s: %s\n", name, dlerror());
        exit(2);
    }
    return p;
}

static void fn_from(void *dst, void *h, const char *name) {
    void *p = sym(h, name);
    memcpy(dst, &p, sizeof p);
}

static impl direct_impl(const char *backend) {
    impl d = {"direct", malloc, free, libc_free_sized_direct};
#if ALLOY_HAVE_JEMALLOC
    if (strcmp(backend, "jemalloc") == 0) {
        d.malloc = je_malloc_direct;
        d.free = je_free_direct;
        d.free_sized = je_free_sized_direct;
        return d;
    }
#endif
    if (strcmp(backend, "mimalloc") == 0 || strcmp(backend, "tcmalloc") == 0) {
        bool mi = backend[0] == 'm';
        void *h =
            dlopen(mi ? "libmimalloc.so.2" : "libtcmalloc_minimal.so.4", RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            fprintf(stderr, "bench_heap: %s\n", dlerror());
            exit(2);
        }
        fn_from(&d.malloc, h, mi ? "mi_malloc" : "tc_malloc");
        fn_from(&d.free, h, mi ? "mi_free" : "tc_free");
        fn_from(&d.free_sized, h, mi ? "mi_free_size" : "tc_free_sized");
    }
    return d;
}

/* ---- one backend (child process) -------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run_backend(const char *backend, int rounds) {
    if (strcmp(alloy_backend_name(), backend) != 0) {
        fprintf(stderr, "bench_heap: asked for %s, alloy serves %s\n", backend,
                alloy_backend_name());
        return 2;
    }
    void *nostats = dlopen(ALLOY_BENCH_COPY_LIB, RTLD_NOW | RTLD_LOCAL);
    if (nostats == NULL) {
        fprintf(stderr, "bench_heap: %s\n", dlerror());
        return 2;
    }
    impl v[3];
    v[0] = direct_impl(backend);
    v[1] = (impl){"alloy, counters off", NULL, NULL, NULL};
    fn_from(&v[1].malloc, nostats, "alloy_malloc");
    fn_from(&v[1].free, nostats, "alloy_free");
    fn_from(&v[1].free_sized, nostats, "alloy_free_sized");
    v[2] = (impl){"alloy, counters on", alloy_malloc, alloy_free, alloy_free_sized};

    make_sequence();
    for (size_t w = 0; w < NW; w++) {
        double ns[3][64];
        for (int i = 0; i < 3; i++) workloads[w].run(&v[i]); /* warm up */
        for (int r = 0; r < rounds; r++)
            for (int k = 0; k < 3; k++) {
                int i = (r + k) % 3;
                ns[i][r] = workloads[w].run(&v[i]);
            }
        printf("%s", workloads[w].name);
        for (int i = 0; i < 3; i++) {
            qsort(ns[i], (size_t)rounds, sizeof(double), cmp_double);
            printf("\t%.2f", ns[i][rounds / 2]);
        }
        printf("\n");
        fflush(stdout);
    }
    return 0;
}

/* ---- parent: one child per backend, then the table ----------------------------- */

static void print_machine(void) {
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
    printf("machine: %s, %ld cores online\n", model, sysconf(_SC_NPROCESSORS_ONLN));
}

int main(int argc, char **argv) {
    int rounds = 11;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            scale = 4;
            rounds = 5;
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else {
            fprintf(stderr, "usage: bench_heap [--quick] [--rounds N] [--backend NAME]\n");
            return 2;
        }
    }
    if (rounds < 1 || rounds > 64) {
        fprintf(stderr, "bench_heap: --rounds must be 1..64\n");
        return 2;
    }
    if (getenv("ALLOY_BENCH_CHILD")) return run_backend(getenv("ALLOY_BACKEND"), rounds);

    Dl_info info;
    void *plain_malloc = dlsym(RTLD_DEFAULT, "malloc");
    if (!dladdr(plain_malloc, &info) || strstr(info.dli_fname, "libc.so") == NULL) {
        fprintf(stderr, "bench_heap: plain malloc is not glibc's\n");
        return 2;
    }
    print_machine();
    printf("ns per malloc+free pair, median of %d interleaved rounds; ratio = variant / direct\n\n",
           rounds);
    printf("| workload | backend | direct ns | alloy, counters off ns | ratio | alloy, counters on "
           "ns | ratio |\n");
    printf("|---|---|---:|---:|---:|---:|---:|\n");
    char list[64];
    snprintf(list, sizeof list, "%s", alloy_backend_list());
    int status_all = 0;
    for (char *save = NULL, *b = strtok_r(list, " ", &save); b; b = strtok_r(NULL, " ", &save)) {
        if (only && strcmp(only, b) != 0) continue;
        int fd[2];
        if (pipe(fd) != 0) return 2;
        pid_t pid = fork();
        if (pid == 0) {
            dup2(fd[1], 1);
            close(fd[0]);
            setenv("ALLOY_BACKEND", b, 1);
            setenv("ALLOY_BENCH_CHILD", "1", 1);
            execv("/proc/self/exe", argv);
            _exit(127);
        }
        close(fd[1]);
        FILE *in = fdopen(fd[0], "r");
        char line[256];
        while (fgets(line, sizeof line, in)) {
            char name[64];
            double d, off, on;
            if (sscanf(line, "%63[^\t]\t%lf\t%lf\t%lf", name, &d, &off, &on) == 4)
                printf("| %s | %s | %.2f | %.2f | %.3f | %.2f | %.3f |\n", name, b, d, off, off / d,
                       on, on / d);
            fflush(stdout);
        }
        fclose(in);
        int st;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "bench_heap: %s run failed\n", b);
            status_all = 1;
        }
    }
    return status_all;
}
