/* SPDX-License-Identifier: MIT */
/* Double free: the same block freed twice (fixed: once). */
#include "corpus.h"

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free" /* the bug is the point */
#endif
#include <string.h>

__attribute__((noinline)) static char *make_name(void) {
    char *p = MALLOC(32);
    if (p != NULL) strcpy(p, "corpus");
    return p;
}

__attribute__((noinline)) static void drop(char *p) {
    FREE(p);
}

int main(void) {
    char *p = make_name();
    drop(p);
#ifndef FIXED
    OPAQUE(p);
    drop(p);
#endif
    return 0;
}
