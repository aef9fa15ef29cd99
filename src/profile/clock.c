/* SPDX-License-Identifier: MIT */
/* src/profile/clock.c - the latency clock.
 *
 * rdtsc where the CPU says its TSC is invariant (constant rate, not stopped in
 * sleep states), else clock_gettime(CLOCK_MONOTONIC) through the vDSO. Ticks
 * are converted to ns when a report is made, against CLOCK_MONOTONIC over the
 * whole run (a short calibration first if the run is still young), so the hot
 * path only reads the counter. bench/bench_profile measures both clocks.
 */
#define _GNU_SOURCE
#include "profile_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

bool alloy__pf_use_tsc;
static uint64_t tsc0, mono0;
static int inited;

uint64_t alloy__pf_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double alloy__pf_wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool tsc_invariant(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if ((unsigned)__get_cpuid_max(0x80000000u, NULL) < 0x80000007u) return false;
    __cpuid(0x80000007u, a, b, c, d);
    (void)a, (void)b, (void)c;
    return (d >> 8) & 1u;
#else
    return false;
#endif
}

void alloy__pf_clock_init(void) {
    if (__atomic_load_n(&inited, __ATOMIC_ACQUIRE)) return;
    /* ALLOY_PROFILE_CLOCK=clock_gettime forces the portable clock (tests, odd VMs). */
    const char *force = getenv("ALLOY_PROFILE_CLOCK");
    bool tsc = tsc_invariant() && !(force != NULL && strcmp(force, "clock_gettime") == 0);
    alloy__pf_use_tsc = false;
    mono0 = alloy__pf_mono_ns();
    if (tsc) {
        alloy__pf_use_tsc = true;
        tsc0 = alloy__pf_now();
    }
    __atomic_store_n(&inited, 1, __ATOMIC_RELEASE);
}

double alloy__pf_ns_per_tick(void) {
    if (!alloy__pf_use_tsc) return 1.0;
    uint64_t m = alloy__pf_mono_ns(), t = alloy__pf_now();
    if (m - mono0 < 20000000ull) {
        /* Young run: calibrate over 5 ms now. */
        uint64_t m1 = m, t1 = t;
        while (alloy__pf_mono_ns() - m1 < 5000000ull) {
        }
        uint64_t m2 = alloy__pf_mono_ns(), t2 = alloy__pf_now();
        return t2 > t1 ? (double)(m2 - m1) / (double)(t2 - t1) : 1.0;
    }
    return t > tsc0 ? (double)(m - mono0) / (double)(t - tsc0) : 1.0;
}
