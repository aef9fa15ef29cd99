/* SPDX-License-Identifier: MIT */
/* jemalloc backend: Debian's libjemalloc.so.2 through its fast entry points.
 *
 * Like mimalloc and tcmalloc, jemalloc is loaded with dlopen(RTLD_LOCAL), so
 * its own malloc and operator new never enter the process's symbol lookup and
 * liballoy stays dlopen-able. jemalloc needs ~2.6 KiB of static TLS, more than
 * glibc keeps spare for libraries loaded after start-up (512 bytes), so in a
 * process that did not load it at start the load fails unless the program runs
 * with GLIBC_TUNABLES=glibc.rtld.optional_static_tls=4096; the reason printed
 * then says so. Builds whose default backend is jemalloc link it instead, so it
 * is loaded at start-up. jemalloc.h is used for its flag macros only.
 * malloc, calloc, realloc, free and sdallocx(flags 0) are jemalloc's fast paths,
 * looked up in jemalloc's own handle; the *allocx family serves alignment and
 * queries. mallocx(0) is undefined in jemalloc, so size 0 becomes 1 there.
 */
#define _GNU_SOURCE
#include "../internal.h"

#include <dlfcn.h>
#include <jemalloc/jemalloc.h>
#include <stdio.h>
#include <string.h>

#define JEMALLOC_SONAME "libjemalloc.so.2"
#define ZERO_TO_ONE(n) ((n) + ((n) == 0))

/* The plain entry points are jemalloc's fast paths (thread cache, no flag
 * decoding): malloc, calloc, realloc, free and sdallocx with flags 0 take them;
 * mallocx/dallocx go through the general path (about 90 instructions each
 * against 30). The *x forms remain for what only they can do: alignment on
 * realloc, the usable size, the size-class table. */
static void *(*je_malloc)(size_t size);
static void *(*je_calloc)(size_t count, size_t size);
static void *(*je_realloc)(void *p, size_t size);
static void (*je_free)(void *p);
static void *(*je_mallocx)(size_t size, int flags);
static void *(*je_rallocx)(void *p, size_t size, int flags);
static void (*je_sdallocx)(void *p, size_t size, int flags);
static size_t (*je_sallocx)(const void *p, int flags);
static size_t (*je_nallocx)(size_t size, int flags);
static int (*je_mallctl)(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
static uint32_t je_classes[ALLOY__CLASS_SLOTS];

/* A block from malloc(0) is jemalloc's smallest class; sdallocx wants a size
 * in that class, and 0 is not one. */
static void je_free_sized_(void *p, size_t size) {
    je_sdallocx(p, ZERO_TO_ONE(size), 0);
}

static void *je_malloc_aligned_(size_t size, size_t align) {
    return je_mallocx(ZERO_TO_ONE(size), MALLOCX_ALIGN(align));
}

static void *je_realloc_aligned_(void *p, size_t size, size_t align) {
    return je_rallocx(p, ZERO_TO_ONE(size), MALLOCX_ALIGN(align));
}

static void je_free_aligned_sized_(void *p, size_t size, size_t align) {
    je_sdallocx(p, ZERO_TO_ONE(size), MALLOCX_ALIGN(align));
}

static size_t je_usable_(const void *p) {
    return je_sallocx(p, 0);
}

static size_t je_good_size_(size_t size) {
    return je_nallocx(ZERO_TO_ONE(size), 0);
}

static void je_collect_(bool force) {
    if (force) je_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    char name[64];
    snprintf(name, sizeof name, "arena.%u.purge", (unsigned)MALLCTL_ARENAS_ALL);
    je_mallctl(name, NULL, NULL, NULL, 0);
}

/* What jemalloc holds committed: stats.active (pages of extents with live blocks; a slab
 * counts whole while one block of it lives), stats.metadata (its own), and the dirty pages
 * of freed extents it keeps until they decay (stats.arenas.<all>.pdirty). That matches the
 * other backends' figures, which count free memory kept too. stats.resident is its own
 * resident count. "epoch" refreshes them; mallctl does not allocate. */
static bool je_heap_stats_(alloy__heap_stats *out) {
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    if (je_mallctl("epoch", &epoch, &len, &epoch, len) != 0) return false;
    char dirty_name[48];
    snprintf(dirty_name, sizeof dirty_name, "stats.arenas.%u.pdirty", (unsigned)MALLCTL_ARENAS_ALL);
    size_t active = 0, metadata = 0, resident = 0, dirty = 0, page = 0, n = sizeof active;
    if (je_mallctl("stats.active", &active, &n, NULL, 0) != 0 ||
        je_mallctl("stats.metadata", &metadata, &n, NULL, 0) != 0 ||
        je_mallctl("stats.resident", &resident, &n, NULL, 0) != 0 ||
        je_mallctl(dirty_name, &dirty, &n, NULL, 0) != 0 ||
        je_mallctl("arenas.page", &page, &n, NULL, 0) != 0)
        return false; /* a jemalloc built without --enable-stats */
    *out = (alloy__heap_stats){active + metadata + dirty * page, resident,
                               "stats.active+stats.metadata+pdirty"};
    return true;
}

bool alloy__jemalloc_load(alloy__backend *be, const char *path, char *err, size_t errlen) {
    const char *lib = path != NULL ? path : JEMALLOC_SONAME;
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (h == NULL) {
        const char *why = dlerror();
        snprintf(err, errlen, "%s%s", why,
                 strstr(why, "static TLS") ? "; run with "
                                             "GLIBC_TUNABLES=glibc.rtld.optional_static_tls=4096"
                                           : "");
        return false;
    }
    const alloy__sym syms[] = {
        {"malloc", &je_malloc},     {"calloc", &je_calloc},   {"realloc", &je_realloc},
        {"free", &je_free},         {"mallocx", &je_mallocx}, {"rallocx", &je_rallocx},
        {"sdallocx", &je_sdallocx}, {"sallocx", &je_sallocx}, {"nallocx", &je_nallocx},
        {"mallctl", &je_mallctl},
    };
    if (!alloy__resolve(h, lib, syms, sizeof syms / sizeof syms[0], err, errlen)) return false;
    const char *version = NULL;
    size_t len = sizeof version;
    if (je_mallctl("version", &version, &len, NULL, 0) != 0 || version == NULL) {
        snprintf(err, errlen, "jemalloc did not answer mallctl(\"version\")");
        return false;
    }
    *be = (alloy__backend){
        .name = "jemalloc",
        .malloc = je_malloc,
        .calloc = je_calloc,
        .realloc = je_realloc,
        .free = je_free,
        .free_sized = je_free_sized_,
        .malloc_aligned = je_malloc_aligned_,
        .realloc_aligned = je_realloc_aligned_,
        .free_aligned_sized = je_free_aligned_sized_,
        .usable_size = je_usable_,
        .collect = je_collect_,
        .version = version,
        .heap_stats = je_heap_stats_,
    };
    alloy__fill_classes(be, je_classes, je_good_size_);
    return true;
}
