/* SPDX-License-Identifier: MIT */
/* Write after free: a node updated after it was released (fixed: before). */
#include "corpus.h"

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free" /* the bug is the point */
#endif

typedef struct node {
    struct node *next;
    int value;
} node;

__attribute__((noinline)) static void set_value(node *n, int v) {
    n->value = v;
}

int main(void) {
    node *n = MALLOC(sizeof *n);
    n->next = NULL;
#ifndef FIXED
    FREE(n);
    OPAQUE(n);
    set_value(n, 42);
#else
    set_value(n, 42);
    FREE(n);
#endif
    return 0;
}
