/* SPDX-License-Identifier: MIT */
/* With --sized: a free whose block size the allocation shows becomes alloy_free_sized; one
 * whose size expression has side effects, or whose pointer is assigned twice, does not. */
#include <stdio.h>
#include <stdlib.h>

struct node {
    int value;
    struct node *next;
};

int main(void) {
    struct node *n = malloc(sizeof *n);
    if (n == NULL) return 1;
    n->value = 1;
    n->next = NULL;
    double *d = malloc(sizeof(double));
    if (d == NULL) return 1;
    *d = 2.5;
    int k = 4;
    int *v = malloc(k++ * sizeof *v);
    if (v == NULL) return 1;
    v[0] = 3;
    char *s = malloc(sizeof(char[8]));
    if (s == NULL) return 1;
    char *t = malloc(16);
    if (t == NULL) return 1;
    free(t);
    t = s;
    t[0] = 'x';
    t[1] = '\0';
    printf("%d %.1f %d %s k=%d\n", n->value, *d, v[0], t, k);
    free(t);
    free(v);
    free(d);
    free(n);
    return 0;
}
