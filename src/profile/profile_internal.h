/* SPDX-License-Identifier: MIT */
/* src/profile/profile_internal.h - private to the profiler.
 *
 * Pieces: hist.c (log-linear buckets, percentiles), core.c (options, per-thread
 * slots, block records, the hooks the layer calls, snapshot), write.c (JSON,
 * CSV and Prometheus writers into an mmap'd buffer), stream.c (the profiler
 * thread: timeline, the streamed file, the node_exporter textfile, fork,
 * fatal signals, ALLOY_PROFILE*), and src/layer/profile.c (the table slots).
 *
 * Nothing here allocates through the profiled heap: per-thread slots, block
 * records and reports live in mmap'd pages. Code that may allocate anyway
 * (stack capture, symbols, stdio) runs with the thread's `inside` raised, and
 * the layer passes such calls straight through.
 */
#ifndef ALLOY_PROFILE_INTERNAL_H
#define ALLOY_PROFILE_INTERNAL_H

#include "../internal.h"

#include <time.h>

#include <alloy/profile.h>

/* ---- log-linear histograms (hist.c) --------------------------------------
 * A value v < 2^sub is its own bucket; above, each power of two [2^e, 2^e+1)
 * is split into 2^sub equal buckets. Relative bucket width <= 2^-sub. */
#define PF_SIZE_SUB 2u /* 4 buckets per power of two */
#define PF_SIZE_BUCKETS 256u
#define PF_LAT_SUB 5u /* 32 per power of two: <= 3.2% relative width */
#define PF_LAT_BUCKETS (42u << PF_LAT_SUB)
#define PF_SMALL_SIZES 4097u /* exact counts of requested sizes 0..4096 */
#define PF_BIG_SIZES 512u    /* hashed exact counts of larger sizes */
#define PF_MAX_THREADS 1024u

static inline unsigned alloy__pf_bucket(uint64_t v, unsigned sub, unsigned nbuckets) {
    if (v < (1ull << sub)) return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned b = ((e - sub + 1u) << sub) + (unsigned)((v >> (e - sub)) & ((1ull << sub) - 1u));
    return b < nbuckets ? b : nbuckets - 1u;
}
/* Smallest and largest value of bucket b. */
ALLOY_HIDDEN uint64_t alloy__pf_bucket_lo(unsigned b, unsigned sub);
ALLOY_HIDDEN uint64_t alloy__pf_bucket_hi(unsigned b, unsigned sub);
/* Value at quantile q (0..1] of hist (n buckets), as the bucket's midpoint
 * (clamped to max); 0 if empty. */
ALLOY_HIDDEN uint64_t alloy__pf_quantile(const uint64_t *hist, unsigned n, unsigned sub, double q,
                                         uint64_t max);

/* ---- clock ---------------------------------------------------------------- */
ALLOY_HIDDEN extern bool alloy__pf_use_tsc;
static inline uint64_t alloy__pf_now(void) {
#if defined(__x86_64__)
    if (ALLOY_LIKELY(alloy__pf_use_tsc)) {
        unsigned lo, hi;
        __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
        return ((uint64_t)hi << 32) | lo;
    }
#endif
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
/* Nanoseconds per tick of alloy__pf_now (1.0 for clock_gettime). */
ALLOY_HIDDEN double alloy__pf_ns_per_tick(void);
ALLOY_HIDDEN void alloy__pf_clock_init(void);
ALLOY_HIDDEN uint64_t alloy__pf_mono_ns(void);
ALLOY_HIDDEN double alloy__pf_wall(void);

/* ---- per-thread slots (core.c) ---------------------------------------------
 * Counters are written by their owner only (load + store: plain moves on
 * x86) and summed by readers. A slot whose gen differs from the global one
 * was reset: its owner zeroes it on its next call, readers skip it. */
typedef struct pf_big {
    uint64_t size, count;
} pf_big;

typedef struct pf_slot {
    uint32_t index, gen;
    uint64_t tid;
    int exited;  /* atomic */
    bool shared; /* the overflow slot: threads beyond PF_MAX_THREADS, atomic adds */
    char name[32];
    uint64_t alloc_count, free_count, realloc_count, failed_count;
    uint64_t alloc_bytes, alloc_usable, free_bytes, free_usable;
    uint64_t unknown_free_count, unknown_free_bytes;
    uint64_t big_dropped;
    uint64_t lat_alloc_max, lat_free_max, lat_alloc_sum, lat_free_sum;
    uint64_t size_hist[PF_SIZE_BUCKETS];
    uint64_t size_bytes[PF_SIZE_BUCKETS];
    uint64_t lat_alloc[PF_LAT_BUCKETS];
    uint64_t lat_free[PF_LAT_BUCKETS];
    uint64_t small[PF_SMALL_SIZES];
    pf_big big[PF_BIG_SIZES];
    uint64_t xfree[PF_MAX_THREADS]; /* [allocating thread's index]: blocks this thread freed */
} pf_slot;

/* Per-thread, in TLS: the slot and the sampling state. */
typedef struct pf_self {
    pf_slot *slot;
    int inside;
    uint32_t lat_left;   /* calls until the next timed one */
    int64_t sample_left; /* bytes until the next sampled block */
    uint64_t rng;
    int64_t pending; /* net usable bytes not yet folded into the shared total */
} pf_self;
ALLOY_HIDDEN extern ALLOY_TLS pf_self alloy__pf_self;

/* The running flag the layer loads on every call (relaxed). */
ALLOY_HIDDEN extern int alloy__pf_running;

typedef struct pf_config {
    alloy_profile_options o;
    uint32_t gen;
    int64_t slack; /* 0 in full mode: exact peak */
} pf_config;
ALLOY_HIDDEN extern pf_config alloy__pf_cfg;

ALLOY_HIDDEN pf_slot *alloy__pf_slot_slow(void);
static inline pf_slot *alloy__pf_slot(void) {
    pf_slot *s = alloy__pf_self.slot;
    if (ALLOY_LIKELY(s != NULL && s->gen == __atomic_load_n(&alloy__pf_cfg.gen, __ATOMIC_RELAXED)))
        return s;
    return alloy__pf_slot_slow();
}

/* Owner add; the shared overflow slot adds atomically. */
#define PF_ADD(s, field, n)                                                                        \
    do {                                                                                           \
        if (ALLOY_UNLIKELY((s)->shared))                                                           \
            __atomic_fetch_add(&(s)->field, (n), __ATOMIC_RELAXED);                                \
        else                                                                                       \
            __atomic_store_n(&(s)->field, __atomic_load_n(&(s)->field, __ATOMIC_RELAXED) + (n),    \
                             __ATOMIC_RELAXED);                                                    \
    } while (0)

/* ---- the hooks the layer calls (core.c) ------------------------------------
 * t0/t1: alloy__pf_now() around the call below, or 0/0 when not timed. */
ALLOY_HIDDEN void alloy__pf_on_alloc(void *p, size_t req, size_t usable, uint64_t t0, uint64_t t1,
                                     const void *frame);
/* Before the block is freed: forget its record; usable: its usable size.
 * req_hint: the size a sized free passed (0: unknown). */
ALLOY_HIDDEN void alloy__pf_on_free(const void *p, size_t usable, size_t req_hint);
ALLOY_HIDDEN void alloy__pf_free_time(uint64_t t0, uint64_t t1);
ALLOY_HIDDEN void alloy__pf_on_failed(uint64_t t0, uint64_t t1);
/* realloc: the old block's record, taken out before the call (0 if none). */
typedef struct pf_taken {
    bool found;
    uint64_t size;
    uint32_t owner, stack;
    uint64_t key;
} pf_taken;
ALLOY_HIDDEN pf_taken alloy__pf_take(const void *p);
ALLOY_HIDDEN void alloy__pf_put_back(const void *p, pf_taken t);
ALLOY_HIDDEN void alloy__pf_count_free(const pf_taken *t, size_t usable, size_t req_hint);
ALLOY_HIDDEN void alloy__pf_count_realloc(void);
/* Should this call be timed? (1 in latency_every) */
static inline bool alloy__pf_timed(void) {
    if (!alloy__pf_cfg.o.track_latency) return false;
    if (ALLOY_LIKELY(alloy__pf_cfg.o.latency_every <= 1)) return true;
    pf_self *me = &alloy__pf_self;
    if (me->lat_left > 1) {
        me->lat_left--;
        return false;
    }
    me->lat_left = alloy__pf_cfg.o.latency_every;
    return true;
}

/* ---- snapshot and writers --------------------------------------------------- */
/* Fill r; in_signal: no symbols, no waiting on record locks. */
ALLOY_HIDDEN bool alloy__pf_snapshot(alloy_profile_report *r, bool in_signal);
/* Totals for the timeline without a full snapshot. */
ALLOY_HIDDEN void alloy__pf_totals(uint64_t *allocs, uint64_t *frees, int64_t *live);

/* A growable buffer in mmap'd pages. */
typedef struct pf_buf {
    char *p;
    size_t len, cap;
    bool failed;
} pf_buf;
ALLOY_HIDDEN void alloy__pf_buf_put(pf_buf *b, const char *s, size_t n);
ALLOY_HIDDEN void alloy__pf_buf_printf(pf_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
ALLOY_HIDDEN void alloy__pf_buf_free(pf_buf *b);
ALLOY_HIDDEN bool alloy__pf_format(pf_buf *b, const alloy_profile_report *r,
                                   alloy_profile_format fmt);
/* Write b to path: a fresh temporary beside it (O_EXCL, O_NOFOLLOW), fsync if
 * asked, rename over path. overwrite false: fail with EEXIST if path exists. */
ALLOY_HIDDEN bool alloy__pf_write_file(const char *path, const pf_buf *b, bool overwrite,
                                       bool sync);

/* mmap'd zeroed pages. */
ALLOY_HIDDEN void *alloy__pf_pages(size_t bytes);
ALLOY_HIDDEN void alloy__pf_unpages(void *p, size_t bytes);

/* ---- timeline and stream (stream.c) ------------------------------------------ */
ALLOY_HIDDEN void alloy__pf_timeline_reset(void);
ALLOY_HIDDEN size_t alloy__pf_timeline_copy(alloy_profile_sample *out, size_t max,
                                            unsigned *period_ms);
ALLOY_HIDDEN size_t alloy__pf_timeline_len(void);
ALLOY_HIDDEN void alloy__pf_rates(double *alloc_avg, double *free_avg);
/* Start the profiler thread if it is wanted and not running (from a call
 * outside any lock, with inside raised). */
ALLOY_HIDDEN void alloy__pf_thread_kick(void);
ALLOY_HIDDEN extern int alloy__pf_want_thread;
ALLOY_HIDDEN void alloy__pf_thread_stop(void);
/* Start from the environment (ALLOY_PROFILE*): called by the layer's attach. */
ALLOY_HIDDEN bool alloy__pf_env_start(void);
ALLOY_HIDDEN uint64_t alloy__pf_rss(void);

/* Start/stop without touching the layer stack (core.c). */
ALLOY_HIDDEN bool alloy__pf_begin(const alloy_profile_options *o);
ALLOY_HIDDEN bool alloy__pf_options_ok(const alloy_profile_options *o);
ALLOY_HIDDEN const char *alloy__pf_backend_name(void);
ALLOY_HIDDEN void alloy__pf_set_below(const alloy__backend *below);
ALLOY_HIDDEN const alloy__backend *alloy__pf_below(void);

#endif /* ALLOY_PROFILE_INTERNAL_H */
