/* SPDX-License-Identifier: MIT */
/* bench/bench_heap.c - ns per malloc+free pair: each backend through its own
 * entry points, and through alloy with no layer, with the counting layer, and
 * a Redis-zmalloc-style counting wrapper as the counting layer's peer.
 *
 *   bench_heap [--quick] [--rounds N] [--backend NAME]
 *   bench_heap --pairs N --variant V [--sized]    (one variant, for callgrind)
 *
 * The backend is fixed when alloy starts, so the parent runs one child per
 * backend (its own command line again, ALLOY_BACKEND=<name>) and prints the
 * table. Inside a child the variants run in interleaved rounds (rotating
 * order) so drift and noise hit them alike; the table shows each median and
 * its ratio to the backend's own entry points, and an A/A column (the direct
 * variant against itself) that shows the noise of the run.
 */
#include "bench_common.h"

#include <alloy.h>
#include <alloy/layer.h>

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

/* ---- the variants ------------------------------------------------------------- */

enum { V_DIRECT, V_AA, V_ALLOY, V_COUNT, V_PEER, V_CURRENT, NV };
static const char *const variant_names[NV] = {"direct", "direct-again", "alloy",
                                              "count",  "peer",         "current"};
static bench_impl v[NV];

/* The peer: what Redis's zmalloc does around its allocator, with per-thread
 * counters padded to a cache line (summed on read, never shared on the hot
 * path) and the backend's usable size looked up on every unsized free. It
 * counts the requested size on allocation (Redis also looks the usable size up
 * there; skipping it makes this peer faster, so a stricter bar). */
typedef struct peer_counters {
    _Alignas(64) uint64_t alloc_count, alloc_bytes, free_count, free_bytes;
} peer_counters;
static __thread peer_counters peer_tc __attribute__((tls_model("initial-exec")));
static bench_impl peer_be;

#define PEER_ADD(field, n)                                                                         \
    __atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)

static void *peer_malloc(size_t n) {
    void *p = peer_be.malloc(n);
    if (__builtin_expect(p != NULL, 1)) {
        PEER_ADD(peer_tc.alloc_count, 1);
        PEER_ADD(peer_tc.alloc_bytes, n);
    }
    return p;
}
static void peer_free(void *p) {
    if (p == NULL) return;
    PEER_ADD(peer_tc.free_count, 1);
    PEER_ADD(peer_tc.free_bytes, peer_be.usable(p));
    peer_be.free(p);
}
static void peer_free_sized(void *p, size_t n) {
    if (p == NULL) return;
    PEER_ADD(peer_tc.free_count, 1);
    PEER_ADD(peer_tc.free_bytes, n);
    peer_be.free_sized(p, n);
}

/* ---- workloads ---------------------------------------------------------------- */

static long scale = 1; /* --quick divides the work */

/* The LIFO rows keep one other block of the same size live, as a program does:
 * without it every free empties the page, which mimalloc retires each time. */
static double w_lifo64(const bench_impl *m) {
    long n = 2000000 / scale;
    void *keep = m->malloc(64);
    double t = bench_now_ns();
    for (long i = 0; i < n; i++) {
        volatile char *p = m->malloc(64);
        p[0] = 1;
        m->free((void *)p);
    }
    t = (bench_now_ns() - t) / (double)n;
    m->free(keep);
    return t;
}

/* What a runtime that knows its object sizes does: the sized free. */
static double w_lifo64_sized(const bench_impl *m) {
    long n = 2000000 / scale;
    void *keep = m->malloc(64);
    double t = bench_now_ns();
    for (long i = 0; i < n; i++) {
        volatile char *p = m->malloc(64);
        p[0] = 1;
        m->free_sized((void *)p, 64);
    }
    t = (bench_now_ns() - t) / (double)n;
    m->free(keep);
    return t;
}

/* The allocator value: alloy_alloc over this thread's current allocator (the
 * default heap, no layer), inline as a program writes it. Always sized. */
static double w_current64(void) {
    long n = 2000000 / scale;
    void *keep = alloy_alloc(alloy_current(), 64, 16);
    double t = bench_now_ns();
    for (long i = 0; i < n; i++) {
        volatile char *p = alloy_alloc(alloy_current(), 64, 16);
        p[0] = 1;
        alloy_dealloc(alloy_current(), (void *)p, 64, 16);
    }
    t = (bench_now_ns() - t) / (double)n;
    alloy_dealloc(alloy_current(), keep, 64, 16);
    return t;
}

enum { BATCH = 100000 };
static void *batch[BATCH];

static double w_batch(const bench_impl *m) {
    long reps = 10 / scale + 1;
    double t = bench_now_ns();
    for (long r = 0; r < reps; r++) {
        for (int i = 0; i < BATCH; i++) {
            batch[i] = m->malloc(64);
            *(volatile char *)batch[i] = 1;
        }
        for (int i = 0; i < BATCH; i++) m->free(batch[i]);
    }
    return (bench_now_ns() - t) / (double)(reps * BATCH);
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

static double w_mixed(const bench_impl *m) {
    for (int i = 0; i < LIVE; i++) live[i] = m->malloc(seq_size[i]);
    long n = SEQ / scale;
    double t = bench_now_ns();
    for (long i = 0; i < n; i++) {
        uint32_t s = seq_slot[i];
        m->free(live[s]);
        live[s] = m->malloc(seq_size[i]);
        *(volatile char *)live[s] = 1;
    }
    double ns = (bench_now_ns() - t) / (double)n;
    for (int i = 0; i < LIVE; i++) m->free(live[i]);
    return ns;
}

/* Two threads; each allocates and sends blocks to the other, which frees them. */
enum { RING = BENCH_RING };
typedef bench_ring ring;

typedef struct xarg {
    const bench_impl *m;
    ring *out, *in;
    long n;
} xarg;

static void *x_thread(void *p) {
    xarg *a = p;
    long sent = 0, got = 0;
    while (sent < a->n || got < a->n) {
        bool idle = true; /* neither sent nor freed: let the other thread run */
        size_t h = atomic_load_explicit(&a->out->head, memory_order_relaxed);
        if (sent < a->n && h - atomic_load_explicit(&a->out->tail, memory_order_acquire) < RING) {
            idle = false;
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
            idle = false;
        }
        if (idle) sched_yield();
    }
    return NULL;
}

static double w_xthread(const bench_impl *m) {
    static ring r1, r2;
    atomic_store(&r1.head, 0);
    atomic_store(&r1.tail, 0);
    atomic_store(&r2.head, 0);
    atomic_store(&r2.tail, 0);
    long n = 500000 / scale;
    xarg a = {m, &r1, &r2, n}, b = {m, &r2, &r1, n};
    pthread_t ta, tb;
    double t = bench_now_ns();
    pthread_create(&ta, NULL, x_thread, &a);
    pthread_create(&tb, NULL, x_thread, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    return (bench_now_ns() - t) / (double)(2 * n);
}

typedef struct workload {
    const char *name;
    double (*run)(const bench_impl *);
    bool has_current;    /* the allocator-value variant runs on this row */
    double count_target; /* counting layer over direct, mimalloc (0: none) */
} workload;

static const workload workloads[] = {
    {"64 B LIFO", w_lifo64, true, 1.35},
    {"64 B LIFO, sized free", w_lifo64_sized, true, 1.20},
    {"100K then free", w_batch, false, 0},
    {"mixed 16B-64K live", w_mixed, false, 0},
    {"2 threads x-free", w_xthread, false, 0},
};
#define NW (sizeof workloads / sizeof workloads[0])

/* ---- one backend (a child process, or --pairs) ---------------------------------- */

static void describe(void *lib, char *buf, size_t len) {
    size_t (*fn)(char *, size_t) = alloy_layer_describe;
    if (lib != NULL) bench_fn(&fn, lib, "alloy_layer_describe");
    fn(buf, len);
}

/* Fill v[] for backend; false (with a message) if alloy serves another. */
static bool setup(const char *backend) {
    if (strcmp(alloy_backend_name(), backend) != 0) {
        fprintf(stderr, "bench_heap: asked for %s, alloy serves %s\n", backend,
                alloy_backend_name());
        return false;
    }
    v[V_DIRECT] = bench_backend_direct(backend);
    v[V_AA] = v[V_DIRECT];
    peer_be = v[V_DIRECT];
    v[V_ALLOY] = (bench_impl){"alloy", alloy_malloc, alloy_free, alloy_free_sized, NULL};
    v[V_PEER] = (bench_impl){"peer", peer_malloc, peer_free, peer_free_sized, NULL};
    v[V_CURRENT] = v[V_ALLOY]; /* runs w_current64 instead where it applies */
    /* The second copy of liballoy, with its own state: the counting layer goes
     * on it before it allocates, while the linked copy keeps no layer. */
    void *copy = dlopen(ALLOY_BENCH_COPY_LIB, RTLD_NOW | RTLD_LOCAL);
    if (copy == NULL) {
        fprintf(stderr, "bench_heap: %s\n", dlerror());
        return false;
    }
    bool (*push)(alloy_layer);
    bench_fn(&push, copy, "alloy_layer_push");
    if (!push(ALLOY_LAYER_COUNT)) {
        fprintf(stderr, "bench_heap: the counting layer did not go on\n");
        return false;
    }
    v[V_COUNT] = (bench_impl){"count", NULL, NULL, NULL, NULL};
    bench_fn(&v[V_COUNT].malloc, copy, "alloy_malloc");
    bench_fn(&v[V_COUNT].free, copy, "alloy_free");
    bench_fn(&v[V_COUNT].free_sized, copy, "alloy_free_sized");
    char a[128], c[128];
    describe(NULL, a, sizeof a);
    describe(copy, c, sizeof c);
    if (strcmp(a, backend) != 0 || strstr(c, "count") == NULL) {
        fprintf(stderr, "bench_heap: layers are \"%s\" and \"%s\"\n", a, c);
        return false;
    }
    if (getenv("ALLOY_BENCH_CHILD")) printf("#%s: alloy \"%s\", count \"%s\"\n", backend, a, c);
    return true;
}

static int run_backend(const char *backend, int rounds) {
    if (!setup(backend)) return 2;
    make_sequence();
    for (size_t w = 0; w < NW; w++) {
        static double ns[NV][64];
        int nv = workloads[w].has_current ? NV : NV - 1;
        for (int i = 0; i < nv; i++) /* warm up */
            i == V_CURRENT ? w_current64() : workloads[w].run(&v[i]);
        for (int r = 0; r < rounds; r++)
            for (int k = 0; k < nv; k++) {
                int i = (r + k) % nv;
                ns[i][r] = i == V_CURRENT ? w_current64() : workloads[w].run(&v[i]);
            }
        printf("%s", workloads[w].name);
        for (int i = 0; i < NV; i++) printf("\t%.3f", i < nv ? bench_median(ns[i], rounds) : NAN);
        printf("\n");
        fflush(stdout);
    }
    return 0;
}

/* --pairs N: N malloc(64)+free pairs of one variant and nothing else, so that
 * callgrind's instruction count over N and 2N pairs gives the cost of one. */
static int run_pairs(const char *variant, long pairs, bool sized) {
    const char *backend = getenv("ALLOY_BACKEND") ? getenv("ALLOY_BACKEND") : alloy_backend_name();
    if (!setup(backend)) return 2;
    int i = 0;
    while (i < NV && strcmp(variant_names[i], variant) != 0) i++;
    if (i == NV || i == V_AA) {
        fprintf(stderr, "bench_heap: unknown variant %s\n", variant);
        return 2;
    }
    void *keep = v[i == V_CURRENT ? V_ALLOY : i].malloc(64); /* as the LIFO rows */
    if (i == V_CURRENT) {
        for (long k = 0; k < pairs; k++) {
            volatile char *p = alloy_alloc(alloy_current(), 64, 16);
            p[0] = 1;
            alloy_dealloc(alloy_current(), (void *)p, 64, 16);
        }
        v[V_ALLOY].free(keep);
        return 0;
    }
    const bench_impl *m = &v[i];
    for (long k = 0; k < pairs; k++) {
        volatile char *p = m->malloc(64);
        p[0] = 1;
        if (sized)
            m->free_sized((void *)p, 64);
        else
            m->free((void *)p);
    }
    m->free(keep);
    return 0;
}

/* ---- parent: one child per backend, then the table --------------------------------- */

typedef struct row {
    char name[64], backend[16];
    double ns[NV];
    double count_target;
} row;

static row rows[64];
static int nrows;

static void usage(FILE *to) {
    fprintf(to, "usage: bench_heap [--quick] [--rounds N] [--backend NAME]\n"
                "       bench_heap --pairs N --variant direct|alloy|count|peer|current [--sized]\n"
                "Prints ns per malloc+free pair for each backend: its own entry points (direct),\n"
                "alloy with no layer, alloy with the counting layer, a zmalloc-style counting\n"
                "wrapper (peer) and alloy_alloc over alloy_current(); medians of interleaved\n"
                "rounds and ratios to direct. --quick: fewer, shorter rounds (under ~10 s).\n"
                "--pairs: run N pairs of one variant and exit (see bench/callgrind_pairs.sh);\n"
                "the backend is ALLOY_BACKEND's.\n");
}

/* One line of the target summary: how many rows meet it and which do not. */
static int summarize(const char *what, int a, int b, double limit, bool additive) {
    int met = 0, n = 0;
    char missed[2048] = "";
    size_t used = 0;
    for (int r = 0; r < nrows; r++) {
        double x = rows[r].ns[a], y = b >= 0 ? rows[r].ns[b] : 0;
        double lim = limit;
        if (limit < 0) { /* the per-row mimalloc target */
            if (strcmp(rows[r].backend, "mimalloc") != 0 || rows[r].count_target == 0) continue;
            lim = rows[r].count_target;
        }
        if (isnan(x) || isnan(y)) continue;
        double q = additive ? x - y : b >= 0 ? x / y : x;
        n++;
        if (q <= lim) {
            met++;
        } else if (used < sizeof missed - 80) {
            used += (size_t)snprintf(missed + used, sizeof missed - used, "%s%s/%s %.2f%s",
                                     used ? "; " : "", rows[r].name, rows[r].backend, q,
                                     additive ? " ns" : "x");
        }
    }
    printf("  %-58s met on %d of %d rows%s%s\n", what, met, n, used ? "; not met: " : "", missed);
    return n - met;
}

int main(int argc, char **argv) {
    bench_opts o = {.usage = usage};
    bool sized = false;
    const char *variant = NULL;
    long pairs = 0;
    for (int i = 1; i < argc; i++) {
        if (bench_common_option(argc, argv, &i, &o)) continue;
        if (strcmp(argv[i], "--pairs") == 0 && i + 1 < argc) {
            pairs = atol(argv[++i]);
        } else if (strcmp(argv[i], "--variant") == 0 && i + 1 < argc) {
            variant = argv[++i];
        } else if (strcmp(argv[i], "--sized") == 0) {
            sized = true;
        } else {
            usage(stderr);
            return 2;
        }
    }
    int rounds = o.rounds ? o.rounds : o.quick ? 5 : 11;
    const char *only = o.only;
    if (o.quick) scale = 4;
    if (pairs > 0 || variant != NULL) {
        if (pairs <= 0 || variant == NULL) {
            usage(stderr);
            return 2;
        }
        return run_pairs(variant, pairs, sized);
    }
    if (getenv("ALLOY_BENCH_CHILD")) return run_backend(getenv("ALLOY_BACKEND"), rounds);

    double load = bench_load1();
    bench_print_machine();
    printf("ns per malloc+free pair, median of %d interleaved rounds; x = variant / direct\n"
           "direct: the backend's own entry points; A/A: direct against itself (the noise);\n"
           "alloy: no layer; count: counting layer; peer: zmalloc-style counting wrapper;\n"
           "current: alloy_alloc(alloy_current(), 64, 16) + alloy_dealloc, +ns over direct\n\n",
           rounds);
    printf("| workload | backend | direct ns | A/A | alloy ns | x | count ns | x | peer ns | x | "
           "count/peer | current ns | +ns |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    char list[64], notes[8][160];
    int nnotes = 0;
    snprintf(list, sizeof list, "%s", alloy_backend_list());
    int status_all = 0;
    for (char *save = NULL, *b = strtok_r(list, " ", &save); b; b = strtok_r(NULL, " ", &save)) {
        if (only && strcmp(only, b) != 0) continue;
        pid_t pid;
        FILE *in = bench_spawn(b, &pid);
        if (in == NULL) return 2;
        char line[512];
        while (fgets(line, sizeof line, in)) {
            if (line[0] == '#') {
                if (nnotes < 8) snprintf(notes[nnotes++], sizeof notes[0], "%.150s", line + 1);
                continue;
            }
            row *r = &rows[nrows];
            char *tab = strchr(line, '\t');
            if (tab == NULL || nrows == 64) continue;
            snprintf(r->name, sizeof r->name, "%.*s", (int)(tab - line), line);
            snprintf(r->backend, sizeof r->backend, "%s", b);
            char *s = tab;
            for (int i = 0; i < NV; i++) r->ns[i] = strtod(s, &s);
            for (size_t w = 0; w < NW; w++)
                if (strcmp(workloads[w].name, r->name) == 0)
                    r->count_target = workloads[w].count_target;
            const double *x = r->ns, d = x[V_DIRECT];
            printf("| %s | %s | %.2f | %.3f | %.2f | %.3f | %.2f | %.3f | %.2f | %.3f | %.3f |",
                   r->name, b, d, x[V_AA] / d, x[V_ALLOY], x[V_ALLOY] / d, x[V_COUNT],
                   x[V_COUNT] / d, x[V_PEER], x[V_PEER] / d, x[V_COUNT] / x[V_PEER]);
            if (isnan(x[V_CURRENT]))
                printf(" - | - |\n");
            else
                printf(" %.2f | %+.2f |\n", x[V_CURRENT], x[V_CURRENT] - d);
            fflush(stdout);
            nrows++;
        }
        fclose(in);
        status_all |= bench_wait(pid, b);
    }
    printf("\n");
    for (int i = 0; i < nnotes; i++) printf("layers: %s", notes[i]);
    printf("\ntargets (the same run)\n");
    summarize("no layer (alloy) <= 1.05x direct", V_ALLOY, V_DIRECT, 1.05, false);
    summarize("counting layer <= peer (count/peer <= 1.00)", V_COUNT, V_PEER, 1.0, false);
    summarize("counting layer, mimalloc: <= 1.35x unsized, <= 1.20x sized", V_COUNT, V_DIRECT, -1,
              false);
    summarize("current allocator (alloy_alloc) <= +2 ns over direct", V_CURRENT, V_DIRECT, 2.0,
              true);
    double worst = 0;
    for (int r = 0; r < nrows; r++)
        worst = fmax(worst, fabs(rows[r].ns[V_AA] / rows[r].ns[V_DIRECT] - 1));
    bench_print_noise(worst, load, 1, o.quick);
    return status_all;
}
