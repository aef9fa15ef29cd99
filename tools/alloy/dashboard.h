/* SPDX-License-Identifier: MIT */
/* dashboard.h - the self-contained HTML report, and the writer `alloy report` and
 * `alloy profile` share. */
#ifndef ALLOY_TOOLS_DASHBOARD_H
#define ALLOY_TOOLS_DASHBOARD_H

#include "profdata.h"

#include <stdio.h>

/* What `alloy profile` sees of the profiles while the program runs (each process's file is
 * rewritten every 100 ms): allocations per size row and per thread over time, for the size
 * heatmap and the thread activity chart. alloy report, which has only the last figures, goes
 * without (NULL). */
#define CLI_SERIES_T 240      /* columns kept; when full, every other one is dropped */
#define CLI_SERIES_ROWS 41    /* row k: requested sizes in [2^(k-1), 2^k), row 0: size 0 */
#define CLI_SERIES_THREADS 16 /* the first threads seen; the others are summed in "others" */
typedef struct cli_series {
    double t0;
    size_t nt;
    double t[CLI_SERIES_T];
    uint64_t sizes[CLI_SERIES_T][CLI_SERIES_ROWS]; /* cumulative allocations */
    size_t nthreads;
    struct {
        uint64_t pid, tid;
        char name[32];
        uint64_t allocs[CLI_SERIES_T], frees[CLI_SERIES_T]; /* cumulative */
    } th[CLI_SERIES_THREADS + 1];                           /* the last: others */
    unsigned every, skip;
} cli_series;

/* Add a column from the processes' current profiles (zeroed *s to start). */
void cli_series_add(cli_series *s, const cli_profile *procs, size_t n);

/* One HTML file, no network request; every string from the profile escaped.
 * series may be NULL. False on a write error. */
bool cli_dashboard_write(FILE *f, const cli_profile *merged, const cli_profile *procs, size_t n,
                         const cli_series *series);

/* One recommendation rule's verdict (the dashboard's panel 8; tests read them). */
typedef struct cli_advice {
    const char *rule; /* short id: "pool", "arena", "cross-thread", ... */
    char text[512];   /* what to do, with the figure that triggered it */
} cli_advice;

/* The rules that fire on r, at most max; returns how many. */
size_t cli_dashboard_advice(const alloy_profile_report *r, cli_advice *out, size_t max);

/* s as a quoted JSON string: " and \\ escaped, < > & as \\u escapes (safe inside a <script>
 * element too), control bytes and invalid UTF-8 as U+FFFD. NULL is written as "". */
void cli_json_string(FILE *f, const char *s);

/* ---- the page every alloy HTML report is built on (profile, bench) ---------------------- */

/* True when the build embedded uPlot: cli_html_end then adds it and dashboard.js, which draws
 * the charts the page's <script type="application/json" id="alloy-data"> describes (see
 * dashboard.js for the members it reads; "charts" is the generic one). */
bool cli_html_charts(void);
/* The page up to its <header><h1>title</h1>, left open for the caller's header lines: the
 * offline CSP, the report's CSS, then extra_css (may be NULL) and uPlot's. */
void cli_html_begin(FILE *f, const char *title, const char *extra_css);
/* s as HTML text or attribute value: markup bytes escaped, control bytes and invalid UTF-8 as
 * U+FFFD. */
void cli_html_text(FILE *f, const char *s);
/* uPlot and dashboard.js (when embedded), then the end of the page. The caller closes its own
 * elements and writes its alloy-data block first. */
void cli_html_end(FILE *f);

/* Formats of cli_report_write (report.c). */
enum { CLI_FMT_NONE, CLI_FMT_HTML, CLI_FMT_JSON, CLI_FMT_CSV, CLI_FMT_PROM, CLI_FMT_TEXT };
/* Write merged in fmt to out (NULL: stdout), never replacing a file unless force. */
int cli_report_write(const char *cmd, const char *out, int fmt, bool force,
                     const cli_profile *merged, const cli_profile *procs, size_t n,
                     const cli_series *series);

#endif /* ALLOY_TOOLS_DASHBOARD_H */
