/* SPDX-License-Identifier: MIT */
/* tcmalloc backend: gperftools' libtcmalloc_minimal.so.4, loaded with RTLD_LOCAL.
 *
 * Like libmimalloc, the library exports malloc itself; the local scope keeps
 * those names out of the process. alloy calls the tc_* entry points.
 */
#define _GNU_SOURCE
#include "../internal.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#define TCMALLOC_SONAME "libtcmalloc_minimal.so.4"

static void *(*tc_memalign_fn)(size_t align, size_t size);
static void (*tc_release_fn)(void);
static char tc_version_text[32];
/* The finished table: its malloc, free and usable_size are what the functions below call. */
static alloy__backend tc_table;
static size_t (*tc_nallocx_fn)(size_t size, int flags);
static uint32_t tc_classes[ALLOY__CLASS_SLOTS];

/* Largest size tcmalloc serves from a size class; tc_free_sized picks the
 * class from the size it is given up to this size. */
#define TC_MAX_CLASS_SIZE (256u * 1024u)
static void *(*tc_realloc_fn)(void *p, size_t size);

/* tc_realloc keeps a block when shrinking by less than half, so the block
 * stays in a larger class than its new size; tc_free_sized(p, new size) would
 * then file it under the wrong class and corrupt the heap. For class sizes,
 * keep the block only if its class is the new size's class; otherwise move it
 * (tcmalloc copies in that case too). On failure p is untouched. */
static void *tc_realloc_(void *p, size_t size) {
    if (size > TC_MAX_CLASS_SIZE) return tc_realloc_fn(p, size);
    size_t old = tc_table.usable_size(p);
    if (old == tc_nallocx_fn(size, 0)) return p;
    void *q = tc_table.malloc(size);
    if (q == NULL) return NULL;
    memcpy(q, p, old < size ? old : size);
    tc_table.free(p);
    return q;
}

static size_t tc_good_size(size_t size) {
    return tc_nallocx_fn(size, 0);
}

static void *tc_malloc_aligned(size_t size, size_t align) {
    return tc_memalign_fn(align, size);
}

static void tc_free_aligned_sized(void *p, size_t size, size_t align) {
    (void)size;
    (void)align;
    tc_table.free(p);
}

static void *tc_realloc_aligned(void *p, size_t size, size_t align) {
    return alloy__realloc_aligned_by_copy(&tc_table, p, size, align);
}

static void tc_collect(bool force) {
    (void)force;
    tc_release_fn();
}

static int (*tc_numeric_fn)(const char *property, size_t *value);

/* generic.heap_size: what the page heap holds from the system, including pages released
 * back to it (tcmalloc.pageheap_unmapped_bytes), which are taken off: what is left is what
 * tcmalloc holds committed. tcmalloc does not count resident pages. */
static bool tc_heap_stats_(alloy__heap_stats *out) {
    size_t heap = 0, unmapped = 0;
    if (!tc_numeric_fn("generic.heap_size", &heap) ||
        !tc_numeric_fn("tcmalloc.pageheap_unmapped_bytes", &unmapped) || unmapped > heap)
        return false;
    *out = (alloy__heap_stats){heap - unmapped, 0,
                               "generic.heap_size-tcmalloc.pageheap_unmapped_bytes"};
    return true;
}

bool alloy__tcmalloc_load(alloy__backend *be, const char *path, char *err, size_t errlen) {
    const char *lib = path != NULL ? path : TCMALLOC_SONAME;
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (h == NULL) {
        snprintf(err, errlen, "%s", dlerror());
        return false;
    }
    const char *(*version)(int *, int *, const char **) = NULL;
    const alloy__sym syms[] = {
        {"tc_malloc", &be->malloc},         {"tc_calloc", &be->calloc},
        {"tc_realloc", &tc_realloc_fn},     {"tc_free", &be->free},
        {"tc_free_sized", &be->free_sized}, {"tc_malloc_size", &be->usable_size},
        {"tc_memalign", &tc_memalign_fn},   {"MallocExtension_ReleaseFreeMemory", &tc_release_fn},
        {"tc_version", &version},           {"tc_nallocx", &tc_nallocx_fn},
    };
    if (!alloy__resolve(h, lib, syms, sizeof syms / sizeof syms[0], err, errlen)) return false;
    int major = 0, minor = 0;
    const char *patch = "";
    version(&major, &minor, &patch);
    snprintf(tc_version_text, sizeof tc_version_text, "%d.%d%s", major, minor, patch ? patch : "");
    be->name = "tcmalloc";
    be->realloc = tc_realloc_;
    be->malloc_aligned = tc_malloc_aligned;
    be->realloc_aligned = tc_realloc_aligned;
    be->free_aligned_sized = tc_free_aligned_sized;
    be->collect = tc_collect;
    be->version = tc_version_text;
    void *numeric = dlsym(h, "MallocExtension_GetNumericProperty"); /* optional */
    memcpy(&tc_numeric_fn, &numeric, sizeof numeric);
    be->heap_stats = numeric != NULL ? tc_heap_stats_ : NULL;
    alloy__fill_classes(be, tc_classes, tc_good_size);
    tc_table = *be;
    return true;
}
