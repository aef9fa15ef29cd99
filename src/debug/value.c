/* SPDX-License-Identifier: MIT */
/* src/debug/value.c - the debug allocator as an allocator value over any parent. */
#define _GNU_SOURCE
#include "debug_internal.h"

#include <string.h>

static void *parent_alloc(void *ctx, size_t size, size_t align) {
    const alloy_allocator *a = ctx;
    return a->vt->alloc(a->ctx, size, align);
}

static void parent_free(void *ctx, void *p, size_t size, size_t align) {
    const alloy_allocator *a = ctx;
    a->vt->free(a->ctx, p, size, align);
}

static void *v_alloc(void *ctx, size_t size, size_t align) {
    return alloy__dbg_alloc(((alloy_debug *)ctx)->heap, size, align, false, DBG_HERE());
}

/* Never in place: every size change moves the block, so the old one goes through the
 * quarantine and a stale pointer to it is caught. */
static bool v_resize(void *ctx, void *p, size_t size, size_t new_size, size_t align) {
    (void)ctx, (void)p, (void)size, (void)new_size, (void)align;
    return false;
}

static void *v_remap(void *ctx, void *p, size_t size, size_t new_size, size_t align) {
    return alloy__dbg_realloc(((alloy_debug *)ctx)->heap, p, size, new_size, align, true,
                              DBG_HERE());
}

static void v_free(void *ctx, void *p, size_t size, size_t align) {
    alloy__dbg_free_ex(((alloy_debug *)ctx)->heap, p, size, align, CLAIM_SIZE | CLAIM_ALIGN,
                       DBG_HERE());
}

static bool v_stats(void *ctx, alloy_stats *out) {
    alloy_debug_summary s;
    alloy__dbg_summarize(((alloy_debug *)ctx)->heap, &s);
    memset(out, 0, sizeof *out);
    out->current_bytes = s.live_bytes;
    out->current_count = s.live_blocks;
    out->peak_bytes = s.live_bytes; /* not tracked: would need a shared counter */
    return true;
}

static const alloy_vtable debug_vtable = {
    .alloc = v_alloc,
    .resize = v_resize,
    .remap = v_remap,
    .free = v_free,
    .reset = alloy_no_reset,
    .stats = v_stats,
};

bool alloy_debug_init(alloy_debug *d, alloy_allocator parent, const alloy_debug_options *opt) {
    d->parent = parent;
    d->heap =
        alloy__dbg_heap_new((dbg_parent){parent_alloc, parent_free, NULL}, opt, (size_t)4 << 20);
    if (d->heap == NULL) return false;
    d->heap->parent_value = parent;
    d->heap->parent.ctx = &d->heap->parent_value;
    return true;
}

alloy_allocator alloy_debug_allocator(alloy_debug *d) {
    return (alloy_allocator){d, &debug_vtable};
}

size_t alloy_debug_check(alloy_debug *d) {
    return alloy__dbg_check(d->heap);
}

size_t alloy_debug_report(alloy_debug *d, alloy_debug_summary *out) {
    return alloy__dbg_leaks(d->heap, false, 0, NULL, 0, "still live at alloy_debug_report", out);
}

void alloy_debug_summarize(alloy_debug *d, alloy_debug_summary *out) {
    alloy__dbg_summarize(d->heap, out);
}

size_t alloy_debug_deinit(alloy_debug *d) {
    if (d->heap == NULL) return 0;
    alloy__dbg_check(d->heap);
    size_t n = alloy__dbg_leaks(d->heap, false, 0, NULL, 0, "at alloy_debug_deinit", NULL);
    if (d->heap->process) return n; /* the process-wide instance lives until exit */
    alloy__dbg_heap_destroy(d->heap, true);
    d->heap = NULL;
    return n;
}

void alloy_debug_set_handler(alloy_debug *d, alloy_debug_handler *fn, void *arg) {
    __atomic_store_n(&d->heap->on_error_arg, arg, __ATOMIC_RELEASE);
    __atomic_store_n(&d->heap->on_error, fn, __ATOMIC_RELEASE);
}
