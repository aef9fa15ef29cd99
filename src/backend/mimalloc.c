/* mimalloc backend: Debian's libmimalloc.so.2, loaded with RTLD_LOCAL.
 *
 * libmimalloc.so also exports malloc, free and friends. Loading it into the
 * local scope only keeps those names out of the process's symbol lookup, so
 * plain malloc stays glibc's however liballoy itself is linked; alloy calls
 * the mi_* entry points through the table.
 */
#define _GNU_SOURCE
#include "../internal.h"

#include <dlfcn.h>
#include <stdio.h>

#define MIMALLOC_SONAME "libmimalloc.so.2"

static char mi_version_text[16];

bool alloy__mimalloc_load(alloy__backend *be, char *err, size_t errlen) {
    void *h = dlopen(MIMALLOC_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (h == NULL) {
        snprintf(err, errlen, "%s", dlerror());
        return false;
    }
    int (*version)(void) = NULL;
    const alloy__sym syms[] = {
        {"mi_malloc", &be->malloc},
        {"mi_calloc", &be->calloc},
        {"mi_realloc", &be->realloc},
        {"mi_free", &be->free},
        {"mi_free_size", &be->free_sized},
        {"mi_malloc_aligned", &be->malloc_aligned},
        {"mi_realloc_aligned", &be->realloc_aligned},
        {"mi_free_size_aligned", &be->free_aligned_sized},
        {"mi_usable_size", &be->usable_size},
        {"mi_collect", &be->collect},
        {"mi_version", &version},
    };
    if (!alloy__resolve(h, MIMALLOC_SONAME, syms, sizeof syms / sizeof syms[0], err, errlen)) return false;
    int v = version();
    snprintf(mi_version_text, sizeof mi_version_text, "%d.%d.%d", v / 100, (v / 10) % 10, v % 10);
    be->name = "mimalloc";
    be->version = mi_version_text;
    return true;
}
