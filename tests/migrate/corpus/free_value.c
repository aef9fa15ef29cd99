/* SPDX-License-Identifier: MIT */
/* free used as a value: a callback argument, a struct initializer, a function pointer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void destroy_fn(void *);

struct list {
    char *items[4];
    int n;
    destroy_fn *destroy;
};

static const struct {
    const char *name;
    destroy_fn *release;
} table[] = {{"default", free}};

static void list_clear(struct list *l, destroy_fn *fn) {
    for (int i = 0; i < l->n; i++) fn(l->items[i]);
    l->n = 0;
}

int main(void) {
    struct list l = {.n = 0, .destroy = free};
    const char *words[] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++) l.items[l.n++] = strdup(words[i]);
    printf("%d items, table %s\n", l.n, table[0].name);
    list_clear(&l, free);
    destroy_fn *release;
    release = table[0].release;
    char *tmp = malloc(16);
    if (tmp == NULL) return 1;
    strcpy(tmp, "callback");
    puts(tmp);
    release(tmp);
    l.items[l.n++] = strdup("four");
    l.destroy(l.items[0]);
    return 0;
}
