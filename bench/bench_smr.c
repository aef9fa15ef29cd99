/* SPDX-License-Identifier: MIT */
/* bench/bench_smr.c - safe memory reclamation, side by side in one run.
 *
 * Structures: Treiber stack and Michael-Scott queue (50% push, 50% pop,
 * prefilled with 1000 values), Harris-Michael list (keys 0..255, 10% insert,
 * 10% remove, 80% lookup). Schemes: leak (no reclamation), alloy EBR, alloy
 * IBR, liburcu call_rcu, liburcu defer_rcu, ck_epoch, ck_hp. Every scheme
 * allocates its nodes as 64-byte aligned 64-byte blocks from the same routed
 * heap. Runs of one configuration are interleaved across schemes (round
 * robin) so drift hits all of them alike; the table gives medians.
 *
 * "peak unreclaimed" is sampled every millisecond by the main thread:
 * retired - freed, counted per thread (alloy: alloy_smr_stats).
 *
 * Also: enter+exit and amortized retire cost on one thread, and the stall
 * scenario (one reader holds a section for 1 s while two writers run).
 *
 * usage: bench_smr [--quick] [--reps N] [--ms N] [--threads 1,2,4] [--no-stall]
 *                  [--no-pin] [--only "alloy EBR"]
 * Workers are pinned round robin to the online CPUs unless --no-pin.
 */
#define _GNU_SOURCE
#include <ck_epoch.h>
#include <ck_hp.h>
#include <ck_pr.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <urcu.h>
#include <urcu/defer.h>

#include <alloy.h>

#define MAX_THREADS 64
#define NODE_BYTES 64

/* ---- counting ------------------------------------------------------------------ */

typedef struct tcount {
    uint64_t retired;
    uint64_t freed;
} __attribute__((aligned(64))) tcount;

static tcount counts[MAX_THREADS * 2];
static unsigned count_next; /* atomic: slots handed out in this run */
static unsigned count_gen;  /* atomic: run number */
static __thread tcount *my_count;
static __thread unsigned my_gen;

/* This thread's counter slot for the current run (liburcu's worker threads
 * outlive runs, so a slot is handed out again when the run changes). */
static tcount *count_self(void) {
    unsigned gen = __atomic_load_n(&count_gen, __ATOMIC_RELAXED);
    if (my_count == NULL || my_gen != gen) {
        unsigned i = __atomic_fetch_add(&count_next, 1, __ATOMIC_RELAXED);
        if (i >= sizeof counts / sizeof counts[0]) abort();
        my_count = &counts[i];
        my_gen = gen;
    }
    return my_count;
}

#define BUMP(field)                                                                                \
    __atomic_store_n(&count_self()->field, count_self()->field + 1, __ATOMIC_RELAXED)

static void counts_reset(void) {
    __atomic_store_n(&count_next, 0, __ATOMIC_RELAXED);
    __atomic_add_fetch(&count_gen, 1, __ATOMIC_RELAXED);
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        __atomic_store_n(&counts[i].retired, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&counts[i].freed, 0, __ATOMIC_RELAXED);
    }
}

static uint64_t counts_pending(void) {
    uint64_t r = 0, f = 0;
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        r += __atomic_load_n(&counts[i].retired, __ATOMIC_RELAXED);
        f += __atomic_load_n(&counts[i].freed, __ATOMIC_RELAXED);
    }
    return r > f ? r - f : 0;
}

static void *node_alloc64(void) {
    return alloy_malloc_aligned(NODE_BYTES, NODE_BYTES);
}
static void node_free64(void *p) {
    BUMP(freed);
    alloy_free_aligned_sized(p, NODE_BYTES, NODE_BYTES);
}

/* ---- per-thread context shared by every instantiation ---------------------------- */

typedef struct bctx {
    alloy_smr *d;
    ck_epoch_record_t *er;
    ck_hp_record_t *hr;
    unsigned since;
    bool main;
    void **leak;
    size_t nleak, capleak;
} bctx;

static void leak_keep(bctx *c, void *p) {
    if (c->nleak == c->capleak) {
        c->capleak = c->capleak ? 2 * c->capleak : 4096;
        c->leak = realloc(c->leak, c->capleak * sizeof *c->leak);
        if (c->leak == NULL) abort();
    }
    c->leak[c->nleak++] = p;
    BUMP(retired);
}

static inline void *hp_load(ck_hp_record_t *r, unsigned slot, void *const *pp) {
    void *p;
    do {
        p = ck_pr_load_ptr(pp);
        ck_hp_set_fence(r, slot, p);
    } while (p != ck_pr_load_ptr(pp));
    return p;
}

/* ---- instantiations ------------------------------------------------------------ */

#define DS_CTX bctx

/* leak */
#define DS(name) lk_##name
#define DS_NODE_EXTRA
#define DS_ALLOC(c, size) node_alloc64()
#define DS_FREE(c, n, size) alloy_free_aligned_sized((n), NODE_BYTES, NODE_BYTES)
#define DS_ENTER(c) ((void)0)
#define DS_EXIT(c) ((void)0)
#define DS_LOAD(c, slot, pp) __atomic_load_n((pp), __ATOMIC_ACQUIRE)
#define DS_RETIRE(c, n, size) leak_keep((c), (n))
#include "../tests/smr/ds/ds_template.h"

/* alloy (EBR or IBR: the domain decides) */
#define DS(name) al_##name
#include "../tests/smr/ds/ds_alloy_inst.h"

/* liburcu call_rcu */
#define DS(name) rc_##name
#define DS_NODE_EXTRA struct rcu_head rh;
#define DS_ALLOC(c, size) node_alloc64()
#define DS_FREE(c, n, size) alloy_free_aligned_sized((n), NODE_BYTES, NODE_BYTES)
#define DS_ENTER(c) rcu_read_lock()
#define DS_EXIT(c) rcu_read_unlock()
#define DS_LOAD(c, slot, pp) __atomic_load_n((pp), __ATOMIC_ACQUIRE)
#define DS_RETIRE(c, n, size) (BUMP(retired), call_rcu(&(n)->rh, rc_cb))
static void rc_cb(struct rcu_head *h);
#include "../tests/smr/ds/ds_template.h"
static void rc_cb(struct rcu_head *h) {
    node_free64((char *)h - offsetof(rc_node, rh));
}

/* liburcu defer_rcu (same read side) */
#define DS(name) df_##name
#define DS_NODE_EXTRA
#define DS_ALLOC(c, size) node_alloc64()
#define DS_FREE(c, n, size) alloy_free_aligned_sized((n), NODE_BYTES, NODE_BYTES)
#define DS_ENTER(c) rcu_read_lock()
#define DS_EXIT(c) rcu_read_unlock()
#define DS_LOAD(c, slot, pp) __atomic_load_n((pp), __ATOMIC_ACQUIRE)
#define DS_RETIRE(c, n, size) (BUMP(retired), defer_rcu(node_free64, (n)))
#include "../tests/smr/ds/ds_template.h"

/* ck_epoch: poll every ALLOY_SMR_EBR_EPOCH_RETIRES retires, as alloy EBR advances */
#define DS(name) ce_##name
#define DS_NODE_EXTRA ck_epoch_entry_t ee;
#define DS_ALLOC(c, size) node_alloc64()
#define DS_FREE(c, n, size) alloy_free_aligned_sized((n), NODE_BYTES, NODE_BYTES)
#define DS_ENTER(c) ck_epoch_begin((c)->er, NULL)
#define DS_EXIT(c) ck_epoch_end((c)->er, NULL)
#define DS_LOAD(c, slot, pp) __atomic_load_n((pp), __ATOMIC_ACQUIRE)
#define DS_RETIRE(c, n, size) ce_retire((c), &(n)->ee)
static void ce_retire(bctx *c, ck_epoch_entry_t *e);
#include "../tests/smr/ds/ds_template.h"
static void ce_cb(ck_epoch_entry_t *e) {
    node_free64((char *)e - offsetof(ce_node, ee));
}
static void ce_retire(bctx *c, ck_epoch_entry_t *e) {
    BUMP(retired);
    ck_epoch_call(c->er, e, ce_cb);
    if (++c->since >= ALLOY_SMR_EBR_EPOCH_RETIRES) {
        c->since = 0;
        ck_epoch_poll(c->er);
    }
}

/* ck_hp: two hazard pointers per thread, reclaim threshold ALLOY_SMR_IBR_SCAN_MIN */
#define DS(name) ch_##name
#define DS_NODE_EXTRA ck_hp_hazard_t hz;
#define DS_ALLOC(c, size) node_alloc64()
#define DS_FREE(c, n, size) alloy_free_aligned_sized((n), NODE_BYTES, NODE_BYTES)
#define DS_ENTER(c) ((void)0)
#define DS_EXIT(c) ck_hp_clear((c)->hr)
#define DS_LOAD(c, slot, pp) hp_load((c)->hr, (slot), (void *const *)(pp))
#define DS_RETIRE(c, n, size) (BUMP(retired), ck_hp_free((c)->hr, &(n)->hz, (n), (n)))
#include "../tests/smr/ds/ds_template.h"

/* ---- schemes --------------------------------------------------------------------- */

enum { S_LEAK, S_EBR, S_IBR, S_RCU_CALL, S_RCU_DEFER, S_CK_EPOCH, S_CK_HP, NSCHEMES };
static const char *scheme_names[NSCHEMES] = {
    "leak", "alloy EBR", "alloy IBR", "urcu call_rcu", "urcu defer_rcu", "ck_epoch", "ck_hp"};
enum { DS_STACK, DS_QUEUE, DS_LIST };

/* Every scheme with the prefix of its instance of tests/smr/ds/ds_template.h
 * (fields <prefix>s, <prefix>q, <prefix>l of struct shared); EBR and IBR share
 * alloy's. The dispatch switches below are generated from this one list. */
#define FOR_EACH_SCHEME(X)                                                                         \
    X(S_LEAK, lk)                                                                                  \
    X(S_EBR, al) X(S_IBR, al) X(S_RCU_CALL, rc) X(S_RCU_DEFER, df) X(S_CK_EPOCH, ce) X(S_CK_HP, ch)
static const char *ds_names[] = {"Treiber stack", "M-S queue", "H-M list"};

/* One structure of each kind per scheme; only the fields of the active one are
 * used. Each on its own 128 bytes (lines are prefetched in pairs), away from
 * the read-mostly fields above. */
#define ALIGN128 __attribute__((aligned(128)))
typedef struct shared {
    int scheme, ds, nthreads;
    alloy_smr *d;
    ck_epoch_t epoch ALIGN128;
    ck_hp_t hp ALIGN128;
    lk_stack lks ALIGN128;
    lk_queue lkq ALIGN128;
    lk_list lkl ALIGN128;
    al_stack als ALIGN128;
    al_queue alq ALIGN128;
    al_list all ALIGN128;
    rc_stack rcs ALIGN128;
    rc_queue rcq ALIGN128;
    df_stack dfs ALIGN128;
    df_queue dfq ALIGN128;
    ce_stack ces ALIGN128;
    ce_queue ceq ALIGN128;
    ch_stack chs ALIGN128;
    ch_queue chq ALIGN128;
    int go ALIGN128, stop; /* atomic */
    int stall;             /* atomic: stall scenario, 1 while the reader holds its section */
    pthread_barrier_t ready;
    bctx reader; /* the stalled reader's context, kept until the run ends */
} shared;

typedef struct worker {
    shared *sh;
    int id;
    pthread_t t;
    uint64_t ops;
    uint64_t stall_ops;
    bctx c;
} __attribute__((aligned(64))) worker;

static inline uint64_t xorshift(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static __thread bool defer_registered;

static void thread_setup(shared *sh, bctx *c, bool main_thread) {
    memset(c, 0, sizeof *c);
    c->main = main_thread;
    c->d = sh->d;
    switch (sh->scheme) {
    case S_RCU_CALL:
        rcu_register_thread();
        break;
    case S_RCU_DEFER:
        rcu_register_thread();
        /* liburcu 0.13 cannot register a thread for defer_rcu twice: the main
         * thread registers once and flushes with rcu_defer_barrier_thread. */
        if (!defer_registered) rcu_defer_register_thread();
        defer_registered = true;
        break;
    case S_CK_EPOCH:
        c->er = calloc(1, sizeof *c->er);
        ck_epoch_register(&sh->epoch, c->er, NULL);
        break;
    case S_CK_HP: {
        c->hr = calloc(1, sizeof *c->hr);
        void **ptrs = calloc(2, sizeof(void *));
        ck_hp_register(&sh->hp, c->hr, ptrs);
        break;
    }
    default:
        break;
    }
}

static void thread_teardown(shared *sh, bctx *c) {
    switch (sh->scheme) {
    case S_RCU_CALL:
        rcu_unregister_thread();
        break;
    case S_RCU_DEFER:
        if (c->main) {
            rcu_defer_barrier_thread(); /* runs this thread's pending callbacks */
        } else {
            rcu_defer_unregister_thread(); /* the same, then unregisters */
            defer_registered = false;
        }
        rcu_unregister_thread();
        break;
    case S_CK_HP:
        ck_hp_clear(c->hr);
        ck_hp_purge(c->hr); /* frees this thread's pending nodes */
        break;
    default:
        break;
    }
}

/* One operation on the active structure; returns nothing, counts in the caller. */
/* Push (odd x) or pop on structure S of kind stack or queue. */
#define OP_PUSH_POP(P, KIND, S, c, x)                                                              \
    do {                                                                                           \
        uint64_t v_;                                                                               \
        if ((x)&1)                                                                                 \
            P##_##KIND##_push(S, c, (x));                                                          \
        else                                                                                       \
            (void)P##_##KIND##_pop(S, c, &v_);                                                     \
    } while (0)
#define OP_LIST(P, L, c, x)                                                                        \
    do {                                                                                           \
        uint64_t k_ = ((x) >> 8) & 255, r_ = (x) % 10;                                             \
        if (r_ == 0)                                                                               \
            (void)P##_list_insert(L, c, k_);                                                       \
        else if (r_ == 1)                                                                          \
            (void)P##_list_remove(L, c, k_);                                                       \
        else                                                                                       \
            (void)P##_list_contains(L, c, k_);                                                     \
    } while (0)

static inline void one_op(shared *sh, bctx *c, uint64_t x) {
#define ONE_OP(S, P)                                                                               \
    case S * 3 + DS_STACK:                                                                         \
        OP_PUSH_POP(P, stack, &sh->P##s, c, x);                                                    \
        break;                                                                                     \
    case S * 3 + DS_QUEUE:                                                                         \
        OP_PUSH_POP(P, queue, &sh->P##q, c, x);                                                    \
        break;
    switch (sh->scheme * 3 + sh->ds) {
        FOR_EACH_SCHEME(ONE_OP)
    case S_LEAK * 3 + DS_LIST:
        OP_LIST(lk, &sh->lkl, c, x);
        break;
    case S_EBR * 3 + DS_LIST:
    case S_IBR * 3 + DS_LIST:
        OP_LIST(al, &sh->all, c, x);
        break;
    default:
        abort();
    }
#undef ONE_OP
}

static bool pin_threads = true;

/* Worker i runs on CPU i mod ncpu, the same placement for every scheme, so a
 * 2-thread cell measures two cores rather than whatever the scheduler chose. */
static void pin(int i) {
    if (!pin_threads) return;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((int)(i % n), &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *worker_main(void *p) {
    worker *w = p;
    shared *sh = w->sh;
    pin(w->id);
    thread_setup(sh, &w->c, false);
    uint64_t seed = 0x2545f4914f6cdd1dull * (uint64_t)(w->id + 1);
    pthread_barrier_wait(&sh->ready);
    while (!__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE)) {
    }
    uint64_t n = 0, stalled = 0;
    while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
        one_op(sh, &w->c, xorshift(&seed));
        n++;
        if (__atomic_load_n(&sh->stall, __ATOMIC_RELAXED) == 1) stalled++;
    }
    w->ops = n;
    w->stall_ops = stalled;
    thread_teardown(sh, &w->c);
    return NULL;
}

/* Build the structure of sh->ds for sh->scheme: 1000 values, or half the keys. */
static void structure_init(shared *sh, bctx *c) {
#define QUEUE_INIT(S, P)                                                                           \
    case S:                                                                                        \
        P##_queue_init(&sh->P##q, c);                                                              \
        break;
    switch (sh->scheme) { FOR_EACH_SCHEME(QUEUE_INIT) }
#undef QUEUE_INIT
    if (sh->ds == DS_LIST) {
        for (uint64_t key = 0; key < 256; key += 2) {
            if (sh->scheme == S_LEAK)
                (void)lk_list_insert(&sh->lkl, c, key);
            else
                (void)al_list_insert(&sh->all, c, key);
        }
        return;
    }
    for (uint64_t i = 0; i < 1000; i++) one_op(sh, c, 2 * i + 1); /* odd: push */
}

/* Free what is left in the structures after the run (single-threaded). */
static void structure_free(shared *sh, bctx *c) {
    uint64_t v;
#define DRAIN(S, P)                                                                                \
    case S:                                                                                        \
        if (sh->ds == DS_STACK)                                                                    \
            while (P##_stack_pop(&sh->P##s, c, &v)) {                                              \
            }                                                                                      \
        P##_queue_drain_free(&sh->P##q, c);                                                        \
        break;
    switch (sh->scheme) { FOR_EACH_SCHEME(DRAIN) }
#undef DRAIN
    if (sh->ds == DS_LIST) {
        lk_node *ln = sh->lkl.head;
        al_node *an = sh->all.head;
        while (ln != NULL) {
            lk_node *next = ln->next;
            alloy_free_aligned_sized(ln, NODE_BYTES, NODE_BYTES);
            ln = next;
        }
        while (an != NULL) {
            al_node *next = an->next;
            alloy_smr_node_free(sh->d, an, sizeof *an);
            an = next;
        }
    }
}

/* Reclaim everything retired (single-threaded, after the workers are joined). */
static void reclaim_all(shared *sh, bctx *c) {
    switch (sh->scheme) {
    case S_LEAK:
        break;
    case S_EBR:
    case S_IBR:
        alloy_smr_barrier(sh->d);
        break;
    case S_RCU_CALL:
        rcu_barrier();
        break;
    case S_RCU_DEFER:
        break; /* each thread's unregister ran its queue */
    case S_CK_EPOCH:
        ck_epoch_barrier(c->er);
        break; /* the workers' records: run_once */
    case S_CK_HP:
        ck_hp_purge(c->hr);
        break;
    }
}

static void *stall_reader(void *p);

typedef struct result {
    double mops;
    uint64_t peak;
    uint64_t stall_ops;
} result;

static void hp_destroy(void *p) {
    node_free64(p);
}

static result run_once(int scheme, int ds, int nthreads, double seconds, bool stall) {
    shared *sh = alloy_malloc_aligned(sizeof *sh, 128);
    memset(sh, 0, sizeof *sh);
    sh->scheme = scheme;
    sh->ds = ds;
    sh->nthreads = nthreads;
    if (scheme == S_EBR || scheme == S_IBR) {
        sh->d = alloy_smr_create(scheme == S_EBR ? ALLOY_SMR_EBR : ALLOY_SMR_IBR);
    }
    ck_epoch_init(&sh->epoch);
    ck_hp_init(&sh->hp, 2, ALLOY_SMR_IBR_SCAN_MIN, hp_destroy);
    counts_reset();
    bctx mc;
    thread_setup(sh, &mc, true);
    structure_init(sh, &mc);
    int total = nthreads + (stall ? 1 : 0);
    pthread_barrier_init(&sh->ready, NULL, (unsigned)total + 1);
    worker *ws = alloy_malloc_aligned((size_t)nthreads * sizeof *ws, 64);
    memset(ws, 0, (size_t)nthreads * sizeof *ws);
    for (int i = 0; i < nthreads; i++) {
        ws[i].sh = sh;
        ws[i].id = i;
        pthread_create(&ws[i].t, NULL, worker_main, &ws[i]);
    }
    pthread_t reader;
    if (stall) pthread_create(&reader, NULL, stall_reader, sh);
    pthread_barrier_wait(&sh->ready);
    double t0 = now_s();
    __atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
    uint64_t peak = 0;
    struct timespec ms = {0, 1000000};
    for (;;) {
        nanosleep(&ms, NULL);
        uint64_t pending;
        if (sh->d != NULL) {
            alloy_smr_stats st;
            alloy_smr_stats_get(sh->d, &st);
            pending = st.pending;
        } else {
            pending = counts_pending();
        }
        if (pending > peak) peak = pending;
        if (now_s() - t0 >= seconds &&
            (!stall || __atomic_load_n(&sh->stall, __ATOMIC_ACQUIRE) == 2))
            break;
    }
    __atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
    double t1 = now_s();
    uint64_t ops = 0, stall_ops = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(ws[i].t, NULL);
        ops += ws[i].ops;
        stall_ops += ws[i].stall_ops;
    }
    if (stall) pthread_join(reader, NULL);
    structure_free(sh, &mc);
    reclaim_all(sh, &mc);
    /* After the barrier's grace period every record's callbacks may run. */
    if (scheme == S_CK_EPOCH)
        for (int i = 0; i < nthreads; i++) ck_epoch_reclaim(ws[i].c.er);
    thread_teardown(sh, &mc);
    for (int i = 0; i < nthreads; i++) {
        for (size_t k = 0; k < ws[i].c.nleak; k++)
            alloy_free_aligned_sized(ws[i].c.leak[k], NODE_BYTES, NODE_BYTES);
        free(ws[i].c.leak);
        free(ws[i].c.er);
        if (ws[i].c.hr != NULL) {
            free(ws[i].c.hr->pointers);
            free(ws[i].c.hr);
        }
    }
    free(sh->reader.er);
    if (sh->reader.hr != NULL) {
        free(sh->reader.hr->pointers);
        free(sh->reader.hr);
    }
    for (size_t k = 0; k < mc.nleak; k++)
        alloy_free_aligned_sized(mc.leak[k], NODE_BYTES, NODE_BYTES);
    free(mc.leak);
    free(mc.er);
    if (mc.hr != NULL) {
        free(mc.hr->pointers);
        free(mc.hr);
    }
    if (sh->d != NULL) alloy_smr_destroy(sh->d);
    pthread_barrier_destroy(&sh->ready);
    alloy_free_aligned_sized(ws, 64, (size_t)nthreads * sizeof *ws);
    result r = {(double)ops / (t1 - t0) / 1e6, peak, stall_ops};
    alloy_free_aligned_sized(sh, 128, sizeof *sh);
    alloy_collect(true); /* hand the run's memory back before the next one */
    return r;
}

/* The stalled reader: holds a section (and the top node) for 1 s. */
static void *stall_reader(void *p) {
    shared *sh = p;
    pin(sh->nthreads);
    bctx c;
    thread_setup(sh, &c, false);
    pthread_barrier_wait(&sh->ready);
    while (!__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE)) {
    }
    switch (sh->scheme) {
    case S_EBR:
    case S_IBR:
        alloy_smr_enter(sh->d);
        (void)ALLOY_SMR_PROTECT(sh->d, &sh->als.top);
        break;
    case S_RCU_CALL:
    case S_RCU_DEFER:
        rcu_read_lock();
        break;
    case S_CK_EPOCH:
        ck_epoch_begin(c.er, NULL);
        break;
    case S_CK_HP:
        (void)hp_load(c.hr, 0, (void *const *)&sh->chs.top);
        break;
    default:
        break;
    }
    __atomic_store_n(&sh->stall, 1, __ATOMIC_RELEASE);
    struct timespec one = {1, 0};
    nanosleep(&one, NULL); /* the stall being simulated */
    __atomic_store_n(&sh->stall, 2, __ATOMIC_RELEASE);
    switch (sh->scheme) {
    case S_EBR:
    case S_IBR:
        alloy_smr_exit(sh->d);
        break;
    case S_RCU_CALL:
    case S_RCU_DEFER:
        rcu_read_unlock();
        break;
    case S_CK_EPOCH:
        ck_epoch_end(c.er, NULL);
        break;
    case S_CK_HP:
        ck_hp_clear(c.hr);
        break;
    default:
        break;
    }
    thread_teardown(sh, &c);
    sh->reader = c; /* its ck records stay registered: freed by run_once after the joins */
    return NULL;
}

/* ---- micro benchmarks --------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double micro_enter_exit(int scheme, long n) {
    double t0, t1;
    if (scheme == S_EBR || scheme == S_IBR) {
        alloy_smr *d = alloy_smr_create(scheme == S_EBR ? ALLOY_SMR_EBR : ALLOY_SMR_IBR);
        alloy_smr_enter(d);
        alloy_smr_exit(d);
        t0 = now_s();
        for (long i = 0; i < n; i++) {
            alloy_smr_enter(d);
            __asm__ __volatile__("" ::: "memory");
            alloy_smr_exit(d);
        }
        t1 = now_s();
        alloy_smr_destroy(d);
    } else if (scheme == S_RCU_CALL) {
        rcu_register_thread();
        t0 = now_s();
        for (long i = 0; i < n; i++) {
            rcu_read_lock();
            __asm__ __volatile__("" ::: "memory");
            rcu_read_unlock();
        }
        t1 = now_s();
        rcu_unregister_thread();
    } else {
        ck_epoch_t ep;
        ck_epoch_record_t rec;
        ck_epoch_init(&ep);
        memset(&rec, 0, sizeof rec);
        ck_epoch_register(&ep, &rec, NULL);
        t0 = now_s();
        for (long i = 0; i < n; i++) {
            ck_epoch_begin(&rec, NULL);
            __asm__ __volatile__("" ::: "memory");
            ck_epoch_end(&rec, NULL);
        }
        t1 = now_s();
        ck_epoch_unregister(&rec);
    }
    return (t1 - t0) / (double)n * 1e9;
}

/* Amortized retire: batches of 1000 nodes are allocated (untimed), then
 * retired back to back (timed); the time includes the reclamation and frees
 * those retires perform. n nodes in all. */
static double micro_retire(int scheme, long n) {
    alloy_smr *d = alloy_smr_create(scheme == S_EBR ? ALLOY_SMR_EBR : ALLOY_SMR_IBR);
    enum { BATCH = 1000 };
    void *nodes[BATCH];
    double spent = 0;
    for (long done = 0; done < n; done += BATCH) {
        for (int i = 0; i < BATCH; i++) nodes[i] = alloy_smr_node_alloc(d, 16);
        double t0 = now_s();
        for (int i = 0; i < BATCH; i++) alloy_smr_retire_node(d, nodes[i], 16);
        spent += now_s() - t0;
    }
    alloy_smr_barrier(d);
    alloy_smr_destroy(d);
    return spent / (double)n * 1e9;
}

/* ---- driver ------------------------------------------------------------------------------ */

static void print_config(int ds, int nthreads, result (*res)[NSCHEMES], int reps,
                         const int *schemes, int nsch) {
    double med[NSCHEMES] = {0};
    double peak[NSCHEMES] = {0};
    for (int k = 0; k < nsch; k++) {
        int s = schemes[k];
        double m[64], p[64];
        for (int r = 0; r < reps; r++) {
            m[r] = res[r][s].mops;
            p[r] = (double)res[r][s].peak;
        }
        med[s] = median(m, reps);
        peak[s] = median(p, reps);
    }
    for (int k = 0; k < nsch; k++) {
        int s = schemes[k];
        char ratio[16] = "      -"; /* no leak run to compare with (--only) */
        if (med[S_LEAK] > 0) snprintf(ratio, sizeof ratio, "%6.2fx", med[s] / med[S_LEAK]);
        printf("| %-13s | %2d | %-14s | %8.2f | %s | %12.0f |\n", ds_names[ds], nthreads,
               scheme_names[s], med[s], ratio, peak[s]);
    }
    fflush(stdout);
}

int main(int argc, char **argv) {
    int reps = 5;
    double seconds = 0.2;
    int threads[16] = {1, 2, 4, 8, 16};
    int nthreads_cfg = 5;
    bool do_stall = true;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            reps = 3;
            seconds = 0.1;
            threads[0] = 1, threads[1] = 2, threads[2] = 16;
            nthreads_cfg = 3;
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
            if (reps < 1 || reps > 64) reps = 5;
        } else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]) / 1000.0;
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            nthreads_cfg = 0;
            for (char *tok = strtok(argv[++i], ","); tok && nthreads_cfg < 16;
                 tok = strtok(NULL, ","))
                threads[nthreads_cfg++] = atoi(tok);
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--no-pin") == 0) {
            pin_threads = false;
        } else if (strcmp(argv[i], "--no-stall") == 0) {
            do_stall = false;
        } else {
            bool help = strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
            fprintf(help ? stdout : stderr,
                    "usage: %s [--quick] [--reps N] [--ms N] [--threads 1,2,4] [--no-pin] "
                    "[--no-stall] [--only SCHEME] [--help]\n"
                    "Runs lock-free structures under alloy's EBR and IBR, liburcu and Concurrency "
                    "Kit\nand prints operations per second per thread count (medians of N reps).\n",
                    argv[0]);
            return help ? 0 : 2;
        }
    }
    printf("# bench_smr: alloy %s backend, %d reps x %.0f ms per cell, medians%s\n\n",
           alloy_backend_name(), reps, seconds * 1000, pin_threads ? ", workers pinned" : "");

    printf("## Per-operation cost (one thread, median of %d)\n\n", reps);
    printf("| operation | ns |\n|---|---|\n");
    const long n = 20000000;
    int ee_schemes[] = {S_EBR, S_IBR, S_RCU_CALL, S_CK_EPOCH};
    const char *ee_names[] = {"alloy EBR enter+exit", "alloy IBR enter+exit",
                              "urcu rcu_read_lock+unlock", "ck_epoch_begin+end"};
    for (int k = 0; k < 4; k++) {
        double v[64];
        for (int r = 0; r < reps; r++) v[r] = micro_enter_exit(ee_schemes[k], n);
        printf("| %s | %.2f |\n", ee_names[k], median(v, reps));
    }
    for (int k = 0; k < 2; k++) {
        double v[64];
        for (int r = 0; r < reps; r++) v[r] = micro_retire(k == 0 ? S_EBR : S_IBR, 2000000);
        printf("| alloy %s retire_node (amortized, incl. reclamation) | %.2f |\n",
               k == 0 ? "EBR" : "IBR", median(v, reps));
    }
    printf("\n");

    printf("## Throughput (Mops/s) and peak unreclaimed nodes\n\n");
    printf("| structure | th | scheme | Mops/s | vs leak | peak unreclaimed |\n");
    printf("|---|---|---|---|---|---|\n");
    static result res[64][NSCHEMES];
    int all[NSCHEMES] = {S_LEAK, S_EBR, S_IBR, S_RCU_CALL, S_RCU_DEFER, S_CK_EPOCH, S_CK_HP};
    int listsch[] = {S_LEAK, S_EBR, S_IBR};
    for (int ds = DS_STACK; ds <= DS_LIST; ds++) {
        const int *sch = ds == DS_LIST ? listsch : all;
        int nsch = ds == DS_LIST ? 3 : NSCHEMES;
        int one[1];
        if (only != NULL) {
            nsch = 0;
            for (int k = 0; k < (ds == DS_LIST ? 3 : NSCHEMES); k++)
                if (strcmp(scheme_names[sch[k]], only) == 0) one[nsch++] = sch[k];
            if (nsch == 0) continue;
            sch = one;
        }
        for (int t = 0; t < nthreads_cfg; t++) {
            /* Round robin, starting one scheme later each rep, so that the
             * allocator state a run leaves behind falls on every scheme alike. */
            for (int r = 0; r < reps; r++)
                for (int k = 0; k < nsch; k++) {
                    int sk = sch[(k + r) % nsch];
                    res[r][sk] = run_once(sk, ds, threads[t], seconds, false);
                }
            print_config(ds, threads[t], res, reps, sch, nsch);
        }
    }

    if (do_stall) {
        printf(
            "\n## Stall: one reader holds a section for 1 s, 2 writers on the Treiber stack\n\n");
        printf("| scheme | writer ops during stall | Mops/s over the run | peak unreclaimed |\n");
        printf("|---|---|---|---|\n");
        for (int k = 0; k < NSCHEMES; k++) {
            if (only != NULL && strcmp(scheme_names[all[k]], only) != 0) continue;
            result r = run_once(all[k], DS_STACK, 2, 1.0, true);
            printf("| %-14s | %12llu | %8.2f | %12llu |\n", scheme_names[all[k]],
                   (unsigned long long)r.stall_ops, r.mops, (unsigned long long)r.peak);
            fflush(stdout);
        }
    }
    if (defer_registered) rcu_defer_unregister_thread();
    return 0;
}
