/* SPDX-License-Identifier: MIT */
/* Compiled as C11 and as C++ by gcc and clang with -Wall -Wextra -Wpedantic
 * -Werror: the umbrella header (and so every public header) must stay clean. */
#include <alloy.h>

int main(void) {
    char *s = alloy_strdup("x");
    alloy_stats st;
    (void)alloy_stats_get(&st);
    alloy_free(s);
    return alloy_backend_name() == NULL;
}
