/* SPDX-License-Identifier: MIT */
/* src/smr/domain.c - domains, per-thread records, thread exit and fork.
 *
 * A thread finds its record through a one-entry TLS cache (alloy__smr_tc,
 * read by the inline paths) backed by a small per-thread table of (domain,
 * serial, record). Serials are never reused, so a stale entry left by a
 * destroyed domain can never match a new one. One process-wide pthread key
 * runs at thread exit: each record still attached to a live domain hands its
 * blocks to the domain's orphan list, gives back its slot and is freed.
 */
#define _GNU_SOURCE
#include "smr_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

ALLOY_API ALLOY_TLS alloy__smr_tcache alloy__smr_tc;

typedef struct smr_tentry {
    alloy_smr *d;
    uint64_t serial;
    smr_rec *rec;
} smr_tentry;

typedef struct smr_thread {
    uint32_t n, cap;
    smr_tentry e[];
} smr_thread;

static ALLOY_TLS smr_thread *t_self;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static alloy_smr *g_domains; /* under g_lock */
static uint64_t g_serial;    /* under g_lock */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_key;
static bool g_key_ok;

static void thread_exit(void *arg);
static void atfork_prepare(void);
static void atfork_parent(void);
static void atfork_child(void);

static void global_init(void) {
    g_key_ok = pthread_key_create(&g_key, thread_exit) == 0;
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* If the library is unloaded, no exit destructor may point into it. */
__attribute__((destructor)) static void smr_unload(void) {
    if (g_key_ok) pthread_key_delete(g_key);
    g_key_ok = false;
}

static ALLOY_COLD void smr_oom(const char *what) {
    alloy__warn("smr: out of memory allocating %s", what);
    abort();
}

/* ---- blocks ----------------------------------------------------------------- */

smr_block *alloy__smr_block_new(smr_rec *r) {
    smr_block *b = r != NULL ? r->spare : NULL;
    if (b != NULL) {
        r->spare = b->next;
        r->nspare--;
    } else {
        b = alloy_malloc(sizeof *b);
        if (b == NULL) smr_oom("a retire block");
    }
    b->next = NULL;
    b->tag = 0;
    __atomic_store_n(&b->first, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
    return b;
}

void alloy__smr_block_recycle(smr_rec *r, smr_block *b) {
    if (r != NULL && r->nspare < 4) {
        b->next = r->spare;
        r->spare = b;
        r->nspare++;
        return;
    }
    alloy_free_sized(b, sizeof *b);
}

/* ---- orphans ------------------------------------------------------------------ */

void alloy__smr_orphans_push(alloy_smr *d, smr_block *list) {
    if (list == NULL) return;
    smr_block *last = list;
    while (last->next != NULL) last = last->next;
    pthread_mutex_lock(&d->orphan_lock);
    last->next = __atomic_load_n(&d->orphans, __ATOMIC_RELAXED);
    __atomic_store_n(&d->orphans, list, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&d->orphan_lock);
}

smr_block *alloy__smr_orphans_take(alloy_smr *d, bool wait) {
    if (__atomic_load_n(&d->orphans, __ATOMIC_RELAXED) == NULL) return NULL;
    if (wait)
        pthread_mutex_lock(&d->orphan_lock);
    else if (pthread_mutex_trylock(&d->orphan_lock) != 0)
        return NULL;
    smr_block *list = __atomic_load_n(&d->orphans, __ATOMIC_RELAXED);
    __atomic_store_n(&d->orphans, NULL, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&d->orphan_lock);
    return list;
}

/* ---- slots -------------------------------------------------------------------- */

static smr_chunk *chunk_new(void) {
    smr_chunk *c = alloy_malloc_aligned(sizeof *c, ALLOY_CACHE_LINE);
    if (c == NULL) return NULL;
    memset(c, 0, sizeof *c);
    for (int i = 0; i < SMR_CHUNK_SLOTS; i++) {
        c->line[i].s.word = ALLOY__SMR_IDLE;
        c->line[i].s.upper = 0;
    }
    return c;
}

/* Under d->lock. */
static smr_line *slot_acquire(alloy_smr *d) {
    for (smr_chunk *c = d->chunks; c != NULL; c = c->next) {
        for (int i = 0; i < SMR_CHUNK_SLOTS; i++) {
            if (!c->line[i].used) {
                c->line[i].used = 1;
                return &c->line[i];
            }
        }
    }
    smr_chunk *c = chunk_new();
    if (c == NULL) smr_oom("a slot chunk");
    c->line[0].used = 1;
    d->nslots += SMR_CHUNK_SLOTS;
    __atomic_store_n(&d->tail->next, c, __ATOMIC_RELEASE);
    d->tail = c;
    return &c->line[0];
}

/* ---- domains ------------------------------------------------------------------ */

alloy_smr *alloy_smr_create(alloy_smr_scheme scheme) {
    if (scheme != ALLOY_SMR_EBR && scheme != ALLOY_SMR_IBR) {
        errno = EINVAL;
        return NULL;
    }
    pthread_once(&g_once, global_init);
    alloy_smr *d = alloy_malloc_aligned(sizeof *d, ALLOY_CACHE_LINE);
    if (d == NULL) return NULL;
    memset(d, 0, sizeof *d);
    d->chunks = d->tail = chunk_new();
    if (d->chunks == NULL) {
        alloy_free_aligned_sized(d, ALLOY_CACHE_LINE, sizeof *d);
        return NULL;
    }
    d->nslots = SMR_CHUNK_SLOTS;
    d->head.scheme = (uint32_t)scheme;
    d->head.clock = 1; /* so birth 0 (unknown) is older than every era */
    pthread_mutex_init(&d->lock, NULL);
    pthread_mutex_init(&d->orphan_lock, NULL);
    pthread_mutex_lock(&g_lock);
    d->head.serial = ++g_serial;
    d->gnext = g_domains;
    g_domains = d;
    pthread_mutex_unlock(&g_lock);
    return d;
}

alloy_smr_scheme alloy_smr_scheme_of(const alloy_smr *d) {
    return (alloy_smr_scheme)d->head.scheme;
}

const char *alloy_smr_scheme_name(alloy_smr_scheme scheme) {
    switch (scheme) {
    case ALLOY_SMR_EBR:
        return "ebr";
    case ALLOY_SMR_IBR:
        return "ibr";
    }
    return "?";
}

/* Under g_lock. */
static bool domain_live(const alloy_smr *d, uint64_t serial) {
    for (alloy_smr *x = g_domains; x != NULL; x = x->gnext)
        if (x == d) return x->head.serial == serial;
    return false;
}

void alloy__smr_node_cache_drain(smr_rec *r) {
    for (void *p; (p = smr_node_take(r, r->node_foot)) != NULL;)
        alloy_free_aligned_sized(p, ALLOY_CACHE_LINE, r->node_foot);
}

static void rec_free(smr_rec *r) {
    alloy__smr_node_cache_drain(r);
    for (smr_block *b = r->spare, *n; b != NULL; b = n) {
        n = b->next;
        alloy_free_sized(b, sizeof *b);
    }
    if (r->snap != NULL) alloy_free_sized(r->snap, r->snap_cap * sizeof *r->snap);
    pthread_mutex_destroy(&r->lock);
    alloy_free_aligned_sized(r, ALLOY_CACHE_LINE, sizeof *r);
}

/* Unlink r from d, hand its blocks to the orphans, free it. Under d->lock,
 * with r->lock not held (or held by the caller in fork's child: pass locked). */
static void rec_detach(alloy_smr *d, smr_rec *r, bool locked) {
    if (!locked) pthread_mutex_lock(&r->lock);
    smr_block *list = r->sealed;
    r->sealed = NULL;
    smr_block *cur = r->hot.cur;
    r->hot.cur = NULL;
    if (__atomic_load_n(&cur->count, __ATOMIC_RELAXED) >
        __atomic_load_n(&cur->first, __ATOMIC_RELAXED)) {
        cur->tag = r->hot.cur_tag;
        cur->next = list;
        list = cur;
    } else {
        alloy__smr_block_recycle(r, cur);
    }
    pthread_mutex_unlock(&r->lock);
    alloy__smr_orphans_push(d, list);
    __atomic_fetch_add(&d->retired_gone, __atomic_load_n(&r->hot.retired, __ATOMIC_RELAXED),
                       __ATOMIC_RELAXED);
    __atomic_fetch_add(&d->freed_gone, __atomic_load_n(&r->freed, __ATOMIC_RELAXED),
                       __ATOMIC_RELAXED);
    __atomic_store_n(&r->line->s.word, ALLOY__SMR_IDLE, __ATOMIC_RELEASE);
    r->line->used = 0;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        d->recs = r->next;
    if (r->next != NULL) r->next->prev = r->prev;
    d->nrecs--;
    rec_free(r);
}

/* Drop the calling thread's entry for d; free its table once empty. (Other
 * threads' entries go stale harmlessly and are pruned or freed at their exit.) */
static void thread_forget(const alloy_smr *d) {
    smr_thread *t = t_self;
    if (t == NULL) return;
    uint32_t k = 0;
    for (uint32_t i = 0; i < t->n; i++)
        if (t->e[i].d != d || t->e[i].serial != d->head.serial) t->e[k++] = t->e[i];
    t->n = k;
    if (k == 0) {
        if (g_key_ok) pthread_setspecific(g_key, NULL);
        t_self = NULL;
        alloy_free_sized(t, sizeof *t + t->cap * sizeof t->e[0]);
    }
}

void alloy_smr_destroy(alloy_smr *d) {
    if (d == NULL) return;
    pthread_mutex_lock(&g_lock);
    for (alloy_smr **pp = &g_domains; *pp != NULL; pp = &(*pp)->gnext) {
        if (*pp == d) {
            *pp = d->gnext;
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
    /* From here on this thread's calls on d (a free function freeing a node) must not
     * find its record, which is about to be freed. */
    if (alloy__smr_tc.serial == d->head.serial) {
        alloy__smr_tc.serial = 0;
        alloy__smr_tc.rec = NULL;
    }
    /* The caller guarantees no section is open and nobody else uses d. */
    pthread_mutex_lock(&d->lock);
    for (smr_rec *r = d->recs, *n; r != NULL; r = n) {
        n = r->next;
        alloy__smr_free_all_locked(d, r);
        rec_free(r);
    }
    d->recs = NULL;
    pthread_mutex_unlock(&d->lock);
    __atomic_fetch_add(&d->freed_other,
                       alloy__smr_free_list(NULL, alloy__smr_orphans_take(d, true)),
                       __ATOMIC_RELAXED);
    for (smr_chunk *c = d->chunks, *n; c != NULL; c = n) {
        n = c->next;
        alloy_free_aligned_sized(c, ALLOY_CACHE_LINE, sizeof *c);
    }
    thread_forget(d);
    pthread_mutex_destroy(&d->lock);
    pthread_mutex_destroy(&d->orphan_lock);
    alloy_free_aligned_sized(d, ALLOY_CACHE_LINE, sizeof *d);
}

/* ---- joining ------------------------------------------------------------------ */

static smr_rec *rec_new(alloy_smr *d) {
    smr_rec *r = alloy_malloc_aligned(sizeof *r, ALLOY_CACHE_LINE);
    if (r == NULL) smr_oom("a thread record");
    memset(r, 0, sizeof *r);
    r->d = d;
    r->hot.scheme = d->head.scheme;
    r->threshold = ALLOY_SMR_IBR_SCAN_MIN;
    /* Under ALLOY_DEBUG=1 every node goes back to the debug heap, so its quarantine and
     * checks see writes after reclamation and double frees of nodes. */
    r->no_node_cache = alloy_debug_process() != NULL;
    pthread_mutex_init(&r->lock, NULL);
    r->hot.cur = alloy__smr_block_new(NULL);
    pthread_mutex_lock(&d->lock);
    r->line = slot_acquire(d);
    r->hot.slot = &r->line->s;
    r->seen = r->hot.cur_tag = __atomic_load_n(&d->head.clock, __ATOMIC_ACQUIRE);
    r->hot.budget =
        d->head.scheme == ALLOY_SMR_EBR ? ALLOY_SMR_EBR_EPOCH_RETIRES : ALLOY_SMR_IBR_SCAN_MIN;
    r->scan_chunk = d->chunks;
    r->next = d->recs;
    r->prev = NULL;
    if (d->recs != NULL) d->recs->prev = r;
    d->recs = r;
    d->nrecs++;
    pthread_mutex_unlock(&d->lock);
    return r;
}

/* Drop entries of domains that are gone. */
static void thread_prune(smr_thread *t) {
    pthread_mutex_lock(&g_lock);
    uint32_t k = 0;
    for (uint32_t i = 0; i < t->n; i++)
        if (domain_live(t->e[i].d, t->e[i].serial)) t->e[k++] = t->e[i];
    t->n = k;
    pthread_mutex_unlock(&g_lock);
}

alloy__smr_hot *alloy__smr_join(alloy_smr *d) {
    smr_thread *t = t_self;
    uint64_t serial = d->head.serial;
    if (t != NULL) {
        for (uint32_t i = 0; i < t->n; i++) {
            if (t->e[i].serial == serial) {
                alloy__smr_tc.serial = serial;
                alloy__smr_tc.rec = &t->e[i].rec->hot;
                return &t->e[i].rec->hot;
            }
        }
        if (t->n == t->cap) thread_prune(t);
    }
    if (t == NULL || t->n == t->cap) {
        uint32_t cap = t == NULL ? 4 : t->cap * 2;
        smr_thread *nt = alloy_malloc(sizeof *nt + cap * sizeof nt->e[0]);
        if (nt == NULL) smr_oom("a thread table");
        nt->n = 0;
        nt->cap = cap;
        if (t != NULL) {
            memcpy(nt->e, t->e, t->n * sizeof t->e[0]);
            nt->n = t->n;
            alloy_free_sized(t, sizeof *t + t->cap * sizeof t->e[0]);
        }
        t = t_self = nt;
        if (g_key_ok) pthread_setspecific(g_key, t);
    }
    smr_rec *r = rec_new(d);
    t->e[t->n++] = (smr_tentry){d, serial, r};
    alloy__smr_tc.serial = serial;
    alloy__smr_tc.rec = &r->hot;
    return &r->hot;
}

static void thread_exit(void *arg) {
    smr_thread *t = arg;
    alloy__smr_tc.serial = 0;
    alloy__smr_tc.rec = NULL;
    t_self = NULL;
    pthread_mutex_lock(&g_lock);
    for (uint32_t i = 0; i < t->n; i++) {
        alloy_smr *d = t->e[i].d;
        if (!domain_live(d, t->e[i].serial)) continue;
        pthread_mutex_lock(&d->lock);
        rec_detach(d, t->e[i].rec, false);
        pthread_mutex_unlock(&d->lock);
    }
    pthread_mutex_unlock(&g_lock);
    alloy_free_sized(t, sizeof *t + t->cap * sizeof t->e[0]);
}

/* ---- stats --------------------------------------------------------------------- */

bool alloy_smr_stats_get(alloy_smr *d, alloy_smr_stats *out) {
    memset(out, 0, sizeof *out);
    if (d == NULL) return false;
    pthread_mutex_lock(&d->lock);
    uint64_t retired = __atomic_load_n(&d->retired_gone, __ATOMIC_RELAXED);
    uint64_t freed = __atomic_load_n(&d->freed_gone, __ATOMIC_RELAXED) +
                     __atomic_load_n(&d->freed_other, __ATOMIC_RELAXED);
    uint64_t cached = 0;
    for (smr_rec *r = d->recs; r != NULL; r = r->next) {
        retired += __atomic_load_n(&r->hot.retired, __ATOMIC_RELAXED);
        freed += __atomic_load_n(&r->freed, __ATOMIC_RELAXED);
        cached += __atomic_load_n(&r->nnodes, __ATOMIC_RELAXED);
    }
    out->threads = d->nrecs;
    out->slots = d->nslots;
    pthread_mutex_unlock(&d->lock);
    out->retired = retired;
    out->freed = freed;
    out->cached = cached;
    out->pending = retired > freed ? retired - freed : 0;
    out->clock = __atomic_load_n(&d->head.clock, __ATOMIC_RELAXED);
    return true;
}

/* ---- fork ---------------------------------------------------------------------- */

static void atfork_prepare(void) {
    pthread_mutex_lock(&g_lock);
    for (alloy_smr *d = g_domains; d != NULL; d = d->gnext) {
        pthread_mutex_lock(&d->lock);
        for (smr_rec *r = d->recs; r != NULL; r = r->next) pthread_mutex_lock(&r->lock);
        pthread_mutex_lock(&d->orphan_lock);
    }
}

static void atfork_parent(void) {
    for (alloy_smr *d = g_domains; d != NULL; d = d->gnext) {
        pthread_mutex_unlock(&d->orphan_lock);
        for (smr_rec *r = d->recs; r != NULL; r = r->next) pthread_mutex_unlock(&r->lock);
        pthread_mutex_unlock(&d->lock);
    }
    pthread_mutex_unlock(&g_lock);
}

static bool is_mine(const smr_rec *r) {
    const smr_thread *t = t_self;
    if (t == NULL) return false;
    for (uint32_t i = 0; i < t->n; i++)
        if (t->e[i].rec == r) return true;
    return false;
}

/* Only this thread exists in the child: the other records' sections are gone,
 * so their nodes go to the orphans and the records are freed. */
static void atfork_child(void) {
    for (alloy_smr *d = g_domains; d != NULL; d = d->gnext) {
        pthread_mutex_unlock(&d->orphan_lock);
        for (smr_rec *r = d->recs, *n; r != NULL; r = n) {
            n = r->next;
            if (is_mine(r))
                pthread_mutex_unlock(&r->lock);
            else
                rec_detach(d, r, true);
        }
        pthread_mutex_unlock(&d->lock);
    }
    pthread_mutex_unlock(&g_lock);
}
