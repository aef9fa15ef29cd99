/* SPDX-License-Identifier: MIT */
/* validate_shim.c - a test backend for `alloy validate`: a shared object with mimalloc's entry
 * points (the ones alloy's mimalloc backend resolves) served by glibc's malloc, loaded as the
 * candidate `mimalloc:PATH`. It misbehaves on request, so that validate has a candidate that
 * crashes:
 *
 *   VALIDATE_SHIM_ABORT_AFTER=N   abort() on the Nth allocation (malloc, calloc, realloc,
 *                                 aligned) made through the shim
 *
 * glibc's functions are looked up in libc.so.6's handle: the plain names belong to alloy's
 * override library in a process that preloads it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

static void *(*c_malloc)(size_t);
static void *(*c_calloc)(size_t, size_t);
static void *(*c_realloc)(void *, size_t);
static void (*c_free)(void *);
static void *(*c_memalign)(size_t, size_t);
static size_t (*c_usable)(void *);
static long abort_after; /* 0: never */
static atomic_long calls;

/* Store dlsym's answer in a function pointer without an object-to-function cast (which ISO C
 * leaves undefined; POSIX guarantees the representation). */
static void resolve(void *h, const char *name, void *fn_slot) {
    void *p = dlsym(h, name);
    if (p == NULL) abort();
    memcpy(fn_slot, &p, sizeof p);
}

__attribute__((constructor)) static void shim_init(void) {
    void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (h == NULL) abort();
    resolve(h, "malloc", &c_malloc);
    resolve(h, "calloc", &c_calloc);
    resolve(h, "realloc", &c_realloc);
    resolve(h, "free", &c_free);
    resolve(h, "memalign", &c_memalign);
    resolve(h, "malloc_usable_size", &c_usable);
    const char *s = getenv("VALIDATE_SHIM_ABORT_AFTER");
    if (s != NULL) abort_after = strtol(s, NULL, 10);
}

static void count_call(void) {
    long n = atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed) + 1;
    if (abort_after > 0 && n >= abort_after) abort();
}

EXPORT void *mi_malloc(size_t n) {
    count_call();
    return c_malloc(n);
}

EXPORT void *mi_calloc(size_t k, size_t n) {
    count_call();
    return c_calloc(k, n);
}

EXPORT void *mi_realloc(void *p, size_t n) {
    count_call();
    return c_realloc(p, n);
}

EXPORT void mi_free(void *p) {
    c_free(p);
}

EXPORT void mi_free_size(void *p, size_t n) {
    (void)n;
    c_free(p);
}

EXPORT void mi_free_size_aligned(void *p, size_t n, size_t align) {
    (void)n;
    (void)align;
    c_free(p);
}

EXPORT void *mi_malloc_aligned_at(size_t n, size_t align, size_t offset) {
    count_call();
    if (offset != 0) return NULL; /* alloy asks for offset 0 only */
    return c_memalign(align, n);
}

EXPORT void *mi_realloc_aligned(void *p, size_t n, size_t align) {
    count_call();
    if (p == NULL) return c_memalign(align, n);
    size_t old = c_usable(p);
    void *q = c_memalign(align, n);
    if (q == NULL) return NULL;
    memcpy(q, p, old < n ? old : n);
    c_free(p);
    return q;
}

EXPORT size_t mi_usable_size(const void *p) {
    return p == NULL ? 0 : c_usable((void *)p);
}

EXPORT void mi_collect(bool force) {
    (void)force;
}

EXPORT int mi_version(void) {
    return 209; /* answers like the mimalloc it stands in for */
}

EXPORT size_t mi_good_size(size_t n) {
    return n < 16 ? 16 : (n + 15) & ~(size_t)15;
}
