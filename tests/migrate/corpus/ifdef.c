/* SPDX-License-Identifier: MIT */
/* Allocation behind #ifdef: both branches are rewritten. */
#include <stdio.h>
#include <stdlib.h>

#define WIDE 1

int main(void) {
#ifdef WIDE
    long *v = malloc(4 * sizeof *v);
#else
    int *v = malloc(4 * sizeof *v);
#endif
    if (v == NULL) return 1;
    v[3] = 9;
#if defined(WIDE) && WIDE > 0
    printf("wide %ld\n", v[3]);
    free(v);
#else
    printf("narrow %d\n", v[3]);
    free(v);
#endif
    return 0;
}
