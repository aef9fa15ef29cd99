/* SPDX-License-Identifier: MIT */
/* tools_victim.c - programs for `alloy profile` tests: each mode is built to trigger one
 * recommendation rule (or, with the "no" prefix, built not to), to fork, to crash, or to carry
 * a hostile thread name. usage: tools_victim MODE */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *volatile sink;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Keep the allocation pattern visible on the profiler's 10 ms timeline. */
static void spin(double s) {
    double end = now() + s;
    while (now() < end) {
    }
}

static void same_size(size_t size, int n) {
    for (int i = 0; i < n; i++) {
        sink = malloc(size);
        free(sink);
    }
}

static void mixed_sizes(int n) {
    for (int i = 0; i < n; i++) {
        sink = malloc((size_t)(8 + (i * 37) % 3000));
        free(sink);
    }
}

static void phases(int n, bool freed_together) {
    enum { BLOCKS = 2048 };
    static void *b[BLOCKS];
    for (int p = 0; p < n; p++) {
        for (int i = 0; i < BLOCKS; i++) b[i] = malloc(1024);
        spin(0.03);
        if (freed_together)
            for (int i = 0; i < BLOCKS; i++) free(b[i]);
        else
            for (int i = 0; i < BLOCKS / 8; i++) free(b[i]);
        spin(0.03);
        if (!freed_together)
            for (int i = BLOCKS / 8; i < BLOCKS; i++) free(b[i]);
    }
}

enum { RING = 4096 };
static void *ring[RING];
static int produced;

static void *consumer(void *arg) {
    (void)arg;
    for (int round = 0; round < 20; round++) {
        while (__atomic_load_n(&produced, __ATOMIC_ACQUIRE) <= round) sched_yield();
        for (int i = 0; i < RING; i++) free(ring[i]);
        __atomic_store_n(&produced, -1 - round, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void cross(void) {
    pthread_t t;
    pthread_create(&t, NULL, consumer, NULL);
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < RING; i++) ring[i] = malloc(64);
        __atomic_store_n(&produced, round + 1, __ATOMIC_RELEASE);
        while (__atomic_load_n(&produced, __ATOMIC_ACQUIRE) != -1 - round) sched_yield();
    }
    pthread_join(t, NULL);
}

static void *named(void *arg) {
    pthread_setname_np(pthread_self(), (const char *)arg);
    same_size(40, 1000);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *m = argv[1];
    if (strcmp(m, "pool") == 0)
        same_size(48, 200000);
    else if (strcmp(m, "nopool") == 0)
        mixed_sizes(200000);
    else if (strcmp(m, "arena") == 0)
        phases(5, true);
    else if (strcmp(m, "noarena") == 0)
        phases(5, false);
    else if (strcmp(m, "cross") == 0)
        cross();
    else if (strcmp(m, "nocross") == 0)
        same_size(64, 81920);
    else if (strcmp(m, "frag") == 0 || strcmp(m, "nofrag") == 0) {
        size_t size = m[0] == 'f' ? 17 : 16;                 /* 17 rounds up to a 24-byte class */
        for (int i = 0; i < 20000; i++) sink = malloc(size); /* kept live on purpose */
    } else if (strcmp(m, "tail") == 0 || strcmp(m, "notail") == 0) {
        static void *big[200];
        for (int i = 0; i < 20000; i++) {
            /* One in 100 is a fresh 16 MiB block kept live (never touched): each needs new
             * address space from the kernel, far slower than the rest. */
            if (m[0] == 't' && i % 100 == 0) {
                big[i / 100] = malloc((size_t)16 << 20);
                continue;
            }
            sink = malloc(32);
            free(sink);
        }
        for (int i = 0; i < 200; i++) free(big[i]);
    } else if (strcmp(m, "leak") == 0 || strcmp(m, "noleak") == 0) {
        for (int i = 0; i < 2048; i++) {
            sink = malloc(4096);
            if (m[0] == 'n') free(sink); /* else kept live on purpose */
        }
    } else if (strcmp(m, "fork") == 0) {
        same_size(100, 1000);
        pid_t pid = fork();
        if (pid == 0) {
            same_size(200, 3000);
            exit(0); /* _exit within the first 100 ms would leave no profile */
        }
        int st;
        waitpid(pid, &st, 0);
        same_size(300, 2000);
    } else if (strcmp(m, "many") == 0) {
        for (int i = 0; i < 10000000; i++) { /* 10 million allocations, sizes 1..4096 */
            sink = malloc((size_t)(1 + (i * 2654435761u) % 4096));
            free(sink);
        }
    } else if (strcmp(m, "crash") == 0) {
        for (int i = 0; i < 100; i++) sink = malloc(1000); /* live when it dies */
        raise(SIGSEGV);
    } else if (strcmp(m, "hostile") == 0) {
        pthread_t t;
        /* 15 bytes: the most a thread name holds. */
        pthread_create(&t, NULL, named, "</script><scri");
        pthread_join(t, NULL);
    } else if (strcmp(m, "_exit") == 0 || strcmp(m, "_Exit") == 0) {
        same_size(48, 300);
        for (int i = 0; i < 700; i++) sink = malloc(100); /* live when it ends */
        if (m[1] == 'e') _exit(3);
        _Exit(4);
    } else if (strcmp(m, "vfork") == 0) {
        same_size(100, 500);
        pid_t pid = vfork(); /* the child shares our memory: it must not write a profile */
        if (pid == 0) _exit(0);
        int st;
        waitpid(pid, &st, 0);
        _exit(5);
    } else if (strcmp(m, "until") == 0 && argc > 2) {
        while (access(argv[2], F_OK) != 0) /* churn until the test creates the file */
            for (int i = 0; i < 1000; i++) {
                sink = malloc((size_t)(16 + i));
                free(sink);
            }
    } else
        return 2;
    return 0;
}
