/* SPDX-License-Identifier: MIT */
/* tests/unit/test_heap.c - edge cases of the routed API, run once per backend.
 *
 * ctest sets ALLOY_BACKEND for each run; the first check is that the process
 * really got that backend, so a silent fallback cannot pass as success. Every
 * case ends by proving the counters balance (nothing leaked).
 */
#define _GNU_SOURCE
#include <alloy.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_main.h"

static alloy_stats before;

static int setup(void **state) {
    (void)state;
    alloy_stats_get(&before);
    return 0;
}

/* Counters must return to where the case started: nothing leaked. */
static int teardown(void **state) {
    (void)state;
    alloy_stats after;
    assert_true(alloy_stats_get(&after));
    assert_int_equal(after.current_bytes, before.current_bytes);
    assert_int_equal(after.current_count, before.current_count);
    return 0;
}

static void backend_is_the_requested_one(void **state) {
    (void)state;
    const char *want = getenv("ALLOY_BACKEND");
    if (want == NULL) want = ALLOY_DEFAULT_BACKEND;
    assert_string_equal(alloy_backend_name(), want);
    assert_true(alloy_backend_available(want));
    assert_non_null(alloy_backend_version());
    assert_true(strlen(alloy_backend_version()) > 0);
    assert_non_null(strstr(alloy_backend_list(), want));
    assert_false(alloy_backend_available("no-such-backend"));
    assert_false(alloy_backend_available(NULL));
}

static void malloc_zero_is_unique_and_freeable(void **state) {
    (void)state;
    void *a = alloy_malloc(0), *b = alloy_malloc(0);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    alloy_free(a);
    alloy_free(b);
    void *z = alloy_zalloc(0);
    assert_non_null(z);
    alloy_free(z);
    void *c = alloy_calloc(0, 16);
    assert_non_null(c);
    alloy_free(c);
}

static void huge_requests_fail_with_enomem(void **state) {
    (void)state;
    size_t sizes[] = {SIZE_MAX, SIZE_MAX - 4096, SIZE_MAX / 2 + 1, (size_t)1 << 62};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        volatile size_t n = sizes[i]; /* keep the compiler from folding the call away */
        errno = 0;
        assert_null(alloy_malloc(n));
        assert_int_equal(errno, ENOMEM);
        errno = 0;
        assert_null(alloy_malloc_aligned(n, 64));
        assert_int_equal(errno, ENOMEM);
        errno = 0;
        assert_null(alloy_zalloc(n));
        assert_int_equal(errno, ENOMEM);
    }
}

static void calloc_overflow_fails_with_enomem(void **state) {
    (void)state;
    volatile size_t big = SIZE_MAX / 2 + 2;
    errno = 0;
    assert_null(alloy_calloc(big, 2));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(alloy_calloc(2, big));
    assert_int_equal(errno, ENOMEM);
    unsigned char *p = alloy_calloc(1000, 8);
    assert_non_null(p);
    for (size_t i = 0; i < 8000; i++) assert_int_equal(p[i], 0);
    alloy_free(p);
}

static void bad_alignment_fails_with_einval(void **state) {
    (void)state;
    size_t bad[] = {0, 3, 6, 24, 100, 4095, (size_t)1 << 20 | 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        assert_null(alloy_malloc_aligned(16, bad[i]));
        assert_int_equal(errno, EINVAL);
        void *p = alloy_malloc(8);
        errno = 0;
        assert_null(alloy_realloc_aligned(p, 32, bad[i]));
        assert_int_equal(errno, EINVAL);
        alloy_free(p);
    }
}

static void alignments_from_1_to_1mib(void **state) {
    (void)state;
    for (size_t align = 1; align <= ((size_t)1 << 20); align <<= 1) {
        size_t sizes[] = {0, 1, align, 3 * align + 5};
        for (size_t i = 0; i < 4; i++) {
            unsigned char *p = alloy_malloc_aligned(sizes[i], align);
            assert_non_null(p);
            assert_int_equal((uintptr_t)p % align, 0);
            assert_true(alloy_usable_size(p) >= sizes[i]);
            memset(p, 0xab, sizes[i]);
            if (i % 2)
                alloy_free(p);
            else
                alloy_free_aligned_sized(p, align, sizes[i]);
        }
    }
}

/* mimalloc 2.0.9 misaligned these (size == alignment); every backend must not. */
static void size_equal_to_alignment(void **state) {
    (void)state;
    for (size_t align = 16; align <= 65536; align <<= 1) {
        void *p[8];
        for (int i = 0; i < 8; i++) {
            p[i] = alloy_malloc_aligned(align, align);
            assert_non_null(p[i]);
            assert_int_equal((uintptr_t)p[i] % align, 0);
        }
        for (int i = 0; i < 8; i++) alloy_free_aligned_sized(p[i], align, align);
    }
}

/* A block from plain alloy_malloc may be realigned by realloc_aligned. */
static void realloc_aligned_of_unaligned_block(void **state) {
    (void)state;
    for (size_t align = 64; align <= 4096; align <<= 1) {
        for (int k = 0; k < 8; k++) {
            unsigned char *p = alloy_malloc(40 + (size_t)k * 8);
            assert_non_null(p);
            memset(p, 0x11 * k, 40);
            p = alloy_realloc_aligned(p, 200, align);
            assert_non_null(p);
            assert_int_equal((uintptr_t)p % align, 0);
            for (int i = 0; i < 40; i++) assert_int_equal(p[i], (unsigned char)(0x11 * k));
            alloy_free(p);
        }
    }
}

static void realloc_aligned_keeps_alignment_and_contents(void **state) {
    (void)state;
    for (size_t align = 32; align <= 65536; align <<= 2) {
        unsigned char *p = alloy_malloc_aligned(100, align);
        assert_non_null(p);
        for (int i = 0; i < 100; i++) p[i] = (unsigned char)i;
        p = alloy_realloc_aligned(p, 100000, align);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % align, 0);
        for (int i = 0; i < 100; i++) assert_int_equal(p[i], (unsigned char)i);
        p = alloy_realloc_aligned(p, 10, align);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % align, 0);
        for (int i = 0; i < 10; i++) assert_int_equal(p[i], (unsigned char)i);
        alloy_free(p);
    }
    unsigned char *q = alloy_realloc_aligned(NULL, 64, 4096);
    assert_non_null(q);
    assert_int_equal((uintptr_t)q % 4096, 0);
    alloy_free(q);
}

static void realloc_grow_shrink_null_zero(void **state) {
    (void)state;
    unsigned char *p = alloy_realloc(NULL, 10);
    assert_non_null(p);
    memcpy(p, "0123456789", 10);
    size_t steps[] = {20, 1000, 100000, 3000000, 50, 5};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        p = alloy_realloc(p, steps[s]);
        assert_non_null(p);
        assert_true(alloy_usable_size(p) >= steps[s]);
        assert_memory_equal(p, "01234", 5);
    }
    /* realloc to zero returns a minimal block, never NULL on success */
    p = alloy_realloc(p, 0);
    assert_non_null(p);
    alloy_free(p);
}

static void realloc_failure_keeps_the_block(void **state) {
    (void)state;
    char *p = alloy_strdup("keep me");
    volatile size_t huge = SIZE_MAX - 64;
    errno = 0;
    assert_null(alloy_realloc(p, huge));
    assert_int_equal(errno, ENOMEM);
    assert_string_equal(p, "keep me");
    alloy_free(p);
}

static void usable_size_covers_request(void **state) {
    (void)state;
    assert_int_equal(alloy_usable_size(NULL), 0);
    for (size_t n = 1; n < 70000; n = n * 3 / 2 + 1) {
        unsigned char *p = alloy_malloc(n);
        assert_non_null(p);
        size_t u = alloy_usable_size(p);
        assert_true(u >= n);
        memset(p, 0x5a, u); /* the whole usable size is ours to write */
        alloy_free_sized(p, n);
    }
}

static void strdup_and_strndup(void **state) {
    (void)state;
    char *a = alloy_strdup("");
    assert_string_equal(a, "");
    char *b = alloy_strdup("alloy routes allocations");
    assert_string_equal(b, "alloy routes allocations");
    char *c = alloy_strndup("abcdef", 3);
    assert_string_equal(c, "abc");
    char *d = alloy_strndup("ab", 10);
    assert_string_equal(d, "ab");
    char *e = alloy_strndup("xyz", 0);
    assert_string_equal(e, "");
    alloy_free(a);
    alloy_free(b);
    alloy_free(c);
    alloy_free(d);
    alloy_free(e);
}

static void free_null_is_a_noop(void **state) {
    (void)state;
    alloy_free(NULL);
    alloy_free_sized(NULL, 10);
    alloy_free_aligned_sized(NULL, 64, 10);
}

static void counters_balance_exactly(void **state) {
    (void)state;
    alloy_stats s0, s1, s2;
    if (!alloy_stats_get(&s0)) skip();
    enum { N = 1000 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i * 37 % 5000);
        p[i] = (i % 3 == 0) ? alloy_malloc_aligned(n, 64) : alloy_malloc(n);
        assert_non_null(p[i]);
    }
    for (int i = 0; i < N; i += 2) p[i] = alloy_realloc(p[i], (size_t)i * 3);
    alloy_stats_get(&s1);
    assert_int_equal(s1.current_count - s0.current_count, N);
    assert_true(s1.current_bytes > s0.current_bytes);
    assert_true(s1.peak_bytes >= s1.current_bytes - ALLOY_STATS_PEAK_SLACK);
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i * 37 % 5000);
        if (i % 4 != 1)
            alloy_free(p[i]); /* even ones were realloc'd */
        else if (i % 3 == 0)
            alloy_free_aligned_sized(p[i], 64, n);
        else
            alloy_free_sized(p[i], n);
    }
    alloy_stats_get(&s2);
    assert_int_equal(s2.current_bytes, s0.current_bytes);
    assert_int_equal(s2.current_count, s0.current_count);
    assert_int_equal(s2.alloc_count - s0.alloc_count, s2.free_count - s0.free_count);
    assert_int_equal(s2.alloc_bytes - s0.alloc_bytes, s2.free_bytes - s0.free_bytes);
}

/* The counted size of every small request is its usable size (the size-class
 * tables agree with the backend), and a sized free takes back exactly that. */
static void counted_size_is_usable_size(void **state) {
    (void)state;
    alloy_stats s0, s1, s2;
    if (!alloy_stats_get(&s0)) skip();
    for (size_t n = 0; n <= 4200; n++) {
        alloy_stats_get(&s0);
        void *p = alloy_malloc(n);
        alloy_stats_get(&s1);
        assert_int_equal(s1.alloc_bytes - s0.alloc_bytes, alloy_usable_size(p));
        alloy_free_sized(p, n);
        alloy_stats_get(&s2);
        assert_int_equal(s2.current_bytes, s0.current_bytes);
    }
}

/* Shrinking and growing with realloc, then a sized free, still balances. */
static void realloc_then_sized_free_balances(void **state) {
    (void)state;
    alloy_stats s0, s1;
    if (!alloy_stats_get(&s0)) skip();
    size_t sizes[] = {4000, 3000, 2100, 2000, 1500, 100, 90, 2, 0, 64, 5000, 4096, 3};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *p = alloy_malloc(4096);
        memset(p, 'a', 4096);
        p = alloy_realloc(p, sizes[i]);
        assert_non_null(p);
        for (size_t k = 0; k < sizes[i] && k < 4096; k++) assert_int_equal(p[k], 'a');
        char *q = alloy_calloc(3, sizes[i]);
        alloy_free_sized(q, 3 * sizes[i]);
        alloy_free_sized(p, sizes[i]);
    }
    alloy_stats_get(&s1);
    assert_int_equal(s1.current_bytes, s0.current_bytes);
    assert_int_equal(s1.current_count, s0.current_count);
}

/* A block resized by realloc can be released with alloy_free_sized(new size)
 * on every backend. tcmalloc's own realloc keeps a block of a larger class when
 * shrinking, which its sized free would then file under the wrong class; alloy
 * must not let that through. Blocks handed out afterwards must not overlap. */
static void sized_free_after_realloc_is_safe(void **state) {
    (void)state;
    static const size_t pairs[][2] = {{100, 60}, {20000, 15000}, {4096, 3000}, {200000, 130000},
                                      {60, 100}, {15000, 20000}, {1000, 999},  {300000, 200000}};
    bool tcmalloc = strcmp(alloy_backend_name(), "tcmalloc") == 0;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        size_t from = pairs[i][0], to = pairs[i][1];
        unsigned char *p = alloy_malloc(from);
        memset(p, 0x5c, from);
        unsigned char *q = alloy_realloc(p, to);
        assert_non_null(q);
        if (tcmalloc && to <= 256 * 1024) {
            void *fresh = alloy_malloc(to);
            assert_int_equal(alloy_usable_size(q), alloy_usable_size(fresh));
            alloy_free(fresh);
        }
        alloy_free_sized(q, to);
        unsigned char *blk[32];
        for (int k = 0; k < 32; k++) {
            blk[k] = alloy_malloc(to);
            memset(blk[k], k, to);
        }
        for (int k = 0; k < 32; k++) {
            for (size_t j = 0; j < to; j += 997) assert_int_equal(blk[k][j], k);
            assert_int_equal(blk[k][to - 1], k);
        }
        for (int k = 0; k < 32; k++) alloy_free_sized(blk[k], to);
    }
}

static void stats_reset_keeps_current(void **state) {
    (void)state;
    alloy_stats s;
    if (!alloy_stats_get(&s)) skip();
    void *keep = alloy_malloc(4000);
    alloy_stats_reset();
    alloy_stats_get(&s);
    assert_int_equal(s.alloc_count, 0);
    assert_int_equal(s.free_count, 0);
    assert_true(s.current_bytes >= 4000);
    assert_int_equal(s.peak_bytes, s.current_bytes);
    alloy_free(keep);
    alloy_stats_get(&s);
    assert_int_equal(s.free_count, 1);
    assert_int_equal(s.alloc_count, 0);
}

static void stats_print_text_and_json(void **state) {
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    alloy_stats_print_json(f);
    fclose(f);
    assert_non_null(strstr(buf, "\"backend\":\""));
    assert_non_null(strstr(buf, alloy_backend_name()));
    assert_non_null(strstr(buf, "\"current_bytes\":"));
    assert_int_equal(buf[0], '{');
    assert_int_equal(buf[len - 2], '}');
    free(buf);
    f = open_memstream(&buf, &len);
    alloy_stats_print(f);
    fclose(f);
    assert_non_null(strstr(buf, "alloy backend"));
    alloy_stats s;
    assert_non_null(strstr(buf, alloy_stats_get(&s) ? "peak bytes" : "compiled out"));
    free(buf);
}

static void collect_runs(void **state) {
    (void)state;
    void *p[64];
    for (int i = 0; i < 64; i++) p[i] = alloy_malloc(100000);
    for (int i = 0; i < 64; i++) alloy_free(p[i]);
    alloy_collect(false);
    alloy_collect(true);
    void *q = alloy_malloc(100);
    assert_non_null(q);
    alloy_free(q);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(backend_is_the_requested_one, setup, teardown),
    cmocka_unit_test_setup_teardown(malloc_zero_is_unique_and_freeable, setup, teardown),
    cmocka_unit_test_setup_teardown(huge_requests_fail_with_enomem, setup, teardown),
    cmocka_unit_test_setup_teardown(calloc_overflow_fails_with_enomem, setup, teardown),
    cmocka_unit_test_setup_teardown(bad_alignment_fails_with_einval, setup, teardown),
    cmocka_unit_test_setup_teardown(alignments_from_1_to_1mib, setup, teardown),
    cmocka_unit_test_setup_teardown(size_equal_to_alignment, setup, teardown),
    cmocka_unit_test_setup_teardown(realloc_aligned_of_unaligned_block, setup, teardown),
    cmocka_unit_test_setup_teardown(realloc_aligned_keeps_alignment_and_contents, setup, teardown),
    cmocka_unit_test_setup_teardown(realloc_grow_shrink_null_zero, setup, teardown),
    cmocka_unit_test_setup_teardown(realloc_failure_keeps_the_block, setup, teardown),
    cmocka_unit_test_setup_teardown(usable_size_covers_request, setup, teardown),
    cmocka_unit_test_setup_teardown(strdup_and_strndup, setup, teardown),
    cmocka_unit_test_setup_teardown(free_null_is_a_noop, setup, teardown),
    cmocka_unit_test_setup_teardown(counters_balance_exactly, setup, teardown),
    cmocka_unit_test_setup_teardown(counted_size_is_usable_size, setup, teardown),
    cmocka_unit_test_setup_teardown(realloc_then_sized_free_balances, setup, teardown),
    cmocka_unit_test_setup_teardown(sized_free_after_realloc_is_safe, setup, teardown),
    cmocka_unit_test_setup_teardown(stats_reset_keeps_current, setup, teardown),
    cmocka_unit_test_setup_teardown(stats_print_text_and_json, setup, teardown),
    cmocka_unit_test_setup_teardown(collect_runs, setup, teardown),
};

ALLOY_TEST_MAIN(tests)
