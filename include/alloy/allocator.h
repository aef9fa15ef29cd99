/* SPDX-License-Identifier: MIT */
/* alloy/allocator.h - allocators as values.
 *
 * An alloy_allocator is two words, {ctx, vt}: a pointer to the allocator's
 * state and its table of operations. Functions take one by value and never
 * care which allocator it is; allocators wrap each other by holding a parent.
 *
 * Contract (checked once, in the inline wrappers below, never in the tables):
 * - Size and alignment travel with every call: a block is freed, resized or
 *   remapped with the size and alignment it was last given. Alignment is a
 *   power of two in bytes; any other value makes the call fail (NULL/false).
 * - Size 0 never reaches an allocator: alloy_alloc returns a non-NULL pointer
 *   that must not be dereferenced (it is not unique), and alloy_dealloc of
 *   size 0 does nothing. Sizes above PTRDIFF_MAX and count * size overflow
 *   fail with NULL.
 * - Failure is NULL (alloc, remap) or false (resize, reset, stats); errno is
 *   left alone and no handler is called.
 * - No slot of a table is ever NULL: unsupported operations point at the
 *   alloy_no_* stubs, so callers never test for them.
 * - Unless its header says otherwise an allocator is single-threaded; the
 *   heap, backend and shared-pool values are thread-safe.
 */
#ifndef ALLOY_ALLOCATOR_H
#define ALLOY_ALLOCATOR_H

#include <string.h>

#include <alloy/common.h>
#include <alloy/stats.h>

ALLOY_EXTERN_C_BEGIN

/* ---- the interface ------------------------------------------------------- */

typedef struct alloy_vtable {
    /* size > 0, align a power of two. NULL when out of memory or unsupported. */
    void *(*alloc)(void *ctx, size_t size, size_t align);
    /* Grow or shrink p in place to new_size > 0; false leaves p untouched. */
    bool (*resize)(void *ctx, void *p, size_t size, size_t new_size, size_t align);
    /* Resize p to new_size > 0, moving it if needed; NULL leaves p untouched. */
    void *(*remap)(void *ctx, void *p, size_t size, size_t new_size, size_t align);
    /* Release p (never NULL, size > 0). */
    void (*free)(void *ctx, void *p, size_t size, size_t align);
    /* Release every block at once; false when the allocator cannot. */
    bool (*reset)(void *ctx);
    /* Fill *out with call and byte counts; false when the allocator keeps none. */
    bool (*stats)(void *ctx, alloy_stats *out);
} alloy_vtable;

typedef struct alloy_allocator {
    void *ctx;
    const alloy_vtable *vt;
} alloy_allocator;

/* ---- stubs for unsupported slots ----------------------------------------- */

/* Resize stub: always false (the block cannot change size in place). */
ALLOY_API bool alloy_no_resize(void *ctx, void *p, size_t size, size_t new_size,
                               size_t align) ALLOY_NOEXCEPT;
/* Remap stub: always NULL (callers fall back to alloc + copy + free). */
ALLOY_API void *alloy_no_remap(void *ctx, void *p, size_t size, size_t new_size,
                               size_t align) ALLOY_NOEXCEPT;
/* Free stub: does nothing (memory comes back on reset or deinit). */
ALLOY_API void alloy_no_free(void *ctx, void *p, size_t size, size_t align) ALLOY_NOEXCEPT;
/* Reset stub: always false. */
ALLOY_API bool alloy_no_reset(void *ctx) ALLOY_NOEXCEPT;
/* Stats stub: zeroes *out and returns false. */
ALLOY_API bool alloy_no_stats(void *ctx, alloy_stats *out) ALLOY_NOEXCEPT;

/* ---- ready-made values --------------------------------------------------- */

/* The routed API (alloy_malloc & co., counted in alloy_stats) as a value; thread-safe, needs no
 * deinit. */
ALLOY_API alloy_allocator alloy_heap(void) ALLOY_NOEXCEPT;
/* Store in *out the named compiled-in backend ("libc", "mimalloc", ...) as an uncounted value;
 * false (and *out untouched) if it is not available. NULL name: the backend serving alloy_heap().
 */
ALLOY_API bool alloy_backend_allocator(const char *name, alloy_allocator *out) ALLOY_NOEXCEPT;

/* ---- guarded fast paths ---------------------------------------------------
 * An indirect call costs more than a bump or a free-list pop, so alloy_alloc
 * and alloy_dealloc recognise the arena's and the pool's tables and run their
 * inline fast paths themselves; misses and every other allocator go through
 * the table. Define ALLOY_NO_DEVIRTUALIZE to always call through the table.
 * The heads below are the first members of alloy_arena and alloy_pool.
 */
typedef struct alloy__bump_head {
    char *cur;              /* next free byte of the current chunk */
    char *end;              /* end of the current chunk */
    size_t large_threshold; /* larger blocks never come from a chunk */
} alloy__bump_head;

typedef struct alloy__pool_node {
    struct alloy__pool_node *next;
} alloy__pool_node;

typedef struct alloy__pool_head {
    alloy__pool_node *free; /* released blocks, most recent first */
    size_t block_size;      /* after rounding up to align */
    size_t align;
} alloy__pool_head;

/* The tables of alloy_arena_allocator and alloy_pool_allocator (private). */
ALLOY_API extern const alloy_vtable alloy__arena_vtable;
ALLOY_API extern const alloy_vtable alloy__pool_vtable;

/* Step of the arena's bump pointer: every chunk block starts and ends on a multiple of it. */
#define ALLOY_ARENA_GRAIN 8u
/* The arena's large-block threshold is never below this, so sizes known at compile time up
 * to it skip that test. */
#define ALLOY_ARENA_MIN_LARGE 256u

#if defined(__GNUC__)
#define ALLOY__SMALL_CONST(size) (__builtin_constant_p(size) && (size) <= ALLOY_ARENA_MIN_LARGE)
#else
#define ALLOY__SMALL_CONST(size) 0
#endif

/* The arena's fast path: true with *out set if the block fits the current chunk. */
static inline bool alloy__bump(alloy__bump_head *h, size_t size, size_t align, void **out) {
    char *cur = h->cur;
    if (ALLOY__SMALL_CONST(size) && align <= ALLOY_ARENA_GRAIN) {
        /* Size and alignment known and small: no padding, no overflow, one compare. */
        uintptr_t next =
            (uintptr_t)cur + ((size + (ALLOY_ARENA_GRAIN - 1)) & ~(size_t)(ALLOY_ARENA_GRAIN - 1));
        if (ALLOY_LIKELY(next <= (uintptr_t)h->end)) {
            h->cur = (char *)next;
            *out = cur;
            return true;
        }
        return false;
    }
    size_t avail = (size_t)(h->end - cur);
    size_t pad = align <= ALLOY_ARENA_GRAIN ? 0 : (size_t)(-(uintptr_t)cur & (align - 1));
    /* One branch: fits in the chunk and is not a large block. */
    bool small = ALLOY__SMALL_CONST(size) || size <= h->large_threshold;
    if (ALLOY_LIKELY((pad <= avail) & (size <= avail - pad) & small)) {
        char *p = cur + pad;
        h->cur = p + ((size + (ALLOY_ARENA_GRAIN - 1)) & ~(size_t)(ALLOY_ARENA_GRAIN - 1));
        *out = p;
        return true;
    }
    return false;
}

/* ---- checked wrappers ---------------------------------------------------- */

/* Largest size any allocator is asked for (sizes above fail). */
#define ALLOY_SIZE_LIMIT ((size_t)PTRDIFF_MAX)

/* True if align is a power of two (0 is not). */
ALLOY_INLINE bool alloy_align_ok(size_t align) {
    return align != 0 && (align & (align - 1)) == 0;
}

/* The pointer returned for size 0: non-NULL, aligned, never dereferenced or passed to a table.
 * The empty asm hides the constant from the optimizer: seen through an inlined
 * alloy_alloc, a constant address on the size-0 path made gcc warn
 * (-Wstringop-overflow, -Warray-bounds) about writes the caller's size check keeps off
 * that path, where the same code with malloc is quiet. */
ALLOY_INLINE void *alloy_zero_size_ptr(size_t align) {
    void *p = (void *)(uintptr_t)align;
#if defined(__GNUC__)
    __asm__("" : "+r"(p));
#endif
    return p;
}

/* Allocate size bytes aligned to align from a; NULL on failure, contract violation included. */
ALLOY_NODISCARD ALLOY_INLINE void *alloy_alloc(alloy_allocator a, size_t size, size_t align) {
    if (ALLOY_UNLIKELY(!alloy_align_ok(align) || size > ALLOY_SIZE_LIMIT)) return NULL;
    if (ALLOY_UNLIKELY(size == 0)) return alloy_zero_size_ptr(align);
#ifndef ALLOY_NO_DEVIRTUALIZE
    if (ALLOY_LIKELY(a.vt == &alloy__arena_vtable)) {
        void *p;
        if (ALLOY_LIKELY(alloy__bump((alloy__bump_head *)a.ctx, size, align, &p))) return p;
    } else if (a.vt == &alloy__pool_vtable) {
        alloy__pool_head *h = (alloy__pool_head *)a.ctx;
        alloy__pool_node *n = h->free;
        if (ALLOY_LIKELY(n != NULL && size <= h->block_size && align <= h->align)) {
            h->free = n->next;
            return n;
        }
    }
#endif
    return a.vt->alloc(a.ctx, size, align);
}

/* Allocate size zeroed bytes; NULL on failure. */
ALLOY_NODISCARD ALLOY_INLINE void *alloy_alloc_zeroed(alloy_allocator a, size_t size,
                                                      size_t align) {
    void *p = alloy_alloc(a, size, align);
    if (p != NULL && size != 0) memset(p, 0, size);
    return p;
}

/* Allocate count * size bytes, left uninitialized (unlike alloy_calloc); NULL if the
 * product overflows. */
ALLOY_NODISCARD ALLOY_INLINE void *alloy_alloc_array_uninit(alloy_allocator a, size_t count,
                                                            size_t size, size_t align) {
    if (ALLOY_UNLIKELY(size != 0 && count > ALLOY_SIZE_LIMIT / size)) return NULL;
    return alloy_alloc(a, count * size, align);
}

/* Allocate count * size zeroed bytes (calloc for allocator values); NULL if the product
 * overflows. */
ALLOY_NODISCARD ALLOY_INLINE void *alloy_alloc_array_zeroed(alloy_allocator a, size_t count,
                                                            size_t size, size_t align) {
    if (ALLOY_UNLIKELY(size != 0 && count > ALLOY_SIZE_LIMIT / size)) return NULL;
    return alloy_alloc_zeroed(a, count * size, align);
}

/* Release p (NULL and size 0 do nothing); size and align as last allocated or resized. */
ALLOY_INLINE void alloy_dealloc(alloy_allocator a, void *p, size_t size, size_t align) {
    if (ALLOY_UNLIKELY(p == NULL || size == 0)) return;
#ifndef ALLOY_NO_DEVIRTUALIZE
    if (a.vt == &alloy__pool_vtable) {
        alloy__pool_head *h = (alloy__pool_head *)a.ctx;
        alloy__pool_node *n = (alloy__pool_node *)p;
        n->next = h->free;
        h->free = n;
        return;
    }
#endif
    a.vt->free(a.ctx, p, size, align);
}

/* Resize p in place to new_size; false leaves p as it was. new_size 0 releases p (true). */
ALLOY_INLINE bool alloy_resize(alloy_allocator a, void *p, size_t size, size_t new_size,
                               size_t align) {
    if (ALLOY_UNLIKELY(!alloy_align_ok(align) || new_size > ALLOY_SIZE_LIMIT)) return false;
    if (size == 0 || p == NULL) return new_size == 0;
    if (new_size == 0) {
        a.vt->free(a.ctx, p, size, align);
        return true;
    }
    if (new_size == size) return true;
    return a.vt->resize(a.ctx, p, size, new_size, align);
}

/* Resize p to new_size, moving it only if the allocator can; NULL leaves p as it was. */
ALLOY_NODISCARD ALLOY_INLINE void *alloy_remap(alloy_allocator a, void *p, size_t size,
                                               size_t new_size, size_t align) {
    if (ALLOY_UNLIKELY(!alloy_align_ok(align) || new_size > ALLOY_SIZE_LIMIT)) return NULL;
    if (size == 0 || p == NULL) return alloy_alloc(a, new_size, align);
    if (new_size == 0) {
        a.vt->free(a.ctx, p, size, align);
        return alloy_zero_size_ptr(align);
    }
    if (new_size == size) return p;
    return a.vt->remap(a.ctx, p, size, new_size, align);
}

/* realloc for allocator values: resize in place, else remap, else alloc + copy + free.
 * NULL leaves p (of size bytes) intact and owned by the caller. */
ALLOY_NODISCARD ALLOY_INLINE void *alloy_reallocate(alloy_allocator a, void *p, size_t size,
                                                    size_t new_size, size_t align) {
    if (ALLOY_UNLIKELY(!alloy_align_ok(align) || new_size > ALLOY_SIZE_LIMIT)) return NULL;
    if (size == 0 || p == NULL || new_size == 0 || new_size == size)
        return alloy_remap(a, p, size, new_size, align);
    if (a.vt->resize(a.ctx, p, size, new_size, align)) return p;
    void *q = a.vt->remap(a.ctx, p, size, new_size, align);
    if (q != NULL) return q;
    q = a.vt->alloc(a.ctx, new_size, align);
    if (q == NULL) return NULL;
    memcpy(q, p, size < new_size ? size : new_size);
    a.vt->free(a.ctx, p, size, align);
    return q;
}

/* Release every block of a at once; false if a cannot (blocks then stay valid). */
ALLOY_INLINE bool alloy_reset(alloy_allocator a) {
    return a.vt->reset(a.ctx);
}

/* Counters of a, if it keeps any; false (and *out zeroed) otherwise. */
ALLOY_INLINE bool alloy_allocator_stats_get(alloy_allocator a, alloy_stats *out) {
    return a.vt->stats(a.ctx, out);
}

/* Copy the NUL-terminated s into a block of strlen(s) + 1 bytes, align 1, from a. */
ALLOY_NODISCARD ALLOY_INLINE char *alloy_strdup_in(alloy_allocator a, const char *s) {
    size_t n = strlen(s) + 1;
    char *p = (char *)alloy_alloc(a, n, 1);
    if (p != NULL) memcpy(p, s, n);
    return p;
}

/* ---- typed macros ---------------------------------------------------------
 * Size and alignment come from the type; free with the same type (and count).
 */
#ifdef __cplusplus
#define ALLOY_ALIGNOF(T) alignof(T)
#else
#define ALLOY_ALIGNOF(T) _Alignof(T)
#endif

/* One uninitialized T from a, or NULL. */
#define ALLOY_NEW(a, T) ((T *)alloy_alloc((a), sizeof(T), ALLOY_ALIGNOF(T)))
/* n uninitialized Ts from a, or NULL (also when n * sizeof(T) overflows). */
#define ALLOY_NEW_ARRAY(a, T, n)                                                                   \
    ((T *)alloy_alloc_array_uninit((a), (n), sizeof(T), ALLOY_ALIGNOF(T)))
/* Release one T from ALLOY_NEW (NULL does nothing). */
#define ALLOY_DELETE(a, T, p) alloy_dealloc((a), (p), sizeof(T), ALLOY_ALIGNOF(T))
/* Release n Ts from ALLOY_NEW_ARRAY (NULL does nothing). */
#define ALLOY_DELETE_ARRAY(a, T, p, n)                                                             \
    alloy_dealloc((a), (p), (size_t)(n) * sizeof(T), ALLOY_ALIGNOF(T))

ALLOY_EXTERN_C_END

#endif /* ALLOY_ALLOCATOR_H */
