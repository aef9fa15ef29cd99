/* SPDX-License-Identifier: MIT */
/* Code spatch cannot parse is listed in the report, never skipped silently; what it holds
 * stays as it is (and stays consistent: its malloc and its free are both libc's). */
#include <stdio.h>
#include <stdlib.h>

#define BEGIN {
#define END }

static int odd(int n)
BEGIN
    char *p = malloc(8);
    int r = n % 2;
    free(p);
    return r;
END

int main(void) {
    char *q = malloc(4);
    if (q == NULL) return 1;
    printf("%d\n", odd(3));
    free(q);
    return 0;
}
