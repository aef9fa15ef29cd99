/* SPDX-License-Identifier: MIT */
/* alloy/common.h - export and attribute macros shared by every alloy header.
 *
 * Nothing here allocates; it only spells attributes once so the other headers
 * can stay one declaration per line.
 */
#ifndef ALLOY_COMMON_H
#define ALLOY_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <alloy/config.h>

/* Exported from liballoy.so; everything else there is hidden. */
#if defined(__GNUC__)
#define ALLOY_API __attribute__((visibility("default")))
#else
#define ALLOY_API
#endif

#if defined(__GNUC__)
#define ALLOY_LIKELY(x) __builtin_expect(!!(x), 1)
#define ALLOY_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define ALLOY_MALLOC_ATTR __attribute__((malloc))
#define ALLOY_ALLOC_SIZE(n) __attribute__((alloc_size(n)))
#define ALLOY_ALLOC_SIZE2(n, m) __attribute__((alloc_size(n, m)))
#define ALLOY_ALLOC_ALIGN(n) __attribute__((alloc_align(n)))
#define ALLOY_NODISCARD __attribute__((warn_unused_result))
#else
#define ALLOY_LIKELY(x) (x)
#define ALLOY_UNLIKELY(x) (x)
#define ALLOY_MALLOC_ATTR
#define ALLOY_ALLOC_SIZE(n)
#define ALLOY_ALLOC_SIZE2(n, m)
#define ALLOY_ALLOC_ALIGN(n)
#define ALLOY_NODISCARD
#endif

/* The small hot functions a header defines inline (alloy_alloc, alloy_smr_enter, ...).
 * In C and C++ they are static inline; liballoy also exports each one, under the
 * same name and with the same arguments, as an ordinary function (src/inline.c
 * compiles the headers with ALLOY_BUILDING_INLINE), so callers that cannot use a
 * header, such as Python ctypes, reach them too. */
#ifdef ALLOY_BUILDING_INLINE
#define ALLOY_INLINE ALLOY_API
#else
#define ALLOY_INLINE static inline
#endif

#ifdef __cplusplus
#define ALLOY_EXTERN_C_BEGIN extern "C" {
#define ALLOY_EXTERN_C_END }
#define ALLOY_NOEXCEPT noexcept
#else
#define ALLOY_EXTERN_C_BEGIN
#define ALLOY_EXTERN_C_END
#define ALLOY_NOEXCEPT
#endif

#endif /* ALLOY_COMMON_H */
