/* SPDX-License-Identifier: MIT */
/* alloy/debug.h - the debug allocator: leaks, bad frees, overflows and use after free, with stacks.
 *
 * An alloy_debug wraps any parent allocator. Each live block is recorded in a
 * side table (size, alignment, thread, allocation stack) and surrounded by
 * guard bytes; a freed block is filled with a pattern and held in a bounded
 * quarantine, with its free stack. Errors are reported on stderr (and as JSON
 * lines to a file) with symbolized stacks, then passed to the error handler,
 * which chooses to abort (the default) or continue.
 *
 * Detected: double free, free of a pointer never returned (interior, stack,
 * global, another allocator's block), size or alignment mismatch on free,
 * writes past the end or before the start (on free and by alloy_debug_check),
 * writes after free (when the block leaves the quarantine and by
 * alloy_debug_check), leaks (at alloy_debug_deinit: every block still live).
 * Guard-page mode puts all or a sample of blocks against an inaccessible page,
 * so an out-of-bounds read or a read after free faults and is reported.
 *
 * Process-wide: ALLOY_DEBUG=1 in the environment routes the routed API (and
 * liballoy-override.so, so any program under LD_PRELOAD) through one debug
 * allocator; leaks are reported at exit with LSan's rule (a block reachable
 * from globals, stacks, TLS or another reachable block is not a leak). See
 * docs/debug.md for the variables, report format and costs.
 *
 * Thread-safe when the parent is: the table is sharded, no global lock on the
 * allocation or free path.
 */
#ifndef ALLOY_DEBUG_H
#define ALLOY_DEBUG_H

#include <alloy/allocator.h>

ALLOY_EXTERN_C_BEGIN

/* ---- errors -------------------------------------------------------------- */

typedef enum alloy_debug_kind {
    ALLOY_DEBUG_DOUBLE_FREE = 1, /* freed a block already in the quarantine */
    ALLOY_DEBUG_INVALID_FREE,    /* freed a pointer this allocator never returned */
    ALLOY_DEBUG_SIZE_MISMATCH,   /* sized free with another size than the block's */
    ALLOY_DEBUG_ALIGN_MISMATCH,  /* free with another alignment than the block's */
    ALLOY_DEBUG_OVERFLOW,        /* write (or guard-page access) past the end of a block */
    ALLOY_DEBUG_UNDERFLOW,       /* write (or guard-page access) before the start of a block */
    ALLOY_DEBUG_USE_AFTER_FREE,  /* write (or guard-page access) to a freed block */
    ALLOY_DEBUG_LEAK             /* a block never freed (one report per allocation site) */
} alloy_debug_kind;

typedef struct alloy_debug_error {
    alloy_debug_kind kind;
    const char *name;   /* "double-free", "invalid-free", ..., as in the report */
    const void *ptr;    /* the pointer passed in, or the block's start */
    size_t size;        /* the block's size (0 if the pointer is no block) */
    size_t align;       /* the block's alignment */
    size_t given_size;  /* size passed to the free (mismatch), bytes leaked (leak) */
    size_t given_align; /* alignment passed to the free (mismatch), blocks leaked (leak) */
    const void *addr;   /* first bad byte or faulting address, or NULL */
    const char *detail; /* one line of context, e.g. "interior pointer: 8 bytes into ..." */
} alloy_debug_error;

typedef enum alloy_debug_action { ALLOY_DEBUG_ABORT, ALLOY_DEBUG_CONTINUE } alloy_debug_action;

/* Called after an error is reported; return ALLOY_DEBUG_CONTINUE to go on (the bad free is
 * ignored, a corrupted block is still released). Leaks are passed too; their return is ignored. */
typedef alloy_debug_action alloy_debug_handler(const alloy_debug_error *e, void *arg);

/* ---- options ------------------------------------------------------------- */

typedef enum alloy_debug_unwinder {
    ALLOY_DEBUG_UNWIND_DEFAULT,   /* the platform's best: HYBRID on x86-64, else BACKTRACE */
    ALLOY_DEBUG_UNWIND_FP,        /* frame-pointer walk: fastest, wrong through code without FPs */
    ALLOY_DEBUG_UNWIND_LIBUNWIND, /* libunwind unw_backtrace (DWARF CFI, cached) */
    ALLOY_DEBUG_UNWIND_BACKTRACE, /* glibc backtrace() */
    ALLOY_DEBUG_UNWIND_NONE,      /* record no stacks */
    ALLOY_DEBUG_UNWIND_HYBRID     /* rules learned once per return address from libunwind */
} alloy_debug_unwinder;

typedef enum alloy_debug_guard {
    ALLOY_DEBUG_GUARD_OFF,    /* guard bytes only */
    ALLOY_DEBUG_GUARD_ALL,    /* every block (up to guard_max_size) against a guard page */
    ALLOY_DEBUG_GUARD_SAMPLE, /* one block in guard_sample_rate */
} alloy_debug_guard;

typedef struct alloy_debug_options {
    size_t quarantine_bytes;       /* freed bytes each thread holds back (threads beyond 64 share);
                                      default 256 KiB, 0: none */
    size_t fill_bytes;             /* bytes of a freed block filled and checked; default 256 */
    unsigned stack_depth;          /* frames kept per stack; default 16, at most 64 */
    alloy_debug_unwinder unwinder; /* default ALLOY_DEBUG_UNWIND_DEFAULT */
    alloy_debug_guard guard;       /* default ALLOY_DEBUG_GUARD_OFF */
    unsigned guard_sample_rate;    /* GUARD_SAMPLE: guard one block in this many; default 1000 */
    unsigned guard_slots;          /* guarded blocks live or quarantined at once; 4096; <= 65536 */
    size_t guard_max_size;         /* larger blocks get guard bytes only; 16 KiB; <= 1 MiB */
    alloy_debug_handler *on_error; /* NULL: abort on every error except leaks */
    void *on_error_arg;            /* passed to on_error */
    const char *json_path;         /* JSON lines report file ("%p": pid); NULL: none */
    const char *name;              /* shown in reports; default "alloy_debug" */
} alloy_debug_options;

/* ---- the allocator value ------------------------------------------------- */

/* Fields are private. */
typedef struct alloy_debug {
    alloy_allocator parent;
    struct alloy__debug_heap *heap;
} alloy_debug;

/* Counts over the blocks the allocator knows of, for alloy_debug_report and deinit. */
typedef struct alloy_debug_summary {
    uint64_t live_blocks; /* blocks allocated and not freed */
    uint64_t live_bytes;  /* their requested bytes */
    uint64_t leak_sites;  /* distinct allocation stacks among them */
    uint64_t errors;      /* errors reported so far (leaks not counted) */
} alloy_debug_summary;

/* Fill *o with the defaults listed above. */
ALLOY_API void alloy_debug_options_default(alloy_debug_options *o) ALLOY_NOEXCEPT;
/* Wrap parent (not owned); opt NULL: defaults. False (nothing to deinit) if out of memory. */
ALLOY_API bool alloy_debug_init(alloy_debug *d, alloy_allocator parent,
                                const alloy_debug_options *opt) ALLOY_NOEXCEPT;
/* The debug allocator as a value (d must outlive it); stats reports live blocks and bytes. */
ALLOY_API alloy_allocator alloy_debug_allocator(alloy_debug *d) ALLOY_NOEXCEPT;
/* Check every live block's guard bytes and every quarantined block's pattern now, reporting each
 * problem; returns the number found. */
ALLOY_API size_t alloy_debug_check(alloy_debug *d) ALLOY_NOEXCEPT;
/* Report every live block, grouped by allocation site, as leaks (stderr and JSON); fill *out if
 * not NULL. Returns the number of live blocks. */
ALLOY_API size_t alloy_debug_report(alloy_debug *d, alloy_debug_summary *out) ALLOY_NOEXCEPT;
/* Count live blocks without reporting them. */
ALLOY_API void alloy_debug_summarize(alloy_debug *d, alloy_debug_summary *out) ALLOY_NOEXCEPT;
/* Check, report leaks, then release everything (leaked blocks too) to the parent. Returns the
 * number of leaked blocks. */
ALLOY_API size_t alloy_debug_deinit(alloy_debug *d) ALLOY_NOEXCEPT;
/* Install an error handler (NULL: abort on errors) and its argument. */
ALLOY_API void alloy_debug_set_handler(alloy_debug *d, alloy_debug_handler *fn,
                                       void *arg) ALLOY_NOEXCEPT;

/* ---- process-wide mode and tools ----------------------------------------- */

/* The debug allocator behind the routed API when ALLOY_DEBUG=1, else NULL. Never deinit it. */
ALLOY_API alloy_debug *alloy_debug_process(void) ALLOY_NOEXCEPT;
/* Leak check of the process now, with the exit rule (unreachable live blocks only); reported
 * like the exit report. Returns the number of leaked blocks; 0 without ALLOY_DEBUG=1. */
ALLOY_API size_t alloy_debug_leak_check(void) ALLOY_NOEXCEPT;
/* Capture up to max return addresses of the caller's stack with the given unwinder. */
ALLOY_API size_t alloy_debug_backtrace(void **pcs, size_t max,
                                       alloy_debug_unwinder how) ALLOY_NOEXCEPT;
/* Write "function file:line" (or "module+0xoff") for pc into buf; false if nothing is known. */
ALLOY_API bool alloy_debug_symbolize(const void *pc, char *buf, size_t len) ALLOY_NOEXCEPT;

ALLOY_EXTERN_C_END

#endif /* ALLOY_DEBUG_H */
