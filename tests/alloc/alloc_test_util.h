/* SPDX-License-Identifier: MIT */
/* tests/alloc/alloc_test_util.h - helpers shared by the allocator tests:
 * a seeded generator and block patterns. */
#ifndef ALLOY_ALLOC_TEST_UTIL_H
#define ALLOY_ALLOC_TEST_UTIL_H

#include "../common/test_rand.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct test_rng {
    uint64_t s;
} test_rng;

static inline uint64_t rng_next(test_rng *r) {
    return test_rand(&r->s);
}

static inline size_t rng_below(test_rng *r, size_t n) {
    return n == 0 ? 0 : (size_t)(rng_next(r) % n);
}

static inline unsigned char pattern_byte(uint64_t seed, size_t i) {
    return (unsigned char)(seed * 131u + i * 7u + (i >> 8) + 1u);
}

static inline void pattern_fill(void *p, size_t n, uint64_t seed) {
    unsigned char *b = (unsigned char *)p;
    for (size_t i = 0; i < n; i++) b[i] = pattern_byte(seed, i);
}

/* Index of the first byte of p[0..n) that differs from the pattern, or n. */
static inline size_t pattern_check(const void *p, size_t n, uint64_t seed) {
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pattern_byte(seed, i)) return i;
    return n;
}

#endif
