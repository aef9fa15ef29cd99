/* SPDX-License-Identifier: MIT */
/* alloy/heap.h - the routed allocation API.
 *
 * Every function here is served by one backend (mimalloc, libc, jemalloc or
 * tcmalloc), chosen at build time and overridable once at process start with
 * ALLOY_BACKEND=<name> in the environment. Plain malloc/free are never touched
 * unless the program links liballoy-override (see docs/api.md). With no layer
 * switched on (alloy/layer.h) a call costs what the backend's own call costs:
 * nothing is counted or checked beyond the contract below.
 *
 * Contract, as libc's:
 * - alloy_malloc(0) returns a unique pointer that alloy_free accepts.
 * - Failure returns NULL with errno = ENOMEM (too large, out of memory,
 *   count * size overflow) or EINVAL (alignment not a power of two); the
 *   handler set with alloy_set_error_handler is told first.
 * - alloy_free(NULL) does nothing. A pointer must be freed by the same process
 *   image of alloy that returned it, never by plain free().
 * - alloy_realloc(p, 0) returns a minimal block (possibly p itself), so NULL
 *   from realloc always means failure, with p left intact.
 */
#ifndef ALLOY_HEAP_H
#define ALLOY_HEAP_H

#include <alloy/common.h>

ALLOY_EXTERN_C_BEGIN

/* One declaration per line, attributes included, so the header reads as a list. */
/* clang-format off */

/* ---- allocation ---------------------------------------------------------- */

/* Allocate size bytes, aligned for any object type. */
ALLOY_API ALLOY_NODISCARD ALLOY_MALLOC_ATTR ALLOY_ALLOC_SIZE(1) void *alloy_malloc(size_t size) ALLOY_NOEXCEPT;
/* Allocate size zeroed bytes. */
ALLOY_API ALLOY_NODISCARD ALLOY_MALLOC_ATTR ALLOY_ALLOC_SIZE(1) void *alloy_zalloc(size_t size) ALLOY_NOEXCEPT;
/* Allocate size zeroed bytes aligned to align (a power of two). */
ALLOY_API ALLOY_NODISCARD ALLOY_MALLOC_ATTR ALLOY_ALLOC_SIZE(1) ALLOY_ALLOC_ALIGN(2) void *alloy_zalloc_aligned(size_t size, size_t align) ALLOY_NOEXCEPT;
/* Allocate count * size zeroed bytes; overflow is ENOMEM (handler sees EOVERFLOW). */
ALLOY_API ALLOY_NODISCARD ALLOY_MALLOC_ATTR ALLOY_ALLOC_SIZE2(1, 2) void *alloy_calloc(size_t count, size_t size) ALLOY_NOEXCEPT;
/* Resize p (NULL: allocate). On failure returns NULL and p is unchanged. */
ALLOY_API ALLOY_NODISCARD ALLOY_ALLOC_SIZE(2) void *alloy_realloc(void *p, size_t size) ALLOY_NOEXCEPT;
/* alloy_realloc(p, count * size); overflow is ENOMEM (handler sees EOVERFLOW), p unchanged. */
ALLOY_API ALLOY_NODISCARD ALLOY_ALLOC_SIZE2(2, 3) void *alloy_reallocarray(void *p, size_t count, size_t size) ALLOY_NOEXCEPT;
/* Resize a block from alloy_zalloc/calloc/rezalloc/recalloc (or NULL); bytes past the old usable size are zeroed. */
ALLOY_API ALLOY_NODISCARD ALLOY_ALLOC_SIZE(2) void *alloy_rezalloc(void *p, size_t size) ALLOY_NOEXCEPT;
/* alloy_rezalloc(p, count * size) with calloc's overflow check. */
ALLOY_API ALLOY_NODISCARD ALLOY_ALLOC_SIZE2(2, 3) void *alloy_recalloc(void *p, size_t count, size_t size) ALLOY_NOEXCEPT;
/* POSIX posix_memalign through alloy: 0 and *out set, or EINVAL (align not a power of two >= sizeof(void *), out NULL) or ENOMEM; errno untouched. */
ALLOY_API ALLOY_NODISCARD int alloy_posix_memalign(void **out, size_t align, size_t size) ALLOY_NOEXCEPT;
/* Allocate size bytes aligned to align (a power of two, 1 up to at least 1 MiB). */
ALLOY_API ALLOY_NODISCARD ALLOY_MALLOC_ATTR ALLOY_ALLOC_SIZE(1) ALLOY_ALLOC_ALIGN(2) void *alloy_malloc_aligned(size_t size, size_t align) ALLOY_NOEXCEPT;
/* Resize any alloy block (NULL allocates) to size, aligned to align. On failure p is unchanged. */
ALLOY_API ALLOY_NODISCARD ALLOY_ALLOC_SIZE(2) ALLOY_ALLOC_ALIGN(3) void *alloy_realloc_aligned(void *p, size_t size, size_t align) ALLOY_NOEXCEPT;
/* Copy a NUL-terminated string into a new block. */
ALLOY_API ALLOY_NODISCARD ALLOY_MALLOC_ATTR char *alloy_strdup(const char *s) ALLOY_NOEXCEPT;
/* Copy at most n bytes of s into a new NUL-terminated block. */
ALLOY_API ALLOY_NODISCARD ALLOY_MALLOC_ATTR char *alloy_strndup(const char *s, size_t n) ALLOY_NOEXCEPT;

/* ---- release ------------------------------------------------------------- */

/* Free p (NULL is a no-op). */
ALLOY_API void alloy_free(void *p) ALLOY_NOEXCEPT;
/* Free p whose requested size was size (from alloy_malloc/zalloc/calloc/realloc;
 * for calloc, count * size). Faster than alloy_free: no size lookup. */
ALLOY_API void alloy_free_sized(void *p, size_t size) ALLOY_NOEXCEPT;
/* Free p from alloy_malloc_aligned/realloc_aligned with its alignment and size (C23's free_aligned_sized order). */
ALLOY_API void alloy_free_aligned_sized(void *p, size_t align, size_t size) ALLOY_NOEXCEPT;

/* ---- queries and maintenance --------------------------------------------- */

/* Bytes usable at p (>= the size requested); 0 for NULL. As with glibc's
 * malloc_usable_size, this is for introspection: the allocation functions
 * carry alloc_size, so writing past the requested size draws -Warray-bounds
 * and aborts under -D_FORTIFY_SOURCE; realloc to the size you need instead. */
ALLOY_API size_t alloy_usable_size(const void *p) ALLOY_NOEXCEPT;
/* Return free memory to the OS where the backend can; force also flushes caches. */
ALLOY_API void alloy_collect(bool force) ALLOY_NOEXCEPT;
/* Name of the backend serving this process: "mimalloc", "libc", "jemalloc", "tcmalloc". */
ALLOY_API const char *alloy_backend_name(void) ALLOY_NOEXCEPT;
/* Version string of that backend, e.g. "2.0.9". */
ALLOY_API const char *alloy_backend_version(void) ALLOY_NOEXCEPT;
/* True if name is compiled in and its library can be loaded in this process. */
ALLOY_API bool alloy_backend_available(const char *name) ALLOY_NOEXCEPT;
/* Space-separated names of the backends compiled into this build. */
ALLOY_API const char *alloy_backend_list(void) ALLOY_NOEXCEPT;
/* alloy's version as "MAJOR.MINOR.PATCH" (the library's, which may differ from ALLOY_VERSION_STRING of the headers). */
ALLOY_API const char *alloy_version(void) ALLOY_NOEXCEPT;

/* ---- errors -------------------------------------------------------------- */

/* Called with ENOMEM, EINVAL or EOVERFLOW before a routed call returns NULL.
 * Installing one pushes a thin layer that tests each result; without one the
 * routed call returns the backend's NULL and errno (ENOMEM) directly. */
typedef void alloy_error_fn(int err, void *arg);
/* Install fn (NULL: none) with its argument; returns the previous handler. */
ALLOY_API alloy_error_fn *alloy_set_error_handler(alloy_error_fn *fn, void *arg) ALLOY_NOEXCEPT;

/* clang-format on */

ALLOY_EXTERN_C_END

#endif /* ALLOY_HEAP_H */
