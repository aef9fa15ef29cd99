/* SPDX-License-Identifier: MIT */
/* tools_stats.c - prints what tools/alloy/stats.c computes for two samples, as JSON, for
 * check_stats.py to compare with its own computation.
 *
 * usage: tools_stats SEED A1 A2 ... -- B1 B2 ...
 */
#include "../../tools/alloy/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs("usage: tools_stats SEED A... -- B...\n", stderr);
        return 2;
    }
    uint64_t seed = strtoull(argv[1], NULL, 0);
    double a[256], b[256];
    size_t na = 0, nb = 0;
    int i = 2;
    for (; i < argc && strcmp(argv[i], "--") != 0 && na < 256; i++) a[na++] = strtod(argv[i], NULL);
    for (i++; i < argc && nb < 256; i++) b[nb++] = strtod(argv[i], NULL);
    printf("{\"median\": %.17g, \"q\": [", cli_median(a, na));
    for (int k = 0; k <= 20; k++) printf("%s%.17g", k ? ", " : "", cli_quantile(a, na, k / 20.0));
    double lo = 0, hi = 0, rlo = 0, rhi = 0, u = 0;
    bool ok = cli_bootstrap_median(a, na, 0.95, 500, seed, &lo, &hi);
    bool rok = cli_bootstrap_ratio(a, na, b, nb, 0.90, 400, seed, &rlo, &rhi);
    double p = cli_mann_whitney(a, na, b, nb, &u);
    printf("], \"boot\": %s, \"lo\": %.17g, \"hi\": %.17g", ok ? "true" : "false", lo, hi);
    printf(", \"rboot\": %s, \"rlo\": %.17g, \"rhi\": %.17g", rok ? "true" : "false", rlo, rhi);
    printf(", \"u\": %.17g, \"p\": %.17g", u, p);
    /* The A/A noise of b taken as the baseline run again (median ratio and its interval). */
    printf(", \"noise\": %.17g", cli_aa_noise(cli_median(b, nb) / cli_median(a, na), rlo, rhi));
    cli_rng r = {seed};
    printf(", \"rand\": [");
    for (int k = 0; k < 4; k++)
        printf("%s\"%llu\"", k ? ", " : "", (unsigned long long)cli_rand(&r));
    printf("]}\n");
    return 0;
}
