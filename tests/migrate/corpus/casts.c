/* SPDX-License-Identifier: MIT */
/* Casts around allocation calls, and sizeof expressions with side effects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    int n = 3;
    char *s = (char *)malloc(16);
    int *v = (int *)calloc((size_t)n, sizeof(int));
    /* sizeof does not evaluate its operand: n stays 3, and the migration keeps it that way. */
    long *w = (long *)malloc(sizeof(w[n++]) * 2);
    if (s == NULL || v == NULL || w == NULL) return 1;
    strcpy(s, "cast");
    v[2] = 7;
    w[1] = 5;
    printf("%s %d %ld n=%d\n", s, v[2], w[1], n);
    free((void *)w);
    free((void *)v);
    free(s);
    return 0;
}
