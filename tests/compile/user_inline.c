/* SPDX-License-Identifier: MIT */
/* User code that goes through the inline allocator wrappers, compiled at -O2
 * with -Wall -Wextra -Werror (and _FORTIFY_SOURCE) by gcc and clang: a
 * program must be as warning-free with alloy_alloc as with malloc. The
 * size-0 path of alloy_alloc (a constant, aligned, non-NULL address) is
 * where gcc used to see writes into "a region of size 0". */
#include <alloy.h>
#include <stdio.h>
#include <string.h>

typedef struct item {
    int id;
    char name[24];
} item;

char *copy_n(alloy_allocator a, const char *s, size_t n) {
    char *p = alloy_alloc(a, n, 1);
    if (p == NULL) return NULL;
    memcpy(p, s, n);
    if (n > 0) p[n - 1] = 0;
    return p;
}

int *fill(alloy_allocator a, size_t n) {
    int *v = ALLOY_NEW_ARRAY(a, int, n);
    if (v == NULL) return NULL;
    for (size_t i = 0; i < n; i++) v[i] = (int)i;
    return v;
}

char *scratch(alloy_allocator a, int small) {
    size_t n = small ? 0 : 64;
    char *p = alloy_alloc(a, n, 16);
    if (p == NULL || n == 0) return p;
    memset(p, 0, 64);
    snprintf(p, n, "%d", small);
    return p;
}

item *make_items(alloy_allocator a, size_t n, const char *name) {
    item *v = alloy_alloc_array_zeroed(a, n, sizeof(item), _Alignof(item));
    if (v == NULL) return NULL;
    for (size_t i = 0; i < n; i++) {
        v[i].id = (int)i;
        snprintf(v[i].name, sizeof v[i].name, "%s", name);
    }
    return v;
}

typedef struct vec {
    int *data;
    size_t len, cap;
} vec;

int push(alloy_allocator a, vec *v, int x) {
    if (v->len == v->cap) {
        size_t ncap = v->cap ? 2 * v->cap : 4;
        int *d =
            alloy_reallocate(a, v->data, v->cap * sizeof(int), ncap * sizeof(int), _Alignof(int));
        if (d == NULL) return -1;
        v->data = d;
        v->cap = ncap;
    }
    v->data[v->len++] = x;
    return 0;
}

char *arena_line(alloy_arena *ar, const char *s) {
    size_t n = strlen(s);
    char *p = alloy_arena_alloc(ar, n + 1, 1);
    if (p == NULL) return NULL;
    memcpy(p, s, n + 1);
    return p;
}
