/* SPDX-License-Identifier: MIT */
/* bench/bench_debug_churn.h - the churn workload's shape, shared by the workload
 * (bench_debug_churn.c) and the program that checks every tool's leak report
 * against it (bench_debug.c). */
#ifndef ALLOY_BENCH_DEBUG_CHURN_H
#define ALLOY_BENCH_DEBUG_CHURN_H

#define CHURN_THREADS 2       /* workers, each leaking one block */
#define CHURN_WORKER_LEAK 200 /* bytes each worker leaks */
#define CHURN_MAIN_LEAKS 3    /* blocks main leaks */
#define CHURN_MAIN_LEAK 64    /* bytes of each */
#define CHURN_LEAK_BLOCKS (CHURN_THREADS + CHURN_MAIN_LEAKS)
#define CHURN_LEAK_BYTES (CHURN_THREADS * CHURN_WORKER_LEAK + CHURN_MAIN_LEAKS * CHURN_MAIN_LEAK)

#endif
