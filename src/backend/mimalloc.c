/* SPDX-License-Identifier: MIT */
/* mimalloc backend: Debian's libmimalloc.so.2, or the mimalloc 2 or 3 library named by
 * ALLOY_BACKEND=mimalloc:PATH, loaded with RTLD_LOCAL.
 *
 * Every entry point used here has the same name and signature in mimalloc 2.0 to 2.4 and 3.0
 * to 3.4 (upstream's include/mimalloc.h at the tags); what v3 changed that alloy sees is the
 * numbering of mi_version() (mi_decode_version). MIMALLOC_* variables are read by mimalloc
 * itself.
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
#include <string.h>

#define MIMALLOC_SONAME "libmimalloc.so.2"

static char mi_version_text[16];
static void *(*mi_malloc_aligned_at_fn)(size_t size, size_t align, size_t offset);
static void *(*mi_realloc_aligned_fn)(void *p, size_t size, size_t align);
static alloy__backend mi_table;
static size_t (*mi_good_size_fn)(size_t size);
static uint32_t mi_classes[ALLOY__CLASS_SLOTS];

static void (*mi_process_info_fn)(size_t *elapsed, size_t *user, size_t *sys, size_t *rss,
                                  size_t *peak_rss, size_t *commit, size_t *peak_commit,
                                  size_t *faults);

/* mi_process_info: current_commit is what mimalloc has committed (segments, their metadata,
 * and free pages not yet purged); current_rss is its own estimate, on Linux the same commit
 * count (v2.0.9 and v3 both). Neither allocates. */
static bool mi_heap_stats_(alloy__heap_stats *out) {
    size_t rss = 0, commit = 0;
    mi_process_info_fn(NULL, NULL, NULL, &rss, NULL, &commit, NULL, NULL);
    if (commit == 0) return false;
    *out = (alloy__heap_stats){commit, rss, "mi_process_info.current_commit"};
    return true;
}

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

/* mi_version() has been numbered three ways (read from upstream's tags): 209 for 2.0.9 and
 * 314 for 3.1.4 (major, minor, patch one digit each, up to 2.2.7 and 3.1.x); 3010 for 3.0.10 and
 * 3208 for 3.2.8 (major, minor, two-digit patch: 3.0.10 to 3.2.x); 20300 for 2.3.0 and 30403
 * for 3.4.3 (major, two-digit minor and patch: from 2.3.0 and 3.3.0 on). */
static void mi_decode_version(int v, int *major, int *minor, int *patch) {
    if (v >= 10000) {
        *major = v / 10000, *minor = (v / 100) % 100, *patch = v % 100;
    } else if (v >= 1000) {
        *major = v / 1000, *minor = (v / 100) % 10, *patch = v % 100;
    } else {
        *major = v / 100, *minor = (v / 10) % 10, *patch = v % 10;
    }
}

bool alloy__mimalloc_load(alloy__backend *be, const char *path, char *err, size_t errlen) {
    const char *lib = path != NULL ? path : MIMALLOC_SONAME;
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
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
    if (!alloy__resolve(h, lib, syms, sizeof syms / sizeof syms[0], err, errlen)) return false;
    int major, minor, patch;
    mi_decode_version(version(), &major, &minor, &patch);
    if (major < 2) {
        snprintf(err, errlen, "%s is mimalloc %d.%d.%d; alloy needs mimalloc 2 or 3", lib, major,
                 minor, patch);
        return false;
    }
    snprintf(mi_version_text, sizeof mi_version_text, "%d.%d.%d", major, minor, patch);
    be->name = "mimalloc";
    be->version = mi_version_text;
    be->malloc_aligned = mi_malloc_aligned_;
    be->realloc_aligned = mi_realloc_aligned_;
    void *info = dlsym(h, "mi_process_info"); /* optional: no figures without it */
    memcpy(&mi_process_info_fn, &info, sizeof info);
    be->heap_stats = info != NULL ? mi_heap_stats_ : NULL;
    alloy__fill_classes(be, mi_classes, mi_good_size_fn);
    mi_table = *be;
    return true;
}
