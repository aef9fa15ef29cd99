/* SPDX-License-Identifier: MIT */
/* tests/override/realloc_null.c - realloc(NULL, n) under the override library
 * is an allocation on every layer (the profiler once looked up the usable size
 * of NULL here, which killed libc and jemalloc). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char *p = realloc(NULL, 100);
    if (p == NULL) return 1;
    memset(p, 1, 100);
    p = realloc(p, 1000);
    if (p == NULL || p[99] != 1) return 2;
    free(p);
    puts("realloc(NULL) ok");
    return 0;
}
