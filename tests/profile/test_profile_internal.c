/* SPDX-License-Identifier: MIT */
/* tests/profile/test_profile_internal.c - the profiler layer over a backend table of the test's
 * own (linked statically, so the private symbols are reachable): a backend that spins a known
 * time on every Nth call shows up at the right percentile; the histogram buckets keep their
 * promised relative error. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <time.h>

#include "../../src/layer/layer.h"
#include "../../src/profile/profile_internal.h"

#include "cmocka_main.h"

static alloy__backend real;
static unsigned calls;
static unsigned slow_every = 50;
static uint64_t slow_ns = 200000;

static uint64_t mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void maybe_slow(void) {
    if (++calls % slow_every != 0) return;
    uint64_t t0 = mono();
    while (mono() - t0 < slow_ns) {
    }
}

static void *slow_malloc(size_t n) {
    maybe_slow();
    return real.malloc(n);
}
static void slow_free(void *p) {
    maybe_slow();
    real.free(p);
}

static void slow_backend_percentiles(void **state) {
    (void)state;
    const alloy__backend *libc = alloy__backend_get("libc");
    assert_non_null(libc);
    real = *libc;
    alloy__backend slow = real;
    slow.malloc = slow_malloc;
    slow.free = slow_free;
    alloy__backend top;
    assert_true(alloy__layer_profile.attach(&slow, &top));
    alloy_profile_options o;
    alloy_profile_options_init(&o);
    o.timeline_ms = 0;
    assert_true(alloy__pf_begin(&o));
    enum { N = 5000 };
    static void *p[N];
    calls = 0;
    for (int i = 0; i < N; i++) p[i] = top.malloc(32);
    calls = 0;
    for (int i = 0; i < N; i++) top.free(p[i]);
    alloy_profile_report r;
    assert_true(alloy_profile_snapshot(&r));
    assert_int_equal(r.alloc_latency.count, N);
    assert_int_equal(r.free_latency.count, N);
    /* 2% of calls take 200 us: P50 and P95 are fast calls, P99 and P99.9 the slow ones, within
     * the histogram's 3.2% (plus a little for the call itself). */
    const alloy_profile_latency *ls[2] = {&r.alloc_latency, &r.free_latency};
    for (int k = 0; k < 2; k++) {
        const alloy_profile_latency *l = ls[k];
        print_message("p50 %.0f p95 %.0f p99 %.0f p99.9 %.0f max %.0f ns\n", l->p50_ns, l->p95_ns,
                      l->p99_ns, l->p999_ns, l->max_ns);
        assert_true(l->p50_ns < 20000.0);
        assert_true(l->p95_ns < 20000.0);
        assert_true(l->p99_ns >= 0.968 * (double)slow_ns && l->p99_ns < 1.5 * (double)slow_ns);
        assert_true(l->p999_ns >= 0.968 * (double)slow_ns);
        assert_true(l->max_ns >= 0.99 * (double)slow_ns);
    }
    alloy_profile_report_free(&r);
    __atomic_store_n(&alloy__pf_running, 0, __ATOMIC_RELEASE);
}

static void buckets_relative_error(void **state) {
    (void)state;
    /* Every value falls in a bucket whose bounds hold it, and the bucket is at most 1/32 of its
     * lower bound wide (latency), 1/4 (sizes). */
    uint64_t v = 1;
    while (v < (1ull << 44)) {
        unsigned b = alloy__pf_bucket(v, PF_LAT_SUB, PF_LAT_BUCKETS);
        uint64_t lo = alloy__pf_bucket_lo(b, PF_LAT_SUB), hi = alloy__pf_bucket_hi(b, PF_LAT_SUB);
        assert_true(lo <= v && v <= hi);
        assert_true((double)(hi - lo + 1) <= 1.0 + (double)lo / 32.0);
        unsigned s = alloy__pf_bucket(v, PF_SIZE_SUB, PF_SIZE_BUCKETS);
        assert_true(alloy__pf_bucket_lo(s, PF_SIZE_SUB) <= v &&
                    v <= alloy__pf_bucket_hi(s, PF_SIZE_SUB));
        v = v + 1 + v / 7;
    }
    /* Quantile: 90 values of 100 and 10 of 10000. */
    uint64_t hist[PF_LAT_BUCKETS] = {0};
    hist[alloy__pf_bucket(100, PF_LAT_SUB, PF_LAT_BUCKETS)] = 90;
    hist[alloy__pf_bucket(10000, PF_LAT_SUB, PF_LAT_BUCKETS)] = 10;
    assert_int_equal(alloy__pf_quantile(hist, PF_LAT_BUCKETS, PF_LAT_SUB, 0.5, 10000), 100);
    assert_int_equal(alloy__pf_quantile(hist, PF_LAT_BUCKETS, PF_LAT_SUB, 0.9, 10000), 100);
    uint64_t q = alloy__pf_quantile(hist, PF_LAT_BUCKETS, PF_LAT_SUB, 0.91, 10000);
    assert_true(q >= 9700 && q <= 10000);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slow_backend_percentiles),
        cmocka_unit_test(buckets_relative_error),
    };
    return alloy_test_run(__FILE__, tests, sizeof tests / sizeof tests[0], argc, argv);
}
