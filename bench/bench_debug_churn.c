/* SPDX-License-Identifier: MIT */
/* bench/bench_debug_churn.c - the workload bench_debug runs under each memory checker.
 *
 * Two threads, each doing OPS/2 steps over its own table of SLOTS pointers: a
 * step frees the block in a random slot (reading its first bytes, as a program
 * reads what it frees) and puts a fresh block of a random mixed size there
 * (70% 16..128 bytes, 25% 129..1024, 5% 1025..8192), written in full. A third
 * of the allocations come from a deeper call chain, so stacks differ. At the
 * end every block is freed except LEAKS deliberate leaks from three sites, one
 * in each thread and one in main. Plain C and malloc/free only: the same
 * source is built plain, with clang ASan and LSan, and run unmodified under
 * alloy (LD_PRELOAD), valgrind and heaptrack.
 *
 * Usage: bench_debug_churn [ops]   (default 1000000)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_debug_churn.h"

#define SLOTS 4096

static size_t ops = 1000000;
static volatile uint64_t sink;

static uint64_t next_rand(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static size_t pick_size(uint64_t r) {
    unsigned bucket = (unsigned)(r % 100);
    r >>= 8;
    if (bucket < 70) return 16 + r % 113;
    if (bucket < 95) return 129 + r % 896;
    return 1025 + r % 7168;
}

__attribute__((noinline)) static char *make_block(size_t n, uint64_t r) {
    char *p = malloc(n);
    if (p != NULL) memset(p, (int)(r & 0xff), n);
    return p;
}

__attribute__((noinline)) static char *make_record(size_t n, uint64_t r) {
    return make_block(n, r);
}

__attribute__((noinline)) static char *leak_in_worker(size_t n) {
    char *p = malloc(n);
    if (p != NULL) memset(p, 1, n);
    return p;
}

static void *worker(void *arg) {
    uint64_t seed = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
    char **slot = calloc(SLOTS, sizeof *slot);
    if (slot == NULL) return NULL;
    uint64_t sum = 0;
    for (size_t i = 0; i < ops / 2; i++) {
        uint64_t r = next_rand(&seed);
        size_t k = (size_t)(r >> 40) % SLOTS;
        if (slot[k] != NULL) {
            sum += (unsigned char)slot[k][0] + (unsigned char)slot[k][15];
            free(slot[k]);
        }
        size_t n = pick_size(r);
        slot[k] = (r & 3) == 0 ? make_record(n, r) : make_block(n, r);
    }
    for (size_t k = 0; k < SLOTS; k++) free(slot[k]);
    free(slot);
    sink += sum;
    /* Deliberate leak: the pointer dies with the thread. */
    sink += (uintptr_t)leak_in_worker(CHURN_WORKER_LEAK) & 1;
    return NULL;
}

__attribute__((noinline)) static void leak_in_main(void) {
    for (int i = 0; i < CHURN_MAIN_LEAKS; i++) {
        char *p = malloc(CHURN_MAIN_LEAK);
        if (p != NULL) p[0] = (char)i;
        sink += (uintptr_t)p & 1;
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: %s [OPS]\nThe malloc/free churn bench_debug runs under each memory checker: "
               "%d threads, OPS steps in all, %d deliberate leaks.\n",
               argv[0], CHURN_THREADS, CHURN_LEAK_BLOCKS);
        return 0;
    }
    if (argc > 1) ops = strtoull(argv[1], NULL, 10);
    pthread_t t[CHURN_THREADS];
    for (uintptr_t i = 0; i < CHURN_THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)(i + 1));
    for (int i = 0; i < CHURN_THREADS; i++) pthread_join(t[i], NULL);
    leak_in_main();
    printf("churn: %zu ops, checksum %llu\n", ops, (unsigned long long)sink);
    return 0;
}
