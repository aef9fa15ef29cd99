/* SPDX-License-Identifier: MIT */
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
static void *(*mi_malloc_aligned_at_fn)(size_t size, size_t align, size_t offset);
static void *(*mi_realloc_aligned_fn)(void *p, size_t size, size_t align);
static alloy__backend mi_table;
static size_t (*mi_good_size_fn)(size_t size);
static uint32_t mi_classes[ALLOY__CLASS_SLOTS];

/* mimalloc 2.0.9 (Debian 12) returns misaligned blocks from mi_malloc_aligned
 * when size == alignment is 256, 512 or 1024 (upstream issue #700): its small
 * fast path assumes natural alignment. The _at variant skips that shortcut. */
static void *mi_malloc_aligned_(size_t size, size_t align) {
    return mi_malloc_aligned_at_fn(size, align, 0);
}

/* mi_realloc_aligned keeps the old block's offset from the alignment (upstream
 * issue #603), so a block not already aligned is moved by copy instead. */
static void *mi_realloc_aligned_(void *p, size_t size, size_t align) {
    if (((uintptr_t)p & (align - 1)) != 0)
        return alloy__realloc_aligned_by_copy(&mi_table, p, size, align);
    return mi_realloc_aligned_fn(p, size, align);
}

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
        {"mi_malloc_aligned_at", &mi_malloc_aligned_at_fn},
        {"mi_realloc_aligned", &mi_realloc_aligned_fn},
        {"mi_free_size_aligned", &be->free_aligned_sized},
        {"mi_usable_size", &be->usable_size},
        {"mi_collect", &be->collect},
        {"mi_version", &version},
        {"mi_good_size", &mi_good_size_fn},
    };
    if (!alloy__resolve(h, MIMALLOC_SONAME, syms, sizeof syms / sizeof syms[0], err, errlen))
        return false;
    int v = version();
    snprintf(mi_version_text, sizeof mi_version_text, "%d.%d.%d", v / 100, (v / 10) % 10, v % 10);
    be->name = "mimalloc";
    be->version = mi_version_text;
    be->malloc_aligned = mi_malloc_aligned_;
    be->realloc_aligned = mi_realloc_aligned_;
    alloy__fill_classes(be, mi_classes, mi_good_size_fn);
    mi_table = *be;
    return true;
}
