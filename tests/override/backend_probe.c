/* SPDX-License-Identifier: MIT */
/* tests/override/backend_probe.c - which backend library serves this process?
 *
 * Not linked with alloy: argv[1] is "preload" (alloy comes from LD_PRELOAD=liballoy-override.so)
 * or the path of liballoy.so to dlopen. Allocates and frees through alloy, then prints
 * "backend NAME VERSION" and one "mapped PATH" line per mapped file whose name contains
 * argv[2] (e.g. "mimalloc"), from /proc/self/maps.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void *sym(void *h, const char *name) {
    void *p = dlsym(h, name);
    if (p == NULL) fprintf(stderr, "probe: %s not found\n", name);
    return p;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: backend_probe preload|LIBALLOY MAPPED-NAME\n");
        return 2;
    }
    bool preload = strcmp(argv[1], "preload") == 0;
    void *h = preload ? RTLD_DEFAULT : dlopen(argv[1], RTLD_NOW);
    if (!preload && h == NULL) {
        fprintf(stderr, "probe: %s\n", dlerror());
        return 2;
    }
    void *(*alloc)(size_t) = NULL;
    void (*release)(void *) = NULL;
    const char *(*name)(void) = NULL, *(*version)(void) = NULL;
    void *a = sym(h, "alloy_malloc"), *f = sym(h, "alloy_free"), *n = sym(h, "alloy_backend_name"),
         *v = sym(h, "alloy_backend_version");
    if (!a || !f || !n || !v) return 2;
    memcpy(&alloc, &a, sizeof a);
    memcpy(&release, &f, sizeof f);
    memcpy(&name, &n, sizeof n);
    memcpy(&version, &v, sizeof v);
    static void *blocks[1000];
    for (int i = 0; i < 1000; i++) {
        blocks[i] = alloc((size_t)i * 8 + 1);
        if (blocks[i] == NULL) return 3;
        memset(blocks[i], i & 0xff, (size_t)i * 8 + 1);
    }
    for (int i = 0; i < 1000; i++) release(blocks[i]);
    printf("backend %s %s\n", name(), version());
    FILE *maps = fopen("/proc/self/maps", "r");
    if (maps == NULL) return 4;
    char line[4096], last[4096] = "";
    while (fgets(line, sizeof line, maps) != NULL) {
        char *path = strchr(line, '/');
        if (path == NULL || strstr(path, argv[2]) == NULL) continue;
        path[strcspn(path, "\n")] = '\0';
        if (strcmp(path, last) != 0) printf("mapped %s\n", path);
        snprintf(last, sizeof last, "%s", path);
    }
    fclose(maps);
    return 0;
}
