/* SPDX-License-Identifier: MIT */
/* Free of an interior pointer (fixed: of the block's start). */
#include "corpus.h"

__attribute__((noinline)) static void release(char *p) {
    FREE(p);
}

int main(void) {
    char *buf = MALLOC(64);
    char *field = buf + 16;
    OPAQUE(field);
#ifndef FIXED
    release(field);
#else
    (void)field;
    release(buf);
#endif
    return 0;
}
