/* SPDX-License-Identifier: MIT */
/* alloy/fixed.h - bump allocator over a caller's buffer.
 *
 * Never touches memory outside the buffer and never calls another allocator:
 * when the buffer is full, allocation returns NULL. The latest block can be
 * freed or resized in place; other frees are no-ops until reset. Not
 * thread-safe. The buffer stays the caller's: deinit only forgets it.
 */
#ifndef ALLOY_FIXED_H
#define ALLOY_FIXED_H

#include <alloy/allocator.h>

ALLOY_EXTERN_C_BEGIN

/* Fields are private. */
typedef struct alloy_fixed {
    char *begin; /* start of the caller's buffer */
    char *cur;   /* next free byte */
    char *end;   /* one past the buffer */
} alloy_fixed;

/* Serve allocations from buf[0..len) (buf may be NULL when len is 0; not owned). */
ALLOY_API void alloy_fixed_init(alloy_fixed *f, void *buf, size_t len) ALLOY_NOEXCEPT;
/* Forget the buffer; every block becomes invalid. */
ALLOY_API void alloy_fixed_deinit(alloy_fixed *f) ALLOY_NOEXCEPT;
/* Invalidate every block and start again at the front of the buffer. */
ALLOY_API void alloy_fixed_reset(alloy_fixed *f) ALLOY_NOEXCEPT;

/* Allocate size > 0 bytes aligned to align (a power of two) from the buffer; NULL when it does not
 * fit.
 */
ALLOY_NODISCARD ALLOY_INLINE void *alloy_fixed_alloc(alloy_fixed *f, size_t size, size_t align) {
    size_t avail = (size_t)(f->end - f->cur);
    size_t pad = (size_t)(-(uintptr_t)f->cur & (align - 1));
    if (ALLOY_UNLIKELY(pad > avail || size > avail - pad)) return NULL;
    char *p = f->cur + pad;
    f->cur = p + size;
    return p;
}

/* Release p if it is the latest block, else no-op (p may be NULL). */
ALLOY_API void alloy_fixed_free(alloy_fixed *f, void *p, size_t size) ALLOY_NOEXCEPT;
/* Resize the latest block in place (any block may shrink); false if it does not fit. */
ALLOY_API bool alloy_fixed_resize(alloy_fixed *f, void *p, size_t size,
                                  size_t new_size) ALLOY_NOEXCEPT;
/* Bytes of the buffer in use (padding included). */
ALLOY_API size_t alloy_fixed_used(const alloy_fixed *f) ALLOY_NOEXCEPT;
/* The fixed buffer as an allocator value (f must outlive it); reset rewinds to the front. */
ALLOY_API alloy_allocator alloy_fixed_allocator(alloy_fixed *f) ALLOY_NOEXCEPT;

ALLOY_EXTERN_C_END

#endif /* ALLOY_FIXED_H */
