/* SPDX-License-Identifier: MIT */
/* alloy/arena.h - bump allocator over chunks from a parent allocator.
 *
 * Allocation moves a pointer through the current chunk; when it does not fit,
 * the arena takes a retained chunk or a new one from the parent, each new one
 * larger than the last (geometric growth up to max_chunk). Blocks larger than
 * large_threshold go straight to the parent and are released with the arena.
 * Freeing or resizing the most recent block works in place; any other free is
 * a no-op and the memory comes back on reset, restore or deinit.
 *
 * Not thread-safe. Chunk offsets advance in 8-byte steps, so consecutive small
 * blocks are 8-byte aligned for free; larger alignments pad.
 */
#ifndef ALLOY_ARENA_H
#define ALLOY_ARENA_H

#include <alloy/allocator.h>

ALLOY_EXTERN_C_BEGIN

/* reset(keep): release every chunk (and restart growth from the first size). */
#define ALLOY_ARENA_FREE_ALL ((size_t)0)
/* reset(keep): retain every chunk for reuse. Any other value retains chunks up to that many bytes.
 */
#define ALLOY_ARENA_RETAIN SIZE_MAX

typedef struct alloy__arena_chunk alloy__arena_chunk;
typedef struct alloy__arena_large alloy__arena_large;

/* Fields are private: read them through the functions below. */
typedef struct alloy_arena {
    alloy__bump_head h;        /* cur, end, large_threshold: read by the inline paths */
    alloy__arena_chunk *chunk; /* current chunk; older ones hang off it */
    alloy__arena_chunk *spare; /* chunks retained by reset/restore */
    alloy__arena_large *large; /* blocks taken from the parent, newest first */
    alloy_allocator parent;
    size_t first_chunk, next_chunk, max_chunk;
    size_t committed, retired_used, retired_waste, large_bytes, large_count;
    uint64_t large_seq;
} alloy_arena;

typedef struct alloy_arena_options {
    size_t chunk_size;      /* first chunk in bytes; 0: 4 KiB */
    size_t max_chunk_size;  /* growth stops here; 0: 64 MiB */
    size_t large_threshold; /* bigger blocks go to the parent; 0: chunk_size / 4; at least 256 */
} alloy_arena_options;

typedef struct alloy_arena_stats {
    size_t used;         /* bytes handed out and not rewound (padding included) */
    size_t committed;    /* bytes held from the parent: chunks, retained chunks, large blocks */
    size_t wasted;       /* tails of chunks the arena moved past, never handed out */
    size_t chunks;       /* chunks held, in use or retained */
    size_t large_blocks; /* live blocks taken straight from the parent */
} alloy_arena_stats;

/* A position to rewind to; valid until the arena is reset or rewound before it. Restore marks
 * newest first. Blocks from before a mark keep the size they had when it was taken: growing one
 * in place after the save is undone by the restore. */
typedef struct alloy_arena_mark {
    alloy__arena_chunk *chunk;
    char *cur;
    uint64_t large_seq;
} alloy_arena_mark;

/* ---- lifetime ------------------------------------------------------------ */

/* Start an empty arena over parent (not owned; must outlive the arena); takes nothing yet. */
ALLOY_API void alloy_arena_init(alloy_arena *a, alloy_allocator parent,
                                size_t chunk_size) ALLOY_NOEXCEPT;
/* As alloy_arena_init with every option (opt may be NULL for the defaults). */
ALLOY_API void alloy_arena_init_ex(alloy_arena *a, alloy_allocator parent,
                                   const alloy_arena_options *opt) ALLOY_NOEXCEPT;
/* Release everything back to the parent; every block becomes invalid. */
ALLOY_API void alloy_arena_deinit(alloy_arena *a) ALLOY_NOEXCEPT;
/* Invalidate every block; keep up to keep bytes of chunks (ALLOY_ARENA_FREE_ALL,
 * ALLOY_ARENA_RETAIN). */
ALLOY_API void alloy_arena_reset(alloy_arena *a, size_t keep) ALLOY_NOEXCEPT;

/* ---- allocation ---------------------------------------------------------- */

/* Out-of-line part of alloy_arena_alloc: new chunk, large block or failure. */
ALLOY_API void *alloy__arena_alloc_slow(alloy_arena *a, size_t size, size_t align) ALLOY_NOEXCEPT;

/* Allocate size > 0 bytes aligned to align (a power of two); NULL when the parent fails.
 * The block belongs to the arena: free it through the arena or not at all. */
ALLOY_NODISCARD ALLOY_INLINE void *alloy_arena_alloc(alloy_arena *a, size_t size, size_t align) {
    void *p;
    if (ALLOY_LIKELY(alloy__bump(&a->h, size, align, &p))) return p;
    return alloy__arena_alloc_slow(a, size, align);
}

/* Release p if it is the latest block or a large one; otherwise no-op. p may be NULL. */
ALLOY_API void alloy_arena_free(alloy_arena *a, void *p, size_t size) ALLOY_NOEXCEPT;
/* Resize p in place (latest block, large block within capacity, or any shrink); false if not. */
ALLOY_API bool alloy_arena_resize(alloy_arena *a, void *p, size_t size,
                                  size_t new_size) ALLOY_NOEXCEPT;

/* ---- scratch marks ------------------------------------------------------- */

/* Remember the current position. */
ALLOY_API alloy_arena_mark alloy_arena_save(const alloy_arena *a) ALLOY_NOEXCEPT;
/* Rewind to m: blocks allocated since become invalid; chunks are retained, large blocks released.
 */
ALLOY_API void alloy_arena_restore(alloy_arena *a, alloy_arena_mark m) ALLOY_NOEXCEPT;

/* ---- queries ------------------------------------------------------------- */

/* The arena as an allocator value (a must outlive it); reset retains capacity. */
ALLOY_API alloy_allocator alloy_arena_allocator(alloy_arena *a) ALLOY_NOEXCEPT;
/* Fill *out with used, committed and wasted bytes. */
ALLOY_API void alloy_arena_stats_get(const alloy_arena *a, alloy_arena_stats *out) ALLOY_NOEXCEPT;

ALLOY_EXTERN_C_END

#endif /* ALLOY_ARENA_H */
