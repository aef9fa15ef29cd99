/* SPDX-License-Identifier: MIT */
/* workloads.c - the built-in workloads of alloy bench (see workloads.h). Modelled on the kinds
 * of test allocator benchmark suites run (LIFO pairs, alloc-then-free batches, a live set of
 * mixed sizes, producer/consumer hand-offs, larson's server churn, cache-scratch's false
 * sharing, a spike and what is left after it); the code is alloy's own. */
#define _GNU_SOURCE
#include "workloads.h"

#include "stats.h"

#include <alloy.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- checked blocks ---------------------------------------------------------------------- */

/* A block with what it must hold: the pattern of tag over size bytes. */
typedef struct blk {
    unsigned char *p;
    size_t size;
    uint64_t tag;
} blk;

static unsigned char tag_byte(uint64_t tag) {
    tag *= 0x9e3779b97f4a7c15ULL;
    return (unsigned char)((tag >> 56) | 1u);
}

/* The tag in the first 8 bytes (or as many as fit), the tag's byte everywhere else. */
static bool blk_make(blk *b, size_t size, uint64_t tag) {
    b->p = alloy_malloc(size);
    b->size = size;
    b->tag = tag;
    if (b->p == NULL) return false;
    size_t head = size < 8 ? size : 8;
    memcpy(b->p, &tag, head);
    if (size > head) memset(b->p + head, tag_byte(tag), size - head);
    return true;
}

/* The tag, the first and last pattern bytes and one in the middle (a full scan would double
 * the memory traffic of the large blocks and measure memcmp). */
static bool blk_intact(const blk *b) {
    size_t head = b->size < 8 ? b->size : 8;
    if (memcmp(b->p, &b->tag, head) != 0) return false;
    if (b->size <= head) return true;
    unsigned char c = tag_byte(b->tag);
    return b->p[head] == c && b->p[b->size - 1] == c && b->p[head + (b->size - head) / 2] == c;
}

/* Per-thread state every workload shares: its random stream, its count, its failure. */
typedef struct worker {
    pthread_t th;
    unsigned id, nthreads;
    double scale;
    cli_rng rng;
    uint64_t ops;
    uint64_t checks;       /* blocks checked, for wl_selftest_corrupt */
    double t_start, t_end; /* the thread's own clock readings around its work */
    char err[160];
    void *shared; /* the workload's state for all threads */
} worker;

bool wl_selftest_corrupt;

/* Check and free b; false (err set) when it was damaged. */
static bool blk_drop(worker *w, blk *b) {
    if (wl_selftest_corrupt && w->id == 0 && w->checks++ == 0) b->p[b->size - 1] ^= 0x5a;
    if (!blk_intact(b)) {
        snprintf(w->err, sizeof w->err,
                 "block %p of %zu bytes (tag %llx) was changed while allocated", (void *)b->p,
                 b->size, (unsigned long long)b->tag);
        return false;
    }
    alloy_free(b->p);
    b->p = NULL;
    return true;
}

static bool blk_new(worker *w, blk *b, size_t size) {
    uint64_t tag = ((uint64_t)w->id << 48) ^ (w->ops + 1) ^ 0x5a5a000000ULL;
    if (!blk_make(b, size, tag)) {
        snprintf(w->err, sizeof w->err, "allocation of %zu bytes failed", size);
        return false;
    }
    w->ops++;
    return true;
}

/* A size in [lo, hi]. */
static size_t size_in(worker *w, size_t lo, size_t hi) {
    return lo + cli_rand_below(&w->rng, hi - lo + 1);
}

static uint64_t per_thread(const worker *w, double base) {
    double n = base * w->scale;
    return n < 1 ? 1 : (uint64_t)n;
}

/* ---- running threads --------------------------------------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) return -1;
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

typedef struct start {
    pthread_barrier_t go;
    void (*body)(worker *w);
    worker *w;
} start;

static start *g_start; /* one workload at a time per process */

static void *thread_main(void *arg) {
    worker *w = arg;
    pthread_barrier_wait(&g_start->go);
    w->t_start = now_s();
    g_start->body(w);
    w->t_end = now_s();
    return NULL;
}

/* Run body on n threads started together; the time runs from the first start to the last end.
 * False with the first thread's reason in err. */
static bool run_threads(unsigned n, double scale, void *shared, void (*body)(worker *w),
                        wl_result *r, char *err, size_t errlen) {
    worker *ws = calloc(n, sizeof *ws);
    if (ws == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    start st = {.body = body, .w = ws};
    pthread_barrier_init(&st.go, NULL, n + 1);
    g_start = &st;
    unsigned made = 0;
    for (; made < n; made++) {
        ws[made] = (worker){.id = made, .nthreads = n, .scale = scale, .shared = shared};
        ws[made].rng.s = 0x9e3779b97f4a7c15ULL * (made + 1);
        if (pthread_create(&ws[made].th, NULL, thread_main, &ws[made]) != 0) break;
    }
    if (made < n) {
        /* The made threads wait at the barrier for n + 1: a run with fewer threads than asked
         * would be a lie, so the (child) process ends here. */
        fprintf(stderr, "alloy bench: cannot start thread %u of %u\n", made + 1, n);
        exit(1);
    }
    bool ok = true;
    pthread_barrier_wait(&st.go);
    for (unsigned i = 0; i < n; i++) pthread_join(ws[i].th, NULL);
    /* From the first thread's start to the last one's end, read by the threads themselves:
     * this thread may not run again until the workers are done. */
    double t0 = ws[0].t_start, t1 = ws[0].t_end;
    for (unsigned i = 1; i < n; i++) {
        if (ws[i].t_start < t0) t0 = ws[i].t_start;
        if (ws[i].t_end > t1) t1 = ws[i].t_end;
    }
    r->seconds = t1 - t0;
    r->threads = n;
    pthread_barrier_destroy(&st.go);
    for (unsigned i = 0; i < n; i++) {
        r->ops += ws[i].ops;
        if (ok && ws[i].err[0] != '\0') {
            snprintf(err, errlen, "thread %u: %s", i, ws[i].err);
            ok = false;
        }
    }
    free(ws);
    r->rss_peak_kb = status_kb("VmHWM");
    r->rss_end_kb = status_kb("VmRSS");
    return ok;
}

/* ---- lifo: nested allocate / free pairs -------------------------------------------------- */

static void lifo_body(worker *w) {
    uint64_t target = per_thread(w, 4e6);
    blk stack[8];
    while (w->ops < target) {
        unsigned depth = 1 + (unsigned)cli_rand_below(&w->rng, 8);
        for (unsigned i = 0; i < depth; i++)
            if (!blk_new(w, &stack[i], size_in(w, 8, 512))) return;
        for (unsigned i = depth; i-- > 0;)
            if (!blk_drop(w, &stack[i])) return;
    }
}

static bool wl_lifo(unsigned threads, double scale, wl_result *r, char *err, size_t n) {
    return run_threads(threads, scale, NULL, lifo_body, r, err, n);
}

/* ---- batch: allocate many, then free them all -------------------------------------------- */

#define BATCH 20000

static void batch_body(worker *w) {
    uint64_t target = per_thread(w, 3e6);
    blk *b = malloc(BATCH * sizeof *b);
    if (b == NULL) {
        snprintf(w->err, sizeof w->err, "out of memory");
        return;
    }
    while (w->ops < target) {
        size_t k = 0;
        for (; k < BATCH; k++)
            if (!blk_new(w, &b[k], size_in(w, 16, 256))) break;
        /* Oldest first: the order a request's buffers or a parsed document die in. */
        for (size_t i = 0; i < k; i++)
            if (!blk_drop(w, &b[i])) goto out;
        if (k < BATCH) break;
    }
out:
    free(b);
}

static bool wl_batch(unsigned threads, double scale, wl_result *r, char *err, size_t n) {
    return run_threads(threads, scale, NULL, batch_body, r, err, n);
}

/* ---- mixed: a live set of mixed sizes, replaced at random -------------------------------- */

#define LIVE 20000

static size_t mixed_size(worker *w) {
    unsigned c = (unsigned)cli_rand_below(&w->rng, 100);
    if (c < 80) return size_in(w, 8, 256);
    if (c < 96) return size_in(w, 257, 4096);
    if (c < 99) return size_in(w, 4097, 65536);
    return size_in(w, 65537, 262144);
}

static void mixed_body(worker *w) {
    uint64_t target = per_thread(w, 1e6);
    blk *live = calloc(LIVE, sizeof *live);
    if (live == NULL) {
        snprintf(w->err, sizeof w->err, "out of memory");
        return;
    }
    while (w->ops < target) {
        blk *s = &live[cli_rand_below(&w->rng, LIVE)];
        if (s->p != NULL && !blk_drop(w, s)) goto out;
        if (!blk_new(w, s, mixed_size(w))) goto out;
    }
out:
    for (size_t i = 0; i < LIVE; i++)
        if (live[i].p != NULL && !blk_drop(w, &live[i])) break;
    free(live);
}

static bool wl_mixed(unsigned threads, double scale, wl_result *r, char *err, size_t n) {
    return run_threads(threads, scale, NULL, mixed_body, r, err, n);
}

/* ---- xthread: blocks made on one thread, freed on the next ------------------------------- */

#define HANDOFF 256 /* blocks per batch handed on */
#define QCAP 8      /* batches a thread's inbox holds */

typedef struct handoff {
    blk b[HANDOFF];
    size_t n;
} handoff;

typedef struct ring {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct inbox {
        handoff *q[QCAP];
        size_t head, len;
    } * in;
    uint64_t batches; /* each thread makes this many and receives this many */
    bool stop;        /* a thread failed */
} ring;

/* A thread that failed stops the ring: the others would wait for its batches forever. */
static void xthread_stop(ring *rg) {
    pthread_mutex_lock(&rg->mu);
    rg->stop = true;
    pthread_cond_broadcast(&rg->cv);
    pthread_mutex_unlock(&rg->mu);
}

static void xthread_body(worker *w) {
    ring *rg = w->shared;
    struct inbox *mine = &rg->in[w->id], *next = &rg->in[(w->id + 1) % w->nthreads];
    uint64_t made = 0, taken = 0;
    handoff *out = NULL;
    while (made < rg->batches || taken < rg->batches || out != NULL) {
        if (out == NULL && made < rg->batches) {
            /* The batch descriptor comes from the allocator under test too. */
            if ((out = alloy_malloc(sizeof *out)) == NULL) {
                snprintf(w->err, sizeof w->err, "allocation of a batch failed");
                break;
            }
            out->n = 0;
            for (; out->n < HANDOFF; out->n++)
                if (!blk_new(w, &out->b[out->n], size_in(w, 16, 512))) break;
            made++;
            if (out->n < HANDOFF) break;
        }
        handoff *in = NULL;
        bool stop = false;
        pthread_mutex_lock(&rg->mu);
        for (;;) {
            if ((stop = rg->stop)) break;
            if (out != NULL && next->len < QCAP) {
                next->q[(next->head + next->len++) % QCAP] = out;
                out = NULL;
                pthread_cond_broadcast(&rg->cv);
            }
            if (mine->len > 0) {
                in = mine->q[mine->head];
                mine->head = (mine->head + 1) % QCAP;
                mine->len--;
                pthread_cond_broadcast(&rg->cv);
                break;
            }
            /* Nothing to receive: go on making batches while there are some to make; else
             * wait for the neighbours. Never all waiting with full outboxes: a full outbox is
             * someone's full inbox, and its owner drains it before waiting. */
            if (out == NULL && (made < rg->batches || taken >= rg->batches)) break;
            pthread_cond_wait(&rg->cv, &rg->mu);
        }
        pthread_mutex_unlock(&rg->mu);
        if (stop) return;
        if (in != NULL) {
            for (size_t i = 0; i < in->n; i++)
                if (!blk_drop(w, &in->b[i])) break;
            if (w->err[0] == '\0' && in->n != HANDOFF)
                snprintf(w->err, sizeof w->err, "a batch arrived with %zu of %d blocks", in->n,
                         HANDOFF);
            if (w->err[0] != '\0') break;
            alloy_free(in);
            taken++;
        }
    }
    if (w->err[0] == '\0' && taken != rg->batches)
        snprintf(w->err, sizeof w->err, "received %llu batches of %llu", (unsigned long long)taken,
                 (unsigned long long)rg->batches);
    if (w->err[0] != '\0') xthread_stop(rg);
}

static bool wl_xthread(unsigned threads, double scale, wl_result *r, char *err, size_t n) {
    if (threads < 2) threads = 2; /* a hand-off needs someone to hand to */
    ring rg = {.batches = (uint64_t)(2e6 * scale / HANDOFF)};
    if (rg.batches == 0) rg.batches = 1;
    rg.in = calloc(threads, sizeof *rg.in);
    if (rg.in == NULL) {
        snprintf(err, n, "out of memory");
        return false;
    }
    pthread_mutex_init(&rg.mu, NULL);
    pthread_cond_init(&rg.cv, NULL);
    bool ok = run_threads(threads, scale, &rg, xthread_body, r, err, n);
    pthread_cond_destroy(&rg.cv);
    pthread_mutex_destroy(&rg.mu);
    free(rg.in);
    return ok;
}

/* ---- larson: server churn, each thread's blocks inherited by the next -------------------- */

#define LARSON_SLOTS 4000
#define LARSON_ROUNDS 10

typedef struct larson {
    pthread_barrier_t turn;
    blk **slots; /* slots[i]: the set thread i works on this round */
} larson;

static void larson_body(worker *w) {
    larson *l = w->shared;
    uint64_t per_round = per_thread(w, 2e6) / LARSON_ROUNDS + 1;
    bool failed = false;
    for (unsigned round = 0; round < LARSON_ROUNDS; round++) {
        blk *set = l->slots[(w->id + round) % w->nthreads];
        for (uint64_t k = 0; k < per_round && !failed; k++) {
            /* A request: free one object of the set (maybe another thread's) and make one. */
            blk *s = &set[cli_rand_below(&w->rng, LARSON_SLOTS)];
            if (s->p != NULL && !blk_drop(w, s)) failed = true;
            if (!failed && !blk_new(w, s, size_in(w, 16, 1024))) failed = true;
        }
        /* Every thread waits for every other, failed or not: then all pass on their sets. */
        pthread_barrier_wait(&l->turn);
    }
}

static bool wl_larson(unsigned threads, double scale, wl_result *r, char *err, size_t n) {
    larson l;
    l.slots = calloc(threads, sizeof *l.slots);
    bool ok = l.slots != NULL;
    for (unsigned i = 0; ok && i < threads; i++)
        ok = (l.slots[i] = calloc(LARSON_SLOTS, sizeof **l.slots)) != NULL;
    if (!ok) {
        snprintf(err, n, "out of memory");
    } else {
        pthread_barrier_init(&l.turn, NULL, threads);
        ok = run_threads(threads, scale, &l, larson_body, r, err, n);
        pthread_barrier_destroy(&l.turn);
    }
    /* What is left in the sets: checked and freed here. */
    worker last = {.nthreads = threads};
    for (unsigned i = 0; l.slots != NULL && i < threads; i++) {
        for (size_t k = 0; l.slots[i] != NULL && k < LARSON_SLOTS; k++)
            if (l.slots[i][k].p != NULL && !blk_drop(&last, &l.slots[i][k]) && ok) {
                snprintf(err, n, "%s", last.err);
                ok = false;
            }
        free(l.slots[i]);
    }
    free(l.slots);
    return ok;
}

/* ---- false-sharing: small blocks written hard by their threads --------------------------- */

typedef struct scratch {
    blk *first; /* one small block per thread, all made by the starting thread */
} scratch;

static void false_sharing_body(worker *w) {
    scratch *sc = w->shared;
    /* Free the block the starting thread made for us: an allocator that hands its memory
     * back to this thread puts our hot objects beside our neighbours'. */
    if (!blk_drop(w, &sc->first[w->id])) return;
    uint64_t target = per_thread(w, 4e6);
    while (w->ops < target) {
        blk b;
        if (!blk_new(w, &b, 8)) return;
        volatile uint64_t *v = (volatile uint64_t *)(void *)b.p;
        for (unsigned k = 0; k < 64; k++) *v = *v + 1;
        uint64_t expect = b.tag + 64;
        if (*v != expect) {
            snprintf(w->err, sizeof w->err,
                     "an 8-byte block read %llx after 64 increments of "
                     "%llx",
                     (unsigned long long)*v, (unsigned long long)b.tag);
            return;
        }
        *v = b.tag;
        if (!blk_drop(w, &b)) return;
    }
}

static bool wl_false_sharing(unsigned threads, double scale, wl_result *r, char *err, size_t n) {
    scratch sc = {.first = calloc(threads, sizeof *sc.first)};
    if (sc.first == NULL) {
        snprintf(err, n, "out of memory");
        return false;
    }
    for (unsigned i = 0; i < threads; i++)
        if (!blk_make(&sc.first[i], 8, 0xf00d0000u + i)) {
            snprintf(err, n, "allocation of 8 bytes failed");
            for (unsigned k = 0; k < i; k++) alloy_free(sc.first[k].p);
            free(sc.first);
            return false;
        }
    bool ok = run_threads(threads, scale, &sc, false_sharing_body, r, err, n);
    free(sc.first);
    return ok;
}

/* ---- spike: a burst of allocations, most freed, then alloy_collect ----------------------- */

#define SPIKE_KEEP 64 /* one block in this many outlives the spike */
#define SPIKE_MAX_THREADS 256

typedef struct spike {
    blk *kept[SPIKE_MAX_THREADS]; /* each thread's survivors, freed after the RSS is read */
    size_t nkept[SPIKE_MAX_THREADS];
} spike;

static void spike_body(worker *w) {
    spike *sp = w->shared;
    /* 256 MiB at scale 1, shared by the threads. */
    uint64_t bytes = (uint64_t)(256.0 * 1048576 * w->scale) / w->nthreads, made = 0;
    size_t cap = (size_t)(bytes / 64) + 16, k = 0, kept = 0;
    blk *b = malloc(cap * sizeof *b);
    if (b == NULL) {
        snprintf(w->err, sizeof w->err, "out of memory");
        return;
    }
    sp->kept[w->id] = b;
    while (made < bytes && k < cap) {
        if (!blk_new(w, &b[k], size_in(w, 64, 4096))) break;
        made += b[k++].size;
    }
    /* The survivors move to the front of b as the others are freed. */
    for (size_t i = 0; i < k; i++) {
        if (i % SPIKE_KEEP == 0)
            b[kept++] = b[i];
        else if (!blk_drop(w, &b[i]))
            break;
    }
    sp->nkept[w->id] = kept;
}

static bool wl_spike(unsigned threads, double scale, wl_result *r, char *err, size_t n) {
    if (threads > SPIKE_MAX_THREADS) threads = SPIKE_MAX_THREADS;
    spike sp = {{0}, {0}};
    bool ok = run_threads(threads, scale, &sp, spike_body, r, err, n);
    /* Outside the timed section: what the heap gives back once asked to. */
    alloy_collect(true);
    r->rss_end_kb = status_kb("VmRSS");
    worker last = {.nthreads = threads};
    for (unsigned i = 0; i < threads; i++) {
        for (size_t k = 0; k < sp.nkept[i]; k++) {
            r->live_bytes += sp.kept[i][k].size;
            if (!blk_drop(&last, &sp.kept[i][k]) && ok) {
                snprintf(err, n, "%s", last.err);
                ok = false;
            }
        }
        free(sp.kept[i]);
    }
    return ok;
}

/* ---- the table --------------------------------------------------------------------------- */

const wl_workload wl_workloads[] = {
    {"lifo", "allocate 1-8 blocks of 8-512 bytes, free them in reverse order", wl_lifo},
    {"batch", "allocate 20000 blocks of 16-256 bytes, then free them oldest first", wl_batch},
    {"mixed", "a live set of 20000 blocks, 8 B-256 KiB (mostly small), replaced at random",
     wl_mixed},
    {"xthread", "producer/consumer: blocks made on one thread are freed on the next (>= 2)",
     wl_xthread},
    {"larson", "server churn: free one, make one, in a set the next thread inherits each round",
     wl_larson},
    {"false-sharing", "8-byte blocks written hard by their own thread (cache-scratch)",
     wl_false_sharing},
    {"spike", "256 MiB in 64 B-4 KiB blocks, all but 1 in 64 freed, alloy_collect: RSS left",
     wl_spike},
};
const size_t wl_nworkloads = sizeof wl_workloads / sizeof wl_workloads[0];

const wl_workload *wl_find(const char *name) {
    for (size_t i = 0; i < wl_nworkloads; i++)
        if (strcmp(wl_workloads[i].name, name) == 0) return &wl_workloads[i];
    return NULL;
}
