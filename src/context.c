/* SPDX-License-Identifier: MIT */
/* src/context.c - per-thread current allocator and temp arena.
 *
 * Both live in initial-exec TLS: reading the current allocator is a load at
 * a fixed offset from the thread pointer, even from a shared library. The
 * temp arena is set up on first use; a pthread key destructor releases it
 * when the thread exits, and a library destructor releases the exiting
 * thread's at process exit (key destructors do not run for it).
 */
#define _GNU_SOURCE
#include "internal.h"

#include <alloy/context.h>

#include <pthread.h>

#define TEMP_CHUNK ((size_t)64 << 10)

/* The heap value's table (src/alloc/allocator.c): naming it lets the TLS
 * initializer be a constant. */
ALLOY_HIDDEN extern const alloy_vtable alloy__heap_vtable;

/* The temp arena's state lives outside TLS (initial-exec TLS is scarce when
 * liballoy is dlopen'd): one pointer per thread, the state itself taken from
 * the backend directly as uncounted metadata on first use. */
typedef struct temp_state {
    alloy_arena arena;
} temp_state;

ALLOY_API ALLOY_TLS alloy_allocator alloy__current = {NULL, &alloy__heap_vtable};
static ALLOY_TLS temp_state *temp; /* NULL until first use on this thread */
static pthread_key_t temp_key;
static pthread_once_t temp_once = PTHREAD_ONCE_INIT;

/* Parenthesized: the header may define alloy_current() as an inline read. */
alloy_allocator(alloy_current)(void) {
    return alloy__current;
}

alloy_allocator alloy_set_current(alloy_allocator a) {
    alloy_allocator prev = alloy__current;
    alloy__current = a;
    return prev;
}

/* ---- temp arena ---------------------------------------------------------- */

/* What alloy_temp serves if a thread's state cannot be allocated: an empty
 * arena whose parent always fails, so temp allocations return NULL. Normal use
 * (alloc, save, restore) never writes to it. */
static void *never_alloc(void *ctx, size_t size, size_t align) {
    (void)ctx, (void)size, (void)align;
    return NULL;
}
static const alloy_vtable never_vtable = {never_alloc,   alloy_no_resize, alloy_no_remap,
                                          alloy_no_free, alloy_no_reset,  alloy_no_stats};
static alloy_arena no_temp;

static void temp_free(temp_state *t) {
    alloy_arena_deinit(&t->arena);
    alloy__meta_free(t);
}

static void temp_exit(void *arg) {
    temp = NULL;
    temp_free(arg);
}

static void make_key(void) {
    pthread_key_create(&temp_key, temp_exit);
    alloy_allocator never = {NULL, &never_vtable};
    alloy_arena_init(&no_temp, never, 0);
}

static temp_state *temp_new(alloy_allocator parent, size_t chunk) {
    pthread_once(&temp_once, make_key);
    alloy__init();
    temp_state *t = (temp_state *)alloy__meta_malloc(sizeof *t);
    if (t == NULL) return NULL;
    alloy_arena_init(&t->arena, parent, chunk != 0 ? chunk : TEMP_CHUNK);
    pthread_setspecific(temp_key, t);
    temp = t;
    return t;
}

alloy_arena *alloy_temp_arena(void) {
    temp_state *t = temp;
    if (ALLOY_UNLIKELY(t == NULL) && (t = temp_new(alloy_heap(), 0)) == NULL) return &no_temp;
    return &t->arena;
}

alloy_allocator alloy_temp(void) {
    alloy_allocator a = {alloy_temp_arena(), &alloy__arena_vtable};
    return a;
}

bool alloy_temp_configure(alloy_allocator parent, size_t chunk_size) {
    temp_state *t = temp;
    if (t == NULL) return temp_new(parent, chunk_size) != NULL;
    if (t->arena.committed != 0) return false;
    alloy_arena_deinit(&t->arena);
    alloy_arena_init(&t->arena, parent, chunk_size != 0 ? chunk_size : TEMP_CHUNK);
    return true;
}

alloy_arena_mark alloy_temp_save(void) {
    return alloy_arena_save(alloy_temp_arena());
}

void alloy_temp_restore(alloy_arena_mark m) {
    alloy_arena_restore(alloy_temp_arena(), m);
}

void alloy_temp_release(void) {
    temp_state *t = temp;
    if (t == NULL) return;
    pthread_setspecific(temp_key, NULL);
    temp = NULL;
    temp_free(t);
}

__attribute__((destructor)) static void context_at_exit(void) {
    alloy_temp_release();
}
