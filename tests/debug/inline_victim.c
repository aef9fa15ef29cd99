/* SPDX-License-Identifier: MIT */
/* tests/debug/inline_victim.c - a double free three inlined calls deep, built at -O2: the
 * debug allocator's stack must show every inlined frame with its own line, as addr2line -i
 * does (test_debug_inline.py). */
#include <alloy.h>

static void *volatile sink;

static inline __attribute__((always_inline)) void leaf(void) {
    char *p = alloy_malloc(10);
    sink = p;
    alloy_free(p);
    alloy_free(p); /* freed again */
}

static inline __attribute__((always_inline)) void middle(void) {
    leaf();
    sink = 0;
}

static inline __attribute__((always_inline)) void outer(void) {
    middle();
    sink = 0;
}

int main(void) {
    outer();
    sink = 0;
    return 0;
}
