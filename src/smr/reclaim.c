/* SPDX-License-Identifier: MIT */
/* src/smr/reclaim.c - retire, amortized reclamation, poll and barrier.
 *
 * EBR (DEBRA-style). An entry is tagged with the epoch read after a fence
 * that follows the caller's unlink, so every reader that could still hold it
 * announced that epoch or an older one; once the epoch is two further on,
 * each such reader has left its section. A thread seals its current block
 * when the epoch moves, and at each epoch change it frees its sealed blocks
 * whose tag is two epochs old. Advancing is incremental: after
 * ALLOY_SMR_EBR_EPOCH_RETIRES retires in one epoch, each retire checks a few
 * slots (idle or at the current epoch passes); the thread that passes them
 * all advances the epoch. O(1) per retire.
 *
 * IBR (2GEIBR). An entry keeps [birth, retire]; a thread holding a
 * reservation [lower, upper] may hold it only if birth <= upper and retire >=
 * lower. When a thread holds max(ALLOY_SMR_IBR_SCAN_MIN, 2 * survivors of
 * its last scan) entries it snapshots the reservations and frees the entries
 * no reservation overlaps: amortized O(threads) per retire at worst, and a
 * stalled reader keeps only what overlaps its interval.
 *
 * Free callbacks run with no lock held: entries are taken out under the
 * record's lock and freed after it is released, with rec->busy odd so that a
 * barrier can wait for them.
 */
#define _GNU_SOURCE
#include "smr_internal.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

/* ---- freeing ------------------------------------------------------------------- */

static size_t free_entries(smr_rec *r, smr_block *b) {
    uint32_t first = __atomic_load_n(&b->first, __ATOMIC_RELAXED);
    uint32_t count = __atomic_load_n(&b->count, __ATOMIC_ACQUIRE);
    for (uint32_t i = first; i < count; i++) smr_entry_free(r, &b->e[i]);
    return count > first ? count - first : 0;
}

size_t alloy__smr_free_list(smr_rec *r, smr_block *list) {
    size_t n = 0;
    for (smr_block *b = list, *next; b != NULL; b = next) {
        next = b->next;
        n += free_entries(r, b);
        alloy__smr_block_recycle(r, b);
    }
    return n;
}

static void busy_begin(smr_rec *r) {
    __atomic_add_fetch(&r->busy, 1, __ATOMIC_ACQ_REL);
}
static void busy_end(smr_rec *r) {
    __atomic_add_fetch(&r->busy, 1, __ATOMIC_RELEASE);
}

/* Destroy: free every entry of r. Under d->lock; nothing else runs. */
size_t alloy__smr_free_all_locked(alloy_smr *d, smr_rec *r) {
    size_t n = alloy__smr_free_list(NULL, r->sealed);
    n += free_entries(NULL, r->hot.cur);
    alloy__smr_block_recycle(NULL, r->hot.cur);
    r->sealed = r->hot.cur = NULL;
    __atomic_fetch_add(&d->freed_other, n, __ATOMIC_RELAXED);
    return n;
}

/* Owner: seal the current block (non-empty) and start a new one. Under r->lock. */
static void seal_locked(smr_rec *r) {
    smr_block *b = r->hot.cur;
    if (__atomic_load_n(&b->count, __ATOMIC_RELAXED) ==
        __atomic_load_n(&b->first, __ATOMIC_RELAXED)) {
        __atomic_store_n(&b->first, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
        return;
    }
    b->tag = r->hot.cur_tag;
    b->next = r->sealed;
    r->sealed = b;
    r->hot.cur = alloy__smr_block_new(r);
}

/* Owner: append the blocks of exited threads to the sealed list. */
static void adopt_orphans(smr_rec *r, bool wait) {
    smr_block *list = alloy__smr_orphans_take(r->d, wait);
    if (list == NULL) return;
    smr_block *last = list;
    uint64_t n = 0;
    for (;;) {
        n += __atomic_load_n(&last->count, __ATOMIC_RELAXED) -
             __atomic_load_n(&last->first, __ATOMIC_RELAXED);
        if (last->next == NULL) break;
        last = last->next;
    }
    pthread_mutex_lock(&r->lock);
    last->next = r->sealed;
    r->sealed = list;
    pthread_mutex_unlock(&r->lock);
    r->held += n;
}

/* ---- EBR ------------------------------------------------------------------------ */

/* Owner: this thread has seen epoch clock: its scan restarts, its budget refills. */
static void ebr_epoch_start(smr_rec *r, uint64_t clock) {
    r->seen = clock;
    r->scan_chunk = r->d->chunks;
    r->scan_idx = 0;
    r->hot.budget = ALLOY_SMR_EBR_EPOCH_RETIRES;
}

/* Owner: free the sealed blocks two epochs old. */
static size_t ebr_reclaim(smr_rec *r, uint64_t clock) {
    smr_block *dead = NULL;
    pthread_mutex_lock(&r->lock);
    for (smr_block **pp = &r->sealed; *pp != NULL;) {
        smr_block *b = *pp;
        if (b->tag + 2 <= clock) {
            *pp = b->next;
            b->next = dead;
            dead = b;
        } else {
            pp = &b->next;
        }
    }
    if (dead != NULL) busy_begin(r);
    pthread_mutex_unlock(&r->lock);
    if (dead == NULL) return 0;
    size_t n = alloy__smr_free_list(r, dead);
    SMR_RELAXED_ADD(r->freed, n);
    busy_end(r);
    return n;
}

static inline bool ebr_passes(const smr_line *l, uint64_t clock) {
    uint64_t w = __atomic_load_n(&l->s.word, __ATOMIC_SEQ_CST);
    return w == ALLOY__SMR_IDLE || w == clock;
}

/* Owner: check up to a few slots; advance the epoch when all have passed. */
static void ebr_scan_step(smr_rec *r, uint64_t clock) {
    for (int k = 0; k < 8; k++) {
        if (r->scan_idx == SMR_CHUNK_SLOTS) {
            smr_chunk *next = __atomic_load_n(&r->scan_chunk->next, __ATOMIC_ACQUIRE);
            if (next == NULL) {
                uint64_t expect = clock;
                __atomic_compare_exchange_n(&r->d->head.clock, &expect, clock + 1, false,
                                            __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
                r->scan_chunk = r->d->chunks;
                r->scan_idx = 0;
                return;
            }
            r->scan_chunk = next;
            r->scan_idx = 0;
        }
        if (!ebr_passes(&r->scan_chunk->line[r->scan_idx], clock)) return;
        r->scan_idx++;
    }
}

/* Try once to advance the epoch by checking every slot now. */
static bool ebr_try_advance(alloy_smr *d) {
    alloy__smr_fence();
    uint64_t clock = __atomic_load_n(&d->head.clock, __ATOMIC_SEQ_CST);
    for (smr_chunk *c = d->chunks; c != NULL; c = __atomic_load_n(&c->next, __ATOMIC_ACQUIRE))
        for (int i = 0; i < SMR_CHUNK_SLOTS; i++)
            if (!ebr_passes(&c->line[i], clock)) return false;
    __atomic_compare_exchange_n(&d->head.clock, &clock, clock + 1, false, __ATOMIC_SEQ_CST,
                                __ATOMIC_RELAXED);
    return true;
}

/* ---- IBR -------------------------------------------------------------------------- */

/* Owner: snapshot the open reservations as (lower, upper) pairs. */
static size_t ibr_snapshot(smr_rec *r) {
    alloy_smr *d = r->d;
    size_t need = 2 * (size_t)__atomic_load_n(&d->nslots, __ATOMIC_RELAXED) + 2 * SMR_CHUNK_SLOTS;
    if (r->snap_cap < need) {
        if (r->snap != NULL) alloy_free_sized(r->snap, r->snap_cap * sizeof *r->snap);
        r->snap_cap = 2 * need;
        r->snap = alloy_malloc(r->snap_cap * sizeof *r->snap);
        if (r->snap == NULL) {
            alloy__warn("smr: out of memory allocating a reservation snapshot");
            abort();
        }
    }
    alloy__smr_fence();
    size_t n = 0;
    for (smr_chunk *c = d->chunks; c != NULL; c = __atomic_load_n(&c->next, __ATOMIC_ACQUIRE)) {
        for (int i = 0; i < SMR_CHUNK_SLOTS && n + 2 <= r->snap_cap; i++) {
            uint64_t lo = __atomic_load_n(&c->line[i].s.word, __ATOMIC_SEQ_CST);
            if (lo == ALLOY__SMR_IDLE) continue;
            uint64_t hi = __atomic_load_n(&c->line[i].s.upper, __ATOMIC_SEQ_CST);
            r->snap[n++] = lo;
            r->snap[n++] = hi;
        }
    }
    return n / 2;
}

static inline bool ibr_pinned(const uint64_t *snap, size_t n, const smr_entry *e) {
    for (size_t i = 0; i < n; i++)
        if (e->birth <= snap[2 * i + 1] && e->retire >= snap[2 * i]) return true;
    return false;
}

/* Owner: free every held entry no reservation overlaps. */
static size_t ibr_scan(smr_rec *r) {
    pthread_mutex_lock(&r->lock);
    smr_block *list = r->sealed;
    r->sealed = NULL;
    if (__atomic_load_n(&r->hot.cur->count, __ATOMIC_RELAXED) >
        __atomic_load_n(&r->hot.cur->first, __ATOMIC_RELAXED)) {
        r->hot.cur->next = list;
        list = r->hot.cur;
        r->hot.cur = alloy__smr_block_new(r);
    }
    busy_begin(r);
    pthread_mutex_unlock(&r->lock);

    size_t nres = ibr_snapshot(r);
    size_t freed = 0, kept = 0;
    smr_block *keep = NULL;
    for (smr_block *b = list, *next; b != NULL; b = next) {
        next = b->next;
        uint32_t first = __atomic_load_n(&b->first, __ATOMIC_RELAXED);
        uint32_t count = __atomic_load_n(&b->count, __ATOMIC_RELAXED);
        uint32_t w = 0;
        for (uint32_t i = first; i < count; i++) {
            smr_entry *e = &b->e[i];
            if (ibr_pinned(r->snap, nres, e)) {
                b->e[w++] = *e;
            } else {
                smr_entry_free(r, e);
                freed++;
            }
        }
        if (w == 0) {
            alloy__smr_block_recycle(r, b);
            continue;
        }
        __atomic_store_n(&b->first, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->count, w, __ATOMIC_RELAXED);
        b->next = keep;
        keep = b;
        kept += w;
    }
    if (keep != NULL) {
        smr_block *last = keep;
        while (last->next != NULL) last = last->next;
        pthread_mutex_lock(&r->lock);
        last->next = r->sealed;
        r->sealed = keep;
        pthread_mutex_unlock(&r->lock);
    }
    SMR_RELAXED_ADD(r->freed, freed);
    busy_end(r);
    r->held = kept + __atomic_load_n(&r->hot.cur->count, __ATOMIC_RELAXED);
    r->threshold = 2 * kept > ALLOY_SMR_IBR_SCAN_MIN ? 2 * kept : ALLOY_SMR_IBR_SCAN_MIN;
    r->hot.budget = r->threshold > r->held ? r->threshold - r->held : 1;
    return freed;
}

/* ---- retire ------------------------------------------------------------------------- */

/* The amortized work of a retire, when its budget runs out or (EBR) the epoch
 * moved: EBR reclaims two-epoch-old bags or takes a scan step; IBR scans. */
void alloy__smr_retire_work(alloy_smr *d, uint64_t clock) {
    smr_rec *r = smr_self(d);
    if (r->working) { /* a free callback retired: the outer work continues */
        r->hot.budget = 1;
        return;
    }
    r->working = true;
    if (r->hot.scheme == ALLOY_SMR_EBR) {
        if (clock != r->seen) {
            ebr_epoch_start(r, clock);
            adopt_orphans(r, false);
            ebr_reclaim(r, clock);
        } else {
            r->hot.budget = 1; /* a scan step per retire until the epoch moves */
            ebr_scan_step(r, clock);
        }
    } else {
        adopt_orphans(r, false);
        ibr_scan(r);
    }
    r->working = false;
}

/* Retire's slow path: the bag is full, or the clock moved since the last
 * append (EBR then seals the bag: a bag holds one epoch). */
void alloy__smr_retire_slow(alloy_smr *d, const smr_entry *e) {
    smr_rec *r = smr_self(d);
    smr_block *b = r->hot.cur;
    uint32_t n = __atomic_load_n(&b->count, __ATOMIC_RELAXED);
    bool ebr = r->hot.scheme == ALLOY_SMR_EBR;
    if (n == SMR_BLOCK_ENTRIES ||
        (ebr && e->retire != r->hot.cur_tag && n != __atomic_load_n(&b->first, __ATOMIC_RELAXED))) {
        pthread_mutex_lock(&r->lock);
        seal_locked(r);
        pthread_mutex_unlock(&r->lock);
        b = r->hot.cur;
        n = __atomic_load_n(&b->count, __ATOMIC_RELAXED);
    }
    r->hot.cur_tag = e->retire;
    b->e[n] = *e;
    __atomic_store_n(&b->count, n + 1, __ATOMIC_RELEASE);
    SMR_RELAXED_ADD(r->hot.retired, 1);
    if ((ebr && e->retire != r->seen) || --r->hot.budget == 0) alloy__smr_retire_work(d, e->retire);
}

/* Straight to the heap: this runs where no record may be touched (a barrier
 * freeing other threads' entries, destroy); owners recycle in smr_entry_free. */
void alloy__smr_node_free_fn(void *ctx, void *p, size_t size) {
    const alloy_smr *d = ctx;
    alloy_free_aligned_sized(p, ALLOY_CACHE_LINE, alloy__smr_footprint(d->head.scheme, size));
}

static size_t poll_work(smr_rec *r, alloy_smr *d);

/* ---- poll ----------------------------------------------------------------------------- */

size_t alloy_smr_poll(alloy_smr *d) {
    smr_rec *r = smr_self(d);
    if (r->working) return 0; /* called from a free callback of this thread */
    r->working = true;
    size_t n = poll_work(r, d);
    r->working = false;
    return n;
}

static size_t poll_work(smr_rec *r, alloy_smr *d) {
    adopt_orphans(r, false);
    if (r->hot.scheme == ALLOY_SMR_IBR) return ibr_scan(r);
    if (r->hot.depth == 0) ebr_try_advance(d);
    uint64_t clock = __atomic_load_n(&d->head.clock, __ATOMIC_ACQUIRE);
    pthread_mutex_lock(&r->lock);
    seal_locked(r);
    pthread_mutex_unlock(&r->lock);
    ebr_epoch_start(r, clock);
    return ebr_reclaim(r, clock);
}

/* ---- barrier ---------------------------------------------------------------------------- */

/* Move the entries of b that ok() accepts into *out (blocks taken from the
 * caller's pool); keep the rest in b. Entries are retire-ordered within a block. */
typedef struct take_ctx {
    bool ibr;
    uint64_t limit; /* EBR: retire + 2 <= limit; IBR: retire < limit */
    smr_block *out;
} take_ctx;

static inline bool take_ok(const take_ctx *t, const smr_entry *e) {
    return t->ibr ? e->retire < t->limit : e->retire + 2 <= t->limit;
}

static void take_put(take_ctx *t, const smr_entry *e) {
    if (t->out == NULL || t->out->count == SMR_BLOCK_ENTRIES) {
        smr_block *b = alloy__smr_block_new(NULL);
        b->next = t->out;
        t->out = b;
    }
    t->out->e[t->out->count++] = *e;
}

/* Sealed blocks: compact in place. */
static void take_sealed(take_ctx *t, smr_block **list) {
    for (smr_block **pp = list; *pp != NULL;) {
        smr_block *b = *pp;
        uint32_t first = __atomic_load_n(&b->first, __ATOMIC_RELAXED);
        uint32_t count = __atomic_load_n(&b->count, __ATOMIC_RELAXED);
        uint32_t w = 0;
        for (uint32_t i = first; i < count; i++) {
            if (take_ok(t, &b->e[i]))
                take_put(t, &b->e[i]);
            else
                b->e[w++] = b->e[i];
        }
        if (w == 0) {
            *pp = b->next;
            alloy__smr_block_recycle(NULL, b);
            continue;
        }
        __atomic_store_n(&b->first, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->count, w, __ATOMIC_RELAXED);
        pp = &b->next;
    }
}

/* A live thread's current block: take the accepted prefix, leave the owner's slots alone. */
static void take_cur(take_ctx *t, smr_block *b) {
    uint32_t first = __atomic_load_n(&b->first, __ATOMIC_RELAXED);
    uint32_t count = __atomic_load_n(&b->count, __ATOMIC_ACQUIRE);
    uint32_t i = first;
    while (i < count && take_ok(t, &b->e[i])) take_put(t, &b->e[i++]);
    __atomic_store_n(&b->first, i, __ATOMIC_RELAXED);
}

static size_t take_free(take_ctx *t) {
    size_t n = alloy__smr_free_list(NULL, t->out);
    t->out = NULL;
    return n;
}

void alloy_smr_barrier(alloy_smr *d) {
    smr_rec *self = smr_self(d);
    if (self->hot.depth != 0 || self->working) {
        alloy__warn("alloy_smr_barrier called inside a read-side section or a free function: "
                    "it would wait forever");
        abort();
    }
    take_ctx t = {.ibr = d->head.scheme == ALLOY_SMR_IBR};
    alloy__smr_fence();
    if (t.ibr) {
        /* Every section opened from now reserves eras >= limit; wait out the older ones. */
        t.limit = __atomic_add_fetch(&d->head.clock, 1, __ATOMIC_SEQ_CST);
        alloy__smr_fence();
        for (smr_chunk *c = d->chunks; c != NULL; c = __atomic_load_n(&c->next, __ATOMIC_ACQUIRE))
            for (int i = 0; i < SMR_CHUNK_SLOTS; i++)
                for (;;) {
                    uint64_t lo = __atomic_load_n(&c->line[i].s.word, __ATOMIC_SEQ_CST);
                    if (lo == ALLOY__SMR_IDLE || lo >= t.limit) break;
                    sched_yield();
                }
    } else {
        uint64_t target = __atomic_load_n(&d->head.clock, __ATOMIC_SEQ_CST) + 2;
        while (__atomic_load_n(&d->head.clock, __ATOMIC_SEQ_CST) < target)
            if (!ebr_try_advance(d)) sched_yield();
        t.limit = __atomic_load_n(&d->head.clock, __ATOMIC_SEQ_CST);
    }

    /* Collect under the locks, free after releasing them. */
    pthread_mutex_lock(&d->lock);
    for (smr_rec *r = d->recs; r != NULL; r = r->next) {
        for (;;) {
            pthread_mutex_lock(&r->lock);
            take_sealed(&t, &r->sealed);
            take_cur(&t, r->hot.cur);
            uint64_t busy = __atomic_load_n(&r->busy, __ATOMIC_ACQUIRE);
            pthread_mutex_unlock(&r->lock);
            if ((busy & 1) == 0) break;
            /* The owner is freeing blocks it took out; what it keeps comes back. */
            while (__atomic_load_n(&r->busy, __ATOMIC_ACQUIRE) == busy) sched_yield();
        }
    }
    pthread_mutex_unlock(&d->lock);
    smr_block *orphans = alloy__smr_orphans_take(d, true);
    take_sealed(&t, &orphans);
    alloy__smr_orphans_push(d, orphans);
    size_t freed = take_free(&t);
    __atomic_fetch_add(&d->freed_other, freed, __ATOMIC_RELAXED);
    alloy__smr_node_cache_drain(self);
}
