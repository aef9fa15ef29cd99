/* SPDX-License-Identifier: MIT */
/* alloy/failing.h - fault injection: an allocator that fails on request.
 *
 * Forwards everything to a parent, but makes chosen allocation attempts
 * return NULL: only the Nth, every one from the Nth on, or each with a
 * probability from a seeded generator (the same seed fails the same calls).
 * An attempt is a call of alloc or remap; they are numbered from 0. resize,
 * free, reset and stats are forwarded untouched. Thread-safe if the parent is
 * (the attempt counter is atomic; the random mode is then not reproducible).
 */
#ifndef ALLOY_FAILING_H
#define ALLOY_FAILING_H

#include <alloy/allocator.h>

ALLOY_EXTERN_C_BEGIN

/* Fields are private. */
typedef struct alloy_failing {
    alloy_allocator parent;
    uint64_t attempts; /* alloc/remap calls so far (atomic) */
    uint64_t failures; /* of which failed (atomic) */
    uint64_t fail_at;  /* first attempt to fail */
    uint64_t rng;      /* random mode state */
    uint32_t one_in;   /* random mode: fail 1 in one_in */
    int mode;
} alloy_failing;

/* Forward to parent (not owned) and fail nothing until told. */
ALLOY_API void alloy_failing_init(alloy_failing *f, alloy_allocator parent) ALLOY_NOEXCEPT;
/* Nothing to release; provided for symmetry. */
ALLOY_API void alloy_failing_deinit(alloy_failing *f) ALLOY_NOEXCEPT;
/* Restart numbering at 0 and fail only attempt n. */
ALLOY_API void alloy_failing_fail_nth(alloy_failing *f, uint64_t n) ALLOY_NOEXCEPT;
/* Restart numbering at 0 and fail attempt n and every one after it. */
ALLOY_API void alloy_failing_fail_from(alloy_failing *f, uint64_t n) ALLOY_NOEXCEPT;
/* Restart numbering at 0 and fail each attempt with probability 1/one_in (0: never), reproducibly
 * from seed. */
ALLOY_API void alloy_failing_fail_random(alloy_failing *f, uint64_t seed,
                                         uint32_t one_in) ALLOY_NOEXCEPT;
/* Restart numbering at 0 and fail nothing. */
ALLOY_API void alloy_failing_fail_none(alloy_failing *f) ALLOY_NOEXCEPT;
/* Allocation attempts since the last fail_* or init. */
ALLOY_API uint64_t alloy_failing_attempts(const alloy_failing *f) ALLOY_NOEXCEPT;
/* Attempts that were made to fail since the last fail_* or init. */
ALLOY_API uint64_t alloy_failing_failures(const alloy_failing *f) ALLOY_NOEXCEPT;
/* The failing allocator as a value (f must outlive it). */
ALLOY_API alloy_allocator alloy_failing_allocator(alloy_failing *f) ALLOY_NOEXCEPT;

ALLOY_EXTERN_C_END

#endif /* ALLOY_FAILING_H */
