/* SPDX-License-Identifier: MIT */
/* alloy/stats.h - process-wide counters of the routed API: the counting layer.
 *
 * Counting is a layer (alloy/layer.h), off by default: the routed API then
 * costs what the backend costs, and alloy_stats_get returns false with *out
 * zeroed. ALLOY_STATS=1 (or ALLOY_LEAK_CHECK=1, which also reports the blocks
 * still live at exit) switches it on at start; ALLOY_STATS=exact also keeps
 * an exact peak. alloy_stats_enable() switches it on from code, at any time.
 *
 * Switched on after blocks exist, the counters cover the window from then on,
 * exactly: every allocation and free made through alloy since. Frees of
 * blocks allocated before the window count as frees, so current_bytes and
 * current_count are the window's net, floored at 0 (never wrapped).
 *
 * Each thread counts into its own cache line with plain stores; a read sums
 * every live thread plus the totals left by threads that have exited, so no
 * count is lost and the hot path never touches a shared line. Bytes are the
 * backend's usable size, counted the same way on allocation and on free, so
 * after a program frees everything it allocated current_bytes is exactly 0.
 *
 * peak_bytes is sampled: each thread folds its net change into a shared total
 * once it exceeds ALLOY_STATS_PEAK_SLACK bytes, so the peak can differ from the
 * true high-water mark by at most that much per running thread, either way
 * (exact with ALLOY_STATS=exact or alloy_stats_enable(true), at the price of a
 * shared atomic update per call). Every other field is exact.
 */
#ifndef ALLOY_STATS_H
#define ALLOY_STATS_H

#include <stdio.h>

#include <alloy/common.h>

ALLOY_EXTERN_C_BEGIN

/* Net bytes one thread may drift before its change is folded into the peak. */
#define ALLOY_STATS_PEAK_SLACK (256u * 1024u)

typedef struct alloy_stats {
    uint64_t alloc_count;   /* blocks handed out since start or reset */
    uint64_t free_count;    /* blocks released since start or reset */
    uint64_t alloc_bytes;   /* usable bytes handed out since start or reset */
    uint64_t free_bytes;    /* usable bytes released since start or reset */
    uint64_t current_bytes; /* usable bytes live now (not affected by reset) */
    uint64_t current_count; /* blocks live now (not affected by reset) */
    uint64_t peak_bytes;    /* high-water mark of current_bytes (sampled, see above) */
} alloy_stats;

/* Push the counting layer now (see above); exact_peak: fold every change into the peak (chosen when
 * the layer is pushed: ignored if counting is already on). True once counting is on. */
ALLOY_API bool alloy_stats_enable(bool exact_peak) ALLOY_NOEXCEPT;
/* Fill *out with the sums over all threads, live and exited. False (and *out zeroed) while counting
 * is off. */
ALLOY_API bool alloy_stats_get(alloy_stats *out) ALLOY_NOEXCEPT;
/* Zero the cumulative counters and restart the peak at the current value. */
ALLOY_API void alloy_stats_reset(void) ALLOY_NOEXCEPT;
/* Print the counters as aligned text lines to f. */
ALLOY_API void alloy_stats_print(FILE *f) ALLOY_NOEXCEPT;
/* Print the counters as one JSON object (with backend name and version) to f. */
ALLOY_API void alloy_stats_print_json(FILE *f) ALLOY_NOEXCEPT;
/* The same JSON object into buf (NUL-terminated, cut to len, as snprintf); returns its full length.
 */
ALLOY_API size_t alloy_stats_format_json(char *buf, size_t len) ALLOY_NOEXCEPT;
/* Write the JSON object to path: created 0644, never through a symlink, an existing file only if
 * overwrite; false with errno on failure. */
ALLOY_API bool alloy_stats_write_json(const char *path, bool overwrite) ALLOY_NOEXCEPT;

ALLOY_EXTERN_C_END

#endif /* ALLOY_STATS_H */
