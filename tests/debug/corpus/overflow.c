/* SPDX-License-Identifier: MIT */
/* 1-byte overflow: a string copied without room for its terminator (fixed: with room). */
#include "corpus.h"
#include <string.h>

__attribute__((noinline)) static char *copy(const char *s) {
#ifndef FIXED
    char *p = MALLOC(strlen(s)); /* one byte short */
#else
    char *p = MALLOC(strlen(s) + 1);
#endif
    strcpy(p, s);
    return p;
}

int main(void) {
    char *p = copy("twenty-three characters");
    FREE(p);
    return 0;
}
