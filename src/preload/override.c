/* SPDX-License-Identifier: MIT */
/* src/preload/override.c - malloc & co. of the whole process -> the routed API.
 *
 * Linked into liballoy-override.so (for LD_PRELOAD or linking) and into
 * liballoy itself when built with ALLOY_OVERRIDE=ON. glibc supports replacing
 * its malloc this way: its own internal allocations (stdio, dlopen, TLS) call
 * these symbols too. Blocks handed out while alloy initializes come from a
 * static buffer, so free/realloc/usable_size check for those first.
 *
 * The hot entry points reach the top table in one hop, as the routed API
 * does (src/heap.c): malloc is an indirect jump, free a range check and one.
 */
#define _GNU_SOURCE
#include "../internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define OVERRIDE __attribute__((visibility("default")))

OVERRIDE void *malloc(size_t size) {
#ifdef ALLOY__TSAN
    return alloy_malloc(size);
#else
    /* As alloy_malloc: such a request fails with ENOMEM before the backend
     * (mimalloc would return NULL without setting errno). */
    if (ALLOY_UNLIKELY(size > (size_t)PTRDIFF_MAX)) return alloy__fail(ENOMEM, ENOMEM);
    return ALLOY__TOP(malloc)(size);
#endif
}

OVERRIDE void *calloc(size_t count, size_t size) {
    return alloy_calloc(count, size);
}

/* Bootstrap blocks are never counted nor returned: the buffer is static. */
OVERRIDE void free(void *p) {
    if (ALLOY_UNLIKELY(alloy__boot_owns(p))) return;
#ifdef ALLOY__TSAN
    alloy_free(p);
#else
    ALLOY__TOP(free)(p);
#endif
}

/* C23's sized frees; size (and alignment) as allocated. */
OVERRIDE void free_sized(void *p, size_t size) {
    if (ALLOY_UNLIKELY(alloy__boot_owns(p))) {
        free(p);
        return;
    }
    alloy_free_sized(p, size);
}

OVERRIDE void free_aligned_sized(void *p, size_t align, size_t size) {
    if (ALLOY_UNLIKELY(alloy__boot_owns(p))) {
        free(p);
        return;
    }
    alloy_free_aligned_sized(p, align, size);
}

OVERRIDE void cfree(void *p) {
    free(p);
}

OVERRIDE void *realloc(void *p, size_t size) {
    if (ALLOY_UNLIKELY(p != NULL && alloy__boot_owns(p))) {
        void *q = alloy_malloc(size);
        if (q == NULL) return NULL;
        size_t old = alloy__boot_usable(p);
        memcpy(q, p, old < size ? old : size);
        free(p);
        return q;
    }
    return alloy_realloc(p, size);
}

OVERRIDE void *reallocarray(void *p, size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) return alloy__fail(ENOMEM, EOVERFLOW);
    return realloc(p, total);
}

OVERRIDE int posix_memalign(void **out, size_t align, size_t size) {
    return alloy_posix_memalign(out, align, size);
}

OVERRIDE void *aligned_alloc(size_t align, size_t size) {
    return alloy_malloc_aligned(size, align);
}

/* glibc's memalign rounds an alignment that is not a power of two up to one. */
OVERRIDE void *memalign(size_t align, size_t size) {
    if (align > ((size_t)1 << 63))
        return alloy__fail(EINVAL, EINVAL); /* no power of two that large */
    size_t pow2 =
        align <= 1 ? 1 : (size_t)1 << (64 - __builtin_clzll((unsigned long long)align - 1));
    return alloy_malloc_aligned(size, pow2);
}

static size_t page_size(void) {
    static size_t page;
    if (page == 0) page = (size_t)sysconf(_SC_PAGESIZE);
    return page;
}

OVERRIDE void *valloc(size_t size) {
    return alloy_malloc_aligned(size, page_size());
}

OVERRIDE void *pvalloc(size_t size) {
    size_t page = page_size();
    size_t rounded = (size + page - 1) & ~(page - 1);
    if (rounded < size) return alloy__fail(ENOMEM, ENOMEM);
    return alloy_malloc_aligned(rounded ? rounded : page, page);
}

OVERRIDE size_t malloc_usable_size(void *p) {
    if (ALLOY_UNLIKELY(p != NULL && alloy__boot_owns(p))) return alloy__boot_usable(p);
    return alloy_usable_size(p);
}

/* _exit and _Exit end the process without atexit handlers or destructors: a profile started by
 * ALLOY_PROFILE is written first (nothing else happens), then the process ends as glibc's would.
 * glibc's exit() reaches its own _exit directly, not through these. */
static _Noreturn void exit_now(int status) {
    alloy__pf_exit_write();
    for (;;) syscall(SYS_exit_group, status);
}

OVERRIDE void _exit(int status) {
    exit_now(status);
}

OVERRIDE void _Exit(int status) {
    exit_now(status);
}
