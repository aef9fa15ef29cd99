/* SPDX-License-Identifier: MIT */
/* alloy/tally.h - the stats wrapper: counts what passes through to a parent.
 *
 * Wrap any allocator to learn how it is used: calls of each kind, bytes,
 * live blocks and bytes, their peak, and a histogram of requested sizes by
 * power-of-two class. Counters are relaxed atomics, so a tally over a
 * thread-safe parent may be shared by threads; totals are exact, the peak is
 * exact for a single thread and never under-reported by more than concurrent
 * in-flight allocations otherwise. Bytes are requested sizes.
 */
#ifndef ALLOY_TALLY_H
#define ALLOY_TALLY_H

#include <stdio.h>

#include <alloy/allocator.h>

ALLOY_EXTERN_C_BEGIN

/* Size classes: class 0 is 1..8 bytes, class i is (2^(i+2), 2^(i+3)], the last takes the rest. */
#define ALLOY_TALLY_CLASSES 32

typedef struct alloy_tally_report {
    alloy_stats totals;                      /* blocks and bytes, as the routed API counts them */
    uint64_t alloc_calls;                    /* alloc calls, failed ones included */
    uint64_t alloc_failed;                   /* alloc calls the parent failed */
    uint64_t resize_calls;                   /* resize calls */
    uint64_t resize_failed;                  /* resize calls answered false */
    uint64_t remap_calls;                    /* remap calls */
    uint64_t remap_failed;                   /* remap calls answered NULL */
    uint64_t reset_calls;                    /* reset calls the parent honoured */
    uint64_t histogram[ALLOY_TALLY_CLASSES]; /* successful allocations by requested size */
} alloy_tally_report;

/* Fields are private. */
typedef struct alloy_tally {
    alloy_allocator parent;
    alloy_tally_report r; /* updated atomically */
} alloy_tally;

/* Count everything passed to parent (not owned). */
ALLOY_API void alloy_tally_init(alloy_tally *t, alloy_allocator parent) ALLOY_NOEXCEPT;
/* Nothing to release; provided for symmetry. */
ALLOY_API void alloy_tally_deinit(alloy_tally *t) ALLOY_NOEXCEPT;
/* Copy the counters into *out. */
ALLOY_API void alloy_tally_stats_get(const alloy_tally *t, alloy_tally_report *out) ALLOY_NOEXCEPT;
/* Zero the cumulative counters; live blocks, live bytes stay and the peak restarts from them. */
ALLOY_API void alloy_tally_reset(alloy_tally *t) ALLOY_NOEXCEPT;
/* Print the counters and the non-empty histogram classes as text lines to out, each prefixed by
 * name. */
ALLOY_API void alloy_tally_print(const alloy_tally *t, const char *name, FILE *out) ALLOY_NOEXCEPT;
/* Histogram class of a requested size (see ALLOY_TALLY_CLASSES). */
ALLOY_API unsigned alloy_tally_class(size_t size) ALLOY_NOEXCEPT;
/* The tally as an allocator value (t must outlive it); its stats slot reports the totals. */
ALLOY_API alloy_allocator alloy_tally_allocator(alloy_tally *t) ALLOY_NOEXCEPT;

ALLOY_EXTERN_C_END

#endif /* ALLOY_TALLY_H */
