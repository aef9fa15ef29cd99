# SPDX-License-Identifier: MIT
# Sources of the layers above the routed heap (src/alloc, src/context.c,
# src/smr, ...). Each module appends to ALLOY_SOURCES in its own block below;
# the list is compiled into liballoy, liballoy.a and liballoy-override.so.

# ---- alloc + context
list(APPEND ALLOY_SOURCES
  src/alloc/allocator.c src/alloc/arena.c src/alloc/fixed.c src/alloc/pool.c
  src/alloc/shared_pool.c src/alloc/failing.c src/alloc/tally.c src/context.c)

# ---- smr
list(APPEND ALLOY_SOURCES src/smr/domain.c src/smr/reclaim.c src/smr/node.c)

# ---- exported twins of the headers' inline functions (for ctypes and other FFIs)
list(APPEND ALLOY_SOURCES src/inline.c)

# ---- debug allocator
# libunwind and libdw are dlopen'd at run time (no link dependency); libdw's
# header is only needed for its types.
list(APPEND ALLOY_SOURCES
  src/debug/heap.c src/debug/stack.c src/debug/symbols.c src/debug/report.c
  src/debug/leaks.c src/debug/guard.c src/debug/value.c src/debug/process.c)
include(CheckIncludeFile)
# libdw is optional: without its headers (Debian: libdw-dev) src/debug/symbols.c
# is compiled with ALLOY_HAVE_LIBDW=0 and reports print frames as module+offset.
# -DALLOY_WITH_LIBDW=OFF leaves it out even when installed.
option(ALLOY_WITH_LIBDW "Symbolize debug-allocator stacks with elfutils libdw if found" ON)
set(ALLOY_HAVE_LIBDW 0)
if(ALLOY_WITH_LIBDW)
  check_include_file(elfutils/libdwfl.h ALLOY_HAVE_LIBDWFL_H)
  if(ALLOY_HAVE_LIBDWFL_H)
    set(ALLOY_HAVE_LIBDW 1)
  endif()
endif()
if(NOT ALLOY_HAVE_LIBDW)
  message(STATUS "alloy: elfutils libdw headers not used (libdw-dev); debug reports print addresses, not file:line")
endif()
set_property(SOURCE src/debug/symbols.c APPEND PROPERTY COMPILE_DEFINITIONS ALLOY_HAVE_LIBDW=${ALLOY_HAVE_LIBDW})
check_include_file(libunwind.h ALLOY_HAVE_LIBUNWIND_H)
if(ALLOY_HAVE_LIBUNWIND_H)
  set_property(SOURCE src/debug/stack.c APPEND PROPERTY COMPILE_DEFINITIONS ALLOY_HAVE_LIBUNWIND_H=1)
endif()
# The frame walk starts in these files: keep their frame pointers.
set_property(SOURCE src/debug/heap.c src/debug/stack.c src/debug/value.c src/debug/process.c
             src/debug/guard.c APPEND PROPERTY COMPILE_OPTIONS -fno-omit-frame-pointer)

# ---- profiler (issue 10)
list(APPEND ALLOY_SOURCES
  src/layer/profile.c src/profile/core.c src/profile/hist.c src/profile/clock.c
  src/profile/write.c src/profile/stream.c)
add_compile_definitions(ALLOY_HAVE_PROFILE=1)
# Stack capture starts in these files' frames.
set_property(SOURCE src/layer/profile.c src/profile/core.c APPEND PROPERTY COMPILE_OPTIONS
             -fno-omit-frame-pointer)
