/* src/debug/process.c - ALLOY_DEBUG=1: the routed API (and liballoy-override.so) through one
 * debug heap.
 *
 * alloy__debug_wrap() runs once inside backend selection (src/init.c), while
 * initialization allocations are still served from the bootstrap buffer: it
 * saves the chosen backend's table, creates the process debug heap over it and
 * overwrites the table's slots with the functions below. The routed API is not
 * touched: its counters see the block sizes the debug heap reports as usable
 * (the requested sizes), so they still balance.
 *
 * Variables (defaults): ALLOY_DEBUG_QUARANTINE=256K, ALLOY_DEBUG_DEPTH=16,
 * ALLOY_DEBUG_UNWIND=libunwind|fp|backtrace|none, ALLOY_DEBUG_GUARD=off|all|<N>
 * (one block in N), ALLOY_DEBUG_GUARD_SLOTS=4096, ALLOY_DEBUG_GUARD_MAX=16K,
 * ALLOY_DEBUG_ON_ERROR=abort|continue, ALLOY_DEBUG_REPORT=<json file, %p = pid>,
 * ALLOY_DEBUG_LEAKS=1 (0: no exit leak report), ALLOY_DEBUG_LEAK_EXITCODE=<n>,
 * ALLOY_DEBUG_GUARD_ONLY=1 (with ALLOY_DEBUG_GUARD: track only the sampled blocks),
 * ALLOY_DEBUG_FILL=256|all, ALLOY_DEBUG_SYMBOLS=full, ALLOY_DEBUG_UNWIND=hybrid too.
 */
#define _GNU_SOURCE
#include "debug_internal.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

alloy_debug alloy__dbg_process;
static alloy__debug_heap *H;
static alloy__backend inner;
static int leak_exitcode = -1;

/* ---- the parent: the saved backend table -------------------------------------------- */

static void *inner_alloc(void *ctx, size_t size, size_t align) {
    (void)ctx;
    if (align <= 16) {
        void *p = inner.malloc(size);
        if (p == NULL || ((uintptr_t)p & 15) == 0) return p;
        inner.free(p); /* a backend whose small classes are only 8-aligned */
    }
    return inner.malloc_aligned(size, align);
}

static void inner_free(void *ctx, void *p, size_t size, size_t align) {
    (void)ctx;
    if (align <= 16)
        inner.free_sized(p, size);
    else
        inner.free_aligned_sized(p, size, align);
}

/* ---- the table ------------------------------------------------------------------------- */

static void *d_malloc(size_t size) {
    return alloy__dbg_alloc(H, size, 0, false, DBG_HERE());
}

static void *d_calloc(size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) return NULL;
    return alloy__dbg_alloc(H, total, 0, true, DBG_HERE());
}

static void *d_realloc(void *p, size_t size) {
    if (p == NULL) return d_malloc(size);
    return alloy__dbg_realloc(H, p, 0, size, 0, false, DBG_HERE());
}

static void d_free(void *p) {
    if (p != NULL) alloy__dbg_free_ex(H, p, 0, 0, 0, DBG_HERE());
}

static void d_free_sized(void *p, size_t size) {
    /* alloy_realloc(p, 0) asks the table for 1 byte: a later sized free says 0. */
    if (p != NULL) alloy__dbg_free_ex(H, p, size, 0, size != 0 ? CLAIM_SIZE : 0, DBG_HERE());
}

static void *d_malloc_aligned(size_t size, size_t align) {
    return alloy__dbg_alloc(H, size, align, false, DBG_HERE());
}

static void *d_realloc_aligned(void *p, size_t size, size_t align) {
    if (p == NULL) return d_malloc_aligned(size, align);
    return alloy__dbg_realloc(H, p, 0, size, align, false, DBG_HERE());
}

static void d_free_aligned_sized(void *p, size_t size, size_t align) {
    if (p != NULL) alloy__dbg_free_ex(H, p, size, align, CLAIM_SIZE | CLAIM_ALIGN, DBG_HERE());
}

static size_t d_usable_size(const void *p) {
    return alloy__dbg_usable(H, p);
}

static void d_collect(bool force) {
    inner.collect(force);
}

/* ---- guard-only mode ---------------------------------------------------------------------
 * ALLOY_DEBUG_GUARD=N with ALLOY_DEBUG_GUARD_ONLY=1: like GWP-ASan, only the sampled blocks are
 * tracked (guard page, record, stacks, leak report); every other call goes straight to the
 * backend after a countdown (allocation) or an address range check (free). Cheap enough to
 * leave on in production. */

static inline bool tracked(const void *p) {
    return alloy__dbg_guard_owns(H->guard, (uintptr_t)p);
}

static inline bool sample(size_t size) {
    return alloy__dbg_self.inside == 0 && alloy__dbg_guard_want(H->guard, size);
}

static void *s_malloc(size_t size) {
    if (ALLOY_UNLIKELY(sample(size))) {
        void *p = alloy__dbg_alloc(H, size, 0, false, DBG_HERE());
        if (p != NULL) return p;
    }
    return inner.malloc(size);
}

static void *s_calloc(size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) return NULL;
    if (ALLOY_UNLIKELY(sample(total))) {
        void *p = alloy__dbg_alloc(H, total, 0, true, DBG_HERE());
        if (p != NULL) return p;
    }
    return inner.calloc(count, size);
}

static void *s_malloc_aligned(size_t size, size_t align) {
    if (ALLOY_UNLIKELY(sample(size))) {
        void *p = alloy__dbg_alloc(H, size, align, false, DBG_HERE());
        if (p != NULL) return p;
    }
    return inner.malloc_aligned(size, align);
}

static void s_free(void *p) {
    if (ALLOY_UNLIKELY(tracked(p)))
        alloy__dbg_free_ex(H, p, 0, 0, 0, DBG_HERE());
    else if (p != NULL)
        inner.free(p);
}

static void s_free_sized(void *p, size_t size) {
    if (ALLOY_UNLIKELY(tracked(p)))
        alloy__dbg_free_ex(H, p, size, 0, size != 0 ? CLAIM_SIZE : 0, DBG_HERE());
    else if (p != NULL)
        inner.free_sized(p, size);
}

static void s_free_aligned_sized(void *p, size_t size, size_t align) {
    if (ALLOY_UNLIKELY(tracked(p)))
        alloy__dbg_free_ex(H, p, size, align, CLAIM_SIZE | CLAIM_ALIGN, DBG_HERE());
    else if (p != NULL)
        inner.free_aligned_sized(p, size, align);
}

static size_t s_usable_size(const void *p) {
    /* Untracked: the backend's own answer, through glibc's chunk header where it applies. */
    return tracked(p) ? alloy__dbg_usable(H, p) : alloy__usable(&inner, p);
}

/* A tracked block moves to a fresh (sampled or not) block; an untracked one stays with the
 * backend. */
static void *s_realloc_any(void *p, size_t size, size_t align) {
    if (!tracked(p))
        return align == 0 ? inner.realloc(p, size) : inner.realloc_aligned(p, size, align);
    size_t old = alloy__dbg_usable(H, p);
    void *q = align == 0 ? s_malloc(size) : s_malloc_aligned(size, align);
    if (q == NULL) return NULL;
    memcpy(q, p, old < size ? old : size);
    s_free(p);
    return q;
}

static void *s_realloc(void *p, size_t size) {
    return p == NULL ? s_malloc(size) : s_realloc_any(p, size, 0);
}

static void *s_realloc_aligned(void *p, size_t size, size_t align) {
    return p == NULL ? s_malloc_aligned(size, align) : s_realloc_any(p, size, align);
}

/* ---- options from the environment ------------------------------------------------------ */

static size_t env_size(const char *name, size_t def) {
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') return def;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    switch (*end) {
    case 'k':
    case 'K':
        n <<= 10;
        break;
    case 'm':
    case 'M':
        n <<= 20;
        break;
    case 'g':
    case 'G':
        n <<= 30;
        break;
    default:
        break;
    }
    return (size_t)n;
}

static alloy_debug_action keep_going(const alloy_debug_error *e, void *arg) {
    (void)e, (void)arg;
    return ALLOY_DEBUG_CONTINUE;
}

static void options_from_env(alloy_debug_options *o) {
    alloy_debug_options_default(o);
    o->name = "ALLOY_DEBUG";
    o->quarantine_bytes = env_size("ALLOY_DEBUG_QUARANTINE", o->quarantine_bytes);
    o->stack_depth = (unsigned)env_size("ALLOY_DEBUG_DEPTH", o->stack_depth);
    const char *fill = getenv("ALLOY_DEBUG_FILL");
    o->fill_bytes = fill != NULL && strcmp(fill, "all") == 0
                        ? SIZE_MAX
                        : env_size("ALLOY_DEBUG_FILL", o->fill_bytes);
    const char *u = getenv("ALLOY_DEBUG_UNWIND");
    if (u != NULL) {
        if (strcmp(u, "fp") == 0)
            o->unwinder = ALLOY_DEBUG_UNWIND_FP;
        else if (strcmp(u, "libunwind") == 0)
            o->unwinder = ALLOY_DEBUG_UNWIND_LIBUNWIND;
        else if (strcmp(u, "backtrace") == 0)
            o->unwinder = ALLOY_DEBUG_UNWIND_BACKTRACE;
        else if (strcmp(u, "none") == 0)
            o->unwinder = ALLOY_DEBUG_UNWIND_NONE;
    }
    const char *g = getenv("ALLOY_DEBUG_GUARD");
    if (g != NULL && strcmp(g, "all") == 0) {
        o->guard = ALLOY_DEBUG_GUARD_ALL;
    } else if (g != NULL && atoi(g) > 0) {
        o->guard = ALLOY_DEBUG_GUARD_SAMPLE;
        o->guard_sample_rate = (unsigned)atoi(g);
    }
    o->guard_slots = (unsigned)env_size("ALLOY_DEBUG_GUARD_SLOTS", o->guard_slots);
    o->guard_max_size = env_size("ALLOY_DEBUG_GUARD_MAX", o->guard_max_size);
    const char *e = getenv("ALLOY_DEBUG_ON_ERROR");
    if (e != NULL && strcmp(e, "continue") == 0) o->on_error = keep_going;
    o->json_path = getenv("ALLOY_DEBUG_REPORT");
    const char *x = getenv("ALLOY_DEBUG_LEAK_EXITCODE");
    if (x != NULL && *x != '\0') leak_exitcode = atoi(x);
}

/* ---- exit, fork ------------------------------------------------------------------------ */

__attribute__((noinline)) static void at_exit(void) {
    /* Writes after free into blocks still in quarantine are found now or never; then the
     * quarantine goes back to the backend (a leak checker of the backend's own, LSan in a
     * sanitizer build, cannot see blocks held only in our pages). */
    alloy__dbg_check(H);
    alloy__dbg_drain(H);
    const char *v = getenv("ALLOY_DEBUG_LEAKS");
    if (v != NULL && strcmp(v, "0") == 0) return;
    uintptr_t from = (uintptr_t)__builtin_frame_address(0) + 16;
    size_t n = alloy__dbg_leaks(H, true, from, NULL, 0, "at exit", NULL);
    if (n > 0 && leak_exitcode >= 0) {
        fflush(NULL);
        _exit(leak_exitcode);
    }
}

static void before_fork(void) {
    alloy__dbg_lock_all(H);
}
static void after_fork(void) {
    alloy__dbg_unlock_all(H);
}

/* ---- the hook --------------------------------------------------------------------------- */

void alloy__debug_wrap(alloy__backend *be) {
    alloy_debug_options o;
    options_from_env(&o);
    inner = *be;
    H = alloy__dbg_heap_new((dbg_parent){inner_alloc, inner_free, NULL}, &o, (size_t)64 << 20);
    if (H == NULL) {
        alloy__warn("ALLOY_DEBUG=1: cannot set up the debug heap; running without it");
        return;
    }
    H->process = true;
    alloy__dbg_process.heap = H;
    const char *only = getenv("ALLOY_DEBUG_GUARD_ONLY");
    H->guard_only = only != NULL && strcmp(only, "1") == 0 && H->guard != NULL;
    if (H->guard_only) {
        be->malloc = s_malloc;
        be->calloc = s_calloc;
        be->realloc = s_realloc;
        be->free = s_free;
        be->free_sized = s_free_sized;
        be->malloc_aligned = s_malloc_aligned;
        be->realloc_aligned = s_realloc_aligned;
        be->free_aligned_sized = s_free_aligned_sized;
        be->usable_size = s_usable_size;
    } else {
        be->malloc = d_malloc;
        be->calloc = d_calloc;
        be->realloc = d_realloc;
        be->free = d_free;
        be->free_sized = d_free_sized;
        be->malloc_aligned = d_malloc_aligned;
        be->realloc_aligned = d_realloc_aligned;
        be->free_aligned_sized = d_free_aligned_sized;
        be->usable_size = d_usable_size;
    }
    be->collect = d_collect;
    be->classes = NULL;       /* usable size is the requested size for our blocks, not a class */
    be->glibc_chunks = false; /* no chunk header before our blocks */
    atexit(at_exit);
    pthread_atfork(before_fork, after_fork, after_fork);
}

alloy_debug *alloy_debug_process(void) {
    alloy__init();
    return H != NULL ? &alloy__dbg_process : NULL;
}

__attribute__((noinline)) size_t alloy_debug_leak_check(void) {
    jmp_buf regs; /* the caller's callee-saved registers, before we use any */
    setjmp(regs);
    alloy__init();
    uintptr_t from = (uintptr_t)__builtin_frame_address(0) + 16;
    /* Only the register words: the rest of a jmp_buf is stale stack, not roots. */
    return H != NULL ? alloy__dbg_leaks(H, true, from, &regs[0].__jmpbuf, sizeof regs[0].__jmpbuf,
                                        "at alloy_debug_leak_check", NULL)
                     : 0;
}
