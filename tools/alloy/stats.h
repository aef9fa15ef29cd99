/* SPDX-License-Identifier: MIT */
/* stats.h - the statistics `alloy bench` and `alloy validate` report: medians, quantiles,
 * bootstrap confidence intervals and the Mann-Whitney U test.
 *
 * Samples are arrays of doubles (run times, RSS, throughput); none of these functions keeps
 * or changes them. Everything is deterministic: the bootstrap draws from a fixed-seed PRNG
 * (splitmix64) so that the same runs give the same interval, in a report and in a test. No
 * function allocates except the bootstrap ones (scratch of n doubles per sample, freed before
 * returning); they return false only when that scratch cannot be had or a sample is empty.
 */
#ifndef ALLOY_TOOLS_STATS_H
#define ALLOY_TOOLS_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The seed every command uses unless told otherwise (reports say which). */
#define CLI_STATS_SEED 0x616c6c6f79ULL /* "alloy" */
/* Bootstrap resamples every command uses: enough for a stable 95% interval of a median. */
#define CLI_STATS_RESAMPLES 2000u

/* The fewest runs a side worth comparing: with 3 Mann-Whitney's two-sided p is never below
 * 0.081, with 4 it reaches 0.05 only when every run of one side beats every run of the other,
 * 5 leave room for one pair out of order (p 0.022). Fewer runs say "too few to compare". */
#define CLI_STATS_MIN_RUNS 5

/* The q-quantile (0 <= q <= 1) of v[0..n) by linear interpolation between order statistics
 * (Hyndman-Fan type 7: R's default, numpy's "linear", Python's statistics.quantiles with
 * method="inclusive"). NaN when n is 0. */
double cli_quantile(const double *v, size_t n, double q);

/* The median of v[0..n): the middle value, or the mean of the two middle ones. NaN if n is 0. */
double cli_median(const double *v, size_t n);

/* A PRNG state (splitmix64): seed it with any value, draw with cli_rand. */
typedef struct cli_rng {
    uint64_t s;
} cli_rng;
/* The next 64 random bits. */
uint64_t cli_rand(cli_rng *r);
/* A uniform integer in [0, n), n > 0 (rejection sampling: no modulo bias). */
size_t cli_rand_below(cli_rng *r, size_t n);

/* A percentile bootstrap interval of the median of v[0..n): resamples times, n draws with
 * replacement each, from seed; [*lo, *hi] holds the central conf (e.g. 0.95) of the medians
 * (type 7 quantiles of them). False if n is 0 or out of memory. */
bool cli_bootstrap_median(const double *v, size_t n, double conf, unsigned resamples, uint64_t seed,
                          double *lo, double *hi);

/* A percentile bootstrap interval of median(b) / median(a), a and b resampled independently
 * (each resample draws a's n_a values first, then b's n_b). A ratio with a zero denominator
 * is skipped; false if every one was, a sample is empty, or out of memory. */
bool cli_bootstrap_ratio(const double *a, size_t na, const double *b, size_t nb, double conf,
                         unsigned resamples, uint64_t seed, double *lo, double *hi);

/* The Mann-Whitney U test of a[0..na) against b[0..nb): *u gets U of a (the count of pairs
 * where a's value is larger, ties counting one half; may be NULL). Returns the two-sided
 * p-value from the normal approximation with the tie correction of the variance and a
 * continuity correction of 0.5; 1 when either sample is empty or every value is tied. The
 * approximation is fair from about 5 values per sample; below that p is never small. */
double cli_mann_whitney(const double *a, size_t na, const double *b, size_t nb, double *u);

/* The A/A noise: how far a baseline-against-itself ratio (median of the second baseline arm
 * over the first's) is from 1, taking the farthest of the ratio and its bootstrap interval's
 * ends [lo, hi] (a ratio of 1.00 by luck with an interval of 0.92 to 1.08 is 8% noise). A
 * difference is named only beyond it. NaN values are ignored; NaN when all three are. */
double cli_aa_noise(double ratio, double lo, double hi);

#endif /* ALLOY_TOOLS_STATS_H */
