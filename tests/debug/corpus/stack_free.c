/* SPDX-License-Identifier: MIT */
/* Free of a stack array (fixed: a heap array). */
#include "corpus.h"
#include <string.h>

__attribute__((noinline)) static void release(char *p) {
    FREE(p);
}

int main(void) {
#ifndef FIXED
    char local[48];
    memset(local, 1, sizeof local);
    char *p = local;
    OPAQUE(p);
    release(p);
#else
    char *p = MALLOC(48);
    memset(p, 1, 48);
    release(p);
#endif
    return 0;
}
