/* SPDX-License-Identifier: MIT */
/* progress.h - one status line on a terminal, rewritten in place while long work runs.
 *
 * A command that runs something long (a profiled program, benchmark rounds) shows where it is
 * on stderr: "\r" + the text + "erase to end of line", at most every min_ms. Only on a
 * terminal: when the stream is not a tty (a pipe, a file) or TERM is "dumb", every call does
 * nothing, so logs and captured output never see a carriage return or an escape. The line is
 * cut to the terminal's width so that it never wraps (a wrapped line cannot be rewritten).
 * cli_progress_done erases it, so the command's final output starts on a clean line.
 * Progress text carries no colour; NO_COLOR therefore changes nothing here.
 *
 *     cli_progress pr;
 *     cli_progress_init(&pr, stderr, 150);
 *     while (working) cli_progress_update(&pr, false, "run %d/%d", k, n);
 *     cli_progress_done(&pr);
 */
#ifndef ALLOY_TOOLS_PROGRESS_H
#define ALLOY_TOOLS_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

typedef struct cli_progress {
    FILE *f;
    bool active;     /* f is a terminal that can rewrite a line */
    bool shown;      /* a line is on the screen now */
    unsigned min_ms; /* least time between two redraws */
    double last;     /* CLOCK_MONOTONIC seconds of the last redraw */
    double start;    /* CLOCK_MONOTONIC seconds at init */
} cli_progress;

/* Set up a progress line on f (normally stderr) redrawn at most every min_ms milliseconds.
 * Decides once whether f can show one (see above). */
void cli_progress_init(cli_progress *p, FILE *f, unsigned min_ms);

/* Seconds since cli_progress_init. */
double cli_progress_elapsed(const cli_progress *p);

/* Replace the line with the formatted text (one line: control characters in it are shown as
 * '?'), unless less than min_ms passed since the last redraw and force is false. Does nothing
 * when inactive. */
void cli_progress_update(cli_progress *p, bool force, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Erase the line, if one is shown, leaving the cursor at the start of an empty line. Call it
 * before printing anything else on the same terminal, and at the end. */
void cli_progress_done(cli_progress *p);

#endif /* ALLOY_TOOLS_PROGRESS_H */
