/* SPDX-License-Identifier: MIT */
/* src/alloc/pool.c - the single-threaded pool's slow path and bookkeeping.
 *
 * Blocks are carved from the newest slab only when the free list is empty, so
 * a slab's untouched tail costs nothing. Each slab starts with a header that
 * links it for deinit; blocks follow at the pool's alignment.
 */
#include "../internal.h"

#include <alloy/pool.h>

#include <string.h>

struct alloy__pool_slab {
    alloy__pool_slab *next;
    size_t size;
};

#define FIRST_SLAB 4096u
#define MAX_SLAB ((size_t)1 << 20)

static size_t slab_align(const alloy_pool *p) {
    return p->h.align > 16u ? p->h.align : 16u;
}
static size_t first_offset(const alloy_pool *p) {
    return (sizeof(alloy__pool_slab) + p->h.align - 1) & ~(p->h.align - 1);
}

bool alloy_pool_init(alloy_pool *p, alloy_allocator parent, size_t block_size, size_t align) {
    memset(p, 0, sizeof *p);
    if (block_size == 0 || !alloy_align_ok(align) || block_size > ALLOY_SIZE_LIMIT / 4 ||
        align > ALLOY_SIZE_LIMIT / 4)
        return false;
    alloy__pool_geometry(&block_size, &align);
    p->h.block_size = block_size;
    p->h.align = align;
    p->parent = parent;
    size_t slab = FIRST_SLAB;
    while (slab < first_offset(p) + 8 * p->h.block_size && slab < MAX_SLAB) slab *= 2;
    p->next_slab = slab;
    return true;
}

static void carve_from(alloy_pool *p, alloy__pool_slab *s) {
    p->carve = (char *)s + first_offset(p);
    p->carve_end = (char *)s + s->size;
}

/* Called with an empty free list. A pool whose init failed (block_size 0, no
 * carve range) returns its NULL carve pointer. */
void *alloy__pool_alloc_slow(alloy_pool *p) {
    if ((size_t)(p->carve_end - p->carve) < p->h.block_size) {
        alloy__pool_slab *s = p->spare;
        if (s != NULL) {
            p->spare = s->next;
        } else {
            size_t size = p->next_slab;
            if (size < first_offset(p) + p->h.block_size) size = first_offset(p) + p->h.block_size;
            s = (alloy__pool_slab *)alloy_alloc(p->parent, size, slab_align(p));
            if (s == NULL) return NULL;
            s->size = size;
            p->committed += size;
            p->slab_count++;
            if (p->next_slab < MAX_SLAB) p->next_slab *= 2;
        }
        s->next = p->slabs;
        p->slabs = s;
        carve_from(p, s);
    }
    void *b = p->carve;
    p->carve += p->h.block_size;
    return b;
}

static void free_slabs(alloy_pool *p, alloy__pool_slab *s) {
    while (s != NULL) {
        alloy__pool_slab *next = s->next;
        p->committed -= s->size;
        p->slab_count--;
        alloy_dealloc(p->parent, s, s->size, slab_align(p));
        s = next;
    }
}

void alloy_pool_deinit(alloy_pool *p) {
    free_slabs(p, p->slabs);
    free_slabs(p, p->spare);
    p->slabs = p->spare = NULL;
    p->h.free = NULL;
    p->carve = p->carve_end = NULL;
}

void alloy_pool_reset(alloy_pool *p) {
    /* Newest slab first on the spare list, so the biggest is carved first. */
    while (p->slabs != NULL) {
        alloy__pool_slab *s = p->slabs;
        p->slabs = s->next;
        s->next = p->spare;
        p->spare = s;
    }
    alloy__pool_slab *rev = NULL;
    while (p->spare != NULL) {
        alloy__pool_slab *s = p->spare;
        p->spare = s->next;
        s->next = rev;
        rev = s;
    }
    p->spare = rev;
    p->h.free = NULL;
    p->carve = p->carve_end = NULL;
}

void alloy_pool_stats_get(const alloy_pool *p, alloy_pool_stats *out) {
    memset(out, 0, sizeof *out);
    out->block_size = p->h.block_size;
    out->slabs = p->slab_count;
    out->committed = p->committed;
    size_t carved = 0, cap = 0;
    for (const alloy__pool_slab *s = p->slabs; s != NULL; s = s->next) {
        size_t n = (s->size - first_offset(p)) / p->h.block_size;
        cap += n;
        carved += n;
    }
    for (const alloy__pool_slab *s = p->spare; s != NULL; s = s->next)
        cap += (s->size - first_offset(p)) / p->h.block_size;
    if (p->slabs != NULL) carved -= (size_t)(p->carve_end - p->carve) / p->h.block_size;
    size_t free_count = 0;
    for (const alloy__pool_node *n = p->h.free; n != NULL; n = n->next) free_count++;
    out->capacity = cap;
    out->live = carved - free_count;
}

static void *pool_vt_alloc(void *ctx, size_t size, size_t align) {
    alloy_pool *p = ctx;
    if (size > p->h.block_size || align > p->h.align) return NULL;
    return alloy_pool_alloc(p);
}

static bool pool_vt_resize(void *ctx, void *b, size_t size, size_t new_size, size_t align) {
    (void)b, (void)size, (void)align;
    return new_size <= ((alloy_pool *)ctx)->h.block_size;
}

static void *pool_vt_remap(void *ctx, void *b, size_t size, size_t new_size, size_t align) {
    (void)size, (void)align;
    return new_size <= ((alloy_pool *)ctx)->h.block_size ? b : NULL;
}

static void pool_vt_free(void *ctx, void *b, size_t size, size_t align) {
    (void)size, (void)align;
    alloy_pool_free((alloy_pool *)ctx, b);
}

static bool pool_vt_reset(void *ctx) {
    alloy_pool_reset((alloy_pool *)ctx);
    return true;
}

const alloy_vtable alloy__pool_vtable = {
    .alloc = pool_vt_alloc,
    .resize = pool_vt_resize,
    .remap = pool_vt_remap,
    .free = pool_vt_free,
    .reset = pool_vt_reset,
    .stats = alloy_no_stats,
};

alloy_allocator alloy_pool_allocator(alloy_pool *p) {
    alloy_allocator r = {p, &alloy__pool_vtable};
    return r;
}
