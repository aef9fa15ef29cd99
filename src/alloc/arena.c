/* SPDX-License-Identifier: MIT */
/* src/alloc/arena.c - the arena's slow paths: chunks, large blocks, marks.
 *
 * Chunks in use form a list from the current one back to the oldest; each
 * records, once the arena has moved past it, how much of it was used and how
 * much of its tail was left over, so stats need no work on the fast path.
 * Large blocks carry a header (list links, parent size, sequence number) in
 * front of the data; sequence numbers let a mark find the blocks made after
 * it even when older large blocks were freed in between.
 */
#include <alloy/arena.h>

#include <string.h>

struct alloy__arena_chunk {
    alloy__arena_chunk *prev; /* older chunk in use, or next retained chunk */
    size_t size;              /* bytes taken from the parent, header included */
    size_t used;              /* set when retired: bytes handed out */
    size_t waste;             /* set when retired: tail never handed out */
    /* data follows, 16-byte aligned */
};

struct alloy__arena_large {
    alloy__arena_large *next, *prev; /* newer first */
    size_t total;                    /* bytes taken from the parent */
    size_t palign;                   /* alignment asked of the parent */
    size_t size;                     /* bytes the caller asked for */
    size_t offset;                   /* from header start to data */
    uint64_t seq;
};

#define CHUNK_HDR ((sizeof(alloy__arena_chunk) + 15u) & ~(size_t)15u)
#define PARENT_ALIGN 16u
#define MIN_CHUNK 256u
#define DEFAULT_CHUNK 4096u
#define DEFAULT_MAX_CHUNK ((size_t)64 << 20)

static inline size_t round_grain(size_t n) {
    return (n + (ALLOY_ARENA_GRAIN - 1)) & ~(size_t)(ALLOY_ARENA_GRAIN - 1);
}
static inline char *chunk_data(alloy__arena_chunk *c) {
    return (char *)c + CHUNK_HDR;
}
static inline char *chunk_end(alloy__arena_chunk *c) {
    return (char *)c + c->size;
}

/* cur == end != NULL with nothing to point at: the arena itself serves as the
 * empty position, so the fast path needs no NULL test. */
static void set_empty(alloy_arena *a) {
    a->h.cur = a->h.end = (char *)a;
}

void alloy_arena_init_ex(alloy_arena *a, alloy_allocator parent, const alloy_arena_options *opt) {
    memset(a, 0, sizeof *a);
    a->parent = parent;
    size_t chunk = opt != NULL && opt->chunk_size != 0 ? opt->chunk_size : DEFAULT_CHUNK;
    if (chunk < MIN_CHUNK) chunk = MIN_CHUNK;
    if (chunk > ALLOY_SIZE_LIMIT / 4) chunk = ALLOY_SIZE_LIMIT / 4;
    chunk = (chunk + 15u) & ~(size_t)15u;
    size_t max = opt != NULL && opt->max_chunk_size != 0 ? opt->max_chunk_size : DEFAULT_MAX_CHUNK;
    if (max < chunk) max = chunk;
    a->first_chunk = a->next_chunk = chunk;
    a->max_chunk = max;
    size_t large = opt != NULL && opt->large_threshold != 0 ? opt->large_threshold : chunk / 4;
    a->h.large_threshold = large < ALLOY_ARENA_MIN_LARGE ? ALLOY_ARENA_MIN_LARGE : large;
    set_empty(a);
}

void alloy_arena_init(alloy_arena *a, alloy_allocator parent, size_t chunk_size) {
    alloy_arena_options opt = {chunk_size, 0, 0};
    alloy_arena_init_ex(a, parent, &opt);
}

/* ---- chunks -------------------------------------------------------------- */

/* Make c (not in the in-use list) the current chunk, retiring the old one. */
static void push_chunk(alloy_arena *a, alloy__arena_chunk *c) {
    if (a->chunk != NULL) {
        alloy__arena_chunk *old = a->chunk;
        old->used = (size_t)(a->h.cur - chunk_data(old));
        old->waste = (size_t)(a->h.end - a->h.cur);
        a->retired_used += old->used;
        a->retired_waste += old->waste;
    }
    c->prev = a->chunk;
    c->used = c->waste = 0;
    a->chunk = c;
    a->h.cur = chunk_data(c);
    a->h.end = chunk_end(c);
}

/* A chunk whose data can hold need bytes: a retained one, else a new one. */
static alloy__arena_chunk *get_chunk(alloy_arena *a, size_t need) {
    for (alloy__arena_chunk **pp = &a->spare; *pp != NULL; pp = &(*pp)->prev) {
        alloy__arena_chunk *c = *pp;
        if (c->size - CHUNK_HDR >= need) {
            *pp = c->prev;
            return c;
        }
    }
    size_t size = a->next_chunk;
    if (need > size - CHUNK_HDR) {
        if (need > ALLOY_SIZE_LIMIT - CHUNK_HDR - 15u) return NULL;
        size = (need + CHUNK_HDR + 15u) & ~(size_t)15u;
    }
    alloy__arena_chunk *c = (alloy__arena_chunk *)alloy_alloc(a->parent, size, PARENT_ALIGN);
    if (c == NULL) return NULL;
    c->size = size;
    a->committed += size;
    if (a->next_chunk < a->max_chunk) {
        size_t next = a->next_chunk * 2;
        a->next_chunk = next > a->max_chunk ? a->max_chunk : next;
    }
    return c;
}

static void release_chunk(alloy_arena *a, alloy__arena_chunk *c) {
    a->committed -= c->size;
    alloy_dealloc(a->parent, c, c->size, PARENT_ALIGN);
}

/* ---- large blocks -------------------------------------------------------- */

static void *large_alloc(alloy_arena *a, size_t size, size_t align) {
    size_t palign = align > PARENT_ALIGN ? align : PARENT_ALIGN;
    size_t offset = (sizeof(alloy__arena_large) + palign - 1) & ~(palign - 1);
    if (offset < sizeof(alloy__arena_large) || size > ALLOY_SIZE_LIMIT - offset) return NULL;
    size_t total = offset + size;
    alloy__arena_large *l = (alloy__arena_large *)alloy_alloc(a->parent, total, palign);
    if (l == NULL) return NULL;
    l->total = total;
    l->palign = palign;
    l->size = size;
    l->offset = offset;
    l->seq = ++a->large_seq;
    l->prev = NULL;
    l->next = a->large;
    if (a->large != NULL) a->large->prev = l;
    a->large = l;
    a->committed += total;
    a->large_bytes += size;
    a->large_count++;
    return (char *)l + offset;
}

static alloy__arena_large *large_find(const alloy_arena *a, const void *p) {
    for (alloy__arena_large *l = a->large; l != NULL; l = l->next)
        if ((const char *)l + l->offset == (const char *)p) return l;
    return NULL;
}

static void large_unlink(alloy_arena *a, alloy__arena_large *l) {
    if (l->prev != NULL)
        l->prev->next = l->next;
    else
        a->large = l->next;
    if (l->next != NULL) l->next->prev = l->prev;
}

static void large_free(alloy_arena *a, alloy__arena_large *l) {
    large_unlink(a, l);
    a->committed -= l->total;
    a->large_bytes -= l->size;
    a->large_count--;
    alloy_dealloc(a->parent, l, l->total, l->palign);
}

/* ---- allocation ---------------------------------------------------------- */

void *alloy__arena_alloc_slow(alloy_arena *a, size_t size, size_t align) {
    if (ALLOY_UNLIKELY(!alloy_align_ok(align) || size > ALLOY_SIZE_LIMIT)) return NULL;
    if (size > a->h.large_threshold) return large_alloc(a, size, align);
    size_t slack = align > ALLOY_ARENA_GRAIN ? align - 1 : 0;
    if (size > ALLOY_SIZE_LIMIT - slack) return NULL;
    alloy__arena_chunk *c = get_chunk(a, round_grain(size) + slack);
    if (c == NULL) return NULL;
    push_chunk(a, c);
    return alloy_arena_alloc(a, size, align);
}

static bool is_last(const alloy_arena *a, const void *p, size_t size) {
    uintptr_t q = (uintptr_t)p;
    return a->chunk != NULL && q >= (uintptr_t)chunk_data(a->chunk) && q < (uintptr_t)a->h.end &&
           (uintptr_t)a->h.cur - q == round_grain(size);
}

void alloy_arena_free(alloy_arena *a, void *p, size_t size) {
    if (p == NULL || size == 0) return;
    if (is_last(a, p, size)) {
        a->h.cur = (char *)p;
        return;
    }
    if (size > a->h.large_threshold && a->large != NULL) {
        alloy__arena_large *l = large_find(a, p);
        if (l != NULL) large_free(a, l);
    }
}

bool alloy_arena_resize(alloy_arena *a, void *p, size_t size, size_t new_size) {
    if (p == NULL || new_size > ALLOY_SIZE_LIMIT) return false;
    if (is_last(a, p, size)) {
        if (new_size > (size_t)(a->h.end - (char *)p)) return false;
        a->h.cur = (char *)p + round_grain(new_size);
        return true;
    }
    if (size > a->h.large_threshold && a->large != NULL) {
        alloy__arena_large *l = large_find(a, p);
        if (l != NULL) {
            if (new_size > l->total - l->offset) return false;
            a->large_bytes = a->large_bytes - l->size + new_size;
            l->size = new_size;
            return true;
        }
    }
    return new_size <= size; /* shrinking leaves the tail unused until reset */
}

/* ---- reset and marks ----------------------------------------------------- */

static void free_large_after(alloy_arena *a, uint64_t seq) {
    while (a->large != NULL && a->large->seq > seq) large_free(a, a->large);
}

/* Take a retained chunk as current, if there is one. */
static void current_from_spare(alloy_arena *a) {
    alloy__arena_chunk *c = a->spare;
    if (c == NULL) return;
    a->spare = c->prev;
    push_chunk(a, c);
}

void alloy_arena_reset(alloy_arena *a, size_t keep) {
    free_large_after(a, 0);
    /* In-use chunks newest (largest) first, then the retained ones. */
    alloy__arena_chunk *in_use = a->chunk, *spare = a->spare;
    a->chunk = a->spare = NULL;
    alloy__arena_chunk *kept_tail = NULL;
    size_t kept = 0;
    for (int pass = 0; pass < 2; pass++) {
        alloy__arena_chunk *c = pass == 0 ? in_use : spare;
        while (c != NULL) {
            alloy__arena_chunk *next = c->prev;
            if (c->size <= keep - kept) {
                kept += c->size;
                c->prev = NULL;
                if (kept_tail != NULL)
                    kept_tail->prev = c;
                else
                    a->spare = c;
                kept_tail = c;
            } else {
                release_chunk(a, c);
            }
            c = next;
        }
    }
    a->retired_used = a->retired_waste = 0;
    if (keep == ALLOY_ARENA_FREE_ALL) a->next_chunk = a->first_chunk;
    set_empty(a);
    current_from_spare(a);
}

alloy_arena_mark alloy_arena_save(const alloy_arena *a) {
    alloy_arena_mark m;
    m.chunk = a->chunk;
    m.cur = a->h.cur;
    m.large_seq = a->large_seq;
    return m;
}

void alloy_arena_restore(alloy_arena *a, alloy_arena_mark m) {
    free_large_after(a, m.large_seq);
    if (m.chunk == a->chunk) {
        if (m.chunk != NULL && m.cur < a->h.cur) a->h.cur = m.cur;
        return;
    }
    /* Retain every chunk newer than the mark's. */
    while (a->chunk != NULL && a->chunk != m.chunk) {
        alloy__arena_chunk *c = a->chunk;
        a->chunk = c->prev;
        if (a->chunk != NULL) {
            a->retired_used -= a->chunk->used;
            a->retired_waste -= a->chunk->waste;
        }
        c->prev = a->spare;
        a->spare = c;
    }
    if (a->chunk == NULL) {
        set_empty(a);
        current_from_spare(a);
        return;
    }
    a->h.cur = m.cur;
    a->h.end = chunk_end(a->chunk);
}

void alloy_arena_deinit(alloy_arena *a) {
    alloy_arena_reset(a, ALLOY_ARENA_FREE_ALL);
    set_empty(a);
}

void alloy_arena_stats_get(const alloy_arena *a, alloy_arena_stats *out) {
    memset(out, 0, sizeof *out);
    out->used = a->retired_used + a->large_bytes;
    out->wasted = a->retired_waste;
    if (a->chunk != NULL) out->used += (size_t)(a->h.cur - chunk_data(a->chunk));
    out->committed = a->committed;
    for (const alloy__arena_chunk *c = a->chunk; c != NULL; c = c->prev) out->chunks++;
    for (const alloy__arena_chunk *c = a->spare; c != NULL; c = c->prev) out->chunks++;
    out->large_blocks = a->large_count;
}

/* ---- as an allocator value ----------------------------------------------- */

static void *arena_vt_alloc(void *ctx, size_t size, size_t align) {
    return alloy_arena_alloc((alloy_arena *)ctx, size, align);
}

static bool arena_vt_resize(void *ctx, void *p, size_t size, size_t new_size, size_t align) {
    (void)align;
    return alloy_arena_resize((alloy_arena *)ctx, p, size, new_size);
}

static void *arena_vt_remap(void *ctx, void *p, size_t size, size_t new_size, size_t align) {
    alloy_arena *a = ctx;
    if (alloy_arena_resize(a, p, size, new_size)) return p;
    alloy__arena_large *l =
        size > a->h.large_threshold && a->large != NULL ? large_find(a, p) : NULL;
    if (l == NULL || l->palign > PARENT_ALIGN || align > PARENT_ALIGN ||
        new_size > ALLOY_SIZE_LIMIT - l->offset)
        return NULL;
    /* Move the large block (header and all) through the parent, then relink. */
    alloy__arena_large *prev = l->prev, *next = l->next;
    size_t total = l->offset + new_size;
    alloy__arena_large *n =
        (alloy__arena_large *)alloy_remap(a->parent, l, l->total, total, l->palign);
    if (n == NULL) return NULL;
    if (prev != NULL)
        prev->next = n;
    else
        a->large = n;
    if (next != NULL) next->prev = n;
    a->committed = a->committed - n->total + total;
    a->large_bytes = a->large_bytes - n->size + new_size;
    n->total = total;
    n->size = new_size;
    return (char *)n + n->offset;
}

static void arena_vt_free(void *ctx, void *p, size_t size, size_t align) {
    (void)align;
    alloy_arena_free((alloy_arena *)ctx, p, size);
}

static bool arena_vt_reset(void *ctx) {
    alloy_arena_reset((alloy_arena *)ctx, ALLOY_ARENA_RETAIN);
    return true;
}

const alloy_vtable alloy__arena_vtable = {
    .alloc = arena_vt_alloc,
    .resize = arena_vt_resize,
    .remap = arena_vt_remap,
    .free = arena_vt_free,
    .reset = arena_vt_reset,
    .stats = alloy_no_stats,
};

alloy_allocator alloy_arena_allocator(alloy_arena *a) {
    alloy_allocator r = {a, &alloy__arena_vtable};
    return r;
}
