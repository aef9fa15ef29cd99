/* SPDX-License-Identifier: MIT */
/* dashboard.h - the self-contained HTML report, and the writer `alloy report` and
 * `alloy profile` share. */
#ifndef ALLOY_TOOLS_DASHBOARD_H
#define ALLOY_TOOLS_DASHBOARD_H

#include "profdata.h"

#include <stdio.h>

/* One HTML file: no script, no network request; every string from the profile escaped.
 * False on a write error. */
bool cli_dashboard_write(FILE *f, const cli_profile *merged, const cli_profile *procs, size_t n);

/* One recommendation rule's verdict (the dashboard's panel 8; tests read them). */
typedef struct cli_advice {
    const char *rule; /* short id: "pool", "arena", "cross-thread", ... */
    char text[512];   /* what to do, with the figure that triggered it */
} cli_advice;

/* The rules that fire on r, at most max; returns how many. */
size_t cli_dashboard_advice(const alloy_profile_report *r, cli_advice *out, size_t max);

/* Formats of cli_report_write (report.c). */
enum { CLI_FMT_NONE, CLI_FMT_HTML, CLI_FMT_JSON, CLI_FMT_CSV, CLI_FMT_PROM, CLI_FMT_TEXT };
/* Write merged in fmt to out (NULL: stdout), never replacing a file unless force. */
int cli_report_write(const char *cmd, const char *out, int fmt, bool force,
                     const cli_profile *merged, const cli_profile *procs, size_t n);

#endif /* ALLOY_TOOLS_DASHBOARD_H */
