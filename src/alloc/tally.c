/* SPDX-License-Identifier: MIT */
/* src/alloc/tally.c - the stats wrapper.
 *
 * Every counter is updated with a relaxed atomic add so that a tally over a
 * thread-safe parent can be shared; the peak is raised with a CAS loop.
 */
#include <alloy/tally.h>

#include <inttypes.h>
#include <string.h>

#define ADD(field, n) __atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED)
#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

void alloy_tally_init(alloy_tally *t, alloy_allocator parent) {
    memset(t, 0, sizeof *t);
    t->parent = parent;
}

void alloy_tally_deinit(alloy_tally *t) {
    (void)t;
}

unsigned alloy_tally_class(size_t size) {
    if (size <= 8) return 0;
    unsigned bits = (unsigned)(sizeof(unsigned long long) * 8) -
                    (unsigned)__builtin_clzll((unsigned long long)(size - 1));
    unsigned c = bits - 3; /* 9..16 -> 1, 17..32 -> 2, ... */
    return c < ALLOY_TALLY_CLASSES ? c : ALLOY_TALLY_CLASSES - 1;
}

static void raise_peak(alloy_tally *t, uint64_t cur) {
    uint64_t peak = LOAD(t->r.totals.peak_bytes);
    while (cur > peak && !__atomic_compare_exchange_n(&t->r.totals.peak_bytes, &peak, cur, true,
                                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

static void count_alloc(alloy_tally *t, size_t size) {
    ADD(t->r.totals.alloc_count, 1);
    ADD(t->r.totals.alloc_bytes, size);
    ADD(t->r.totals.current_count, 1);
    ADD(t->r.histogram[alloy_tally_class(size)], 1);
    raise_peak(t, ADD(t->r.totals.current_bytes, size) + size);
}

static void count_free(alloy_tally *t, size_t size) {
    ADD(t->r.totals.free_count, 1);
    ADD(t->r.totals.free_bytes, size);
    __atomic_fetch_sub(&t->r.totals.current_count, 1, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&t->r.totals.current_bytes, size, __ATOMIC_RELAXED);
}

/* A block changed size from size to new_size without being freed. */
static void count_resize(alloy_tally *t, size_t size, size_t new_size) {
    ADD(t->r.totals.free_bytes, size);
    ADD(t->r.totals.alloc_bytes, new_size);
    if (new_size >= size)
        raise_peak(t, ADD(t->r.totals.current_bytes, new_size - size) + (new_size - size));
    else
        __atomic_fetch_sub(&t->r.totals.current_bytes, size - new_size, __ATOMIC_RELAXED);
}

static void *tally_alloc(void *ctx, size_t size, size_t align) {
    alloy_tally *t = ctx;
    ADD(t->r.alloc_calls, 1);
    void *p = t->parent.vt->alloc(t->parent.ctx, size, align);
    if (p == NULL)
        ADD(t->r.alloc_failed, 1);
    else
        count_alloc(t, size);
    return p;
}

static bool tally_resize(void *ctx, void *p, size_t size, size_t new_size, size_t align) {
    alloy_tally *t = ctx;
    ADD(t->r.resize_calls, 1);
    bool ok = t->parent.vt->resize(t->parent.ctx, p, size, new_size, align);
    if (ok)
        count_resize(t, size, new_size);
    else
        ADD(t->r.resize_failed, 1);
    return ok;
}

static void *tally_remap(void *ctx, void *p, size_t size, size_t new_size, size_t align) {
    alloy_tally *t = ctx;
    ADD(t->r.remap_calls, 1);
    void *q = t->parent.vt->remap(t->parent.ctx, p, size, new_size, align);
    if (q != NULL)
        count_resize(t, size, new_size);
    else
        ADD(t->r.remap_failed, 1);
    return q;
}

static void tally_free(void *ctx, void *p, size_t size, size_t align) {
    alloy_tally *t = ctx;
    count_free(t, size);
    t->parent.vt->free(t->parent.ctx, p, size, align);
}

static bool tally_reset(void *ctx) {
    alloy_tally *t = ctx;
    if (!t->parent.vt->reset(t->parent.ctx)) return false;
    /* Every live block is gone: count them as freed. */
    uint64_t n = __atomic_exchange_n(&t->r.totals.current_count, 0, __ATOMIC_RELAXED);
    uint64_t b = __atomic_exchange_n(&t->r.totals.current_bytes, 0, __ATOMIC_RELAXED);
    ADD(t->r.totals.free_count, n);
    ADD(t->r.totals.free_bytes, b);
    ADD(t->r.reset_calls, 1);
    return true;
}

void alloy_tally_stats_get(const alloy_tally *t, alloy_tally_report *out) {
    const uint64_t *src = (const uint64_t *)&t->r;
    uint64_t *dst = (uint64_t *)out;
    for (size_t i = 0; i < sizeof *out / sizeof(uint64_t); i++) dst[i] = LOAD(src[i]);
}

static bool tally_stats(void *ctx, alloy_stats *out) {
    alloy_tally_report r;
    alloy_tally_stats_get((const alloy_tally *)ctx, &r);
    *out = r.totals;
    return true;
}

void alloy_tally_reset(alloy_tally *t) {
    uint64_t *f = (uint64_t *)&t->r;
    uint64_t keep_count = LOAD(t->r.totals.current_count);
    uint64_t keep_bytes = LOAD(t->r.totals.current_bytes);
    for (size_t i = 0; i < sizeof t->r / sizeof(uint64_t); i++)
        __atomic_store_n(&f[i], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&t->r.totals.current_count, keep_count, __ATOMIC_RELAXED);
    __atomic_store_n(&t->r.totals.current_bytes, keep_bytes, __ATOMIC_RELAXED);
    __atomic_store_n(&t->r.totals.peak_bytes, keep_bytes, __ATOMIC_RELAXED);
}

void alloy_tally_print(const alloy_tally *t, const char *name, FILE *out) {
    alloy_tally_report r;
    alloy_tally_stats_get(t, &r);
    fprintf(out,
            "%s: allocs %" PRIu64 " (failed %" PRIu64 ") frees %" PRIu64 " resizes %" PRIu64
            " remaps %" PRIu64 " resets %" PRIu64 "\n",
            name, r.alloc_calls, r.alloc_failed, r.totals.free_count, r.resize_calls, r.remap_calls,
            r.reset_calls);
    fprintf(out,
            "%s: bytes allocated %" PRIu64 " freed %" PRIu64 " live %" PRIu64 " in %" PRIu64
            " blocks, peak %" PRIu64 "\n",
            name, r.totals.alloc_bytes, r.totals.free_bytes, r.totals.current_bytes,
            r.totals.current_count, r.totals.peak_bytes);
    for (unsigned c = 0; c < ALLOY_TALLY_CLASSES; c++) {
        if (r.histogram[c] == 0) continue;
        if (c == ALLOY_TALLY_CLASSES - 1)
            fprintf(out, "%s: sizes > %llu: %" PRIu64 "\n", name, 1ull << (c + 2), r.histogram[c]);
        else
            fprintf(out, "%s: sizes <= %llu: %" PRIu64 "\n", name, 1ull << (c + 3), r.histogram[c]);
    }
}

static const alloy_vtable tally_vtable = {
    .alloc = tally_alloc,
    .resize = tally_resize,
    .remap = tally_remap,
    .free = tally_free,
    .reset = tally_reset,
    .stats = tally_stats,
};

alloy_allocator alloy_tally_allocator(alloy_tally *t) {
    alloy_allocator r = {t, &tally_vtable};
    return r;
}
