# Sources of the layers above the routed heap (src/alloc, src/context.c,
# src/smr, ...). Each module appends to ALLOY_SOURCES in its own block below;
# the list is compiled into liballoy, liballoy.a and liballoy-override.so.

# ---- alloc + context (issue 3)
list(APPEND ALLOY_SOURCES
  src/alloc/allocator.c src/alloc/arena.c src/alloc/fixed.c src/alloc/pool.c
  src/alloc/shared_pool.c src/alloc/failing.c src/alloc/tally.c src/context.c)

# ---- smr (issue 5)
list(APPEND ALLOY_SOURCES src/smr/domain.c src/smr/reclaim.c src/smr/node.c)
