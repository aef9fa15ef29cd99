/* SPDX-License-Identifier: MIT */
/* src/alloc/fixed.c - the fixed buffer's out-of-line operations. */
#include <alloy/fixed.h>

void alloy_fixed_init(alloy_fixed *f, void *buf, size_t len) {
    /* An empty buffer points at the struct itself so pointer arithmetic stays defined. */
    f->begin = f->cur = buf != NULL ? (char *)buf : (char *)f;
    f->end = f->begin + (buf != NULL ? len : 0);
}

void alloy_fixed_deinit(alloy_fixed *f) {
    alloy_fixed_init(f, NULL, 0);
}

void alloy_fixed_reset(alloy_fixed *f) {
    f->cur = f->begin;
}

static bool is_last(const alloy_fixed *f, const void *p, size_t size) {
    uintptr_t q = (uintptr_t)p;
    return q >= (uintptr_t)f->begin && q <= (uintptr_t)f->cur && (uintptr_t)f->cur - q == size;
}

void alloy_fixed_free(alloy_fixed *f, void *p, size_t size) {
    if (p != NULL && is_last(f, p, size)) f->cur = (char *)p;
}

bool alloy_fixed_resize(alloy_fixed *f, void *p, size_t size, size_t new_size) {
    if (p == NULL) return false;
    if (is_last(f, p, size)) {
        if (new_size > (size_t)(f->end - (char *)p)) return false;
        f->cur = (char *)p + new_size;
        return true;
    }
    return new_size <= size;
}

size_t alloy_fixed_used(const alloy_fixed *f) {
    return (size_t)(f->cur - f->begin);
}

static void *fixed_vt_alloc(void *ctx, size_t size, size_t align) {
    return alloy_fixed_alloc((alloy_fixed *)ctx, size, align);
}

static bool fixed_vt_resize(void *ctx, void *p, size_t size, size_t new_size, size_t align) {
    (void)align;
    return alloy_fixed_resize((alloy_fixed *)ctx, p, size, new_size);
}

static void *fixed_vt_remap(void *ctx, void *p, size_t size, size_t new_size, size_t align) {
    (void)align;
    return alloy_fixed_resize((alloy_fixed *)ctx, p, size, new_size) ? p : NULL;
}

static void fixed_vt_free(void *ctx, void *p, size_t size, size_t align) {
    (void)align;
    alloy_fixed_free((alloy_fixed *)ctx, p, size);
}

static bool fixed_vt_reset(void *ctx) {
    alloy_fixed_reset((alloy_fixed *)ctx);
    return true;
}

static const alloy_vtable fixed_vtable = {
    .alloc = fixed_vt_alloc,
    .resize = fixed_vt_resize,
    .remap = fixed_vt_remap,
    .free = fixed_vt_free,
    .reset = fixed_vt_reset,
    .stats = alloy_no_stats,
};

alloy_allocator alloy_fixed_allocator(alloy_fixed *f) {
    alloy_allocator r = {f, &fixed_vtable};
    return r;
}
