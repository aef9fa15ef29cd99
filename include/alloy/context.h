/* SPDX-License-Identifier: MIT */
/* alloy/context.h - the current allocator and the temp allocator of each thread.
 *
 * Every thread has a current allocator (alloy_heap() until set) for code that
 * does not take one as a parameter, and a temp allocator: a per-thread arena
 * for short-lived scratch memory, rewound by ALLOY_WITH_TEMP and released when
 * the thread exits. Both live in initial-exec TLS, so a lookup costs a few
 * instructions even from a shared library. Threads never see each other's.
 *
 * Scopes:
 *   ALLOY_WITH(a) { ... }      current = a inside the block, restored after it.
 *   ALLOY_SCOPE(a);            current = a until the enclosing block ends.
 *   ALLOY_WITH_TEMP { ... }    temp blocks allocated inside are freed after it.
 * They nest. With gcc and clang (the cleanup attribute) every way out of the
 * block restores: falling off the end, break, continue, return, goto. With
 * other compilers ALLOY_SCOPE is unavailable, and leaving ALLOY_WITH or
 * ALLOY_WITH_TEMP by return or goto skips the restore (break is safe).
 */
#ifndef ALLOY_CONTEXT_H
#define ALLOY_CONTEXT_H

#include <alloy/allocator.h>
#include <alloy/arena.h>

ALLOY_EXTERN_C_BEGIN

/* ---- current allocator --------------------------------------------------- */

/* This thread's current allocator (alloy_heap() until set). */
ALLOY_API alloy_allocator alloy_current(void) ALLOY_NOEXCEPT;

#if defined(__GNUC__) && !defined(ALLOY_NO_INLINE_TLS)
/* The variable behind alloy_current(), read inline: two loads at a fixed offset from the
 * thread pointer, no call. Private: never assign it, use alloy_set_current. */
ALLOY_API extern __thread alloy_allocator alloy__current __attribute__((tls_model("initial-exec")));
static inline alloy_allocator alloy__current_read(void) {
    return alloy__current;
}
#define alloy_current() alloy__current_read()
#endif
/* Make a (not owned; must stay valid while current) this thread's current allocator; returns the
 * previous one. */
ALLOY_API alloy_allocator alloy_set_current(alloy_allocator a) ALLOY_NOEXCEPT;

/* ---- temp allocator ------------------------------------------------------ */

/* This thread's temp arena as a value (created empty on first use; valid until the thread exits).
 */
ALLOY_API alloy_allocator alloy_temp(void) ALLOY_NOEXCEPT;
/* This thread's temp arena itself, for the inline alloy_arena_alloc path. */
ALLOY_API alloy_arena *alloy_temp_arena(void) ALLOY_NOEXCEPT;
/* Choose the parent (not owned; must outlive the thread's use) and first chunk size (0: 64 KiB) of
 * this thread's temp arena; false if it already holds memory. */
ALLOY_API bool alloy_temp_configure(alloy_allocator parent, size_t chunk_size) ALLOY_NOEXCEPT;
/* Position of this thread's temp arena, to rewind to with alloy_temp_restore. */
ALLOY_API alloy_arena_mark alloy_temp_save(void) ALLOY_NOEXCEPT;
/* Rewind this thread's temp arena to m (blocks allocated since become invalid). */
ALLOY_API void alloy_temp_restore(alloy_arena_mark m) ALLOY_NOEXCEPT;
/* Return this thread's temp arena memory to its parent now (thread exit does it too). */
ALLOY_API void alloy_temp_release(void) ALLOY_NOEXCEPT;

/* ---- scopes -------------------------------------------------------------- */

typedef struct alloy__scope {
    alloy_allocator prev;
    int once;
} alloy__scope;

typedef struct alloy__temp_scope {
    alloy_arena_mark mark;
    int once;
} alloy__temp_scope;

static inline alloy__scope alloy__scope_begin(alloy_allocator a) {
    alloy__scope s;
    s.prev = alloy_set_current(a);
    s.once = 1;
    return s;
}
static inline void alloy__scope_end(alloy__scope *s) {
    (void)alloy_set_current(s->prev);
}
static inline alloy__temp_scope alloy__temp_begin(void) {
    alloy__temp_scope s;
    s.mark = alloy_temp_save();
    s.once = 1;
    return s;
}
static inline void alloy__temp_end(alloy__temp_scope *s) {
    alloy_temp_restore(s->mark);
}

#define ALLOY__CAT2(a, b) a##b
#define ALLOY__CAT(a, b) ALLOY__CAT2(a, b)
#define ALLOY__UNIQUE(name) ALLOY__CAT(name, __LINE__)

#if defined(__GNUC__)
#define ALLOY_WITH(a)                                                                              \
    for (alloy__scope ALLOY__UNIQUE(alloy__with_)                                                  \
             __attribute__((cleanup(alloy__scope_end))) = alloy__scope_begin(a);                   \
         ALLOY__UNIQUE(alloy__with_).once; ALLOY__UNIQUE(alloy__with_).once = 0)
#define ALLOY_SCOPE(a)                                                                             \
    alloy__scope ALLOY__UNIQUE(alloy__scope_) __attribute__((cleanup(alloy__scope_end), unused)) = \
        alloy__scope_begin(a)
#define ALLOY_WITH_TEMP                                                                            \
    for (alloy__temp_scope ALLOY__UNIQUE(alloy__temp_)                                             \
             __attribute__((cleanup(alloy__temp_end))) = alloy__temp_begin();                      \
         ALLOY__UNIQUE(alloy__temp_).once; ALLOY__UNIQUE(alloy__temp_).once = 0)
#else
/* The inner loop makes break and continue leave through the outer loop's restore. */
#define ALLOY_WITH(a)                                                                              \
    for (alloy__scope ALLOY__UNIQUE(alloy__with_) = alloy__scope_begin(a);                         \
         ALLOY__UNIQUE(alloy__with_).once;                                                         \
         ALLOY__UNIQUE(alloy__with_).once = 0, alloy__scope_end(&ALLOY__UNIQUE(alloy__with_)))     \
        for (int ALLOY__UNIQUE(alloy__in_) = 1; ALLOY__UNIQUE(alloy__in_);                         \
             ALLOY__UNIQUE(alloy__in_) = 0)
#define ALLOY_WITH_TEMP                                                                            \
    for (alloy__temp_scope ALLOY__UNIQUE(alloy__temp_) = alloy__temp_begin();                      \
         ALLOY__UNIQUE(alloy__temp_).once;                                                         \
         ALLOY__UNIQUE(alloy__temp_).once = 0, alloy__temp_end(&ALLOY__UNIQUE(alloy__temp_)))      \
        for (int ALLOY__UNIQUE(alloy__in_) = 1; ALLOY__UNIQUE(alloy__in_);                         \
             ALLOY__UNIQUE(alloy__in_) = 0)
#endif

ALLOY_EXTERN_C_END

#endif /* ALLOY_CONTEXT_H */
