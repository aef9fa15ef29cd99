/* SPDX-License-Identifier: MIT */
/* tests/smr/test_smr.c - alloy_smr API: sections, retire, poll, barrier,
 * node allocation, thread exit hand-off, fork. Every case runs on both
 * schemes and ends by destroying its domain and checking that the routed
 * heap's counters are back where they started (when counters are built in).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <alloy.h>

#include "cmocka_main.h"
#include "live_blocks.h"

static const alloy_smr_scheme schemes[] = {ALLOY_SMR_EBR, ALLOY_SMR_IBR};

typedef struct counting {
    uint64_t calls; /* atomic */
    uint64_t bytes; /* atomic */
} counting;

static void counting_free(void *ctx, void *p, size_t size) {
    counting *c = ctx;
    __atomic_add_fetch(&c->calls, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&c->bytes, size, __ATOMIC_RELAXED);
    alloy_free_sized(p, size);
}

static void test_create_destroy(void **state) {
    (void)state;
    uint64_t before = live_blocks();
    for (size_t i = 0; i < 2; i++) {
        alloy_smr *d = alloy_smr_create(schemes[i]);
        assert_non_null(d);
        assert_int_equal(alloy_smr_scheme_of(d), schemes[i]);
        assert_string_equal(alloy_smr_scheme_name(schemes[i]), i == 0 ? "ebr" : "ibr");
        alloy_smr_stats st;
        alloy_smr_stats_get(d, &st);
        assert_int_equal(st.retired, 0);
        assert_int_equal(st.threads, 0);
        alloy_smr_destroy(d);
    }
    alloy_smr_destroy(NULL);
    errno = 0;
    assert_null(alloy_smr_create((alloy_smr_scheme)7));
    assert_int_equal(errno, EINVAL);
    assert_live_blocks(before);
}

/* Another thread polling d: it advances the clock as far as the open sections allow. */
static void *poller(void *p) {
    for (int k = 0; k < 8; k++) (void)alloy_smr_poll(p);
    return NULL;
}

static void test_sections_nest(void **state) {
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        alloy_smr *d = alloy_smr_create(schemes[i]);
        void *shared = alloy_smr_node_alloc(d, 16);
        void *slot = shared;
        alloy_smr_enter(d);
        alloy_smr_enter(d);
        assert_ptr_equal(alloy_smr_protect(d, &slot), shared);
        alloy_smr_exit(d);
        /* Still inside the outer section: a node unlinked now must outlive it, however
         * much another thread advances the clock and this one polls. */
        __atomic_store_n(&slot, NULL, __ATOMIC_SEQ_CST);
        alloy_smr_retire_node(d, shared, 16);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, poller, d), 0);
        pthread_join(t, NULL);
        for (int k = 0; k < 4; k++) (void)alloy_smr_poll(d);
        alloy_smr_stats st;
        alloy_smr_stats_get(d, &st);
        assert_int_equal(st.pending, 1);
        alloy_smr_exit(d);
        for (int k = 0; k < 4; k++) (void)alloy_smr_poll(d);
        alloy_smr_stats_get(d, &st);
        assert_int_equal(st.pending, 0);
        assert_int_equal(st.threads, 1); /* joined on first use; the poller's record is gone */
        alloy_smr_destroy(d);
    }
}

static void test_node_alloc_layout(void **state) {
    (void)state;
    uint64_t before = live_blocks();
    for (size_t i = 0; i < 2; i++) {
        alloy_smr *d = alloy_smr_create(schemes[i]);
        bool ibr = schemes[i] == ALLOY_SMR_IBR;
        assert_int_equal(alloy_smr_node_footprint(d, 1), 64);
        assert_int_equal(alloy_smr_node_footprint(d, 56), 64);
        assert_int_equal(alloy_smr_node_footprint(d, 64), ibr ? 128 : 64);
        assert_int_equal(alloy_smr_node_footprint(d, 100), 128);
        assert_int_equal(alloy_smr_node_footprint(d, 0), 64);
        for (size_t size = 0; size < 300; size += 7) {
            unsigned char *p = alloy_smr_node_alloc(d, size);
            assert_non_null(p);
            assert_int_equal((uintptr_t)p % 64, 0);
            memset(p, 0xab, size); /* the caller's bytes never overlap the birth era */
            alloy_smr_node_free(d, p, size);
        }
        errno = 0;
        assert_null(alloy_smr_node_alloc(d, SIZE_MAX - 8));
        assert_int_equal(errno, ENOMEM);
        alloy_smr_node_free(d, NULL, 8);
        alloy_smr_destroy(d);
    }
    assert_live_blocks(before);
}

static void test_retire_barrier_frees_all(void **state) {
    (void)state;
    uint64_t before = live_blocks();
    for (size_t i = 0; i < 2; i++) {
        alloy_smr *d = alloy_smr_create(schemes[i]);
        counting c = {0, 0};
        enum { N = 1000 };
        for (int k = 0; k < N; k++) {
            alloy_smr_enter(d);
            alloy_smr_retire(d, alloy_malloc(24), 24, counting_free, &c);
            alloy_smr_exit(d);
            alloy_smr_retire_node(d, alloy_smr_node_alloc(d, 40), 40);
        }
        alloy_smr_barrier(d);
        alloy_smr_stats st;
        alloy_smr_stats_get(d, &st);
        assert_int_equal(st.retired, 2 * N);
        assert_int_equal(st.freed, 2 * N);
        assert_int_equal(st.pending, 0);
        assert_int_equal(c.calls, N);
        assert_int_equal(c.bytes, 24 * N);
        alloy_smr_destroy(d);
    }
    assert_live_blocks(before);
}

static void test_retire_amortized_without_poll(void **state) {
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        alloy_smr *d = alloy_smr_create(schemes[i]);
        enum { N = 100000 };
        for (int k = 0; k < N; k++) {
            alloy_smr_enter(d);
            void *n = alloy_smr_node_alloc(d, 16);
            alloy_smr_exit(d);
            alloy_smr_retire_node(d, n, 16);
        }
        alloy_smr_stats st;
        alloy_smr_stats_get(d, &st);
        /* Reclamation happened inside retire: only a bounded tail is pending. */
        assert_int_equal(st.retired, N);
        assert_true(st.pending < 4096);
        alloy_smr_destroy(d); /* frees the tail */
    }
}

/* A free function may retire (a chain: each freed link retires the next) and poll. */
typedef struct chain {
    alloy_smr *d;
    int left;      /* links still to retire */
    uint64_t done; /* links freed */
} chain;

static void chain_free(void *ctx, void *p, size_t size) {
    chain *c = ctx;
    alloy_free_sized(p, size);
    c->done++;
    if (c->left > 0) {
        c->left--;
        alloy_smr_retire(c->d, alloy_malloc(16), 16, chain_free, c);
        (void)alloy_smr_poll(c->d); /* re-entered from a free function: a no-op */
    }
}

static void test_free_fn_may_retire(void **state) {
    (void)state;
    uint64_t before = live_blocks();
    for (size_t i = 0; i < 2; i++) {
        alloy_smr *d = alloy_smr_create(schemes[i]);
        chain c = {d, 5000, 0};
        alloy_smr_retire(d, alloy_malloc(16), 16, chain_free, &c);
        for (int k = 0; k < 20000 && c.done < 5001; k++) {
            alloy_smr_retire_node(d, alloy_smr_node_alloc(d, 8), 8); /* drives reclamation */
        }
        alloy_smr_barrier(d);
        while (c.done < 5001)
            alloy_smr_barrier(d); /* each barrier frees what was retired before it */
        assert_int_equal(c.done, 5001);
        alloy_smr_stats st;
        alloy_smr_stats_get(d, &st);
        assert_int_equal(st.pending, 0);
        alloy_smr_destroy(d);
    }
    assert_live_blocks(before);
}

static void test_poll(void **state) {
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        alloy_smr *d = alloy_smr_create(schemes[i]);
        counting c = {0, 0};
        for (int k = 0; k < 10; k++) alloy_smr_retire(d, alloy_malloc(8), 8, counting_free, &c);
        size_t freed = 0;
        for (int k = 0; k < 4; k++) freed += alloy_smr_poll(d);
        assert_int_equal(freed, 10);
        assert_int_equal(c.calls, 10);
        alloy_smr_destroy(d);
    }
}

/* Nodes this thread reclaims come back from its node cache: the same
 * addresses and no new heap blocks. The cache is counted in stats.cached,
 * bounded, bypassed by other footprints, and returned by the barrier. */
static void test_node_cache(void **state) {
    (void)state;
    uint64_t before = live_blocks();
    for (size_t i = 0; i < 2; i++) {
        alloy_smr *d = alloy_smr_create(schemes[i]);
        enum { N = 200 };
        void *nodes[N], *again[N];
        for (int k = 0; k < N; k++) nodes[k] = alloy_smr_node_alloc(d, 40);
        for (int k = 0; k < N; k++) alloy_smr_retire_node(d, nodes[k], 40);
        for (int k = 0; k < 4; k++) (void)alloy_smr_poll(d);
        alloy_smr_stats st;
        alloy_smr_stats_get(d, &st);
        assert_int_equal(st.freed, N);
        assert_int_equal(st.cached, N);
        uint64_t live = live_blocks();
        for (int k = 0; k < N; k++) {
            again[k] = alloy_smr_node_alloc(d, 40);
            bool found = false;
            for (int j = 0; j < N && !found; j++) found = again[k] == nodes[j];
            assert_true(found);
            memset(again[k], 0xab, 40);
        }
        assert_live_blocks(live); /* no heap allocation */
        alloy_smr_stats_get(d, &st);
        assert_int_equal(st.cached, 0);

        /* Freed directly, they are cached too; a larger footprint is not. */
        for (int k = 0; k < N; k++) alloy_smr_node_free(d, again[k], 40);
        void *big = alloy_smr_node_alloc(d, 200);
        assert_non_null(big);
        alloy_smr_node_free(d, big, 200);
        alloy_smr_stats_get(d, &st);
        assert_int_equal(st.cached, N);
        alloy_smr_barrier(d);
        alloy_smr_stats_get(d, &st);
        assert_int_equal(st.cached, 0);
        assert_live_blocks(live - N);

        /* Bounded: 64 KiB of 64-byte nodes. */
        enum { M = 5000 };
        for (int k = 0; k < M; k++) alloy_smr_retire_node(d, alloy_smr_node_alloc(d, 40), 40);
        for (int k = 0; k < 4; k++) (void)alloy_smr_poll(d);
        alloy_smr_stats_get(d, &st);
        assert_int_equal(st.pending, 0);
        assert_true(st.cached > 0 && st.cached <= 64 * 1024 / 64);
        alloy_smr_destroy(d);
    }
    assert_live_blocks(before);
}

/* A thread's node cache goes back to the heap when the thread exits. */
static void *cache_filler(void *p) {
    alloy_smr *d = p;
    alloy_smr_enter(d); /* join d (an EBR thread that only allocates never does) */
    alloy_smr_exit(d);
    enum { N = 64 };
    void *n[N];
    for (int k = 0; k < N; k++) n[k] = alloy_smr_node_alloc(d, 24);
    for (int k = 0; k < N; k++) alloy_smr_node_free(d, n[k], 24);
    alloy_smr_stats st;
    alloy_smr_stats_get(d, &st);
    return (void *)(uintptr_t)st.cached;
}

/* Under EBR a thread that only allocates and frees nodes never joins the domain. */
static void *alloc_only(void *p) {
    alloy_smr *d = p;
    void *n[16];
    for (int k = 0; k < 16; k++) n[k] = alloy_smr_node_alloc(d, 24);
    for (int k = 0; k < 16; k++) alloy_smr_node_free(d, n[k], 24);
    alloy_smr_stats st;
    alloy_smr_stats_get(d, &st);
    return (void *)(uintptr_t)st.threads;
}

static void test_ebr_alloc_only_thread_does_not_join(void **state) {
    (void)state;
    alloy_smr *d = alloy_smr_create(ALLOY_SMR_EBR);
    uint64_t before = live_blocks();
    pthread_t t;
    void *threads = (void *)1;
    assert_int_equal(pthread_create(&t, NULL, alloc_only, d), 0);
    assert_int_equal(pthread_join(t, &threads), 0);
    assert_int_equal((uintptr_t)threads, 0);
    assert_live_blocks(before);
    alloy_smr_destroy(d);
}

static void test_node_cache_released_at_exit(void **state) {
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        alloy_smr *d = alloy_smr_create(schemes[i]);
        uint64_t before = live_blocks();
        pthread_t t;
        void *cached = NULL;
        assert_int_equal(pthread_create(&t, NULL, cache_filler, d), 0);
        assert_int_equal(pthread_join(t, &cached), 0);
        assert_int_equal((uintptr_t)cached, 64);
        alloy_smr_stats st;
        alloy_smr_stats_get(d, &st);
        assert_int_equal(st.cached, 0);
        assert_int_equal(st.threads, 0);
        assert_live_blocks(before);
        alloy_smr_destroy(d);
    }
}

/* A reader inside a section keeps a retired node alive until it leaves. */
typedef struct hold_arg {
    alloy_smr *d;
    void **slot;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int phase; /* 1 = inside with the node, 2 = may leave */
    uint64_t seen;
} hold_arg;

static void *holder(void *p) {
    hold_arg *a = p;
    alloy_smr_enter(a->d);
    uint64_t *node = alloy_smr_protect(a->d, a->slot);
    pthread_mutex_lock(&a->mu);
    a->phase = 1;
    pthread_cond_broadcast(&a->cv);
    while (a->phase != 2) pthread_cond_wait(&a->cv, &a->mu);
    pthread_mutex_unlock(&a->mu);
    a->seen = *node; /* ASan: this read would fail if the node were freed */
    alloy_smr_exit(a->d);
    return NULL;
}

/* Start a holder on a and wait until it is inside its section with the node. */
static void holder_start(hold_arg *a, pthread_t *t) {
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    assert_int_equal(pthread_create(t, NULL, holder, a), 0);
    pthread_mutex_lock(&a->mu);
    while (a->phase != 1) pthread_cond_wait(&a->cv, &a->mu);
    pthread_mutex_unlock(&a->mu);
}

/* Let the holder read its node and leave; join it. */
static void holder_release(hold_arg *a, pthread_t t) {
    pthread_mutex_lock(&a->mu);
    a->phase = 2;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(t, NULL);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
}

static void test_reader_keeps_node(void **state) {
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        alloy_smr *d = alloy_smr_create(schemes[i]);
        uint64_t *node = alloy_smr_node_alloc(d, sizeof *node);
        *node = 42;
        void *slot = node;
        hold_arg a = {.d = d, .slot = &slot, .phase = 0};
        pthread_t t;
        holder_start(&a, &t);
        __atomic_store_n(&slot, NULL, __ATOMIC_SEQ_CST); /* unlink */
        alloy_smr_retire_node(d, node, sizeof *node);
        for (int k = 0; k < 5; k++) alloy_smr_poll(d);
        /* IBR also churns eras so the reservation's interval is the only pin. */
        for (int k = 0; k < 300; k++) alloy_smr_node_free(d, alloy_smr_node_alloc(d, 8), 8);
        for (int k = 0; k < 5; k++) alloy_smr_poll(d);
        alloy_smr_stats st;
        alloy_smr_stats_get(d, &st);
        assert_int_equal(st.pending, 1);
        holder_release(&a, t);
        assert_int_equal(a.seen, 42);
        alloy_smr_barrier(d);
        alloy_smr_stats_get(d, &st);
        assert_int_equal(st.pending, 0);
        alloy_smr_destroy(d);
    }
}

/* IBR: a reader's reservation does not pin nodes born after it. */
static void test_ibr_does_not_pin_younger_nodes(void **state) {
    (void)state;
    alloy_smr *d = alloy_smr_create(ALLOY_SMR_IBR);
    uint64_t *old = alloy_smr_node_alloc(d, 8);
    void *slot = old;
    hold_arg a = {.d = d, .slot = &slot, .phase = 0};
    *old = 7;
    pthread_t t;
    holder_start(&a, &t);
    enum { N = 5000 };
    for (int k = 0; k < N; k++) alloy_smr_retire_node(d, alloy_smr_node_alloc(d, 8), 8);
    alloy_smr_poll(d);
    alloy_smr_stats st;
    alloy_smr_stats_get(d, &st);
    /* Only nodes born in the reader's era (at most one era's worth) stay. */
    assert_true(st.pending <= ALLOY_SMR_IBR_ERA_ALLOCS + 1);
    holder_release(&a, t);
    assert_int_equal(a.seen, 7);
    alloy_smr_node_free(d, old, 8);
    alloy_smr_barrier(d);
    alloy_smr_stats_get(d, &st);
    assert_int_equal(st.pending, 0);
    alloy_smr_destroy(d);
}

/* IBR: a protected load after the era moved extends the reservation once. */
static void test_ibr_reserve_extends(void **state) {
    (void)state;
    alloy_smr *d = alloy_smr_create(ALLOY_SMR_IBR);
    alloy_smr_enter(d);
    assert_true(alloy_smr_reserve(d)); /* reserved at entry: current */
    void *nodes[ALLOY_SMR_IBR_ERA_ALLOCS + 1];
    alloy_smr_stats before, after;
    alloy_smr_stats_get(d, &before);
    for (int i = 0; i <= ALLOY_SMR_IBR_ERA_ALLOCS; i++) nodes[i] = alloy_smr_node_alloc(d, 8);
    alloy_smr_stats_get(d, &after);
    assert_true(after.clock > before.clock); /* the era moved */
    assert_false(alloy_smr_reserve(d));      /* extended: reload and check again */
    assert_true(alloy_smr_reserve(d));
    alloy_smr_exit(d);
    for (int i = 0; i <= ALLOY_SMR_IBR_ERA_ALLOCS; i++) alloy_smr_node_free(d, nodes[i], 8);
    alloy_smr_destroy(d);
}

/* A thread that exits hands its nodes to the domain and its record is freed. */
typedef struct exit_arg {
    alloy_smr *d;
    int n;
} exit_arg;

static void *retire_then_exit(void *p) {
    exit_arg *a = p;
    for (int k = 0; k < a->n; k++) {
        alloy_smr_enter(a->d);
        alloy_smr_exit(a->d);
        alloy_smr_retire_node(a->d, alloy_smr_node_alloc(a->d, 32), 32);
    }
    return NULL;
}

static void test_thread_exit_hands_off(void **state) {
    (void)state;
    uint64_t before = live_blocks();
    for (size_t i = 0; i < 2; i++) {
        alloy_smr *d = alloy_smr_create(schemes[i]);
        exit_arg a = {d, 100};
        pthread_t t;
        pthread_create(&t, NULL, retire_then_exit, &a);
        pthread_join(t, NULL);
        alloy_smr_stats st;
        alloy_smr_stats_get(d, &st);
        assert_int_equal(st.threads, 0); /* the exited thread's record is gone */
        assert_int_equal(st.retired, 100);
        assert_true(st.pending > 0); /* handed off, not lost */
        alloy_smr_poll(d);           /* adopted by this thread */
        alloy_smr_poll(d);
        alloy_smr_poll(d);
        alloy_smr_stats_get(d, &st);
        assert_int_equal(st.pending, 0);
        assert_int_equal(st.threads, 1);
        alloy_smr_destroy(d);
    }
    assert_live_blocks(before);
}

/* Records of a destroyed domain are never touched again by their threads. */
static void test_many_domains(void **state) {
    (void)state;
    uint64_t before = live_blocks();
    for (int round = 0; round < 50; round++) {
        alloy_smr *ds[3];
        for (int k = 0; k < 3; k++) ds[k] = alloy_smr_create(schemes[(round + k) % 2]);
        for (int k = 0; k < 3; k++) {
            alloy_smr_enter(ds[k]);
            alloy_smr_retire_node(ds[k], alloy_smr_node_alloc(ds[k], 8), 8);
            alloy_smr_exit(ds[k]);
        }
        for (int k = 0; k < 3; k++) alloy_smr_destroy(ds[k]);
    }
    assert_live_blocks(before);
}

typedef struct fork_arg {
    alloy_smr *d;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int phase;
} fork_arg;

static void *fork_bystander(void *p) {
    fork_arg *a = p;
    alloy_smr_enter(a->d); /* inside a section when the fork happens */
    for (int k = 0; k < 50; k++) alloy_smr_retire_node(a->d, alloy_smr_node_alloc(a->d, 8), 8);
    pthread_mutex_lock(&a->mu);
    a->phase = 1;
    pthread_cond_broadcast(&a->cv);
    while (a->phase != 2) pthread_cond_wait(&a->cv, &a->mu);
    pthread_mutex_unlock(&a->mu);
    alloy_smr_exit(a->d);
    return NULL;
}

static void test_fork(void **state) {
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        fork_arg a = {.d = alloy_smr_create(schemes[i]), .phase = 0};
        pthread_mutex_init(&a.mu, NULL);
        pthread_cond_init(&a.cv, NULL);
        pthread_t t;
        pthread_create(&t, NULL, fork_bystander, &a);
        pthread_mutex_lock(&a.mu);
        while (a.phase != 1) pthread_cond_wait(&a.cv, &a.mu);
        pthread_mutex_unlock(&a.mu);
        alloy_smr_retire_node(a.d, alloy_smr_node_alloc(a.d, 8), 8);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            /* The bystander's section is gone with its thread: the barrier
             * must not wait for it, and its nodes are freed here. */
            alloy_smr_stats st;
            alloy_smr_stats_get(a.d, &st);
            int bad = st.threads != 1;
            alloy_smr_barrier(a.d);
            alloy_smr_stats_get(a.d, &st);
            bad |= (st.pending != 0) << 1;
            bad |= (st.retired != 51) << 2;
            alloy_smr_destroy(a.d);
            _exit(bad);
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        pthread_mutex_lock(&a.mu);
        a.phase = 2;
        pthread_cond_broadcast(&a.cv);
        pthread_mutex_unlock(&a.mu);
        pthread_join(t, NULL);
        alloy_smr_barrier(a.d);
        alloy_smr_stats st;
        alloy_smr_stats_get(a.d, &st);
        assert_int_equal(st.pending, 0);
        pthread_mutex_destroy(&a.mu);
        pthread_cond_destroy(&a.cv);
        alloy_smr_destroy(a.d);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_create_destroy),
    cmocka_unit_test(test_sections_nest),
    cmocka_unit_test(test_node_alloc_layout),
    cmocka_unit_test(test_retire_barrier_frees_all),
    cmocka_unit_test(test_retire_amortized_without_poll),
    cmocka_unit_test(test_free_fn_may_retire),
    cmocka_unit_test(test_poll),
    cmocka_unit_test(test_node_cache),
    cmocka_unit_test(test_node_cache_released_at_exit),
    cmocka_unit_test(test_ebr_alloc_only_thread_does_not_join),
    cmocka_unit_test(test_reader_keeps_node),
    cmocka_unit_test(test_ibr_does_not_pin_younger_nodes),
    cmocka_unit_test(test_ibr_reserve_extends),
    cmocka_unit_test(test_thread_exit_hands_off),
    cmocka_unit_test(test_many_domains),
    cmocka_unit_test(test_fork),
};

ALLOY_TEST_MAIN(tests)
