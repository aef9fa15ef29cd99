/* SPDX-License-Identifier: MIT */
/* Linked against liballoy-override: C23 free_sized / free_aligned_sized reach
 * alloy with the block's size, and the counters balance. */
#include <alloy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void free_sized(void *p, size_t size);
void free_aligned_sized(void *p, size_t align, size_t size);

int main(void) {
    alloy_stats a, b;
    if (!alloy_stats_get(&a)) return 3; /* run with ALLOY_STATS=1 */
    for (size_t n = 1; n < 20000; n = n * 3 + 1) {
        char *p = malloc(n);
        char *q = aligned_alloc(64, n * 64);
        if (p == NULL || q == NULL || ((uintptr_t)q & 63) != 0) return 1;
        memset(p, 1, n);
        memset(q, 2, n * 64);
        free_sized(p, n);
        free_aligned_sized(q, 64, n * 64);
    }
    alloy_stats_get(&b);
    if (b.alloc_count - a.alloc_count < 16 || b.current_bytes != a.current_bytes) return 2;
    printf("c23 sized frees ok on %s\n", alloy_backend_name());
    return 0;
}
