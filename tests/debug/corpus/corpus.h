/* SPDX-License-Identifier: MIT */
/* tests/debug/corpus/corpus.h - one source, two builds.
 *
 * CORPUS_LINKED: the program calls the routed API (alloy_malloc, ...) and is
 * linked against liballoy; it runs with ALLOY_DEBUG=1. Otherwise it is a plain
 * C program using malloc/free, run unmodified with liballoy-override.so in
 * LD_PRELOAD and ALLOY_DEBUG=1. FIXED selects the fixed twin of each bug.
 */
#ifndef CORPUS_H
#define CORPUS_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

#ifdef CORPUS_LINKED
#include <alloy.h>
#define MALLOC(n) alloy_malloc(n)
#define CALLOC(c, n) alloy_calloc((c), (n))
#define FREE(p) alloy_free(p)
#define FREE_SIZED(p, n) alloy_free_sized((p), (n))
#else
#define MALLOC(n) malloc(n)
#define CALLOC(c, n) calloc((c), (n))
#define FREE(p) free(p)
/* C23's free_sized if the process has it (liballoy-override.so may export it), else the routed
 * API's, which liballoy-override.so exports. */
static inline void corpus_free_sized(void *p, size_t n) {
    void (*fn)(void *, size_t);
    void *sym = dlsym(RTLD_DEFAULT, "free_sized");
    if (sym == NULL) sym = dlsym(RTLD_DEFAULT, "alloy_free_sized");
    if (sym == NULL) {
        free(p);
        return;
    }
    *(void **)&fn = sym;
    fn(p, n);
}
#define FREE_SIZED(p, n) corpus_free_sized((p), (n))
#endif

/* Keep a pointer's value out of the optimizer's reach. */
#define OPAQUE(p) __asm__ volatile("" : "+r"(p))

#endif
