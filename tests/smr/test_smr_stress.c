/* SPDX-License-Identifier: MIT */
/* tests/smr/test_smr_stress.c - the reclamation torture matrix, the stall
 * test and the thread-churn test.
 *
 * Matrix: scheme x structure (Treiber stack, Michael-Scott queue,
 * Harris-Michael list) x threads (2, 4, 8, 16: oversubscribed on small
 * machines) x mix (write-heavy, read-mostly), with fixed seeds. Each run
 * checks contents (every pushed value popped exactly once, FIFO order per
 * producer for the queue, the list equal to a sequential model) and that
 * after alloy_smr_barrier nothing is pending and the routed heap's counters
 * are back to where they were.
 *
 * Sizes shrink under sanitizers; ALLOY_SMR_STRESS_SCALE=<n> multiplies them.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <alloy.h>

#include "cmocka_main.h"
#include "live_blocks.h"
#include "test_rand.h"
#include "ds/ds_alloy.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif

static const int thread_counts[] = {2, 4, 8, 16};
enum { MIX_WRITE = 0, MIX_READ = 1 };
enum { DS_STACK = 0, DS_QUEUE = 1, DS_LIST = 2 };

static unsigned scale(void) {
    const char *s = getenv("ALLOY_SMR_STRESS_SCALE");
    unsigned k = s != NULL ? (unsigned)strtoul(s, NULL, 10) : 1;
    return k == 0 ? 1 : k;
}

/* Operations per configuration, split between its threads. */
static unsigned total_ops(void) {
    return (UNDER_SANITIZER ? 120000u : 1000000u) * scale();
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- one configuration ------------------------------------------------------ */

typedef struct run {
    alloy_smr *d;
    int ds, mix, nthreads;
    unsigned ops; /* per thread */
    ads_stack stack;
    ads_queue queue;
    ads_list list;
    pthread_barrier_t start;
} run;

typedef struct worker {
    run *r;
    int id;
    pthread_t t;
    uint64_t pushed;  /* values this thread pushed: (id << 32) | 0..pushed-1 */
    uint64_t *popped; /* values this thread popped */
    uint64_t npopped;
    bool *model; /* list: keys owned by this thread (key % nthreads == id) */
    int errors;
} worker;

enum { LIST_KEYS = 256 };

static void *worker_main(void *p) {
    worker *w = p;
    run *r = w->r;
    ads_ctx c = {r->d};
    uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(w->id + 1) + (uint64_t)r->ds * 977u +
                    (uint64_t)r->mix * 131u + (uint64_t)r->nthreads;
    pthread_barrier_wait(&r->start);
    for (unsigned i = 0; i < r->ops; i++) {
        uint64_t x = test_rand(&seed);
        unsigned roll = (unsigned)(x % 100);
        bool read = r->mix == MIX_READ ? roll < 80 : roll < 10;
        bool insert = (x >> 8) & 1;
        uint64_t v;
        if (r->ds == DS_LIST) {
            uint64_t key = (x >> 16) % LIST_KEYS;
            if (read) {
                (void)ads_list_contains(&r->list, &c, key);
                continue;
            }
            key = key - key % (uint64_t)r->nthreads + (uint64_t)w->id; /* a key this thread owns */
            if (key >= LIST_KEYS) continue;
            bool ok =
                insert ? ads_list_insert(&r->list, &c, key) : ads_list_remove(&r->list, &c, key);
            bool expect = insert ? !w->model[key] : w->model[key];
            if (ok != expect) w->errors++;
            if (ok) w->model[key] = insert;
            continue;
        }
        if (read) {
            if (r->ds == DS_STACK)
                (void)ads_stack_peek(&r->stack, &c, &v);
            else
                (void)ads_queue_peek(&r->queue, &c, &v);
            continue;
        }
        if (insert) {
            v = ((uint64_t)w->id << 32) | w->pushed++;
            bool ok = r->ds == DS_STACK ? ads_stack_push(&r->stack, &c, v)
                                        : ads_queue_push(&r->queue, &c, v);
            if (!ok) w->errors++;
        } else {
            bool ok = r->ds == DS_STACK ? ads_stack_pop(&r->stack, &c, &v)
                                        : ads_queue_pop(&r->queue, &c, &v);
            if (ok) w->popped[w->npopped++] = v;
        }
    }
    return NULL;
}

static void run_config(alloy_smr_scheme scheme, int ds, int nthreads, int mix) {
    uint64_t before = live_blocks();
    run *r = aligned_alloc(_Alignof(run), sizeof *r); /* the queue wants 128-byte alignment */
    assert_non_null(r);
    memset(r, 0, sizeof *r);
    r->d = alloy_smr_create(scheme);
    assert_non_null(r->d);
    r->ds = ds;
    r->mix = mix;
    r->nthreads = nthreads;
    r->ops = total_ops() / (unsigned)nthreads;
    ads_ctx c = {r->d};
    if (ds == DS_QUEUE) assert_true(ads_queue_init(&r->queue, &c));
    pthread_barrier_init(&r->start, NULL, (unsigned)nthreads);
    worker *ws = calloc((size_t)nthreads, sizeof *ws);
    for (int i = 0; i < nthreads; i++) {
        ws[i].r = r;
        ws[i].id = i;
        ws[i].popped = malloc(r->ops * sizeof(uint64_t));
        ws[i].model = calloc(LIST_KEYS, sizeof(bool));
        pthread_create(&ws[i].t, NULL, worker_main, &ws[i]);
    }
    for (int i = 0; i < nthreads; i++) pthread_join(ws[i].t, NULL);

    int errors = 0;
    if (ds == DS_LIST) {
        /* The list must equal the union of the owners' models, sorted, no duplicates. */
        bool expect[LIST_KEYS] = {false};
        for (int i = 0; i < nthreads; i++)
            for (int k = 0; k < LIST_KEYS; k++)
                if (ws[i].model[k]) expect[k] = true;
        uint64_t prev = 0;
        bool first = true;
        bool seen[LIST_KEYS] = {false};
        for (ads_node *n = r->list.head; n != NULL; n = n->next) {
            assert_true(((uintptr_t)n->next & 1u) == 0); /* nothing left marked */
            assert_true(n->key < LIST_KEYS);
            if (!first) assert_true(n->key > prev);
            prev = n->key;
            first = false;
            seen[n->key] = true;
        }
        for (int k = 0; k < LIST_KEYS; k++) assert_int_equal(seen[k], expect[k]);
        for (ads_node *n = r->list.head, *next; n != NULL; n = next) {
            next = n->next;
            alloy_smr_node_free(r->d, n, sizeof *n);
        }
    } else {
        /* Every pushed value is popped exactly once (by a worker or the drain). */
        uint64_t pushed = 0;
        for (int i = 0; i < nthreads; i++) pushed += ws[i].pushed;
        uint64_t *all = malloc((size_t)(pushed + 1) * sizeof *all);
        uint64_t n = 0;
        for (int i = 0; i < nthreads; i++) {
            memcpy(all + n, ws[i].popped, ws[i].npopped * sizeof *all);
            n += ws[i].npopped;
            if (ds == DS_QUEUE) {
                /* FIFO: one consumer sees each producer's values in push order. */
                uint64_t last[16];
                memset(last, 0xff, sizeof last);
                for (uint64_t k = 0; k < ws[i].npopped; k++) {
                    uint64_t v = ws[i].popped[k], prod = v >> 32;
                    if (last[prod] != UINT64_MAX) assert_true((v & 0xffffffffu) > last[prod]);
                    last[prod] = v & 0xffffffffu;
                }
            }
        }
        uint64_t v;
        while (ds == DS_STACK ? ads_stack_pop(&r->stack, &c, &v)
                              : ads_queue_pop(&r->queue, &c, &v)) {
            assert_true(n < pushed);
            all[n++] = v;
        }
        assert_int_equal(n, pushed);
        qsort(all, n, sizeof *all, cmp_u64);
        uint64_t k = 0;
        for (int i = 0; i < nthreads; i++)
            for (uint64_t s = 0; s < ws[i].pushed; s++)
                assert_int_equal(all[k++], ((uint64_t)i << 32) | s);
        free(all);
        if (ds == DS_QUEUE) ads_queue_drain_free(&r->queue, &c);
    }
    for (int i = 0; i < nthreads; i++) {
        errors += ws[i].errors;
        free(ws[i].popped);
        free(ws[i].model);
    }
    assert_int_equal(errors, 0);

    alloy_smr_barrier(r->d);
    alloy_smr_stats st;
    alloy_smr_stats_get(r->d, &st);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.retired, st.freed);
    assert_int_equal(st.threads, 1); /* the workers' records were freed at exit */
    alloy_smr_destroy(r->d);
    assert_live_blocks(before); /* the heap's counters balance */
    pthread_barrier_destroy(&r->start);
    free(ws);
    free(r);
}

static void matrix(alloy_smr_scheme scheme, int ds) {
    for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++)
        for (int mix = 0; mix < 2; mix++) run_config(scheme, ds, thread_counts[t], mix);
}

static void stress_ebr_stack(void **s) {
    (void)s, matrix(ALLOY_SMR_EBR, DS_STACK);
}
static void stress_ebr_queue(void **s) {
    (void)s, matrix(ALLOY_SMR_EBR, DS_QUEUE);
}
static void stress_ebr_list(void **s) {
    (void)s, matrix(ALLOY_SMR_EBR, DS_LIST);
}
static void stress_ibr_stack(void **s) {
    (void)s, matrix(ALLOY_SMR_IBR, DS_STACK);
}
static void stress_ibr_queue(void **s) {
    (void)s, matrix(ALLOY_SMR_IBR, DS_QUEUE);
}
static void stress_ibr_list(void **s) {
    (void)s, matrix(ALLOY_SMR_IBR, DS_LIST);
}

/* ---- stall ---------------------------------------------------------------------- */

/* Bound asserted for IBR while one reader is stalled (nodes pending). */
#define IBR_STALL_BOUND 10000u
enum { STALL_WRITERS = 4, STACK_PREFILL = 1000 };

typedef struct stall {
    alloy_smr *d;
    ads_stack stack;
    int stalled;   /* atomic: 1 while the reader sits in its section */
    int done;      /* atomic: the stall is over */
    uint64_t peak; /* atomic max of pending seen by writers during the stall */
    uint64_t seen; /* the key the reader read from its node after the stall */
    uint64_t cap;  /* ops a writer makes during the stall before it idles */
    uint64_t ops[STALL_WRITERS];
} stall;

static void *stall_reader(void *p) {
    stall *s = p;
    alloy_smr_enter(s->d);
    ads_node *top =
        ALLOY_SMR_PROTECT(s->d, &s->stack.top); /* holds a node, as a real reader would */
    __atomic_store_n(&s->stalled, 1, __ATOMIC_SEQ_CST);
    /* The stall being simulated: a reader descheduled for 1 s inside its section. */
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
    s->seen = top != NULL ? top->key : UINT64_MAX; /* freed under it: ASan, or a wrong key */
    alloy_smr_exit(s->d);
    __atomic_store_n(&s->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

typedef struct stall_writer {
    stall *s;
    int id;
} stall_writer;

static void *stall_write(void *p) {
    stall_writer *w = p;
    stall *s = w->s;
    ads_ctx c = {s->d};
    uint64_t seed = 12345u + (uint64_t)w->id, v;
    while (!__atomic_load_n(&s->stalled, __ATOMIC_ACQUIRE)) sched_yield();
    uint64_t n = 0;
    while (!__atomic_load_n(&s->done, __ATOMIC_ACQUIRE)) {
        if (n >= s->cap) {
            sched_yield(); /* enough garbage made; idle until the stall ends */
            continue;
        }
        if (test_rand(&seed) & 1)
            ads_stack_push(&s->stack, &c, n);
        else if (ads_stack_pop(&s->stack, &c, &v))
            (void)v;
        if ((++n & 255) == 0) {
            alloy_smr_stats st;
            alloy_smr_stats_get(s->d, &st);
            uint64_t peak = __atomic_load_n(&s->peak, __ATOMIC_RELAXED);
            while (st.pending > peak &&
                   !__atomic_compare_exchange_n(&s->peak, &peak, st.pending, true, __ATOMIC_RELAXED,
                                                __ATOMIC_RELAXED)) {
            }
        }
    }
    s->ops[w->id] = n;
    return NULL;
}

static uint64_t stall_run(alloy_smr_scheme scheme) {
    stall *s = calloc(1, sizeof *s);
    s->d = alloy_smr_create(scheme);
    s->cap = (UNDER_SANITIZER ? 50000u : 500000u) * scale();
    ads_ctx c = {s->d};
    for (int i = 0; i < STACK_PREFILL; i++) ads_stack_push(&s->stack, &c, (uint64_t)i);
    pthread_t r, wt[STALL_WRITERS];
    stall_writer ws[STALL_WRITERS];
    for (int i = 0; i < STALL_WRITERS; i++) {
        ws[i] = (stall_writer){s, i};
        pthread_create(&wt[i], NULL, stall_write, &ws[i]);
    }
    pthread_create(&r, NULL, stall_reader, s);
    pthread_join(r, NULL);
    for (int i = 0; i < STALL_WRITERS; i++) pthread_join(wt[i], NULL);
    /* No writer blocked: each kept completing operations during the stall. */
    for (int i = 0; i < STALL_WRITERS; i++) assert_true(s->ops[i] > 0);
    /* The reader's node (the top when it entered: writers start after) was still intact. */
    assert_int_equal(s->seen, STACK_PREFILL - 1);
    uint64_t v;
    while (ads_stack_pop(&s->stack, &c, &v)) {
    }
    alloy_smr_barrier(s->d);
    alloy_smr_stats st;
    alloy_smr_stats_get(s->d, &st);
    assert_int_equal(st.pending, 0);
    uint64_t total = 0;
    for (int i = 0; i < STALL_WRITERS; i++) total += s->ops[i];
    print_message(
        "smr stall %s: %d writers, %llu ops during a 1 s stall, peak pending %llu nodes\n",
        alloy_smr_scheme_name(scheme), STALL_WRITERS, (unsigned long long)total,
        (unsigned long long)s->peak);
    uint64_t peak = s->peak;
    alloy_smr_destroy(s->d);
    free(s);
    return peak;
}

static void stall_ibr_bounded(void **state) {
    (void)state;
    uint64_t before = live_blocks();
    uint64_t peak = stall_run(ALLOY_SMR_IBR);
    assert_true(peak <= IBR_STALL_BOUND);
    assert_live_blocks(before);
}

static void stall_ebr_grows(void **state) {
    (void)state;
    uint64_t before = live_blocks();
    uint64_t peak = stall_run(ALLOY_SMR_EBR);
    /* Reported, not bounded: EBR keeps everything retired during the stall. */
    print_message("smr stall ebr: garbage grew to %llu nodes (IBR bound is %u)\n",
                  (unsigned long long)peak, IBR_STALL_BOUND);
    /* EBR cannot free what was retired during the stall: far past IBR's bound. */
    assert_true(peak > IBR_STALL_BOUND);
    assert_live_blocks(before);
}

/* ---- thread churn ------------------------------------------------------------------ */

typedef struct churn {
    alloy_smr *d;
    ads_stack *stack;
    int n;
} churn;

static void *churn_thread(void *p) {
    churn *ch = p;
    ads_ctx c = {ch->d};
    uint64_t v;
    for (int i = 0; i < ch->n; i++) {
        ads_stack_push(ch->stack, &c, (uint64_t)i);
        if (ads_stack_pop(ch->stack, &c, &v)) (void)v;
    }
    return NULL;
}

static void churn_run(alloy_smr_scheme scheme) {
    uint64_t before = live_blocks();
    alloy_smr *d = alloy_smr_create(scheme);
    ads_stack stack = {NULL};
    enum { THREADS = 8 };
    int rounds = UNDER_SANITIZER ? 10 : 40;
    churn ch = {d, &stack, UNDER_SANITIZER ? 300 : 2000};
    uint64_t baseline = 0;
    uint32_t slots = 0;
    for (int round = 0; round < rounds; round++) {
        pthread_t t[THREADS];
        for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, churn_thread, &ch);
        for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
        /* This thread adopts the exited threads' nodes; two epochs free them. */
        alloy_smr_poll(d);
        alloy_smr_poll(d);
        alloy_smr_stats st;
        alloy_smr_stats_get(d, &st);
        assert_int_equal(st.threads, 1); /* no record leaks: only this thread's */
        assert_int_equal(st.pending, 0);
        /* Nodes in this thread's node cache are live blocks kept on purpose, bounded. */
        assert_true(st.cached <= 64 * 1024 / 64);
        uint64_t live = live_blocks() - st.cached;
        if (round == 0) {
            baseline = live;
            slots = st.slots;
        }
        /* Flat: the same blocks live after every round, slots reused. */
        assert_true(live <= baseline + 64);
        assert_int_equal(st.slots, slots);
    }
    uint64_t v;
    ads_ctx c = {d};
    while (ads_stack_pop(&stack, &c, &v)) {
    }
    alloy_smr_barrier(d);
    alloy_smr_destroy(d);
    assert_live_blocks(before);
}

static void churn_ebr(void **s) {
    (void)s, churn_run(ALLOY_SMR_EBR);
}
static void churn_ibr(void **s) {
    (void)s, churn_run(ALLOY_SMR_IBR);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(stress_ebr_stack),  cmocka_unit_test(stress_ebr_queue),
    cmocka_unit_test(stress_ebr_list),   cmocka_unit_test(stress_ibr_stack),
    cmocka_unit_test(stress_ibr_queue),  cmocka_unit_test(stress_ibr_list),
    cmocka_unit_test(stall_ibr_bounded), cmocka_unit_test(stall_ebr_grows),
    cmocka_unit_test(churn_ebr),         cmocka_unit_test(churn_ibr),
};

ALLOY_TEST_MAIN(tests)
