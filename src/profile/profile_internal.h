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

static inline __attribute__((always_inline)) unsigned alloy__pf_bucket(uint64_t v, unsigned sub,
                                                                       unsigned nbuckets) {
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
ALLOY_HIDDEN uint64_t alloy__pf_mono_ns(void);
static inline __attribute__((always_inline)) uint64_t alloy__pf_now(void) {
#if defined(__x86_64__)
    if (ALLOY_LIKELY(alloy__pf_use_tsc)) {
        unsigned lo, hi;
        __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
        return ((uint64_t)hi << 32) | lo;
    }
#endif
    return alloy__pf_mono_ns();
}
/* Nanoseconds per tick of alloy__pf_now (1.0 for clock_gettime). */
ALLOY_HIDDEN double alloy__pf_ns_per_tick(void);
ALLOY_HIDDEN void alloy__pf_clock_init(void);
ALLOY_HIDDEN double alloy__pf_wall(void);

/* ---- per-thread slots (core.c) ---------------------------------------------
 * Counters are written by their owner only (load + store: plain moves on
 * x86) and summed by readers. A slot whose gen differs from the global one
 * was reset: its owner zeroes it on its next call, readers skip it.
 *
 * What one allocation writes: small[req] (requested sizes below
 * PF_SMALL_SIZES), alloc_count and alloc_usable. The requested bytes and the
 * size histogram of those sizes are derived from small[] when a report is
 * made; alloc_bytes, size_hist and size_bytes are added to per call only for
 * larger sizes (alloy__pf_big_size). */
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

/* Which blocks get a record (pf_self.recs). */
enum { PF_RECS_NONE, PF_RECS_ALL, PF_RECS_SAMPLED };

/* Per-thread, in one initial-exec TLS line: everything the layer's fast path
 * reads, so that a call touches this line, its slot and nothing shared. The
 * fields past `inside` are a per-thread copy of the configuration, made by
 * alloy__pf_enter when gen falls behind alloy__pf_live. */
typedef struct pf_self {
    uint32_t gen; /* the alloy__pf_live value this thread is set up for (0: none) */
    int inside;   /* > 0: the call comes from the profiler's own code */
    pf_slot *slot;
    int64_t pending;        /* net usable bytes not yet folded into the shared total */
    int64_t slack;          /* fold when |pending| passes it (0: every change, exact peak) */
    int64_t sample_left;    /* bytes until the next recorded block (PF_RECS_ALL: <= 0 always) */
    uint32_t lat_left;      /* calls until the next timed one */
    uint8_t recs;           /* PF_RECS_* */
    bool shared;            /* slot is the overflow slot: the atomic variants */
    const uint16_t *filter; /* PF_RECS_SAMPLED: counting filter of recorded addresses */
    uint64_t rng;
} __attribute__((aligned(64))) pf_self;
ALLOY_HIDDEN extern ALLOY_TLS pf_self alloy__pf_self;

/* The running flag stream.c reads (acquire); the layer reads alloy__pf_live. */
ALLOY_HIDDEN extern int alloy__pf_running;
/* The generation in force while the profiler runs (even, >= 2); PF_STOPPED
 * (odd) while it does not. A thread whose pf_self.gen equals it, outside the
 * profiler's own code, takes the fast path. */
#define PF_STOPPED 1u
ALLOY_HIDDEN extern uint32_t alloy__pf_live;

typedef struct pf_config {
    alloy_profile_options o;
    uint32_t gen;
    int64_t slack; /* 0 in full mode: exact peak */
} pf_config;
ALLOY_HIDDEN extern pf_config alloy__pf_cfg;

/* Should this call be profiled? The fast test, then alloy__pf_enter: sets the
 * thread up for the current generation (zeroing its slot after a reset);
 * false when the profiler is stopped or the call comes from its own code. */
ALLOY_HIDDEN bool alloy__pf_enter(pf_self *me);
static inline bool alloy__pf_on(pf_self *me) {
    uint32_t live = __atomic_load_n(&alloy__pf_live, __ATOMIC_RELAXED);
    if (ALLOY_LIKELY(live == me->gen && me->inside == 0)) return true;
    /* Stopped, or the profiler's own allocation: a forward, no call. */
    if (live == PF_STOPPED || me->inside != 0) return false;
    return alloy__pf_enter(me);
}

/* Owner add (plain load and store); sh: the shared overflow slot, atomic add. */
#define PF_ADDS(sh, s, field, n)                                                                   \
    do {                                                                                           \
        if (sh)                                                                                    \
            __atomic_fetch_add(&(s)->field, (n), __ATOMIC_RELAXED);                                \
        else                                                                                       \
            __atomic_store_n(&(s)->field, __atomic_load_n(&(s)->field, __ATOMIC_RELAXED) + (n),    \
                             __ATOMIC_RELAXED);                                                    \
    } while (0)
#define PF_ADD(s, field, n) PF_ADDS((s)->shared, s, field, n)

/* ---- the hooks the layer calls (core.c, and inline below) -------------------
 * t0/t1: alloy__pf_now() around the call below (timed calls only). */
/* Sizes >= PF_SMALL_SIZES: histogram, bytes and the per-thread table of sizes. */
ALLOY_HIDDEN void alloy__pf_big_size(pf_slot *s, size_t req);
/* Fold a thread's pending bytes into the shared total and the peak. */
ALLOY_HIDDEN void alloy__pf_fold(int64_t delta);
/* A block whose bytes crossed the sampling point (every block in full mode):
 * draw the next point, find its stack, record it. frame: the layer entry's
 * frame (frame pointer kept), whose return address is the allocation site. */
ALLOY_HIDDEN void alloy__pf_record(pf_self *me, void *p, size_t req, const void *frame);
/* Before a block that may have a record is freed: take the record out and count the free. */
ALLOY_HIDDEN void alloy__pf_unrecord(pf_self *me, const void *p, size_t usable, size_t req_hint);
ALLOY_HIDDEN void alloy__pf_on_failed(pf_self *me);
/* realloc: the old block's record, taken out before the call (0 if none). */
typedef struct pf_taken {
    bool found;
    uint64_t size;
    uint32_t owner, stack;
    uint64_t key;
} pf_taken;
ALLOY_HIDDEN pf_taken alloy__pf_take(pf_self *me, const void *p);
ALLOY_HIDDEN void alloy__pf_put_back(const void *p, pf_taken t);
ALLOY_HIDDEN void alloy__pf_count_free(pf_self *me, const pf_taken *t, size_t usable,
                                       size_t req_hint);
ALLOY_HIDDEN void alloy__pf_count_realloc(pf_self *me);

static inline uint64_t alloy__pf_addr_hash(uintptr_t p) {
    uint64_t h = (uint64_t)(p >> 4) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 31);
}
#define PF_FILTER_SLOTS (1u << 15) /* 64 KiB of counters: stays in L2 */

/* Net change of the thread's live bytes; folded when it passes the slack. */
static inline __attribute__((always_inline)) void alloy__pf_live_add(pf_self *me, int64_t delta) {
    int64_t p = me->pending + delta;
    uint64_t s = (uint64_t)me->slack;
    if (ALLOY_LIKELY((uint64_t)(p + me->slack) <= 2u * s)) {
        me->pending = p;
        return;
    }
    me->pending = 0;
    alloy__pf_fold(p);
}

static inline __attribute__((always_inline)) void alloy__pf_lat_add(bool sh, pf_slot *s,
                                                                    bool is_alloc, uint64_t d) {
    unsigned b = alloy__pf_bucket(d, PF_LAT_SUB, PF_LAT_BUCKETS);
    if (is_alloc) {
        PF_ADDS(sh, s, lat_alloc[b], 1);
        PF_ADDS(sh, s, lat_alloc_sum, d);
        if (d > __atomic_load_n(&s->lat_alloc_max, __ATOMIC_RELAXED))
            __atomic_store_n(&s->lat_alloc_max, d, __ATOMIC_RELAXED);
    } else {
        PF_ADDS(sh, s, lat_free[b], 1);
        PF_ADDS(sh, s, lat_free_sum, d);
        if (d > __atomic_load_n(&s->lat_free_max, __ATOMIC_RELAXED))
            __atomic_store_n(&s->lat_free_max, d, __ATOMIC_RELAXED);
    }
}

/* A block p of req bytes (usable: its usable size) was handed out. sh is a
 * constant at each use: false on the fast path, true for the overflow slot. */
static inline __attribute__((always_inline)) void
alloy__pf_count_alloc(pf_self *me, bool sh, void *p, size_t req, size_t usable, bool timed,
                      uint64_t t0, uint64_t t1, const void *frame) {
    pf_slot *s = me->slot;
    if (ALLOY_LIKELY(req < PF_SMALL_SIZES))
        PF_ADDS(sh, s, small[req], 1);
    else
        alloy__pf_big_size(s, req);
    PF_ADDS(sh, s, alloc_count, 1);
    PF_ADDS(sh, s, alloc_usable, usable);
    if (timed) alloy__pf_lat_add(sh, s, true, t1 - t0);
    alloy__pf_live_add(me, (int64_t)usable);
    me->sample_left -= (int64_t)usable;
    if (ALLOY_UNLIKELY(me->sample_left <= 0)) alloy__pf_record(me, p, req, frame);
}

/* Before a block of usable bytes is freed: its record out if it may have one
 * (every block in full mode, the filter says maybe in sampled mode), and the
 * free counted. req_hint: the size a sized free passed (0: unknown). */
static inline __attribute__((always_inline)) void
alloy__pf_count_free_fast(pf_self *me, bool sh, const void *p, size_t usable, size_t req_hint) {
    if (me->recs != PF_RECS_NONE) {
        if (me->recs == PF_RECS_ALL ||
            __atomic_load_n(&me->filter[alloy__pf_addr_hash((uintptr_t)p) & (PF_FILTER_SLOTS - 1u)],
                            __ATOMIC_RELAXED) != 0) {
            alloy__pf_unrecord(me, p, usable, req_hint);
            return;
        }
    }
    pf_slot *s = me->slot;
    PF_ADDS(sh, s, free_count, 1);
    PF_ADDS(sh, s, free_usable, usable);
    if (req_hint != 0) PF_ADDS(sh, s, free_bytes, req_hint);
    alloy__pf_live_add(me, -(int64_t)usable);
}

/* Is this call timed? (1 in latency_every; the countdown runs over
 * allocations and frees; with latency off it only reloads every N calls.) */
static inline bool alloy__pf_timed(pf_self *me) {
    if (ALLOY_LIKELY(--me->lat_left != 0)) return false;
    me->lat_left = alloy__pf_cfg.o.latency_every;
    return alloy__pf_cfg.o.track_latency;
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
/* Register the profiler's fork handlers (stream.c), once: from the first start on. */
ALLOY_HIDDEN void alloy__pf_atfork_register(void);
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
