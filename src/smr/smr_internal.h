/* SPDX-License-Identifier: MIT */
/* src/smr/smr_internal.h - private to src/smr: domains, records, bags.
 *
 * Layout of a domain:
 * - head: the clock (epoch or era) on its own cache line, read by every
 *   section entry, written only when it advances.
 * - slots: one cache line per thread (alloy__smr_slot), in chunks that are
 *   only ever appended while the domain lives, so scanners walk them without
 *   a lock. A slot is reused by the next thread once its owner exits.
 * - records: one per thread, private to it except under rec->lock. Retired
 *   nodes go into the record's current block (owner-only appends, count
 *   published with release); full or outdated blocks are sealed onto a list.
 *
 * Locks, always taken in this order: g_lock (registry) -> d->lock (records,
 * slots) -> rec->lock (blocks of one record) -> d->orphan_lock. The owner of a
 * record takes its lock only on slow paths (sealing a block, reclaiming);
 * free callbacks always run with no lock held, so they may retire.
 */
#ifndef ALLOY_SMR_INTERNAL_H
#define ALLOY_SMR_INTERNAL_H

#include "../internal.h"

#include <pthread.h>

/* ---- retired entries and blocks ------------------------------------------ */

typedef alloy__smr_entry smr_entry;
typedef alloy__smr_block smr_block;
#define SMR_BLOCK_ENTRIES ALLOY__SMR_BLOCK_ENTRIES

/* ---- slots ---------------------------------------------------------------- */

typedef struct smr_line {
    alloy__smr_slot s;
    uint32_t used; /* under d->lock */
} __attribute__((aligned(ALLOY_CACHE_LINE))) smr_line;

#define SMR_CHUNK_SLOTS 32

typedef struct smr_chunk {
    smr_line line[SMR_CHUNK_SLOTS];
    struct smr_chunk *next; /* atomic, set once */
} smr_chunk;

/* ---- per-thread record ----------------------------------------------------- */

typedef struct smr_rec {
    alloy__smr_hot hot; /* first: the inline paths see only this (cur, cur_tag, budget, ...) */
    struct alloy_smr *d;
    smr_line *line;
    pthread_mutex_t lock;
    smr_block *sealed; /* sealed blocks, under lock */
    smr_block *spare;  /* empty blocks kept for reuse (owner only) */
    uint32_t nspare;
    uint64_t seen;         /* EBR: clock the amortized work last ran at */
    smr_chunk *scan_chunk; /* EBR: incremental scan position */
    uint32_t scan_idx;
    uint64_t held;      /* IBR: entries held since the last scan (owner only) */
    uint64_t threshold; /* IBR: scan when held reaches this */
    uint64_t busy;      /* odd while the owner frees blocks it took out (atomic) */
    bool working;       /* owner is inside its amortized work (free callbacks may retire) */
    uint64_t freed;     /* owner-written (relaxed atomic) */
    uint64_t *snap;     /* IBR: reservation snapshot buffer (owner only) */
    size_t snap_cap;
    void *nodes;        /* freed nodes of footprint node_foot kept for reuse (owner only) */
    uint32_t node_foot; /* footprint of the cached nodes (0: none yet) */
    uint32_t nnodes;    /* relaxed atomic: a stats reader may load it */
    bool no_node_cache; /* the routed heap is the debug allocator: let it see every node */
    struct smr_rec *next, *prev; /* d->recs, under d->lock */
} smr_rec;

/* ---- domain ----------------------------------------------------------------- */

struct alloy_smr {
    alloy__smr_head head;
    char pad_[ALLOY_CACHE_LINE - sizeof(alloy__smr_head)];
    pthread_mutex_t lock;
    smr_rec *recs;
    uint32_t nrecs;
    uint32_t nslots;
    smr_chunk *chunks; /* first chunk; never NULL */
    smr_chunk *tail;
    pthread_mutex_t orphan_lock;
    smr_block *orphans;    /* blocks of exited threads (atomic head for peeking) */
    uint64_t retired_gone; /* counters folded from exited records (atomic) */
    uint64_t freed_gone;
    uint64_t freed_other;    /* freed by a barrier or destroy (atomic) */
    struct alloy_smr *gnext; /* registry, under g_lock */
} __attribute__((aligned(ALLOY_CACHE_LINE)));

/* ---- shared between the files of src/smr ------------------------------------ */

/* Owner-only counter update a concurrent reader may load (no locked instruction). */
#define SMR_RELAXED_ADD(field, n)                                                                  \
    __atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)

static inline smr_rec *smr_self(alloy_smr *d) {
    return (smr_rec *)alloy__smr_self(d);
}

/* Freed nodes a thread keeps for its next node allocations: at most
 * SMR_NODE_CACHE_BYTES, of one footprint up to SMR_NODE_CACHE_FOOT. */
#define SMR_NODE_CACHE_BYTES (64u * 1024u)
#define SMR_NODE_CACHE_FOOT 1024u

/* Owner: keep a freed node of footprint foot for reuse; false if it must go to the heap. */
static inline bool smr_node_keep(smr_rec *r, void *p, size_t foot) {
    if (ALLOY_UNLIKELY(r->no_node_cache)) return false;
    if (foot != r->node_foot) {
        if (r->nnodes != 0 || foot > SMR_NODE_CACHE_FOOT) return false;
        r->node_foot = (uint32_t)foot;
    }
    if ((r->nnodes + 1) * foot > SMR_NODE_CACHE_BYTES) return false;
    *(void **)p = r->nodes;
    r->nodes = p;
    __atomic_store_n(&r->nnodes, r->nnodes + 1, __ATOMIC_RELAXED);
    ALLOY__POISON(p, foot);
    return true;
}

/* Free an entry taken out of a bag: r's own nodes go to r's node cache (r
 * is the owner, or NULL when another thread frees). A retired NULL is passed on. */
static inline void smr_entry_free(smr_rec *r, const smr_entry *e) {
    if (r != NULL && e->fn == alloy__smr_node_free_fn && e->ctx == (void *)r->d && e->p != NULL &&
        smr_node_keep(r, e->p, alloy__smr_footprint(r->hot.scheme, e->size)))
        return;
    e->fn(e->ctx, e->p, e->size);
}

/* Owner: take a cached node of footprint foot, or NULL. */
static inline void *smr_node_take(smr_rec *r, size_t foot) {
    void *p = r->nodes;
    if (p == NULL || foot != r->node_foot) return NULL;
    ALLOY__UNPOISON(p, foot);
    r->nodes = *(void **)p;
    __atomic_store_n(&r->nnodes, r->nnodes - 1, __ATOMIC_RELAXED);
    return p;
}

/* domain.c */
ALLOY_HIDDEN void alloy__smr_node_cache_drain(smr_rec *r);
ALLOY_HIDDEN smr_block *alloy__smr_block_new(smr_rec *r);
ALLOY_HIDDEN void alloy__smr_block_recycle(smr_rec *r, smr_block *b);
ALLOY_HIDDEN void alloy__smr_orphans_push(alloy_smr *d, smr_block *list);
ALLOY_HIDDEN smr_block *alloy__smr_orphans_take(alloy_smr *d, bool wait);

/* reclaim.c */
/* Free every entry of a list of blocks and recycle the blocks (into r's spares if r). */
ALLOY_HIDDEN size_t alloy__smr_free_list(smr_rec *r, smr_block *list);
ALLOY_HIDDEN size_t alloy__smr_free_all_locked(alloy_smr *d, smr_rec *r);

#endif /* ALLOY_SMR_INTERNAL_H */
