/* SPDX-License-Identifier: MIT */
/* progress.c - the in-place status line of long commands (see progress.h). */
#define _GNU_SOURCE
#include "progress.h"

#include "preload.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

void cli_progress_init(cli_progress *p, FILE *f, unsigned min_ms) {
    const char *term = getenv("TERM");
    p->f = f;
    p->active = isatty(fileno(f)) == 1 && !(term != NULL && strcmp(term, "dumb") == 0);
    p->shown = false;
    p->min_ms = min_ms;
    p->start = cli_monotonic_s();
    p->last = 0;
}

double cli_progress_elapsed(const cli_progress *p) {
    return cli_monotonic_s() - p->start;
}

/* Columns of the terminal on p->f, 80 when it does not say. */
static size_t columns(const cli_progress *p) {
    struct winsize ws;
    if (ioctl(fileno(p->f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

void cli_progress_update(cli_progress *p, bool force, const char *fmt, ...) {
    if (!p->active) return;
    double t = cli_monotonic_s();
    if (!force && p->shown && (t - p->last) * 1000.0 < p->min_ms) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    /* Keep the last column free: a character there wraps the cursor on some terminals. */
    size_t cols = columns(p);
    if (cols > 1 && len > cols - 1) len = cols - 1;
    while (len > 0 && (line[len] & 0xC0) == 0x80) len--; /* not inside a UTF-8 character */
    for (size_t k = 0; k < len; k++)
        if ((unsigned char)line[k] < 0x20 || line[k] == 0x7f) line[k] = '?';
    fprintf(p->f, "\r%.*s\033[K", (int)len, line);
    fflush(p->f);
    p->shown = true;
    p->last = t;
}

void cli_progress_done(cli_progress *p) {
    if (!p->active || !p->shown) return;
    fputs("\r\033[K", p->f);
    fflush(p->f);
    p->shown = false;
}
