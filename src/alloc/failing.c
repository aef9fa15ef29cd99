/* SPDX-License-Identifier: MIT */
/* src/alloc/failing.c - fault injection over any parent. */
#include <alloy/failing.h>

#include <string.h>

enum { MODE_NONE, MODE_NTH, MODE_FROM, MODE_RANDOM };

static void restart(alloy_failing *f, int mode) {
    __atomic_store_n(&f->attempts, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&f->failures, 0, __ATOMIC_RELAXED);
    f->mode = mode;
}

void alloy_failing_init(alloy_failing *f, alloy_allocator parent) {
    memset(f, 0, sizeof *f);
    f->parent = parent;
}

void alloy_failing_deinit(alloy_failing *f) {
    restart(f, MODE_NONE);
}

void alloy_failing_fail_nth(alloy_failing *f, uint64_t n) {
    f->fail_at = n;
    restart(f, MODE_NTH);
}

void alloy_failing_fail_from(alloy_failing *f, uint64_t n) {
    f->fail_at = n;
    restart(f, MODE_FROM);
}

void alloy_failing_fail_random(alloy_failing *f, uint64_t seed, uint32_t one_in) {
    f->rng = seed ^ 0x9e3779b97f4a7c15u;
    f->one_in = one_in;
    restart(f, one_in == 0 ? MODE_NONE : MODE_RANDOM);
}

void alloy_failing_fail_none(alloy_failing *f) {
    restart(f, MODE_NONE);
}

uint64_t alloy_failing_attempts(const alloy_failing *f) {
    return __atomic_load_n(&f->attempts, __ATOMIC_RELAXED);
}

uint64_t alloy_failing_failures(const alloy_failing *f) {
    return __atomic_load_n(&f->failures, __ATOMIC_RELAXED);
}

/* splitmix64: small, seedable, good enough to pick failures. */
static uint64_t next_random(alloy_failing *f) {
    uint64_t z = (f->rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Count one attempt; true if it must fail. */
static bool should_fail(alloy_failing *f) {
    uint64_t i = __atomic_fetch_add(&f->attempts, 1, __ATOMIC_RELAXED);
    bool fail;
    switch (f->mode) {
    case MODE_NTH:
        fail = i == f->fail_at;
        break;
    case MODE_FROM:
        fail = i >= f->fail_at;
        break;
    case MODE_RANDOM:
        fail = next_random(f) % f->one_in == 0;
        break;
    default:
        fail = false;
        break;
    }
    if (fail) __atomic_fetch_add(&f->failures, 1, __ATOMIC_RELAXED);
    return fail;
}

static void *failing_alloc(void *ctx, size_t size, size_t align) {
    alloy_failing *f = ctx;
    if (should_fail(f)) return NULL;
    return f->parent.vt->alloc(f->parent.ctx, size, align);
}

static bool failing_resize(void *ctx, void *p, size_t size, size_t new_size, size_t align) {
    alloy_failing *f = ctx;
    return f->parent.vt->resize(f->parent.ctx, p, size, new_size, align);
}

static void *failing_remap(void *ctx, void *p, size_t size, size_t new_size, size_t align) {
    alloy_failing *f = ctx;
    if (should_fail(f)) return NULL;
    return f->parent.vt->remap(f->parent.ctx, p, size, new_size, align);
}

static void failing_free(void *ctx, void *p, size_t size, size_t align) {
    alloy_failing *f = ctx;
    f->parent.vt->free(f->parent.ctx, p, size, align);
}

static bool failing_reset(void *ctx) {
    alloy_failing *f = ctx;
    return f->parent.vt->reset(f->parent.ctx);
}

static bool failing_stats(void *ctx, alloy_stats *out) {
    alloy_failing *f = ctx;
    return f->parent.vt->stats(f->parent.ctx, out);
}

static const alloy_vtable failing_vtable = {
    .alloc = failing_alloc,
    .resize = failing_resize,
    .remap = failing_remap,
    .free = failing_free,
    .reset = failing_reset,
    .stats = failing_stats,
};

alloy_allocator alloy_failing_allocator(alloy_failing *f) {
    alloy_allocator r = {f, &failing_vtable};
    return r;
}
