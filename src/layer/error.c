/* SPDX-License-Identifier: MIT */
/* src/layer/error.c - the error handler, as a layer.
 *
 * The routed API tail-calls the table, so it never sees a NULL come back.
 * Installing a handler pushes this layer, which does: each allocating slot
 * tests the result and, on NULL, tells the handler and leaves errno at
 * ENOMEM. Until a handler is installed nothing on the hot path pays for it.
 * Failures found before the table is called (a bad alignment, calloc's
 * overflow) go through alloy__fail, which tells the handler directly.
 */
#define _GNU_SOURCE
#include "layer.h"

#include <errno.h>

static alloy_error_fn *error_fn;
static void *error_arg;
static alloy__backend below;

static void tell(int err) {
    alloy_error_fn *fn = __atomic_load_n(&error_fn, __ATOMIC_ACQUIRE);
    if (fn != NULL) fn(err, __atomic_load_n(&error_arg, __ATOMIC_ACQUIRE));
}

ALLOY_COLD void *alloy__fail(int err, int handler_err) {
    tell(handler_err);
    errno = err;
    return NULL;
}

ALLOY_COLD static void *failed(void) {
    return alloy__fail(ENOMEM, ENOMEM);
}

static void *e_malloc(size_t size) {
    void *p = below.malloc(size);
    return ALLOY_LIKELY(p != NULL) ? p : failed();
}

static void *e_calloc(size_t count, size_t size) {
    void *p = below.calloc(count, size);
    return ALLOY_LIKELY(p != NULL) ? p : failed();
}

static void *e_realloc(void *p, size_t size) {
    void *q = below.realloc(p, size);
    return ALLOY_LIKELY(q != NULL) ? q : failed();
}

static void *e_malloc_aligned(size_t size, size_t align) {
    void *p = below.malloc_aligned(size, align);
    return ALLOY_LIKELY(p != NULL) ? p : failed();
}

static void *e_realloc_aligned(void *p, size_t size, size_t align) {
    void *q = below.realloc_aligned(p, size, align);
    return ALLOY_LIKELY(q != NULL) ? q : failed();
}

static bool error_attach(const alloy__backend *b, alloy__backend *self) {
    below = *b;
    self->malloc = e_malloc;
    self->calloc = e_calloc;
    self->realloc = e_realloc;
    self->malloc_aligned = e_malloc_aligned;
    self->realloc_aligned = e_realloc_aligned;
    return true; /* frees, usable_size and collect stay those below */
}

const alloy__layer alloy__layer_error = {
    .id = (alloy_layer)0,
    .name = "error",
    .attach = error_attach,
    .from_env = NULL,
    .late_ok = true,
};

alloy_error_fn *alloy_set_error_handler(alloy_error_fn *fn, void *arg) {
    alloy_error_fn *old = __atomic_load_n(&error_fn, __ATOMIC_ACQUIRE);
    __atomic_store_n(&error_fn, NULL, __ATOMIC_RELEASE);
    __atomic_store_n(&error_arg, arg, __ATOMIC_RELEASE);
    __atomic_store_n(&error_fn, fn, __ATOMIC_RELEASE);
    /* Once pushed the layer stays: removing it under running threads would
     * need them all to have left its functions. With no handler it only
     * tests for NULL. */
    if (fn != NULL) alloy__layer_push(&alloy__layer_error);
    return old;
}
