/* SPDX-License-Identifier: MIT */
/* src/smr/node.c - cache-line aligned nodes for lock-free structures.
 *
 * A node takes round_up(size (+ 8 under IBR), 64) bytes from the routed heap,
 * 64-byte aligned. Under IBR the last 8 bytes of that footprint hold the
 * birth era, past the caller's size, so the caller's layout is untouched and
 * the era costs no extra line for any node whose size leaves 8 bytes spare.
 * Every ALLOY_SMR_IBR_ERA_ALLOCS allocations a thread advances the era, so a
 * stalled reader's interval stops covering new nodes.
 *
 * Nodes a thread frees — its reclamation work, or alloy_smr_node_free — go
 * to that thread's node cache (up to SMR_NODE_CACHE_BYTES of one footprint)
 * and come back from its next node allocations: the node is hot in this
 * core's cache and the heap sees no cross-thread free. The cache goes back
 * to the heap when the thread leaves the domain, at alloy_smr_barrier
 * (the caller's) and at alloy_smr_destroy.
 */
#define _GNU_SOURCE
#include "smr_internal.h"

#include <errno.h>

size_t alloy_smr_node_footprint(const alloy_smr *d, size_t size) {
    if (size > SIZE_MAX - 2 * ALLOY_CACHE_LINE) return 0;
    return alloy__smr_footprint(d->head.scheme, size);
}

/* IBR: stamp the birth era past the caller's bytes; advance the era every
 * ALLOY_SMR_IBR_ERA_ALLOCS allocations of this thread. */
static void ibr_stamp(alloy_smr *d, smr_rec *r, void *p, size_t foot) {
    uint64_t era = __atomic_load_n(&d->head.clock, __ATOMIC_ACQUIRE);
    __atomic_store_n((uint64_t *)((char *)p + foot - sizeof(uint64_t)), era, __ATOMIC_RELAXED);
    if (++r->hot.allocs >= ALLOY_SMR_IBR_ERA_ALLOCS) {
        r->hot.allocs = 0;
        __atomic_fetch_add(&d->head.clock, 1, __ATOMIC_ACQ_REL);
    }
}

void *alloy_smr_node_alloc(alloy_smr *d, size_t size) {
    if (ALLOY_UNLIKELY(size > SIZE_MAX - 2 * ALLOY_CACHE_LINE)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t foot = alloy__smr_footprint(d->head.scheme, size);
    /* EBR needs no record to allocate: the cache is used only by a thread that has already
     * joined d (as the last domain it used), so an allocate-only thread never joins. IBR
     * joins: the era advances with each thread's allocations. */
    smr_rec *r = d->head.scheme == ALLOY_SMR_IBR || alloy__smr_tc.serial == d->head.serial
                     ? smr_self(d)
                     : NULL;
    void *p = r != NULL ? smr_node_take(r, foot) : NULL;
    if (p == NULL) {
        p = alloy_malloc_aligned(foot, ALLOY_CACHE_LINE);
        if (ALLOY_UNLIKELY(p == NULL)) return NULL;
    }
    if (d->head.scheme == ALLOY_SMR_IBR) ibr_stamp(d, r, p, foot);
    return p;
}

void alloy_smr_node_free(alloy_smr *d, void *node, size_t size) {
    if (node == NULL) return;
    size_t foot = alloy__smr_footprint(d->head.scheme, size);
    /* Into this thread's cache if d is the domain it used last (free never joins). */
    if (alloy__smr_tc.serial == d->head.serial && smr_node_keep(smr_self(d), node, foot)) return;
    alloy_free_aligned_sized(node, ALLOY_CACHE_LINE, foot);
}
