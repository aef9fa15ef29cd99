/* SPDX-License-Identifier: MIT */
/* alloy/layer.h - observer layers over the routed heap.
 *
 * With no layer the routed API (alloy_malloc, ...) is one indirect jump into
 * the backend: nothing is counted, nothing is checked. A layer watches every
 * call and forwards it to the layer below: exact counters (count), the debug
 * heap (debug), the profiler (profile). Layers are stacked once at start from
 * the environment, top first: profile > count > debug > backend
 * (ALLOY_PROFILE=..., ALLOY_STATS=1 or ALLOY_LEAK_CHECK=1, ALLOY_DEBUG=1), or by
 * alloy_layer_push() before the first allocation (each push goes on top).
 * After the first allocation, count and profile can still be pushed (on top,
 * from then on; see alloy/stats.h for what counting from the middle means);
 * debug cannot, since it must see every block.
 */
#ifndef ALLOY_LAYER_H
#define ALLOY_LAYER_H

#include <alloy/common.h>

ALLOY_EXTERN_C_BEGIN

typedef enum alloy_layer {
    ALLOY_LAYER_COUNT = 1,   /* exact counters: alloy_stats_get */
    ALLOY_LAYER_DEBUG = 2,   /* the debug heap: alloy/debug.h */
    ALLOY_LAYER_PROFILE = 3, /* the profiler: alloy/profile.h */
} alloy_layer;

/* clang-format off */
/* Push layer on top of the stack. True if it is on (already, or now); false with errno EBUSY when it can no longer be pushed (debug after the first allocation), EINVAL for an unknown layer, or the layer's own errno if it cannot start. */
ALLOY_API bool alloy_layer_push(alloy_layer layer) ALLOY_NOEXCEPT;
/* True if layer is on the stack (pushed, pending or live). */
ALLOY_API bool alloy_layer_active(alloy_layer layer) ALLOY_NOEXCEPT;
/* Write the stack, top first, as "count > debug > mimalloc" into buf (NUL-terminated, cut to len); returns the full length. */
ALLOY_API size_t alloy_layer_describe(char *buf, size_t len) ALLOY_NOEXCEPT;
/* clang-format on */

ALLOY_EXTERN_C_END

#endif /* ALLOY_LAYER_H */
