/* SPDX-License-Identifier: MIT */
/* src/profile/hist.c - log-linear histogram buckets and percentiles. */
#define _GNU_SOURCE
#include "profile_internal.h"

uint64_t alloy__pf_bucket_lo(unsigned b, unsigned sub) {
    if (b < (1u << sub)) return b;
    unsigned e = (b >> sub) + sub - 1u;
    uint64_t step = 1ull << (e - sub);
    return (1ull << e) + (uint64_t)(b & ((1u << sub) - 1u)) * step;
}

uint64_t alloy__pf_bucket_hi(unsigned b, unsigned sub) {
    if (b < (1u << sub)) return b;
    unsigned e = (b >> sub) + sub - 1u;
    return alloy__pf_bucket_lo(b, sub) + (1ull << (e - sub)) - 1u;
}

uint64_t alloy__pf_quantile(const uint64_t *hist, unsigned n, unsigned sub, double q,
                            uint64_t max) {
    uint64_t total = 0;
    for (unsigned i = 0; i < n; i++) total += hist[i];
    if (total == 0) return 0;
    /* The rank of the q-quantile, 1-based: the smallest value with at least q of the calls at
     * or below it. */
    double want = q * (double)total;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want) rank++;
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < n; i++) {
        seen += hist[i];
        if (seen >= rank) {
            uint64_t lo = alloy__pf_bucket_lo(i, sub), hi = alloy__pf_bucket_hi(i, sub);
            uint64_t mid = lo + (hi - lo) / 2u;
            return mid > max && max != 0 ? max : mid;
        }
    }
    return max;
}
