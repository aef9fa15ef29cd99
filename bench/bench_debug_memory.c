/* bench/bench_debug_memory.c - memory the debug allocator costs per live block.
 *
 * For each block size, allocate N blocks through the routed heap, then through
 * a debug allocator over the same heap (quarantine off, so only live blocks
 * count), each in a fresh child process, and compare the growth of resident
 * memory. The
 * difference per block is the debug allocator's overhead: its 64-byte record,
 * the guard bytes around the block and the parent's rounding of the larger
 * request; stacks are shared (one copy per distinct stack), so they cost ~0.
 *
 * Usage: bench_debug_memory [--quick]
 */
#define _GNU_SOURCE
#include <alloy.h>

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

static void **blocks;

static double per_block(alloy_allocator a, size_t n, size_t size) {
    long before = rss_kib();
    for (size_t i = 0; i < n; i++) {
        blocks[i] = alloy_alloc(a, size, 8);
        memset(blocks[i], 1, size);
    }
    long after = rss_kib();
    for (size_t i = 0; i < n; i++) alloy_dealloc(a, blocks[i], size, 8);
    return (double)(after - before) * 1024.0 / (double)n;
}

/* Measure in a child, so no run sees memory another one freed. */
static double measure(bool debug, size_t n, size_t size) {
    int fds[2];
    if (pipe(fds) != 0) return 0;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        double v;
        if (debug) {
            alloy_debug d;
            alloy_debug_options o;
            alloy_debug_options_default(&o);
            o.quarantine_bytes = 0;
            if (!alloy_debug_init(&d, alloy_heap(), &o)) _exit(1);
            per_block(alloy_debug_allocator(&d), n / 10, size); /* warm: stacks, records */
            v = per_block(alloy_debug_allocator(&d), n, size);
        } else {
            per_block(alloy_heap(), n / 10, size);
            v = per_block(alloy_heap(), n, size);
        }
        if (write(fds[1], &v, sizeof v) != (ssize_t)sizeof v) _exit(1);
        _exit(0);
    }
    close(fds[1]);
    double v = 0;
    if (read(fds[0], &v, sizeof v) != (ssize_t)sizeof v) v = 0;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    return v;
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
    if (blocks == NULL) return 1;
    size_t sizes[] = {16, 64, 256, 1024, 4096};
    printf("resident bytes per live block (%zu blocks, %s backend)\n", n, alloy_backend_name());
    printf("%10s %12s %12s %12s\n", "size", "heap", "debug", "overhead");
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        double plain = measure(false, n, sizes[k]);
        double dbg = measure(true, n, sizes[k]);
        printf("%10zu %12.1f %12.1f %12.1f\n", sizes[k], plain, dbg, dbg - plain);
    }
    free(blocks);
    return 0;
}
