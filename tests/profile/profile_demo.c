/* SPDX-License-Identifier: MIT */
/* tests/profile/profile_demo.c - the known workload through the routed API with the profiler
 * started in code; writes profile.json, profile.csv and profile.prom into the directory given. */
#define _GNU_SOURCE
#include <alloy.h>
#include <stdio.h>

#define ALLOC(n) alloy_malloc(n)
#define FREE(p) alloy_free(p)
#include "workload.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: profile_demo DIR\n");
        return 2;
    }
    alloy_profile_options o;
    alloy_profile_options_init(&o);
    o.capture_stacks = true;
    if (!alloy_profile_start(&o)) {
        perror("alloy_profile_start");
        return 1;
    }
    if (workload() != 0) return 1;
    alloy_profile_report r;
    if (!alloy_profile_snapshot(&r)) return 1;
    static const struct {
        const char *name;
        alloy_profile_format fmt;
    } outs[] = {{"profile.json", ALLOY_PROFILE_JSON},
                {"profile.csv", ALLOY_PROFILE_CSV},
                {"profile.prom", ALLOY_PROFILE_PROMETHEUS}};
    for (size_t i = 0; i < 3; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], outs[i].name);
        if (!alloy_profile_write_path(path, &r, outs[i].fmt, true)) {
            perror(path);
            return 1;
        }
    }
    alloy_profile_report_free(&r);
    alloy_profile_stop();
    return 0;
}
