/* SPDX-License-Identifier: MIT */
/* src/debug/process.c - ALLOY_DEBUG=1: the routed API (and liballoy-override.so) through one
 * debug heap.
 *
 * The debug layer (src/layer/layer.h): debug_attach() runs once, before the
 * first allocation (from ALLOY_DEBUG=1 at start, or alloy_layer_push), while
 * allocations are still served from the bootstrap buffer: it saves the table
 * below, creates the process debug heap over it and fills its own table with
 * the functions below. A counting layer above it sees the block sizes the
 * debug heap reports as usable (the requested sizes), so it still balances.
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
#include "../layer/layer.h"
#include "../env.h"

#include <dlfcn.h>
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

/* alloy_collect(true) also empties the quarantine (after checking it): the
 * freed blocks go back to the table below, as a cache flush would. */
static void d_collect(bool force) {
    if (force) {
        alloy__dbg_check(H);
        alloy__dbg_drain(H);
    }
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

static alloy_debug_action keep_going(const alloy_debug_error *e, void *arg) {
    (void)e, (void)arg;
    return ALLOY_DEBUG_CONTINUE;
}

/* Each variable has a range; a value outside it, or one that does not parse, costs one escaped
 * line on stderr (src/env.c) and the default is used. The limits keep every size computation of
 * the heap and the guard pool far from overflow and the memory taken before main bounded. */
#define ENV_QUARANTINE_MAX ((size_t)1 << 30)
#define ENV_FILL_MAX ((size_t)1 << 30)
#define ENV_GUARD_RATE_MAX 1000000u

static bool leaks_at_exit = true;

bool alloy__debug_env_on(void) {
    return alloy__env_flag("ALLOY_DEBUG", false);
}

/* A whole decimal number of at most digits digits, in [0, max]; else -1. */
static long small_number(const char *v, size_t digits, long max) {
    size_t n = strlen(v);
    if (n == 0 || n > digits || strspn(v, "0123456789") != n) return -1;
    long x = strtol(v, NULL, 10);
    return x <= max ? x : -1;
}

/* ALLOY_DEBUG_GUARD: off, all, or N (guard one block in N). */
static void guard_from_env(alloy_debug_options *o) {
    const char *g = getenv("ALLOY_DEBUG_GUARD");
    if (g == NULL || *g == '\0' || strcmp(g, "off") == 0) return;
    if (strcmp(g, "all") == 0) {
        o->guard = ALLOY_DEBUG_GUARD_ALL;
        return;
    }
    long n = small_number(g, 7, ENV_GUARD_RATE_MAX);
    if (n < 1) {
        alloy__env_reject("ALLOY_DEBUG_GUARD", g,
                          "off, all or N from 1 to 1000000 (guard one block in N)", "off");
        return;
    }
    o->guard = ALLOY_DEBUG_GUARD_SAMPLE;
    o->guard_sample_rate = (unsigned)n;
}

static void options_from_env(alloy_debug_options *o) {
    alloy_debug_options_default(o);
    o->name = "ALLOY_DEBUG";
    o->quarantine_bytes =
        alloy__env_size("ALLOY_DEBUG_QUARANTINE", o->quarantine_bytes, 0, ENV_QUARANTINE_MAX);
    o->stack_depth =
        (unsigned)alloy__env_size("ALLOY_DEBUG_DEPTH", o->stack_depth, 0, DBG_MAX_FRAMES);
    const char *fill = getenv("ALLOY_DEBUG_FILL");
    o->fill_bytes = fill != NULL && strcmp(fill, "all") == 0
                        ? SIZE_MAX
                        : alloy__env_size("ALLOY_DEBUG_FILL", o->fill_bytes, 0, ENV_FILL_MAX);
    static const char *const unwinders[] = {"default", "fp",     "libunwind", "backtrace",
                                            "none",    "hybrid", NULL};
    static const alloy_debug_unwinder unwinder_of[] = {
        ALLOY_DEBUG_UNWIND_DEFAULT,   ALLOY_DEBUG_UNWIND_FP,   ALLOY_DEBUG_UNWIND_LIBUNWIND,
        ALLOY_DEBUG_UNWIND_BACKTRACE, ALLOY_DEBUG_UNWIND_NONE, ALLOY_DEBUG_UNWIND_HYBRID};
    o->unwinder = unwinder_of[alloy__env_choice("ALLOY_DEBUG_UNWIND", unwinders, 0)];
    guard_from_env(o);
    o->guard_slots = (unsigned)alloy__env_size("ALLOY_DEBUG_GUARD_SLOTS", o->guard_slots, 1,
                                               DBG_GUARD_SLOTS_MAX);
    o->guard_max_size =
        alloy__env_size("ALLOY_DEBUG_GUARD_MAX", o->guard_max_size, 1, DBG_GUARD_MAX_SIZE);
    static const char *const actions[] = {"abort", "continue", NULL};
    if (alloy__env_choice("ALLOY_DEBUG_ON_ERROR", actions, 0) == 1) o->on_error = keep_going;
    o->json_path = getenv("ALLOY_DEBUG_REPORT");
    if (o->json_path != NULL && *o->json_path == '\0') o->json_path = NULL;
    const char *x = getenv("ALLOY_DEBUG_LEAK_EXITCODE");
    if (x != NULL && *x != '\0') {
        leak_exitcode = (int)small_number(x, 3, 255);
        if (leak_exitcode < 0)
            alloy__env_reject("ALLOY_DEBUG_LEAK_EXITCODE", x, "an exit status from 0 to 255",
                              "the program's own exit status");
    }
    leaks_at_exit = alloy__env_flag("ALLOY_DEBUG_LEAKS", true);
}

/* ---- exit, fork ------------------------------------------------------------------------ */

__attribute__((noinline)) static void at_exit(void) {
    /* Writes after free into blocks still in quarantine are found now or never; then the
     * quarantine goes back to the backend (a leak checker of the backend's own, LSan in a
     * sanitizer build, cannot see blocks held only in our pages). */
    alloy__dbg_check(H);
    alloy__dbg_drain(H);
    if (!leaks_at_exit) return;
    uintptr_t from = alloy__dbg_exit_stack_start((uintptr_t)__builtin_frame_address(0) + 16);
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
    /* In the child the forking thread has a new id: reports must not name the parent's. */
    alloy__dbg_self.tid = 0;
}

/* ---- the hook --------------------------------------------------------------------------- */

static bool debug_attach(const alloy__backend *below, alloy__backend *be) {
    alloy_debug_options o;
    options_from_env(&o);
    inner = *below;
    H = alloy__dbg_heap_new((dbg_parent){inner_alloc, inner_free, NULL}, &o, (size_t)64 << 20);
    if (H == NULL) {
        alloy__warn("ALLOY_DEBUG=1: cannot set up the debug heap; running without it");
        return false;
    }
    H->process = true;
    alloy__dbg_process.heap = H;
    H->guard_only = alloy__env_flag("ALLOY_DEBUG_GUARD_ONLY", false) && H->guard != NULL;
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
    return true;
}

static bool debug_env(void) {
    return alloy__debug_env_on();
}

/* The debug heap must see every block, so it can only be pushed before the
 * first allocation (src/layer/layer.h). */
const alloy__layer alloy__layer_debug = {
    .id = ALLOY_LAYER_DEBUG,
    .name = "debug",
    .attach = debug_attach,
    .from_env = debug_env,
    .late_ok = false,
};

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

/* ---- the process's malloc and the parent ---------------------------------------------------- */

static const void *module_base_of(const void *addr) {
    Dl_info di;
    return addr != NULL && dladdr(addr, &di) != 0 ? di.dli_fbase : NULL;
}

bool alloy__dbg_malloc_shares_parent(void) {
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    bool (*self_fn)(void) = alloy__dbg_malloc_shares_parent;
    const void *self, *backend;
    memcpy(&self, &self_fn, sizeof self);
    memcpy(&backend, &inner.malloc, sizeof backend);
    const void *mod = module_base_of(m);
    if (mod == NULL) return true;
    /* The override: malloc is ours, and a damaged parent is no longer called. */
    if (mod == module_base_of(self)) return false;
    /* The libc backend wraps glibc's malloc in liballoy; any other backend is its library. */
    if (strcmp(inner.name, "libc") == 0) {
        Dl_info di;
        return dladdr(m, &di) != 0 && di.dli_fname != NULL &&
               strstr(di.dli_fname, "libc.so") != NULL;
    }
    return mod == module_base_of(backend);
}
