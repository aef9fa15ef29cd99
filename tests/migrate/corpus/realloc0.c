/* SPDX-License-Identifier: MIT */
/* realloc(p, 0) used as a free: glibc frees p and returns NULL; alloy_realloc(p, 0) would
 * return a block, so the statement becomes alloy_free(p) and a NULL. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    int *v = malloc(10 * sizeof *v);
    if (v == NULL) return 1;
    for (int i = 0; i < 10; i++) v[i] = i;
    printf("%d\n", v[9]);
    v = realloc(v, 0);
    printf("after realloc(p, 0): %s\n", v == NULL ? "NULL" : "a block");
    return 0;
}
