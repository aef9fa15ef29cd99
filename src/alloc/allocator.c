/* SPDX-License-Identifier: MIT */
/* src/alloc/allocator.c - stubs for unsupported slots, and the heap and the
 * backends as allocator values.
 *
 * The heap value does the routed API's work itself (backend call plus
 * counters) rather than calling alloy_malloc, saving a call per operation;
 * it differs only in leaving errno alone and not calling the error handler.
 */
#define _GNU_SOURCE
#include "../internal.h"

#include <errno.h>
#include <string.h>

/* ---- stubs --------------------------------------------------------------- */

bool alloy_no_resize(void *ctx, void *p, size_t size, size_t new_size, size_t align) {
    (void)ctx, (void)p, (void)size, (void)new_size, (void)align;
    return false;
}

void *alloy_no_remap(void *ctx, void *p, size_t size, size_t new_size, size_t align) {
    (void)ctx, (void)p, (void)size, (void)new_size, (void)align;
    return NULL;
}

void alloy_no_free(void *ctx, void *p, size_t size, size_t align) {
    (void)ctx, (void)p, (void)size, (void)align;
}

bool alloy_no_reset(void *ctx) {
    (void)ctx;
    return false;
}

bool alloy_no_stats(void *ctx, alloy_stats *out) {
    (void)ctx;
    memset(out, 0, sizeof *out);
    return false;
}

/* errno's address, cached per thread: reading errno through __errno_location
 * on every call costs a call into libc; the address never changes for a thread. */
static ALLOY_TLS int *errno_at;

static inline int *errno_ptr(void) {
    int *e = errno_at;
    if (ALLOY_UNLIKELY(e == NULL)) e = errno_at = &errno;
    return e;
}

/* Does plain malloc already give this alignment? Every backend aligns blocks
 * of 16 bytes or more to 16 (mimalloc aligns smaller ones only to 8, as C
 * allows), so the common align-16 request takes the plain fast path instead
 * of the aligned one (jemalloc's mallocx, mimalloc's aligned entry). The
 * allocation and the free decide alike from (size, align). */
static inline bool plain(size_t size, size_t align) {
    return align <= _Alignof(void *) || (align <= 16 && size >= 16);
}

/* ---- the heap (routed) ---------------------------------------------------
 * The routed API's top table, called directly: whatever layers are on (the
 * counting layer, the debug heap) see these calls as they see alloy_malloc's.
 * Allocator values leave errno alone, so it is saved around a failure. */

static void *heap_alloc(void *ctx, size_t size, size_t align) {
    (void)ctx;
    int *err = errno_ptr(), saved = *err;
    void *p =
        plain(size, align) ? ALLOY__TOP(malloc)(size) : ALLOY__TOP(malloc_aligned)(size, align);
    if (ALLOY_UNLIKELY(p == NULL)) {
        *err = saved;
        return NULL;
    }
    ALLOY__NEW_MEMORY(p);
    return p;
}

/* Only growth into the block's own slack: a later sized free names a size in
 * the same size class as the original request (jemalloc and tcmalloc trust it,
 * and so does the counting layer). Shrinking goes through remap. */
static bool heap_resize(void *ctx, void *p, size_t size, size_t new_size, size_t align) {
    (void)ctx, (void)align;
    return new_size >= size && new_size <= ALLOY__TOP(usable_size)(p);
}

static void *heap_remap(void *ctx, void *p, size_t size, size_t new_size, size_t align) {
    (void)ctx, (void)size;
    int *err = errno_ptr(), saved = *err;
    ALLOY__FREEING(p);
    void *q = plain(new_size, align) ? ALLOY__TOP(realloc)(p, new_size)
                                     : ALLOY__TOP(realloc_aligned)(p, new_size, align);
    if (ALLOY_UNLIKELY(q == NULL)) {
        *err = saved;
        return NULL;
    }
    ALLOY__NEW_MEMORY(q);
    return q;
}

static void heap_free(void *ctx, void *p, size_t size, size_t align) {
    (void)ctx;
    ALLOY__FREEING(p);
    if (plain(size, align))
        ALLOY__TOP(free_sized)(p, size);
    else
        ALLOY__TOP(free_aligned_sized)(p, size, align);
}

static bool heap_stats(void *ctx, alloy_stats *out) {
    (void)ctx;
    return alloy_stats_get(out);
}

ALLOY_HIDDEN const alloy_vtable alloy__heap_vtable = {
    .alloc = heap_alloc,
    .resize = heap_resize,
    .remap = heap_remap,
    .free = heap_free,
    .reset = alloy_no_reset,
    .stats = heap_stats,
};

alloy_allocator alloy_heap(void) {
    return (alloy_allocator){NULL, &alloy__heap_vtable};
}

/* ---- backends by name (direct, uncounted) -------------------------------- */

static void *be_alloc(void *ctx, size_t size, size_t align) {
    const alloy__backend *be = ctx;
    int *err = errno_ptr(), saved = *err;
    void *p = plain(size, align) ? be->malloc(size) : be->malloc_aligned(size, align);
    if (ALLOY_UNLIKELY(p == NULL))
        *err = saved;
    else
        ALLOY__NEW_MEMORY(p);
    return p;
}

static bool be_resize(void *ctx, void *p, size_t size, size_t new_size, size_t align) {
    const alloy__backend *be = ctx;
    (void)align;
    return new_size >= size && new_size <= be->usable_size(p);
}

static void *be_remap(void *ctx, void *p, size_t size, size_t new_size, size_t align) {
    const alloy__backend *be = ctx;
    (void)size;
    int *err = errno_ptr(), saved = *err;
    ALLOY__FREEING(p);
    void *q =
        plain(new_size, align) ? be->realloc(p, new_size) : be->realloc_aligned(p, new_size, align);
    if (ALLOY_UNLIKELY(q == NULL))
        *err = saved;
    else
        ALLOY__NEW_MEMORY(q);
    return q;
}

static void be_free(void *ctx, void *p, size_t size, size_t align) {
    const alloy__backend *be = ctx;
    if (plain(size, align))
        be->free_sized(p, size);
    else
        be->free_aligned_sized(p, size, align);
}

static const alloy_vtable backend_vtable = {
    .alloc = be_alloc,
    .resize = be_resize,
    .remap = be_remap,
    .free = be_free,
    .reset = alloy_no_reset,
    .stats = alloy_no_stats,
};

bool alloy_backend_allocator(const char *name, alloy_allocator *out) {
    const alloy__backend *be = alloy__backend_get(name != NULL ? name : alloy_backend_name());
    if (be == NULL) return false;
    out->ctx = (void *)(uintptr_t)be;
    out->vt = &backend_vtable;
    return true;
}
