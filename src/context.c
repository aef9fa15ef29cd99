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

typedef struct temp_state {
    alloy_arena arena;
    int state; /* 0 unset, 1 ready */
    bool registered;
} temp_state;

ALLOY_API ALLOY_TLS alloy_allocator alloy__current = {NULL, &alloy__heap_vtable};
static ALLOY_TLS temp_state temp;
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

static void temp_exit(void *arg) {
    temp_state *t = arg;
    if (t->state != 0) alloy_arena_deinit(&t->arena);
    t->state = 0;
    t->registered = false;
}

static void make_key(void) {
    pthread_key_create(&temp_key, temp_exit);
}

static void temp_setup(alloy_allocator parent, size_t chunk) {
    temp_state *t = &temp;
    alloy_arena_init(&t->arena, parent, chunk != 0 ? chunk : TEMP_CHUNK);
    t->state = 1;
    if (!t->registered) {
        pthread_once(&temp_once, make_key);
        t->registered = true;
        pthread_setspecific(temp_key, t);
    }
}

alloy_arena *alloy_temp_arena(void) {
    temp_state *t = &temp;
    if (ALLOY_UNLIKELY(t->state == 0)) temp_setup(alloy_heap(), 0);
    return &t->arena;
}

alloy_allocator alloy_temp(void) {
    alloy_allocator a = {alloy_temp_arena(), &alloy__arena_vtable};
    return a;
}

bool alloy_temp_configure(alloy_allocator parent, size_t chunk_size) {
    temp_state *t = &temp;
    if (t->state != 0) {
        if (t->arena.committed != 0) return false;
        alloy_arena_deinit(&t->arena);
    }
    temp_setup(parent, chunk_size);
    return true;
}

alloy_arena_mark alloy_temp_save(void) {
    return alloy_arena_save(alloy_temp_arena());
}

void alloy_temp_restore(alloy_arena_mark m) {
    alloy_arena_restore(alloy_temp_arena(), m);
}

void alloy_temp_release(void) {
    temp_state *t = &temp;
    if (t->state != 0) alloy_arena_deinit(&t->arena);
    t->state = 0;
}

__attribute__((destructor)) static void context_at_exit(void) {
    alloy_temp_release();
}
