/* SPDX-License-Identifier: MIT */
/* bench/bench_override.c - whole programs under the override library: a
 * larson-style server churn and a producer/consumer workload, plain C on
 * malloc/free, run as child processes under
 *   LD_PRELOAD=liballoy-override.so ALLOY_BACKEND=X   (alloy, no layer)
 * against LD_PRELOAD=<the backend's own library> (glibc: no preload), at the
 * machine's core count of threads, in interleaved rounds; medians of each
 * child's own throughput (start-up excluded) and the ratio alloy / raw.
 *
 *   bench_override [--quick] [--rounds N] [--backend NAME] [--threads T] [--ms MS]
 *   bench_override --work larson|prodcon|pairs [--threads T] [--ms MS] [--pairs N]
 *
 * --work runs one workload in this process and prints its throughput (the
 * children do this); --work pairs runs N malloc(64)+free pairs for callgrind.
 * This program links no allocator: what it calls is whatever malloc the
 * process has.
 */
#include "bench_common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

/* Keep the compiler from pairing up and removing a malloc and its free. */
#define ESCAPE(p) __asm__ volatile("" : : "r"(p) : "memory")

static uint64_t xorshift(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static _Atomic int stop;
static _Atomic long total_ops;

/* ---- larson: each thread replaces random blocks of its set of 1000 (8-1000 B);
 * after a batch of replacements it hands the set to a new thread and exits, as
 * a server hands connections to fresh threads, so most frees are of blocks
 * another (exited) thread allocated. */
enum { LARSON_SLOTS = 1000, LARSON_BATCH = 10000 };

typedef struct chain {
    void *slot[LARSON_SLOTS];
    uint64_t seed;
    _Atomic int *finished;
} chain;

static void *larson_thread(void *arg) {
    chain *c = arg;
    long ops = 0;
    for (; ops < LARSON_BATCH; ops++) {
        uint64_t r = xorshift(&c->seed);
        unsigned j = (unsigned)(r % LARSON_SLOTS);
        free(c->slot[j]);
        c->slot[j] = malloc(8 + (r >> 20) % 993);
        *(volatile char *)c->slot[j] = 1;
    }
    atomic_fetch_add(&total_ops, ops);
    pthread_t next;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (atomic_load(&stop) || pthread_create(&next, &attr, larson_thread, c) != 0)
        atomic_fetch_add(c->finished, 1);
    pthread_attr_destroy(&attr);
    return NULL;
}

static void larson(int threads) {
    static chain chains[64];
    static _Atomic int finished;
    for (int t = 0; t < threads; t++) {
        chains[t].seed = 0x9E3779B97F4A7C15ull * (uint64_t)(t + 1);
        chains[t].finished = &finished;
        for (int i = 0; i < LARSON_SLOTS; i++)
            chains[t].slot[i] = malloc(8 + xorshift(&chains[t].seed) % 993);
    }
    for (int t = 0; t < threads; t++) {
        pthread_t tid;
        pthread_create(&tid, NULL, larson_thread, &chains[t]);
        pthread_detach(tid);
    }
    while (atomic_load(&finished) < threads) sched_yield();
    for (int t = 0; t < threads; t++)
        for (int i = 0; i < LARSON_SLOTS; i++) free(chains[t].slot[i]);
}

/* ---- producer/consumer: threads in pairs; the producer allocates blocks of
 * 16-256 B, writes them and passes them through a ring; the consumer reads
 * and frees them. One pair per two threads (at least one). */
typedef struct pc_pair {
    bench_ring ring;
    uint64_t seed;
} pc_pair;

static void *producer(void *arg) {
    pc_pair *p = arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        size_t h = atomic_load_explicit(&p->ring.head, memory_order_relaxed);
        if (h - atomic_load_explicit(&p->ring.tail, memory_order_acquire) >= BENCH_RING) {
            sched_yield();
            continue;
        }
        size_t n = 16 + xorshift(&p->seed) % 241;
        char *b = malloc(n);
        b[0] = (char)n;
        p->ring.slot[h % BENCH_RING] = b;
        atomic_store_explicit(&p->ring.head, h + 1, memory_order_release);
    }
    return NULL;
}

static void *consumer(void *arg) {
    pc_pair *p = arg;
    long ops = 0;
    for (;;) {
        size_t t = atomic_load_explicit(&p->ring.tail, memory_order_relaxed);
        size_t h = atomic_load_explicit(&p->ring.head, memory_order_acquire);
        if (t == h) {
            if (atomic_load_explicit(&stop, memory_order_relaxed)) break;
            sched_yield();
            continue;
        }
        for (; t != h; t++, ops++) {
            char *b = p->ring.slot[t % BENCH_RING];
            ESCAPE(b[0]);
            free(b);
        }
        atomic_store_explicit(&p->ring.tail, t, memory_order_release);
    }
    atomic_fetch_add(&total_ops, ops);
    return NULL;
}

static void prodcon(int threads) {
    static pc_pair pairs[32];
    int n = threads / 2 > 0 ? threads / 2 : 1;
    pthread_t tid[64];
    for (int i = 0; i < n; i++) {
        pairs[i].seed = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
        pthread_create(&tid[2 * i], NULL, producer, &pairs[i]);
        pthread_create(&tid[2 * i + 1], NULL, consumer, &pairs[i]);
    }
    for (int i = 0; i < 2 * n; i++) pthread_join(tid[i], NULL);
}

/* ---- one workload in this process ---------------------------------------------- */

typedef struct run_args {
    void (*fn)(int);
    int threads;
} run_args;

static void *run_thread(void *arg) {
    run_args *a = arg;
    a->fn(a->threads);
    return NULL;
}

/* Million operations (replacements, or blocks passed and freed) per second. */
static int work(const char *name, int threads, int ms, long pairs) {
    if (strcmp(name, "pairs") == 0) {
        char *keep = malloc(64); /* one other live block, as bench_heap's LIFO rows */
        ESCAPE(keep);
        for (long i = 0; i < pairs; i++) {
            char *p = malloc(64);
            ESCAPE(p);
            free(p);
        }
        free(keep);
        return 0;
    }
    run_args a = {strcmp(name, "larson") == 0 ? larson : prodcon, threads};
    if (strcmp(name, "larson") != 0 && strcmp(name, "prodcon") != 0) {
        fprintf(stderr, "bench_override: unknown workload %s\n", name);
        return 2;
    }
    pthread_t tid;
    double t = bench_now_ns();
    pthread_create(&tid, NULL, run_thread, &a);
    struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&d, NULL);
    atomic_store(&stop, 1);
    pthread_join(tid, NULL);
    printf("%.4f\n", (double)atomic_load(&total_ops) / (bench_now_ns() - t) * 1e3);
    return 0;
}

/* ---- driver ------------------------------------------------------------------- */

typedef struct backend {
    const char *name, *lib; /* lib: its own library to preload ("" for glibc) */
} backend;

static const backend backends[] = {
    {"libc", ""},
#ifdef BENCH_MIMALLOC_LIB
    {"mimalloc", BENCH_MIMALLOC_LIB},
#endif
#ifdef BENCH_JEMALLOC_LIB
    {"jemalloc", BENCH_JEMALLOC_LIB},
#endif
#ifdef BENCH_TCMALLOC_LIB
    {"tcmalloc", BENCH_TCMALLOC_LIB},
#endif
};
#define NB (sizeof backends / sizeof backends[0])

enum { V_RAW, V_AA, V_ALLOY, NV };

/* Run this program as a child with --work under the variant's environment; its throughput, or -1.
 */
static double child(const backend *b, int variant, const char *workload, int threads, int ms) {
    static char *args[300];
    int prefix;
    if (bench_cmdline(args, 256, &prefix) == 0) return -1;
    char t[16], m[16];
    snprintf(t, sizeof t, "%d", threads);
    snprintf(m, sizeof m, "%d", ms);
    const char *extra[] = {"--work", workload, "--threads", t, "--ms", m, NULL};
    for (int i = 0; extra[i]; i++) args[prefix + i] = (char *)extra[i];
    args[prefix + 6] = NULL;
    int fd[2];
    if (pipe(fd) != 0) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        unsetenv("ALLOY_STATS");
        unsetenv("ALLOY_LEAK_CHECK");
        unsetenv("ALLOY_DEBUG");
        unsetenv("ALLOY_PROFILE");
        setenv("GLIBC_TUNABLES", "glibc.rtld.optional_static_tls=4096", 1);
        if (variant == V_ALLOY) {
            setenv("LD_PRELOAD", BENCH_OVERRIDE, 1);
            setenv("ALLOY_BACKEND", b->name, 1);
        } else if (b->lib[0] != '\0') {
            setenv("LD_PRELOAD", b->lib, 1);
        } else {
            unsetenv("LD_PRELOAD");
        }
        execvp(args[0], args);
        _exit(127);
    }
    close(fd[1]);
    FILE *in = fdopen(fd[0], "r");
    double x = -1;
    if (in == NULL || fscanf(in, "%lf", &x) != 1) x = -1;
    if (in) fclose(in);
    if (bench_wait(pid, b->name) != 0) x = -1;
    return x;
}

static void usage(FILE *to) {
    fprintf(
        to,
        "usage: bench_override [--quick] [--rounds N] [--backend NAME] [--threads T] [--ms MS]\n"
        "       bench_override --work larson|prodcon|pairs [--threads T] [--ms MS] [--pairs N]\n"
        "Runs a larson-style server churn and a producer/consumer workload (plain malloc and\n"
        "free) under LD_PRELOAD of alloy's override library and of each backend's own\n"
        "library, T threads (default: the cores online) for MS ms (default 300) per run;\n"
        "medians of interleaved rounds, ratio alloy / raw preload.\n");
}

int main(int argc, char **argv) {
    bench_opts o = {.usage = usage};
    const char *workload = NULL;
    int threads = (int)bench_cores(), ms = 0;
    long pairs = 1000000;
    for (int i = 1; i < argc; i++) {
        if (bench_common_option(argc, argv, &i, &o)) continue;
        if (strcmp(argv[i], "--work") == 0 && i + 1 < argc) {
            workload = argv[++i];
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc) {
            ms = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--pairs") == 0 && i + 1 < argc) {
            pairs = atol(argv[++i]);
        } else if (strcmp(argv[i], "--libs") == 0) {
            for (size_t b = 0; b < NB; b++)
                printf("%s %s\n", backends[b].name, backends[b].lib[0] ? backends[b].lib : "-");
            printf("override %s\n", BENCH_OVERRIDE);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (threads < 1 || threads > 64) {
        usage(stderr);
        return 2;
    }
    if (ms <= 0) ms = o.quick ? 100 : 300;
    if (workload != NULL) return work(workload, threads, ms, pairs);
    int rounds = o.rounds ? o.rounds : o.quick ? 3 : 7;

    double load = bench_load1();
    bench_print_machine();
    printf("million operations per second (larson: replacements; prodcon: blocks passed and "
           "freed), %d threads, %d ms per run, median of %d interleaved rounds;\n"
           "raw: LD_PRELOAD=<the backend's library> (glibc: none); alloy: "
           "LD_PRELOAD=liballoy-override.so ALLOY_BACKEND=<backend>, no layer; x = alloy / raw; "
           "target >= 0.95x\n\n",
           threads, ms, rounds);
    printf("| workload | backend | raw Mops/s | A/A | alloy Mops/s | x | target |\n");
    printf("|---|---|---:|---:|---:|---:|---|\n");
    static const char *const workloads[] = {"larson", "prodcon"};
    int met = 0, total = 0, status = 0;
    double worst = 0;
    for (size_t bi = 0; bi < NB; bi++) {
        const backend *b = &backends[bi];
        if (o.only && strcmp(o.only, b->name) != 0) continue;
        for (int w = 0; w < 2; w++) {
            double x[NV][64];
            for (int r = 0; r < rounds; r++)
                for (int k = 0; k < NV; k++) {
                    int i = (r + k) % NV;
                    x[i][r] = child(b, i, workloads[w], threads, ms);
                    if (x[i][r] < 0) status = 1;
                }
            double m[NV];
            for (int i = 0; i < NV; i++) m[i] = bench_median(x[i], rounds);
            double q = m[V_ALLOY] / m[V_RAW], aa = m[V_AA] / m[V_RAW];
            worst = aa - 1 > worst ? aa - 1 : 1 - aa > worst ? 1 - aa : worst;
            total++;
            met += q >= 0.95;
            printf("| %s | %s | %.2f | %.3f | %.2f | %.3f | %s |\n", workloads[w], b->name,
                   m[V_RAW], aa, m[V_ALLOY], q, q >= 0.95 ? "met" : "NOT met");
            fflush(stdout);
        }
    }
    printf("\ntarget alloy >= 0.95x raw preload: met on %d of %d rows\n", met, total);
    bench_print_noise(worst, load, threads, o.quick);
    return status;
}
