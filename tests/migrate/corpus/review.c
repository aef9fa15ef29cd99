/* SPDX-License-Identifier: MIT */
/* libc memory that leaves the function that got it: alloy migrate cannot tell what a free
 * elsewhere releases, so it leaves those frees alone and lists them for review. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct entry {
    char *path; /* from realpath: libc's */
    char *label; /* from strdup: alloy's after the migration */
};

static char input[] = "alpha\nbeta\n";

static char *read_line(FILE *f) {
    char *l = NULL;
    size_t n = 0;
    if (getline(&l, &n, f) < 0) {
        free(l);
        return NULL;
    }
    return l;
}

static int read_into(char **out, FILE *f) {
    size_t n = 0;
    return getline(out, &n, f) < 0 ? -1 : 0;
}

static char *where(void) {
    return getcwd(NULL, 0);
}

static void release(char *s) {
    free(s);
}

static void fill(struct entry *e) {
    e->path = realpath(".", NULL);
    e->label = strdup("label");
}

int main(void) {
    FILE *f = fmemopen(input, sizeof input - 1, "r");
    if (f == NULL) return 1;
    char *first = read_line(f);
    char *second = NULL;
    if (first == NULL || read_into(&second, f) != 0) return 1;
    printf("%zu %zu\n", strlen(first), strlen(second));
    free(first);
    release(second);
    fclose(f);
    free(where());
    struct entry e;
    fill(&e);
    printf("%s %d\n", e.label, e.path != NULL);
    free(e.path);
    free(e.label);
    return 0;
}
