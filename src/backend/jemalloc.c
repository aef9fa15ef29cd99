/* jemalloc backend: Debian's libjemalloc.so.2 through its *allocx family.
 *
 * jemalloc needs ~2.6 KiB of static TLS, so it cannot be dlopen'd into a
 * running process; liballoy links it (DT_NEEDED) instead. The link lists libc
 * first, so plain malloc still resolves to glibc; alloy only calls mallocx,
 * rallocx, dallocx, sdallocx and sallocx, names libc does not have.
 * mallocx(0) is undefined in jemalloc, so size 0 becomes 1 on both sides.
 */
#include "../internal.h"

#include <jemalloc/jemalloc.h>
#include <stdio.h>

#define ZERO_TO_ONE(n) ((n) + ((n) == 0))

static void *je_malloc_(size_t size) {
    return mallocx(ZERO_TO_ONE(size), 0);
}

static void *je_calloc_(size_t count, size_t size) {
    return mallocx(ZERO_TO_ONE(count * size), MALLOCX_ZERO); /* caller checked overflow */
}

static void *je_realloc_(void *p, size_t size) {
    return rallocx(p, ZERO_TO_ONE(size), 0);
}

static void je_free_(void *p) {
    dallocx(p, 0);
}

static void je_free_sized_(void *p, size_t size) {
    sdallocx(p, ZERO_TO_ONE(size), 0);
}

static void *je_malloc_aligned_(size_t size, size_t align) {
    return mallocx(ZERO_TO_ONE(size), MALLOCX_ALIGN(align));
}

static void *je_realloc_aligned_(void *p, size_t size, size_t align) {
    return rallocx(p, ZERO_TO_ONE(size), MALLOCX_ALIGN(align));
}

static void je_free_aligned_sized_(void *p, size_t size, size_t align) {
    sdallocx(p, ZERO_TO_ONE(size), MALLOCX_ALIGN(align));
}

static size_t je_usable_(const void *p) {
    return sallocx(p, 0);
}

static size_t je_good_size_(size_t size) {
    return nallocx(ZERO_TO_ONE(size), 0);
}

static uint32_t je_classes[ALLOY__CLASS_SLOTS];

static void je_collect_(bool force) {
    if (force) mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    char name[64];
    snprintf(name, sizeof name, "arena.%u.purge", (unsigned)MALLCTL_ARENAS_ALL);
    mallctl(name, NULL, NULL, NULL, 0);
}

bool alloy__jemalloc_load(alloy__backend *be, char *err, size_t errlen) {
    const char *version = NULL;
    size_t len = sizeof version;
    if (mallctl("version", &version, &len, NULL, 0) != 0 || version == NULL) {
        snprintf(err, errlen, "jemalloc did not answer mallctl(\"version\")");
        return false;
    }
    *be = (alloy__backend){
        .name = "jemalloc",
        .malloc = je_malloc_,
        .calloc = je_calloc_,
        .realloc = je_realloc_,
        .free = je_free_,
        .free_sized = je_free_sized_,
        .malloc_aligned = je_malloc_aligned_,
        .realloc_aligned = je_realloc_aligned_,
        .free_aligned_sized = je_free_aligned_sized_,
        .usable_size = je_usable_,
        .collect = je_collect_,
        .version = version,
    };
    alloy__fill_classes(be, je_classes, je_good_size_);
    be->classes = je_classes;
    return true;
}
