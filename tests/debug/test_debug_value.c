/* SPDX-License-Identifier: MIT */
/* tests/debug/test_debug_value.c - the debug allocator as a value, errors caught in process.
 *
 * A handler that continues records each error, so misuse is checked without a
 * child process; every case ends with the parent (the routed heap) balanced.
 */
#define _GNU_SOURCE
#include <alloy.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmocka_main.h"

static int errors[ALLOY_DEBUG_LEAK + 1];
static alloy_stats before;

static alloy_debug_action record(const alloy_debug_error *e, void *arg) {
    (void)arg;
    errors[e->kind]++;
    return ALLOY_DEBUG_CONTINUE;
}

static int setup(void **state) {
    (void)state;
    memset(errors, 0, sizeof errors);
    alloy_stats_get(&before);
    return 0;
}

/* The parent got back everything the debug allocator took from it. */
static int teardown(void **state) {
    (void)state;
    alloy_stats after;
    if (!alloy_stats_get(&after)) return 0;
    assert_int_equal(after.current_bytes, before.current_bytes);
    assert_int_equal(after.current_count, before.current_count);
    return 0;
}

static alloy_debug open_debug(const char *json) {
    alloy_debug d;
    alloy_debug_options o;
    alloy_debug_options_default(&o);
    o.name = "value";
    o.on_error = record;
    o.json_path = json;
    assert_true(alloy_debug_init(&d, alloy_heap(), &o));
    return d;
}

static void clean_use_reports_nothing(void **state) {
    (void)state;
    alloy_debug d = open_debug(NULL);
    alloy_allocator a = alloy_debug_allocator(&d);
    void *blocks[64];
    for (size_t i = 0; i < 64; i++) {
        size_t align = (size_t)1 << (i % 8);
        blocks[i] = alloy_alloc(a, 1 + i * 37, align);
        assert_non_null(blocks[i]);
        assert_int_equal((uintptr_t)blocks[i] % align, 0);
        memset(blocks[i], (int)i, 1 + i * 37);
    }
    alloy_stats st;
    assert_true(alloy_allocator_stats_get(a, &st));
    assert_int_equal(st.current_count, 64);
    for (size_t i = 0; i < 64; i += 2) {
        void *q = alloy_reallocate(a, blocks[i], 1 + i * 37, 2 + i * 50, (size_t)1 << (i % 8));
        assert_non_null(q);
        assert_int_equal(((unsigned char *)q)[0], (unsigned char)i);
        blocks[i] = q;
    }
    assert_int_equal(alloy_debug_check(&d), 0);
    for (size_t i = 0; i < 64; i++)
        alloy_dealloc(a, blocks[i], i % 2 ? 1 + i * 37 : 2 + i * 50, (size_t)1 << (i % 8));
    alloy_debug_summary s;
    alloy_debug_summarize(&d, &s);
    assert_int_equal(s.live_blocks, 0);
    assert_int_equal(s.errors, 0);
    assert_int_equal(alloy_debug_check(&d), 0);
    assert_int_equal(alloy_debug_deinit(&d), 0);
    for (int k = 0; k <= ALLOY_DEBUG_LEAK; k++) assert_int_equal(errors[k], 0);
}

static void misuse_is_reported_and_survived(void **state) {
    (void)state;
    alloy_debug d = open_debug(NULL);
    alloy_allocator a = alloy_debug_allocator(&d);
    char *p = alloy_alloc(a, 24, 8);
    alloy_dealloc(a, p, 24, 8);
    alloy_dealloc(a, p, 24, 8); /* double free: ignored */
    assert_int_equal(errors[ALLOY_DEBUG_DOUBLE_FREE], 1);

    char *q = alloy_alloc(a, 40, 8);
    alloy_dealloc(a, q + 4, 36, 8); /* interior: ignored */
    assert_int_equal(errors[ALLOY_DEBUG_INVALID_FREE], 1);
    alloy_dealloc(a, q, 32, 8); /* size mismatch: released with the true size */
    assert_int_equal(errors[ALLOY_DEBUG_SIZE_MISMATCH], 1);

    char *r = alloy_alloc(a, 16, 16);
    r[16] = 0;
    assert_int_equal(alloy_debug_check(&d), 1);
    assert_int_equal(errors[ALLOY_DEBUG_OVERFLOW], 1);
    alloy_dealloc(a, r, 16, 16); /* reported once, not again on free */
    assert_int_equal(errors[ALLOY_DEBUG_OVERFLOW], 1);

    alloy_debug_summary s;
    alloy_debug_summarize(&d, &s);
    assert_int_equal(s.errors, 4);
    assert_int_equal(alloy_debug_deinit(&d), 0);
}

static void leaks_are_counted_and_released(void **state) {
    (void)state;
    alloy_debug d = open_debug(NULL);
    alloy_allocator a = alloy_debug_allocator(&d);
    for (int i = 0; i < 3; i++) assert_non_null(alloy_alloc(a, 10, 2));
    assert_non_null(alloy_alloc(a, 100, 8));
    alloy_debug_summary s;
    assert_int_equal(alloy_debug_report(&d, &s), 4);
    assert_int_equal(s.live_blocks, 4);
    assert_int_equal(s.live_bytes, 130);
    assert_int_equal(s.leak_sites, 2);
    assert_int_equal(errors[ALLOY_DEBUG_LEAK], 2);
    assert_int_equal(alloy_debug_deinit(&d), 4); /* and the parent gets them back (teardown) */
}

/* Threads allocate, and free each other's blocks, through one debug allocator. */
#define THREADS 4
#define PER 4000
static alloy_allocator shared;
static void *handoff[THREADS][PER];

static void *churn(void *arg) {
    size_t me = (size_t)(uintptr_t)arg;
    for (size_t i = 0; i < PER; i++) handoff[me][i] = alloy_alloc(shared, 8 + (i * 13) % 300, 8);
    return NULL;
}

static void *release_other(void *arg) {
    size_t other = ((size_t)(uintptr_t)arg + 1) % THREADS;
    for (size_t i = 0; i < PER; i++)
        alloy_dealloc(shared, handoff[other][i], 8 + (i * 13) % 300, 8);
    return NULL;
}

static void threads_share_one_debug_allocator(void **state) {
    (void)state;
    alloy_debug d = open_debug(NULL);
    shared = alloy_debug_allocator(&d);
    pthread_t t[THREADS];
    for (size_t i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)i);
    for (size_t i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    for (size_t i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, release_other, (void *)(uintptr_t)i);
    for (size_t i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    assert_int_equal(alloy_debug_check(&d), 0);
    assert_int_equal(alloy_debug_deinit(&d), 0);
    for (int k = 0; k <= ALLOY_DEBUG_LEAK; k++) assert_int_equal(errors[k], 0);
}

__attribute__((noinline)) static void json_victim(alloy_allocator a) {
    char *p = alloy_alloc(a, 24, 8);
    alloy_dealloc(a, p, 24, 8);
    alloy_dealloc(a, p, 24, 8);
}

static void json_report_is_written_and_never_clobbers(void **state) {
    (void)state;
    char path[] = "/tmp/alloy-debug-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    alloy_debug d = open_debug(path);
    json_victim(alloy_debug_allocator(&d));
    assert_int_equal(alloy_debug_deinit(&d), 0);
    char buf[16384] = {0};
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "{\"kind\":\"double-free\""));
    assert_non_null(strstr(buf, "\"function\":\"json_victim\""));
    assert_non_null(strstr(buf, "\"file\":\""));
    /* An existing file is left alone (O_EXCL); errors then go to stderr only. */
    alloy_debug d2 = open_debug(path);
    json_victim(alloy_debug_allocator(&d2));
    assert_int_equal(alloy_debug_deinit(&d2), 0);
    fd = open(path, O_RDONLY);
    char buf2[16384] = {0};
    assert_int_equal(read(fd, buf2, sizeof buf2 - 1), n);
    close(fd);
    unlink(path);
}

/* Stacks walk through glibc (built without frame pointers): qsort calls our comparator. */
static char frames_text[8192];
static int compare(const void *a, const void *b) {
    if (frames_text[0] == '\0') {
        void *pcs[32];
        size_t n = alloy_debug_backtrace(pcs, 32, ALLOY_DEBUG_UNWIND_DEFAULT);
        for (size_t i = 0; i < n; i++) {
            char line[512];
            alloy_debug_symbolize(pcs[i], line, sizeof line);
            strncat(frames_text, line, sizeof frames_text - strlen(frames_text) - 2);
            strcat(frames_text, "\n");
        }
    }
    return *(const int *)a - *(const int *)b;
}

__attribute__((noinline)) static void sort_something(void) {
    int v[8] = {5, 3, 8, 1, 9, 2, 7, 4};
    qsort(v, 8, sizeof v[0], compare);
}

static void stacks_unwind_through_glibc(void **state) {
    (void)state;
    frames_text[0] = '\0';
    sort_something();
    char *cmp = strstr(frames_text, "compare");
    char *sorter = strstr(frames_text, "sort_something");
    /* qsort's frames between the two: glibc's, or a sanitizer's interceptor. */
    char *libc = cmp != NULL ? strstr(cmp, "libc.so") : NULL;
    char *icept = cmp != NULL ? strstr(cmp, "interceptor") : NULL;
    if (libc == NULL || (icept != NULL && icept < libc)) libc = icept;
    if (cmp == NULL || sorter == NULL || libc == NULL || sorter < libc) {
        fprintf(stderr, "frames:\n%s", frames_text);
        fail();
    }
    assert_non_null(strstr(frames_text, "test_debug_value.c:"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(clean_use_reports_nothing, setup, teardown),
    cmocka_unit_test_setup_teardown(misuse_is_reported_and_survived, setup, teardown),
    cmocka_unit_test_setup_teardown(leaks_are_counted_and_released, setup, teardown),
    cmocka_unit_test_setup_teardown(threads_share_one_debug_allocator, setup, teardown),
    cmocka_unit_test_setup_teardown(json_report_is_written_and_never_clobbers, setup, teardown),
    cmocka_unit_test_setup_teardown(stacks_unwind_through_glibc, setup, teardown),
};

ALLOY_TEST_MAIN(tests)
