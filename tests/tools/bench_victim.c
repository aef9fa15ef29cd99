/* SPDX-License-Identifier: MIT */
/* bench_victim.c - a small program for `alloy bench -- CMD` tests: allocates through plain
 * malloc (the override library routes it to the backend under test), then ends as told.
 *
 * usage: bench_victim BLOCKS [exit-under NAME CODE | abort-under NAME]
 * Under backend NAME (ALLOY_BACKEND's name part) it exits with CODE, or aborts, after the
 * work; under any other backend it exits 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int under(const char *name) {
    const char *b = getenv("ALLOY_BACKEND");
    size_t l = strlen(name);
    return b != NULL && strncmp(b, name, l) == 0 && (b[l] == '\0' || b[l] == ':');
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs("usage: bench_victim BLOCKS [exit-under NAME CODE | abort-under NAME]\n", stderr);
        return 2;
    }
    long n = strtol(argv[1], NULL, 10);
    void *keep[64] = {0};
    unsigned long sum = 0;
    for (long i = 0; i < n; i++) {
        size_t k = (size_t)i % 64;
        free(keep[k]);
        keep[k] = malloc(16 + (size_t)(i * 7) % 1000);
        if (keep[k] == NULL) return 3;
        memset(keep[k], (int)i, 16);
        sum += ((unsigned char *)keep[k])[3];
    }
    for (int k = 0; k < 64; k++) free(keep[k]);
    printf("%lu\n", sum); /* discarded by alloy bench: only the status counts */
    if (argc >= 5 && strcmp(argv[2], "exit-under") == 0 && under(argv[3])) {
        fprintf(stderr, "bench_victim: failing under %s as asked\n", argv[3]);
        return atoi(argv[4]);
    }
    if (argc >= 4 && strcmp(argv[2], "abort-under") == 0 && under(argv[3])) abort();
    return 0;
}
