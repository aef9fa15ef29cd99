/* SPDX-License-Identifier: MIT */
/* alloy/pool.h - fixed-size blocks carved from slabs of a parent allocator.
 *
 * alloy_pool: single-threaded. Released blocks go on a LIFO list and are
 * handed out again first; slabs are taken from the parent as needed (each
 * larger than the last) and only returned at deinit.
 *
 * alloy_shared_pool: thread-safe. Each thread allocates from and frees into
 * its own cache without locks. A slab belongs to the cache that carved it; a
 * block freed by another thread is queued by that thread and handed back to
 * the owning cache in batches (one atomic exchange per batch), where the
 * owner picks it up when its own list runs dry. A thread's cache outlives the
 * thread: at exit its pending frees are flushed and the cache is adopted by
 * the next thread that needs one. The parent is only called under the pool's
 * lock, so it need not be thread-safe.
 */
#ifndef ALLOY_POOL_H
#define ALLOY_POOL_H

#include <pthread.h>

#include <alloy/allocator.h>

ALLOY_EXTERN_C_BEGIN

/* ---- single-threaded pool ------------------------------------------------ */

typedef struct alloy__pool_slab alloy__pool_slab;

/* Fields are private. */
typedef struct alloy_pool {
    alloy__pool_head h;              /* free list, block_size, align: read by the inline paths */
    char *carve, *carve_end;         /* untouched tail of the newest slab */
    alloy__pool_slab *slabs, *spare; /* slabs being carved / retained by reset */
    size_t next_slab, slab_count, committed;
    alloy_allocator parent;
} alloy_pool;

typedef struct alloy_pool_stats {
    size_t block_size; /* bytes per block after rounding up to the alignment */
    size_t live;       /* blocks handed out and not released */
    size_t capacity;   /* blocks the held slabs can serve without the parent */
    size_t slabs;      /* slabs held */
    size_t committed;  /* bytes held from the parent */
} alloy_pool_stats;

/* Prepare a pool of block_size-byte blocks aligned to align (power of two) over parent (not owned).
 * False (pool unusable) for block_size 0 or a bad alignment. Takes nothing from parent yet. */
ALLOY_API bool alloy_pool_init(alloy_pool *p, alloy_allocator parent, size_t block_size,
                               size_t align) ALLOY_NOEXCEPT;
/* Return every slab to the parent; every block becomes invalid. */
ALLOY_API void alloy_pool_deinit(alloy_pool *p) ALLOY_NOEXCEPT;
/* Invalidate every block; slabs are retained and carved again. */
ALLOY_API void alloy_pool_reset(alloy_pool *p) ALLOY_NOEXCEPT;

/* Out-of-line part of alloy_pool_alloc: carve from a slab or take a new one. */
ALLOY_API void *alloy__pool_alloc_slow(alloy_pool *p) ALLOY_NOEXCEPT;

/* One block of the pool's size and alignment; NULL when the parent fails. */
ALLOY_NODISCARD ALLOY_INLINE void *alloy_pool_alloc(alloy_pool *p) {
    alloy__pool_node *n = p->h.free;
    if (ALLOY_UNLIKELY(n == NULL)) return alloy__pool_alloc_slow(p);
    p->h.free = n->next;
    return n;
}

/* Give block b (from this pool, never NULL) back for reuse. */
ALLOY_INLINE void alloy_pool_free(alloy_pool *p, void *b) {
    alloy__pool_node *n = (alloy__pool_node *)b;
    n->next = p->h.free;
    p->h.free = n;
}

/* The pool as an allocator value: sizes up to the block size and alignments up to the pool's. */
ALLOY_API alloy_allocator alloy_pool_allocator(alloy_pool *p) ALLOY_NOEXCEPT;
/* Fill *out (walks the free list: not for hot paths). */
ALLOY_API void alloy_pool_stats_get(const alloy_pool *p, alloy_pool_stats *out) ALLOY_NOEXCEPT;

/* ---- thread-safe pool ---------------------------------------------------- */

typedef struct alloy__spool_cache alloy__spool_cache;

/* Fields are private. */
typedef struct alloy_shared_pool {
    uint64_t id; /* unique per init: keys the per-thread cache lookup */
    size_t block_size, align, slab_size, first_offset;
    alloy_allocator parent;
    pthread_mutex_t lock;    /* guards slabs, the parent and the cache list */
    alloy__pool_node *slabs; /* every slab, for deinit */
    alloy__spool_cache *caches;
    size_t slab_count;
} alloy_shared_pool;

/* Prepare a thread-safe pool over parent (not owned; called only under the pool's lock).
 * False for block_size 0, a bad alignment, or a block too large for a slab (over 64 KiB). */
ALLOY_API bool alloy_shared_pool_init(alloy_shared_pool *p, alloy_allocator parent,
                                      size_t block_size, size_t align) ALLOY_NOEXCEPT;
/* Return every slab and cache to the parent. No thread may use the pool during or after. */
ALLOY_API void alloy_shared_pool_deinit(alloy_shared_pool *p) ALLOY_NOEXCEPT;
/* One block from the calling thread's cache; NULL when the parent fails. */
ALLOY_API ALLOY_NODISCARD void *alloy_shared_pool_alloc(alloy_shared_pool *p) ALLOY_NOEXCEPT;
/* Give back b (never NULL) from any thread; it returns to the cache that carved it. */
ALLOY_API void alloy_shared_pool_free(alloy_shared_pool *p, void *b) ALLOY_NOEXCEPT;
/* Hand the calling thread's queued cross-thread frees to their owners now. */
ALLOY_API void alloy_shared_pool_flush(alloy_shared_pool *p) ALLOY_NOEXCEPT;
/* The shared pool as a thread-safe allocator value (reset unsupported). */
ALLOY_API alloy_allocator alloy_shared_pool_allocator(alloy_shared_pool *p) ALLOY_NOEXCEPT;
/* Slabs taken from the parent so far. */
ALLOY_API size_t alloy_shared_pool_slabs(alloy_shared_pool *p) ALLOY_NOEXCEPT;

ALLOY_EXTERN_C_END

#endif /* ALLOY_POOL_H */
