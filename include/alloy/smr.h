/* SPDX-License-Identifier: MIT */
/* alloy/smr.h - safe memory reclamation for lock-free structures.
 *
 * A lock-free structure unlinks a node while other threads may still be
 * reading it. alloy_smr_retire() hands such a node to a reclamation domain,
 * which frees it once no thread can hold it any more. Two schemes sit behind
 * the one API, chosen per domain:
 *
 * - ALLOY_SMR_EBR, epoch-based (DEBRA-style): each thread announces the global
 *   epoch while it is inside a read-side section; retired nodes wait in
 *   per-thread bags tagged with the epoch and are freed two epochs later.
 *   Cheapest reads. Memory bound: without a stalled reader, about
 *   3 * threads * (ALLOY_SMR_EBR_EPOCH_RETIRES + threads) nodes; a reader
 *   that stays inside a section stops the epoch, and garbage then grows
 *   without bound until it leaves.
 * - ALLOY_SMR_IBR, interval-based (2GEIBR): nodes carry a birth era stamped by
 *   alloy_smr_node_alloc; each thread reserves the interval of eras it has
 *   read in, kept current by alloy_smr_protect(); a retired node is freed
 *   when its [birth, retire] interval overlaps no reservation. A stalled
 *   reader pins only the nodes that were alive during its interval. Memory
 *   bound, even with stalled readers: about 3 * (nodes alive during any
 *   stalled interval + threads * ALLOY_SMR_IBR_ERA_ALLOCS) + threads *
 *   ALLOY_SMR_IBR_SCAN_MIN nodes (for nodes from alloy_smr_node_alloc).
 *
 * The contract a caller keeps, in both schemes:
 * - Every read of a shared node happens between alloy_smr_enter() and
 *   alloy_smr_exit() on the same domain and thread. Sections nest. A pointer
 *   read inside a section must not be used after the outermost exit.
 * - Under IBR every load of a shared pointer that will be dereferenced goes
 *   through alloy_smr_protect() (or the ALLOY_SMR_PROTECT macro); under EBR
 *   those calls are a plain acquire load, so code written for IBR runs on both.
 * - A node is retired once, after it is unlinked (no new reader can reach
 *   it), by an atomic read-modify-write or seq_cst store as lock-free unlinks
 *   are. Retire may be called inside or outside a section.
 * - Nodes retired on an IBR domain should come from alloy_smr_node_alloc and
 *   be retired with alloy_smr_retire_node: other memory has no birth era and
 *   is treated as born at era 0 (safe, but a stalled reader pins it).
 *
 * Threads join a domain on first use; no call registers them. A thread that
 * exits hands the nodes it has not yet freed to the domain (the next thread
 * to poll or retire adopts them) and its per-thread record is freed. After
 * fork() the child keeps one thread: records of the others are released and
 * their nodes handed to the domain.
 *
 * Blocking: alloy_smr_enter, exit, protect, retire, retire_node, node_alloc,
 * node_free and poll never wait for another thread. alloy_smr_barrier and
 * alloy_smr_destroy do (barrier waits for every current section to end, as
 * liburcu's rcu_barrier waits for callbacks).
 *
 * Out of memory: alloy_smr_create and alloy_smr_node_alloc return NULL with
 * errno ENOMEM. The calls that return no error print one line on stderr and
 * abort() when the heap cannot give them what they need: a thread's first
 * call on a domain (its record, a larger slot table), alloy_smr_retire and
 * alloy_smr_retire_node (a new block of the thread's retire list), and IBR's
 * scans in retire, poll and barrier (the reservation snapshot). Dropping a
 * retired node would leak it and freeing it early would be a use after free,
 * so there is no safe way to go on (docs/smr.md, "Out of memory").
 */
#ifndef ALLOY_SMR_H
#define ALLOY_SMR_H

#include <alloy/common.h>

ALLOY_EXTERN_C_BEGIN

/* ---- types --------------------------------------------------------------- */

typedef enum alloy_smr_scheme {
    ALLOY_SMR_EBR = 0, /* epoch-based, DEBRA-style */
    ALLOY_SMR_IBR = 1  /* interval-based, 2GEIBR */
} alloy_smr_scheme;

/* A reclamation domain. Opaque; one per structure or one shared by many. */
typedef struct alloy_smr alloy_smr;

/* Frees p (size bytes, as given to retire); ctx is the context given to retire.
 * Called once per retired node, from whichever thread reclaims it, outside any
 * lock the caller could hold. It may allocate, retire and poll; it must not
 * call alloy_smr_barrier, alloy_smr_stats_get or alloy_smr_destroy on d, and
 * one run by alloy_smr_destroy must not use d at all.
 * An alloy_allocator plugs in as ctx with a function that calls alloy_dealloc
 * with the node's alignment (docs/smr.md). */
typedef void alloy_smr_free_fn(void *ctx, void *p, size_t size);

typedef struct alloy_smr_stats {
    uint64_t retired; /* nodes retired since the domain was created */
    uint64_t freed;   /* nodes freed by the domain since it was created */
    uint64_t pending; /* retired - freed: nodes waiting to be freed */
    uint64_t clock;   /* current epoch (EBR) or era (IBR) */
    uint32_t threads; /* per-thread records alive now */
    uint32_t slots;   /* announcement slots (one cache line each, reused) */
    uint64_t cached;  /* freed nodes kept in threads' node caches for reuse */
} alloy_smr_stats;

/* Tuning, fixed at build time (see docs/smr.md for the measurements). */
#define ALLOY_SMR_EBR_EPOCH_RETIRES 128 /* retires a thread makes before it tries to advance */
#define ALLOY_SMR_IBR_ERA_ALLOCS 256    /* node allocations per thread between era increments */
#define ALLOY_SMR_IBR_SCAN_MIN 128      /* retired nodes a thread holds before it scans */

/* ---- domains ------------------------------------------------------------- */

/* Create a domain using scheme; NULL with errno ENOMEM or EINVAL (bad scheme). */
ALLOY_API ALLOY_NODISCARD alloy_smr *alloy_smr_create(alloy_smr_scheme scheme) ALLOY_NOEXCEPT;
/* Free every pending node and the domain. No thread may be inside a section
 * or use d concurrently; threads that used d need not have exited. NULL: no-op. */
ALLOY_API void alloy_smr_destroy(alloy_smr *d) ALLOY_NOEXCEPT;
/* The scheme d was created with. */
ALLOY_API alloy_smr_scheme alloy_smr_scheme_of(const alloy_smr *d) ALLOY_NOEXCEPT;
/* "ebr" or "ibr". */
ALLOY_API const char *alloy_smr_scheme_name(alloy_smr_scheme scheme) ALLOY_NOEXCEPT;

/* ---- read-side sections (inline below) -----------------------------------
 * The inline functions of this header are also exported by liballoy under the
 * same names (see ALLOY_INLINE in alloy/common.h), for Python ctypes and other
 * foreign callers. */

/* void alloy_smr_enter(alloy_smr *d);
 *     Begin a read-side section (joins d on first use). Nests.
 * void alloy_smr_exit(alloy_smr *d);
 *     End the innermost section; the outermost one releases every pointer read.
 * void *alloy_smr_protect(alloy_smr *d, void *const *pp);
 *     Load *pp (acquire) inside a section so that, under IBR, the node it
 *     points to stays reserved until the section ends. EBR: a plain load.
 * bool alloy_smr_reserve(alloy_smr *d);
 *     IBR building block: true if this thread's reservation already covers
 *     every node born so far; false after extending it, in which case any
 *     pointer loaded before the call must be loaded again. EBR: true. */
/* ALLOY_SMR_PROTECT(d, pp): alloy_smr_protect for a typed field, T *const *pp -> T *. */

/* ---- retiring and freeing ------------------------------------------------ */

/* void alloy_smr_retire(alloy_smr *d, void *p, size_t size,
 *                       alloy_smr_free_fn *fn, void *ctx);
 *     Free p with fn(ctx, p, size) once no section that could have read it
 *     remains. Never blocks; frees some expired nodes of this thread on the
 *     way (amortized O(1)). fn must not be NULL. Inline below.
 * void alloy_smr_retire_node(alloy_smr *d, void *node, size_t size);
 *     Retire a node from alloy_smr_node_alloc(d, size); it is freed with
 *     alloy_smr_node_free. Inline below. */

/* Free what this thread can free now (also adopts nodes of exited threads);
 * never blocks. Returns the number of nodes freed. */
ALLOY_API size_t alloy_smr_poll(alloy_smr *d) ALLOY_NOEXCEPT;
/* Wait until every section that was open at the call has ended, then free
 * every node retired before the call, by any thread (live or exited), and
 * return the calling thread's node cache to the heap. Must be called outside
 * a section on d and outside a free function (aborts otherwise). Meant for
 * shutdown and tests: after it, with no concurrent retires, stats.pending is 0. */
ALLOY_API void alloy_smr_barrier(alloy_smr *d) ALLOY_NOEXCEPT;
/* Fill *out with d's counters (sums over live and exited threads) and return true;
 * false, with *out zeroed, when d is NULL. */
ALLOY_API bool alloy_smr_stats_get(alloy_smr *d, alloy_smr_stats *out) ALLOY_NOEXCEPT;

/* ---- node allocation ----------------------------------------------------- */

/* Allocate a node of size bytes from the routed heap: 64-byte aligned, size
 * rounded up to a multiple of 64 (so nodes never share a cache line). Under
 * IBR the birth era sits in the last 8 bytes of that rounding, outside the
 * caller's size. NULL with errno ENOMEM on failure.
 *
 * Node cache: nodes this thread frees — reclaimed by its retires and polls,
 * or passed to alloy_smr_node_free — are kept for its next node allocations
 * (at most 64 KiB per thread and domain, nodes of one footprint up to 1 KiB),
 * so a reclaimed node comes back hot and the heap sees no cross-thread free.
 * The cache is returned to the heap when the thread exits, when it calls
 * alloy_smr_barrier, and at alloy_smr_destroy (not by alloy_collect);
 * stats.cached counts it. Under ALLOY_DEBUG=1 there is no cache, so the debug
 * heap sees every node. Under EBR a thread that only allocates nodes never
 * joins the domain. */
ALLOY_API ALLOY_NODISCARD ALLOY_MALLOC_ATTR void *alloy_smr_node_alloc(alloy_smr *d,
                                                                       size_t size) ALLOY_NOEXCEPT;
/* Free a node of d of that size now, from any thread (for nodes never
 * published, or already reclaimed): into this thread's node cache if d is the
 * domain this thread used last and the cache has room, else to the heap.
 * NULL: no-op. */
ALLOY_API void alloy_smr_node_free(alloy_smr *d, void *node, size_t size) ALLOY_NOEXCEPT;
/* Bytes alloy_smr_node_alloc(d, size) takes from the heap. */
ALLOY_API size_t alloy_smr_node_footprint(const alloy_smr *d, size_t size) ALLOY_NOEXCEPT;

/* ---- internals of the inline paths (not API; layout may change) ---------- */

/* The first cache line of every domain. */
typedef struct alloy__smr_head {
    uint64_t clock;  /* epoch (EBR) or era (IBR); the only field written after create */
    uint64_t serial; /* unique per domain, never reused; 0 is never a domain */
    uint32_t scheme;
} alloy__smr_head;

/* A thread's announcement, one cache line in its domain. word is the epoch
 * (EBR) or lower reservation (IBR) while in a section, ALLOY__SMR_IDLE outside;
 * upper is IBR's upper reservation. */
typedef struct alloy__smr_slot {
    uint64_t word;
    uint64_t upper;
} alloy__smr_slot;

#define ALLOY__SMR_IDLE UINT64_MAX

/* A retired node waiting in its thread's bag. */
typedef struct alloy__smr_entry {
    void *p;
    size_t size;
    alloy_smr_free_fn *fn;
    void *ctx;
    uint64_t birth;  /* IBR: era the node was born in (0 if unknown) */
    uint64_t retire; /* clock read after the unlink */
} alloy__smr_entry;

#define ALLOY__SMR_BLOCK_ENTRIES 128

/* A bag: the owner appends at count (published with release); a barrier may
 * take entries below count and moves first past them (both atomic). */
typedef struct alloy__smr_block {
    struct alloy__smr_block *next;
    uint64_t tag; /* largest retire of its entries, set when sealed */
    uint32_t first;
    uint32_t count;
    alloy__smr_entry e[ALLOY__SMR_BLOCK_ENTRIES];
} alloy__smr_block;

/* The head of a thread's record in one domain; the owner's fields. */
typedef struct alloy__smr_hot {
    alloy__smr_slot *slot;
    uint64_t upper; /* owner's copy of slot->upper */
    uint32_t depth;
    uint32_t scheme;
    alloy__smr_block *cur; /* the bag retire appends to */
    uint64_t cur_tag;      /* clock of the last append */
    uint64_t budget;       /* retires left before the amortized work runs */
    uint64_t retired;      /* relaxed atomic: a stats reader may load it */
    uint32_t allocs;       /* IBR: node allocations since the last era increment */
} alloy__smr_hot;

/* One-entry cache: the record of this thread in the domain used last. */
typedef struct alloy__smr_tcache {
    uint64_t serial;
    alloy__smr_hot *rec;
} alloy__smr_tcache;

ALLOY_API extern __thread alloy__smr_tcache alloy__smr_tc
    __attribute__((tls_model("initial-exec")));
/* Find or create this thread's record in d (out of line). Aborts on OOM. */
ALLOY_API alloy__smr_hot *alloy__smr_join(alloy_smr *d) ALLOY_NOEXCEPT;
/* Retire's slow path: the bag is full or the clock moved since the last append. */
ALLOY_API void alloy__smr_retire_slow(alloy_smr *d, const alloy__smr_entry *e) ALLOY_NOEXCEPT;
/* Retire's amortized work (EBR: advance or reclaim; IBR: scan), when budget runs out. */
ALLOY_API void alloy__smr_retire_work(alloy_smr *d, uint64_t clock) ALLOY_NOEXCEPT;
/* The free function of retire_node: frees the node of domain ctx to the heap (the
 * reclaiming thread's own entries go to its node cache before reaching it). */
ALLOY_API void alloy__smr_node_free_fn(void *ctx, void *p, size_t size) ALLOY_NOEXCEPT;

static inline alloy__smr_hot *alloy__smr_self(alloy_smr *d) {
    const alloy__smr_head *h = (const alloy__smr_head *)(const void *)d;
    if (ALLOY_LIKELY(alloy__smr_tc.serial == h->serial)) return alloy__smr_tc.rec;
    return alloy__smr_join(d);
}

/* Full fence that orders this thread's earlier stores before its later loads. */
static inline void alloy__smr_fence(void) {
#if defined(__x86_64__)
    __asm__ __volatile__("lock orq $0, -8(%%rsp)" ::: "memory", "cc");
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

/* ---- inline read paths ---------------------------------------------------- */

ALLOY_INLINE void alloy_smr_enter(alloy_smr *d) {
    alloy__smr_hot *r = alloy__smr_self(d);
    if (r->depth++ != 0) return;
    const alloy__smr_head *h = (const alloy__smr_head *)(const void *)d;
    uint64_t c = __atomic_load_n(&h->clock, __ATOMIC_ACQUIRE);
    if (r->scheme == ALLOY_SMR_IBR) {
        r->upper = c;
        __atomic_store_n(&r->slot->upper, c, __ATOMIC_RELAXED);
    }
    /* The exchange is a full barrier on x86; elsewhere add the fence. */
    (void)__atomic_exchange_n(&r->slot->word, c, __ATOMIC_SEQ_CST);
#if !defined(__x86_64__) && !defined(__i386__)
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

ALLOY_INLINE void alloy_smr_exit(alloy_smr *d) {
    alloy__smr_hot *r = alloy__smr_self(d);
    if (--r->depth != 0) return;
    __atomic_store_n(&r->slot->word, ALLOY__SMR_IDLE, __ATOMIC_RELEASE);
}

ALLOY_INLINE bool alloy_smr_reserve(alloy_smr *d) {
    const alloy__smr_head *h = (const alloy__smr_head *)(const void *)d;
    if (h->scheme != ALLOY_SMR_IBR) return true; /* EBR: protected loads are plain loads */
    alloy__smr_hot *r = alloy__smr_self(d);
    uint64_t c = __atomic_load_n(&h->clock, __ATOMIC_ACQUIRE);
    if (ALLOY_LIKELY(c == r->upper)) return true;
    r->upper = c;
    (void)__atomic_exchange_n(&r->slot->upper, c, __ATOMIC_SEQ_CST);
#if !defined(__x86_64__) && !defined(__i386__)
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
    return false;
}

ALLOY_INLINE void *alloy_smr_protect(alloy_smr *d, void *const *pp) {
    void *p;
    do p = __atomic_load_n(pp, __ATOMIC_ACQUIRE);
    while (!alloy_smr_reserve(d));
    return p;
}

static inline void alloy__smr_retire(alloy_smr *d, void *p, size_t size, alloy_smr_free_fn *fn,
                                     void *ctx, uint64_t birth) {
    alloy__smr_hot *r = alloy__smr_self(d);
    const alloy__smr_head *h = (const alloy__smr_head *)(const void *)d;
    /* The clock read that tags the entry must follow the caller's unlink: the
     * contract makes the unlink a seq_cst RMW or store, which orders it before
     * this seq_cst load (on x86 it is itself a full barrier). */
#if !defined(__x86_64__) && !defined(__i386__)
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
    uint64_t clock = __atomic_load_n(&h->clock, __ATOMIC_SEQ_CST);
    alloy__smr_block *b = r->cur;
    uint32_t n = __atomic_load_n(&b->count, __ATOMIC_RELAXED);
    if (ALLOY_UNLIKELY(n == ALLOY__SMR_BLOCK_ENTRIES || clock != r->cur_tag)) {
        alloy__smr_entry e = {p, size, fn, ctx, birth, clock};
        alloy__smr_retire_slow(d, &e);
        return;
    }
    alloy__smr_entry *e = &b->e[n];
    e->p = p;
    e->size = size;
    e->fn = fn;
    e->ctx = ctx;
    e->birth = birth;
    e->retire = clock;
    __atomic_store_n(&b->count, n + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&r->retired, r->retired + 1, __ATOMIC_RELAXED);
    if (ALLOY_UNLIKELY(--r->budget == 0)) alloy__smr_retire_work(d, clock);
}

ALLOY_INLINE void alloy_smr_retire(alloy_smr *d, void *p, size_t size, alloy_smr_free_fn *fn,
                                   void *ctx) {
    alloy__smr_retire(d, p, size, fn, ctx, 0);
}

/* Bytes a node of size takes (see alloy_smr_node_footprint). */
static inline size_t alloy__smr_footprint(uint32_t scheme, size_t size) {
    size_t s = size + (scheme == ALLOY_SMR_IBR ? sizeof(uint64_t) : 0);
    if (s == 0) s = 1;
    return (s + 63) & ~(size_t)63;
}

ALLOY_INLINE void alloy_smr_retire_node(alloy_smr *d, void *node, size_t size) {
    const alloy__smr_head *h = (const alloy__smr_head *)(const void *)d;
    uint64_t birth = 0;
    if (h->scheme == ALLOY_SMR_IBR) {
        const char *end = (const char *)node + alloy__smr_footprint(h->scheme, size);
        birth = __atomic_load_n((const uint64_t *)(const void *)(end - sizeof(uint64_t)),
                                __ATOMIC_RELAXED);
    }
    alloy__smr_retire(d, node, size, alloy__smr_node_free_fn, d, birth);
}

#if !defined(__cplusplus)
#define ALLOY_SMR_PROTECT(d, pp)                                                                   \
    __extension__({                                                                                \
        __typeof__(*(pp)) alloy__p_;                                                               \
        do alloy__p_ = __atomic_load_n((pp), __ATOMIC_ACQUIRE);                                    \
        while (!alloy_smr_reserve(d));                                                             \
        alloy__p_;                                                                                 \
    })
#endif

ALLOY_EXTERN_C_END

#if defined(__cplusplus)
template <typename T> static inline T *alloy__smr_protect_typed(alloy_smr *d, T *const *pp) {
    T *p;
    do p = __atomic_load_n(pp, __ATOMIC_ACQUIRE);
    while (!alloy_smr_reserve(d));
    return p;
}
#define ALLOY_SMR_PROTECT(d, pp) alloy__smr_protect_typed((d), (pp))
#endif

#endif /* ALLOY_SMR_H */
