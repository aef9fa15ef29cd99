# Sources of the layers above the routed heap (src/alloc, src/context.c,
# src/smr, ...). Each module appends to ALLOY_SOURCES in its own block below;
# the list is compiled into liballoy, liballoy.a and liballoy-override.so.

# ---- alloc + context (issue 3)
list(APPEND ALLOY_SOURCES
  src/alloc/allocator.c src/alloc/arena.c src/alloc/fixed.c src/alloc/pool.c
  src/alloc/shared_pool.c src/alloc/failing.c src/alloc/tally.c src/context.c)

# ---- smr (issue 5)
list(APPEND ALLOY_SOURCES src/smr/domain.c src/smr/reclaim.c src/smr/node.c)

# ---- debug allocator (issue 4)
# libunwind and libdw are dlopen'd at run time (no link dependency); libdw's
# header is only needed for its types.
list(APPEND ALLOY_SOURCES
  src/debug/heap.c src/debug/stack.c src/debug/symbols.c src/debug/report.c
  src/debug/leaks.c src/debug/guard.c src/debug/value.c src/debug/process.c)
include(CheckIncludeFile)
check_include_file(elfutils/libdwfl.h ALLOY_HAVE_LIBDWFL_H)
if(NOT ALLOY_HAVE_LIBDWFL_H)
  message(FATAL_ERROR "the debug allocator needs elfutils' headers (Debian: libdw-dev)")
endif()
check_include_file(libunwind.h ALLOY_HAVE_LIBUNWIND_H)
if(ALLOY_HAVE_LIBUNWIND_H)
  set_property(SOURCE src/debug/stack.c APPEND PROPERTY COMPILE_DEFINITIONS ALLOY_HAVE_LIBUNWIND_H=1)
endif()
# The frame walk starts in these files: keep their frame pointers.
set_property(SOURCE src/debug/heap.c src/debug/stack.c src/debug/value.c src/debug/process.c
             src/debug/guard.c APPEND PROPERTY COMPILE_OPTIONS -fno-omit-frame-pointer)
