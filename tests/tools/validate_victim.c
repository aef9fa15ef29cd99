/* SPDX-License-Identifier: MIT */
/* validate_victim.c - programs for `alloy validate`'s tests, one per mode:
 *
 *   work ROUNDS [SLOW_UNDER]  ROUNDS rounds of mixed-size malloc/free; 30% more rounds when
 *                             ALLOY_BACKEND equals SLOW_UNDER (a candidate that is slower)
 *   leak KB                   allocate KB KiB in 4 KiB blocks and drop every pointer
 *   soak GROW_KB_PER_S        run until SIGTERM; keep a fixed working set busy and, when
 *                             GROW_KB_PER_S > 0, keep that much more memory every second
 *   overflow                  write one byte past a 20-byte block (inside the allocator's
 *                             rounding, so only a checker sees it), then free it
 *   exit N                    exit with status N at once
 *
 * Every mode but exit checks what it wrote and exits 3 if a block came back corrupted.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int check_fill(const unsigned char *p, size_t n, unsigned char v) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}

/* One round: 256 blocks of 16 to 4096 bytes allocated, written, checked, freed. */
static int churn_round(uint32_t *seed) {
    void *blocks[256];
    size_t sizes[256];
    for (int i = 0; i < 256; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        sizes[i] = 16 + (*seed >> 8) % 4081;
        blocks[i] = malloc(sizes[i]);
        if (blocks[i] == NULL) return 0;
        memset(blocks[i], i & 0xff, sizes[i]);
    }
    int ok = 1;
    for (int i = 0; i < 256; i++) {
        ok &= check_fill(blocks[i], sizes[i], (unsigned char)(i & 0xff));
        free(blocks[i]);
    }
    return ok;
}

static int work(long rounds, const char *slow_under) {
    const char *be = getenv("ALLOY_BACKEND");
    if (slow_under != NULL && be != NULL && strcmp(be, slow_under) == 0) rounds += rounds * 3 / 10;
    uint32_t seed = 12345;
    for (long r = 0; r < rounds; r++)
        if (!churn_round(&seed)) return 3;
    return 0;
}

/* The pointers live only in this frame and in the blocks themselves, which are overwritten
 * before the function returns: nothing reachable is left. */
__attribute__((noinline)) static void leak(long kb) {
    for (long i = 0; i < kb / 4; i++) {
        char *volatile p = malloc(4096);
        if (p == NULL) exit(1);
        memset(p, 0x5a, 4096);
        p = NULL;
    }
}

/* Clear the stack slots leak() used, so no stale copy of an address survives. */
__attribute__((noinline)) static void scrub_stack(void) {
    volatile char pad[16384];
    memset((char *)pad, 0, sizeof pad);
}

static volatile sig_atomic_t stop;
static void on_term(int sig) {
    (void)sig;
    stop = 1;
}

struct kept {
    struct kept *next;
};
static struct kept *kept_list; /* reachable: growth, not a leak */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int soak(long grow_kb_per_s) {
    struct sigaction sa = {.sa_handler = on_term};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    /* What is kept follows the clock, not the loop: a loaded machine that runs fewer rounds
     * still grows by GROW_KB_PER_S every second. */
    double t0 = now_s(), kept = 0;
    while (!stop) {
        /* The same sizes every round: a steady program's working set stays the same pages. */
        uint32_t seed = 777;
        if (!churn_round(&seed)) return 3;
        double due = (now_s() - t0) * (double)grow_kb_per_s * 1024 - kept;
        if (due >= 4096) {
            size_t n = (size_t)due;
            struct kept *k = malloc(n);
            if (k == NULL) return 1;
            memset(k, 0x11, n);
            k->next = kept_list;
            kept_list = k;
            kept += (double)n;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    while (kept_list != NULL) {
        struct kept *n = kept_list->next;
        free(kept_list);
        kept_list = n;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "work") == 0)
        return work(strtol(argv[2], NULL, 10), argc >= 4 ? argv[3] : NULL);
    if (argc == 3 && strcmp(argv[1], "leak") == 0) {
        leak(strtol(argv[2], NULL, 10));
        scrub_stack();
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "soak") == 0) return soak(strtol(argv[2], NULL, 10));
    if (argc == 2 && strcmp(argv[1], "overflow") == 0) {
        char *p = malloc(20);
        if (p == NULL) return 1;
        volatile char *v = p; /* stores the compiler may not drop before the free */
        for (int i = 0; i < 20; i++) v[i] = 0;
        v[20] = 'x';
        free(p);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "exit") == 0) return (int)strtol(argv[2], NULL, 10);
    fprintf(stderr, "usage: validate_victim work ROUNDS [SLOW_UNDER] | leak KB | soak KB_PER_S "
                    "| overflow | exit N\n");
    return 2;
}
