/* SPDX-License-Identifier: MIT */
/* bench/bench_alloc.c - allocator values against the heap and the backends.
 *
 * Every case runs once per round, cases interleaved, for a number of rounds;
 * the table shows each case's median and its ratio to the case it is judged
 * against, all measured in the same run, followed by the targets
 * checked against those medians.
 *
 *   bench_alloc [--rounds N] [--quick]
 *
 * Cases: arena warm (after reset) and cold (fresh chunks, every block
 * touched) against touching fresh pages with nothing else; pool and shared
 * pool pairs; the shared pool with every block freed by the other of two
 * threads against the same pattern over mimalloc, the routed API and glibc;
 * the current-allocator call against mimalloc called directly.
 */
#define _GNU_SOURCE
#include <alloy.h>

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define N_ALLOC 100000 /* allocations per arena case, per the issue */
#define N_PAIR 100000  /* pairs per pair case */
#define SIZE 64

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Keep p alive in a register without forcing anything through memory. */
static inline void escape(void *p) {
    __asm__ volatile("" : : "r"(p));
}

/* ---- mimalloc and glibc, called directly --------------------------------- */

static void *(*mi_malloc_fn)(size_t);
static void (*mi_free_fn)(void *);

static void load_mimalloc(void) {
    void *h = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) return;
    *(void **)&mi_malloc_fn = dlsym(h, "mi_malloc");
    *(void **)&mi_free_fn = dlsym(h, "mi_free");
}

/* ---- fresh pages as a parent: every chunk is new memory from the kernel --- */

static void *pages_alloc(void *ctx, size_t size, size_t align) {
    (void)ctx, (void)align; /* mmap is page-aligned; the arena asks for 16 */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}
static void pages_free(void *ctx, void *p, size_t size, size_t align) {
    (void)ctx, (void)align;
    munmap(p, size);
}
static const alloy_vtable pages_vtable = {pages_alloc, alloy_no_resize, alloy_no_remap,
                                          pages_free,  alloy_no_reset,  alloy_no_stats};
static const alloy_allocator pages = {NULL, &pages_vtable};

/* ---- cases --------------------------------------------------------------- */

static alloy_arena warm_arena;

static double arena_warm_inline(void) {
    alloy_arena_reset(&warm_arena, ALLOY_ARENA_RETAIN);
    double t = now_ns();
    for (int i = 0; i < N_ALLOC; i++) escape(alloy_arena_alloc(&warm_arena, SIZE, 8));
    return (now_ns() - t) / N_ALLOC;
}

static double arena_warm_interface(void) {
    alloy_arena_reset(&warm_arena, ALLOY_ARENA_RETAIN);
    alloy_allocator a = alloy_arena_allocator(&warm_arena);
    double t = now_ns();
    for (int i = 0; i < N_ALLOC; i++) escape(alloy_alloc(a, SIZE, 8));
    return (now_ns() - t) / N_ALLOC;
}

/* Cold: a new arena, each block written once (first touch of fresh pages), deinit. */
static double arena_cold(alloy_allocator parent) {
    double t = now_ns();
    alloy_arena a;
    alloy_arena_init(&a, parent, (size_t)64 << 10);
    for (int i = 0; i < N_ALLOC; i++) {
        long *p = alloy_arena_alloc(&a, SIZE, 8);
        *p = i;
    }
    alloy_arena_deinit(&a);
    return (now_ns() - t) / N_ALLOC;
}
static double arena_cold_heap(void) {
    return arena_cold(alloy_heap());
}
static double arena_cold_pages(void) {
    return arena_cold(pages);
}

/* The floor: map the same bytes fresh, write the same words, unmap. */
static double raw_fresh_pages(void) {
    double t = now_ns();
    size_t len = (size_t)N_ALLOC * SIZE;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) abort();
    for (int i = 0; i < N_ALLOC; i++) *(long *)(m + (size_t)i * SIZE) = i;
    munmap(m, len);
    return (now_ns() - t) / N_ALLOC;
}

static alloy_pool pool;
static alloy_shared_pool spool;

static double pool_inline(void) {
    double t = now_ns();
    for (int i = 0; i < N_PAIR; i++) {
        void *p = alloy_pool_alloc(&pool);
        escape(p);
        alloy_pool_free(&pool, p);
    }
    return (now_ns() - t) / N_PAIR;
}

static double pool_interface(void) {
    alloy_allocator a = alloy_pool_allocator(&pool);
    double t = now_ns();
    for (int i = 0; i < N_PAIR; i++) {
        void *p = alloy_alloc(a, SIZE, 8);
        escape(p);
        alloy_dealloc(a, p, SIZE, 8);
    }
    return (now_ns() - t) / N_PAIR;
}

static double shared_pool_pair(void) {
    double t = now_ns();
    for (int i = 0; i < N_PAIR; i++) {
        void *p = alloy_shared_pool_alloc(&spool);
        escape(p);
        alloy_shared_pool_free(&spool, p);
    }
    return (now_ns() - t) / N_PAIR;
}

static double current_pair(void) {
    double t = now_ns();
    for (int i = 0; i < N_PAIR; i++) {
        void *p = alloy_alloc(alloy_current(), SIZE, 8);
        escape(p);
        alloy_dealloc(alloy_current(), p, SIZE, 8);
    }
    return (now_ns() - t) / N_PAIR;
}

/* The same call with the mimalloc backend value (uncounted) as the current allocator:
 * what the lookup and dispatch cost without the routed API's counters. */
static alloy_allocator mi_value;
static double current_backend_pair(void) {
    alloy_allocator prev = alloy_set_current(mi_value);
    double r = current_pair();
    alloy_set_current(prev);
    return r;
}

static double mimalloc_pair(void) {
    double t = now_ns();
    for (int i = 0; i < N_PAIR; i++) {
        void *p = mi_malloc_fn(SIZE);
        escape(p);
        mi_free_fn(p);
    }
    return (now_ns() - t) / N_PAIR;
}

static double routed_pair(void) {
    double t = now_ns();
    for (int i = 0; i < N_PAIR; i++) {
        void *p = alloy_malloc(SIZE);
        escape(p);
        alloy_free_sized(p, SIZE);
    }
    return (now_ns() - t) / N_PAIR;
}

static double glibc_pair(void) {
    double t = now_ns();
    for (int i = 0; i < N_PAIR; i++) {
        void *p = malloc(SIZE);
        escape(p);
        free(p);
    }
    return (now_ns() - t) / N_PAIR;
}

/* ---- cross-thread: each of two threads allocates batches and the other frees them */

#define BATCH 256
#define BATCHES 100

typedef enum { X_SPOOL, X_MIMALLOC, X_ROUTED, X_GLIBC } xkind;

typedef struct xchan {
    void *box; /* a full batch waiting for the other thread (atomic) */
    char pad[64];
} xchan;

typedef struct xshared {
    xkind kind;
    xchan chan[2]; /* chan[i]: batches for thread i to free */
    pthread_barrier_t start;
} xshared;

typedef struct xarg {
    xshared *s;
    int id;
} xarg;

static inline void *x_alloc(xkind k) {
    switch (k) {
    case X_SPOOL:
        return alloy_shared_pool_alloc(&spool);
    case X_MIMALLOC:
        return mi_malloc_fn(SIZE);
    case X_ROUTED:
        return alloy_malloc(SIZE);
    default:
        return malloc(SIZE);
    }
}

static inline void x_free(xkind k, void *p) {
    switch (k) {
    case X_SPOOL:
        alloy_shared_pool_free(&spool, p);
        break;
    case X_MIMALLOC:
        mi_free_fn(p);
        break;
    case X_ROUTED:
        alloy_free_sized(p, SIZE);
        break;
    default:
        free(p);
        break;
    }
}

static void wait_until(void **box, bool want_full) {
    for (unsigned spins = 0; (__atomic_load_n(box, __ATOMIC_ACQUIRE) != NULL) != want_full;)
        if (++spins > 64) sched_yield(); /* the machine may be shared */
}

static void *x_thread(void *p) {
    xarg *a = p;
    xshared *s = a->s;
    xkind k = s->kind;
    void *bufs[2][BATCH];
    void **out = &s->chan[1 - a->id].box, **in = &s->chan[a->id].box;
    pthread_barrier_wait(&s->start);
    for (int b = 0; b < BATCHES; b++) {
        void **buf = bufs[b & 1];
        for (int i = 0; i < BATCH; i++) {
            buf[i] = x_alloc(k);
            *(long *)buf[i] = i;
        }
        wait_until(out, false);
        __atomic_store_n(out, buf, __ATOMIC_RELEASE);
        wait_until(in, true);
        void **got = __atomic_load_n(in, __ATOMIC_ACQUIRE);
        for (int i = 0; i < BATCH; i++) x_free(k, got[i]);
        __atomic_store_n(in, NULL, __ATOMIC_RELEASE);
    }
    wait_until(out, false); /* the other thread is done with our buffers */
    if (k == X_SPOOL) alloy_shared_pool_flush(&spool);
    return NULL;
}

static double cross_thread(xkind k) {
    static xshared s;
    memset(&s, 0, sizeof s);
    s.kind = k;
    pthread_barrier_init(&s.start, NULL, 3);
    pthread_t th[2];
    xarg args[2] = {{&s, 0}, {&s, 1}};
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, x_thread, &args[i]);
    pthread_barrier_wait(&s.start);
    double t = now_ns();
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    double el = now_ns() - t;
    pthread_barrier_destroy(&s.start);
    return el / (2.0 * BATCH * BATCHES);
}
static double x_spool(void) {
    return cross_thread(X_SPOOL);
}
static double x_mimalloc(void) {
    return cross_thread(X_MIMALLOC);
}
static double x_routed(void) {
    return cross_thread(X_ROUTED);
}
static double x_glibc(void) {
    return cross_thread(X_GLIBC);
}

/* ---- the table ----------------------------------------------------------- */

typedef struct bcase {
    const char *group, *name, *unit;
    double (*run)(void);
    int ref; /* index of the case it is compared with, or -1 */
    bool needs_mimalloc;
    double *samples, median;
} bcase;

enum {
    C_WARM_INLINE,
    C_WARM_IFACE,
    C_COLD_PAGES,
    C_RAW_PAGES,
    C_COLD_HEAP,
    C_POOL_INLINE,
    C_POOL_IFACE,
    C_SPOOL_PAIR,
    C_X_SPOOL,
    C_X_MI,
    C_X_ROUTED,
    C_X_GLIBC,
    C_CURRENT,
    C_CURRENT_BE,
    C_MI,
    C_ROUTED,
    C_GLIBC,
    C_COUNT
};

static bcase cases[C_COUNT] = {
    [C_WARM_INLINE] = {"arena", "warm, alloy_arena_alloc (inline)", "alloc", arena_warm_inline,
                       C_MI, 0, 0, 0},
    [C_WARM_IFACE] = {"arena", "warm, alloy_alloc (interface)", "alloc", arena_warm_interface, C_MI,
                      0, 0, 0},
    [C_COLD_PAGES] = {"arena", "cold, fresh chunks from mmap, touched", "alloc", arena_cold_pages,
                      C_RAW_PAGES, 0, 0, 0},
    [C_RAW_PAGES] = {"arena", "raw: mmap + touch same bytes + munmap", "64 B", raw_fresh_pages, -1,
                     0, 0, 0},
    [C_COLD_HEAP] = {"arena", "cold, fresh chunks from alloy_heap(), touched", "alloc",
                     arena_cold_heap, C_RAW_PAGES, 0, 0, 0},
    [C_POOL_INLINE] = {"pool", "alloy_pool_alloc+free (inline)", "pair", pool_inline, C_MI, 0, 0,
                       0},
    [C_POOL_IFACE] = {"pool", "alloy_alloc+dealloc (interface)", "pair", pool_interface, C_MI, 0, 0,
                      0},
    [C_SPOOL_PAIR] = {"pool", "shared pool alloc+free, 1 thread", "pair", shared_pool_pair, C_MI, 0,
                      0, 0},
    [C_X_SPOOL] = {"x-thread", "shared pool, freed by other thread", "block", x_spool, C_X_MI, 0, 0,
                   0},
    [C_X_MI] = {"x-thread", "mimalloc mi_malloc/mi_free direct", "block", x_mimalloc, -1, 1, 0, 0},
    [C_X_ROUTED] = {"x-thread", "alloy_malloc/alloy_free_sized (routed)", "block", x_routed, C_X_MI,
                    0, 0, 0},
    [C_X_GLIBC] = {"x-thread", "glibc malloc/free", "block", x_glibc, C_X_MI, 0, 0, 0},
    [C_CURRENT] = {"current", "alloy_alloc(alloy_current())+dealloc", "pair", current_pair, C_MI, 0,
                   0, 0},
    [C_CURRENT_BE] = {"current", "same, current = mimalloc backend value", "pair",
                      current_backend_pair, C_MI, 1, 0, 0},
    [C_MI] = {"scale", "mimalloc mi_malloc+mi_free direct", "pair", mimalloc_pair, -1, 1, 0, 0},
    [C_ROUTED] = {"scale", "alloy_malloc+alloy_free_sized (routed)", "pair", routed_pair, C_MI, 0,
                  0, 0},
    [C_GLIBC] = {"scale", "glibc malloc+free", "pair", glibc_pair, C_MI, 0, 0, 0},
};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static bool met(double v, double limit) {
    return v <= limit;
}

int main(int argc, char **argv) {
    int rounds = 31;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            rounds = 5;
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else {
            bool help = strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
            fprintf(
                help ? stdout : stderr,
                "usage: %s [--rounds N] [--quick] [--help]\n"
                "Times the allocator values (arena, pool, shared pool, current allocator)\n"
                "against mimalloc and glibc, N interleaved rounds (default 31; --quick: 5),\n"
                "and prints medians, ratios and the performance goals with what was measured.\n",
                argv[0]);
            return help ? 0 : 2;
        }
    }
    if (rounds < 1) rounds = 1;
    load_mimalloc();
    bool have_mi = mi_malloc_fn != NULL && mi_free_fn != NULL &&
                   alloy_backend_allocator("mimalloc", &mi_value);
    alloy_arena_init(&warm_arena, alloy_heap(), (size_t)64 << 10);
    if (!alloy_pool_init(&pool, alloy_heap(), SIZE, 8) ||
        !alloy_shared_pool_init(&spool, alloy_heap(), SIZE, 8))
        return 1;
    /* Warm everything once: the first warm arena pass takes its chunks. */
    for (int c = 0; c < C_COUNT; c++) {
        cases[c].samples = calloc((size_t)rounds, sizeof(double));
        if (!cases[c].needs_mimalloc || have_mi) (void)cases[c].run();
    }
    for (int r = 0; r < rounds; r++)
        for (int c = 0; c < C_COUNT; c++)
            if (!cases[c].needs_mimalloc || have_mi) cases[c].samples[r] = cases[c].run();
    for (int c = 0; c < C_COUNT; c++) {
        qsort(cases[c].samples, (size_t)rounds, sizeof(double), cmp_double);
        cases[c].median = cases[c].samples[rounds / 2];
    }

    printf("bench_alloc: backend %s %s, %d interleaved rounds, median ns per unit; "
           "ratio = case / reference\n\n",
           alloy_backend_name(), alloy_backend_version(), rounds);
    printf("%-9s %-46s %-6s %9s %8s  %s\n", "group", "case", "unit", "median", "ratio",
           "reference");
    for (int c = 0; c < C_COUNT; c++) {
        bcase *k = &cases[c];
        if (k->needs_mimalloc && !have_mi) continue;
        printf("%-9s %-46s %-6s %9.2f", k->group, k->name, k->unit, k->median);
        if (k->ref >= 0 && (!cases[k->ref].needs_mimalloc || have_mi))
            printf(" %8.2f  %s\n", k->median / cases[k->ref].median, cases[k->ref].name);
        else
            printf(" %8s\n", "-");
    }

    double cold_ratio = cases[C_COLD_PAGES].median / cases[C_RAW_PAGES].median;
    printf("\nperformance goals: measured, goal, verdict\n");
    printf("  arena warm inline        %6.2f ns/alloc  <= 0.50        %s\n",
           cases[C_WARM_INLINE].median, met(cases[C_WARM_INLINE].median, 0.5) ? "met" : "NOT met");
    printf("  arena warm interface     %6.2f ns/alloc  <= 1.50        %s\n",
           cases[C_WARM_IFACE].median, met(cases[C_WARM_IFACE].median, 1.5) ? "met" : "NOT met");
    printf("  arena cold / raw pages   %6.2f x         <= 1.20        %s\n", cold_ratio,
           met(cold_ratio, 1.2) ? "met" : "NOT met");
    printf("  pool pair inline         %6.2f ns/pair   <= 1.00        %s\n",
           cases[C_POOL_INLINE].median, met(cases[C_POOL_INLINE].median, 1.0) ? "met" : "NOT met");
    printf("  pool pair interface      %6.2f ns/pair   <= 2.50        %s\n",
           cases[C_POOL_IFACE].median, met(cases[C_POOL_IFACE].median, 2.5) ? "met" : "NOT met");
    if (have_mi) {
        double x = cases[C_X_SPOOL].median / cases[C_X_MI].median;
        double d = cases[C_CURRENT].median - cases[C_MI].median;
        printf("  x-thread shared pool     %6.2f x mimalloc < 1.00      %s\n", x,
               x < 1.0 ? "met" : "NOT met");
        double db = cases[C_CURRENT_BE].median - cases[C_MI].median;
        printf("  current vs mimalloc      %+6.2f ns/pair   <= +2.00       %s (heap value%s)\n", d,
               met(d, 2.0) ? "met" : "NOT met",
               strcmp(alloy_backend_name(), "mimalloc") == 0 ? " over mimalloc"
                                                             : ", backend is not mimalloc");
        printf("  current vs mimalloc      %+6.2f ns/pair   <= +2.00       %s (mimalloc backend "
               "value)\n",
               db, met(db, 2.0) ? "met" : "NOT met");
    }
    alloy_arena_deinit(&warm_arena);
    alloy_pool_deinit(&pool);
    alloy_shared_pool_deinit(&spool);
    for (int c = 0; c < C_COUNT; c++) free(cases[c].samples);
    return 0;
}
