/* SPDX-License-Identifier: MIT */
/* src/env.h - reading ALLOY_* environment variables, safely, before main and inside malloc.
 *
 * Every reader uses getenv only: no allocation, no stdio, no locale. A value that is not
 * accepted costs one line on stderr, "alloy: NAME=VALUE is not valid: accepted ...; using
 * DEFAULT", with control characters and non-ASCII bytes written as \xHH and the value cut at
 * 64 characters, and the reader returns the default. Unset and empty mean the default.
 */
#ifndef ALLOY_ENV_H
#define ALLOY_ENV_H

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

/* One escaped line "alloy: NAME=VALUE is not valid: accepted ...; using DEFAULT" on stderr
 * (control characters and non-ASCII escaped as \xHH, value cut at 64 chars), no allocation. */
ALLOY_HIDDEN void alloy__env_reject(const char *name, const char *value, const char *accepted,
                                    const char *using_);
/* One escaped line "alloy: NAME=VALUE is unavailable (WHY); using DEFAULT" on stderr, for a
 * valid value that could not be honoured (a backend library that does not load); VALUE and WHY
 * are escaped like the reject line's but cut at 400 characters, so that a path stays whole. */
ALLOY_HIDDEN void alloy__env_unavailable(const char *name, const char *value, const char *why,
                                         const char *using_);
/* Unset or empty: def. Else a decimal number with optional K/M/G suffix in [min, max]; anything
 * else (negative, overflow, junk, out of range) -> reject line, def. */
ALLOY_HIDDEN size_t alloy__env_size(const char *name, size_t def, size_t min, size_t max);
/* Unset or empty: def. "1"/"0" (also "on"/"off", "yes"/"no", "true"/"false") else reject line,
 * def. */
ALLOY_HIDDEN bool alloy__env_flag(const char *name, bool def);
/* Unset or empty: def. Index of the exact match in choices (NULL-terminated), else reject line
 * listing them, def. */
ALLOY_HIDDEN int alloy__env_choice(const char *name, const char *const *choices, int def);

#endif
