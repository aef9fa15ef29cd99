/* SPDX-License-Identifier: MIT */
/* src/inline.c - the out-of-line twins of the public inline functions.
 *
 * With ALLOY_BUILDING_INLINE, ALLOY_INLINE (alloy/common.h) turns each
 * `static inline` function of the public headers into an ordinary exported
 * function of the same name and body, so liballoy exports alloy_alloc,
 * alloy_smr_enter, ... for callers that cannot compile a C header (Python
 * ctypes, other FFIs). C and C++ users keep the inline versions: a static
 * function never clashes with the library's global symbol.
 */
#define ALLOY_BUILDING_INLINE 1
#include <alloy.h>
