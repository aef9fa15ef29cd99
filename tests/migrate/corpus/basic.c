/* SPDX-License-Identifier: MIT */
/* Every function of the malloc family that alloy migrate rewrites. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct point {
    int x, y;
};

int main(void) {
    struct point *p = malloc(sizeof *p);
    int *zeros = calloc(4, sizeof(int));
    char *name = strdup("alloy");
    char *prefix = strndup("migrate", 3);
    if (p == NULL || zeros == NULL || name == NULL || prefix == NULL) return 1;
    p->x = 3;
    p->y = 4;
    int *grown = realloc(zeros, 8 * sizeof(int));
    if (grown == NULL) return 1;
    zeros = grown;
    for (int i = 0; i < 8; i++) zeros[i] = i * i;
    int *more = reallocarray(zeros, 16, sizeof(int));
    if (more == NULL) return 1;
    zeros = more;
    void *a = aligned_alloc(64, 128);
    void *m = memalign(32, 100);
    void *pm = NULL;
    if (a == NULL || m == NULL || posix_memalign(&pm, 128, 256) != 0) return 1;
    printf("point %d,%d sum %d name %s prefix %s\n", p->x, p->y, zeros[7] + zeros[3], name,
           prefix);
    printf("aligned %d %d %d usable>=100 %d\n", (int)((size_t)a % 64 == 0),
           (int)((size_t)m % 32 == 0), (int)((size_t)pm % 128 == 0),
           (int)(malloc_usable_size(m) >= 100));
    free(pm);
    free(m);
    free(a);
    free(zeros);
    free(prefix);
    free(name);
    free(p);
    return 0;
}
