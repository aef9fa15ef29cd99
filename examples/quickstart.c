/* SPDX-License-Identifier: MIT */
/* examples/quickstart.c - the routed API in a few lines.
 *
 * Build: cc quickstart.c $(pkg-config --cflags --libs alloy)
 * Run with another backend, no rebuild: ALLOY_BACKEND=jemalloc ./quickstart
 */
#include <alloy.h>

#include <stdio.h>
#include <string.h>

int main(void) {
    /* Counting is a layer, off unless asked for: on here, with an exact peak. */
    alloy_stats_enable(true);
    char *name = alloy_strdup("alloy");
    double *samples = alloy_calloc(1000, sizeof *samples); /* zeroed, overflow-checked */
    void *page = alloy_malloc_aligned(4096, 4096);         /* one aligned page */
    if (name == NULL || samples == NULL || page == NULL) {
        perror("alloy");
        return 1;
    }
    samples = alloy_realloc(samples, 2000 * sizeof *samples);
    printf("%s on %s %s: %zu usable bytes for 2000 doubles\n", name, alloy_backend_name(),
           alloy_backend_version(), alloy_usable_size(samples));

    alloy_free(page);
    alloy_free(samples);
    alloy_free(name);
    alloy_stats_print(stdout); /* current bytes is 0 again; the peak is the 16 KiB of doubles */
    return 0;
}
