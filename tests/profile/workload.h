/* SPDX-License-Identifier: MIT */
/* tests/profile/workload.h - the known allocations both profile programs make, through
 * ALLOC/FREE (alloy_malloc/alloy_free linked, malloc/free under LD_PRELOAD).
 *
 * main: 1000 x 24 B, 500 x 1000 B, 10 x 100000 B; thread "worker" frees 400 of the 24 B blocks
 * and allocates and frees 200 x 64 B itself; main frees the rest. Leaks: 7 x 24 B at
 * leak_small(), 3 x 1000 B at leak_big(). Totals: 1720 allocations, 1539968 bytes requested,
 * 1710 frees, 400 cross-thread frees, 10 blocks / 3168 bytes leaked. The checkers know these
 * numbers from this comment. */
#ifndef PROFILE_WORKLOAD_H
#define PROFILE_WORKLOAD_H

#include <pthread.h>
#include <string.h>

static void *wl_small[1000];
static const char *wl_worker_name = "worker";

static __attribute__((noinline)) void *leak_small(void) {
    return ALLOC(24); /* LEAK_SMALL */
}
static __attribute__((noinline)) void *leak_big(void) {
    return ALLOC(1000); /* LEAK_BIG */
}

static void *wl_worker(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), wl_worker_name);
    for (int i = 0; i < 400; i++) FREE(wl_small[i]);
    void *own[200];
    for (int i = 0; i < 200; i++) own[i] = ALLOC(64);
    for (int i = 0; i < 200; i++) FREE(own[i]);
    return NULL;
}

static void *wl_leaks[10];

static int workload(void) {
    void *mid[500], *big[10];
    for (int i = 0; i < 1000; i++) wl_small[i] = ALLOC(24);
    for (int i = 0; i < 500; i++) mid[i] = ALLOC(1000);
    for (int i = 0; i < 10; i++) big[i] = ALLOC(100000);
    pthread_t t;
    if (pthread_create(&t, NULL, wl_worker, NULL) != 0) return 1;
    pthread_join(t, NULL);
    for (int i = 400; i < 1000; i++) FREE(wl_small[i]);
    for (int i = 0; i < 500; i++) FREE(mid[i]);
    for (int i = 0; i < 10; i++) FREE(big[i]);
    for (int i = 0; i < 7; i++) wl_leaks[i] = leak_small();
    for (int i = 7; i < 10; i++) wl_leaks[i] = leak_big();
    return 0;
}

#endif
