/* SPDX-License-Identifier: MIT */
/* bench/bench_threads.c - multi-threaded throughput: each thread keeps 256
 * live blocks of random size 16-1024 B and replaces one at random, through
 * each backend's own entry points and through alloy with no layer, at 1, 2
 * and the machine's core count of threads (or --threads LIST).
 *
 *   bench_threads [--quick] [--rounds N] [--backend NAME] [--threads 1,2,4]
 *
 * local: a thread frees its own blocks. x-free: the block a thread replaces
 * goes to the next thread (a ring of threads), which frees it. One child per
 * backend (ALLOY_BACKEND=<name>); in it the variants run in interleaved
 * rounds, and the direct variant also runs against itself (A/A: the noise).
 */
#include "bench_common.h"

#include <alloy.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

enum { V_DIRECT, V_AA, V_ALLOY, NV };
enum { LIVE = 256, RING = BENCH_RING, MAX_THREADS = 64 };
typedef bench_ring inbox;

typedef struct worker {
    const bench_impl *m;
    inbox *in, *out; /* out: the next thread's inbox (x-free only) */
    long ops;
    uint64_t seed;
} worker;

static _Atomic int start_flag;
static _Atomic int done_count;
static int nthreads;
static inbox boxes[MAX_THREADS];

static void drain(const bench_impl *m, inbox *in) {
    size_t t = atomic_load_explicit(&in->tail, memory_order_relaxed);
    size_t h = atomic_load_explicit(&in->head, memory_order_acquire);
    if (t == h) return;
    for (; t != h; t++) m->free(in->slot[t % RING]);
    atomic_store_explicit(&in->tail, t, memory_order_release);
}

static void send(const bench_impl *m, worker *w, void *p) {
    for (;;) {
        size_t h = atomic_load_explicit(&w->out->head, memory_order_relaxed);
        if (h - atomic_load_explicit(&w->out->tail, memory_order_acquire) < RING) {
            w->out->slot[h % RING] = p;
            atomic_store_explicit(&w->out->head, h + 1, memory_order_release);
            return;
        }
        drain(m, w->in); /* the next thread may be waiting on this one */
        sched_yield();
    }
}

static void *work(void *arg) {
    worker *w = arg;
    const bench_impl *m = w->m;
    void *live[LIVE];
    uint64_t x = w->seed;
#define NEXT() (x ^= x << 13, x ^= x >> 7, x ^= x << 17)
    for (int i = 0; i < LIVE; i++) {
        live[i] = m->malloc(16 + NEXT() % 1009);
        *(volatile char *)live[i] = 1;
    }
    while (!atomic_load_explicit(&start_flag, memory_order_acquire)) {
    }
    for (long k = 0; k < w->ops; k++) {
        uint64_t r = NEXT();
        unsigned j = (unsigned)(r % LIVE);
        if (w->out == NULL) {
            m->free(live[j]);
        } else {
            send(m, w, live[j]);
            drain(m, w->in);
        }
        live[j] = m->malloc(16 + (r >> 20) % 1009);
        *(volatile char *)live[j] = 1;
    }
#undef NEXT
    atomic_fetch_add(&done_count, 1);
    if (w->out != NULL)
        while (atomic_load(&done_count) < nthreads) {
            drain(m, w->in);
            sched_yield();
        }
    drain(m, w->in);
    for (int i = 0; i < LIVE; i++) m->free(live[i]);
    return NULL;
}

/* Million replacements per second over all threads. */
static double run(const bench_impl *m, int threads, bool cross, long ops) {
    static worker ws[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    nthreads = threads;
    atomic_store(&start_flag, 0);
    atomic_store(&done_count, 0);
    for (int i = 0; i < threads; i++) {
        atomic_store(&boxes[i].head, 0);
        atomic_store(&boxes[i].tail, 0);
        ws[i] = (worker){m, &boxes[i], cross ? &boxes[(i + 1) % threads] : NULL, ops,
                         0x9E3779B97F4A7C15ull * (uint64_t)(i + 1)};
        pthread_create(&tid[i], NULL, work, &ws[i]);
    }
    double t = bench_now_ns();
    atomic_store_explicit(&start_flag, 1, memory_order_release);
    for (int i = 0; i < threads; i++) pthread_join(tid[i], NULL);
    return (double)ops * threads / (bench_now_ns() - t) * 1e3;
}

static int thread_list[16], nlist;

static int run_backend(const char *backend, int rounds, long ops) {
    if (strcmp(alloy_backend_name(), backend) != 0) {
        fprintf(stderr, "bench_threads: asked for %s, alloy serves %s\n", backend,
                alloy_backend_name());
        return 2;
    }
    bench_impl v[NV];
    v[V_DIRECT] = bench_backend_direct(backend);
    v[V_AA] = v[V_DIRECT];
    v[V_ALLOY] = (bench_impl){"alloy", alloy_malloc, alloy_free, alloy_free_sized, NULL};
    for (int cross = 0; cross < 2; cross++)
        for (int t = 0; t < nlist; t++) {
            int threads = thread_list[t];
            if (cross && threads < 2) continue;
            double mops[NV][64];
            for (int i = 0; i < NV; i++) run(&v[i], threads, cross, ops / 4); /* warm up */
            for (int r = 0; r < rounds; r++)
                for (int k = 0; k < NV; k++) {
                    int i = (r + k) % NV;
                    mops[i][r] = run(&v[i], threads, cross, ops);
                }
            printf("%d\t%s", threads, cross ? "x-free" : "local");
            for (int i = 0; i < NV; i++) printf("\t%.3f", bench_median(mops[i], rounds));
            printf("\n");
            fflush(stdout);
        }
    return 0;
}

static void usage(FILE *to) {
    fprintf(to, "usage: bench_threads [--quick] [--rounds N] [--backend NAME] [--threads LIST]\n"
                "Each thread keeps 256 live blocks of 16-1024 B and replaces one at random;\n"
                "million replacements per second over all threads, each backend's own entry\n"
                "points against alloy with no layer, medians of interleaved rounds. LIST: thread\n"
                "counts, comma-separated (default 1,2 and the cores online). --quick: fewer,\n"
                "shorter rounds.\n");
}

static void parse_threads(const char *s) {
    nlist = 0;
    for (char *end; *s && nlist < 16; s = *end ? end + 1 : end) {
        long n = strtol(s, &end, 10);
        if (n >= 1 && n <= MAX_THREADS) thread_list[nlist++] = (int)n;
        if (end == s) break;
    }
}

int main(int argc, char **argv) {
    bench_opts o = {.usage = usage};
    char deflist[32];
    snprintf(deflist, sizeof deflist, "1,2,%ld", bench_cores());
    parse_threads(deflist);
    for (int i = 1; i < argc; i++) {
        if (bench_common_option(argc, argv, &i, &o)) continue;
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            parse_threads(argv[++i]);
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (nlist == 0) {
        usage(stderr);
        return 2;
    }
    int rounds = o.rounds ? o.rounds : o.quick ? 3 : 7;
    long ops = o.quick ? 200000 : 4000000;
    const char *only = o.only;
    /* 1,2,2 on a 2-core machine: each count once. */
    int n = 0;
    for (int i = 0; i < nlist; i++) {
        bool seen = false;
        for (int j = 0; j < n; j++) seen |= thread_list[j] == thread_list[i];
        if (!seen) thread_list[n++] = thread_list[i];
    }
    nlist = n;
    if (getenv("ALLOY_BENCH_CHILD")) return run_backend(getenv("ALLOY_BACKEND"), rounds, ops);

    double load = bench_load1();
    bench_print_machine();
    printf("million replacements per second over all threads (256 live blocks of 16-1024 B per "
           "thread), median of %d interleaved rounds of %ld per thread; x = alloy / direct; "
           "target >= 0.95x\n\n",
           rounds, ops);
    printf("| threads | frees | backend | direct Mops/s | A/A | alloy (no layer) Mops/s | x | "
           "target |\n");
    printf("|---:|---|---|---:|---:|---:|---:|---|\n");
    char list[64];
    snprintf(list, sizeof list, "%s", alloy_backend_list());
    int status_all = 0, met = 0, total = 0, most = 1;
    double worst = 0;
    for (int i = 0; i < nlist; i++) most = thread_list[i] > most ? thread_list[i] : most;
    for (char *save = NULL, *b = strtok_r(list, " ", &save); b; b = strtok_r(NULL, " ", &save)) {
        if (only && strcmp(only, b) != 0) continue;
        pid_t pid;
        FILE *in = bench_spawn(b, &pid);
        if (in == NULL) return 2;
        char line[256], mode[16];
        int threads;
        double x[NV];
        while (fgets(line, sizeof line, in))
            if (sscanf(line, "%d\t%15s\t%lf\t%lf\t%lf", &threads, mode, &x[0], &x[1], &x[2]) == 5) {
                double q = x[V_ALLOY] / x[V_DIRECT];
                total++;
                met += q >= 0.95;
                double aa = x[V_AA] / x[V_DIRECT];
                worst = aa - 1 > worst ? aa - 1 : 1 - aa > worst ? 1 - aa : worst;
                printf("| %d | %s | %s | %.2f | %.3f | %.2f | %.3f | %s |\n", threads, mode, b,
                       x[V_DIRECT], aa, x[V_ALLOY], q, q >= 0.95 ? "met" : "NOT met");
                fflush(stdout);
            }
        fclose(in);
        status_all |= bench_wait(pid, b);
    }
    printf("\ntarget alloy >= 0.95x direct: met on %d of %d rows\n", met, total);
    bench_print_noise(worst, load, most, o.quick);
    return status_all;
}
