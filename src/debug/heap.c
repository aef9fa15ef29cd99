/* SPDX-License-Identifier: MIT */
/* src/debug/heap.c - the debug heap: block records, guard bytes, quarantine, checks.
 *
 * A block from the parent is laid out as
 *     [guard bytes | record link (8) | guard bytes (8)] [user: size] [guard bytes: 8..23]
 * with a front part of max(16, align) bytes. The guard bytes are 0xfb, so a
 * write one byte past the end or before the start changes a byte that is
 * checked on free and by alloy_debug_check. The record link is the address of
 * the block's record xor a per-heap secret: a free decodes it, checks that it
 * lands in the heap's record region on a record naming this very pointer, and
 * so finds the block without any shared table; anything else is a bad pointer
 * (interior, stack, global, another allocator's), classified on the slow path.
 *
 * Records (64 bytes) live in a region reserved per heap and are handed out
 * from per-shard free lists. Each thread takes a shard round robin and uses
 * only its own: its lock is uncontended and its lines stay on one core. The
 * state of a record changes by CAS (live -> freeing -> freed), which is what
 * makes a racing or repeated free a reported double free.
 *
 * A freed block is filled with 0xfd and queued in the freeing thread's
 * quarantine (FIFO, quarantine_bytes per shard); when it leaves, the pattern
 * is verified (a changed byte is a write after free) and the block goes back
 * to the parent. Problems are reported after every lock is dropped: reporting
 * symbolizes, which may allocate.
 */
#define _GNU_SOURCE
#include "debug_internal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REC_CHUNK (64u * 1024u)

static alloy__debug_heap *heaps; /* registry of live instances */
static dbg_lock heaps_lock;
static unsigned next_shard;

alloy__debug_heap *alloy__dbg_heaps(void) {
    return __atomic_load_n(&heaps, __ATOMIC_ACQUIRE);
}

/* ---- the spare arena --------------------------------------------------------
 * Once a write has run past a block's guard bytes, the parent's metadata next to it may be
 * broken: calling the parent again (to allocate, or to free any block) can crash inside it, and
 * the report that explains the bug would die with it. From then on the heap takes new blocks
 * from this arena of its own (reserved address space, bump allocated, never reused) and returns
 * nothing to the parent. Reports, and the symbolizer's allocations through the override, then
 * never touch the damaged heap. */
#define SPARE_BYTES ((size_t)256 << 20)
static struct {
    unsigned char *base;
    size_t used;
    dbg_lock lock;
} spare;

static void *spare_alloc(size_t size, size_t align) {
    dbg_lock_take(&spare.lock);
    if (spare.base == NULL) spare.base = alloy__dbg_pages(SPARE_BYTES);
    void *p = NULL;
    if (spare.base != NULL) {
        size_t start = (spare.used + align - 1) & ~(align - 1);
        if (start <= SPARE_BYTES && size <= SPARE_BYTES - start) {
            p = spare.base + start;
            spare.used = start + size;
        }
    }
    dbg_lock_drop(&spare.lock);
    return p;
}

static inline bool spare_owns(uintptr_t p) {
    uintptr_t b = (uintptr_t)__atomic_load_n(&spare.base, __ATOMIC_ACQUIRE);
    return b != 0 && p >= b && p < b + SPARE_BYTES;
}

/* ---- layout ---------------------------------------------------------------- */

static inline size_t eff_align(size_t align) {
    return align > DBG_RZ ? align : DBG_RZ;
}
static inline size_t outer_size(size_t size, size_t align) {
    return eff_align(align) + ((size + 8 + 15) & ~(size_t)15);
}
static inline size_t rec_align(const dbg_rec *r) {
    return r->align_log2 == 0 ? 0 : (size_t)1 << (r->align_log2 - 1);
}
static inline uint8_t align_code(size_t align) {
    return align == 0 ? 0 : (uint8_t)(__builtin_ctzll(align) + 1);
}

static inline dbg_shard *my_shard(alloy__debug_heap *h) {
    dbg_thread *t = &alloy__dbg_self;
    if (ALLOY_UNLIKELY(t->shard == 0))
        t->shard = 1 + __atomic_fetch_add(&next_shard, 1, __ATOMIC_RELAXED) % DBG_SHARDS;
    return &h->shards[t->shard - 1];
}

static inline uint8_t rec_state(const dbg_rec *r) {
    return __atomic_load_n(&r->state, __ATOMIC_ACQUIRE);
}

/* The record of the block at p, or NULL if p is no block of h (live or freed). The link read
 * may touch memory that is not ours (a stack array passed to free, an unmapped page): it is a
 * safe load, which fails instead of faulting and which ASan does not instrument. */
static dbg_rec *lookup(alloy__debug_heap *h, uintptr_t p) {
    if (ALLOY_UNLIKELY(h->guard != NULL && alloy__dbg_guard_owns(h->guard, p))) {
        dbg_rec copy;
        if (!alloy__dbg_guard_lookup(h->guard, p, &copy) || copy.user != p) return NULL;
        dbg_rec *r = (dbg_rec *)(uintptr_t)copy.qnext; /* the slot keeps the record address */
        return r != NULL && r->user == p && rec_state(r) != REC_UNUSED ? r : NULL;
    }
    if (ALLOY_UNLIKELY((p & 15) != 0 || p < 4096)) return NULL;
    uintptr_t link;
    if (ALLOY_UNLIKELY(!alloy__dbg_safe_load((const void *)(p - 16), &link))) return NULL;
    uintptr_t r = link ^ h->secret;
    uintptr_t off = r - (uintptr_t)h->recs;
    if (off >= __atomic_load_n(&h->recs_used, __ATOMIC_ACQUIRE) || off % sizeof(dbg_rec) != 0)
        return NULL;
    dbg_rec *rec = (dbg_rec *)r;
    return rec->user == p && rec_state(rec) != REC_UNUSED ? rec : NULL;
}

/* First byte in [p, p + n) that is not c, or NULL. 64 bytes per step (vectorizable), then
 * words, the last one overlapping; bytes only where a difference was seen. */
static const unsigned char *find_not(const unsigned char *p, size_t n, unsigned char c) {
    const uint64_t w = 0x0101010101010101ull * c;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        uint64_t v[8], acc = 0;
        memcpy(v, p + i, 64);
        for (int k = 0; k < 8; k++) acc |= v[k] ^ w;
        if (acc != 0) goto bytes;
    }
    if (n >= 8) {
        uint64_t v, acc = 0;
        for (size_t j = i; j + 8 <= n; j += 8) {
            memcpy(&v, p + j, 8);
            acc |= v ^ w;
        }
        memcpy(&v, p + n - 8, 8);
        acc |= v ^ w;
        if (acc == 0) return NULL;
    }
bytes:
    for (; i < n; i++)
        if (p[i] != c) return p + i;
    return NULL;
}

/* ---- records ---------------------------------------------------------------- */

/* In a sanitizer build the parent is the sanitizer's malloc, and LeakSanitizer runs (and exits)
 * before our exit handler: show it our records, which point at every block we hold. */
extern void __lsan_register_root_region(const void *p, size_t size) __attribute__((weak));

static dbg_rec *rec_new(alloy__debug_heap *h, dbg_shard *s) {
    dbg_rec *r = s->free_recs;
    if (ALLOY_UNLIKELY(r == NULL)) {
        size_t off = __atomic_load_n(&h->recs_used, __ATOMIC_RELAXED);
        if (off + REC_CHUNK > h->recs_bytes) return NULL;
        /* Fresh pages are zero (REC_UNUSED), so lookups reject the chunk until linked. */
        off = __atomic_fetch_add(&h->recs_used, REC_CHUNK, __ATOMIC_ACQ_REL);
        if (off + REC_CHUNK > h->recs_bytes) return NULL;
        dbg_rec *recs = (dbg_rec *)(h->recs + off);
        if (__lsan_register_root_region != NULL) __lsan_register_root_region(recs, REC_CHUNK);
        for (size_t i = REC_CHUNK / sizeof(dbg_rec); i-- > 0;) {
            recs[i].qnext = r;
            r = &recs[i];
        }
    }
    s->free_recs = r->qnext;
    if (s->free_recs != NULL) __builtin_prefetch(s->free_recs, 1); /* the next allocation's */
    return r;
}

static void rec_free(dbg_shard *s, dbg_rec *r) {
    __atomic_store_n(&r->state, REC_UNUSED, __ATOMIC_RELEASE);
    r->user = 0;
    r->qnext = s->free_recs;
    s->free_recs = r;
}

/* Visit every record in use (live, being freed or quarantined). Caller holds what it needs. */
static void each_rec(alloy__debug_heap *h, void (*fn)(dbg_rec *r, void *arg), void *arg) {
    size_t used = __atomic_load_n(&h->recs_used, __ATOMIC_ACQUIRE);
    dbg_rec *recs = (dbg_rec *)h->recs;
    for (size_t i = 0; i < used / sizeof(dbg_rec); i++)
        if (rec_state(&recs[i]) != REC_UNUSED) fn(&recs[i], arg);
}

/* ---- problems collected under a lock ------------------------------------------ */

#define MAX_PENDING 8
typedef struct pending {
    dbg_problem p[MAX_PENDING];
    dbg_rec recs[MAX_PENDING];
    size_t n;
    alloy__debug_heap *heap;
} pending;

static void add_problem(pending *pd, alloy_debug_kind kind, const dbg_rec *r, uintptr_t addr,
                        const char *detail) {
    if (pd->n >= MAX_PENDING) return;
    size_t i = pd->n++;
    pd->recs[i] = *r;
    dbg_problem *p = &pd->p[i];
    memset(p, 0, sizeof *p);
    p->e.kind = kind;
    p->e.ptr = (const void *)r->user;
    p->e.size = r->size;
    p->e.align = rec_align(r);
    p->e.addr = (const void *)addr;
    p->e.detail = detail;
    p->rec = &pd->recs[i];
    p->corruption_dump = addr != 0;
}

static bool flush_problems(alloy__debug_heap *h, pending *pd, uint32_t now_stack,
                           const char *now_what) {
    bool go_on = true;
    for (size_t i = 0; i < pd->n; i++) {
        pd->p[i].rec = &pd->recs[i];
        pd->p[i].now_stack = now_stack;
        pd->p[i].now_what = now_what;
        pd->p[i].now_tid = alloy__dbg_tid();
        if (alloy__dbg_report(h, &pd->p[i]) == ALLOY_DEBUG_ABORT) go_on = false;
    }
    pd->n = 0;
    return go_on;
}

/* All n >= 8 bytes at p equal the guard pattern? Word loads, the last one overlapping. */
static inline bool guards_intact(const unsigned char *p, size_t n) {
    const uint64_t w = 0x0101010101010101ull * DBG_PAT_RZ;
    uint64_t v, acc = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&v, p + i, 8);
        acc |= v ^ w;
    }
    if (i < n) {
        memcpy(&v, p + n - 8, 8);
        acc |= v ^ w;
    }
    return acc == 0;
}

/* Guard bytes of a live block: first bad byte or 0; *under tells which side. */
static uintptr_t check_guards(const dbg_rec *r, bool *under) {
    size_t front = eff_align(rec_align(r));
    const unsigned char *user = (const unsigned char *)r->user;
    size_t back = outer_size(r->size, rec_align(r)) - front - r->size;
    if (ALLOY_LIKELY(guards_intact(user - 8, 8) &&
                     (front == 16 || guards_intact(user - front, front - 16)) &&
                     guards_intact(user + r->size, back))) {
        *under = false;
        return 0;
    }
    /* The byte nearest the block first: [user - 8, user), then [outer, user - 16). */
    for (const unsigned char *q = user; q-- > user - 8;)
        if (*q != DBG_PAT_RZ) {
            *under = true;
            return (uintptr_t)q;
        }
    for (const unsigned char *q = user - 16; q-- > user - front;)
        if (*q != DBG_PAT_RZ) {
            *under = true;
            return (uintptr_t)q;
        }
    *under = false;
    return (uintptr_t)find_not(user + r->size, back, DBG_PAT_RZ);
}

/* Bytes of a freed block that carry the quarantine pattern. */
static inline size_t fill_len(const alloy__debug_heap *h, const dbg_rec *r) {
    return r->size < h->opt.fill_bytes ? r->size : h->opt.fill_bytes;
}

/* A live block's guard bytes (or guard page slack); an overflow or underflow goes to pd. */
static bool check_live(alloy__debug_heap *h, const dbg_rec *r, pending *pd) {
    bool under = false;
    uintptr_t bad = (r->flags & RECF_GUARDED) ? alloy__dbg_guard_check(h->guard, r->user, r->size)
                                              : check_guards(r, &under);
    if (bad == 0) return true;
    if (r->flags & RECF_GUARDED) under = bad < r->user;
    /* The outermost guard byte changed too: the write may have gone on into the parent's memory
     * (its metadata for the next block). */
    bool beyond = false;
    if (!(r->flags & RECF_GUARDED) && !spare_owns(r->user)) {
        size_t front = eff_align(rec_align(r));
        const unsigned char *outer = (const unsigned char *)r->user - front;
        beyond = under ? outer[0] != DBG_PAT_RZ
                       : outer[outer_size(r->size, rec_align(r)) - 1] != DBG_PAT_RZ;
        if (beyond) __atomic_store_n(&h->parent_damaged, true, __ATOMIC_RELAXED);
    }
    add_problem(
        pd, under ? ALLOY_DEBUG_UNDERFLOW : ALLOY_DEBUG_OVERFLOW, r, bad,
        beyond  ? (under ? "every guard byte before the block changed: the write may have "
                           "gone on into the memory before it, which alloy leaves alone from now on"
                         : "every guard byte after the block changed: the write may have "
                           "gone on into the memory after it, which alloy leaves alone from now on")
        : under ? "a guard byte before the block changed"
                : "a guard byte after the block changed");
    return false;
}

/* A quarantined block's pattern; a write after free goes to pd. */
static bool check_freed(alloy__debug_heap *h, const dbg_rec *r, pending *pd) {
    const unsigned char *bad =
        find_not((const unsigned char *)r->user, fill_len(h, r), DBG_PAT_FREE);
    if (bad == NULL) return true;
    add_problem(pd, ALLOY_DEBUG_USE_AFTER_FREE, r, (uintptr_t)bad,
                "a byte of the freed block changed while it was in quarantine");
    return false;
}

static void release(alloy__debug_heap *h, const dbg_rec *r) {
    if (r->flags & RECF_GUARDED) {
        alloy__dbg_guard_retire(h->guard, r->guard_slot, r->free_stack, r->free_tid);
        return;
    }
    size_t align = eff_align(rec_align(r));
    if (spare_owns(r->user) || __atomic_load_n(&h->parent_damaged, __ATOMIC_RELAXED)) return;
    h->parent.free(h->parent.ctx, (void *)(r->user - eff_align(align)), outer_size(r->size, align),
                   align);
}

/* Verify a quarantined block's pattern, then release it and its record. Shard lock held. */
static void evict(alloy__debug_heap *h, dbg_shard *s, dbg_rec *r, pending *pd) {
    if (!(r->flags & RECF_REPORTED)) (void)check_freed(h, r, pd);
    release(h, r);
    rec_free(s, r);
}

/* ---- creation --------------------------------------------------------------------- */

void alloy_debug_options_default(alloy_debug_options *o) {
    memset(o, 0, sizeof *o);
    o->quarantine_bytes = DBG_DEFAULT_QUARANTINE;
    o->fill_bytes = DBG_DEFAULT_FILL;
    o->stack_depth = 16;
    o->unwinder = ALLOY_DEBUG_UNWIND_DEFAULT;
    o->guard = ALLOY_DEBUG_GUARD_OFF;
    o->guard_sample_rate = 1000;
    o->guard_slots = 4096;
    o->guard_max_size = 16 * 1024;
    o->name = "alloy_debug";
}

alloy__debug_heap *alloy__dbg_heap_new(dbg_parent parent, const alloy_debug_options *o,
                                       size_t max_blocks) {
    alloy__debug_heap *h = alloy__dbg_pages(sizeof *h);
    if (h == NULL) return NULL;
    alloy_debug_options def;
    if (o == NULL) {
        alloy_debug_options_default(&def);
        o = &def;
    }
    h->recs_bytes = max_blocks * sizeof(dbg_rec);
    h->recs = alloy__dbg_pages(h->recs_bytes);
    if (h->recs == NULL) {
        alloy__dbg_unpages(h, sizeof *h);
        return NULL;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    h->secret = ((uintptr_t)h * 0x9e3779b97f4a7c15ull) ^ ((uintptr_t)ts.tv_nsec << 20) ^
                (uintptr_t)getpid() ^ 0x5bd1e995u;
    h->opt = *o;
    if (h->opt.stack_depth > DBG_MAX_FRAMES) h->opt.stack_depth = DBG_MAX_FRAMES;
    if (h->opt.guard_sample_rate == 0) h->opt.guard_sample_rate = 1;
    if (h->opt.guard_slots == 0) h->opt.guard_slots = 4096;
    if (h->opt.guard_max_size == 0) h->opt.guard_max_size = 16 * 1024;
    /* Bounds that keep the guard pool's reservation (slots x (max size + a page)) below 64 GiB
     * of address space and its arithmetic far from overflow, whatever the caller passed. */
    if (h->opt.guard_slots > DBG_GUARD_SLOTS_MAX) h->opt.guard_slots = DBG_GUARD_SLOTS_MAX;
    if (h->opt.guard_max_size > DBG_GUARD_MAX_SIZE) h->opt.guard_max_size = DBG_GUARD_MAX_SIZE;
    h->opt.unwinder = alloy__dbg_unwinder_resolve(h->opt.unwinder);
    alloy__dbg_fault_install(); /* lookups of wild pointers read through alloy__dbg_safe_load */
    snprintf(h->name, sizeof h->name, "%s", o->name != NULL ? o->name : "alloy_debug");
    h->opt.name = h->name;
    h->parent = parent;
    h->on_error = o->on_error;
    h->on_error_arg = o->on_error_arg;
    h->json_fd = -1;
    if (o->json_path != NULL && o->json_path[0] != '\0') {
        size_t len = strlen(o->json_path);
        if (len < sizeof h->json_path) {
            memcpy(h->json_path, o->json_path, len + 1);
            h->json_fd = alloy__dbg_open_json(h->json_path);
        } else {
            alloy__warn("debug: report file path is too long (%zu bytes; at most %zu): no report "
                        "file",
                        len, sizeof h->json_path - 1);
        }
    }
    h->opt.json_path = h->json_path;
    if (o->guard != ALLOY_DEBUG_GUARD_OFF) {
        h->guard = alloy__dbg_guard_new(&h->opt);
        if (h->guard != NULL) alloy__dbg_guard_attach(h->guard, h);
    }
    dbg_lock_take(&heaps_lock);
    h->next_heap = heaps;
    __atomic_store_n(&heaps, h, __ATOMIC_RELEASE);
    dbg_lock_drop(&heaps_lock);
    return h;
}

static void release_one(dbg_rec *r, void *arg) {
    alloy__debug_heap *h = arg;
    uint8_t st = rec_state(r);
    if (st == REC_FREED || (st == REC_LIVE && h->destroy_live)) release(h, r);
}

void alloy__dbg_heap_destroy(alloy__debug_heap *h, bool release_live) {
    dbg_lock_take(&heaps_lock);
    for (alloy__debug_heap **pp = &heaps; *pp != NULL; pp = &(*pp)->next_heap)
        if (*pp == h) {
            *pp = h->next_heap;
            break;
        }
    dbg_lock_drop(&heaps_lock);
    h->destroy_live = release_live;
    each_rec(h, release_one, h);
    if (h->guard != NULL) alloy__dbg_guard_destroy(h->guard);
    if (h->json_fd >= 0 && !h->process) close(h->json_fd);
    alloy__dbg_unpages(h->recs, h->recs_bytes);
    alloy__dbg_unpages(h, sizeof *h);
}

/* ---- allocation -------------------------------------------------------------------- */

/* The stack of the call into the debug heap (entry frame from), or 0 when the call comes from
 * inside alloy's own code (inside > 0: no recursion into the unwinder, which may allocate). */
static uint32_t caller_stack(alloy__debug_heap *h, const void *from) {
    dbg_thread *t = &alloy__dbg_self;
    if (t->inside != 0) return 0;
    t->inside++;
    uint32_t stack = alloy__dbg_stack(h->opt.stack_depth, h->opt.unwinder, from);
    t->inside--;
    return stack;
}

void *alloy__dbg_alloc(alloy__debug_heap *h, size_t size, size_t align, bool zero,
                       const void *from) {
    uint32_t tid = alloy__dbg_tid();
    bool internal = alloy__dbg_self.inside > 0;
    uint32_t stack = caller_stack(h, from);
    size_t a = eff_align(align);
    uintptr_t user;
    uint32_t slot = 0;
    uint8_t flags = internal ? RECF_INTERNAL : 0;
    void *g = NULL;
    if (ALLOY_UNLIKELY(h->guard_only)) {
        /* The caller sampled this block; without a slot it goes untracked. */
        if (internal || h->guard == NULL) return NULL;
        g = alloy__dbg_guard_alloc(h->guard, size, align, stack, tid, &slot);
        if (g == NULL) return NULL;
    } else if (h->guard != NULL && !internal && alloy__dbg_guard_want(h->guard, size)) {
        g = alloy__dbg_guard_alloc(h->guard, size, align, stack, tid, &slot);
    }
    unsigned char *outer = NULL;
    if (g != NULL) {
        user = (uintptr_t)g;
        flags |= RECF_GUARDED;
        if (zero) memset(g, 0, size);
    } else {
        if (ALLOY_UNLIKELY(size > SIZE_MAX / 2 - a - 64)) return NULL;
        size_t total = outer_size(size, a);
        if (ALLOY_UNLIKELY(__atomic_load_n(&h->parent_damaged, __ATOMIC_RELAXED)))
            outer = spare_alloc(total, a);
        if (ALLOY_LIKELY(outer == NULL)) outer = h->parent.alloc(h->parent.ctx, total, a);
        if (ALLOY_UNLIKELY(outer == NULL)) return NULL;
        user = (uintptr_t)outer + eff_align(a);
        memset(outer, DBG_PAT_RZ, eff_align(a));
        memset((unsigned char *)user + size, DBG_PAT_RZ, total - eff_align(a) - size);
        if (zero) memset((void *)user, 0, size);
    }
    dbg_shard *s = my_shard(h);
    dbg_lock_take(&s->lock);
    dbg_rec *r = rec_new(h, s);
    if (ALLOY_UNLIKELY(r == NULL)) {
        dbg_lock_drop(&s->lock);
        dbg_rec tmp = {.user = user,
                       .size = size,
                       .align_log2 = align_code(align),
                       .flags = flags,
                       .guard_slot = slot};
        release(h, &tmp);
        return NULL;
    }
    s->live_bytes += (int64_t)size;
    s->live_count++;
    dbg_lock_drop(&s->lock);
    r->user = user;
    r->size = size;
    r->alloc_stack = stack;
    r->free_stack = 0;
    r->alloc_tid = tid;
    r->free_tid = 0;
    r->align_log2 = align_code(align);
    r->flags = flags;
    r->guard_slot = slot;
    r->qnext = NULL;
    if (g != NULL) {
        alloy__dbg_guard_set_rec(h->guard, slot, r);
    } else {
        uintptr_t link = (uintptr_t)r ^ h->secret;
        memcpy((void *)(user - 16), &link, sizeof link);
    }
    __atomic_store_n(&r->state, REC_LIVE, __ATOMIC_RELEASE);
    return (void *)user;
}

size_t alloy__dbg_usable(alloy__debug_heap *h, const void *p) {
    dbg_rec *r = lookup(h, (uintptr_t)p);
    return r != NULL && rec_state(r) == REC_LIVE ? r->size : 0;
}

/* ---- bad pointers ------------------------------------------------------------------ */

typedef struct containing_q {
    uintptr_t addr;
    dbg_rec *found;
} containing_q;

static void containing_one(dbg_rec *r, void *arg) {
    containing_q *q = arg;
    if (q->found != NULL) return;
    bool guarded = (r->flags & RECF_GUARDED) != 0;
    uintptr_t lo = r->user - (guarded ? 0 : eff_align(rec_align(r)));
    uintptr_t hi = r->user + r->size + (guarded ? 0 : 8);
    if (q->addr >= lo && q->addr < hi) q->found = r;
}

bool alloy__dbg_find_containing(alloy__debug_heap *h, uintptr_t addr, dbg_rec *out) {
    containing_q q = {addr, NULL};
    each_rec(h, containing_one, &q);
    if (q.found != NULL) *out = *q.found;
    return q.found != NULL;
}

static bool on_this_stack(uintptr_t p) {
    uintptr_t lo, hi;
    return alloy__dbg_stack_bounds(&lo, &hi) && p >= lo && p < hi;
}

/* Report a free (or realloc) of p that is no live block of h. Returns true to go on. */
static bool bad_pointer(alloy__debug_heap *h, uintptr_t p, const char *what, uint32_t stack) {
    char detail_buf[256];
    dbg_problem pr;
    memset(&pr, 0, sizeof pr);
    dbg_rec found;
    pr.e.kind = ALLOY_DEBUG_INVALID_FREE;
    pr.e.ptr = (const void *)p;
    pr.now_stack = stack;
    pr.now_what = what;
    pr.now_tid = alloy__dbg_tid();
    const char *mod;
    if (h->guard != NULL && alloy__dbg_guard_lookup(h->guard, p, &found) && found.user == p &&
        found.state == REC_FREED) {
        pr.e.kind = ALLOY_DEBUG_DOUBLE_FREE;
        pr.rec = &found;
        pr.e.size = found.size;
        pr.now_what = strcmp(what, "freed") == 0 ? "freed again" : what;
        pr.e.detail = "the block was already freed";
        return alloy__dbg_report(h, &pr) == ALLOY_DEBUG_CONTINUE;
    }
    if (alloy__dbg_find_containing(h, p, &found) ||
        (h->guard != NULL && alloy__dbg_guard_lookup(h->guard, p, &found))) {
        pr.rec = &found;
        pr.e.size = found.size;
        pr.e.align = rec_align(&found);
        long off = (long)(p - found.user);
        if (off == 0) {
            /* Our block, but its record link was overwritten: a write before its start. */
            pr.e.kind = ALLOY_DEBUG_UNDERFLOW;
            pr.e.ptr = (const void *)found.user;
            pr.e.addr = (const void *)(found.user - 16);
            pr.e.detail = "the bytes before the block (its record link) were overwritten";
            return alloy__dbg_report(h, &pr) == ALLOY_DEBUG_CONTINUE;
        }
        snprintf(detail_buf, sizeof detail_buf, "%s: %ld bytes %s the %s %zu-byte block at %p",
                 off >= 0 ? "interior pointer" : "pointer into the guard bytes",
                 off >= 0 ? off : -off, off >= 0 ? "into" : "before",
                 found.state == REC_LIVE ? "live" : "freed", found.size, (void *)found.user);
    } else {
        bool other = false;
        for (alloy__debug_heap *o = alloy__dbg_heaps(); o != NULL && !other; o = o->next_heap) {
            if (o == h) continue;
            if (lookup(o, p) != NULL || alloy__dbg_find_containing(o, p, &found)) {
                snprintf(detail_buf, sizeof detail_buf,
                         "a block of another allocator (debug allocator \"%s\")", o->name);
                other = true;
            }
        }
        if (other) {
        } else if (on_this_stack(p)) {
            snprintf(detail_buf, sizeof detail_buf, "stack memory of thread %u", pr.now_tid);
        } else if (alloy__dbg_global_addr(p, &mod)) {
            snprintf(detail_buf, sizeof detail_buf, "global memory of %s", mod);
        } else {
            snprintf(detail_buf, sizeof detail_buf,
                     "not a block of this allocator (another allocator's block or a wild "
                     "pointer)");
        }
    }
    pr.e.detail = detail_buf;
    return alloy__dbg_report(h, &pr) == ALLOY_DEBUG_CONTINUE;
}

/* ---- free ---------------------------------------------------------------------------- */

static bool free_common(alloy__debug_heap *h, void *ptr, size_t size, size_t align, unsigned claims,
                        uint32_t stack, const char *what) {
    uintptr_t p = (uintptr_t)ptr;
    uint32_t tid = alloy__dbg_tid();
    pending pd;
    pd.n = 0;
    dbg_rec *r = lookup(h, p);
    if (ALLOY_UNLIKELY(r == NULL)) {
        bad_pointer(h, p, what, stack);
        return false;
    }
    if (ALLOY_UNLIKELY(rec_state(r) != REC_LIVE)) {
        add_problem(&pd, ALLOY_DEBUG_DOUBLE_FREE, r, 0, "the block was already freed");
        pd.p[0].corruption_dump = false;
        flush_problems(h, &pd, stack, strcmp(what, "freed") == 0 ? "freed again" : what);
        return false;
    }
    if (ALLOY_UNLIKELY((claims & CLAIM_SIZE) && size != r->size)) {
        add_problem(&pd, ALLOY_DEBUG_SIZE_MISMATCH, r, 0, NULL);
        pd.p[0].e.given_size = size;
        pd.p[0].e.given_align = align;
    } else if (ALLOY_UNLIKELY((claims & CLAIM_ALIGN) && r->align_log2 != 0 &&
                              align != rec_align(r))) {
        add_problem(&pd, ALLOY_DEBUG_ALIGN_MISMATCH, r, 0, NULL);
        pd.p[0].e.given_size = size;
        pd.p[0].e.given_align = align;
    } else if (ALLOY_UNLIKELY(h->process && (claims & (CLAIM_SIZE | CLAIM_ALIGN)) == CLAIM_SIZE &&
                              rec_align(r) > DBG_RZ)) {
        /* alloy_free_sized: for blocks of malloc's alignment. A block aligned beyond that goes
         * back with alloy_free_aligned_sized (the backend may keep it apart). */
        add_problem(&pd, ALLOY_DEBUG_ALIGN_MISMATCH, r, 0,
                    "a block from alloy_malloc_aligned was freed with alloy_free_sized; free it "
                    "with alloy_free_aligned_sized or alloy_free");
        pd.p[0].e.given_size = size;
        pd.p[0].e.given_align = 0;
    }
    if (!(r->flags & RECF_REPORTED)) (void)check_live(h, r, &pd);
    /* Claim the block: of two racing frees, exactly one gets here. */
    uint8_t expected = REC_LIVE;
    if (!__atomic_compare_exchange_n(&r->state, &expected, REC_FREEING, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        pd.n = 0;
        add_problem(&pd, ALLOY_DEBUG_DOUBLE_FREE, r, 0, "the block was freed by another thread");
        flush_problems(h, &pd, stack, "freed again");
        return false;
    }
    if (ALLOY_UNLIKELY(pd.n != 0)) {
        /* Report first; a handler that continues gets the block released as normal. */
        if (!flush_problems(h, &pd, stack, what)) return false;
    }
    r->free_stack = stack;
    r->free_tid = tid;
    dbg_shard *s = my_shard(h);
    if (r->flags & RECF_GUARDED) {
        /* The slot is its own quarantine: inaccessible, reused last (FIFO). A later free or
         * access of it is recognized from the slot's metadata. */
        alloy__dbg_guard_retire(h->guard, r->guard_slot, stack, tid);
        dbg_lock_take(&s->lock);
        s->live_bytes -= (int64_t)r->size;
        s->live_count--;
        rec_free(s, r);
        dbg_lock_drop(&s->lock);
        return true;
    }
    bool quarantine = h->opt.quarantine_bytes != 0 && !(r->flags & RECF_INTERNAL);
    if (quarantine) memset((void *)r->user, DBG_PAT_FREE, fill_len(h, r));
    dbg_lock_take(&s->lock);
    s->live_bytes -= (int64_t)r->size;
    s->live_count--;
    __atomic_store_n(&r->state, REC_FREED, __ATOMIC_RELEASE);
    if (!quarantine) {
        release(h, r);
        rec_free(s, r);
        dbg_lock_drop(&s->lock);
        return true;
    }
    r->qnext = NULL;
    if (s->qtail != NULL)
        s->qtail->qnext = r;
    else
        s->qhead = r;
    s->qtail = r;
    s->qbytes += outer_size(r->size, rec_align(r));
    s->qcount++;
    while (s->qbytes > h->opt.quarantine_bytes && s->qcount > 1) {
        dbg_rec *old = s->qhead;
        s->qhead = old->qnext;
        if (s->qhead == NULL) s->qtail = NULL;
        s->qbytes -= outer_size(old->size, rec_align(old));
        s->qcount--;
        evict(h, s, old, &pd);
    }
    if (s->qhead != NULL) {
        /* The next block to leave is cold by then: start fetching what its check reads. */
        const char *next = (const char *)s->qhead->user;
        size_t n = fill_len(h, s->qhead);
        for (size_t off = 0; off < n; off += 64) __builtin_prefetch(next + off);
        if (s->qhead->qnext != NULL) __builtin_prefetch(s->qhead->qnext);
    }
    dbg_lock_drop(&s->lock);
    if (ALLOY_UNLIKELY(pd.n != 0)) flush_problems(h, &pd, stack, "detected at a free");
    return true;
}

/* Start fetching the record of the block at p (a cache miss in a large heap) so that it
 * arrives while the free's stack is captured. Reads what lookup reads, the same safe way;
 * the prefetch of a bogus address is harmless. */
static inline void prefetch_rec(alloy__debug_heap *h, uintptr_t p) {
    if ((p & 15) != 0 || p < 4096) return;
    if (h->guard != NULL && alloy__dbg_guard_owns(h->guard, p)) return;
    uintptr_t link;
    if (alloy__dbg_safe_load((const void *)(p - 16), &link))
        __builtin_prefetch((const void *)(link ^ h->secret), 1);
}

bool alloy__dbg_free_ex(alloy__debug_heap *h, void *p, size_t size, size_t align, unsigned claims,
                        const void *from) {
    prefetch_rec(h, (uintptr_t)p);
    return free_common(h, p, size, align, claims, caller_stack(h, from), "freed");
}

void *alloy__dbg_realloc(alloy__debug_heap *h, void *p, size_t size, size_t new_size, size_t align,
                         bool sized, const void *from) {
    dbg_rec *r = lookup(h, (uintptr_t)p);
    if (r == NULL || rec_state(r) != REC_LIVE) {
        /* Report it as the free path would, naming the realloc. */
        free_common(h, p, 0, 0, 0, caller_stack(h, from), "reallocated");
        return NULL;
    }
    size_t old = r->size;
    void *q = alloy__dbg_alloc(h, new_size, align != 0 ? align : rec_align(r), false, from);
    if (q == NULL) return NULL;
    memcpy(q, p, old < new_size ? old : new_size);
    alloy__dbg_free_ex(h, p, size, align, sized ? (CLAIM_SIZE | CLAIM_ALIGN) : 0, from);
    return q;
}

/* ---- checks and walks ------------------------------------------------------------------ */

static void check_one(dbg_rec *r, void *arg) {
    pending *pd = arg;
    if (r->flags & RECF_REPORTED) return;
    uint8_t st = rec_state(r);
    alloy__debug_heap *h = pd->heap;
    bool ok = st == REC_LIVE ? check_live(h, r, pd) : st != REC_FREED || check_freed(h, r, pd);
    if (!ok) r->flags |= RECF_REPORTED;
}

size_t alloy__dbg_check(alloy__debug_heap *h) {
    pending pd;
    pd.n = 0;
    pd.heap = h;
    /* With every shard locked no block leaves a quarantine while its bytes are read. */
    alloy__dbg_lock_all(h);
    each_rec(h, check_one, &pd);
    alloy__dbg_unlock_all(h);
    size_t found = pd.n;
    if (pd.n != 0) {
        flush_problems(h, &pd, caller_stack(h, NULL), "found by a check at");
    }
    return found;
}

typedef struct live_q {
    void (*fn)(dbg_rec *r, void *arg);
    void *arg;
} live_q;

static void live_one(dbg_rec *r, void *arg) {
    live_q *q = arg;
    if (rec_state(r) == REC_LIVE && !(r->flags & RECF_INTERNAL)) q->fn(r, q->arg);
}

void alloy__dbg_each_live(alloy__debug_heap *h, void (*fn)(dbg_rec *r, void *arg), void *arg) {
    live_q q = {fn, arg};
    each_rec(h, live_one, &q);
}

void alloy__dbg_drain(alloy__debug_heap *h) {
    pending pd;
    pd.n = 0;
    pd.heap = h;
    for (size_t i = 0; i < DBG_SHARDS; i++) {
        dbg_shard *s = &h->shards[i];
        dbg_lock_take(&s->lock);
        while (s->qhead != NULL) {
            dbg_rec *old = s->qhead;
            s->qhead = old->qnext;
            evict(h, s, old, &pd);
        }
        s->qtail = NULL;
        s->qbytes = s->qcount = 0;
        dbg_lock_drop(&s->lock);
    }
    if (pd.n != 0) flush_problems(h, &pd, 0, "detected when the quarantine was emptied at");
}

void alloy__dbg_lock_all(alloy__debug_heap *h) {
    for (size_t i = 0; i < DBG_SHARDS; i++) dbg_lock_take(&h->shards[i].lock);
}

void alloy__dbg_unlock_all(alloy__debug_heap *h) {
    for (size_t i = 0; i < DBG_SHARDS; i++) dbg_lock_drop(&h->shards[i].lock);
}

static void count_one(dbg_rec *r, void *arg) {
    alloy_debug_summary *out = arg;
    out->live_blocks++;
    out->live_bytes += r->size;
}

void alloy__dbg_summarize(alloy__debug_heap *h, alloy_debug_summary *out) {
    memset(out, 0, sizeof *out);
    alloy__dbg_each_live(h, count_one, out);
    out->errors = __atomic_load_n(&h->errors, __ATOMIC_RELAXED);
}
