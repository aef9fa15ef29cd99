/* SPDX-License-Identifier: MIT */
/* src/layer/profile.c - the profiler layer: the table slots.
 *
 * Each slot loads the running flag (relaxed) and the thread's `inside` count;
 * when the profiler is stopped, or the call comes from the profiler's own code
 * (stack capture, symbols, its thread), it is a plain forward to the table
 * below. Otherwise the call below is timed (1 in latency_every) and the block
 * is counted and recorded in src/profile/core.c. A free takes the block's
 * record out before the block goes back, so its address cannot be reused by
 * another thread while the record is still in.
 */
#define _GNU_SOURCE
#include "layer.h"

#include <errno.h>
#include <stdlib.h>

#include "../profile/profile_internal.h"

static alloy__backend below;

static inline bool pf_on(void) {
    return ALLOY_UNLIKELY(__atomic_load_n(&alloy__pf_running, __ATOMIC_RELAXED) != 0) &&
           alloy__pf_self.inside == 0;
}

static inline uint64_t t_start(bool timed) {
    return timed ? alloy__pf_now() : 0;
}
static inline uint64_t t_end(bool timed) {
    return timed ? alloy__pf_now() | 1u : 0;
}

__attribute__((noinline)) static void after_alloc(void *p, size_t n, uint64_t t0, uint64_t t1) {
    if (ALLOY_UNLIKELY(__atomic_load_n(&alloy__pf_want_thread, __ATOMIC_RELAXED) != 0)) {
        alloy__pf_self.inside++;
        alloy__pf_thread_kick();
        alloy__pf_self.inside--;
    }
    if (p == NULL) {
        alloy__pf_on_failed(t0, t1);
        return;
    }
    alloy__pf_on_alloc(p, n, alloy__alloc_bytes(&below, p, n), t0, t1, __builtin_frame_address(0));
}

static void *pf_malloc(size_t n) {
    if (!pf_on()) return below.malloc(n);
    bool timed = alloy__pf_timed();
    uint64_t t0 = t_start(timed);
    void *p = below.malloc(n);
    after_alloc(p, n, t0, t_end(timed));
    return p;
}

static void *pf_calloc(size_t c, size_t n) {
    if (!pf_on()) return below.calloc(c, n);
    bool timed = alloy__pf_timed();
    uint64_t t0 = t_start(timed);
    void *p = below.calloc(c, n);
    uint64_t t1 = t_end(timed);
    size_t total;
    if (__builtin_mul_overflow(c, n, &total)) total = SIZE_MAX;
    after_alloc(p, total, t0, t1);
    return p;
}

static void *pf_malloc_aligned(size_t n, size_t align) {
    if (!pf_on()) return below.malloc_aligned(n, align);
    bool timed = alloy__pf_timed();
    uint64_t t0 = t_start(timed);
    void *p = below.malloc_aligned(n, align);
    uint64_t t1 = t_end(timed);
    if (p == NULL) {
        alloy__pf_on_failed(t0, t1);
        return NULL;
    }
    alloy__pf_on_alloc(p, n, alloy__usable(&below, p), t0, t1, __builtin_frame_address(0));
    return p;
}

static void before_free(void *p, size_t req_hint) {
    alloy__pf_on_free(p, alloy__usable(&below, p), req_hint);
}

static void pf_free(void *p) {
    if (p == NULL || !pf_on()) {
        below.free(p);
        return;
    }
    before_free(p, 0);
    bool timed = alloy__pf_timed();
    uint64_t t0 = t_start(timed);
    below.free(p);
    if (timed) alloy__pf_free_time(t0, t_end(true));
}

static void pf_free_sized(void *p, size_t size) {
    if (p == NULL || !pf_on()) {
        below.free_sized(p, size);
        return;
    }
    before_free(p, size);
    bool timed = alloy__pf_timed();
    uint64_t t0 = t_start(timed);
    below.free_sized(p, size);
    if (timed) alloy__pf_free_time(t0, t_end(true));
}

static void pf_free_aligned_sized(void *p, size_t size, size_t align) {
    if (p == NULL || !pf_on()) {
        below.free_aligned_sized(p, size, align);
        return;
    }
    before_free(p, size);
    bool timed = alloy__pf_timed();
    uint64_t t0 = t_start(timed);
    below.free_aligned_sized(p, size, align);
    if (timed) alloy__pf_free_time(t0, t_end(true));
}

/* realloc and realloc_aligned: the old block's record comes out first and goes
 * back if the call fails. */
static void *realloc_common(void *p, size_t n, size_t align) {
    pf_taken t = alloy__pf_take(p);
    size_t old_usable = alloy__usable(&below, p);
    bool timed = alloy__pf_timed();
    uint64_t t0 = t_start(timed);
    void *q = align ? below.realloc_aligned(p, n, align) : below.realloc(p, n);
    uint64_t t1 = t_end(timed);
    if (q == NULL && n != 0) {
        alloy__pf_put_back(p, t);
        alloy__pf_on_failed(t0, t1);
        return NULL;
    }
    alloy__pf_count_free(&t, old_usable, 0);
    alloy__pf_count_realloc();
    if (q != NULL)
        alloy__pf_on_alloc(q, n, alloy__usable(&below, q), t0, t1, __builtin_frame_address(0));
    return q;
}

/* realloc(NULL, n) is an allocation (the override's realloc passes it on):
 * there is no old block to look up. */
static void *pf_realloc(void *p, size_t n) {
    if (!pf_on()) return below.realloc(p, n);
    if (p == NULL) return pf_malloc(n);
    return realloc_common(p, n, 0);
}

static void *pf_realloc_aligned(void *p, size_t n, size_t align) {
    if (!pf_on()) return below.realloc_aligned(p, n, align);
    if (p == NULL) return pf_malloc_aligned(n, align);
    return realloc_common(p, n, align ? align : 1);
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
