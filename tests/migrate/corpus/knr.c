/* SPDX-License-Identifier: MIT */
/* K&R-style function definitions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_n(s, n)
const char *s;
size_t n;
{
    char *d = malloc(n + 1);
    if (d == NULL) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void release(p)
char *p;
{
    free(p);
}

int main(void) {
    char *d = dup_n("knr-style", 3);
    if (d == NULL) return 1;
    puts(d);
    release(d);
    return 0;
}
