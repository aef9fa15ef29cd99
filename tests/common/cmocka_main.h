/* SPDX-License-Identifier: MIT */
/* tests/common/cmocka_main.h - cmocka entry point shared by every test program.
 *
 * ALLOY_TEST_MAIN(tests) defines main(): with an argument it runs only the
 * case of that name (one ctest entry per case), without one it runs them all.
 * A filter that matches nothing fails, so a renamed case cannot pass silently.
 */
#ifndef ALLOY_TEST_CMOCKA_MAIN_H
#define ALLOY_TEST_CMOCKA_MAIN_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static inline int alloy_test_run(const char *group, const struct CMUnitTest *tests, size_t n,
                                 int argc, char **argv) {
    if (argc > 1) {
        size_t found = 0;
        for (size_t i = 0; i < n; i++) found += strcmp(tests[i].name, argv[1]) == 0;
        if (found == 0) {
            fprintf(stderr, "%s: no test case named '%s'\n", group, argv[1]);
            return 2;
        }
        cmocka_set_test_filter(argv[1]);
    }
    return _cmocka_run_group_tests(group, tests, n, NULL, NULL);
}

#define ALLOY_TEST_MAIN(tests)                                                                     \
    int main(int argc, char **argv) {                                                              \
        return alloy_test_run(__FILE__, tests, sizeof(tests) / sizeof((tests)[0]), argc, argv);    \
    }

#endif
