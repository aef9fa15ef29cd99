/* SPDX-License-Identifier: MIT */
/* profdata.h - profile files ("alloy-profile/1" JSON) read into alloy_profile_report, families
 * of files merged into one, and the text summary.
 */
#ifndef ALLOY_TOOLS_PROFDATA_H
#define ALLOY_TOOLS_PROFDATA_H

#include "json.h"

#include <alloy/profile.h>

#include <stdio.h>

typedef struct cli_profile {
    alloy_profile_report r; /* arrays below, strings in doc; never alloy_profile_report_free */
    char *path;             /* the file it came from (NULL when merged) */
    js_doc doc;
    void *owned[10];
    size_t nprocs;  /* merged: how many files; else 1 */
    bool inherited; /* a forked child (parent_pid set): its inherited blocks are counted apart */
} cli_profile;

/* Read a profile file. False with a one-line reason in err (>= 256 bytes). */
bool cli_profile_load(cli_profile *p, const char *path, char *err, size_t errlen);
/* Parse a profile from memory (path may be NULL). */
bool cli_profile_parse(cli_profile *p, const char *text, size_t len, const char *path, char *err,
                       size_t errlen);
void cli_profile_free(cli_profile *p);

/* Merge n profiles (a forked family, or runs to add up) into out: counters, histograms and
 * bytes are summed, percentiles recomputed from the merged histograms, threads listed per
 * process (matrix block-diagonal), leak sites merged largest first, the timeline
 * of the process with the longest one. A forked child's figures are its own from the fork (what
 * it inherited is in `inherited`, summed apart), so the totals are the family's exactly. out
 * borrows strings from the inputs: free it before them. One input: out is a copy of its
 * figures. */
bool cli_profile_merge(cli_profile *out, cli_profile *in, size_t n);

/* The short summary of `alloy profile` and `alloy report`, for people. */
void cli_profile_summary(FILE *f, const cli_profile *merged, const cli_profile *procs,
                         size_t nprocs);

/* Human sizes and counts: "12.3 MB", "1,234,567". */
const char *cli_bytes(char *buf, size_t n, double bytes);
const char *cli_count(char *buf, size_t n, uint64_t v);
const char *cli_ns(char *buf, size_t n, double ns);

#endif /* ALLOY_TOOLS_PROFDATA_H */
