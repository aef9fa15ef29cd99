/* SPDX-License-Identifier: MIT */
/* src/heap.c - the routed API: check the arguments, call the top table.
 *
 * With no layer pushed each function is its argument check (if it has one)
 * and a tail call into the backend: the backend sets errno on failure, and
 * nothing is counted or watched. Counting, debugging, profiling and the error
 * handler are layers (src/layer/) that sit in the table when switched on.
 * Only the contract checks that no backend makes (a bad alignment, calloc's
 * overflow reported as EOVERFLOW) and the TSan annotations live here.
 */
#define _GNU_SOURCE
#include "internal.h"
#include "layer/layer.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static inline bool bad_align(size_t align) {
    return align == 0 || (align & (align - 1)) != 0;
}

/* No object may exceed PTRDIFF_MAX bytes (glibc refuses them too). Checked
 * here because mimalloc and jemalloc's mallocx return NULL for such requests
 * without setting errno; one compare, and the call stays a tail call. */
static inline bool too_big(size_t size) {
    return size > (size_t)PTRDIFF_MAX;
}

/* In TSan builds a block handed out is announced to TSan (src/internal.h):
 * not a tail call there, and no cost elsewhere. */
#ifdef ALLOY__TSAN
static inline void *announced(void *p) {
    if (p != NULL) ALLOY__NEW_MEMORY(p);
    return p;
}
#define NEW_BLOCK(call) announced(call)
#else
#define NEW_BLOCK(call) (call)
#endif

/* ---- allocation ---------------------------------------------------------- */

void *alloy_malloc(size_t size) {
    if (ALLOY_UNLIKELY(too_big(size))) return alloy__fail(ENOMEM, ENOMEM);
    return NEW_BLOCK(ALLOY__TOP(malloc)(size));
}

void *alloy_calloc(size_t count, size_t size) {
    size_t total;
    if (ALLOY_UNLIKELY(__builtin_mul_overflow(count, size, &total)))
        return alloy__fail(ENOMEM, EOVERFLOW);
    if (ALLOY_UNLIKELY(too_big(total))) return alloy__fail(ENOMEM, ENOMEM);
    return NEW_BLOCK(ALLOY__TOP(calloc)(count, size));
}

void *alloy_zalloc(size_t size) {
    return alloy_calloc(1, size);
}

void *alloy_malloc_aligned(size_t size, size_t align) {
    if (ALLOY_UNLIKELY(bad_align(align))) return alloy__fail(EINVAL, EINVAL);
    if (ALLOY_UNLIKELY(too_big(size))) return alloy__fail(ENOMEM, ENOMEM);
    return NEW_BLOCK(ALLOY__TOP(malloc_aligned)(size, align));
}

void *alloy_zalloc_aligned(size_t size, size_t align) {
    void *p = alloy_malloc_aligned(size, align);
    if (p != NULL) memset(p, 0, size);
    return p;
}

void *alloy_realloc(void *p, size_t size) {
    if (ALLOY_UNLIKELY(too_big(size))) return alloy__fail(ENOMEM, ENOMEM);
    ALLOY__FREEING(p);
    /* size 0 asks for a minimal block, so NULL always means failure. */
    return NEW_BLOCK(ALLOY__TOP(realloc)(p, size + (size == 0)));
}

void *alloy_reallocarray(void *p, size_t count, size_t size) {
    size_t total;
    if (ALLOY_UNLIKELY(__builtin_mul_overflow(count, size, &total)))
        return alloy__fail(ENOMEM, EOVERFLOW);
    return alloy_realloc(p, total);
}

void *alloy_realloc_aligned(void *p, size_t size, size_t align) {
    if (ALLOY_UNLIKELY(bad_align(align))) return alloy__fail(EINVAL, EINVAL);
    if (p == NULL) return alloy_malloc_aligned(size, align);
    if (ALLOY_UNLIKELY(too_big(size))) return alloy__fail(ENOMEM, ENOMEM);
    ALLOY__FREEING(p);
    return NEW_BLOCK(ALLOY__TOP(realloc_aligned)(p, size + (size == 0), align));
}

/* The bytes past the old usable size are zeroed; the old block's own tail
 * past its requested size is zero when it came from a zeroing call, since
 * every backend zeroes the whole usable block in calloc (tested). */
void *alloy_rezalloc(void *p, size_t size) {
    size_t old = p != NULL ? alloy_usable_size(p) : 0;
    void *q = alloy_realloc(p, size);
    if (q != NULL && size > old) memset((char *)q + old, 0, size - old);
    return q;
}

void *alloy_recalloc(void *p, size_t count, size_t size) {
    size_t total;
    if (ALLOY_UNLIKELY(__builtin_mul_overflow(count, size, &total)))
        return alloy__fail(ENOMEM, EOVERFLOW);
    return alloy_rezalloc(p, total);
}

int alloy_posix_memalign(void **out, size_t align, size_t size) {
    if (out == NULL || align < sizeof(void *) || bad_align(align)) return EINVAL;
    int saved = errno;
    void *p = alloy_malloc_aligned(size, align);
    int err = errno;
    errno = saved;
    if (p == NULL) return err != 0 ? err : ENOMEM;
    *out = p;
    return 0;
}

char *alloy_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = alloy_malloc(n);
    if (p != NULL) memcpy(p, s, n);
    return p;
}

char *alloy_strndup(const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *p = alloy_malloc(len + 1);
    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

/* ---- release ------------------------------------------------------------- */

/* Every table's free accepts NULL; the sized ones are spared it (jemalloc's
 * sdallocx does not). */
void alloy_free(void *p) {
    ALLOY__FREEING(p);
    ALLOY__TOP(free)(p);
}

void alloy_free_sized(void *p, size_t size) {
    if (ALLOY_UNLIKELY(p == NULL)) return;
    ALLOY__FREEING(p);
    ALLOY__TOP(free_sized)(p, size);
}

void alloy_free_aligned_sized(void *p, size_t align, size_t size) {
    if (ALLOY_UNLIKELY(p == NULL)) return;
    ALLOY__FREEING(p);
    ALLOY__TOP(free_aligned_sized)(p, size, align);
}

/* ---- queries ------------------------------------------------------------- */

size_t alloy_usable_size(const void *p) {
    return p == NULL ? 0 : ALLOY__TOP(usable_size)(p);
}

void alloy_collect(bool force) {
    ALLOY__TOP(collect)(force);
}

const char *alloy_version(void) {
    return ALLOY_VERSION_STRING;
}

/* ---- shared helpers for backends ----------------------------------------- */

void *alloy__realloc_aligned_by_copy(const alloy__backend *be, void *p, size_t size, size_t align) {
    size_t old = be->usable_size(p);
    if (size <= old && ((uintptr_t)p & (align - 1)) == 0) return p;
    void *q = be->malloc_aligned(size, align);
    if (q == NULL) return NULL;
    memcpy(q, p, old < size ? old : size);
    be->free(p);
    return q;
}

bool alloy__resolve(void *h, const char *lib, const alloy__sym *syms, size_t n, char *err,
                    size_t errlen) {
    for (size_t i = 0; i < n; i++) {
        void *fn = dlsym(h, syms[i].name);
        if (fn == NULL) {
            snprintf(err, errlen, "%s: symbol %s missing", lib, syms[i].name);
            return false;
        }
        /* POSIX guarantees a data pointer from dlsym converts to a function pointer. */
        memcpy(syms[i].slot, &fn, sizeof fn);
    }
    return true;
}

void alloy__fill_classes(alloy__backend *be, uint32_t *table, size_t (*good_size)(size_t)) {
    void *p = be->malloc(0);
    table[0] = p ? (uint32_t)be->usable_size(p) : 0;
    if (p) be->free(p);
    for (size_t g = 1; g < ALLOY__CLASS_SLOTS; g++) table[g] = (uint32_t)good_size(g * 8);
    be->classes = table;
    be->glibc_chunks = false;
}
