/* SPDX-License-Identifier: MIT */
/* tests/override/libc_is_glibc.c - ALLOY_BACKEND=libc serves glibc's blocks even
 * when another allocator library (jemalloc, tcmalloc, mimalloc) is preloaded
 * after liballoy-override and exports malloc and malloc_usable_size too.
 * Evidence: glibc's own mallinfo2 (looked up in libc.so.6) grows by what the
 * program allocates through malloc, and the blocks' usable sizes are glibc's. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

enum { N = 2000, SIZE = 1000 };

int main(void) {
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    struct mallinfo2 (*info)(void) = NULL;
    size_t (*glibc_usable)(void *) = NULL;
    void *a = libc ? dlsym(libc, "mallinfo2") : NULL,
         *b = libc ? dlsym(libc, "malloc_usable_size") : NULL;
    if (a == NULL || b == NULL) {
        fprintf(stderr, "no glibc mallinfo2/malloc_usable_size\n");
        return 2;
    }
    memcpy(&info, &a, sizeof a);
    memcpy(&glibc_usable, &b, sizeof b);
    static void *blocks[N];
    size_t before = info().uordblks;
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(SIZE);
        if (blocks[i] == NULL) return 3;
        memset(blocks[i], i & 0xff, SIZE);
    }
    size_t grown = info().uordblks - before;
    int bad = 0;
    for (int i = 0; i < N; i++) bad += glibc_usable(blocks[i]) < SIZE;
    for (int i = 0; i < N; i++) free(blocks[i]);
    if (grown < (size_t)N * SIZE || bad != 0) {
        fprintf(stderr, "glibc grew by %zu bytes for %d blocks of %d; %d bad sizes\n", grown, N,
                SIZE, bad);
        return 1;
    }
    printf("libc backend is glibc: %zu bytes\n", grown);
    return 0;
}
