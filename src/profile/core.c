/* SPDX-License-Identifier: MIT */
/* src/profile/core.c - profiler state: options, per-thread slots, block
 * records, the hooks the layer calls, and the snapshot.
 *
 * Block records (full mode: every block; sampled mode: the sampled ones) sit in
 * 256 shards of open-addressed tables in mmap'd pages, each under a spin lock,
 * keyed by address. A record holds the requested size, the allocating
 * thread's slot index and the allocation stack id; a free takes it out before
 * the block goes back to the backend, so the address cannot be handed out
 * again while its old record is still in.
 */
#define _GNU_SOURCE
#include "profile_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../debug/debug_internal.h"

ALLOY_TLS pf_self alloy__pf_self;
int alloy__pf_running;
uint32_t alloy__pf_live = PF_STOPPED;
pf_config alloy__pf_cfg;

static const alloy__backend *below_tab;
static alloy_debug_unwinder unwinder = ALLOY_DEBUG_UNWIND_FP;
static double start_wall;
static uint64_t start_mono;

void alloy__pf_set_below(const alloy__backend *below) {
    below_tab = below;
}
const alloy__backend *alloy__pf_below(void) {
    return below_tab;
}
const char *alloy__pf_backend_name(void) {
    return below_tab != NULL && below_tab->name != NULL ? below_tab->name : "unknown";
}

void *alloy__pf_pages(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}
void alloy__pf_unpages(void *p, size_t bytes) {
    if (p != NULL) munmap(p, bytes);
}

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* ---- spin locks ------------------------------------------------------------ */
typedef struct pf_lock {
    int v;
} pf_lock;
static inline void lock_take(pf_lock *l) {
    while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE) != 0) {
        for (unsigned spins = 0; __atomic_load_n(&l->v, __ATOMIC_RELAXED) != 0; spins++) {
            if (spins >= 64) sched_yield();
#if defined(__x86_64__)
            else
                __builtin_ia32_pause();
#endif
        }
    }
}
static inline bool lock_try(pf_lock *l) {
    return __atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE) == 0;
}
static inline void lock_drop(pf_lock *l) {
    __atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}

/* ---- options ----------------------------------------------------------------- */
void alloy_profile_options_init(alloy_profile_options *o) {
    if (o == NULL) return;
    memset(o, 0, sizeof *o);
    o->track_sizes = true;
    o->track_latency = true;
    o->track_per_thread = true;
    o->track_cross_thread = true;
    o->detect_leaks = true;
    o->capture_stacks = false;
    o->stack_depth = 16;
    o->sample_bytes = 0;
    o->latency_every = 1;
    o->timeline_ms = 10;
    o->top_sizes = 10;
}

bool alloy__pf_options_ok(const alloy_profile_options *o) {
    return o->stack_depth >= 1 && o->stack_depth <= 64 && o->top_sizes <= 64 &&
           o->timeline_ms <= 60000u && o->sample_bytes <= ((size_t)1 << 40);
}

/* ---- per-thread slots -------------------------------------------------------- */
static pf_slot *slots[PF_MAX_THREADS];
static uint32_t nslots; /* atomic: slots handed out (may exceed PF_MAX_THREADS - 1) */
static pf_slot *overflow;
static pthread_key_t exit_key;
static int exit_key_state; /* 0 none, 1 creating, 2 ready */

static void on_thread_exit(void *arg) {
    pf_slot *s = arg;
    if (s == NULL || s->shared) return;
    char name[16] = {0};
    if (prctl(PR_GET_NAME, name, 0, 0, 0) == 0) {
        for (size_t i = 0; i < sizeof name; i++)
            __atomic_store_n(&s->name[i], name[i], __ATOMIC_RELAXED);
    }
    /* The slot stays this thread's: frees made by later TLS destructors still count in it. */
    __atomic_store_n(&s->exited, 1, __ATOMIC_RELEASE);
}

static void exit_key_init(void) {
    int st = 0;
    if (__atomic_compare_exchange_n(&exit_key_state, &st, 1, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        bool ok = pthread_key_create(&exit_key, on_thread_exit) == 0;
        __atomic_store_n(&exit_key_state, ok ? 2 : -1, __ATOMIC_RELEASE);
    }
}

/* Zero a slot's counters with atomic stores (a reader may still be reading). */
static void slot_zero(pf_slot *s) {
    uint64_t *w = &s->alloc_count;
    uint64_t *end = (uint64_t *)(void *)(s + 1);
    for (; w < end; w++) __atomic_store_n(w, 0, __ATOMIC_RELAXED);
}

static uint16_t *filter; /* sampled mode: counting filter of recorded addresses */
static int64_t next_interval(pf_self *me);

/* The slow half of alloy__pf_on: a thread's first call, or its first after a
 * start, stop, reset or fork. */
bool alloy__pf_enter(pf_self *me) {
    if (me->inside != 0) return false;
    uint32_t live = __atomic_load_n(&alloy__pf_live, __ATOMIC_ACQUIRE);
    if (live == PF_STOPPED) return false;
    if (ALLOY_UNLIKELY(__atomic_load_n(&alloy__pf_want_thread, __ATOMIC_RELAXED) != 0)) {
        me->inside++;
        alloy__pf_thread_kick();
        me->inside--;
        live = __atomic_load_n(&alloy__pf_live, __ATOMIC_ACQUIRE);
        if (live == PF_STOPPED) return false;
    }
    pf_slot *s = me->slot;
    if (s == NULL) {
        uint32_t idx = __atomic_fetch_add(&nslots, 1, __ATOMIC_RELAXED);
        if (idx < PF_MAX_THREADS - 1) s = alloy__pf_pages(sizeof(pf_slot));
        if (s == NULL) {
            s = overflow;
        } else {
            s->index = idx;
            s->tid = (uint64_t)syscall(SYS_gettid);
            s->gen = live;
            __atomic_store_n(&slots[idx], s, __ATOMIC_RELEASE);
            if (__atomic_load_n(&exit_key_state, __ATOMIC_ACQUIRE) == 2)
                pthread_setspecific(exit_key, s);
        }
        me->slot = s;
        me->rng = (uint64_t)(uintptr_t)me ^ alloy__pf_now() ^ 0x9e3779b97f4a7c15ull;
    }
    /* The overflow slot is zeroed by the reset itself. */
    if (!s->shared && __atomic_load_n(&s->gen, __ATOMIC_RELAXED) != live) {
        slot_zero(s);
        __atomic_store_n(&s->gen, live, __ATOMIC_RELEASE);
    }
    const alloy_profile_options *o = &alloy__pf_cfg.o;
    me->shared = s->shared;
    me->pending = 0;
    me->slack = alloy__pf_cfg.slack;
    me->lat_left = o->track_latency ? 1u : 0u;
    me->filter = filter;
    if (!(o->track_cross_thread || o->detect_leaks)) {
        me->recs = PF_RECS_NONE;
        me->sample_left = INT64_MAX;
    } else if (o->sample_bytes == 0) {
        me->recs = PF_RECS_ALL;
        me->sample_left = 0;
    } else {
        me->recs = PF_RECS_SAMPLED;
        me->sample_left = next_interval(me);
    }
    me->gen = live;
    return true;
}

/* ---- live bytes and the peak -----------------------------------------------------
 * Each thread adds its net change to `pending` and folds it into live_bytes
 * when it passes the slack: at every change in full mode (slack 0: the peak
 * is exact), every 256 KiB in sampled mode. */
static int64_t live_bytes; /* atomic: folded from threads' pending */
static int64_t peak_bytes; /* atomic */

void alloy__pf_fold(int64_t delta) {
    int64_t now = __atomic_add_fetch(&live_bytes, delta, __ATOMIC_RELAXED);
    int64_t pk = __atomic_load_n(&peak_bytes, __ATOMIC_RELAXED);
    while (now > pk && !__atomic_compare_exchange_n(&peak_bytes, &pk, now, true, __ATOMIC_RELAXED,
                                                    __ATOMIC_RELAXED)) {
    }
}

/* ---- block records ------------------------------------------------------------ */
#define SHARDS 256u
#define FILTER_SLOTS PF_FILTER_SLOTS

typedef struct pf_rec {
    uintptr_t key;
    uint64_t size;
    uint32_t owner, stack;
} pf_rec;

typedef struct pf_shard {
    pf_lock lock;
    uint32_t cap, count;
    pf_rec *tab;
} __attribute__((aligned(ALLOY_CACHE_LINE))) pf_shard;

static pf_shard shards[SHARDS];

static inline uint64_t key_hash(uintptr_t p) {
    return alloy__pf_addr_hash(p);
}

/* The shard of a block: by its 1 MiB region, so that a thread whose backend gives it memory of
 * its own (mimalloc's per-thread segments, glibc's per-thread arenas) mostly takes locks and
 * lines no other thread touches. */
static inline pf_shard *shard_of(uintptr_t p) {
    uint64_t h = (uint64_t)(p >> 20) * 0x9e3779b97f4a7c15ull;
    return &shards[h >> 56];
}

static bool shard_grow(pf_shard *sh) {
    uint32_t ncap = sh->cap ? sh->cap * 2u : 64u;
    pf_rec *nt = alloy__pf_pages((size_t)ncap * sizeof(pf_rec));
    if (nt == NULL) return false;
    for (uint32_t i = 0; i < sh->cap; i++) {
        pf_rec r = sh->tab[i];
        if (r.key == 0) continue;
        uint32_t j = (uint32_t)key_hash(r.key) & (ncap - 1u);
        while (nt[j].key != 0) j = (j + 1u) & (ncap - 1u);
        nt[j] = r;
    }
    alloy__pf_unpages(sh->tab, (size_t)sh->cap * sizeof(pf_rec));
    sh->tab = nt;
    sh->cap = ncap;
    return true;
}

static inline __attribute__((always_inline)) void rec_put(uintptr_t key, uint64_t size,
                                                          uint32_t owner, uint32_t stack) {
    uint64_t h = key_hash(key);
    pf_shard *sh = shard_of(key);
    lock_take(&sh->lock);
    if ((sh->count + 1u) * 2u > sh->cap && !shard_grow(sh)) {
        lock_drop(&sh->lock);
        return;
    }
    uint32_t m = sh->cap - 1u, j = (uint32_t)h & m;
    while (sh->tab[j].key != 0 && sh->tab[j].key != key) j = (j + 1u) & m;
    if (sh->tab[j].key == 0) {
        sh->count++;
        if (filter != NULL)
            __atomic_fetch_add(&filter[h & (FILTER_SLOTS - 1u)], 1, __ATOMIC_RELAXED);
    }
    sh->tab[j] = (pf_rec){key, size, owner, stack};
    lock_drop(&sh->lock);
}

static inline __attribute__((always_inline)) bool rec_take(uintptr_t key, pf_rec *out) {
    uint64_t h = key_hash(key);
    if (filter != NULL && __atomic_load_n(&filter[h & (FILTER_SLOTS - 1u)], __ATOMIC_RELAXED) == 0)
        return false;
    pf_shard *sh = shard_of(key);
    lock_take(&sh->lock);
    if (sh->cap == 0) {
        lock_drop(&sh->lock);
        return false;
    }
    uint32_t m = sh->cap - 1u, j = (uint32_t)h & m;
    while (sh->tab[j].key != 0 && sh->tab[j].key != key) j = (j + 1u) & m;
    if (sh->tab[j].key == 0) {
        lock_drop(&sh->lock);
        return false;
    }
    *out = sh->tab[j];
    /* Backward-shift deletion: no tombstones. */
    uint32_t hole = j;
    for (uint32_t k = (j + 1u) & m; sh->tab[k].key != 0; k = (k + 1u) & m) {
        uint32_t home = (uint32_t)key_hash(sh->tab[k].key) & m;
        if (((k - home) & m) >= ((k - hole) & m)) {
            sh->tab[hole] = sh->tab[k];
            hole = k;
        }
    }
    sh->tab[hole].key = 0;
    sh->count--;
    if (filter != NULL) __atomic_fetch_sub(&filter[h & (FILTER_SLOTS - 1u)], 1, __ATOMIC_RELAXED);
    lock_drop(&sh->lock);
    return true;
}

static void recs_clear(void) {
    for (unsigned i = 0; i < SHARDS; i++) {
        lock_take(&shards[i].lock);
        if (shards[i].tab != NULL) memset(shards[i].tab, 0, (size_t)shards[i].cap * sizeof(pf_rec));
        shards[i].count = 0;
        lock_drop(&shards[i].lock);
    }
    if (filter != NULL) {
        for (unsigned i = 0; i < FILTER_SLOTS; i++)
            __atomic_store_n(&filter[i], 0, __ATOMIC_RELAXED);
    }
}

/* Fork: hold every record lock across fork() so the child finds them free. */
static pid_t prefork_pid;
static void atfork_prepare(void) {
    prefork_pid = getpid();
    for (unsigned i = 0; i < SHARDS; i++) lock_take(&shards[i].lock);
}
static void atfork_release(void) {
    for (unsigned i = 0; i < SHARDS; i++) lock_drop(&shards[i].lock);
}

/* ---- forked children ------------------------------------------------------------------
 * A child's profile is its own (docs/profile.md, "Forked processes"): at the fork its
 * cumulative figures start from zero (a new generation: the parent's slots are left behind,
 * the forking thread's slot is zeroed on its next call), its live bytes carry on from what it
 * inherited, and the records of inherited blocks are marked, so that freeing one counts in
 * inherited.freed_* (not free_count) and one left live counts in inherited.leaked_* (not in
 * the leaks). A family's files then add up: each block is counted in the process that
 * allocated it. */
/* pf_rec.owner: the allocating thread's slot index in the low 16 bits, the allocating
 * process's fork depth in the high 16. A record whose depth is not this process's was made
 * before a fork: the child never has to touch its records (copying every table page) to mark
 * them. Depth wraps after 65 536 generations of forked children. */
#define PF_OWNER_INDEX(o) ((o)&0xffffu)
static uint32_t proc_tag; /* this process's fork depth << 16 */
static inline bool pf_inherited(uint32_t owner) {
    return (owner & ~0xffffu) != proc_tag;
}
static uint64_t fork_parent_pid;
static uint64_t inh_count, inh_bytes;             /* live at the fork */
static uint64_t inh_freed_count, inh_freed_bytes; /* atomic: freed since */

static uint64_t sub0(uint64_t a, uint64_t b) {
    return a > b ? a - b : 0;
}

/* Blocks and usable bytes live now, inherited ones included (the child's one thread, at the
 * fork: no other thread writes a slot). */
static void live_now(uint64_t *count, uint64_t *bytes) {
    uint32_t gen = __atomic_load_n(&alloy__pf_cfg.gen, __ATOMIC_ACQUIRE);
    uint64_t ac = 0, fc = 0, au = 0, fu = 0;
    for (uint32_t i = 0; i < PF_MAX_THREADS; i++) {
        pf_slot *s = __atomic_load_n(&slots[i], __ATOMIC_ACQUIRE);
        if (s == NULL || (!s->shared && __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != gen))
            continue;
        ac += __atomic_load_n(&s->alloc_count, __ATOMIC_RELAXED);
        fc += __atomic_load_n(&s->free_count, __ATOMIC_RELAXED);
        au += __atomic_load_n(&s->alloc_usable, __ATOMIC_RELAXED);
        fu += __atomic_load_n(&s->free_usable, __ATOMIC_RELAXED);
    }
    *count = sub0(ac + LOAD(inh_count), fc + LOAD(inh_freed_count));
    *bytes = sub0(au + LOAD(inh_bytes), fu + LOAD(inh_freed_bytes));
}

/* A new generation: even, never 0 (a thread not set up) nor PF_STOPPED, even after 2^31 of
 * them. */
static void gen_bump(void) {
    if (__atomic_add_fetch(&alloy__pf_cfg.gen, 2, __ATOMIC_ACQ_REL) == 0)
        __atomic_add_fetch(&alloy__pf_cfg.gen, 2, __ATOMIC_ACQ_REL);
}

ALLOY_HIDDEN void alloy__pf_fork_child_core(void);
void alloy__pf_fork_child_core(void) {
    if (overflow != NULL) { /* the profiler has run: its figures are the parent's */
        uint64_t count, bytes;
        live_now(&count, &bytes);
        proc_tag += 0x10000u; /* every record made so far is now inherited */
        __atomic_store_n(&inh_count, count, __ATOMIC_RELAXED);
        __atomic_store_n(&inh_bytes, bytes, __ATOMIC_RELAXED);
        __atomic_store_n(&inh_freed_count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&inh_freed_bytes, 0, __ATOMIC_RELAXED);
        fork_parent_pid = (uint64_t)prefork_pid;
        gen_bump();
        pf_slot *mine = alloy__pf_self.slot; /* the forking thread is the child's one thread */
        if (mine != NULL && !mine->shared) mine->tid = (uint64_t)syscall(SYS_gettid);
        slot_zero(overflow);
        __atomic_store_n(&peak_bytes, __atomic_load_n(&live_bytes, __ATOMIC_RELAXED),
                         __ATOMIC_RELAXED);
        if (__atomic_load_n(&alloy__pf_running, __ATOMIC_RELAXED))
            __atomic_store_n(&alloy__pf_live, alloy__pf_cfg.gen, __ATOMIC_RELEASE);
        start_wall = alloy__pf_wall();
        start_mono = alloy__pf_mono_ns();
    }
    atfork_release();
}
ALLOY_HIDDEN void alloy__pf_atfork_prepare(void);
ALLOY_HIDDEN void alloy__pf_atfork_parent(void);
void alloy__pf_atfork_prepare(void) {
    atfork_prepare();
}
void alloy__pf_atfork_parent(void) {
    atfork_release();
}

/* ---- sampling --------------------------------------------------------------------- */
static inline uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* -ln(u) for u in (0, 1], without libm: ln(m * 2^e) = ln(m) + e ln 2, ln(m) by series. */
static double neg_log(double u) {
    int e = 0;
    while (u < 0.5) {
        u *= 2.0;
        e--;
    }
    /* u in [0.5, 1]: ln(u) = 2 atanh((u - 1) / (u + 1)) */
    double z = (u - 1.0) / (u + 1.0), z2 = z * z, term = z, sum = 0.0;
    for (int k = 1; k < 40; k += 2) {
        sum += term / k;
        term *= z2;
    }
    return -(2.0 * sum + e * 0.6931471805599453);
}

/* exp(-x) for x >= 0, without libm. */
static double exp_neg(double x) {
    if (x > 700.0) return 0.0;
    int halvings = 0;
    while (x > 0.5) {
        x *= 0.5;
        halvings++;
    }
    double t = 1.0, s = 1.0;
    for (int k = 1; k < 20; k++) {
        t *= -x / k;
        s += t;
    }
    while (halvings-- > 0) s *= s;
    return s;
}

/* Bytes to the next sampled block: exponential with mean sample_bytes, so
 * that a block of size s is recorded with probability 1 - exp(-s / mean). */
static int64_t next_interval(pf_self *me) {
    double u = ((double)(rng_next(&me->rng) >> 11) + 1.0) / 9007199254740993.0;
    return (int64_t)(neg_log(u) * (double)alloy__pf_cfg.o.sample_bytes) + 1;
}

/* Blocks one sampled block of this size stands for. */
static double sample_weight(uint64_t size) {
    size_t mean = alloy__pf_cfg.o.sample_bytes;
    if (mean == 0) return 1.0;
    double p = 1.0 - exp_neg((double)(size ? size : 1) / (double)mean);
    return p > 0.0 ? 1.0 / p : 1.0;
}

/* ---- hooks -------------------------------------------------------------------------- */
void alloy__pf_big_size(pf_slot *s, size_t req) {
    unsigned b = alloy__pf_bucket(req, PF_SIZE_SUB, PF_SIZE_BUCKETS);
    PF_ADD(s, alloc_bytes, req);
    PF_ADD(s, size_hist[b], 1);
    PF_ADD(s, size_bytes[b], req);
    /* A small per-thread open-addressed table of sizes; full means dropped. */
    uint32_t j = (uint32_t)(key_hash(req) & (PF_BIG_SIZES - 1u));
    for (unsigned n = 0; n < 8; n++, j = (j + 1u) & (PF_BIG_SIZES - 1u)) {
        uint64_t k = __atomic_load_n(&s->big[j].size, __ATOMIC_RELAXED);
        if (k == req) {
            PF_ADD(s, big[j].count, 1);
            return;
        }
        if (k == 0 && !s->shared) {
            __atomic_store_n(&s->big[j].size, (uint64_t)req, __ATOMIC_RELAXED);
            PF_ADD(s, big[j].count, 1);
            return;
        }
    }
    PF_ADD(s, big_dropped, 1);
}

/* ---- allocation sites -------------------------------------------------------------------
 * Leak reports group blocks by their allocation site (the innermost frame outside alloy) and
 * show one full stack per site. So a block needs only its site's stack: the layer entry's
 * return address, when it lies outside alloy (the override's malloc reaches the layer by a
 * tail jump), is the site, and the first stack captured there stands for every later block
 * from it. A site whose return address is inside alloy (a wrapper that calls the layer) is
 * marked SITE_WALK and walked every time. The table is written once per site (a CAS on the
 * address, then the id) and read without locks. */
#define SITES (1u << 14)
#define SITE_WALK UINT32_MAX
typedef struct pf_site {
    uintptr_t ra;
    uint32_t stack; /* 0 while being filled in */
} pf_site;
static pf_site *sites;

static inline uintptr_t return_address(const void *frame) {
#if defined(__x86_64__) || defined(__aarch64__)
    return ((const uintptr_t *)frame)[1]; /* frame pointer kept: {saved fp, return address} */
#else
    (void)frame;
    return 0;
#endif
}

static inline size_t site_slot(uintptr_t ra) {
    return (size_t)((ra * 0x9e3779b97f4a7c15ull) >> 40) & (SITES - 1u);
}

static uint32_t site_get(uintptr_t ra) {
    size_t i = site_slot(ra);
    for (unsigned probe = 0; probe < 8; probe++, i = (i + 1u) & (SITES - 1u)) {
        uintptr_t k = __atomic_load_n(&sites[i].ra, __ATOMIC_ACQUIRE);
        if (k == ra) return __atomic_load_n(&sites[i].stack, __ATOMIC_ACQUIRE);
        if (k == 0) return 0;
    }
    return 0;
}

static void site_put(uintptr_t ra, uint32_t stack) {
    size_t i = site_slot(ra);
    for (unsigned probe = 0; probe < 8; probe++, i = (i + 1u) & (SITES - 1u)) {
        uintptr_t k = 0;
        if (__atomic_compare_exchange_n(&sites[i].ra, &k, ra, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            __atomic_store_n(&sites[i].stack, stack, __ATOMIC_RELEASE);
            return;
        }
        if (k == ra) return; /* another thread has it */
    }
}

static uint32_t stack_of(pf_self *me, const void *frame) {
    const alloy_profile_options *o = &alloy__pf_cfg.o;
    uintptr_t ra = sites != NULL ? return_address(frame) : 0;
    uint32_t id = ra != 0 ? site_get(ra) : 0;
    if (ALLOY_LIKELY(id != 0 && id != SITE_WALK)) return id;
    me->inside++;
    uint32_t walked = alloy__dbg_stack(o->stack_depth, unwinder, frame);
    me->inside--;
    if (ra != 0 && id == 0 && walked != 0) {
        void *const *pcs = NULL;
        size_t n = alloy__dbg_frames(walked, &pcs);
        site_put(ra, n > 0 && (uintptr_t)pcs[0] == ra ? walked : SITE_WALK);
    }
    return walked;
}

void alloy__pf_record(pf_self *me, void *p, size_t req, const void *frame) {
    const alloy_profile_options *o = &alloy__pf_cfg.o;
    switch (me->recs) {
    case PF_RECS_NONE:
        me->sample_left = INT64_MAX;
        return;
    case PF_RECS_ALL:
        me->sample_left = 0;
        break;
    default:
        me->sample_left = next_interval(me);
        break;
    }
    uint32_t stack = o->capture_stacks ? stack_of(me, frame) : 0;
    rec_put((uintptr_t)p, req, me->slot->index | proc_tag, stack);
}

/* The free path's two steps, inlined into alloy__pf_unrecord (one call per free in full
 * mode) and wrapped for realloc. */
static inline __attribute__((always_inline)) pf_taken take(pf_self *me, const void *p) {
    pf_taken t = {0};
    if (me->recs == PF_RECS_NONE) return t;
    pf_rec r;
    if (rec_take((uintptr_t)p, &r)) {
        t.found = true;
        t.size = r.size;
        t.owner = r.owner;
        t.stack = r.stack;
        t.key = r.key;
    }
    return t;
}

pf_taken alloy__pf_take(pf_self *me, const void *p) {
    return take(me, p);
}

void alloy__pf_put_back(const void *p, pf_taken t) {
    if (t.found) rec_put((uintptr_t)p, t.size, t.owner, t.stack);
}

static inline __attribute__((always_inline)) void count_free(pf_self *me, const pf_taken *t,
                                                             size_t usable, size_t req_hint) {
    pf_slot *s = me->slot;
    if (!t->found && me->recs == PF_RECS_ALL) {
        /* Allocated before the profiler started (or before a reset). */
        PF_ADD(s, unknown_free_count, 1);
        PF_ADD(s, unknown_free_bytes, usable);
        return;
    }
    if (t->found && pf_inherited(t->owner)) { /* a forked child frees its parent's block */
        __atomic_fetch_add(&inh_freed_count, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&inh_freed_bytes, (uint64_t)usable, __ATOMIC_RELAXED);
        alloy__pf_live_add(me, -(int64_t)usable);
        return;
    }
    PF_ADD(s, free_count, 1);
    PF_ADD(s, free_usable, usable);
    PF_ADD(s, free_bytes, t->found ? t->size : req_hint);
    alloy__pf_live_add(me, -(int64_t)usable);
    uint32_t owner = PF_OWNER_INDEX(t->owner);
    if (t->found && owner != s->index && alloy__pf_cfg.o.track_cross_thread) {
        uint64_t w = 1;
        if (me->recs == PF_RECS_SAMPLED) w = (uint64_t)(sample_weight(t->size) + 0.5);
        PF_ADD(s, xfree[owner < PF_MAX_THREADS ? owner : PF_MAX_THREADS - 1], w);
    }
}

void alloy__pf_count_free(pf_self *me, const pf_taken *t, size_t usable, size_t req_hint) {
    count_free(me, t, usable, req_hint);
}

void alloy__pf_unrecord(pf_self *me, const void *p, size_t usable, size_t req_hint) {
    pf_taken t = take(me, p);
    count_free(me, &t, usable, req_hint);
}

void alloy__pf_on_failed(pf_self *me) {
    PF_ADD(me->slot, failed_count, 1);
}

void alloy__pf_count_realloc(pf_self *me) {
    PF_ADD(me->slot, realloc_count, 1);
}

/* ---- start / stop / reset ----------------------------------------------------------- */
static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER;

static void reset_all(void) {
    gen_bump();
    if (overflow != NULL) slot_zero(overflow);
    recs_clear();
    /* The inherited blocks' records are gone too. */
    __atomic_store_n(&inh_count, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&inh_bytes, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&inh_freed_count, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&inh_freed_bytes, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&live_bytes, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&peak_bytes, 0, __ATOMIC_RELAXED);
    if (__atomic_load_n(&alloy__pf_running, __ATOMIC_RELAXED))
        __atomic_store_n(&alloy__pf_live, alloy__pf_cfg.gen, __ATOMIC_RELEASE);
    start_wall = alloy__pf_wall();
    start_mono = alloy__pf_mono_ns();
    alloy__pf_timeline_reset();
}

bool alloy__pf_begin(const alloy_profile_options *o) {
    alloy_profile_options def;
    if (o == NULL) {
        alloy_profile_options_init(&def);
        o = &def;
    }
    if (!alloy__pf_options_ok(o)) {
        errno = EINVAL;
        return false;
    }
    if (__atomic_load_n(&alloy__pf_running, __ATOMIC_ACQUIRE)) {
        errno = EBUSY;
        return false;
    }
    alloy__pf_clock_init();
    exit_key_init();
    /* From the first start on, whether or not the profiler's thread ever runs: a fork must
     * find the record locks free in the child and give the child its own figures. */
    alloy__pf_self.inside++;
    alloy__pf_atfork_register();
    alloy__pf_self.inside--;
    if (overflow == NULL) {
        overflow = alloy__pf_pages(sizeof(pf_slot));
        if (overflow == NULL) {
            errno = ENOMEM;
            return false;
        }
        overflow->index = PF_MAX_THREADS - 1;
        overflow->shared = true;
        memcpy(overflow->name, "(other threads)", 16);
        slots[PF_MAX_THREADS - 1] = overflow;
    }
    if (o->sample_bytes != 0 && filter == NULL) {
        filter = alloy__pf_pages(FILTER_SLOTS * sizeof *filter);
        if (filter == NULL) {
            errno = ENOMEM;
            return false;
        }
    }
    if (o->capture_stacks) {
        alloy__pf_self.inside++;
        unwinder = alloy__dbg_unwinder_resolve(ALLOY_DEBUG_UNWIND_DEFAULT);
        alloy__pf_self.inside--;
        if (sites == NULL) sites = alloy__pf_pages(SITES * sizeof *sites);
    }
    alloy__pf_cfg.o = *o;
    if (alloy__pf_cfg.o.latency_every == 0) alloy__pf_cfg.o.latency_every = 1;
    alloy__pf_cfg.slack = o->sample_bytes == 0 ? 0 : 256 * 1024;
    reset_all();
    if (alloy__pf_cfg.o.timeline_ms != 0)
        __atomic_store_n(&alloy__pf_want_thread, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&alloy__pf_running, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&alloy__pf_live, alloy__pf_cfg.gen, __ATOMIC_RELEASE);
    return true;
}

bool alloy_profile_start(const alloy_profile_options *o) {
    if (o != NULL && !alloy__pf_options_ok(o)) {
        errno = EINVAL;
        return false;
    }
    if (!alloy_layer_push(ALLOY_LAYER_PROFILE)) return false;
    pthread_mutex_lock(&ctl_lock);
    bool ok = alloy__pf_begin(o);
    pthread_mutex_unlock(&ctl_lock);
    if (ok) {
        alloy__pf_self.inside++;
        alloy__pf_thread_kick();
        alloy__pf_self.inside--;
    }
    return ok;
}

void alloy_profile_stop(void) {
    pthread_mutex_lock(&ctl_lock);
    __atomic_store_n(&alloy__pf_live, PF_STOPPED, __ATOMIC_RELEASE);
    __atomic_store_n(&alloy__pf_running, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&ctl_lock);
    alloy__pf_thread_stop();
}

bool alloy_profile_running(void) {
    return __atomic_load_n(&alloy__pf_running, __ATOMIC_ACQUIRE) != 0;
}

void alloy_profile_reset(void) {
    pthread_mutex_lock(&ctl_lock);
    reset_all();
    pthread_mutex_unlock(&ctl_lock);
}

/* ---- snapshot ------------------------------------------------------------------------ */

/* Bump allocator over one mmap for everything a report points to. */
typedef struct arena {
    unsigned char *p;
    size_t used, cap;
} arena;

static void *arena_get(arena *a, size_t n) {
    n = (n + 15u) & ~(size_t)15u;
    if (a->used + n > a->cap) return NULL;
    void *r = a->p + a->used;
    a->used += n;
    return r;
}

static char *arena_str(arena *a, const char *s) {
    if (s == NULL) return NULL;
    size_t n = strlen(s) + 1;
    char *d = arena_get(a, n);
    if (d != NULL) memcpy(d, s, n);
    return d;
}

static void read_comm(uint64_t tid, char *out, size_t len) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%llu/comm", (unsigned long long)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char buf[32];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return;
    if (buf[n - 1] == '\n') n--;
    if ((size_t)n >= len) n = (ssize_t)len - 1;
    for (ssize_t i = 0; i < n; i++) __atomic_store_n(&out[i], buf[i], __ATOMIC_RELAXED);
    __atomic_store_n(&out[n], 0, __ATOMIC_RELAXED);
}

/* Leak sites: blocks grouped by the allocating call (the innermost frame outside alloy);
 * `stack` is the full stack of the first block seen at that site. */
typedef struct site_acc {
    uintptr_t site;
    uint32_t stack;
    double count, bytes;
} site_acc;

static uintptr_t site_of(uint32_t stack) {
    void *const *pcs = NULL;
    return alloy__dbg_frames(stack, &pcs) > 0 ? (uintptr_t)pcs[0] : 0;
}

#define MAX_SITES 4096u
#define REPORT_SITES 100u

static int cmp_sizecount(const void *a, const void *b) {
    const alloy_profile_size_count *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return x->size < y->size ? -1 : x->size > y->size;
}
static int cmp_site(const void *a, const void *b) {
    const site_acc *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
    return x->site < y->site ? -1 : x->site > y->site;
}

/* Sort sites in cmp_site's order in place: a heap sort, as qsort may call malloc (glibc does
 * above 1 KiB), which the snapshot of a signal handler or of _exit must not. */
static void sift_sites(site_acc *v, size_t root, size_t n) {
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && cmp_site(&v[child], &v[child + 1]) < 0) child++;
        if (cmp_site(&v[root], &v[child]) >= 0) return;
        site_acc t = v[root];
        v[root] = v[child];
        v[child] = t;
    }
}
static void sort_sites(site_acc *v, size_t n) {
    for (size_t i = n / 2; i-- > 0;) sift_sites(v, i, n);
    for (size_t end = n; end > 1;) {
        site_acc t = v[0];
        v[0] = v[--end];
        v[end] = t;
        sift_sites(v, 0, end);
    }
}

static void fill_latency(arena *a, alloy_profile_latency *out, const uint64_t *hist, uint64_t sum,
                         uint64_t max, double nspt) {
    uint64_t n = 0;
    size_t nb = 0;
    for (unsigned i = 0; i < PF_LAT_BUCKETS; i++) {
        n += hist[i];
        nb += hist[i] != 0;
    }
    out->count = n;
    out->sum_ns = (double)sum * nspt;
    out->mean_ns = n ? out->sum_ns / (double)n : 0.0;
    out->max_ns = (double)max * nspt;
    out->p50_ns = (double)alloy__pf_quantile(hist, PF_LAT_BUCKETS, PF_LAT_SUB, 0.50, max) * nspt;
    out->p95_ns = (double)alloy__pf_quantile(hist, PF_LAT_BUCKETS, PF_LAT_SUB, 0.95, max) * nspt;
    out->p99_ns = (double)alloy__pf_quantile(hist, PF_LAT_BUCKETS, PF_LAT_SUB, 0.99, max) * nspt;
    out->p999_ns = (double)alloy__pf_quantile(hist, PF_LAT_BUCKETS, PF_LAT_SUB, 0.999, max) * nspt;
    alloy_profile_latency_bucket *b = arena_get(a, (nb ? nb : 1) * sizeof *b);
    size_t k = 0;
    for (unsigned i = 0; b != NULL && i < PF_LAT_BUCKETS; i++) {
        if (hist[i] == 0) continue;
        b[k].le_ns = (double)(alloy__pf_bucket_hi(i, PF_LAT_SUB) + 1u) * nspt;
        b[k].count = hist[i];
        k++;
    }
    out->buckets = b;
    out->nbuckets = b != NULL ? k : 0;
}

/* The backend's own figure for the memory it holds (src/backend/: mimalloc's commit, jemalloc's
 * active + metadata, tcmalloc's heap less what it released, glibc's mallinfo2), or 0 with
 * source "rss" when it has none. Those calls take the backend's locks: not from a signal
 * handler, where the RSS stands in. */
static uint64_t heap_from_backend(const char **source, bool in_signal) {
    alloy__heap_stats hs;
    if (!in_signal && alloy__backend_heap_stats(&hs) && hs.heap_bytes != 0) {
        *source = hs.source;
        return hs.heap_bytes;
    }
    *source = "rss";
    return 0;
}

bool alloy__pf_snapshot(alloy_profile_report *r, bool in_signal) {
    memset(r, 0, sizeof *r);
    uint32_t n = __atomic_load_n(&nslots, __ATOMIC_ACQUIRE);
    if (n > PF_MAX_THREADS - 1) n = PF_MAX_THREADS - 1;
    /* Sum into a scratch slot. */
    size_t tl_cap = alloy__pf_timeline_len() + 16;
    size_t nthreads_max = n + 1;
    size_t cap = sizeof(pf_slot) + nthreads_max * sizeof(alloy_profile_thread) +
                 nthreads_max * nthreads_max * sizeof(uint64_t) +
                 PF_SIZE_BUCKETS * sizeof(alloy_profile_size_bucket) +
                 2 * PF_LAT_BUCKETS * sizeof(alloy_profile_latency_bucket) +
                 (PF_SMALL_SIZES + PF_BIG_SIZES * nthreads_max) * sizeof(alloy_profile_size_count) +
                 4u * PF_BIG_SIZES * nthreads_max * sizeof(uint32_t) +
                 MAX_SITES * (sizeof(site_acc) + 2 * sizeof(uint32_t)) +
                 REPORT_SITES * (sizeof(alloy_profile_leak_site) +
                                 64 * sizeof(alloy_profile_frame) + 64 * 3 * 128) +
                 tl_cap * sizeof(alloy_profile_sample) + 65536;
    cap = (cap + 4095u) & ~(size_t)4095u;
    arena a = {alloy__pf_pages(cap), 0, cap};
    if (a.p == NULL) {
        errno = ENOMEM;
        return false;
    }
    r->priv_ = a.p;
    r->priv_len_ = cap;
    pf_slot *sum = arena_get(&a, sizeof(pf_slot));
    uint32_t gen = __atomic_load_n(&alloy__pf_cfg.gen, __ATOMIC_ACQUIRE);
    alloy_profile_thread *th = arena_get(&a, nthreads_max * sizeof *th);
    uint32_t *rowof = arena_get(&a, PF_MAX_THREADS * sizeof(uint32_t)); /* slot index -> row */
    pf_slot **used = arena_get(&a, nthreads_max * sizeof(pf_slot *));
    size_t nt = 0;
    for (uint32_t i = 0; i < PF_MAX_THREADS; i++) {
        if (i >= n && i != PF_MAX_THREADS - 1) continue;
        pf_slot *s = __atomic_load_n(&slots[i], __ATOMIC_ACQUIRE);
        if (s == NULL) continue;
        if (!s->shared && __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != gen) continue;
        if (s->shared && LOAD(s->alloc_count) == 0 && LOAD(s->free_count) == 0) continue;
        const uint64_t *src = &s->alloc_count;
        uint64_t *dst = &sum->alloc_count;
        size_t words = (size_t)((const uint64_t *)(const void *)(s + 1) - src);
        size_t big_off = (size_t)((const uint64_t *)(const void *)s->big - src);
        size_t big_words = sizeof(s->big) / (sizeof(uint64_t));
        for (size_t w = 0; w < words; w++) {
            if (w >= big_off && w < big_off + big_words) continue;
            uint64_t v = __atomic_load_n(&src[w], __ATOMIC_RELAXED);
            if (&dst[w] == &sum->lat_alloc_max || &dst[w] == &sum->lat_free_max)
                dst[w] = v > dst[w] ? v : dst[w];
            else
                dst[w] += v;
        }
        alloy_profile_thread *t = &th[nt];
        t->index = (uint32_t)nt;
        t->tid = s->tid;
        t->exited = __atomic_load_n(&s->exited, __ATOMIC_ACQUIRE) != 0;
        if (!t->exited && !s->shared && !in_signal) read_comm(s->tid, s->name, sizeof s->name);
        for (size_t c = 0; c + 1 < sizeof t->name; c++) {
            t->name[c] = __atomic_load_n(&s->name[c], __ATOMIC_RELAXED);
            if (t->name[c] == 0) break;
        }
        t->alloc_count = LOAD(s->alloc_count);
        t->free_count = LOAD(s->free_count);
        t->alloc_bytes = LOAD(s->alloc_usable);
        t->free_bytes = LOAD(s->free_usable);
        rowof[i] = (uint32_t)nt;
        used[nt] = s;
        nt++;
    }
    /* Requested sizes below PF_SMALL_SIZES were counted only in small[]: their bytes and
     * histogram buckets come from there. */
    for (unsigned z = 0; z < PF_SMALL_SIZES; z++) {
        uint64_t c = sum->small[z];
        if (c == 0) continue;
        unsigned b = alloy__pf_bucket(z, PF_SIZE_SUB, PF_SIZE_BUCKETS);
        sum->alloc_bytes += c * z;
        sum->size_hist[b] += c;
        sum->size_bytes[b] += c * z;
    }
    /* The cross-thread matrix, by row of the report. */
    uint64_t *mx = arena_get(&a, (nt ? nt * nt : 1) * sizeof(uint64_t));
    uint64_t xtotal = 0;
    for (size_t f = 0; f < nt; f++) {
        for (size_t c = 0; c < nt; c++) {
            uint32_t owner_slot = used[c]->index;
            uint64_t v = LOAD(used[f]->xfree[owner_slot]);
            if (c == f && !used[f]->shared) continue;
            mx[f * nt + c] += v;
            th[f].cross_thread_frees_received += v;
            th[c].cross_thread_frees_sent += v;
            xtotal += v;
        }
    }
    (void)rowof;
    r->schema = ALLOY_PROFILE_SCHEMA;
    r->mode = alloy__pf_cfg.o.sample_bytes ? "sampled" : "full";
    r->backend = arena_str(&a, alloy__pf_backend_name());
    r->pid = (uint64_t)getpid();
    r->start_time = start_wall;
    r->end_time = alloy__pf_wall();
    r->duration_s = (double)(alloy__pf_mono_ns() - start_mono) * 1e-9;
    r->sample_bytes = alloy__pf_cfg.o.sample_bytes;
    r->latency_every = alloy__pf_cfg.o.latency_every;
    r->clock = alloy__pf_use_tsc ? "tsc" : "clock_gettime";
    r->alloc_count = sum->alloc_count;
    r->free_count = sum->free_count;
    r->realloc_count = sum->realloc_count;
    r->failed_count = sum->failed_count;
    r->alloc_bytes = sum->alloc_bytes;
    r->alloc_usable_bytes = sum->alloc_usable;
    r->free_bytes = sum->free_bytes;
    r->free_usable_bytes = sum->free_usable;
    r->unknown_free_count = sum->unknown_free_count;
    r->unknown_free_bytes = sum->unknown_free_bytes;
    /* A forked child's live blocks include those it inherited (not in its counters). */
    r->parent_pid = fork_parent_pid;
    uint64_t inh_c = LOAD(inh_count), inh_b = LOAD(inh_bytes);
    r->inherited.count = inh_c;
    r->inherited.bytes = inh_b;
    r->inherited.freed_count = __atomic_load_n(&inh_freed_count, __ATOMIC_RELAXED);
    r->inherited.freed_bytes = __atomic_load_n(&inh_freed_bytes, __ATOMIC_RELAXED);
    r->current_bytes = sub0(sum->alloc_usable + inh_b, sum->free_usable + r->inherited.freed_bytes);
    r->current_count = sub0(sum->alloc_count + inh_c, sum->free_count + r->inherited.freed_count);
    int64_t pk = __atomic_load_n(&peak_bytes, __ATOMIC_RELAXED);
    r->peak_bytes = pk > 0 ? (uint64_t)pk : 0;
    if (r->peak_bytes < r->current_bytes) r->peak_bytes = r->current_bytes;
    double d = r->duration_s > 0 ? r->duration_s : 1e-9;
    r->alloc_rate = (double)r->alloc_count / d;
    r->free_rate = (double)r->free_count / d;
    r->bytes_rate = (double)r->alloc_bytes / d;
    alloy__pf_rates(&r->alloc_rate_avg, &r->free_rate_avg);
    double nspt = alloy__pf_ns_per_tick();
    fill_latency(&a, &r->alloc_latency, sum->lat_alloc, sum->lat_alloc_sum, sum->lat_alloc_max,
                 nspt);
    fill_latency(&a, &r->free_latency, sum->lat_free, sum->lat_free_sum, sum->lat_free_max, nspt);
    r->cross_thread_free_count = xtotal;
    r->cross_thread_free_pct = r->free_count ? 100.0 * (double)xtotal / (double)r->free_count : 0.0;
    /* Size histogram. */
    alloy_profile_size_bucket *sb = arena_get(&a, PF_SIZE_BUCKETS * sizeof *sb);
    size_t nsb = 0;
    for (unsigned b = 0; sb != NULL && b < PF_SIZE_BUCKETS; b++) {
        if (sum->size_hist[b] == 0) continue;
        sb[nsb++] = (alloy_profile_size_bucket){alloy__pf_bucket_lo(b, PF_SIZE_SUB),
                                                alloy__pf_bucket_hi(b, PF_SIZE_SUB),
                                                sum->size_hist[b], sum->size_bytes[b]};
    }
    r->size_buckets = sb;
    r->nsize_buckets = alloy__pf_cfg.o.track_sizes ? nsb : 0;
    /* Top sizes: exact small sizes plus every thread's big table, merged. */
    size_t ncand = 0;
    alloy_profile_size_count *cand =
        arena_get(&a, (PF_SMALL_SIZES + PF_BIG_SIZES * nt + 1) * sizeof *cand);
    if (cand != NULL) {
        for (unsigned z = 0; z < PF_SMALL_SIZES; z++)
            if (sum->small[z]) cand[ncand++] = (alloy_profile_size_count){z, sum->small[z]};
        /* Larger sizes: merged across threads through an index keyed by size. */
        size_t nidx = 1;
        while (nidx < 2u * PF_BIG_SIZES * (nt ? nt : 1)) nidx *= 2;
        uint32_t *idx = arena_get(&a, nidx * sizeof *idx);
        for (size_t t = 0; idx != NULL && t < nt; t++) {
            for (unsigned j = 0; j < PF_BIG_SIZES; j++) {
                uint64_t sz = LOAD(used[t]->big[j].size), c = LOAD(used[t]->big[j].count);
                if (sz == 0 || c == 0) continue;
                size_t h = (size_t)key_hash(sz) & (nidx - 1u);
                while (idx[h] != 0 && cand[idx[h] - 1u].size != sz) h = (h + 1u) & (nidx - 1u);
                if (idx[h] != 0) {
                    cand[idx[h] - 1u].count += c;
                } else {
                    cand[ncand] = (alloy_profile_size_count){sz, c};
                    idx[h] = (uint32_t)++ncand;
                }
            }
        }
        /* The top N to the front, in order (N <= 64: a selection, not a sort of everything). */
        size_t want = alloy__pf_cfg.o.top_sizes < ncand ? alloy__pf_cfg.o.top_sizes : ncand;
        for (size_t i = 0; i < want; i++) {
            size_t best = i;
            for (size_t j = i + 1; j < ncand; j++)
                if (cmp_sizecount(&cand[j], &cand[best]) < 0) best = j;
            alloy_profile_size_count tmp = cand[i];
            cand[i] = cand[best];
            cand[best] = tmp;
        }
    }
    r->top_sizes = cand;
    r->ntop_sizes = ncand < alloy__pf_cfg.o.top_sizes ? ncand : alloy__pf_cfg.o.top_sizes;
    if (!alloy__pf_cfg.o.track_sizes) r->ntop_sizes = 0;
    r->threads = th;
    r->nthreads = alloy__pf_cfg.o.track_per_thread ? nt : 0; /* totals above count them all */
    r->cross_matrix = mx;
    /* Leaks: live recorded blocks grouped by allocation stack. */
    r->leaks_estimated = alloy__pf_cfg.o.sample_bytes != 0;
    uint64_t live_req = 0;
    bool recs = alloy__pf_cfg.o.detect_leaks || alloy__pf_cfg.o.track_cross_thread;
    site_acc *acc = arena_get(&a, MAX_SITES * sizeof *acc);
    uint32_t *slot_of = arena_get(&a, 2u * MAX_SITES * sizeof *slot_of);
    if (slot_of == NULL) acc = NULL;
    size_t nacc = 0;
    double lcount = 0, lbytes = 0, icount = 0, ibytes = 0;
    for (unsigned i = 0; recs && acc != NULL && i < SHARDS; i++) {
        pf_shard *sh = &shards[i];
        if (in_signal) {
            if (!lock_try(&sh->lock)) continue;
        } else {
            lock_take(&sh->lock);
        }
        for (uint32_t j = 0; j < sh->cap; j++) {
            pf_rec *rc = &sh->tab[j];
            if (rc->key == 0) continue;
            double w = sample_weight(rc->size);
            live_req += rc->size;
            if (pf_inherited(rc->owner)) { /* a forked child's, from its parent: not its leak */
                icount += w;
                ibytes += w * (double)rc->size;
                continue;
            }
            lcount += w;
            lbytes += w * (double)rc->size;
            uintptr_t site = site_of(rc->stack);
            uint32_t h = (uint32_t)key_hash(site) & (2u * MAX_SITES - 1u);
            while (slot_of[h] != 0 && acc[slot_of[h] - 1u].site != site)
                h = (h + 1u) & (2u * MAX_SITES - 1u);
            size_t k;
            if (slot_of[h] != 0) {
                k = slot_of[h] - 1u;
            } else {
                if (nacc == MAX_SITES) continue;
                k = nacc++;
                slot_of[h] = (uint32_t)k + 1u;
                acc[k] = (site_acc){site, rc->stack, 0, 0};
            }
            acc[k].count += w;
            acc[k].bytes += w * (double)rc->size;
        }
        lock_drop(&sh->lock);
    }
    if (alloy__pf_cfg.o.detect_leaks) {
        r->leaked_count = (uint64_t)(lcount + 0.5);
        r->leaked_bytes = (uint64_t)(lbytes + 0.5);
        r->inherited.leaked_count = (uint64_t)(icount + 0.5);
        r->inherited.leaked_bytes = (uint64_t)(ibytes + 0.5);
        sort_sites(acc, nacc);
        size_t ns = nacc < REPORT_SITES ? nacc : REPORT_SITES;
        alloy_profile_leak_site *ls = arena_get(&a, (ns ? ns : 1) * sizeof *ls);
        for (size_t k = 0; ls != NULL && k < ns; k++) {
            ls[k].count = (uint64_t)(acc[k].count + 0.5);
            ls[k].bytes = (uint64_t)(acc[k].bytes + 0.5);
            void *const *pcs = NULL;
            size_t nf = alloy__dbg_frames(acc[k].stack, &pcs);
            alloy_profile_frame *fr = nf ? arena_get(&a, nf * sizeof *fr) : NULL;
            for (size_t f = 0; fr != NULL && f < nf; f++) {
                fr[f].pc = (uintptr_t)pcs[f];
                if (in_signal) continue;
                dbg_sym sym;
                alloy__pf_self.inside++;
                alloy__dbg_symbolize(acc[k].stack, (uintptr_t)pcs[f], true, &sym);
                alloy__pf_self.inside--;
                if (sym.n > 0) {
                    fr[f].function = arena_str(&a, sym.f[sym.n - 1].func);
                    fr[f].file = arena_str(&a, sym.f[0].file);
                    fr[f].line = sym.f[0].line;
                }
                fr[f].module = arena_str(&a, sym.module);
            }
            ls[k].frames = fr;
            ls[k].nframes = fr != NULL ? nf : 0;
        }
        r->leak_sites = ls;
        r->nleak_sites = ls != NULL ? ns : 0;
    }
    /* Fragmentation. */
    alloy_profile_fragmentation *fg = &r->fragmentation;
    fg->usable_bytes = r->current_bytes;
    fg->requested_bytes = alloy__pf_cfg.o.sample_bytes == 0 && recs ? live_req : 0;
    fg->rss_bytes = alloy__pf_rss();
    fg->heap_bytes = heap_from_backend(&fg->heap_source, in_signal);
    if (fg->heap_bytes == 0) fg->heap_bytes = fg->rss_bytes;
    if (fg->usable_bytes && fg->requested_bytes)
        fg->internal = (double)(fg->usable_bytes - (fg->requested_bytes < fg->usable_bytes
                                                        ? fg->requested_bytes
                                                        : fg->usable_bytes)) /
                       (double)fg->usable_bytes;
    if (fg->heap_bytes) {
        fg->external = fg->heap_bytes > fg->usable_bytes
                           ? (double)(fg->heap_bytes - fg->usable_bytes) / (double)fg->heap_bytes
                           : 0.0;
        fg->utilization = (double)fg->requested_bytes / (double)fg->heap_bytes;
    }
    /* Timeline. */
    alloy_profile_sample *tl = arena_get(&a, tl_cap * sizeof *tl);
    r->timeline = tl;
    r->ntimeline = tl != NULL ? alloy__pf_timeline_copy(tl, tl_cap, &r->timeline_ms) : 0;
    return true;
}

void alloy__pf_totals(uint64_t *allocs, uint64_t *frees, int64_t *live) {
    uint32_t n = __atomic_load_n(&nslots, __ATOMIC_ACQUIRE);
    uint32_t gen = __atomic_load_n(&alloy__pf_cfg.gen, __ATOMIC_ACQUIRE);
    uint64_t a = 0, f = 0, au = 0, fu = 0;
    for (uint32_t i = 0; i < PF_MAX_THREADS; i++) {
        if (i >= n && i != PF_MAX_THREADS - 1) continue;
        pf_slot *s = __atomic_load_n(&slots[i], __ATOMIC_ACQUIRE);
        if (s == NULL || (!s->shared && __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != gen))
            continue;
        a += LOAD(s->alloc_count);
        f += LOAD(s->free_count);
        au += LOAD(s->alloc_usable);
        fu += LOAD(s->free_usable);
    }
    *allocs = a;
    *frees = f;
    /* As current_bytes: a forked child's inherited blocks are live in it too. */
    *live = (int64_t)(au + LOAD(inh_bytes) - fu - LOAD(inh_freed_bytes));
}

bool alloy_profile_snapshot(alloy_profile_report *r) {
    if (r == NULL) {
        errno = EINVAL;
        return false;
    }
    alloy__pf_self.inside++;
    bool ok = alloy__pf_snapshot(r, false);
    alloy__pf_self.inside--;
    return ok;
}

void alloy_profile_report_free(alloy_profile_report *r) {
    if (r == NULL) return;
    alloy__pf_unpages(r->priv_, r->priv_len_);
    memset(r, 0, sizeof *r);
}
