/* tests/common/live_blocks.h - the routed heap's live-block count, for tests that
 * prove nothing leaked. With counters compiled out (-DALLOY_STATS=OFF) there is
 * nothing to count: live_blocks() is 0 and assert_live_blocks checks nothing,
 * which it says by being a no-op rather than by comparing 0 with 0.
 * Include after cmocka_main.h. */
#ifndef ALLOY_TEST_LIVE_BLOCKS_H
#define ALLOY_TEST_LIVE_BLOCKS_H

#include <alloy.h>

static inline uint64_t live_blocks(void) {
    alloy_stats s;
    return alloy_stats_get(&s) ? s.current_count : 0;
}

#define assert_live_blocks(expected)                                                               \
    do {                                                                                           \
        if (ALLOY_STATS) assert_int_equal(live_blocks(), (expected));                              \
    } while (0)

#endif
