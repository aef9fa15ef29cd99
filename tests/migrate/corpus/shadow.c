/* SPDX-License-Identifier: MIT */
/* Names that only look like the malloc family: a function named my_free, a local variable
 * named malloc, a parameter named free, and a struct member named free. */
#include <stdio.h>
#include <stdlib.h>

static int pool[64];
static int used;

static void *pool_alloc(size_t n) {
    (void)n;
    return &pool[used++];
}

static void my_free(void *p) {
    free(p);
}

static void drop(void *p, void (*free)(void *)) {
    free(p);
}

struct ops {
    void (*free)(void *);
};

static void noop(void *p) {
    (void)p;
}

int main(void) {
    void *(*malloc)(size_t) = pool_alloc;
    int *a = malloc(sizeof *a);
    *a = 5;
    struct ops ops = {noop};
    ops.free(a);
    drop(a, noop);
    char *b = calloc(1, 8);
    if (b == NULL) return 1;
    printf("%d %d\n", *a, used);
    my_free(b);
    return 0;
}
