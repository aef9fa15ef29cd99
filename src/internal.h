/* SPDX-License-Identifier: MIT */
/* src/internal.h - private to liballoy: backend tables, counters, init.
 *
 * Every symbol declared here is hidden; nothing outside liballoy sees it.
 */
#ifndef ALLOY_INTERNAL_H
#define ALLOY_INTERNAL_H

#include <alloy.h>

#define ALLOY_HIDDEN __attribute__((visibility("hidden")))
#define ALLOY_TLS __thread __attribute__((tls_model("initial-exec")))
#define ALLOY_COLD __attribute__((cold, noinline))
#define ALLOY_CACHE_LINE 64

/* ---- backends -------------------------------------------------------------
 * One table per backend. Every slot is filled (no NULL checks on the hot
 * path); callers guarantee: p != NULL for free/usable/realloc, size may be 0,
 * align is any power of two for the aligned slots. Slots may point straight
 * into the backend library.
 */
/* The backend's own view of its heap (alloy__heap_stats below). */
typedef struct alloy__heap_stats {
    uint64_t heap_bytes;     /* memory it holds for blocks: committed, or active + metadata */
    uint64_t resident_bytes; /* of it resident in RAM, by its own count; 0: it does not say */
    const char *source;      /* the backend's figure behind heap_bytes, e.g. "stats.active+..." */
} alloy__heap_stats;

typedef struct alloy__backend {
    const char *name;
    void *(*malloc)(size_t size);
    void *(*calloc)(size_t count, size_t size);
    void *(*realloc)(void *p, size_t size);
    void (*free)(void *p);
    void (*free_sized)(void *p, size_t size);
    void *(*malloc_aligned)(size_t size, size_t align);
    void *(*realloc_aligned)(void *p, size_t size, size_t align);
    void (*free_aligned_sized)(void *p, size_t size, size_t align);
    size_t (*usable_size)(const void *p);
    void (*collect)(bool force);
    const char *version;
    /* Fast, exact usable sizes for the counters (see alloy__alloc_bytes):
     * classes[(n + 7) / 8] is the usable size of malloc(n) for n <= ALLOY__CLASS_MAX
     * (NULL: not a function of n); glibc_chunks: the size can be read from
     * glibc's chunk header (verified against malloc_usable_size at load). */
    const uint32_t *classes;
    bool glibc_chunks;
    /* The backend's heap figures (NULL: it has none; false: not now). Not a hot-path slot:
     * layers need not carry it, alloy__backend_heap_stats() asks the chosen backend. It may take
     * the backend's locks, so never from a signal handler. */
    bool (*heap_stats)(alloy__heap_stats *out);
} alloy__backend;

#define ALLOY__CLASS_MAX 4096u
#define ALLOY__CLASS_SLOTS (ALLOY__CLASS_MAX / 8 + 1)

/* Fill table (ALLOY__CLASS_SLOTS entries) from the backend's own "usable size
 * of a request" function (entry 0 is probed with malloc(0)) and make it be's
 * size-class table. */
ALLOY_HIDDEN void alloy__fill_classes(alloy__backend *be, uint32_t *table,
                                      size_t (*good_size)(size_t));

/* Fill *be for the named backend, from the library file path (ALLOY_BACKEND=NAME:PATH) or,
 * when path is NULL, from the backend's soname; false with a reason in err if it can't load
 * (a library missing one of the backend's entry points is refused). Called at most once per
 * process with a path, before any other load of that backend. */
typedef bool alloy__backend_load_fn(alloy__backend *be, const char *path, char *err, size_t errlen);

ALLOY_HIDDEN bool alloy__libc_load(alloy__backend *be, const char *path, char *err, size_t errlen);
#if ALLOY_HAVE_MIMALLOC
ALLOY_HIDDEN bool alloy__mimalloc_load(alloy__backend *be, const char *path, char *err,
                                       size_t errlen);
#endif
#if ALLOY_HAVE_JEMALLOC
ALLOY_HIDDEN bool alloy__jemalloc_load(alloy__backend *be, const char *path, char *err,
                                       size_t errlen);
#endif
#if ALLOY_HAVE_TCMALLOC
ALLOY_HIDDEN bool alloy__tcmalloc_load(alloy__backend *be, const char *path, char *err,
                                       size_t errlen);
#endif

/* Resolve each name in syms from the dlopen handle h into its slot (a function
 * pointer of any type); false with a reason in err if one is missing. */
typedef struct alloy__sym {
    const char *name;
    void *slot; /* address of a function pointer */
} alloy__sym;
ALLOY_HIDDEN bool alloy__resolve(void *h, const char *lib, const alloy__sym *syms, size_t n,
                                 char *err, size_t errlen);

/* Shared by backends without an aligned realloc: allocate, copy, free. */
ALLOY_HIDDEN void *alloy__realloc_aligned_by_copy(const alloy__backend *be, void *p, size_t size,
                                                  size_t align);

/* The table serving the routed API: the top of the layer stack
 * (src/layer/layer.h). Starts as a bootstrap table that initializes on first
 * use, then holds a copy of the chosen backend's table or of the top layer's.
 * Slots are replaced while other threads call them (a layer pushed at run
 * time), so read them with ALLOY__TOP: an acquire load, which pairs with the
 * release that published the layer (its saved table below is visible to the
 * call), a plain load on x86, and what TSan needs to see. */
ALLOY_HIDDEN extern alloy__backend alloy__be;
#define ALLOY__TOP(slot) __atomic_load_n(&alloy__be.slot, __ATOMIC_ACQUIRE)

/* > 0 while this thread's allocations must come from the bootstrap buffer
 * (initialization, or a layer attaching before the first allocation). */
ALLOY_HIDDEN extern ALLOY_TLS int alloy__boot_serving;

/* Load (once) and return the named backend, or NULL if it is not available.
 * The result lives for the life of the process. */
ALLOY_HIDDEN const alloy__backend *alloy__backend_get(const char *name);

/* The chosen backend's heap figures (its heap_stats slot); false when it has none. */
ALLOY_HIDDEN bool alloy__backend_heap_stats(alloy__heap_stats *out);

/* alloy's own per-thread metadata (temp allocator state, shared-pool caches):
 * straight from the chosen backend, below every layer, so that no counter,
 * debug report or profile shows it. */
ALLOY_HIDDEN void *alloy__meta_malloc(size_t size);
ALLOY_HIDDEN void alloy__meta_free(void *p);

/* Run process-wide initialization if it has not run; safe to call often. */
ALLOY_HIDDEN void alloy__init(void);

/* Override builds: blocks handed out while initialization itself allocates. */
#define ALLOY__BOOT_SIZE (256u * 1024u)
ALLOY_HIDDEN extern unsigned char alloy__boot_buf[ALLOY__BOOT_SIZE];
/* Inline: the override library's free asks this on every call. */
static inline bool alloy__boot_owns(const void *p) {
    return (uintptr_t)p - (uintptr_t)alloy__boot_buf < (uintptr_t)ALLOY__BOOT_SIZE;
}
ALLOY_HIDDEN size_t alloy__boot_usable(const void *p);
/* Override builds' _exit and _Exit: write the profile ALLOY_PROFILE streams, if one is being
 * written by this process (src/profile/stream.c). Async-signal-safe; nothing in a vfork child. */
ALLOY_HIDDEN void alloy__pf_exit_write(void);

/* Report err to the installed handler and errno; returns NULL for tail calls. */
ALLOY_HIDDEN void *alloy__fail(int err, int handler_err);

/* Write one line "alloy: <msg>\n" to stderr without allocating. */
ALLOY_HIDDEN void alloy__warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Usable size of a live block p, as the counters count it. The header read is
 * exempt from ASan: the start-up probe reads it to find out whether it is a
 * glibc header at all (under ASan it is a redzone, so the probe says no). */
__attribute__((no_sanitize("address"))) static inline size_t alloy__usable(const alloy__backend *be,
                                                                           const void *p) {
    if (be->glibc_chunks) {
        /* glibc: the word before the block holds the chunk size | flags
         * (bit 1: mmapped, which has a 16-byte instead of 8-byte overhead). */
        size_t h = ((const size_t *)p)[-1];
        return (h & ~(size_t)7) - ((h & 2) ? 16 : 8);
    }
    return be->usable_size(p);
}

/* Usable size of p just returned for a request of n bytes. */
static inline size_t alloy__alloc_bytes(const alloy__backend *be, const void *p, size_t n) {
    if (be->classes != NULL && n <= ALLOY__CLASS_MAX) return be->classes[(n + 7) >> 3];
    return alloy__usable(be, p);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes looked at), or 0 if
 * s does not start one: overlong forms, surrogates and code points past
 * U+10FFFF are invalid (RFC 3629). For the JSON writers, which escape an
 * invalid byte as \u00XX instead of copying it. */
static inline size_t alloy__utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n) return 0;
    unsigned cp = c & (0xffu >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

/* Pools: a block holds at least a free-list link and is aligned for it; the
 * block size is rounded up to the alignment so consecutive blocks stay aligned. */
static inline void alloy__pool_geometry(size_t *block_size, size_t *align) {
    if (*align < _Alignof(alloy__pool_node)) *align = _Alignof(alloy__pool_node);
    if (*block_size < sizeof(alloy__pool_node)) *block_size = sizeof(alloy__pool_node);
    *block_size = (*block_size + *align - 1) & ~(*align - 1);
}

/* ---- ThreadSanitizer ------------------------------------------------------
 * The backends are not instrumented, so TSan cannot see that a block freed on
 * one thread and handed out again on another was synchronized by the backend.
 * In TSan builds alloy says so itself: a release on the block's address when it
 * is freed, an acquire when an allocation returns that address. In other builds
 * this is nothing.
 */
#if defined(__SANITIZE_THREAD__)
#define ALLOY__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ALLOY__TSAN 1
#endif
#endif
#ifdef ALLOY__TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define ALLOY__NEW_MEMORY(p) __tsan_acquire(p)
#define ALLOY__FREEING(p) __tsan_release(p)
#else
#define ALLOY__NEW_MEMORY(p) ((void)0)
#define ALLOY__FREEING(p) ((void)0)
#endif

/* ---- AddressSanitizer ----------------------------------------------------
 * Memory alloy keeps for reuse instead of freeing (the SMR node cache) is
 * poisoned while it waits, so a use after free still faults under ASan.
 */
#if defined(__SANITIZE_ADDRESS__)
#define ALLOY__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALLOY__ASAN 1
#endif
#endif
#ifdef ALLOY__ASAN
void __asan_poison_memory_region(void const volatile *addr, size_t size);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#define ALLOY__POISON(p, n) __asan_poison_memory_region((p), (n))
#define ALLOY__UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define ALLOY__POISON(p, n) ((void)0)
#define ALLOY__UNPOISON(p, n) ((void)0)
#endif

#endif /* ALLOY_INTERNAL_H */
