/* SPDX-License-Identifier: MIT */
/* stats.c - medians, quantiles, bootstrap intervals, Mann-Whitney U (see stats.h). */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Type 7 quantile of an already sorted array. */
static double sorted_quantile(const double *s, size_t n, double q) {
    if (n == 0) return NAN;
    if (q <= 0) return s[0];
    if (q >= 1) return s[n - 1];
    double h = (double)(n - 1) * q;
    size_t i = (size_t)floor(h);
    if (i + 1 >= n) return s[n - 1];
    return s[i] + (h - (double)i) * (s[i + 1] - s[i]);
}

double cli_quantile(const double *v, size_t n, double q) {
    if (n == 0) return NAN;
    double small[64], *s = n <= 64 ? small : malloc(n * sizeof *s);
    if (s == NULL) return NAN;
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    double r = sorted_quantile(s, n, q);
    if (s != small) free(s);
    return r;
}

double cli_median(const double *v, size_t n) {
    return cli_quantile(v, n, 0.5);
}

uint64_t cli_rand(cli_rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

size_t cli_rand_below(cli_rng *r, size_t n) {
    /* Reject the top partial block of 2^64 so that every residue is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % (uint64_t)n;
    uint64_t x;
    do x = cli_rand(r);
    while (x >= limit);
    return (size_t)(x % (uint64_t)n);
}

/* The median of n values drawn with replacement from v, using scratch s[0..n). */
static double resample_median(cli_rng *r, const double *v, size_t n, double *s) {
    for (size_t i = 0; i < n; i++) s[i] = v[cli_rand_below(r, n)];
    qsort(s, n, sizeof *s, cmp_double);
    return sorted_quantile(s, n, 0.5);
}

/* [lo, hi]: the central conf of est[0..k) (sorted here). */
static void central(double *est, size_t k, double conf, double *lo, double *hi) {
    qsort(est, k, sizeof *est, cmp_double);
    double tail = (1 - conf) / 2;
    *lo = sorted_quantile(est, k, tail);
    *hi = sorted_quantile(est, k, 1 - tail);
}

bool cli_bootstrap_median(const double *v, size_t n, double conf, unsigned resamples, uint64_t seed,
                          double *lo, double *hi) {
    if (n == 0 || resamples == 0) return false;
    double *s = malloc(n * sizeof *s), *est = malloc(resamples * sizeof *est);
    bool ok = s != NULL && est != NULL;
    if (ok) {
        cli_rng r = {seed};
        for (unsigned k = 0; k < resamples; k++) est[k] = resample_median(&r, v, n, s);
        central(est, resamples, conf, lo, hi);
    }
    free(s);
    free(est);
    return ok;
}

bool cli_bootstrap_ratio(const double *a, size_t na, const double *b, size_t nb, double conf,
                         unsigned resamples, uint64_t seed, double *lo, double *hi) {
    if (na == 0 || nb == 0 || resamples == 0) return false;
    double *s = malloc((na > nb ? na : nb) * sizeof *s), *est = malloc(resamples * sizeof *est);
    bool ok = s != NULL && est != NULL;
    size_t k = 0;
    if (ok) {
        cli_rng r = {seed};
        for (unsigned i = 0; i < resamples; i++) {
            double ma = resample_median(&r, a, na, s), mb = resample_median(&r, b, nb, s);
            if (ma != 0) est[k++] = mb / ma;
        }
        ok = k > 0;
        if (ok) central(est, k, conf, lo, hi);
    }
    free(s);
    free(est);
    return ok;
}

double cli_mann_whitney(const double *a, size_t na, const double *b, size_t nb, double *u) {
    if (u != NULL) *u = 0;
    if (na == 0 || nb == 0) return 1;
    size_t n = na + nb;
    /* Pool the samples, remembering where each value came from, and rank them (mid-ranks for
     * ties). */
    struct item {
        double v;
        int from_a;
    } *all = malloc(n * sizeof *all);
    if (all == NULL) return 1;
    for (size_t i = 0; i < na; i++) all[i] = (struct item){a[i], 1};
    for (size_t i = 0; i < nb; i++) all[na + i] = (struct item){b[i], 0};
    qsort(all, n, sizeof *all, cmp_double); /* v is the first member */
    double rank_a = 0, ties = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && all[j].v == all[i].v) j++;
        double t = (double)(j - i), mid = ((double)i + 1 + (double)j) / 2;
        for (size_t k = i; k < j; k++)
            if (all[k].from_a) rank_a += mid;
        ties += t * t * t - t;
        i = j;
    }
    free(all);
    double fa = (double)na, fb = (double)nb, fn = (double)n;
    double ua = rank_a - fa * (fa + 1) / 2;
    if (u != NULL) *u = ua;
    double var = fa * fb / 12 * ((fn + 1) - ties / (fn * (fn - 1)));
    if (var <= 0) return 1;
    double z = (fabs(ua - fa * fb / 2) - 0.5) / sqrt(var);
    if (z < 0) z = 0;
    double p = erfc(z / sqrt(2.0));
    return p > 1 ? 1 : p;
}

double cli_aa_noise(double ratio, double lo, double hi) {
    /* fmax ignores a NaN argument. */
    return fmax(fabs(ratio - 1), fmax(fabs(lo - 1), fabs(hi - 1)));
}
