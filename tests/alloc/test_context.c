/* SPDX-License-Identifier: MIT */
/* tests/alloc/test_context.c - the per-thread current and temp allocators. */
#define _GNU_SOURCE
#include <alloy.h>
#include <pthread.h>

#include "alloc_test_util.h"
#include "cmocka_main.h"

static bool same(alloy_allocator a, alloy_allocator b) {
    return a.ctx == b.ctx && a.vt == b.vt;
}

static void default_is_heap(void **state) {
    (void)state;
    assert_true(same(alloy_current(), alloy_heap()));
    void *p = alloy_alloc(alloy_current(), 100, 8);
    assert_non_null(p);
    alloy_dealloc(alloy_current(), p, 100, 8);
}

static void set_returns_previous(void **state) {
    (void)state;
    alloy_tally t;
    alloy_tally_init(&t, alloy_heap());
    alloy_allocator ta = alloy_tally_allocator(&t);
    alloy_allocator prev = alloy_set_current(ta);
    assert_true(same(prev, alloy_heap()));
    assert_true(same(alloy_current(), ta));
    void *p = alloy_alloc(alloy_current(), 10, 8);
    alloy_dealloc(alloy_current(), p, 10, 8);
    alloy_tally_report r;
    alloy_tally_stats_get(&t, &r);
    assert_int_equal(r.alloc_calls, 1);
    assert_true(same(alloy_set_current(prev), ta));
    assert_true(same(alloy_current(), alloy_heap()));
}

static void with_nests(void **state) {
    (void)state;
    alloy_tally t1, t2;
    alloy_tally_init(&t1, alloy_heap());
    alloy_tally_init(&t2, alloy_heap());
    alloy_allocator a = alloy_tally_allocator(&t1), b = alloy_tally_allocator(&t2);
    ALLOY_WITH(a) {
        assert_true(same(alloy_current(), a));
        ALLOY_WITH(b) {
            assert_true(same(alloy_current(), b));
            ALLOY_WITH(a) assert_true(same(alloy_current(), a));
            assert_true(same(alloy_current(), b));
        }
        assert_true(same(alloy_current(), a));
        {
            ALLOY_SCOPE(b);
            assert_true(same(alloy_current(), b));
            {
                ALLOY_SCOPE(a);
                ALLOY_SCOPE(b); /* two in one block: restored in reverse order */
                assert_true(same(alloy_current(), b));
            }
            assert_true(same(alloy_current(), b));
        }
        assert_true(same(alloy_current(), a));
    }
    assert_true(same(alloy_current(), alloy_heap()));
}

static int leave_by_return(alloy_allocator a) {
    ALLOY_SCOPE(a);
    if (same(alloy_current(), a)) return 1;
    return 0;
}

static int leave_with_by_return(alloy_allocator a) {
    ALLOY_WITH(a) {
        return same(alloy_current(), a) ? 2 : 0;
    }
    return 0;
}

static void every_exit_restores(void **state) {
    (void)state;
    alloy_tally t;
    alloy_tally_init(&t, alloy_heap());
    alloy_allocator a = alloy_tally_allocator(&t);
    for (int i = 0; i < 3; i++) {
        ALLOY_WITH(a) {
            if (i == 1) break;
            continue;
        }
        assert_true(same(alloy_current(), alloy_heap()));
    }
    assert_true(same(alloy_current(), alloy_heap()));
    assert_int_equal(leave_by_return(a), 1);
    assert_true(same(alloy_current(), alloy_heap()));
    assert_int_equal(leave_with_by_return(a), 2);
    assert_true(same(alloy_current(), alloy_heap()));
    ALLOY_WITH(a) {
        goto out;
    }
out:
    assert_true(same(alloy_current(), alloy_heap()));
}

static void temp_rewinds(void **state) {
    (void)state;
    alloy_arena_stats st;
    alloy_arena *arena = alloy_temp_arena();
    unsigned char *outer = alloy_alloc(alloy_temp(), 100, 8);
    assert_non_null(outer);
    pattern_fill(outer, 100, 1);
    alloy_arena_stats_get(arena, &st);
    size_t used0 = st.used;
    ALLOY_WITH_TEMP {
        for (int i = 0; i < 5000; i++) assert_non_null(alloy_alloc(alloy_temp(), 64, 8));
        void *big = alloy_alloc(alloy_temp(), 1 << 20, 64); /* large: from the parent */
        assert_non_null(big);
        ALLOY_WITH_TEMP {
            assert_non_null(alloy_arena_alloc(alloy_temp_arena(), 1000, 16));
            alloy_arena_stats_get(arena, &st);
            assert_true(st.used > used0 + 5000 * 64);
        }
        alloy_arena_stats_get(arena, &st);
        assert_int_equal(st.large_blocks, 1);
    }
    alloy_arena_stats_get(arena, &st);
    assert_int_equal(st.used, used0);
    assert_int_equal(st.large_blocks, 0);
    assert_int_equal(pattern_check(outer, 100, 1), 100);
    /* The temp arena can be the current allocator too. */
    ALLOY_WITH_TEMP ALLOY_WITH(alloy_temp()) {
        char *s = alloy_strdup_in(alloy_current(), "scratch");
        assert_string_equal(s, "scratch");
    }
    alloy_arena_stats_get(arena, &st);
    assert_int_equal(st.used, used0);
    assert_true(same(alloy_current(), alloy_heap()));
    alloy_temp_release();
    alloy_arena_stats_get(alloy_temp_arena(), &st);
    assert_int_equal(st.committed, 0);
}

/* ---- threads ------------------------------------------------------------- */

enum { THREADS = 4 };

typedef struct thread_arg {
    alloy_tally tally;
    pthread_barrier_t *barrier;
    int ok;
} thread_arg;

static void *independent_thread(void *p) {
    thread_arg *arg = p;
    alloy_allocator mine = alloy_tally_allocator(&arg->tally);
    int ok = same(alloy_current(), alloy_heap()); /* each thread starts at the heap */
    alloy_allocator prev = alloy_set_current(mine);
    pthread_barrier_wait(arg->barrier); /* all threads have set theirs */
    unsigned char *t[100];
    for (int i = 0; i < 100; i++) {
        ok &= same(alloy_current(), mine);
        void *b = alloy_alloc(alloy_current(), 32, 8);
        ok &= b != NULL;
        alloy_dealloc(alloy_current(), b, 32, 8);
        t[i] = alloy_alloc(alloy_temp(), 256, 8);
        ok &= t[i] != NULL;
        if (t[i] != NULL) pattern_fill(t[i], 256, (uint64_t)(uintptr_t)arg + (uint64_t)i);
    }
    /* Every thread has written all its temp blocks: a temp arena shared between
     * threads would show here as another thread's pattern. */
    pthread_barrier_wait(arg->barrier);
    for (int i = 0; i < 100; i++)
        ok &=
            t[i] != NULL && pattern_check(t[i], 256, (uint64_t)(uintptr_t)arg + (uint64_t)i) == 256;
    pthread_barrier_wait(arg->barrier); /* nobody restores before everyone checked */
    alloy_set_current(prev);
    arg->ok = ok;
    return NULL;
}

static void threads_are_independent(void **state) {
    (void)state;
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, THREADS);
    thread_arg args[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        alloy_tally_init(&args[i].tally, alloy_heap());
        args[i].barrier = &barrier;
        args[i].ok = 0;
        assert_int_equal(pthread_create(&th[i], NULL, independent_thread, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        assert_true(args[i].ok);
        alloy_tally_report r;
        alloy_tally_stats_get(&args[i].tally, &r);
        assert_int_equal(r.alloc_calls, 100); /* exactly its own thread's calls */
        assert_int_equal(r.totals.current_count, 0);
    }
    assert_true(same(alloy_current(), alloy_heap()));
    pthread_barrier_destroy(&barrier);
}

static void *temp_user_thread(void *p) {
    thread_arg *arg = p;
    arg->ok = alloy_temp_configure(alloy_tally_allocator(&arg->tally), 4096);
    for (int i = 0; i < 2000; i++) arg->ok &= alloy_alloc(alloy_temp(), 48, 8) != NULL;
    arg->ok &= alloy_alloc(alloy_temp(), 100000, 8) != NULL; /* a large block too */
    arg->ok &= !alloy_temp_configure(alloy_heap(), 0);       /* in use: refused */
    return NULL;                                             /* exits holding everything */
}

static void temp_released_at_thread_exit(void **state) {
    (void)state;
    thread_arg args[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        alloy_tally_init(&args[i].tally, alloy_heap());
        assert_int_equal(pthread_create(&th[i], NULL, temp_user_thread, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        assert_true(args[i].ok);
        alloy_tally_report r;
        alloy_tally_stats_get(&args[i].tally, &r);
        assert_true(r.alloc_calls >= 5); /* several chunks and the large block */
        assert_int_equal(r.totals.current_count, 0);
        assert_int_equal(r.totals.current_bytes, 0);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(default_is_heap),
    cmocka_unit_test(set_returns_previous),
    cmocka_unit_test(with_nests),
    cmocka_unit_test(every_exit_restores),
    cmocka_unit_test(temp_rewinds),
    cmocka_unit_test(threads_are_independent),
    cmocka_unit_test(temp_released_at_thread_exit),
};

ALLOY_TEST_MAIN(tests)
