/* SPDX-License-Identifier: MIT */
/* src/debug/debug_internal.h - private to the debug allocator.
 *
 * Pieces: stack.c (capture, stack depot, module registry), symbols.c (libdw,
 * cached), heap.c (records, guard bytes, quarantine, checks), guard.c (guard
 * pages and the fault handler), report.c (text and JSON), leaks.c (exit
 * reachability scan), value.c (the allocator value), process.c (ALLOY_DEBUG=1).
 *
 * Nothing here calls malloc: metadata lives in pages from mmap, so the debug
 * allocator never recurses into itself and never shows in its own leak report.
 * Code that may call malloc indirectly (libunwind, libdw, dlopen) runs with
 * the thread's `inside` count raised; blocks allocated then are marked internal.
 */
#ifndef ALLOY_DEBUG_INTERNAL_H
#define ALLOY_DEBUG_INTERNAL_H

#include "../internal.h"

#include <alloy/debug.h>

#define DBG_MAX_FRAMES 64u
/* The current function's frame, for alloy__dbg_stack's from. */
#define DBG_HERE() ((const void *)__builtin_frame_address(0))
#define DBG_SHARDS 64u
#define DBG_RZ 16u         /* front guard bytes (at least; = align above 16) */
#define DBG_PAT_RZ 0xfbu   /* guard bytes */
#define DBG_PAT_FREE 0xfdu /* freed blocks in quarantine */
#define DBG_DEFAULT_QUARANTINE (256u << 10)
#define DBG_DEFAULT_FILL 256u
#define DBG_GUARD_SLOTS_MAX 65536u           /* alloy_debug_options.guard_slots, at most */
#define DBG_GUARD_MAX_SIZE ((size_t)1 << 20) /* alloy_debug_options.guard_max_size, at most */

/* ---- small helpers -------------------------------------------------------- */

/* mmap'd zeroed memory, rounded up to pages; NULL on failure. */
ALLOY_HIDDEN void *alloy__dbg_pages(size_t bytes);
ALLOY_HIDDEN void alloy__dbg_unpages(void *p, size_t bytes);

typedef struct dbg_lock {
    int v;
} dbg_lock;
ALLOY_HIDDEN void alloy__dbg_lock_slow(dbg_lock *l);
static inline void dbg_lock_take(dbg_lock *l) {
    if (ALLOY_LIKELY(__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE) == 0)) return;
    alloy__dbg_lock_slow(l);
}
static inline void dbg_lock_drop(dbg_lock *l) {
    __atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}

/* Per-thread state. `inside` > 0 while debug-allocator code that may allocate runs. */
typedef struct dbg_thread {
    int inside;
    unsigned shard; /* 1 + index of this thread's shard; 0: none yet */
    uint32_t tid;
    uint32_t sample_countdown;
    uintptr_t stack_hi; /* top of this thread's stack (0: unknown): bounds frame walks */
    bool registered;    /* stack bounds looked up (never from inside our own code) */
} dbg_thread;
ALLOY_HIDDEN extern ALLOY_TLS dbg_thread alloy__dbg_self;
ALLOY_HIDDEN uint32_t alloy__dbg_tid(void);

/* ---- stacks (stack.c) ------------------------------------------------------ */

/* Load libunwind (once); the default unwinder resolved for this platform. */
ALLOY_HIDDEN alloy_debug_unwinder alloy__dbg_unwinder_resolve(alloy_debug_unwinder u);
/* Capture up to max frames of the caller, skipping frames inside alloy's own module. */
ALLOY_HIDDEN size_t alloy__dbg_capture(void **pcs, size_t max, alloy_debug_unwinder how,
                                       const void *from);
/* Capture and intern: the stack's id in the depot (0: none). from: the frame address of the
 * debug allocator's entry function (it has a frame pointer), where the walk may start; NULL:
 * here. Frames inside alloy are dropped either way. */
ALLOY_HIDDEN uint32_t alloy__dbg_stack(unsigned depth, alloy_debug_unwinder how, const void *from);
/* Intern a captured stack. */
ALLOY_HIDDEN uint32_t alloy__dbg_intern(void *const *pcs, size_t n);
/* Frames of a stack id; returns the count (0 for id 0). */
ALLOY_HIDDEN size_t alloy__dbg_frames(uint32_t id, void *const **pcs);
/* Module registry: every module seen at capture time, kept after dlclose. */
typedef struct dbg_module {
    uintptr_t start, end; /* text range(s) span */
    uintptr_t bias;       /* load address (dlpi_addr) */
    char path[256];
    bool unloaded;
    void *dwfl; /* symbols.c: lazily opened Dwfl, or (void*)1 if it failed */
} dbg_module;
/* Module of pc now (refreshing the registry if needed); NULL if unknown. */
ALLOY_HIDDEN dbg_module *alloy__dbg_module_of(uintptr_t pc);
/* Module of frame pc of stack id, as registered when the stack was stored. */
ALLOY_HIDDEN dbg_module *alloy__dbg_module_for(uint32_t id, uintptr_t pc);
/* True if addr is in any loaded module's writable data; name of the module into *name. */
ALLOY_HIDDEN bool alloy__dbg_global_addr(uintptr_t addr, const char **name);

/* ---- symbols (symbols.c) --------------------------------------------------- */

#define DBG_MAX_INLINE 6
typedef struct dbg_frame {
    const char *func; /* NULL if unknown */
    const char *file; /* NULL if unknown; as recorded in the debug info */
    int line;
} dbg_frame;
typedef struct dbg_sym {
    unsigned n;                  /* f[0] innermost (inlined) ... f[n - 1] the real function */
    dbg_frame f[DBG_MAX_INLINE]; /* n == 0: nothing known */
    const char *module;          /* file of the module, or NULL */
    uintptr_t offset;            /* pc - module load address */
} dbg_sym;
/* Symbolize a return address (looked up at pc - 1); cached. Never fails (fields may be NULL). */
ALLOY_HIDDEN void alloy__dbg_symbolize(uint32_t stack, uintptr_t pc, bool is_return, dbg_sym *out);

/* ---- the heap (heap.c) ----------------------------------------------------- */

enum { REC_UNUSED = 0, REC_LIVE = 1, REC_FREEING = 2, REC_FREED = 3 };
enum { RECF_INTERNAL = 1, RECF_GUARDED = 2, RECF_REPORTED = 4 };

/* One per block, 64 bytes, in the heap's record region. The 8 bytes before a
 * block hold the record's address xor the heap's secret, so a free finds its
 * record without a table and a pointer that decodes to nothing is not ours. */
typedef struct dbg_rec {
    uintptr_t user;
    size_t size;
    struct dbg_rec *qnext; /* quarantine FIFO, or free list */
    uint32_t alloc_stack, free_stack;
    uint32_t alloc_tid, free_tid;
    uint32_t guard_slot;
    uint8_t align_log2, flags;
    uint8_t state; /* atomic: REC_* */
    uint8_t pad;
    uint64_t reserved[2];
} dbg_rec;

/* Threads take shards round robin and use only their own for new records and
 * their quarantine, so its lock and lines stay with one core. */
typedef struct dbg_shard {
    dbg_lock lock;
    dbg_rec *free_recs;
    dbg_rec *qhead, *qtail;
    size_t qbytes, qcount;
    int64_t live_bytes, live_count; /* net, this shard's threads' allocs minus frees */
} __attribute__((aligned(ALLOY_CACHE_LINE))) dbg_shard;

/* How the heap gets and returns the memory under the blocks. */
typedef struct dbg_parent {
    void *(*alloc)(void *ctx, size_t size, size_t align);
    void (*free)(void *ctx, void *p, size_t size, size_t align);
    void *ctx;
} dbg_parent;

typedef struct alloy__debug_heap {
    dbg_shard shards[DBG_SHARDS];
    unsigned char *recs; /* record region: reserved, bump-allocated in chunks */
    size_t recs_bytes;
    size_t recs_used; /* atomic */
    uintptr_t secret;
    dbg_parent parent;
    alloy_allocator parent_value; /* allocator values: the parent, so alloy_debug can be copied */
    alloy_debug_options opt;
    alloy_debug_handler *on_error;
    void *on_error_arg;
    uint64_t errors; /* atomic */
    int json_fd;
    bool process; /* the ALLOY_DEBUG=1 instance */
    bool destroy_live;
    bool guard_only; /* only sampled, guarded blocks are tracked (alloy__dbg_alloc fails otherwise)
                      */
    bool parent_damaged; /* atomic: a write ran past the guard bytes into the parent's memory */
    char name[64];
    char json_path[4096];
    struct alloy__debug_heap *next_heap; /* registry of instances (other-allocator check) */
    struct dbg_guard_pool *guard;
} alloy__debug_heap;

/* A heap over parent with room for max_blocks records (live and quarantined at once). */
ALLOY_HIDDEN alloy__debug_heap *alloy__dbg_heap_new(dbg_parent parent, const alloy_debug_options *o,
                                                    size_t max_blocks);
ALLOY_HIDDEN void alloy__dbg_heap_destroy(alloy__debug_heap *h, bool release_live);
ALLOY_HIDDEN void *alloy__dbg_alloc(alloy__debug_heap *h, size_t size, size_t align, bool zero,
                                    const void *from);
/* What a free call claims about the block (bitmask); unclaimed values are not checked. */
#define CLAIM_SIZE 1u
#define CLAIM_ALIGN 2u
/* Free p with the claimed size/align. Returns false if p was not freed (reported). */
ALLOY_HIDDEN bool alloy__dbg_free_ex(alloy__debug_heap *h, void *p, size_t size, size_t align,
                                     unsigned claims, const void *from);
/* Move p (known, live) to a new block of new_size; NULL on failure (p intact) or bad pointer. */
ALLOY_HIDDEN void *alloy__dbg_realloc(alloy__debug_heap *h, void *p, size_t size, size_t new_size,
                                      size_t align, bool sized, const void *from);
/* Requested size of a live block; 0 if p is no live block of h. */
ALLOY_HIDDEN size_t alloy__dbg_usable(alloy__debug_heap *h, const void *p);
ALLOY_HIDDEN size_t alloy__dbg_check(alloy__debug_heap *h);
/* Visit every live, non-internal record under its shard lock. */
ALLOY_HIDDEN void alloy__dbg_each_live(alloy__debug_heap *h, void (*fn)(dbg_rec *r, void *arg),
                                       void *arg);
ALLOY_HIDDEN void alloy__dbg_summarize(alloy__debug_heap *h, alloy_debug_summary *out);
/* Release every quarantined block to the parent (after checking it). */
ALLOY_HIDDEN void alloy__dbg_drain(alloy__debug_heap *h);
ALLOY_HIDDEN void alloy__dbg_lock_all(alloy__debug_heap *h);
ALLOY_HIDDEN void alloy__dbg_unlock_all(alloy__debug_heap *h);
/* Find the record containing addr among live and quarantined blocks (slow, for reports). */
ALLOY_HIDDEN bool alloy__dbg_find_containing(alloy__debug_heap *h, uintptr_t addr, dbg_rec *out);
ALLOY_HIDDEN alloy__debug_heap *alloy__dbg_heaps(void);

/* ---- guard pages (guard.c) ------------------------------------------------- */

/* Load the word at addr into *out; false, instead of a crash, if it is not readable (x86-64
 * Linux; elsewhere a plain load). Needs the fault handler: alloy__dbg_fault_install. */
ALLOY_HIDDEN bool alloy__dbg_safe_load(const void *addr, uintptr_t *out);
/* Install the SIGSEGV/SIGBUS handler (once; chains to the previous handler). */
ALLOY_HIDDEN void alloy__dbg_fault_install(void);

typedef struct dbg_guard_pool dbg_guard_pool;
ALLOY_HIDDEN dbg_guard_pool *alloy__dbg_guard_new(const alloy_debug_options *o);
ALLOY_HIDDEN void alloy__dbg_guard_destroy(dbg_guard_pool *g);
ALLOY_HIDDEN void alloy__dbg_guard_attach(dbg_guard_pool *g, alloy__debug_heap *h);
/* Should this allocation be guarded (sampling)? */
ALLOY_HIDDEN bool alloy__dbg_guard_want(dbg_guard_pool *g, size_t size);
/* A guarded block of size/align (0: as malloc), its slot in *slot; NULL if the pool is full. */
ALLOY_HIDDEN void *alloy__dbg_guard_alloc(dbg_guard_pool *g, size_t size, size_t align,
                                          uint32_t stack, uint32_t tid, uint32_t *slot);
/* First changed slack byte around a live guarded block, or 0. */
ALLOY_HIDDEN uintptr_t alloy__dbg_guard_check(dbg_guard_pool *g, uintptr_t user, size_t size);
/* Make the slot inaccessible and queue it for reuse. */
ALLOY_HIDDEN void alloy__dbg_guard_retire(dbg_guard_pool *g, uint32_t slot, uint32_t stack,
                                          uint32_t tid);
ALLOY_HIDDEN bool alloy__dbg_guard_owns(dbg_guard_pool *g, uintptr_t p);
/* Remember the record of the block in slot (returned by lookups in the record's qnext). */
ALLOY_HIDDEN void alloy__dbg_guard_set_rec(dbg_guard_pool *g, uint32_t slot, dbg_rec *r);
/* The block (live or freed) of the slot holding p, as a record copy; false if none. */
ALLOY_HIDDEN bool alloy__dbg_guard_lookup(dbg_guard_pool *g, uintptr_t p, dbg_rec *out);

/* ---- reports (report.c) ---------------------------------------------------- */

typedef struct dbg_problem {
    alloy_debug_error e;
    const dbg_rec *rec;   /* the block concerned, or NULL */
    uint32_t now_stack;   /* stack of the offending call */
    const char *now_what; /* "freed again", "freed", "read", ... */
    uint32_t now_tid;
    bool corruption_dump; /* show bytes around addr */
} dbg_problem;
/* Report on stderr and JSON, then run the handler; returns its choice. */
ALLOY_HIDDEN alloy_debug_action alloy__dbg_report(alloy__debug_heap *h, dbg_problem *p);
/* One leak site. */
typedef struct dbg_leak_site {
    uint32_t stack;
    uint64_t blocks, bytes;
    size_t min_size, max_size;
    uint32_t tid;
} dbg_leak_site;
/* suppressed_blocks/bytes: left out by ALLOY_DEBUG_SUPPRESSIONS (said in the header line). */
ALLOY_HIDDEN void alloy__dbg_report_leaks(alloy__debug_heap *h, dbg_leak_site *sites, size_t n,
                                          const char *when, const char *rule,
                                          uint64_t suppressed_blocks, uint64_t suppressed_bytes);
/* Open the JSON report file named by path (safely; "%p" -> pid); -1 on failure (warned). */
ALLOY_HIDDEN int alloy__dbg_open_json(const char *path);
/* Write n bytes to fd without allocating; false (errno set) if a write failed. */
ALLOY_HIDDEN bool alloy__dbg_write(int fd, const char *s, size_t n);

/* ---- leaks (leaks.c) ------------------------------------------------------- */

/* Group the live blocks of h (all, or only those unreachable from the roots) into sites and
 * report them; returns the number of leaked blocks. */
ALLOY_HIDDEN size_t alloy__dbg_leaks(alloy__debug_heap *h, bool reachability, uintptr_t stack_from,
                                     const void *regs, size_t nregs, const char *when,
                                     alloy_debug_summary *out);
ALLOY_HIDDEN void alloy__dbg_thread_register(void);
/* Called from an exit handler: where the live part of this thread's stack starts (the frame
 * that called exit, skipping alloy's and the C library's frames); fallback if unknown. */
ALLOY_HIDDEN uintptr_t alloy__dbg_exit_stack_start(uintptr_t fallback);
/* This thread's stack [*lo, *hi); false (both 0) if unknown. */
ALLOY_HIDDEN bool alloy__dbg_stack_bounds(uintptr_t *lo, uintptr_t *hi);

/* ---- process mode (process.c) ---------------------------------------------- */

/* Could the process's malloc (what libdw and dlopen call) be the heap under the process debug
 * heap? Then, once that heap is damaged, reports must not allocate. */
ALLOY_HIDDEN bool alloy__dbg_malloc_shares_parent(void);

ALLOY_HIDDEN extern alloy_debug alloy__dbg_process;
/* ALLOY_DEBUG read with src/env.c's rules (1/0, on/off, ...; anything else: one line, off). */
ALLOY_HIDDEN bool alloy__debug_env_on(void);

#endif /* ALLOY_DEBUG_INTERNAL_H */
