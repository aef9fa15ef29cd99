/* SPDX-License-Identifier: MIT */
/* src/layer/stack.c - the stack of observer layers over the backend table.
 *
 * `top` is the table the routed API should call: the backend's own table, or
 * the table of the last layer pushed. Until the first allocation it is only
 * pending (the bootstrap table of src/init.c stays live); alloy__stack_seal()
 * publishes it into alloy__be and from then on every push is published at
 * once. Pushes are rare and serialised by one lock; the hot path never looks
 * at anything here.
 */
#define _GNU_SOURCE
#include "layer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MAX_LAYERS 8

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static alloy__backend top;                     /* under lock */
static const alloy__layer *pushed[MAX_LAYERS]; /* bottom first, under lock */
static unsigned npushed;
static int sealed; /* atomic: 1 once top is live */
static bool have_base;

void alloy__layer_publish(const alloy__backend *t) {
#define PUT(slot) __atomic_store_n(&alloy__be.slot, t->slot, __ATOMIC_RELEASE)
    /* Frees first: a thread that sees a new allocation slot also sees the
     * frees of the same layer (release order), never the reverse. */
    PUT(usable_size);
    PUT(free);
    PUT(free_sized);
    PUT(free_aligned_sized);
    PUT(collect);
    PUT(realloc);
    PUT(realloc_aligned);
    PUT(malloc_aligned);
    PUT(calloc);
    PUT(malloc);
    PUT(name);
    PUT(version);
    PUT(classes);
    PUT(glibc_chunks);
#undef PUT
}

/* The chosen backend's table, from src/init.c, before any layer. */
void alloy__stack_base(const alloy__backend *be) {
    pthread_mutex_lock(&lock);
    top = *be;
    have_base = true;
    pthread_mutex_unlock(&lock);
}

static bool push_locked(const alloy__layer *l) {
    for (unsigned i = 0; i < npushed; i++)
        if (pushed[i] == l) return true;
    bool live = __atomic_load_n(&sealed, __ATOMIC_ACQUIRE) != 0;
    if (live && !l->late_ok) {
        errno = EBUSY;
        return false;
    }
    if (npushed == MAX_LAYERS) {
        errno = ENOSPC;
        return false;
    }
    alloy__backend self = top;
    /* Before the seal the bootstrap table is live: what attach allocates is
     * served from the bootstrap buffer (sealing would need this lock). */
    if (!live) alloy__boot_serving++;
    bool ok = l->attach(&top, &self);
    if (!live) alloy__boot_serving--;
    if (!ok) return false;
    top = self;
    pushed[npushed++] = l;
    if (live) alloy__layer_publish(&top);
    return true;
}

bool alloy__layer_push(const alloy__layer *l) {
    alloy__init();
    pthread_mutex_lock(&lock);
    bool ok = push_locked(l);
    pthread_mutex_unlock(&lock);
    return ok;
}

/* Called by initialization for the layers the environment asks for, before
 * the seal, in the documented order. */
void alloy__stack_push_env(const alloy__layer *const *layers, size_t n) {
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n; i++)
        if (layers[i]->from_env != NULL && layers[i]->from_env()) push_locked(layers[i]);
    pthread_mutex_unlock(&lock);
}

void alloy__stack_seal(void) {
    if (__atomic_load_n(&sealed, __ATOMIC_ACQUIRE)) return;
    pthread_mutex_lock(&lock);
    if (!__atomic_load_n(&sealed, __ATOMIC_RELAXED) && have_base) {
        alloy__layer_publish(&top);
        __atomic_store_n(&sealed, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&lock);
}

static bool layer_on(const alloy__layer *l) {
    pthread_mutex_lock(&lock);
    bool on = false;
    for (unsigned i = 0; i < npushed; i++) on |= pushed[i] == l;
    pthread_mutex_unlock(&lock);
    return on;
}

/* ---- public API ------------------------------------------------------------ */

static const alloy__layer *by_id(alloy_layer id) {
    switch (id) {
    case ALLOY_LAYER_COUNT:
        return &alloy__layer_count;
    case ALLOY_LAYER_DEBUG:
        return &alloy__layer_debug;
    case ALLOY_LAYER_PROFILE:
#if ALLOY_HAVE_PROFILE
        return &alloy__layer_profile;
#else
        return NULL;
#endif
    }
    return NULL;
}

bool alloy_layer_push(alloy_layer layer) {
    const alloy__layer *l = by_id(layer);
    if (l == NULL) {
        errno = EINVAL;
        return false;
    }
    return alloy__layer_push(l);
}

bool alloy_layer_active(alloy_layer layer) {
    const alloy__layer *l = by_id(layer);
    alloy__init();
    return l != NULL && layer_on(l);
}

size_t alloy_layer_describe(char *buf, size_t len) {
    alloy__init();
    char text[256];
    size_t n = 0;
    pthread_mutex_lock(&lock);
    for (unsigned i = npushed; i-- > 0;)
        if (pushed[i]->id != 0) /* the error layer is plumbing, not an observer */
            n += (size_t)snprintf(text + n, sizeof text - n, "%s > ", pushed[i]->name);
    const char *base = have_base ? top.name : "(initializing)";
    pthread_mutex_unlock(&lock);
    n += (size_t)snprintf(text + n, sizeof text - n, "%s", base);
    if (len > 0) snprintf(buf, len, "%s", text);
    return n;
}

/* fork: the child may have been forked while another thread held the lock. */
static void at_fork_prepare(void) {
    pthread_mutex_lock(&lock);
}
static void at_fork_parent(void) {
    pthread_mutex_unlock(&lock);
}
static void at_fork_child(void) {
    pthread_mutex_init(&lock, NULL);
}

void alloy__stack_init(void) {
    pthread_atfork(at_fork_prepare, at_fork_parent, at_fork_child);
}
