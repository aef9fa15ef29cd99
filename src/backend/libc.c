/* SPDX-License-Identifier: MIT */
/* libc backend: glibc's malloc family, whatever else the process links.
 *
 * The entry points are glibc's own, looked up in libc.so.6's handle: in a
 * process that also links jemalloc, tcmalloc or mimalloc (which export malloc
 * too), or that preloads liballoy-override, the plain names belong to someone
 * else, and a glibc block given to another allocator's malloc_usable_size or
 * free kills the process. Valgrind replaces these functions inside libc
 * itself, so it still sees every block. Only sanitizer builds call the plain
 * names: there they are the sanitizer's, which is the point of the build.
 */
#define _GNU_SOURCE
#include "../internal.h"

#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if ALLOY_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND                                                                        \
    0 /* without the header, valgrind runs just skip this shortcut's check */
#endif

#if defined(ALLOY__ASAN) || defined(ALLOY__TSAN)
#define LIBC_PLAIN_NAMES 1
#endif

static void *(*libc_malloc)(size_t);
static void *(*libc_calloc)(size_t, size_t);
static void *(*libc_realloc)(void *, size_t);
static void (*libc_free)(void *);
static void *(*libc_memalign)(size_t, size_t);
static size_t (*libc_usable_size)(void *);
static int (*libc_trim)(size_t);

/* mallinfo2: arena is what the arenas took from the system (sbrk and mmapped heaps), hblkhd
 * the blocks mmapped one by one; free chunks inside the arenas stay in arena. glibc does not
 * count resident pages. Not in sanitizer builds, whose heap is not glibc's. */
static struct mallinfo2 (*libc_mallinfo2)(void);

static bool libc_heap_stats(alloy__heap_stats *out) {
    struct mallinfo2 mi = libc_mallinfo2();
    *out = (alloy__heap_stats){mi.arena + mi.hblkhd, 0, "mallinfo2.arena+hblkhd"};
    return true;
}

static void libc_free_sized(void *p, size_t size) {
    (void)size;
    libc_free(p);
}

static void *libc_malloc_aligned(size_t size, size_t align) {
    return libc_memalign(align, size);
}

static void libc_free_aligned_sized(void *p, size_t size, size_t align) {
    (void)size;
    (void)align;
    libc_free(p);
}

static size_t libc_usable(const void *p) {
    return libc_usable_size((void *)p);
}

static alloy__backend libc_table;

static void *libc_realloc_aligned(void *p, size_t size, size_t align) {
    return alloy__realloc_aligned_by_copy(&libc_table, p, size, align);
}

static void libc_collect(bool force) {
    (void)force;
    libc_trim(0);
}

/* Is fn defined by glibc itself (not by ASan, TSan, heaptrack or another
 * malloc interposed in front of it)? */
static bool defined_by_glibc(void *(*fn)(size_t)) {
    Dl_info info;
    void *addr;
    memcpy(&addr, &fn, sizeof addr);
    if (dladdr(addr, &info) == 0 || info.dli_fname == NULL) return false;
    const char *base = strrchr(info.dli_fname, '/');
    return strncmp(base ? base + 1 : info.dli_fname, "libc.so", 7) == 0;
}

/* Can the usable size be read from glibc's chunk header? Only when the blocks
 * really are glibc's (reading in front of another allocator's block may fault)
 * and every probe agrees with malloc_usable_size. Valgrind replaces glibc's
 * functions in place, so it is asked directly. */
static bool chunk_headers_readable(const alloy__backend *be) {
    if (RUNNING_ON_VALGRIND || !defined_by_glibc(be->malloc)) return false;
    static const size_t sizes[] = {0, 1, 8, 24, 25, 100, 1000, 4096, 70000, 300000, 2u << 20};
    static const size_t aligns[] = {0, 64, 4096};
    alloy__backend probe = *be;
    probe.glibc_chunks = true;
    bool ok = true;
    for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++)
        for (size_t i = 0; ok && i < sizeof sizes / sizeof sizes[0]; i++) {
            void *p = aligns[a] ? be->malloc_aligned(sizes[i], aligns[a]) : be->malloc(sizes[i]);
            if (p == NULL) return false;
            ok = alloy__usable(&probe, p) == be->usable_size(p);
            be->free(p);
        }
    return ok;
}

bool alloy__libc_load(alloy__backend *be, const char *path, char *err, size_t errlen) {
    if (path != NULL) {
        /* glibc's malloc is the C library's own: a second libc cannot be loaded beside it. */
        snprintf(err, errlen, "the libc backend takes no library path");
        return false;
    }
#ifdef LIBC_PLAIN_NAMES
    libc_malloc = malloc;
    libc_calloc = calloc;
    libc_realloc = realloc;
    libc_free = free;
    libc_memalign = memalign;
    libc_usable_size = malloc_usable_size;
    libc_trim = malloc_trim;
#else
    void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (h == NULL) {
        snprintf(err, errlen, "libc.so.6 is not loaded: %s", dlerror());
        return false;
    }
    /* dlsym on glibc's own handle finds glibc's definitions first. */
    const alloy__sym syms[] = {
        {"malloc", &libc_malloc},     {"calloc", &libc_calloc},
        {"realloc", &libc_realloc},   {"free", &libc_free},
        {"memalign", &libc_memalign}, {"malloc_usable_size", &libc_usable_size},
        {"malloc_trim", &libc_trim},
    };
    bool ok = alloy__resolve(h, "libc.so.6", syms, sizeof syms / sizeof syms[0], err, errlen);
    void *mi2 = dlsym(h, "mallinfo2"); /* glibc 2.33 and later */
    memcpy(&libc_mallinfo2, &mi2, sizeof mi2);
    dlclose(h); /* RTLD_NOLOAD took a reference; libc stays */
    if (!ok) return false;
#endif
    libc_table = (alloy__backend){
        .name = "libc",
        .malloc = libc_malloc,
        .calloc = libc_calloc,
        .realloc = libc_realloc,
        .free = libc_free,
        .free_sized = libc_free_sized,
        .malloc_aligned = libc_malloc_aligned,
        .realloc_aligned = libc_realloc_aligned,
        .free_aligned_sized = libc_free_aligned_sized,
        .usable_size = libc_usable,
        .collect = libc_collect,
        .version = gnu_get_libc_version(),
        .heap_stats = libc_mallinfo2 != NULL ? libc_heap_stats : NULL,
    };
    libc_table.glibc_chunks = chunk_headers_readable(&libc_table);
    *be = libc_table;
    return true;
}
