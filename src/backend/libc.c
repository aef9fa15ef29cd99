/* libc backend: glibc's malloc family.
 *
 * In an override build plain malloc is alloy itself, so this backend calls
 * glibc's own entry points (__libc_malloc, ...) instead; otherwise it calls the
 * plain names so that tools interposing malloc (ASan, valgrind, heaptrack)
 * still see every block.
 */
#define _GNU_SOURCE
#include "../internal.h"

#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#if ALLOY_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND                                                                        \
    0 /* without the header, valgrind runs just skip this shortcut's check */
#endif

#ifdef ALLOY_BUILDING_OVERRIDE
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
#define LIBC_MALLOC __libc_malloc
#define LIBC_CALLOC __libc_calloc
#define LIBC_REALLOC __libc_realloc
#define LIBC_FREE __libc_free
#define LIBC_MEMALIGN __libc_memalign
static size_t (*libc_usable_size)(void *);
#else
#define LIBC_MALLOC malloc
#define LIBC_CALLOC calloc
#define LIBC_REALLOC realloc
#define LIBC_FREE free
#define LIBC_MEMALIGN memalign
#define libc_usable_size malloc_usable_size
#endif

static void libc_free_sized(void *p, size_t size) {
    (void)size;
    LIBC_FREE(p);
}

static void *libc_malloc_aligned(size_t size, size_t align) {
    return LIBC_MEMALIGN(align, size);
}

static void libc_free_aligned_sized(void *p, size_t size, size_t align) {
    (void)size;
    (void)align;
    LIBC_FREE(p);
}

static size_t libc_usable(const void *p) {
    return libc_usable_size((void *)p);
}

static void *libc_realloc_aligned(void *p, size_t size, size_t align);

static void libc_collect(bool force) {
    (void)force;
    malloc_trim(0);
}

static const alloy__backend libc_table = {
    .name = "libc",
    .malloc = LIBC_MALLOC,
    .calloc = LIBC_CALLOC,
    .realloc = LIBC_REALLOC,
    .free = LIBC_FREE,
    .free_sized = libc_free_sized,
    .malloc_aligned = libc_malloc_aligned,
    .realloc_aligned = libc_realloc_aligned,
    .free_aligned_sized = libc_free_aligned_sized,
    .usable_size = libc_usable,
    .collect = libc_collect,
    .version = NULL,
};

static void *libc_realloc_aligned(void *p, size_t size, size_t align) {
    return alloy__realloc_aligned_by_copy(&libc_table, p, size, align);
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

bool alloy__libc_load(alloy__backend *be, char *err, size_t errlen) {
#ifdef ALLOY_BUILDING_OVERRIDE
    /* Our own malloc_usable_size shadows glibc's; find the next definition. */
    const alloy__sym syms[] = {{"malloc_usable_size", &libc_usable_size}};
    if (!alloy__resolve(RTLD_NEXT, "libc", syms, 1, err, errlen)) return false;
#else
    (void)err;
    (void)errlen;
#endif
    *be = libc_table;
    be->version = gnu_get_libc_version();
    be->glibc_chunks = chunk_headers_readable(be);
    return true;
}
