/* SPDX-License-Identifier: MIT */
/* tests/alloc/test_alloc_shared_pool.c - the thread-safe pool across threads:
 * cross-thread frees go home, caches survive their threads, and a stress
 * run with deterministic seeds hands blocks between threads at random. */
#define _GNU_SOURCE
#include <alloy.h>
#include <pthread.h>
#include <stdlib.h>

#include "alloc_test_util.h"
#include "cmocka_main.h"

enum { BLOCK = 96, N = 2000 };

typedef struct rig {
    alloy_tally tally;
    alloy_shared_pool pool;
} rig;

static void rig_init(rig *r) {
    alloy_tally_init(&r->tally, alloy_heap());
    assert_true(alloy_shared_pool_init(&r->pool, alloy_tally_allocator(&r->tally), BLOCK, 32));
}

static void rig_deinit(rig *r) {
    alloy_shared_pool_deinit(&r->pool);
    alloy_tally_report rep;
    alloy_tally_stats_get(&r->tally, &rep);
    assert_int_equal(rep.totals.current_count, 0); /* slabs and caches all returned */
}

typedef struct job {
    rig *r;
    void **blocks;
    size_t n;
    int ok;
} job;

static void *free_all(void *p) {
    job *j = p;
    j->ok = 1;
    for (size_t i = 0; i < j->n; i++) {
        j->ok &= pattern_check(j->blocks[i], BLOCK, i) == BLOCK;
        alloy_shared_pool_free(&j->r->pool, j->blocks[i]);
    }
    return NULL; /* thread exit flushes the queued frees */
}

static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

static void cross_thread_free_goes_home(void **state) {
    (void)state;
    rig r;
    rig_init(&r);
    static void *first[N], *second[N];
    for (size_t i = 0; i < N; i++) {
        first[i] = alloy_shared_pool_alloc(&r.pool);
        assert_non_null(first[i]);
        assert_int_equal((uintptr_t)first[i] % 32, 0);
        pattern_fill(first[i], BLOCK, i);
    }
    size_t slabs = alloy_shared_pool_slabs(&r.pool);
    job j = {&r, first, N, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, free_all, &j), 0);
    pthread_join(th, NULL);
    assert_true(j.ok);
    /* The same blocks come back to this thread; no new slab is needed. */
    for (size_t i = 0; i < N; i++) assert_non_null(second[i] = alloy_shared_pool_alloc(&r.pool));
    assert_int_equal(alloy_shared_pool_slabs(&r.pool), slabs);
    qsort(first, N, sizeof first[0], cmp_ptr);
    qsort(second, N, sizeof second[0], cmp_ptr);
    assert_memory_equal(first, second, sizeof first);
    for (size_t i = 0; i < N; i++) alloy_shared_pool_free(&r.pool, second[i]);
    rig_deinit(&r);
}

static void *alloc_some(void *p) {
    job *j = p;
    j->ok = 1;
    for (size_t i = 0; i < j->n; i++) {
        j->blocks[i] = alloy_shared_pool_alloc(&j->r->pool);
        j->ok &= j->blocks[i] != NULL;
        pattern_fill(j->blocks[i], BLOCK, i);
    }
    /* Free the second half here, keep the first half live past thread exit. */
    for (size_t i = j->n / 2; i < j->n; i++) alloy_shared_pool_free(&j->r->pool, j->blocks[i]);
    return NULL;
}

static void cache_adopted_after_thread_exit(void **state) {
    (void)state;
    rig r;
    rig_init(&r);
    /* This thread gets a cache of its own first, so it cannot adopt below. */
    alloy_shared_pool_free(&r.pool, alloy_shared_pool_alloc(&r.pool));
    static void *blocks[N];
    job j = {&r, blocks, N, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, alloc_some, &j), 0);
    pthread_join(th, NULL);
    assert_true(j.ok);
    size_t slabs = alloy_shared_pool_slabs(&r.pool);
    /* The owner is gone: free its live blocks from here (remote frees to an orphan). */
    job f = {&r, blocks, N / 2, 0};
    free_all(&f);
    assert_true(f.ok);
    alloy_shared_pool_flush(&r.pool);
    /* A new thread adopts the orphaned cache and reuses all N blocks. */
    static void *again[N];
    job k = {&r, again, N, 0};
    assert_int_equal(pthread_create(&th, NULL, alloc_some, &k), 0);
    pthread_join(th, NULL);
    assert_true(k.ok);
    assert_int_equal(alloy_shared_pool_slabs(&r.pool), slabs);
    job g = {&r, again, N / 2, 0};
    free_all(&g);
    assert_true(g.ok);
    rig_deinit(&r);
}

/* ---- stress: blocks handed between threads through shared slots --------- */

enum { THREADS = 4, SLOTS = 256, OPS = 20000 };

typedef struct stress {
    rig r;
    void *slots[SLOTS]; /* atomic exchange only */
    int ok[THREADS];
} stress;

typedef struct stress_arg {
    stress *s;
    int id;
} stress_arg;

static void *stress_thread(void *p) {
    stress_arg *a = p;
    stress *s = a->s;
    test_rng rng = {0x9E3779B97F4A7C15u * (uint64_t)(a->id + 1)};
    int ok = 1;
    for (int op = 0; op < OPS; op++) {
        unsigned char *b = alloy_shared_pool_alloc(&s->r.pool);
        if (b == NULL) {
            ok = 0;
            break;
        }
        /* The first byte says which seed fills the rest. */
        uint64_t seed = rng_next(&rng) & 0xff;
        b[0] = (unsigned char)seed;
        pattern_fill(b + 1, BLOCK - 1, seed);
        size_t i = rng_below(&rng, SLOTS);
        unsigned char *old = __atomic_exchange_n(&s->slots[i], b, __ATOMIC_ACQ_REL);
        if (old != NULL) {
            ok &= pattern_check(old + 1, BLOCK - 1, old[0]) == BLOCK - 1;
            alloy_shared_pool_free(&s->r.pool, old); /* often another thread's block */
        }
    }
    s->ok[a->id] = ok;
    return NULL;
}

static void stress_cross_thread(void **state) {
    (void)state;
    static stress s;
    memset(&s, 0, sizeof s);
    rig_init(&s.r);
    pthread_t th[THREADS];
    stress_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (stress_arg){&s, i};
        assert_int_equal(pthread_create(&th[i], NULL, stress_thread, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++) assert_true(s.ok[i]);
    for (int i = 0; i < SLOTS; i++) {
        unsigned char *b = s.slots[i];
        if (b == NULL) continue;
        assert_int_equal(pattern_check(b + 1, BLOCK - 1, b[0]), BLOCK - 1);
        alloy_shared_pool_free(&s.r.pool, b);
    }
    /* Bounded memory: live blocks never exceed SLOTS plus per-thread batches. */
    assert_true(alloy_shared_pool_slabs(&s.r.pool) <= 16);
    rig_deinit(&s.r);
}

static void rejects_bad_arguments(void **state) {
    (void)state;
    alloy_shared_pool p;
    assert_false(alloy_shared_pool_init(&p, alloy_heap(), 0, 8));
    assert_false(alloy_shared_pool_init(&p, alloy_heap(), 64, 48));
    assert_false(alloy_shared_pool_init(&p, alloy_heap(), (size_t)1 << 30, 8));
    alloy_failing f;
    alloy_failing_init(&f, alloy_heap());
    assert_true(alloy_shared_pool_init(&p, alloy_failing_allocator(&f), 64, 8));
    alloy_failing_fail_from(&f, 0);
    assert_null(alloy_shared_pool_alloc(&p)); /* the cache itself cannot be made */
    alloy_failing_fail_from(&f, 1);
    assert_null(alloy_shared_pool_alloc(&p)); /* the cache can, the slab cannot */
    alloy_failing_fail_none(&f);
    void *b = alloy_shared_pool_alloc(&p);
    assert_non_null(b);
    alloy_shared_pool_free(&p, b);
    alloy_shared_pool_deinit(&p);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(cross_thread_free_goes_home),
    cmocka_unit_test(cache_adopted_after_thread_exit),
    cmocka_unit_test(stress_cross_thread),
    cmocka_unit_test(rejects_bad_arguments),
};

ALLOY_TEST_MAIN(tests)
