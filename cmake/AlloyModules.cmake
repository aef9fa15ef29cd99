# Sources of the layers above the routed heap (src/alloc, src/context.c,
# src/smr, ...). Each module appends to ALLOY_SOURCES in its own block below;
# the list is compiled into liballoy, liballoy.a and liballoy-override.so.
