/* SPDX-License-Identifier: MIT */
/* A library the leaks program dlopens, leaks from, then dlcloses (fixed: frees). */
#include "corpus.h"

__attribute__((visibility("default"))) void *corpus_lib_make(size_t n) {
    char *p = MALLOC(n);
    if (p != NULL) p[0] = 1;
    return p;
}

__attribute__((visibility("default"))) void corpus_lib_free(void *p) {
    FREE(p);
}
