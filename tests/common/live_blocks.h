/* SPDX-License-Identifier: MIT */
/* tests/common/live_blocks.h - the routed heap's live-block count, for tests that
 * prove nothing leaked. The suite runs with the counting layer on
 * (ALLOY_STATS=1 in every test's environment, tests/CMakeLists.txt); a test
 * binary started without it fails here rather than checking nothing.
 * Include after cmocka_main.h. */
#ifndef ALLOY_TEST_LIVE_BLOCKS_H
#define ALLOY_TEST_LIVE_BLOCKS_H

#include <alloy.h>

static inline uint64_t live_blocks(void) {
    alloy_stats s;
    assert_true(alloy_stats_get(&s)); /* the counting layer is on */
    return s.current_count;
}

#define assert_live_blocks(expected) assert_int_equal(live_blocks(), (expected))

#endif
