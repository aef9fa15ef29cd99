/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_alloc.c - random operation sequences on the arena, the pool
 * and the fixed buffer; every live block keeps a pattern that must survive.
 *
 * Each input byte stream is read as operations (allocate, free, resize,
 * reallocate, reset, save/restore a mark, check everything) on one of the
 * three allocators, through the inline paths or the allocator interface.
 * A ledger records every live block; a new block must not overlap any of
 * them and every block's pattern is checked before it is freed or moved and
 * at the end. After deinit the tally under each allocator must show that
 * everything went back to the heap. Any violation aborts with a message.
 *
 * Contract honoured here: after alloy_arena_restore, blocks from before the
 * mark are valid at the size they had when the mark was taken, so blocks
 * older than the newest live mark are not resized.
 */
#include <alloy.h>
#include <stdio.h>
#include <stdlib.h>

#include "../alloc/alloc_test_util.h"

#define MAX_LIVE 128
#define MAX_MARKS 8
#define FIXED_BYTES 65536

enum { A_ARENA, A_POOL, A_FIXED, A_COUNT };

typedef struct fblock {
    unsigned char *p;
    size_t size, align;
    uint64_t seed, seq;
    int owner;
} fblock;

typedef struct fuzz_state {
    alloy_tally tally[A_COUNT];
    alloy_arena arena;
    alloy_pool pool;
    alloy_fixed fixed;
    unsigned char *fixed_buf;
    alloy_allocator a[A_COUNT];
    fblock live[MAX_LIVE];
    size_t nlive;
    uint64_t seq;
    alloy_arena_mark marks[MAX_MARKS];
    uint64_t mark_seq[MAX_MARKS];
    size_t nmarks;
    size_t pool_block;
} fuzz_state;

static void die(const char *what, const fblock *b) {
    fprintf(stderr, "fuzz_alloc: %s (block %p size %zu align %zu owner %d)\n", what,
            b ? (void *)b->p : NULL, b ? b->size : 0, b ? b->align : 0, b ? b->owner : -1);
    abort();
}

static void check(const fblock *b) {
    if (pattern_check(b->p, b->size, b->seed) != b->size) die("block contents corrupted", b);
}

static void check_all(const fuzz_state *s) {
    for (size_t i = 0; i < s->nlive; i++) check(&s->live[i]);
}

static void check_new(const fuzz_state *s, const fblock *b) {
    if (((uintptr_t)b->p & (b->align - 1)) != 0) die("misaligned block", b);
    uintptr_t lo = (uintptr_t)b->p, hi = lo + b->size;
    for (size_t i = 0; i < s->nlive; i++) {
        const fblock *o = &s->live[i];
        uintptr_t olo = (uintptr_t)o->p, ohi = olo + o->size;
        if (o != b && lo < ohi && olo < hi) die("block overlaps a live block", b);
    }
}

static void drop(fuzz_state *s, size_t i) {
    s->live[i] = s->live[--s->nlive];
}

typedef struct reader {
    const uint8_t *d;
    size_t n, i;
} reader;

static unsigned take(reader *r) {
    return r->i < r->n ? r->d[r->i++] : 0;
}
static size_t take_size(reader *r) {
    unsigned k = take(r);
    size_t v = take(r) | (size_t)take(r) << 8;
    switch (k & 3) {
    case 0:
        return 1 + v % 64;
    case 1:
        return 1 + v % 512;
    case 2:
        return 1 + v % 4096;
    default:
        return 1 + v % 20000; /* large blocks for the arena */
    }
}

static void add_block(fuzz_state *s, int owner, void *p, size_t size, size_t align) {
    fblock b = {p, size, align, s->seq * 2654435761u, ++s->seq, owner};
    check_new(s, &b);
    pattern_fill(b.p, size, b.seed);
    s->live[s->nlive++] = b;
}

/* Index of a live block of owner picked by r, or SIZE_MAX. */
static size_t pick(fuzz_state *s, reader *r, int owner) {
    size_t n = 0;
    for (size_t i = 0; i < s->nlive; i++) n += s->live[i].owner == owner;
    if (n == 0) return SIZE_MAX;
    size_t k = take(r) % n;
    for (size_t i = 0; i < s->nlive; i++)
        if (s->live[i].owner == owner && k-- == 0) return i;
    return SIZE_MAX;
}

static bool resizable(const fuzz_state *s, const fblock *b) {
    return b->owner != A_ARENA || s->nmarks == 0 || b->seq > s->mark_seq[s->nmarks - 1];
}

static void forget_owner(fuzz_state *s, int owner) {
    for (size_t i = s->nlive; i-- > 0;)
        if (s->live[i].owner == owner) drop(s, i);
}

static void op(fuzz_state *s, reader *r) {
    unsigned c = take(r);
    int owner = (int)((c >> 4) % A_COUNT);
    bool iface = (c >> 6) & 1;
    alloy_allocator a = s->a[owner];
    switch (c % 8) {
    case 0:
    case 1: { /* allocate */
        if (s->nlive == MAX_LIVE) break;
        size_t size = owner == A_POOL ? 1 + take(r) % s->pool_block : take_size(r);
        size_t align = (size_t)1 << (take(r) % (owner == A_POOL ? 4 : 10));
        void *p;
        if (iface)
            p = alloy_alloc(a, size, align);
        else if (owner == A_ARENA)
            p = alloy_arena_alloc(&s->arena, size, align);
        else if (owner == A_POOL)
            p = align <= 8 ? alloy_pool_alloc(&s->pool) : NULL;
        else
            p = alloy_fixed_alloc(&s->fixed, size, align);
        if (p == NULL && owner != A_FIXED && !(owner == A_POOL && align > 8))
            die("allocation failed", NULL);
        if (p != NULL) add_block(s, owner, p, size, align);
        break;
    }
    case 2: { /* free */
        size_t i = pick(s, r, owner);
        if (i == SIZE_MAX) break;
        fblock *b = &s->live[i];
        check(b);
        if (iface)
            alloy_dealloc(a, b->p, b->size, b->align);
        else if (owner == A_ARENA)
            alloy_arena_free(&s->arena, b->p, b->size);
        else if (owner == A_POOL)
            alloy_pool_free(&s->pool, b->p);
        else
            alloy_fixed_free(&s->fixed, b->p, b->size);
        drop(s, i);
        break;
    }
    case 3:
    case 4: { /* resize in place, or reallocate */
        size_t i = pick(s, r, owner);
        if (i == SIZE_MAX || !resizable(s, &s->live[i])) break;
        fblock *b = &s->live[i];
        check(b);
        size_t size = owner == A_POOL ? 1 + take(r) % s->pool_block : take_size(r);
        if (c % 8 == 3) {
            if (!alloy_resize(a, b->p, b->size, size, b->align)) break;
            size_t keep = size < b->size ? size : b->size;
            if (pattern_check(b->p, keep, b->seed) != keep) die("resize lost contents", b);
            b->size = size;
            pattern_fill(b->p, size, b->seed);
            fblock moved = *b;
            drop(s, i);
            check_new(s, &moved);
            s->live[s->nlive++] = moved;
        } else {
            unsigned char *q = alloy_reallocate(a, b->p, b->size, size, b->align);
            if (q == NULL) break; /* the old block stays valid */
            size_t keep = size < b->size ? size : b->size;
            fblock nb = *b;
            nb.p = q;
            nb.size = size;
            if (pattern_check(q, keep, b->seed) != keep) die("reallocate lost contents", &nb);
            drop(s, i);
            if (q != b->p || owner != A_ARENA) nb.seq = ++s->seq;
            check_new(s, &nb);
            pattern_fill(q, size, nb.seed);
            s->live[s->nlive++] = nb;
        }
        break;
    }
    case 5: { /* reset */
        unsigned m = take(r);
        if (m % 4 != 0) break; /* keep resets rare enough for long sequences */
        if (owner == A_ARENA) {
            size_t keep = m & 16   ? ALLOY_ARENA_RETAIN
                          : m & 32 ? ALLOY_ARENA_FREE_ALL
                                   : (size_t)m << 8;
            alloy_arena_reset(&s->arena, keep);
            s->nmarks = 0;
        } else if (owner == A_POOL) {
            alloy_pool_reset(&s->pool);
        } else {
            alloy_fixed_reset(&s->fixed);
        }
        forget_owner(s, owner);
        break;
    }
    case 6: { /* arena marks */
        if (take(r) & 1) {
            if (s->nmarks == MAX_MARKS) break;
            s->marks[s->nmarks] = alloy_arena_save(&s->arena);
            s->mark_seq[s->nmarks++] = s->seq;
        } else if (s->nmarks > 0) {
            s->nmarks--;
            alloy_arena_restore(&s->arena, s->marks[s->nmarks]);
            for (size_t i = s->nlive; i-- > 0;)
                if (s->live[i].owner == A_ARENA && s->live[i].seq > s->mark_seq[s->nmarks])
                    drop(s, i);
        }
        break;
    }
    default:
        check_all(s);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fuzz_state s;
    memset(&s, 0, sizeof s);
    reader r = {data, size, 0};
    for (int i = 0; i < A_COUNT; i++) alloy_tally_init(&s.tally[i], alloy_heap());
    alloy_arena_options opt = {256 + 64 * (size_t)(take(&r) % 16), 8192, 0};
    alloy_arena_init_ex(&s.arena, alloy_tally_allocator(&s.tally[A_ARENA]), &opt);
    s.pool_block = 8 + take(&r) % 200;
    if (!alloy_pool_init(&s.pool, alloy_tally_allocator(&s.tally[A_POOL]), s.pool_block, 8))
        abort();
    s.fixed_buf = alloy_alloc(alloy_tally_allocator(&s.tally[A_FIXED]), FIXED_BYTES, 16);
    if (s.fixed_buf == NULL) abort();
    alloy_fixed_init(&s.fixed, s.fixed_buf, FIXED_BYTES);
    s.a[A_ARENA] = alloy_arena_allocator(&s.arena);
    s.a[A_POOL] = alloy_pool_allocator(&s.pool);
    s.a[A_FIXED] = alloy_fixed_allocator(&s.fixed);
    while (r.i < r.n) op(&s, &r);
    check_all(&s);
    alloy_arena_deinit(&s.arena);
    alloy_pool_deinit(&s.pool);
    alloy_fixed_deinit(&s.fixed);
    alloy_dealloc(alloy_tally_allocator(&s.tally[A_FIXED]), s.fixed_buf, FIXED_BYTES, 16);
    for (int i = 0; i < A_COUNT; i++) {
        alloy_tally_report rep;
        alloy_tally_stats_get(&s.tally[i], &rep);
        if (rep.totals.current_count != 0) die("memory not returned to the parent", NULL);
    }
    return 0;
}
