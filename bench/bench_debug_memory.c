/* SPDX-License-Identifier: MIT */
/* bench/bench_debug_memory.c - memory the debug allocator costs per live block.
 *
 * For each block size, allocate N blocks through the routed heap, then through
 * a debug allocator over the same heap (quarantine off, so only live blocks
 * count), each in a fresh child process, and compare the growth of resident
 * memory while a warm-up set stays live. The difference per block is the debug allocator's
 * overhead: its 64-byte record, the guard bytes around the block and the parent's rounding of the
 * larger request; stacks are shared (one copy per distinct stack), so they cost ~0.
 *
 * Usage: bench_debug_memory [--quick]
 */
#define _GNU_SOURCE
#include <alloy.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) return 0;
    char line[256];
    long kib = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0) kib = atol(line + 6);
    fclose(f);
    return kib;
}

static void **blocks, **warm;

static void fill(alloy_allocator a, void **into, size_t n, size_t size) {
    for (size_t i = 0; i < n; i++) {
        into[i] = alloy_alloc(a, size, 8);
        if (into[i] == NULL) _exit(1);
        memset(into[i], 1, size);
    }
}

static void empty(alloy_allocator a, void **from, size_t n, size_t size) {
    for (size_t i = 0; i < n; i++) alloy_dealloc(a, from[i], size, 8);
}

/* Resident bytes per block of n more live blocks. The warm-up blocks (first stacks, records,
 * the allocator's first pages) stay live while the measured blocks are made: freed, their
 * memory would stay resident, count in the "before" figure and be reused by the measured
 * blocks, which would then look cheaper than they are. */
static double per_block(alloy_allocator a, size_t n, size_t size) {
    size_t nwarm = n / 10;
    fill(a, warm, nwarm, size);
    long before = rss_kib();
    fill(a, blocks, n, size);
    long after = rss_kib();
    empty(a, blocks, n, size);
    empty(a, warm, nwarm, size);
    if (before <= 0 || after <= 0) _exit(1);
    return (double)(after - before) * 1024.0 / (double)n;
}

/* Measure in a child, so no run sees memory another one freed. A child that fails is an error,
 * never a number: false. */
static bool measure(bool debug, size_t n, size_t size, double *out) {
    int fds[2];
    if (pipe(fds) != 0) return false;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        close(fds[0]);
        double v;
        if (debug) {
            alloy_debug d;
            alloy_debug_options o;
            alloy_debug_options_default(&o);
            o.quarantine_bytes = 0;
            if (!alloy_debug_init(&d, alloy_heap(), &o)) _exit(1);
            v = per_block(alloy_debug_allocator(&d), n, size);
        } else {
            v = per_block(alloy_heap(), n, size);
        }
        if (write(fds[1], &v, sizeof v) != (ssize_t)sizeof v) _exit(1);
        _exit(0);
    }
    close(fds[1]);
    double v = 0;
    bool got = read(fds[0], &v, sizeof v) == (ssize_t)sizeof v;
    close(fds[0]);
    int status = 0;
    bool ok = waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!got || !ok) {
        fprintf(stderr, "bench_debug_memory: the %s run for %zu-byte blocks failed (status 0x%x)\n",
                debug ? "debug" : "heap", size, status);
        return false;
    }
    *out = v;
    return true;
}

int main(int argc, char **argv) {
    size_t n = 200000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            n = 20000;
        } else {
            bool help = strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
            fprintf(help ? stdout : stderr,
                    "usage: %s [--quick] [--help]\n"
                    "Measures resident bytes per live block, routed heap against the debug\n"
                    "allocator, for block sizes 16 to 4096 (200000 blocks; --quick: 20000).\n",
                    argv[0]);
            return help ? 0 : 2;
        }
    }
    blocks = calloc(n, sizeof *blocks);
    warm = calloc(n / 10 + 1, sizeof *warm);
    if (blocks == NULL || warm == NULL) return 1;
    size_t sizes[] = {16, 64, 256, 1024, 4096};
    printf("resident bytes per live block (%zu blocks, %s backend)\n", n, alloy_backend_name());
    printf("%10s %12s %12s %12s\n", "size", "heap", "debug", "overhead");
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        double plain, dbg;
        if (!measure(false, n, sizes[k], &plain) || !measure(true, n, sizes[k], &dbg)) {
            free(blocks);
            free(warm);
            return 1;
        }
        printf("%10zu %12.1f %12.1f %12.1f\n", sizes[k], plain, dbg, dbg - plain);
    }
    free(blocks);
    free(warm);
    return 0;
}
