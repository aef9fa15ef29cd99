/* SPDX-License-Identifier: MIT */
/* tests/profile/profile_victim.c - an unmodified program (plain malloc/free) for the
 * ALLOY_PROFILE tests under LD_PRELOAD: the known workload, then one ending per mode. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ALLOC(n) malloc(n)
#define FREE(p) free(p)
#include "workload.h"

/* Allocate and free n bytes (volatile: the compiler may not drop the pair). */
static void keep(size_t n) {
    void *volatile p = malloc(n);
    free(p);
}

/* Wait until the profiler has streamed the workload to path (its stream period is the
 * contract under test: the program then ends without any exit handler running). */
static void wait_streamed(const char *path) {
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            char buf[1024] = {0};
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            const char *c = n ? strstr(buf, "\"alloc_count\":") : NULL;
            if (c != NULL && atol(c + 14) >= 1720) return;
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "exit";
    if (strcmp(mode, "exec") == 0) {
        /* Replace this program before the profiler's first write; the new image marks itself
         * with blocks of 555 bytes. */
        execl(argv[0], argv[0], "marked", (char *)NULL);
        return 127;
    }
    if (strcmp(mode, "hostile") == 0) wl_worker_name = "w\"o\\r\nk\xff";
    if (workload() != 0) return 1;
    if (strcmp(mode, "marked") == 0) {
        for (int i = 0; i < 5; i++) keep(555);
        return 0;
    }
    if (strcmp(mode, "_exit") == 0) {
        if (argc > 2) wait_streamed(argv[2]);
        _exit(0);
    }
    if (strcmp(mode, "abort") == 0) abort();
    if (strcmp(mode, "hang") == 0) {
        printf("ready\n");
        fflush(stdout);
        for (;;) pause();
    }
    if (strcmp(mode, "fork") == 0) {
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) {
            for (int i = 0; i < 5; i++) keep(777);
            return 0;
        }
        printf("%ld\n", (long)pid);
        fflush(stdout);
        int st;
        waitpid(pid, &st, 0);
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
    }
    return 0;
}
