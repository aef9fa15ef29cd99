/* SPDX-License-Identifier: MIT */
/* workloads.h - the built-in workloads of `alloy bench`: allocation patterns that allocator
 * benchmark suites stress, written for alloy's routed API (alloy_malloc / alloy_free).
 *
 * Each workload runs in the calling process on the backend liballoy chose at start-up
 * (ALLOY_BACKEND), with a given number of threads, and checks its own work: every block it
 * allocates is filled with a pattern derived from a tag, and the tag and pattern are checked
 * before the block is freed (wherever the block travelled: another thread, another slot);
 * counts of blocks made and freed must balance. A check that fails ends the workload with a
 * one-line reason: the numbers of a run that corrupted memory are never reported.
 *
 * Work per thread is fixed (a thread count adds work, it does not divide it), scaled by
 * `scale` (1: a fraction of a second per thread on a current core; tests use 0.01).
 */
#ifndef ALLOY_TOOLS_WORKLOADS_H
#define ALLOY_TOOLS_WORKLOADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What one workload run measured. */
typedef struct wl_result {
    uint64_t ops;        /* allocations made (each one freed) */
    double seconds;      /* CLOCK_MONOTONIC time of the measured section */
    unsigned threads;    /* threads that ran it (xthread runs at least 2) */
    long rss_peak_kb;    /* VmHWM at the end */
    long rss_end_kb;     /* spike: RSS after the frees and alloy_collect(true); else the RSS at
                          * the end */
    uint64_t live_bytes; /* spike: bytes still allocated when rss_end_kb was read; else 0 */
} wl_result;

typedef struct wl_workload {
    const char *name;
    const char *summary; /* one line for --help and docs */
    /* Run with threads (>= 1) threads; false with a one-line reason in err on a failed check
     * or an allocation failure. */
    bool (*run)(unsigned threads, double scale, wl_result *r, char *err, size_t errlen);
} wl_workload;

/* For the tests of the checks themselves: when true, thread 0 damages the first block it is
 * about to check (one byte flipped), so the workload must fail. alloy bench's child sets it
 * from ALLOY_BENCH_SELFTEST_CORRUPT=1. */
extern bool wl_selftest_corrupt;

/* The workloads, in the order bench runs and lists them. */
extern const wl_workload wl_workloads[];
extern const size_t wl_nworkloads;

/* The workload called name, or NULL. */
const wl_workload *wl_find(const char *name);

#endif /* ALLOY_TOOLS_WORKLOADS_H */
