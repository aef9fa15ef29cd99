/* SPDX-License-Identifier: MIT */
/* Macros that wrap the malloc family: spatch rewrites their bodies, the report lists them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEW(T) ((T *)malloc(sizeof(T)))
#define FREE_AND_NULL(p)                                                                          \
    do {                                                                                           \
        free(p);                                                                                   \
        (p) = NULL;                                                                                \
    } while (0)
#define GREETING "free(hello) and malloc(3) in a string"

struct pair {
    int a, b;
};

int main(void) {
    struct pair *p = NEW(struct pair);
    if (p == NULL) return 1;
    p->a = 1;
    p->b = 2;
    char *s = malloc(strlen(GREETING) + 1);
    if (s == NULL) return 1;
    strcpy(s, GREETING);
    printf("%d %s\n", p->a + p->b, s);
    FREE_AND_NULL(s);
    FREE_AND_NULL(p);
    printf("%d\n", p == NULL && s == NULL);
    return 0;
}
