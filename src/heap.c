/* src/heap.c - the routed API: checks once, calls the backend table, counts.
 *
 * Each function is one indirect call into the backend plus one predicted
 * branch for failure; everything else (errors, counters' slow path) is out of
 * line.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- errors -------------------------------------------------------------- */

static alloy_error_fn *error_fn;
static void *error_arg;

alloy_error_fn *alloy_set_error_handler(alloy_error_fn *fn, void *arg) {
    alloy_error_fn *old = __atomic_load_n(&error_fn, __ATOMIC_ACQUIRE);
    __atomic_store_n(&error_fn, NULL, __ATOMIC_RELEASE);
    __atomic_store_n(&error_arg, arg, __ATOMIC_RELEASE);
    __atomic_store_n(&error_fn, fn, __ATOMIC_RELEASE);
    return old;
}

ALLOY_COLD void *alloy__fail(int err, int handler_err) {
    alloy_error_fn *fn = __atomic_load_n(&error_fn, __ATOMIC_ACQUIRE);
    if (fn != NULL) fn(handler_err, __atomic_load_n(&error_arg, __ATOMIC_ACQUIRE));
    errno = err;
    return NULL;
}

static inline bool bad_align(size_t align) {
    return align == 0 || (align & (align - 1)) != 0;
}

/* ---- allocation ---------------------------------------------------------- */

void *alloy_malloc(size_t size) {
    void *p = alloy__be.malloc(size);
    if (ALLOY_UNLIKELY(p == NULL)) return alloy__fail(ENOMEM, ENOMEM);
    ALLOY__COUNT_ALLOC(alloy__alloc_bytes(&alloy__be, p, size));
    ALLOY__NEW_MEMORY(p);
    return p;
}

void *alloy_calloc(size_t count, size_t size) {
    size_t total;
    if (ALLOY_UNLIKELY(__builtin_mul_overflow(count, size, &total)))
        return alloy__fail(ENOMEM, EOVERFLOW);
    void *p = alloy__be.calloc(count, size);
    if (ALLOY_UNLIKELY(p == NULL)) return alloy__fail(ENOMEM, ENOMEM);
    ALLOY__COUNT_ALLOC(alloy__alloc_bytes(&alloy__be, p, total));
    ALLOY__NEW_MEMORY(p);
    return p;
}

void *alloy_zalloc(size_t size) {
    return alloy_calloc(1, size);
}

void *alloy_malloc_aligned(size_t size, size_t align) {
    if (ALLOY_UNLIKELY(bad_align(align))) return alloy__fail(EINVAL, EINVAL);
    void *p = alloy__be.malloc_aligned(size, align);
    if (ALLOY_UNLIKELY(p == NULL)) return alloy__fail(ENOMEM, ENOMEM);
    ALLOY__COUNT_ALLOC(alloy__usable(&alloy__be, p));
    ALLOY__NEW_MEMORY(p);
    return p;
}

#if ALLOY_STATS
/* alloy_free_sized counts a small block by its size class, so every live small
 * block must have exactly its class's usable size. malloc guarantees that; a
 * realloc that shrank a block in place (mimalloc keeps it when shrinking by less
 * than half) does not, so such a block moves to a fresh one of its class.
 * *usable gets the returned block's usable size, for the caller to count. */
void *alloy__keep_class(void *q, size_t size, size_t *usable) {
    *usable = alloy__usable(&alloy__be, q);
    if (alloy__be.classes == NULL || size > ALLOY__CLASS_MAX) return q;
    size_t want = alloy__be.classes[(size + 7) >> 3];
    if (*usable == want) return q;
    void *r = alloy__be.malloc(size);
    if (r == NULL) return q; /* keep the larger block; it is still a valid result */
    memcpy(r, q, size);
    alloy__be.free(q);
    *usable = want;
    return r;
}
#endif

void *alloy_realloc(void *p, size_t size) {
    if (p == NULL) return alloy_malloc(size);
#if ALLOY_STATS
    size_t old = alloy__usable(&alloy__be, p);
#endif
    ALLOY__FREEING(p);
    void *q = alloy__be.realloc(p, size + (size == 0));
    if (ALLOY_UNLIKELY(q == NULL)) return alloy__fail(ENOMEM, ENOMEM);
#if ALLOY_STATS
    size_t now;
    q = alloy__keep_class(q, size, &now);
#endif
    ALLOY__COUNT_FREE(old);
    ALLOY__COUNT_ALLOC(now);
    ALLOY__NEW_MEMORY(q);
    return q;
}

void *alloy_realloc_aligned(void *p, size_t size, size_t align) {
    if (ALLOY_UNLIKELY(bad_align(align))) return alloy__fail(EINVAL, EINVAL);
    if (p == NULL) return alloy_malloc_aligned(size, align);
#if ALLOY_STATS
    size_t old = alloy__usable(&alloy__be, p);
#endif
    ALLOY__FREEING(p);
    void *q = alloy__be.realloc_aligned(p, size + (size == 0), align);
    if (ALLOY_UNLIKELY(q == NULL)) return alloy__fail(ENOMEM, ENOMEM);
    ALLOY__COUNT_FREE(old);
    ALLOY__COUNT_ALLOC(alloy__usable(&alloy__be, q));
    ALLOY__NEW_MEMORY(q);
    return q;
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

void alloy_free(void *p) {
    if (ALLOY_UNLIKELY(p == NULL)) return;
    ALLOY__COUNT_FREE(alloy__usable(&alloy__be, p));
    ALLOY__FREEING(p);
    alloy__be.free(p);
}

void alloy_free_sized(void *p, size_t size) {
    if (ALLOY_UNLIKELY(p == NULL)) return;
    /* The requested size gives the same number the allocation counted. */
    ALLOY__COUNT_FREE(alloy__alloc_bytes(&alloy__be, p, size));
    ALLOY__FREEING(p);
    alloy__be.free_sized(p, size);
}

void alloy_free_aligned_sized(void *p, size_t size, size_t align) {
    if (ALLOY_UNLIKELY(p == NULL)) return;
    ALLOY__COUNT_FREE(alloy__usable(&alloy__be, p));
    ALLOY__FREEING(p);
    alloy__be.free_aligned_sized(p, size, align);
}

/* ---- queries ------------------------------------------------------------- */

size_t alloy_usable_size(const void *p) {
    return p == NULL ? 0 : alloy__be.usable_size(p);
}

void alloy_collect(bool force) {
    alloy__be.collect(force);
}

const char *alloy_backend_name(void) {
    alloy__init();
    return alloy__be.name;
}

const char *alloy_backend_version(void) {
    alloy__init();
    return alloy__be.version;
}

/* ---- shared helper for backends ------------------------------------------ */

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
