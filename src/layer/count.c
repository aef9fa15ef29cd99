/* SPDX-License-Identifier: MIT */
/* src/layer/count.c - the counting layer: per-thread counters, summed on read.
 *
 * Switched on with ALLOY_STATS=1 (or ALLOY_LEAK_CHECK=1) at start, or with
 * alloy_layer_push(ALLOY_LAYER_COUNT) at any time. Each slot calls the table
 * below and counts what it returned: a plain block by its backend size class
 * (a table lookup, see alloy__alloc_bytes), anything else by its usable size.
 * Pushed after blocks exist, it counts the window exactly: every call made
 * through it; current figures are the window's net, floored at 0 when the
 * window freed blocks allocated before it.
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
#include "layer.h"
#include "../env.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Owner-only updates are an atomic load + release store (plain moves on x86),
 * so a concurrent reader is race-free without a locked instruction; release
 * lets a reader that sees a free also see the allocation it matches. */
typedef struct alloy__tcounters {
    uint64_t alloc_count;
    uint64_t free_count;
    uint64_t alloc_bytes;
    uint64_t free_bytes;
    /* Net bytes not yet folded into the shared peak total. Starts far out of
     * range so the first update takes the slow path, which registers the
     * thread; set out of range again when the thread has exited. */
    int64_t pending;
    struct alloy__tcounters *next, *prev;
    int state;
} __attribute__((aligned(ALLOY_CACHE_LINE))) alloy__tcounters;

#define ALLOY__PENDING_UNREGISTERED (INT64_MAX / 2)
#define OWNER_ADD(field, n)                                                                        \
    __atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), __ATOMIC_RELEASE)

enum { TC_NEW = 0, TC_LIVE = 1, TC_DEAD = 2 };

/* One allocation or free into the thread's own counters. */
static inline void add_own(alloy__tcounters *c, bool is_alloc, uint64_t bytes) {
    if (is_alloc) {
        OWNER_ADD(c->alloc_count, 1);
        OWNER_ADD(c->alloc_bytes, bytes);
    } else {
        OWNER_ADD(c->free_count, 1);
        OWNER_ADD(c->free_bytes, bytes);
    }
}

/* Not static: tests/link/check_symbols.sh looks for it to prove the counters
 * are initial-exec TLS. */
ALLOY_HIDDEN ALLOY_TLS alloy__tcounters alloy__tc = {.pending = ALLOY__PENDING_UNREGISTERED};

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

ALLOY_COLD static void counters_slow(int64_t pending, bool is_alloc, uint64_t bytes) {
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
    add_own(c, is_alloc, bytes);
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

static int on; /* 1 once the layer is on the stack */

/* A late push can count more freed than allocated bytes: the window's net is
 * floored at zero rather than wrapped. */
static uint64_t net(uint64_t in, uint64_t out) {
    return in > out ? in - out : 0;
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
    out->current_bytes = net(t.alloc_bytes, t.free_bytes);
    out->current_count = net(t.alloc_count, t.free_count);
    raise_peak((int64_t)out->current_bytes);
    out->peak_bytes = (uint64_t)__atomic_load_n(&shared_peak, __ATOMIC_RELAXED);
}

bool alloy_stats_get(alloy_stats *out) {
    if (!__atomic_load_n(&on, __ATOMIC_ACQUIRE)) {
        memset(out, 0, sizeof *out);
        return false;
    }
    sum(out);
    return true;
}

void alloy_stats_reset(void) {
    alloy__tcounters t;
    pthread_mutex_lock(&lock);
    total_locked(&t);
    baseline = t;
    pthread_mutex_unlock(&lock);
    __atomic_store_n(&shared_peak, (int64_t)net(t.alloc_bytes, t.free_bytes), __ATOMIC_RELAXED);
}

/* Priority 101: after every plain destructor (the context module releases the
 * main thread's temp arena in one), so the leak check sees the final state. */
__attribute__((destructor(101))) static void stats_at_exit(void) {
    if (!leak_check || !__atomic_load_n(&on, __ATOMIC_ACQUIRE)) return;
    alloy_stats s;
    sum(&s);
    alloy__warn("leak check (%s): %" PRIu64 " of %" PRIu64 " blocks (%" PRIu64
                " bytes) still live at exit",
                alloy_backend_name(), s.current_count, s.alloc_count, s.current_bytes);
}

/* ---- the hot path --------------------------------------------------------- */

/* The hot path is written once, over the slack S (a compile-time constant
 * in each instance): ALLOY_STATS_PEAK_SLACK, or 0 for an exact peak, where
 * every change is folded into the shared total (ALLOY_STATS=exact). */

/* Count without the slow path; false when the thread's net change passed the
 * slack (or the thread is not registered yet): the caller then runs
 * counters_slow, from a cold function where it can, so that the hot slots
 * keep no frame of their own and end in a tail call. */
static inline bool count_fast(bool is_alloc, size_t bytes, int64_t S) {
    alloy__tcounters *c = &alloy__tc;
    int64_t pending = c->pending + (is_alloc ? (int64_t)bytes : -(int64_t)bytes);
    if (ALLOY_UNLIKELY((uint64_t)(pending + S) > 2u * (uint64_t)S)) return false;
    c->pending = pending;
    add_own(c, is_alloc, bytes);
    return true;
}

static void count_slow(bool is_alloc, size_t bytes) {
    int64_t d = is_alloc ? (int64_t)bytes : -(int64_t)bytes;
    counters_slow(alloy__tc.pending + d, is_alloc, bytes);
}

static inline void count(bool is_alloc, size_t bytes, int64_t S) {
    if (ALLOY_UNLIKELY(!count_fast(is_alloc, bytes, S))) count_slow(is_alloc, bytes);
}

static bool exact_peak_wanted; /* chooses the slots when the layer is pushed */

static alloy__backend below;
/* below.classes, NULL when the block size is not a function of the request
 * (the debug heap, libc): then every count asks for the usable size. */
static const uint32_t *classes;

static inline bool by_class(size_t size) {
    return size <= ALLOY__CLASS_MAX && classes != NULL;
}

/* The rare shapes out of line: a fresh block counted by its usable size; a
 * free whose count takes the slow path or needs the usable size. */
ALLOY_COLD static void *counted_by_usable(void *p) {
    if (p != NULL) count_slow(true, alloy__usable(&below, p));
    return p;
}

ALLOY_COLD static void free_counted_slow(void *p, size_t bytes) {
    count_slow(false, bytes);
    below.free(p);
}

ALLOY_COLD static void free_sized_counted_slow(void *p, size_t size, size_t bytes) {
    count_slow(false, bytes);
    below.free_sized(p, size);
}

/* Bytes of a block just returned for a request of size: its class where the
 * backend has a table, else its usable size (glibc: read from the chunk
 * header, inline). */
static inline size_t fresh_bytes(const void *p, size_t size) {
    return by_class(size) ? classes[(size + 7) >> 3] : alloy__usable(&below, p);
}

static inline void *c_malloc_(size_t size, int64_t S) {
    void *p = below.malloc(size);
    if (ALLOY_LIKELY(p != NULL)) count(true, fresh_bytes(p, size), S);
    return p;
}

static inline void *c_calloc_(size_t n, size_t size, int64_t S) {
    void *p = below.calloc(n, size);
    if (ALLOY_LIKELY(p != NULL)) count(true, fresh_bytes(p, n * size), S); /* overflow checked */
    return p;
}

static inline void c_free_(void *p, int64_t S) {
    if (ALLOY_UNLIKELY(p == NULL)) return;
    size_t bytes = alloy__usable(&below, p);
    if (ALLOY_UNLIKELY(!count_fast(false, bytes, S))) {
        free_counted_slow(p, bytes);
        return;
    }
    below.free(p);
}

/* A sized free without a class table (libc, the debug heap): by usable size,
 * out of line so that the class-table path keeps no frame. */
__attribute__((noinline)) static void free_sized_by_usable(void *p, size_t size, int64_t S) {
    count(false, alloy__usable(&below, p), S);
    below.free_sized(p, size);
}

/* The requested size gives the same number the allocation counted. */
static inline void c_free_sized_(void *p, size_t size, int64_t S) {
    if (!by_class(size)) {
        free_sized_by_usable(p, size, S);
        return;
    }
    size_t bytes = classes[(size + 7) >> 3];
    if (ALLOY_UNLIKELY(!count_fast(false, bytes, S))) {
        free_sized_counted_slow(p, size, bytes);
        return;
    }
    below.free_sized(p, size);
}

/* The hot slots, once per slack. */
#define COUNT_HOT_SLOTS(sfx, S)                                                                    \
    static void *c_malloc##sfx(size_t size) {                                                      \
        return c_malloc_(size, S);                                                                 \
    }                                                                                              \
    static void *c_calloc##sfx(size_t n, size_t size) {                                            \
        return c_calloc_(n, size, S);                                                              \
    }                                                                                              \
    static void c_free##sfx(void *p) {                                                             \
        c_free_(p, S);                                                                             \
    }                                                                                              \
    static void c_free_sized##sfx(void *p, size_t size) {                                          \
        c_free_sized_(p, size, S);                                                                 \
    }
COUNT_HOT_SLOTS(, ALLOY_STATS_PEAK_SLACK)
COUNT_HOT_SLOTS(_exact, 0)

/* Aligned blocks and reallocations are counted through the slow path: always
 * exact, and rare next to malloc/free. */
static void *c_malloc_aligned(size_t size, size_t align) {
    return counted_by_usable(below.malloc_aligned(size, align));
}

static void c_free_aligned_sized(void *p, size_t size, size_t align) {
    count_slow(false, alloy__usable(&below, p));
    below.free_aligned_sized(p, size, align);
}
/* A sized free counts a small block by its size class, so every live small
 * block must have exactly its class's usable size. malloc guarantees that; a
 * realloc that shrank a block in place (mimalloc keeps it when shrinking by
 * less than half) does not, so such a block moves to a fresh one of its
 * class. *usable gets the returned block's usable size. */
static void *keep_class(void *q, size_t size, size_t *usable) {
    *usable = alloy__usable(&below, q);
    if (!by_class(size)) return q;
    size_t want = classes[(size + 7) >> 3];
    if (*usable == want) return q;
    void *r = below.malloc(size);
    if (r == NULL) return q; /* keep the larger block; it is still a valid result */
    memcpy(r, q, size);
    below.free(q);
    *usable = want;
    return r;
}

static void *c_realloc(void *p, size_t size) {
    if (p == NULL) return c_malloc(size);
    size_t old = alloy__usable(&below, p);
    void *q = below.realloc(p, size);
    if (ALLOY_UNLIKELY(q == NULL)) return NULL;
    size_t now;
    q = keep_class(q, size, &now);
    count_slow(false, old);
    count_slow(true, now);
    return q;
}

static void *c_realloc_aligned(void *p, size_t size, size_t align) {
    if (p == NULL) return c_malloc_aligned(size, align);
    size_t old = alloy__usable(&below, p);
    void *q = below.realloc_aligned(p, size, align);
    if (ALLOY_UNLIKELY(q == NULL)) return NULL;
    count_slow(false, old);
    count_slow(true, alloy__usable(&below, q));
    return q;
}

static size_t c_usable_size(const void *p) {
    return below.usable_size(p);
}

static void c_collect(bool force) {
    below.collect(force);
}

/* ALLOY_STATS=0|1|exact, ALLOY_LEAK_CHECK=0|1 (1 also switches counting on). */
static bool count_env(void) {
    static const char *const modes[] = {"0", "1", "exact", NULL};
    int mode = alloy__env_choice("ALLOY_STATS", modes, 0);
    leak_check = alloy__env_flag("ALLOY_LEAK_CHECK", false);
    if (mode == 2) __atomic_store_n(&exact_peak_wanted, true, __ATOMIC_RELAXED);
    return leak_check || mode > 0;
}

static bool count_attach(const alloy__backend *b, alloy__backend *self) {
    static bool once;
    if (!once) {
        once = true;
        pthread_key_create(&exit_key, thread_exit);
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    }
    below = *b;
    classes = b->classes;
    bool exact = __atomic_load_n(&exact_peak_wanted, __ATOMIC_RELAXED);
    self->malloc = exact ? c_malloc_exact : c_malloc;
    self->calloc = exact ? c_calloc_exact : c_calloc;
    self->realloc = c_realloc;
    self->free = exact ? c_free_exact : c_free;
    self->free_sized = exact ? c_free_sized_exact : c_free_sized;
    self->malloc_aligned = c_malloc_aligned;
    self->realloc_aligned = c_realloc_aligned;
    self->free_aligned_sized = c_free_aligned_sized;
    self->usable_size = c_usable_size;
    self->collect = c_collect;
    __atomic_store_n(&on, 1, __ATOMIC_RELEASE);
    return true;
}

bool alloy_stats_enable(bool exact_peak) {
    if (exact_peak) __atomic_store_n(&exact_peak_wanted, true, __ATOMIC_RELAXED);
    return alloy__layer_push(&alloy__layer_count);
}

const alloy__layer alloy__layer_count = {
    .id = ALLOY_LAYER_COUNT,
    .name = "count",
    .attach = count_attach,
    .from_env = count_env,
    .late_ok = true,
};

void alloy_stats_print(FILE *f) {
    alloy_stats s;
    bool on = alloy_stats_get(&s);
    fprintf(f, "alloy backend   %s %s\n", alloy_backend_name(), alloy_backend_version());
    if (!on) {
        fprintf(f, "counters        off (ALLOY_STATS=1 or alloy_stats_enable() turns them on)\n");
        return;
    }
    fprintf(f,
            "alloc count     %" PRIu64 "\nfree count      %" PRIu64 "\nalloc bytes     %" PRIu64
            "\nfree bytes      %" PRIu64 "\ncurrent bytes   %" PRIu64 "\ncurrent blocks  %" PRIu64
            "\npeak bytes      %" PRIu64 "\n",
            s.alloc_count, s.free_count, s.alloc_bytes, s.free_bytes, s.current_bytes,
            s.current_count, s.peak_bytes);
}

size_t alloy_stats_format_json(char *buf, size_t len) {
    alloy_stats s;
    bool on = alloy_stats_get(&s);
    /* Backend names and versions are fixed ASCII identifiers; nothing to escape. */
    int n = snprintf(
        buf, len,
        "{\"backend\":\"%s\",\"version\":\"%s\",\"counters\":%s,\"alloc_count\":%" PRIu64
        ",\"free_count\":%" PRIu64 ",\"alloc_bytes\":%" PRIu64 ",\"free_bytes\":%" PRIu64
        ",\"current_bytes\":%" PRIu64 ",\"current_count\":%" PRIu64 ",\"peak_bytes\":%" PRIu64
        "}\n",
        alloy_backend_name(), alloy_backend_version(), on ? "true" : "false", s.alloc_count,
        s.free_count, s.alloc_bytes, s.free_bytes, s.current_bytes, s.current_count, s.peak_bytes);
    return n < 0 ? 0 : (size_t)n;
}

void alloy_stats_print_json(FILE *f) {
    char line[512];
    alloy_stats_format_json(line, sizeof line);
    fputs(line, f);
}

bool alloy_stats_write_json(const char *path, bool overwrite) {
    if (path == NULL || *path == '\0') {
        errno = EINVAL;
        return false;
    }
    char line[512];
    size_t n = alloy_stats_format_json(line, sizeof line);
    /* Never through a symlink; an existing file only when asked. */
    int fd = open(
        path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL), 0644);
    if (fd < 0) return false;
    bool ok = write(fd, line, n) == (ssize_t)n;
    int err = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        err = errno;
    }
    errno = err;
    return ok;
}
