/* src/stats.c - per-thread counters, summed on read.
 *
 * A thread's counters live in its own initial-exec TLS cache line. The first
 * update registers the line in a list (pending starts out of range, so the
 * ordinary threshold test sends it to the slow path). At thread exit a
 * pthread key destructor folds the line into the exited totals and unlinks
 * it; updates after that (from later TLS destructors) go to the totals
 * directly. fork() keeps the child's totals: blocks of threads that did not
 * survive are still live memory in the child.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if ALLOY_STATS

enum { TC_NEW = 0, TC_LIVE = 1, TC_DEAD = 2 };

ALLOY_TLS alloy__tcounters alloy__tc = {.pending = ALLOY__PENDING_UNREGISTERED};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static alloy__tcounters *threads; /* live registered threads, under lock */
static alloy__tcounters exited;   /* totals of exited threads, under lock */
static alloy__tcounters baseline; /* values at the last reset, under lock */
static int64_t shared_current;    /* folded net bytes, atomic */
static int64_t shared_peak;       /* max of shared_current, atomic */
static pthread_key_t exit_key;
static bool leak_check;

static void raise_peak(int64_t value) {
    int64_t peak = __atomic_load_n(&shared_peak, __ATOMIC_RELAXED);
    while (value > peak && !__atomic_compare_exchange_n(&shared_peak, &peak, value, true,
                                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

static void fold_frees(const alloy__tcounters *c, alloy__tcounters *into) {
    into->free_count += __atomic_load_n(&c->free_count, __ATOMIC_ACQUIRE);
    into->free_bytes += __atomic_load_n(&c->free_bytes, __ATOMIC_ACQUIRE);
}

static void fold_allocs(const alloy__tcounters *c, alloy__tcounters *into) {
    into->alloc_count += __atomic_load_n(&c->alloc_count, __ATOMIC_ACQUIRE);
    into->alloc_bytes += __atomic_load_n(&c->alloc_bytes, __ATOMIC_ACQUIRE);
}

static void fold(const alloy__tcounters *c, alloy__tcounters *into) {
    fold_frees(c, into);
    fold_allocs(c, into);
}

/* Totals over exited and live threads, under lock. Every free is read before
 * every allocation: a block's allocation happens before its free (the program
 * passed the pointer on), so a free that is seen has its allocation seen too,
 * and current bytes never reads below zero while threads run. */
static void total_locked(alloy__tcounters *t) {
    *t = (alloy__tcounters){0};
    fold_frees(&exited, t);
    for (alloy__tcounters *c = threads; c != NULL; c = c->next) fold_frees(c, t);
    fold_allocs(&exited, t);
    for (alloy__tcounters *c = threads; c != NULL; c = c->next) fold_allocs(c, t);
}

static void unlink_locked(alloy__tcounters *c) {
    if (c->prev)
        c->prev->next = c->next;
    else
        threads = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

static void thread_exit(void *arg) {
    alloy__tcounters *c = arg;
    pthread_mutex_lock(&lock);
    fold(c, &exited);
    unlink_locked(c);
    int64_t pending = c->pending;
    c->state = TC_DEAD;
    c->pending = ALLOY__PENDING_UNREGISTERED;
    pthread_mutex_unlock(&lock);
    __atomic_add_fetch(&shared_current, pending, __ATOMIC_RELAXED);
}

void alloy__counters_slow(int64_t pending, bool is_alloc, uint64_t bytes) {
    alloy__tcounters *c = &alloy__tc;
    if (c->state == TC_DEAD) {
        /* After this thread's exit destructor: count straight into the totals. */
        pthread_mutex_lock(&lock);
        if (is_alloc) {
            exited.alloc_count++;
            exited.alloc_bytes += bytes;
        } else {
            exited.free_count++;
            exited.free_bytes += bytes;
        }
        pthread_mutex_unlock(&lock);
        int64_t d = is_alloc ? (int64_t)bytes : -(int64_t)bytes;
        raise_peak(__atomic_add_fetch(&shared_current, d, __ATOMIC_RELAXED));
        return;
    }
    bool registering = c->state == TC_NEW;
    if (registering) {
        pending -= ALLOY__PENDING_UNREGISTERED; /* this operation's own bytes */
        pthread_mutex_lock(&lock);
        c->prev = NULL;
        c->next = threads;
        if (threads) threads->prev = c;
        threads = c;
        c->state = TC_LIVE;
        pthread_mutex_unlock(&lock);
    }
    if (is_alloc) {
        ALLOY__OWNER_ADD(c->alloc_count, 1);
        ALLOY__OWNER_ADD(c->alloc_bytes, bytes);
    } else {
        ALLOY__OWNER_ADD(c->free_count, 1);
        ALLOY__OWNER_ADD(c->free_bytes, bytes);
    }
    c->pending = 0;
    raise_peak(__atomic_add_fetch(&shared_current, pending, __ATOMIC_RELAXED));
    /* Last, once the thread is fully registered: pthread_setspecific may
     * allocate and so re-enter alloy, which must then take the fast path. If it
     * fails, the thread would never be told of its exit, so it leaves the list
     * now and counts through the locked path from here on. */
    if (registering && pthread_setspecific(exit_key, c) != 0) thread_exit(c);
}

static void atfork_prepare(void) {
    pthread_mutex_lock(&lock);
}
static void atfork_parent(void) {
    pthread_mutex_unlock(&lock);
}
static void atfork_child(void) {
    /* Only this thread survives; the others' counts become exited totals. */
    alloy__tcounters *self = &alloy__tc;
    for (alloy__tcounters *c = threads, *next; c != NULL; c = next) {
        next = c->next;
        if (c != self) {
            fold(c, &exited);
            __atomic_add_fetch(&shared_current, c->pending, __ATOMIC_RELAXED);
        }
    }
    threads = NULL;
    if (self->state == TC_LIVE) {
        self->next = self->prev = NULL;
        threads = self;
    }
    pthread_mutex_init(&lock, NULL);
}

static void sum(alloy_stats *out) {
    alloy__tcounters t;
    pthread_mutex_lock(&lock);
    total_locked(&t);
    alloy__tcounters base = baseline;
    pthread_mutex_unlock(&lock);
    out->alloc_count = t.alloc_count - base.alloc_count;
    out->free_count = t.free_count - base.free_count;
    out->alloc_bytes = t.alloc_bytes - base.alloc_bytes;
    out->free_bytes = t.free_bytes - base.free_bytes;
    out->current_bytes = t.alloc_bytes - t.free_bytes;
    out->current_count = t.alloc_count - t.free_count;
    raise_peak((int64_t)out->current_bytes);
    out->peak_bytes = (uint64_t)__atomic_load_n(&shared_peak, __ATOMIC_RELAXED);
}

bool alloy_stats_get(alloy_stats *out) {
    sum(out);
    return true;
}

void alloy_stats_reset(void) {
    alloy__tcounters t;
    pthread_mutex_lock(&lock);
    total_locked(&t);
    baseline = t;
    pthread_mutex_unlock(&lock);
    __atomic_store_n(&shared_peak, (int64_t)(t.alloc_bytes - t.free_bytes), __ATOMIC_RELAXED);
}

/* Priority 101: after every plain destructor (the context module releases the
 * main thread's temp arena in one), so the leak check sees the final state. */
__attribute__((destructor(101))) static void stats_at_exit(void) {
    if (!leak_check) return;
    alloy_stats s;
    sum(&s);
    alloy__warn("leak check (%s): %" PRIu64 " of %" PRIu64 " blocks (%" PRIu64
                " bytes) still live at exit",
                alloy__be.name, s.current_count, s.alloc_count, s.current_bytes);
}

void alloy__stats_init(void) {
    pthread_key_create(&exit_key, thread_exit);
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    const char *lc = getenv("ALLOY_LEAK_CHECK");
    leak_check = lc != NULL && strcmp(lc, "1") == 0;
}

#else /* !ALLOY_STATS */

bool alloy_stats_get(alloy_stats *out) {
    memset(out, 0, sizeof *out);
    return false;
}

void alloy_stats_reset(void) {}

__attribute__((destructor)) static void stats_at_exit(void) {
    const char *lc = getenv("ALLOY_LEAK_CHECK");
    if (lc != NULL && strcmp(lc, "1") == 0)
        alloy__warn("leak check unavailable: counters were compiled out (ALLOY_STATS=OFF)");
}

void alloy__stats_init(void) {}

#endif /* ALLOY_STATS */

void alloy_stats_print(FILE *f) {
    alloy_stats s;
    bool on = alloy_stats_get(&s);
    fprintf(f, "alloy backend   %s %s\n", alloy_backend_name(), alloy_backend_version());
    if (!on) {
        fprintf(f, "counters        compiled out (ALLOY_STATS=OFF)\n");
        return;
    }
    fprintf(f,
            "alloc count     %" PRIu64 "\nfree count      %" PRIu64 "\nalloc bytes     %" PRIu64
            "\nfree bytes      %" PRIu64 "\ncurrent bytes   %" PRIu64 "\ncurrent blocks  %" PRIu64
            "\npeak bytes      %" PRIu64 "\n",
            s.alloc_count, s.free_count, s.alloc_bytes, s.free_bytes, s.current_bytes,
            s.current_count, s.peak_bytes);
}

void alloy_stats_print_json(FILE *f) {
    alloy_stats s;
    bool on = alloy_stats_get(&s);
    /* Backend names and versions are fixed ASCII identifiers; nothing to escape. */
    fprintf(f,
            "{\"backend\":\"%s\",\"version\":\"%s\",\"counters\":%s,\"alloc_count\":%" PRIu64
            ",\"free_count\":%" PRIu64 ",\"alloc_bytes\":%" PRIu64 ",\"free_bytes\":%" PRIu64
            ",\"current_bytes\":%" PRIu64 ",\"current_count\":%" PRIu64 ",\"peak_bytes\":%" PRIu64
            "}\n",
            alloy_backend_name(), alloy_backend_version(), on ? "true" : "false", s.alloc_count,
            s.free_count, s.alloc_bytes, s.free_bytes, s.current_bytes, s.current_count,
            s.peak_bytes);
}
