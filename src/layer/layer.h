/* SPDX-License-Identifier: MIT */
/* src/layer/layer.h - private: observer layers stacked over the backend table.
 *
 * A layer is a table with the backend's slots (alloy__backend) whose functions
 * do the layer's work and forward to the table below it. The routed API calls
 * the top table (alloy__be) and nothing else: with no layer, alloy__be is a
 * copy of the backend's own table and alloy_malloc is one indirect jump.
 *
 * Stacking happens in two ways:
 * - At start (src/init.c): the environment names the layers (ALLOY_DEBUG=1,
 *   ALLOY_STATS=1 / ALLOY_LEAK_CHECK=1, ALLOY_PROFILE=...) and
 *   alloy_layer_push() calls made before the first allocation add to the
 *   pending stack; the first allocation seals it (the bootstrap table stays
 *   the top until then). Order from the environment, top first:
 *   profile > count > debug > backend.
 * - At run time, after the seal: only layers with late_ok (count, profile)
 *   may be pushed. They go on top; their slots are published one at a time
 *   with atomic stores, so a thread may briefly call the new layer's malloc
 *   and the old table's free: a late layer must accept frees of blocks it
 *   never saw, and frees it never sees.
 *
 * Each layer keeps its own state in its own file (src/layer/<name>.c, the
 * debug heap's in src/debug/process.c) and never reaches into another layer
 * or a backend except through its saved `below` table.
 */
#ifndef ALLOY_LAYER_H_PRIVATE
#define ALLOY_LAYER_H_PRIVATE

#include "../internal.h"

typedef struct alloy__layer {
    alloy_layer id;
    const char *name;
    /* Copy *below (the layer forwards to that copy for the rest of the
     * process) and fill *self with the layer's own slots; fields the layer
     * does not change (name, version, classes, glibc_chunks) are copied from
     * below. Called once per push, under the stack lock. false: the layer
     * could not start; it has printed why and stays out. */
    bool (*attach)(const alloy__backend *below, alloy__backend *self);
    /* Does the environment ask for this layer at start? (getenv only: it runs
     * inside initialization, before main.) NULL: never from the environment. */
    bool (*from_env)(void);
    /* May be pushed after the first allocation (see above). */
    bool late_ok;
} alloy__layer;

ALLOY_HIDDEN extern const alloy__layer alloy__layer_count;
ALLOY_HIDDEN extern const alloy__layer alloy__layer_debug;
ALLOY_HIDDEN extern const alloy__layer alloy__layer_error;
#if ALLOY_HAVE_PROFILE /* defined by the profiler's block in cmake/AlloyModules.cmake */
ALLOY_HIDDEN extern const alloy__layer alloy__layer_profile;
#endif

/* Push l on top of the stack: into the pending stack before the seal, live
 * after it (late_ok layers only; else false with errno EBUSY). Pushing a layer
 * that is already on is a no-op that returns true. */
ALLOY_HIDDEN bool alloy__layer_push(const alloy__layer *l);
/* Store every slot of t into the live top table (atomic per slot). */
ALLOY_HIDDEN void alloy__layer_publish(const alloy__backend *t);

/* For src/init.c: the chosen backend's table (the bottom of the stack); the
 * layers the environment asks for, bottom first; the seal (first allocation);
 * fork handlers. */
ALLOY_HIDDEN void alloy__stack_base(const alloy__backend *be);
ALLOY_HIDDEN void alloy__stack_push_env(const alloy__layer *const *layers, size_t n);
ALLOY_HIDDEN void alloy__stack_seal(void);
ALLOY_HIDDEN void alloy__stack_init(void);

#endif /* ALLOY_LAYER_H_PRIVATE */
