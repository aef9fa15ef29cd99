/* SPDX-License-Identifier: MIT */
/* Sized free with the wrong size: 40 bytes freed as 48 (fixed: as 40). */
#include "corpus.h"

__attribute__((noinline)) static void release(void *p, size_t n) {
    FREE_SIZED(p, n);
}

int main(void) {
    void *p = MALLOC(40);
#ifndef FIXED
    release(p, 48);
#else
    release(p, 40);
#endif
    return 0;
}
