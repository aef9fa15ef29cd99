/* SPDX-License-Identifier: MIT */
/* tests/unit/test_stats_json.c - the counters as JSON into a buffer and into a
 * file: cut like snprintf, created safely (no symlink followed, no clobbering
 * unless asked), failures reported with errno. Runs with ALLOY_STATS=1. */
#define _GNU_SOURCE
#include <alloy.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmocka_main.h"

static void buffer_holds_the_counters(void **state) {
    (void)state;
    void *p = alloy_malloc(100);
    char full[512];
    size_t n = alloy_stats_format_json(full, sizeof full);
    assert_int_equal(n, strlen(full));
    assert_non_null(strstr(full, "\"counters\":true"));
    alloy_stats s;
    assert_true(alloy_stats_get(&s));
    char want[64];
    snprintf(want, sizeof want, "\"alloc_count\":%llu,", (unsigned long long)s.alloc_count);
    assert_non_null(strstr(full, want));
    /* Cut like snprintf: the full length back, a NUL-terminated prefix written. */
    char small[10];
    assert_int_equal(alloy_stats_format_json(small, sizeof small), n);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, full, sizeof small - 1);
    assert_int_equal(alloy_stats_format_json(NULL, 0), n);
    alloy_free(p);
}

static void file_is_created_safely(void **state) {
    (void)state;
    char dir[] = "/tmp/alloy-stats-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], link[256], text[512];
    snprintf(path, sizeof path, "%s/stats.json", dir);
    snprintf(link, sizeof link, "%s/link.json", dir);
    assert_true(alloy_stats_write_json(path, false));
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t got = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[got] = '\0';
    assert_true(got > 0 && text[0] == '{' && text[got - 1] == '\n');
    /* No clobbering unless asked. */
    errno = 0;
    assert_false(alloy_stats_write_json(path, false));
    assert_int_equal(errno, EEXIST);
    assert_true(alloy_stats_write_json(path, true));
    /* Never through a symlink, even with overwrite. */
    assert_int_equal(symlink(path, link), 0);
    errno = 0;
    assert_false(alloy_stats_write_json(link, true));
    assert_int_equal(errno, ELOOP);
    /* Bad paths fail with errno, nothing else happens. */
    errno = 0;
    assert_false(alloy_stats_write_json("", true));
    assert_int_equal(errno, EINVAL);
    assert_false(alloy_stats_write_json("/nonexistent-dir/x.json", true));
    assert_int_equal(errno, ENOENT);
    unlink(link);
    unlink(path);
    rmdir(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(buffer_holds_the_counters),
    cmocka_unit_test(file_is_created_safely),
};

ALLOY_TEST_MAIN(tests)
