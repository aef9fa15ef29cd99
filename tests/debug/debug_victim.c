/* SPDX-License-Identifier: MIT */
/* tests/debug/debug_victim.c - a small program the debug tests run under ALLOY_DEBUG=1 with
 * hostile configuration and hostile code.
 *
 *   debug_victim work        allocate, check and free a mixed workload; print "victim ok" and
 *                            the peak RSS in KiB ("rss <n>") on stdout; exit 0
 *   debug_victim overflow N  alloy_malloc(50), write N bytes past its end, free it (issue 15
 *                            item 1); malloc-overflow N: the same with malloc (for the override)
 *   debug_victim leak        leak one 42-byte block whose address stayed in a dead stack slot
 *   debug_victim exec K      exec itself K times; every image frees a block with a wrong size
 *                            (run it with ALLOY_DEBUG_ON_ERROR=continue), the last one leaks
 *   debug_victim aligned     alloy_free_sized on a block from alloy_malloc_aligned
 *   debug_victim stackfree   alloy_free of a stack address
 *   debug_victim forkleak    leak one block in a forked child, which exits through exit()
 *   debug_victim forkfree    free a block twice in a forked child (prints "child <pid>")
 *   debug_victim guardread   read one byte past a 24-byte block (run with ALLOY_DEBUG_GUARD=all)
 *   debug_victim say TEXT    print TEXT on stdout and leak one block (report-destination tests)
 */
#define _GNU_SOURCE
#include <alloy.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;

static int work(void) {
    enum { N = 512 };
    static unsigned char *blocks[N];
    static size_t sizes[N];
    uint32_t x = 12345;
    for (int round = 0; round < 8; round++) {
        for (size_t i = 0; i < N; i++) {
            x = x * 1103515245u + 12345u;
            size_t n = (x >> 8) % 5000;
            blocks[i] = (i & 7) == 0   ? alloy_malloc_aligned(n, (size_t)64 << (i % 3))
                        : (i & 7) == 1 ? alloy_calloc(1, n)
                                       : alloy_malloc(n);
            if (blocks[i] == NULL) return 1;
            if ((i & 7) == 1)
                for (size_t k = 0; k < n; k++)
                    if (blocks[i][k] != 0) return 2;
            memset(blocks[i], (int)(i & 255), n);
            sizes[i] = n;
        }
        for (size_t i = 2; i < N; i += 4) {
            unsigned char *q = alloy_realloc(blocks[i], sizes[i] * 2 + 1);
            if (q == NULL) return 3;
            for (size_t k = 0; k < sizes[i]; k++)
                if (q[k] != (unsigned char)(i & 255)) return 4;
            blocks[i] = q;
            sizes[i] = sizes[i] * 2 + 1;
            memset(q, (int)(i & 255), sizes[i]);
        }
        for (size_t i = 0; i < N; i++) {
            for (size_t k = 0; k < sizes[i]; k += 97)
                if (blocks[i][k] != (unsigned char)(i & 255)) return 5;
            alloy_free(blocks[i]);
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("victim ok\nrss %ld\n", ru.ru_maxrss);
    return 0;
}

__attribute__((noinline)) static void overflow(size_t past, bool plain) {
    char *p = plain ? malloc(50) : alloy_malloc(50);
    if (p == NULL) exit(1);
    sink = p;
    memset(sink, 'C', 50 + past);
    if (plain)
        free(sink);
    else
        alloy_free(sink);
}

/* The pointer is stored in a local and a global, both cleared, and copied all over this frame,
 * which is dead once it returns: only those stale copies (where exit's frames will run) could
 * make the block look reachable. Without them the stale words a real program leaves are a matter
 * of chance; with them every run shows it. */
__attribute__((noinline)) static void spray(char *p) {
    char *volatile copies[512];
    for (size_t i = 0; i < sizeof copies / sizeof copies[0]; i++) copies[i] = p;
}

__attribute__((noinline)) static void leak42(void) {
    char *volatile p = alloy_malloc(42);
    memset(p, 1, 42);
    spray(p);
    sink = p;
    sink = NULL;
    p = NULL;
}

/* Under ALLOY_DEBUG_GUARD=all: read the byte after a 24-byte block (the guard page). */
__attribute__((noinline)) static void guard_read(void) {
    char *p = alloy_malloc(24);
    memset(p, 1, 24);
    sink = p;
    printf("read %d\n", ((volatile char *)sink)[24]);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "work";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (strcmp(mode, "work") == 0) return work();
    if ((strcmp(mode, "overflow") == 0 || strcmp(mode, "malloc-overflow") == 0) && argc > 2) {
        overflow((size_t)strtoul(argv[2], NULL, 10), mode[0] == 'm');
        printf("victim survived\n");
        return 0;
    }
    if (strcmp(mode, "leak") == 0) {
        leak42();
        return 0;
    }
    if (strcmp(mode, "forkleak") == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            leak42();
            exit(0);
        }
        int st;
        waitpid(pid, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 99;
    }
    if (strcmp(mode, "exec") == 0 && argc > 2) {
        /* Each image makes one finding before it execs (exec runs no exit handlers, so a leak
         * would not be one): a free with the wrong size, under ALLOY_DEBUG_ON_ERROR=continue. */
        int k = atoi(argv[2]);
        void *q = alloy_malloc(24);
        alloy_free_sized(q, 25);
        if (k > 0) {
            char next[16];
            snprintf(next, sizeof next, "%d", k - 1);
            execl("/proc/self/exe", argv[0], "exec", next, (char *)NULL);
            return 98;
        }
        leak42();
        return 0;
    }
    if (strcmp(mode, "aligned") == 0) {
        void *p = alloy_malloc_aligned(100, 64);
        alloy_free_sized(p, 100);
        return 0;
    }
    if (strcmp(mode, "stackfree") == 0) {
        char local[32];
        sink = local;
        alloy_free(sink);
        return 0;
    }
    if (strcmp(mode, "forkfree") == 0) {
        char *q = alloy_malloc(16); /* the parent's thread id is known before the fork */
        alloy_free(q);
        pid_t pid = fork();
        if (pid == 0) {
            printf("child %ld\n", (long)getpid());
            char *r = alloy_malloc(16);
            alloy_free(r);
            alloy_free(r);
            _exit(0);
        }
        int st;
        waitpid(pid, &st, 0);
        return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 0;
    }
    if (strcmp(mode, "guardread") == 0) {
        guard_read();
        return 0;
    }
    if (strcmp(mode, "say") == 0 && argc > 2) {
        printf("%s\n", argv[2]);
        leak42();
        return 0;
    }
    fprintf(stderr, "usage: debug_victim work|overflow N|leak|exec K|aligned|stackfree|say TEXT\n");
    return 2;
}
