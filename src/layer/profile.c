/* SPDX-License-Identifier: MIT */
/* src/layer/profile.c - the profiler layer: the table slots.
 *
 * Each slot asks alloy__pf_on: one relaxed load of the running generation
 * compared with the thread's own, and the thread's `inside` count, both in the
 * thread's TLS line. When the profiler is stopped, or the call comes from the
 * profiler's own code (stack capture, symbols, its thread), the call is a
 * plain forward to the table below. Otherwise the call below is timed (1 in
 * latency_every, a per-thread countdown) and the block is counted into the
 * thread's own slot with plain stores: nothing shared is written on the fast
 * path in sampled mode. Block records (every block in full mode, the sampled
 * ones in sampled mode) are kept by src/profile/core.c. A free takes the
 * block's record out before the block goes back, so its address cannot be
 * reused by another thread while the record is still in.
 *
 * Each slot is written once, as an always-inline body over two constants:
 * `timed` (the fast path has no clock read) and `sh` (the overflow slot that
 * threads beyond PF_MAX_THREADS share, counted with atomic adds, out of line).
 */
#define _GNU_SOURCE
#include "layer.h"

#include <errno.h>
#include <stdlib.h>

#include "../profile/profile_internal.h"

static alloy__backend below;

#define PF_INLINE static inline __attribute__((always_inline))
#define PF_COLD __attribute__((noinline, cold))

enum { K_MALLOC, K_CALLOC, K_ALIGNED };

/* One allocation of kind k: a, b are (size, 0), (count, size) or (size, align). frame: the
 * layer entry's frame, where a stack walk starts and whose return address is the call site. */
PF_INLINE void *alloc_body(pf_self *me, int k, size_t a, size_t b, bool timed, bool sh,
                           const void *frame) {
    uint64_t t0 = timed ? alloy__pf_now() : 0;
    void *p = k == K_MALLOC   ? below.malloc(a)
              : k == K_CALLOC ? below.calloc(a, b)
                              : below.malloc_aligned(a, b);
    uint64_t t1 = timed ? alloy__pf_now() : 0;
    if (ALLOY_UNLIKELY(p == NULL)) {
        alloy__pf_on_failed(me);
        return NULL;
    }
    size_t req = a, usable;
    if (k == K_CALLOC && __builtin_mul_overflow(a, b, &req)) req = SIZE_MAX;
    if (k == K_ALIGNED)
        usable = alloy__usable(&below, p);
    else
        usable = alloy__alloc_bytes(&below, p, req);
    alloy__pf_count_alloc(me, sh, p, req, usable, timed, t0, t1, frame);
    return p;
}

/* The out-of-line variants walk from their own frames: the entry's is gone when they are
 * reached by a tail call. */
PF_COLD static void *alloc_timed(pf_self *me, int k, size_t a, size_t b) {
    return alloc_body(me, k, a, b, true, false, __builtin_frame_address(0));
}
PF_COLD static void *alloc_shared(pf_self *me, int k, size_t a, size_t b) {
    return alloc_body(me, k, a, b, alloy__pf_timed(me), true, __builtin_frame_address(0));
}

PF_INLINE void *alloc_slot(int k, size_t a, size_t b) {
    pf_self *me = &alloy__pf_self;
    if (ALLOY_UNLIKELY(!alloy__pf_on(me)))
        return k == K_MALLOC   ? below.malloc(a)
               : k == K_CALLOC ? below.calloc(a, b)
                               : below.malloc_aligned(a, b);
    if (ALLOY_UNLIKELY(me->shared)) return alloc_shared(me, k, a, b);
    if (ALLOY_UNLIKELY(alloy__pf_timed(me))) return alloc_timed(me, k, a, b);
    return alloc_body(me, k, a, b, false, false, __builtin_frame_address(0));
}

static void *pf_malloc(size_t n) {
    return alloc_slot(K_MALLOC, n, 0);
}

static void *pf_calloc(size_t c, size_t n) {
    return alloc_slot(K_CALLOC, c, n);
}

static void *pf_malloc_aligned(size_t n, size_t align) {
    return alloc_slot(K_ALIGNED, n, align);
}

enum { F_FREE, F_SIZED, F_ALIGNED_SIZED };

PF_INLINE void free_below(int k, void *p, size_t size, size_t align) {
    if (k == F_FREE)
        below.free(p);
    else if (k == F_SIZED)
        below.free_sized(p, size);
    else
        below.free_aligned_sized(p, size, align);
}

/* One free of kind k: the record out and the free counted, then the block back. */
PF_INLINE void free_body(pf_self *me, int k, void *p, size_t size, size_t align, bool timed,
                         bool sh) {
    alloy__pf_count_free_fast(me, sh, p, alloy__usable(&below, p), k == F_FREE ? 0 : size);
    uint64_t t0 = timed ? alloy__pf_now() : 0;
    free_below(k, p, size, align);
    if (timed) alloy__pf_lat_add(sh, me->slot, false, alloy__pf_now() - t0);
}

PF_COLD static void free_timed(pf_self *me, int k, void *p, size_t size, size_t align) {
    free_body(me, k, p, size, align, true, false);
}
PF_COLD static void free_shared(pf_self *me, int k, void *p, size_t size, size_t align) {
    if (alloy__pf_timed(me))
        free_body(me, k, p, size, align, true, true);
    else
        free_body(me, k, p, size, align, false, true);
}

PF_INLINE void free_slot(int k, void *p, size_t size, size_t align) {
    pf_self *me = &alloy__pf_self;
    if (ALLOY_UNLIKELY(p == NULL || !alloy__pf_on(me))) {
        free_below(k, p, size, align);
        return;
    }
    if (ALLOY_UNLIKELY(me->shared)) {
        free_shared(me, k, p, size, align);
        return;
    }
    if (ALLOY_UNLIKELY(alloy__pf_timed(me))) {
        free_timed(me, k, p, size, align);
        return;
    }
    free_body(me, k, p, size, align, false, false);
}

static void pf_free(void *p) {
    free_slot(F_FREE, p, 0, 0);
}

static void pf_free_sized(void *p, size_t size) {
    free_slot(F_SIZED, p, size, 0);
}

static void pf_free_aligned_sized(void *p, size_t size, size_t align) {
    free_slot(F_ALIGNED_SIZED, p, size, align);
}

/* realloc and realloc_aligned: the old block's record comes out first and goes
 * back if the call fails. */
__attribute__((noinline)) static void *realloc_common(pf_self *me, void *p, size_t n,
                                                      size_t align) {
    pf_taken t = alloy__pf_take(me, p);
    size_t old_usable = alloy__usable(&below, p);
    bool timed = alloy__pf_timed(me);
    uint64_t t0 = timed ? alloy__pf_now() : 0;
    void *q = align ? below.realloc_aligned(p, n, align) : below.realloc(p, n);
    uint64_t t1 = timed ? alloy__pf_now() : 0;
    if (q == NULL && n != 0) {
        alloy__pf_put_back(p, t);
        alloy__pf_on_failed(me);
        return NULL;
    }
    alloy__pf_count_free(me, &t, old_usable, 0);
    alloy__pf_count_realloc(me);
    if (q != NULL)
        alloy__pf_count_alloc(me, me->shared, q, n, alloy__usable(&below, q), timed, t0, t1,
                              __builtin_frame_address(0));
    return q;
}

/* realloc(NULL, n) is an allocation (the override's realloc passes it on):
 * there is no old block to look up. */
static void *pf_realloc(void *p, size_t n) {
    pf_self *me = &alloy__pf_self;
    if (!alloy__pf_on(me)) return below.realloc(p, n);
    if (p == NULL) return pf_malloc(n);
    return realloc_common(me, p, n, 0);
}

static void *pf_realloc_aligned(void *p, size_t n, size_t align) {
    pf_self *me = &alloy__pf_self;
    if (!alloy__pf_on(me)) return below.realloc_aligned(p, n, align);
    if (p == NULL) return pf_malloc_aligned(n, align);
    return realloc_common(me, p, n, align ? align : 1);
}

static bool pf_from_env(void) {
    const char *v = getenv("ALLOY_PROFILE");
    const char *prom = getenv("ALLOY_PROFILE_PROM");
    return (v != NULL && v[0] != '\0') || (prom != NULL && prom[0] != '\0');
}

static bool pf_attach(const alloy__backend *b, alloy__backend *self) {
    below = *b;
    *self = *b;
    self->malloc = pf_malloc;
    self->calloc = pf_calloc;
    self->realloc = pf_realloc;
    self->free = pf_free;
    self->free_sized = pf_free_sized;
    self->malloc_aligned = pf_malloc_aligned;
    self->realloc_aligned = pf_realloc_aligned;
    self->free_aligned_sized = pf_free_aligned_sized;
    alloy__pf_set_below(&below);
    if (pf_from_env()) alloy__pf_env_start();
    return true;
}

const alloy__layer alloy__layer_profile = {
    .id = ALLOY_LAYER_PROFILE,
    .name = "profile",
    .attach = pf_attach,
    .from_env = pf_from_env,
    .late_ok = true,
};
