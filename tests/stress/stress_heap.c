/* SPDX-License-Identifier: MIT */
/* tests/stress/stress_heap.c - threads allocating, handing blocks to each
 * other and freeing them, with fixed seeds; afterwards the counters balance.
 *
 * Each worker owns a slot array. It randomly allocates (mixed sizes and
 * alignments, stamped with a pattern), frees its own blocks, or pushes a block
 * to a neighbour's mailbox; the neighbour checks the pattern and frees it. So
 * most frees of passed blocks happen on a thread other than the allocating one.
 * Threads are also started in waves, so counts of exited threads are tested.
 */
#define _GNU_SOURCE
#include <alloy.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_main.h"
#include "test_rand.h"

enum { SLOTS = 256, MAILBOX = 64 };

#ifndef STRESS_SCALE
#define STRESS_SCALE 1
#endif

typedef struct block_hdr {
    uint64_t stamp;
    size_t size;
    size_t align; /* 0: plain alloy_malloc */
} block_hdr;

typedef struct mailbox {
    pthread_mutex_t lock;
    void *items[MAILBOX];
    int count;
} mailbox;

typedef struct worker {
    int id;
    int nworkers;
    uint64_t seed;
    long ops;
    mailbox *boxes;
    long received;
    long bad;
} worker;

static void *make_block(uint64_t *rng) {
    uint64_t r = test_rand(rng);
    size_t size = sizeof(block_hdr) + (size_t)(r % 4 == 0 ? r % 65536 : r % 512);
    size_t align = (size_t)1 << (r >> 60 & 7); /* 1 .. 128 */
    if (!(r & 0x100)) align = 0;
    block_hdr *b = align ? alloy_malloc_aligned(size, align) : alloy_malloc(size);
    if (b == NULL) return NULL;
    b->size = size;
    b->align = align;
    b->stamp = (uint64_t)(uintptr_t)b ^ size ^ 0x9e3779b97f4a7c15ULL;
    memset(b + 1, (int)(size & 0xff), size - sizeof *b);
    return b;
}

static bool check_and_free(void *p) {
    block_hdr *b = p;
    bool ok = b->stamp == ((uint64_t)(uintptr_t)b ^ b->size ^ 0x9e3779b97f4a7c15ULL);
    unsigned char *body = (unsigned char *)(b + 1);
    for (size_t i = 0; ok && i < b->size - sizeof *b; i += 61) ok = body[i] == (b->size & 0xff);
    if (b->size & 1)
        alloy_free(b);
    else if (b->align)
        alloy_free_aligned_sized(b, b->align, b->size);
    else
        alloy_free_sized(b, b->size);
    return ok;
}

static void drain(worker *w, mailbox *box) {
    pthread_mutex_lock(&box->lock);
    while (box->count > 0) {
        w->received++;
        w->bad += !check_and_free(box->items[--box->count]);
    }
    pthread_mutex_unlock(&box->lock);
}

static void *run_worker(void *arg) {
    worker *w = arg;
    void *slot[SLOTS] = {0};
    uint64_t rng = w->seed;
    mailbox *mine = &w->boxes[w->id];
    mailbox *next = &w->boxes[(w->id + 1) % w->nworkers];
    for (long op = 0; op < w->ops; op++) {
        uint64_t r = test_rand(&rng);
        int i = (int)(r % SLOTS);
        int action = (int)(r >> 32) % 10;
        if (action < 5) {
            if (slot[i]) w->bad += !check_and_free(slot[i]);
            slot[i] = make_block(&rng);
        } else if (action < 8) {
            if (slot[i]) w->bad += !check_and_free(slot[i]);
            slot[i] = NULL;
        } else if (slot[i]) {
            pthread_mutex_lock(&next->lock);
            if (next->count < MAILBOX) {
                next->items[next->count++] = slot[i];
                slot[i] = NULL;
            }
            pthread_mutex_unlock(&next->lock);
        }
        if ((op & 63) == 0) drain(w, mine);
    }
    for (int i = 0; i < SLOTS; i++)
        if (slot[i]) w->bad += !check_and_free(slot[i]);
    return NULL;
}

static void run_round(int nthreads, uint64_t seed, long ops) {
    mailbox boxes[16];
    worker w[16];
    pthread_t t[16];
    for (int i = 0; i < nthreads; i++) {
        pthread_mutex_init(&boxes[i].lock, NULL);
        boxes[i].count = 0;
        w[i] = (worker){.id = i,
                        .nworkers = nthreads,
                        .seed = seed * 7919 + (uint64_t)i + 1,
                        .ops = ops,
                        .boxes = boxes};
    }
    for (int i = 0; i < nthreads; i++)
        assert_int_equal(pthread_create(&t[i], NULL, run_worker, &w[i]), 0);
    long received = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].bad, 0);
        received += w[i].received;
    }
    /* leftovers in mailboxes belong to nobody now; free them here */
    for (int i = 0; i < nthreads; i++) {
        worker self = {0};
        drain(&self, &boxes[i]);
        assert_int_equal(self.bad, 0);
        pthread_mutex_destroy(&boxes[i].lock);
    }
    assert_true(received > 0); /* cross-thread frees really happened */
}

static void cross_thread_frees_balance(void **state) {
    (void)state;
    alloy_stats s0, s1;
    bool counted = alloy_stats_get(&s0);
    run_round(4, 1, 20000L * STRESS_SCALE);
    if (!counted) return;
    alloy_stats_get(&s1);
    assert_int_equal(s1.current_bytes, s0.current_bytes);
    assert_int_equal(s1.current_count, s0.current_count);
    assert_true(s1.alloc_count - s0.alloc_count > 20000);
    assert_int_equal(s1.alloc_count - s0.alloc_count, s1.free_count - s0.free_count);
}

static void waves_of_short_threads_keep_counts(void **state) {
    (void)state;
    alloy_stats s0, s1;
    bool counted = alloy_stats_get(&s0);
    for (uint64_t wave = 0; wave < 20; wave++) run_round(3, 100 + wave, 1000L * STRESS_SCALE);
    if (!counted) return;
    alloy_stats_get(&s1);
    assert_int_equal(s1.current_bytes, s0.current_bytes);
    assert_int_equal(s1.current_count, s0.current_count);
    /* every one of those threads has exited: their counts live on */
    assert_true(s1.alloc_count - s0.alloc_count >= 20 * 3 * 400);
}

/* A block allocated by a thread that exits, freed later by another thread. */
static void *alloc_and_exit(void *arg) {
    void **out = arg;
    for (int i = 0; i < 100; i++) out[i] = alloy_malloc((size_t)i * 10 + 1);
    return NULL;
}

static void free_after_owner_exit(void **state) {
    (void)state;
    alloy_stats s0, s1, s2;
    bool counted = alloy_stats_get(&s0);
    void *blocks[100];
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, alloc_and_exit, blocks), 0);
    pthread_join(t, NULL);
    if (counted) {
        alloy_stats_get(&s1);
        assert_int_equal(s1.current_count - s0.current_count, 100);
    }
    for (int i = 0; i < 100; i++) alloy_free(blocks[i]);
    if (!counted) return;
    alloy_stats_get(&s2);
    assert_int_equal(s2.current_count, s0.current_count);
    assert_int_equal(s2.current_bytes, s0.current_bytes);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(cross_thread_frees_balance),
    cmocka_unit_test(waves_of_short_threads_keep_counts),
    cmocka_unit_test(free_after_owner_exit),
};

ALLOY_TEST_MAIN(tests)
