/* SPDX-License-Identifier: MIT */
/* src/preload/override_new.c - C++ operator new and delete -> the routed API.
 *
 * Every replaceable form of C++17 (plain, array, nothrow, sized, aligned) is
 * defined here under its Itanium-ABI name, in C, so that liballoy-override
 * needs no C++ runtime and a C program that preloads it loads none. A C++
 * program that links libstdc++ takes these definitions (the preload comes
 * first in symbol lookup) and skips libstdc++'s operator new -> malloc hop.
 *
 * What needs the C++ runtime is left to it: when an allocation fails,
 * operator new must call the new_handler and throw std::bad_alloc. Then (and
 * only then) the call is handed to the next definition in lookup order,
 * libstdc++'s, which retries through malloc (alloy again) and does both.
 */
#define _GNU_SOURCE
#include "../internal.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

/* The mangled names below spell size_t as unsigned long (the "m"). */
_Static_assert(sizeof(size_t) == sizeof(unsigned long), "LP64 mangling");

#define OVERRIDE __attribute__((visibility("default")))

/* C++'s std::align_val_t is an enum class over size_t; std::nothrow_t is an
 * empty struct passed by reference. Neither is looked at here. */
typedef size_t align_val;
typedef struct nothrow_tag nothrow_tag;

/* ---- the rare path: failure, handed to libstdc++ ---------------------------- */

typedef void *new_fn(size_t);
typedef void *new_aligned_fn(size_t, align_val);

static void *next_symbol(const char *name) {
    void *fn = dlsym(RTLD_NEXT, name);
    if (fn == NULL) abort(); /* operator new without a C++ runtime: cannot be */
    return fn;
}

ALLOY_COLD static void *fail_new(const char *name, size_t size) {
    new_fn *next;
    void *sym = next_symbol(name);
    memcpy(&next, &sym, sizeof next);
    return next(size);
}

ALLOY_COLD static void *fail_new_aligned(const char *name, size_t size, align_val align) {
    new_aligned_fn *next;
    void *sym = next_symbol(name);
    memcpy(&next, &sym, sizeof next);
    return next(size, align);
}

/* nothrow forms: NULL after the handler loop, which libstdc++'s nothrow
 * operator runs (it calls the throwing form and catches). */
typedef void *new_nothrow_fn(size_t, const nothrow_tag *);
typedef void *new_aligned_nothrow_fn(size_t, align_val, const nothrow_tag *);

ALLOY_COLD static void *fail_new_nothrow(const char *name, size_t size, const nothrow_tag *t) {
    new_nothrow_fn *next;
    void *sym = dlsym(RTLD_NEXT, name);
    if (sym == NULL) return NULL;
    memcpy(&next, &sym, sizeof next);
    return next(size, t);
}

ALLOY_COLD static void *fail_new_aligned_nothrow(const char *name, size_t size, align_val align,
                                                 const nothrow_tag *t) {
    new_aligned_nothrow_fn *next;
    void *sym = dlsym(RTLD_NEXT, name);
    if (sym == NULL) return NULL;
    memcpy(&next, &sym, sizeof next);
    return next(size, align, t);
}

/* C++ gives operator new(0) a unique pointer, as alloy_malloc(0) does. An
 * aligned new below the fundamental alignment is still a valid request. */
static inline void *aligned(size_t size, align_val align) {
    return alloy_malloc_aligned(size, align < sizeof(void *) ? sizeof(void *) : align);
}

/* ---- new ------------------------------------------------------------------- */

OVERRIDE void *_Znwm(size_t size) {
    void *p = alloy_malloc(size);
    return ALLOY_LIKELY(p != NULL) ? p : fail_new("_Znwm", size);
}

OVERRIDE void *_Znam(size_t size) {
    void *p = alloy_malloc(size);
    return ALLOY_LIKELY(p != NULL) ? p : fail_new("_Znam", size);
}

OVERRIDE void *_ZnwmRKSt9nothrow_t(size_t size, const nothrow_tag *t) {
    void *p = alloy_malloc(size);
    return ALLOY_LIKELY(p != NULL) ? p : fail_new_nothrow("_ZnwmRKSt9nothrow_t", size, t);
}

OVERRIDE void *_ZnamRKSt9nothrow_t(size_t size, const nothrow_tag *t) {
    void *p = alloy_malloc(size);
    return ALLOY_LIKELY(p != NULL) ? p : fail_new_nothrow("_ZnamRKSt9nothrow_t", size, t);
}

OVERRIDE void *_ZnwmSt11align_val_t(size_t size, align_val align) {
    void *p = aligned(size, align);
    return ALLOY_LIKELY(p != NULL) ? p : fail_new_aligned("_ZnwmSt11align_val_t", size, align);
}

OVERRIDE void *_ZnamSt11align_val_t(size_t size, align_val align) {
    void *p = aligned(size, align);
    return ALLOY_LIKELY(p != NULL) ? p : fail_new_aligned("_ZnamSt11align_val_t", size, align);
}

OVERRIDE void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, align_val align,
                                                  const nothrow_tag *t) {
    void *p = aligned(size, align);
    return ALLOY_LIKELY(p != NULL)
               ? p
               : fail_new_aligned_nothrow("_ZnwmSt11align_val_tRKSt9nothrow_t", size, align, t);
}

OVERRIDE void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, align_val align,
                                                  const nothrow_tag *t) {
    void *p = aligned(size, align);
    return ALLOY_LIKELY(p != NULL)
               ? p
               : fail_new_aligned_nothrow("_ZnamSt11align_val_tRKSt9nothrow_t", size, align, t);
}

/* ---- delete ----------------------------------------------------------------
 * Blocks always come from the routed heap (operator new above, or libstdc++'s
 * operator new through our malloc); bootstrap blocks never reach here, but the
 * range check is two instructions, so delete accepts them as free does. */

static inline void del(void *p) {
    free(p);
}

static inline void del_sized(void *p, size_t size) {
    if (ALLOY_UNLIKELY(alloy__boot_owns(p))) return;
    alloy_free_sized(p, size);
}

static inline void del_aligned(void *p, size_t size, align_val align) {
    if (ALLOY_UNLIKELY(alloy__boot_owns(p))) return;
    alloy_free_aligned_sized(p, align < sizeof(void *) ? sizeof(void *) : align, size);
}

OVERRIDE void _ZdlPv(void *p) {
    del(p);
}
OVERRIDE void _ZdaPv(void *p) {
    del(p);
}
OVERRIDE void _ZdlPvm(void *p, size_t size) {
    del_sized(p, size);
}
OVERRIDE void _ZdaPvm(void *p, size_t size) {
    del_sized(p, size);
}
OVERRIDE void _ZdlPvRKSt9nothrow_t(void *p, const nothrow_tag *t) {
    (void)t;
    del(p);
}
OVERRIDE void _ZdaPvRKSt9nothrow_t(void *p, const nothrow_tag *t) {
    (void)t;
    del(p);
}
/* Aligned deletes without a size: the usable size stands in (alloy's aligned
 * free does not need the exact request, only the block's alignment). */
OVERRIDE void _ZdlPvSt11align_val_t(void *p, align_val align) {
    if (p != NULL) del_aligned(p, alloy_usable_size(p), align);
}
OVERRIDE void _ZdaPvSt11align_val_t(void *p, align_val align) {
    if (p != NULL) del_aligned(p, alloy_usable_size(p), align);
}
OVERRIDE void _ZdlPvmSt11align_val_t(void *p, size_t size, align_val align) {
    del_aligned(p, size, align);
}
OVERRIDE void _ZdaPvmSt11align_val_t(void *p, size_t size, align_val align) {
    del_aligned(p, size, align);
}
OVERRIDE void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, align_val align, const nothrow_tag *t) {
    (void)t;
    if (p != NULL) del_aligned(p, alloy_usable_size(p), align);
}
OVERRIDE void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, align_val align, const nothrow_tag *t) {
    (void)t;
    if (p != NULL) del_aligned(p, alloy_usable_size(p), align);
}
