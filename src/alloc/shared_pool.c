/* SPDX-License-Identifier: MIT */
/* src/alloc/shared_pool.c - the thread-safe pool: per-thread caches, slabs
 * owned by the cache that carved them, batched cross-thread frees.
 *
 * Ownership. A slab is aligned to its size and starts with a pointer to the
 * cache that carved it, so any block leads to its home cache by masking its
 * address. Only the thread holding a cache touches its free list, carve
 * range and pending batch; other threads reach it only through `remote`, an
 * atomic stack they push whole batches onto (release) and the owner empties
 * with one exchange (acquire) when its own list is dry. Push-only plus
 * take-all cannot suffer ABA.
 *
 * Threads. Each thread keeps a small direct-mapped table pool id -> cache
 * (reached through one initial-exec TLS pointer); ids are never reused, so entries for pools that
 * were destroyed simply never match again. Which thread holds which cache is registry state under
 * one global mutex (`registry`): creating or adopting a cache, thread exit (flush the pending
 * batch, give the cache up for adoption) and pool deinit (unlink caches from their threads) all
 * take it. Lock order: registry, then the pool's lock (which guards slabs, cache memory and every
 * call of the parent).
 */
#define _GNU_SOURCE
#include "../internal.h"

#include <alloy/pool.h>

#include <string.h>

typedef struct spool_thread spool_thread;

struct alloy__spool_cache {
    /* owner thread only */
    alloy__pool_node *free;
    char *carve, *carve_end;
    alloy__spool_cache *pend_to; /* home cache of the blocks in the pending batch */
    alloy__pool_node *pend_head, *pend_tail;
    unsigned pend_count;
    /* registry (under the registry lock) */
    spool_thread *owner; /* NULL: waiting for adoption */
    uint64_t pool_id;
    alloy__spool_cache *pool_next;
    alloy__spool_cache *tnext, *tprev;
    /* other threads push here */
    _Alignas(ALLOY_CACHE_LINE) alloy__pool_node *remote;
} __attribute__((aligned(ALLOY_CACHE_LINE)));

typedef struct spool_slab {
    alloy__spool_cache *cache; /* home of every block in the slab */
    alloy__pool_node link;     /* in the pool's slab list */
} spool_slab;

#define SLOTS 8u
#define BATCH 64u
#define MIN_SLAB ((size_t)64 << 10)
#define MAX_SLAB ((size_t)4 << 20)

/* Per-thread state, outside TLS (initial-exec TLS is scarce when liballoy is
 * dlopen'd): TLS holds one pointer, the state is uncounted backend memory. */
struct spool_thread {
    struct {
        uint64_t id;
        alloy__spool_cache *cache;
    } slot[SLOTS];
    alloy__spool_cache *caches; /* held by this thread (registry lock) */
};

static ALLOY_TLS spool_thread *me; /* NULL until this thread first uses a shared pool */
static pthread_mutex_t registry = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static uint64_t next_id = 1;

static inline unsigned slot_of(uint64_t id) {
    return (unsigned)(id & (SLOTS - 1));
}

/* ---- pending cross-thread frees ------------------------------------------ */

/* Push the chain head..tail onto to's remote list. */
static void push_list(alloy__spool_cache *to, alloy__pool_node *head, alloy__pool_node *tail) {
    alloy__pool_node *old = __atomic_load_n(&to->remote, __ATOMIC_RELAXED);
    do {
        tail->next = old;
    } while (!__atomic_compare_exchange_n(&to->remote, &old, head, true, __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED));
}

static void flush(alloy__spool_cache *c) {
    if (c->pend_head == NULL) return;
    push_list(c->pend_to, c->pend_head, c->pend_tail);
    c->pend_head = c->pend_tail = NULL;
    c->pend_count = 0;
}

/* ---- thread registry ----------------------------------------------------- */

static void thread_exit(void *arg) {
    spool_thread *t = arg;
    pthread_mutex_lock(&registry);
    for (alloy__spool_cache *c = t->caches; c != NULL; c = c->tnext) {
        flush(c);
        c->owner = NULL;
    }
    t->caches = NULL;
    pthread_mutex_unlock(&registry);
    me = NULL; /* a later use on this thread (another destructor) starts afresh */
    alloy__meta_free(t);
}

static void atfork_prepare(void) {
    pthread_mutex_lock(&registry);
}
static void atfork_release(void) {
    pthread_mutex_unlock(&registry);
}

static void make_key(void) {
    pthread_key_create(&exit_key, thread_exit);
    pthread_atfork(atfork_prepare, atfork_release, atfork_release);
}

static void thread_link(spool_thread *t, alloy__spool_cache *c) {
    c->owner = t;
    c->tprev = NULL;
    c->tnext = t->caches;
    if (t->caches != NULL) t->caches->tprev = c;
    t->caches = c;
}

static void thread_unlink(alloy__spool_cache *c) {
    spool_thread *t = c->owner;
    if (c->tprev != NULL)
        c->tprev->tnext = c->tnext;
    else
        t->caches = c->tnext;
    if (c->tnext != NULL) c->tnext->tprev = c->tprev;
    c->tnext = c->tprev = NULL;
    c->owner = NULL;
}

/* The calling thread's cache for p: held already, adopted, or new. NULL if the parent fails. */
static ALLOY_COLD alloy__spool_cache *cache_slow(alloy_shared_pool *p) {
    pthread_once(&exit_once, make_key);
    spool_thread *t = me;
    if (t == NULL) {
        alloy__init();
        t = (spool_thread *)alloy__meta_malloc(sizeof *t);
        if (t == NULL) return NULL;
        memset(t, 0, sizeof *t);
        me = t;
        pthread_setspecific(exit_key, t);
    }
    alloy__spool_cache *c = NULL;
    pthread_mutex_lock(&registry);
    for (alloy__spool_cache *h = t->caches; h != NULL; h = h->tnext)
        if (h->pool_id == p->id) {
            c = h;
            break;
        }
    if (c == NULL) {
        for (alloy__spool_cache *q = p->caches; q != NULL; q = q->pool_next)
            if (q->owner == NULL) {
                c = q;
                break;
            }
        if (c == NULL) {
            pthread_mutex_lock(&p->lock);
            c = (alloy__spool_cache *)alloy_alloc(p->parent, sizeof *c,
                                                  _Alignof(alloy__spool_cache));
            pthread_mutex_unlock(&p->lock);
            if (c != NULL) {
                memset(c, 0, sizeof *c);
                c->pool_id = p->id;
                c->pool_next = p->caches;
                p->caches = c;
            }
        }
        if (c != NULL) thread_link(t, c);
    }
    pthread_mutex_unlock(&registry);
    if (c != NULL) {
        unsigned i = slot_of(p->id);
        t->slot[i].id = p->id;
        t->slot[i].cache = c;
    }
    return c;
}

static inline alloy__spool_cache *my_cache(alloy_shared_pool *p) {
    spool_thread *t = me;
    unsigned i = slot_of(p->id);
    if (ALLOY_LIKELY(t != NULL && t->slot[i].id == p->id)) return t->slot[i].cache;
    return cache_slow(p);
}

/* ---- lifetime ------------------------------------------------------------ */

bool alloy_shared_pool_init(alloy_shared_pool *p, alloy_allocator parent, size_t block_size,
                            size_t align) {
    memset(p, 0, sizeof *p);
    if (block_size == 0 || !alloy_align_ok(align) || block_size > MAX_SLAB / 8 ||
        align > MAX_SLAB / 8)
        return false;
    alloy__pool_geometry(&block_size, &align);
    p->block_size = block_size;
    p->align = align;
    p->first_offset = (sizeof(spool_slab) + align - 1) & ~(align - 1);
    size_t slab = MIN_SLAB;
    while (slab < p->first_offset + 8 * p->block_size) slab *= 2;
    p->slab_size = slab;
    p->parent = parent;
    pthread_mutex_init(&p->lock, NULL);
    p->id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
    return true;
}

void alloy_shared_pool_deinit(alloy_shared_pool *p) {
    if (p->block_size == 0) return;
    pthread_mutex_lock(&registry);
    pthread_mutex_lock(&p->lock);
    for (alloy__spool_cache *c = p->caches, *next; c != NULL; c = next) {
        next = c->pool_next;
        if (c->owner != NULL) thread_unlink(c);
        alloy_dealloc(p->parent, c, sizeof *c, _Alignof(alloy__spool_cache));
    }
    p->caches = NULL;
    for (alloy__pool_node *l = p->slabs, *next; l != NULL; l = next) {
        next = l->next;
        alloy_dealloc(p->parent, (char *)l - offsetof(spool_slab, link), p->slab_size,
                      p->slab_size);
    }
    p->slabs = NULL;
    p->slab_count = 0;
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_unlock(&registry);
    pthread_mutex_destroy(&p->lock);
    p->block_size = 0;
}

/* ---- allocation ---------------------------------------------------------- */

static ALLOY_COLD void *refill(alloy_shared_pool *p, alloy__spool_cache *c) {
    alloy__pool_node *n = __atomic_exchange_n(&c->remote, NULL, __ATOMIC_ACQUIRE);
    if (n != NULL) {
        c->free = n->next;
        return n;
    }
    if ((size_t)(c->carve_end - c->carve) < p->block_size) {
        pthread_mutex_lock(&p->lock);
        spool_slab *s = (spool_slab *)alloy_alloc(p->parent, p->slab_size, p->slab_size);
        if (s != NULL) {
            s->cache = c;
            s->link.next = p->slabs;
            p->slabs = &s->link;
            p->slab_count++;
        }
        pthread_mutex_unlock(&p->lock);
        if (s == NULL) return NULL;
        c->carve = (char *)s + p->first_offset;
        c->carve_end = (char *)s + p->slab_size;
    }
    void *b = c->carve;
    c->carve += p->block_size;
    return b;
}

void *alloy_shared_pool_alloc(alloy_shared_pool *p) {
    alloy__spool_cache *c = my_cache(p);
    if (ALLOY_UNLIKELY(c == NULL)) return NULL;
    alloy__pool_node *n = c->free;
    if (ALLOY_UNLIKELY(n == NULL)) return refill(p, c);
    c->free = n->next;
    return n;
}

void alloy_shared_pool_free(alloy_shared_pool *p, void *b) {
    alloy__pool_node *n = (alloy__pool_node *)b;
    alloy__spool_cache *home =
        ((spool_slab *)((uintptr_t)b & ~(uintptr_t)(p->slab_size - 1)))->cache;
    alloy__spool_cache *c = my_cache(p);
    if (ALLOY_LIKELY(c == home)) {
        n->next = c->free;
        c->free = n;
        return;
    }
    if (ALLOY_UNLIKELY(c == NULL)) { /* no cache to batch in: push alone */
        push_list(home, n, n);
        return;
    }
    if (c->pend_to != home) {
        flush(c);
        c->pend_to = home;
    }
    n->next = c->pend_head;
    c->pend_head = n;
    if (c->pend_tail == NULL) c->pend_tail = n;
    if (++c->pend_count >= BATCH) flush(c);
}

void alloy_shared_pool_flush(alloy_shared_pool *p) {
    spool_thread *t = me;
    unsigned i = slot_of(p->id);
    if (t != NULL && t->slot[i].id == p->id) flush(t->slot[i].cache);
}

size_t alloy_shared_pool_slabs(alloy_shared_pool *p) {
    pthread_mutex_lock(&p->lock);
    size_t n = p->slab_count;
    pthread_mutex_unlock(&p->lock);
    return n;
}

/* ---- as an allocator value ----------------------------------------------- */

static void *spool_vt_alloc(void *ctx, size_t size, size_t align) {
    alloy_shared_pool *p = ctx;
    if (size > p->block_size || align > p->align) return NULL;
    return alloy_shared_pool_alloc(p);
}

static bool spool_vt_resize(void *ctx, void *b, size_t size, size_t new_size, size_t align) {
    (void)b, (void)size, (void)align;
    return new_size <= ((alloy_shared_pool *)ctx)->block_size;
}

static void *spool_vt_remap(void *ctx, void *b, size_t size, size_t new_size, size_t align) {
    (void)size, (void)align;
    return new_size <= ((alloy_shared_pool *)ctx)->block_size ? b : NULL;
}

static void spool_vt_free(void *ctx, void *b, size_t size, size_t align) {
    (void)size, (void)align;
    alloy_shared_pool_free((alloy_shared_pool *)ctx, b);
}

static const alloy_vtable spool_vtable = {
    .alloc = spool_vt_alloc,
    .resize = spool_vt_resize,
    .remap = spool_vt_remap,
    .free = spool_vt_free,
    .reset = alloy_no_reset,
    .stats = alloy_no_stats,
};

alloy_allocator alloy_shared_pool_allocator(alloy_shared_pool *p) {
    alloy_allocator r = {p, &spool_vtable};
    return r;
}
