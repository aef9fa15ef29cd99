/* SPDX-License-Identifier: MIT */
/* src/debug/guard.c - guard-page mode: blocks placed against an inaccessible page.
 *
 * A pool of slots is reserved once: [guard][slot 0: k pages][guard][slot 1]...
 * with every page inaccessible until a slot is handed out. A guarded block is
 * placed at the end of its slot's last page, aligned only as much as its size
 * allows (an object of 13 bytes needs no alignment, one of 24 needs 8), so
 * reading the byte after it faults. The left slack is filled with guard bytes
 * and checked on free. A freed slot is made inaccessible again and only
 * reused after every other free slot (FIFO), so a read after free faults too.
 *
 * The SIGSEGV handler maps the faulting address to its slot by arithmetic and
 * reads the slot's metadata without locks, reports the access with the stack
 * of the faulting instruction and the block's stacks, then aborts (or, if the
 * handler says continue, opens the page and lets the access go through).
 * Faults outside every pool go to the previous handler. The same handler
 * (installed by every debug heap) turns a fault of alloy__dbg_safe_load into
 * a failed load.
 *
 * Handing out a slot costs an mprotect and retiring it an mmap over it (which
 * drops its pages too), and the ring of free slots is behind one lock;
 * sampled (1 in 1000 by default), that is rare enough for production, and
 * mode ALL trades speed for catching every access.
 */
#define _GNU_SOURCE
#include "debug_internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define PAGE 4096u

typedef struct slot_meta {
    uintptr_t user;
    size_t size;
    uint32_t alloc_stack, free_stack, alloc_tid, free_tid;
    int state;    /* 0 never used, REC_LIVE, REC_FREED */
    dbg_rec *rec; /* while live */
} slot_meta;

struct dbg_guard_pool {
    unsigned char *base; /* leading guard page */
    size_t region;
    size_t slot_pages; /* data pages per slot */
    uint32_t nslots;
    bool all;
    unsigned rate;
    size_t max_size;
    slot_meta *meta;
    uint32_t *ring; /* free slots, FIFO */
    uint32_t head, count;
    dbg_lock lock;
    alloy__debug_heap *heap;
    struct dbg_guard_pool *next;
};

static dbg_guard_pool *pools; /* for the fault handler */
static dbg_lock pools_lock;
static struct sigaction old_segv, old_bus;

static inline unsigned char *slot_data(const dbg_guard_pool *g, uint32_t i) {
    return g->base + PAGE + (size_t)i * (g->slot_pages + 1) * PAGE;
}
static inline unsigned char *slot_end(const dbg_guard_pool *g, uint32_t i) {
    return slot_data(g, i) + g->slot_pages * PAGE;
}
static inline uint32_t slot_of(const dbg_guard_pool *g, uintptr_t p) {
    return (uint32_t)((p - (uintptr_t)g->base - PAGE) / ((g->slot_pages + 1) * PAGE));
}

static void on_fault(int sig, siginfo_t *si, void *ctx);

/* ---- safe loads ------------------------------------------------------------------------
 * A free of a wild pointer makes the debug heap read the word before it (the record link).
 * That read goes through alloy__dbg_safe_load: one plain load whose address the fault
 * handler knows; a fault there resumes at the failure return instead of killing the process
 * (HotSpot's SafeFetch works the same way). */
#if defined(__x86_64__) && defined(__LP64__) && defined(__linux__)
__asm__(".pushsection .text\n"
        ".p2align 4\n"
        ".globl alloy__dbg_safe_load\n"
        ".hidden alloy__dbg_safe_load\n"
        ".type alloy__dbg_safe_load,@function\n"
        "alloy__dbg_safe_load:\n"
        "    .cfi_startproc\n"
        "    endbr64\n"
        ".globl alloy__dbg_safe_load_insn\n"
        ".hidden alloy__dbg_safe_load_insn\n"
        "alloy__dbg_safe_load_insn:\n"
        "    movq (%rdi), %rax\n"
        "    movq %rax, (%rsi)\n"
        "    movl $1, %eax\n"
        "    ret\n"
        ".globl alloy__dbg_safe_load_fail\n"
        ".hidden alloy__dbg_safe_load_fail\n"
        "alloy__dbg_safe_load_fail:\n"
        "    xorl %eax, %eax\n"
        "    ret\n"
        "    .cfi_endproc\n"
        ".size alloy__dbg_safe_load, .-alloy__dbg_safe_load\n"
        ".popsection\n");
extern const char alloy__dbg_safe_load_insn[] ALLOY_HIDDEN;
extern const char alloy__dbg_safe_load_fail[] ALLOY_HIDDEN;

/* A fault of the safe load (not a signal sent by kill): resume at its failure return. */
static bool safe_load_fault(const siginfo_t *si, void *ctx) {
    ucontext_t *uc = ctx;
    if (si->si_code <= 0 ||
        uc->uc_mcontext.gregs[REG_RIP] != (greg_t)(uintptr_t)alloy__dbg_safe_load_insn)
        return false;
    uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)alloy__dbg_safe_load_fail;
    return true;
}
#else
/* No recovery here: check what can be checked cheaply (the page of a link that sits on the
 * page before the block), then load; exempt from ASan, as the word may be a redzone. */
__attribute__((no_sanitize("address"))) bool alloy__dbg_safe_load(const void *addr,
                                                                  uintptr_t *out) {
    uintptr_t a = (uintptr_t)addr;
    long page = sysconf(_SC_PAGESIZE);
    if (page > 0 && ((a + 16) & (uintptr_t)(page - 1)) == 0 &&
        msync((void *)(a & ~(uintptr_t)(page - 1)), (size_t)page, MS_ASYNC) != 0)
        return false;
    memcpy(out, addr, sizeof *out);
    return true;
}
static bool safe_load_fault(const siginfo_t *si, void *ctx) {
    (void)si, (void)ctx;
    return false;
}
#endif

static pthread_once_t handler_once = PTHREAD_ONCE_INIT;

static void install_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    /* SA_ONSTACK: a program's alternate signal stack (for stack overflows) still works. */
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
}

void alloy__dbg_fault_install(void) {
    pthread_once(&handler_once, install_handler);
}

dbg_guard_pool *alloy__dbg_guard_new(const alloy_debug_options *o) {
    dbg_guard_pool *g = alloy__dbg_pages(sizeof *g);
    if (g == NULL) return NULL;
    g->slot_pages = (o->guard_max_size + PAGE - 1) / PAGE;
    if (g->slot_pages == 0) g->slot_pages = 1;
    g->max_size = g->slot_pages * PAGE;
    g->nslots = o->guard_slots;
    g->all = o->guard == ALLOY_DEBUG_GUARD_ALL;
    g->rate = o->guard_sample_rate;
    g->region = PAGE + (size_t)g->nslots * (g->slot_pages + 1) * PAGE;
    void *base =
        mmap(NULL, g->region, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    g->meta = alloy__dbg_pages(g->nslots * sizeof *g->meta);
    g->ring = alloy__dbg_pages(g->nslots * sizeof *g->ring);
    if (base == MAP_FAILED || g->meta == NULL || g->ring == NULL) {
        if (base != MAP_FAILED) munmap(base, g->region);
        alloy__dbg_unpages(g->meta, g->nslots * sizeof *g->meta);
        alloy__dbg_unpages(g->ring, g->nslots * sizeof *g->ring);
        alloy__dbg_unpages(g, sizeof *g);
        return NULL;
    }
    g->base = base;
    for (uint32_t i = 0; i < g->nslots; i++) g->ring[i] = i;
    g->count = g->nslots;
    alloy__dbg_fault_install();
    dbg_lock_take(&pools_lock);
    g->next = pools;
    __atomic_store_n(&pools, g, __ATOMIC_RELEASE);
    dbg_lock_drop(&pools_lock);
    return g;
}

void alloy__dbg_guard_destroy(dbg_guard_pool *g) {
    dbg_lock_take(&pools_lock);
    for (dbg_guard_pool **pp = &pools; *pp != NULL; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    dbg_lock_drop(&pools_lock);
    munmap(g->base, g->region);
    alloy__dbg_unpages(g->meta, g->nslots * sizeof *g->meta);
    alloy__dbg_unpages(g->ring, g->nslots * sizeof *g->ring);
    alloy__dbg_unpages(g, sizeof *g);
}

void alloy__dbg_guard_attach(dbg_guard_pool *g, alloy__debug_heap *h) {
    g->heap = h;
}

bool alloy__dbg_guard_want(dbg_guard_pool *g, size_t size) {
    if (size > g->max_size) return false;
    if (g->all) return true;
    dbg_thread *t = &alloy__dbg_self;
    if (ALLOY_LIKELY(t->sample_countdown > 1)) {
        t->sample_countdown--;
        return false;
    }
    /* Next sample in 1..2*rate-1 allocations (mean: rate), from a per-thread xorshift. */
    static ALLOY_TLS uint32_t rng;
    if (rng == 0) rng = alloy__dbg_tid() * 2654435761u | 1u;
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    t->sample_countdown = g->rate <= 1 ? 1 : 1 + rng % (2 * g->rate - 1);
    return true;
}

/* The alignment a block of size needs: what the caller asked for, else the largest power of two
 * dividing size, at most 16 (an object's alignment divides its size). The block's end then falls
 * on the guard page for every size not a multiple of 16 too (24, 40, 100), as docs/debug.md
 * promises: the byte after it is on the protected page. */
static size_t natural_align(size_t size, size_t align) {
    if (align != 0) return align;
    if (size == 0) return 16;
    size_t low = (size_t)1 << __builtin_ctzll(size);
    return low > 16 ? 16 : low;
}

void *alloy__dbg_guard_alloc(dbg_guard_pool *g, size_t size, size_t align, uint32_t stack,
                             uint32_t tid, uint32_t *slot) {
    size_t a = natural_align(size, align);
    if (a > PAGE || size > g->max_size) return NULL;
    dbg_lock_take(&g->lock);
    if (g->count == 0) {
        dbg_lock_drop(&g->lock);
        return NULL;
    }
    uint32_t i = g->ring[g->head];
    g->head = (g->head + 1) % g->nslots;
    g->count--;
    dbg_lock_drop(&g->lock);
    unsigned char *end = slot_end(g, i);
    uintptr_t user = ((uintptr_t)end - size) & ~(uintptr_t)(a - 1);
    unsigned char *first = (unsigned char *)(user & ~(uintptr_t)(PAGE - 1));
    if (size == 0) first = end - PAGE;
    if (mprotect(first, (size_t)(end - first), PROT_READ | PROT_WRITE) != 0) {
        dbg_lock_take(&g->lock);
        g->ring[(g->head + g->count) % g->nslots] = i;
        g->count++;
        dbg_lock_drop(&g->lock);
        return NULL;
    }
    memset(first, DBG_PAT_RZ, user - (uintptr_t)first);
    memset((unsigned char *)user + size, DBG_PAT_RZ, (size_t)(end - (unsigned char *)user) - size);
    slot_meta *m = &g->meta[i];
    m->user = user;
    m->size = size;
    m->alloc_stack = stack;
    m->alloc_tid = tid;
    m->free_stack = 0;
    m->free_tid = 0;
    __atomic_store_n(&m->state, REC_LIVE, __ATOMIC_RELEASE);
    *slot = i;
    return (void *)user;
}

uintptr_t alloy__dbg_guard_check(dbg_guard_pool *g, uintptr_t user, size_t size) {
    uint32_t i = slot_of(g, user);
    unsigned char *end = slot_end(g, i);
    unsigned char *first = (unsigned char *)(user & ~(uintptr_t)(PAGE - 1));
    if (size == 0) first = end - PAGE;
    for (unsigned char *p = (unsigned char *)user; p-- > first;)
        if (*p != DBG_PAT_RZ) return (uintptr_t)p;
    for (unsigned char *p = (unsigned char *)user + size; p < end; p++)
        if (*p != DBG_PAT_RZ) return (uintptr_t)p;
    return 0;
}

void alloy__dbg_guard_retire(dbg_guard_pool *g, uint32_t i, uint32_t stack, uint32_t tid) {
    slot_meta *m = &g->meta[i];
    m->free_stack = stack;
    m->free_tid = tid;
    m->rec = NULL;
    __atomic_store_n(&m->state, REC_FREED, __ATOMIC_RELEASE);
    unsigned char *data = slot_data(g, i);
    size_t len = g->slot_pages * PAGE;
    /* A fresh inaccessible mapping over the slot drops its pages and closes it in one call:
     * one TLB shootdown instead of the two of mprotect + madvise (each an IPI to every CPU
     * running this process; costly in a VM). */
    if (mmap(data, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
             0) == MAP_FAILED) {
        mprotect(data, len, PROT_NONE);
        madvise(data, len, MADV_DONTNEED);
    }
    dbg_lock_take(&g->lock);
    g->ring[(g->head + g->count) % g->nslots] = i;
    g->count++;
    dbg_lock_drop(&g->lock);
}

void alloy__dbg_guard_set_rec(dbg_guard_pool *g, uint32_t slot, dbg_rec *r) {
    g->meta[slot].rec = r;
}

bool alloy__dbg_guard_owns(dbg_guard_pool *g, uintptr_t p) {
    return g != NULL && p >= (uintptr_t)g->base && p < (uintptr_t)g->base + g->region;
}

bool alloy__dbg_guard_lookup(dbg_guard_pool *g, uintptr_t p, dbg_rec *out) {
    if (!alloy__dbg_guard_owns(g, p) || p < (uintptr_t)g->base + PAGE) return false;
    uint32_t i = slot_of(g, p);
    if (i >= g->nslots) return false;
    slot_meta *m = &g->meta[i];
    int state = __atomic_load_n(&m->state, __ATOMIC_ACQUIRE);
    if (state == 0) return false;
    memset(out, 0, sizeof *out);
    out->user = m->user;
    out->size = m->size;
    out->alloc_stack = m->alloc_stack;
    out->free_stack = m->free_stack;
    out->alloc_tid = m->alloc_tid;
    out->free_tid = m->free_tid;
    out->state = (uint8_t)state;
    out->flags = RECF_GUARDED;
    out->guard_slot = i;
    out->qnext = state == REC_LIVE ? m->rec : NULL;
    return true;
}

/* ---- the fault handler ------------------------------------------------------------------ */

static void chain(int sig, siginfo_t *si, void *ctx) {
    struct sigaction *old = sig == SIGBUS ? &old_bus : &old_segv;
    if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction != NULL) {
        old->sa_sigaction(sig, si, ctx);
        return;
    }
    if (old->sa_handler == SIG_IGN) return;
    if (old->sa_handler != SIG_DFL && old->sa_handler != NULL) {
        old->sa_handler(sig);
        return;
    }
    /* Default action: restore it; a fault happens again on return and kills us, a signal
     * sent by kill or raise is sent again. */
    signal(sig, SIG_DFL);
    if (si->si_code <= 0) raise(sig);
}

/* The stack of the faulting access, starting at the faulting instruction: the handler's frames
 * and the kernel's signal trampoline (__restore_rt) are not the program's. Through the signal
 * frame libunwind knows the way; the hybrid unwinder's rule cache does not. */
static uint32_t fault_stack(alloy__debug_heap *h, const void *ctx) {
    unsigned depth = h->opt.stack_depth;
    alloy_debug_unwinder how = h->opt.unwinder == ALLOY_DEBUG_UNWIND_HYBRID
                                   ? ALLOY_DEBUG_UNWIND_LIBUNWIND
                                   : h->opt.unwinder;
    if (how == ALLOY_DEBUG_UNWIND_NONE || depth == 0) return 0;
    enum { EXTRA = 8 };
    void *pcs[DBG_MAX_FRAMES + EXTRA];
    size_t n = alloy__dbg_capture(pcs, depth + EXTRA, how, NULL);
    size_t first = 0;
#if defined(__x86_64__)
    uintptr_t ip = (uintptr_t)((const ucontext_t *)ctx)->uc_mcontext.gregs[REG_RIP];
    for (size_t i = 0; i < n; i++)
        if ((uintptr_t)pcs[i] == ip || (uintptr_t)pcs[i] == ip + 1) {
            first = i;
            break;
        }
#else
    (void)ctx;
#endif
    if (first == 0) {
        /* Not found by address (another unwinder): drop up to the trampoline by name. */
        for (size_t i = 0; i + 1 < n; i++) {
            Dl_info di;
            if (dladdr(pcs[i], &di) != 0 && di.dli_sname != NULL &&
                strcmp(di.dli_sname, "__restore_rt") == 0) {
                first = i + 1;
                break;
            }
        }
    }
    n -= first;
    return alloy__dbg_intern(pcs + first, n < depth ? n : depth);
}

static void on_fault(int sig, siginfo_t *si, void *ctx) {
    if (safe_load_fault(si, ctx)) return;
    uintptr_t addr = (uintptr_t)si->si_addr;
    dbg_guard_pool *g = __atomic_load_n(&pools, __ATOMIC_ACQUIRE);
    while (g != NULL && !alloy__dbg_guard_owns(g, addr)) g = g->next;
    if (g == NULL || g->heap == NULL) {
        chain(sig, si, ctx);
        return;
    }
    bool write = false;
#if defined(__x86_64__)
    const ucontext_t *uc = ctx;
    write = (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#endif
    dbg_rec rec;
    dbg_problem pr;
    memset(&pr, 0, sizeof pr);
    memset(&rec, 0, sizeof rec);
    pr.e.addr = (const void *)addr;
    pr.now_what = write ? "written at" : "read at";
    pr.now_tid = alloy__dbg_tid();
    alloy__debug_heap *h = g->heap;
    alloy__dbg_self.inside++;
    pr.now_stack = fault_stack(h, ctx);
    alloy__dbg_self.inside--;
    uintptr_t data0 = (uintptr_t)g->base + PAGE;
    size_t cycle = (g->slot_pages + 1) * PAGE;
    bool found = false;
    if (addr >= data0) {
        uint32_t i = slot_of(g, addr);
        uintptr_t within = (addr - data0) % cycle;
        if (within >= g->slot_pages * PAGE) {
            /* The guard page after slot i: past the end of i's block (or before i + 1's). */
            found = alloy__dbg_guard_lookup(g, (uintptr_t)slot_data(g, i), &rec);
            if (!found && i + 1 < g->nslots)
                found = alloy__dbg_guard_lookup(g, (uintptr_t)slot_data(g, i + 1), &rec);
        } else {
            found = alloy__dbg_guard_lookup(g, addr, &rec);
        }
    } else if (g->nslots > 0) {
        found = alloy__dbg_guard_lookup(g, data0, &rec);
    }
    static char detail[160];
    if (found) {
        pr.rec = &rec;
        pr.e.ptr = (const void *)rec.user;
        pr.e.size = rec.size;
        if (rec.state == REC_FREED)
            pr.e.kind = ALLOY_DEBUG_USE_AFTER_FREE;
        else
            pr.e.kind = addr < rec.user ? ALLOY_DEBUG_UNDERFLOW : ALLOY_DEBUG_OVERFLOW;
        snprintf(detail, sizeof detail, "%s of an inaccessible page (guard-page mode)",
                 write ? "write" : "read");
    } else {
        pr.e.kind = ALLOY_DEBUG_OVERFLOW;
        pr.e.ptr = (const void *)addr;
        snprintf(detail, sizeof detail,
                 "%s of a guard page no block is near (guard-page mode, wild access)",
                 write ? "write" : "read");
    }
    pr.e.detail = detail;
    if (alloy__dbg_report(h, &pr) == ALLOY_DEBUG_CONTINUE) {
        /* Let the access through: the page stays open, its slot is never reused. */
        mprotect((void *)(addr & ~(uintptr_t)(PAGE - 1)), PAGE, PROT_READ | PROT_WRITE);
    }
}
