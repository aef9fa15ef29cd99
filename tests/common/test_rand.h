/* SPDX-License-Identifier: MIT */
/* tests/common/test_rand.h - the tests' seeded generator (xorshift64*): a fixed
 * seed gives the same sequence on every run and machine. */
#ifndef ALLOY_TEST_RAND_H
#define ALLOY_TEST_RAND_H

#include <stdint.h>

/* Next value of the sequence in *s (a nonzero seed). */
static inline uint64_t test_rand(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1du;
}

#endif
