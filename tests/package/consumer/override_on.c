/* SPDX-License-Identifier: MIT */
/* Linked against a liballoy built with ALLOY_OVERRIDE=ON: plain malloc is alloy. */
#define _GNU_SOURCE
#include <alloy.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    Dl_info info;
    void *addr = dlsym(RTLD_DEFAULT, "malloc");
    if (addr == NULL || !dladdr(addr, &info) || strstr(info.dli_fname, "liballoy") == NULL) {
        fprintf(stderr, "malloc is not alloy's\n");
        return 1;
    }
    alloy_stats a, b;
    if (!alloy_stats_enable(false) || !alloy_stats_get(&a)) return 4; /* counting is a layer */
    char *volatile p = malloc(1000);
    char *volatile q = strdup("counted too"); /* glibc's strdup calls malloc */
    alloy_stats_get(&b);
    if (b.alloc_count - a.alloc_count < 2 || alloy_usable_size(p) < 1000) return 2;
    free(q);
    free(p);
    alloy_stats_get(&b);
    if (b.current_count != a.current_count) return 3;
    printf("override on: malloc served by %s\n", alloy_backend_name());
    return 0;
}
