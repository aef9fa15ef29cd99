/* SPDX-License-Identifier: MIT */
/* Underflow write: index -1 written (fixed: index 0). */
#include "corpus.h"

__attribute__((noinline)) static void store(int *a, long i, int v) {
    a[i] = v;
}

int main(void) {
    int *a = MALLOC(10 * sizeof(int));
#ifndef FIXED
    store(a, -1, 7);
#else
    store(a, 0, 7);
#endif
    FREE(a);
    return 0;
}
