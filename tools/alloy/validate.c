/* SPDX-License-Identifier: MIT */
/* validate.c - alloy validate: an allocator change (a baseline backend against a candidate)
 * taken through five test phases, then judged GO / CONDITIONAL GO / NO-GO against numeric
 * criteria, with the figure behind every reason, in Markdown and JSON reports.
 *
 * The phases (seed 003's plan), in order, each skippable, each printing what it runs:
 *   smoke   the test command under the candidate; failures from its exit status, or from a
 *           "N tests failed out of T" line (ctest's summary) it prints
 *   leaks   the test command under the debug heap over the candidate (ALLOY_DEBUG=1, JSON
 *           report per process), or under valgrind's memcheck with --valgrind
 *   stress  the stress command under the candidate, once
 *   bench   the bench command: baseline, candidate, baseline again (A/A), interleaved rounds
 *   soak    the soak command under the candidate for a duration, RSS sampled, growth fitted
 *
 * Runs go through runner.h; medians, intervals and tests through stats.h.
 */
#define _GNU_SOURCE
#include "commands.h"
#include "dashboard.h"
#include "json.h"
#include "progress.h"
#include "runner.h"
#include "stats.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <limits.h>
#include <unistd.h>

/* Exit statuses: the verdicts are 0, 1, 2; so usage errors take EX_USAGE (sysexits.h) here,
 * not the 2 of the other sub-commands, and a validation that could not be carried out 3. */
enum { VAL_GO = 0, VAL_CONDITIONAL = 1, VAL_NOGO = 2, VAL_FAILED = 3, VAL_USAGE = 64 };
enum { VAL_OFF = -1 }; /* a criterion's action when it is switched off */

static const char help[] =
    "usage: alloy validate --baseline SPEC --candidate SPEC [--tests CMD] [--bench CMD]\n"
    "                      [--stress CMD] [--soak CMD --duration D] [--criteria FILE]\n"
    "                      [--runs N] [--skip PHASE[,PHASE...]] [--valgrind]\n"
    "                      [--timeout S] [--report-md FILE] [--report-json FILE] [--force]\n"
    "\n"
    "Take an allocator change through five phases and judge it GO, CONDITIONAL GO or NO-GO:\n"
    "  smoke   --tests CMD under the candidate: crashes, and failures from the exit status or\n"
    "          from a line 'N tests failed out of T' (ctest's summary) the command prints\n"
    "  leaks   --tests CMD under the debug heap over the candidate (ALLOY_DEBUG=1): leaked\n"
    "          bytes (rate per hour of the smoke run's time) and memory errors; --valgrind\n"
    "          runs it under valgrind's memcheck instead\n"
    "  stress  --stress CMD under the candidate, once: crashes and failures\n"
    "  bench   --bench CMD: baseline, candidate and baseline again, N interleaved rounds;\n"
    "          medians of wall time, CPU time and peak RSS, 95%% bootstrap intervals,\n"
    "          Mann-Whitney U, and the baseline against itself (A/A) for the noise\n"
    "  soak    --soak CMD under the candidate for --duration D (e.g. 90s, 30m, 24h), then\n"
    "          SIGTERM to its process group; the group's RSS sampled from /proc, growth per\n"
    "          hour fitted by least squares\n"
    "A phase whose command is not given is not run.\n"
    "\n"
    "  --baseline SPEC, --candidate SPEC   NAME (one of: %s)\n"
    "                  or NAME:PATH (that backend's library loaded from PATH, an absolute path)\n"
    "  --criteria FILE lines 'NAME = LIMIT [no-go|conditional|off]' ('#' comments); defaults:\n"
    "                  crashes = 0 no-go, memory_errors = 0 no-go, leak_mb_per_hour = 1 no-go,\n"
    "                  slower_pct = 10 conditional (wall time), slower_cpu_pct = 10\n"
    "                  conditional (user + system time), more_memory_pct = 20 conditional,\n"
    "                  test_failures_pct = 5 conditional, soak_growth_mb_per_hour = 1 no-go,\n"
    "                  stress_peak_rss_mb = 100 off (the stress run's peak RSS),\n"
    "                  bench_rounds_missing = 0 conditional (rounds short of 5 compared)\n"
    "  --runs N        bench rounds (default 10, at least 5)\n"
    "  --timeout S     a run (not the soak) still going after S seconds is killed, with what it\n"
    "                  started, and counts as a failed run (\"timed out after S s\")\n"
    "  --skip PHASE    leave phases out (smoke, leaks, stress, bench, soak; comma-separated)\n"
    "  --valgrind      the leaks phase under valgrind's memcheck (which then serves memory)\n"
    "  --report-md FILE, --report-json FILE   write the reports\n"
    "  -f, --force     replace report files that exist\n"
    "  -h, --help      show this help\n"
    "\n"
    "CMD is one command line split into words by validate itself, never by a shell: blanks\n"
    "separate words, '...' keeps text as it is, \"...\" keeps it too except \\\" and \\\\, a\n"
    "backslash outside quotes keeps the next character; no variables, globs or redirections\n"
    "(write \"sh -c '...'\" to have them). MB is 10^6 bytes.\n"
    "\n"
    "Exit status: 0 GO, 1 CONDITIONAL GO, 2 NO-GO; 3 no verdict: the validation could not be\n"
    "carried out (no override library, a spec that does not load, a report not written) or a\n"
    "run was stopped by SIGINT, SIGQUIT, SIGTERM or SIGHUP (any other signal is a crash);\n"
    "64 usage error (bad option, criteria file or spec).\n";

/* ---- criteria ---------------------------------------------------------------------------- */

enum {
    K_CRASHES,
    K_MEMORY_ERRORS,
    K_LEAK,
    K_SLOWER,
    K_SLOWER_CPU,
    K_MEMORY,
    K_FAILURES,
    K_SOAK,
    K_STRESS_RSS,
    K_FEW_ROUNDS,
    K_N
};

/* --runs takes no fewer, and fewer rounds compared (failed runs dropped) are a reason of their
 * own, "too few rounds to compare". */
#define MIN_ROUNDS CLI_STATS_MIN_RUNS

typedef struct criterion {
    const char *key;
    const char *unit; /* how the limit reads: "" (a count), "%", "MB/h" */
    double limit;     /* the figure may reach the limit; above it the action applies */
    int action;       /* VAL_NOGO, VAL_CONDITIONAL or VAL_OFF */
} criterion;

static const criterion default_criteria[K_N] = {
    [K_CRASHES] = {"crashes", "", 0, VAL_NOGO},
    [K_MEMORY_ERRORS] = {"memory_errors", "", 0, VAL_NOGO},
    [K_LEAK] = {"leak_mb_per_hour", "MB/h", 1, VAL_NOGO},
    [K_SLOWER] = {"slower_pct", "%", 10, VAL_CONDITIONAL},
    [K_SLOWER_CPU] = {"slower_cpu_pct", "%", 10, VAL_CONDITIONAL},
    [K_MEMORY] = {"more_memory_pct", "%", 20, VAL_CONDITIONAL},
    [K_FAILURES] = {"test_failures_pct", "%", 5, VAL_CONDITIONAL},
    [K_SOAK] = {"soak_growth_mb_per_hour", "MB/h", 1, VAL_NOGO},
    [K_STRESS_RSS] = {"stress_peak_rss_mb", "MB", 100, VAL_OFF},
    [K_FEW_ROUNDS] = {"bench_rounds_missing", "", 0, VAL_CONDITIONAL},
};

/* "10%" but "1 MB/h". */
static const char *unit_gap(const criterion *c) {
    return c->unit[0] == 'M' ? " " : "";
}

static const char *verdict_name(int v) {
    return v == VAL_NOGO ? "NO-GO" : v == VAL_CONDITIONAL ? "CONDITIONAL GO" : "GO";
}

static const char *action_name(int a) {
    return a == VAL_NOGO ? "no-go" : a == VAL_CONDITIONAL ? "conditional" : "off";
}

/* A usage error: one line, exit status VAL_USAGE (see the enum). */
__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    cli_vusage_error("validate", fmt, ap);
    va_end(ap);
    return VAL_USAGE;
}

/* A non-negative decimal number, all of s; false otherwise. */
static bool parse_number(const char *s, double *out) {
    if (*s == '\0' || *s == '-' || *s == '+') return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < 0) return false;
    *out = v;
    return true;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* Read a criteria file into c (already holding the defaults). VAL_GO, or VAL_USAGE after one
 * line "alloy validate: FILE:LINE: what is wrong". */
/* Up to 64 bytes of s for an error line, a control byte (a terminal escape, say) written as
 * \xNN so that a criteria file cannot write to the terminal through validate; out holds 257. */
static const char *shown(const char *s, char *out) {
    size_t k = 0;
    for (size_t i = 0; s[i] != '\0' && i < 64; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            k += (size_t)sprintf(out + k, "\\x%02x", c);
        else
            out[k++] = (char)c;
    }
    out[k] = '\0';
    return out;
}

static int criteria_load(criterion c[K_N], const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return usage_error("--criteria %s: %s", path, strerror(errno));
    char buf[512], esc[257];
    unsigned line = 0;
    int rc = VAL_GO;
    while (rc == VAL_GO && fgets(buf, sizeof buf, f) != NULL) {
        line++;
        if (strchr(buf, '\n') == NULL && !feof(f)) {
            rc = usage_error("%s:%u: line longer than %zu bytes", path, line, sizeof buf - 2);
            break;
        }
        char *hash = strchr(buf, '#');
        if (hash != NULL) *hash = '\0';
        char *s = trim(buf);
        if (*s == '\0') continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            rc = usage_error("%s:%u: expected 'NAME = LIMIT [no-go|conditional|off]'", path, line);
            break;
        }
        *eq = '\0';
        char *key = trim(s), *rest = trim(eq + 1);
        int k = 0;
        while (k < K_N && strcmp(c[k].key, key) != 0) k++;
        if (k == K_N) {
            rc = usage_error("%s:%u: unknown criterion '%s' (known: crashes, memory_errors, "
                             "leak_mb_per_hour, slower_pct, slower_cpu_pct, more_memory_pct, "
                             "test_failures_pct, "
                             "soak_growth_mb_per_hour, stress_peak_rss_mb, "
                             "bench_rounds_missing)",
                             path, line, shown(key, esc));
            break;
        }
        char *word = rest + strcspn(rest, " \t");
        if (*word != '\0') {
            *word++ = '\0';
            word = trim(word);
        }
        double v;
        if (!parse_number(rest, &v)) {
            rc = usage_error("%s:%u: %s: '%s' is not a number >= 0", path, line, key,
                             shown(rest, esc));
            break;
        }
        c[k].limit = v;
        if (strcmp(word, "no-go") == 0)
            c[k].action = VAL_NOGO;
        else if (strcmp(word, "conditional") == 0)
            c[k].action = VAL_CONDITIONAL;
        else if (strcmp(word, "off") == 0)
            c[k].action = VAL_OFF;
        else if (*word != '\0')
            rc = usage_error("%s:%u: %s: action '%s' is not no-go, conditional or off", path, line,
                             key, shown(word, esc));
    }
    if (rc == VAL_GO && ferror(f)) rc = usage_error("--criteria %s: read error", path);
    fclose(f);
    return rc;
}

/* ---- command lines ----------------------------------------------------------------------- */

/* A command split into words: argv holds pointers into one buffer. */
typedef struct words {
    char **argv; /* NULL-terminated */
    size_t n;
    char *buf;
} words;

static void words_free(words *w) {
    free(w->argv);
    free(w->buf);
    *w = (words){0};
}

/* Split s as the help text says. False with err set (unterminated quote, no word, memory). */
static bool words_split(words *w, const char *s, char *err, size_t errlen) {
    *w = (words){0};
    size_t len = strlen(s);
    w->buf = malloc(len + 1);
    w->argv = malloc((len / 2 + 2) * sizeof *w->argv);
    if (w->buf == NULL || w->argv == NULL) {
        snprintf(err, errlen, "out of memory");
        words_free(w);
        return false;
    }
    char *o = w->buf;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n') p++;
        if (*p == '\0') break;
        w->argv[w->n++] = o;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n') {
            if (*p == '\'') {
                const char *q = strchr(p + 1, '\'');
                if (q == NULL) {
                    snprintf(err, errlen, "unterminated ' in '%.80s'", s);
                    words_free(w);
                    return false;
                }
                memcpy(o, p + 1, (size_t)(q - p - 1));
                o += q - p - 1;
                p = q + 1;
            } else if (*p == '"') {
                p++;
                while (*p != '"') {
                    if (*p == '\0') {
                        snprintf(err, errlen, "unterminated \" in '%.80s'", s);
                        words_free(w);
                        return false;
                    }
                    if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) p++;
                    *o++ = *p++;
                }
                p++;
            } else if (*p == '\\' && p[1] != '\0') {
                *o++ = p[1];
                p += 2;
            } else {
                *o++ = *p++;
            }
        }
        *o++ = '\0';
    }
    w->argv[w->n] = NULL;
    if (w->n == 0) {
        snprintf(err, errlen, "empty command");
        words_free(w);
        return false;
    }
    return true;
}

/* words as a shell would need them written, for the lines that say what runs. */
static void print_words(FILE *f, char *const *argv) {
    for (size_t i = 0; argv[i] != NULL; i++) {
        const char *a = argv[i];
        bool plain = *a != '\0';
        for (const char *c = a; *c; c++)
            if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+%@",
                       *c) == NULL)
                plain = false;
        if (i > 0) fputc(' ', f);
        if (plain) {
            fputs(a, f);
            continue;
        }
        fputc('\'', f);
        for (const char *c = a; *c; c++)
            if (*c == '\'')
                fputs("'\\''", f);
            else
                fputc(*c, f);
        fputc('\'', f);
    }
}

/* ---- phases and findings ----------------------------------------------------------------- */

enum { PH_SMOKE, PH_LEAKS, PH_STRESS, PH_BENCH, PH_SOAK, PH_N };
static const char *const phase_names[PH_N] = {"smoke", "leaks", "stress", "bench", "soak"};

/* A figure a phase measured, for both reports. */
typedef struct fact {
    char name[40];
    char unit[8];   /* of num: "s", "KiB", "%", "MB/h", "B", or "" (a count, or text only) */
    char text[200]; /* as shown in Markdown */
    double num;     /* the number, NAN for text only */
} fact;

#define MAX_FACTS 40
#define MAX_REASONS 32

typedef struct phase {
    bool ran;
    char skipped[160]; /* why not, when !ran */
    char command[1024];
    char under[300]; /* the backend spec and the mode */
    fact facts[MAX_FACTS];
    size_t nfacts;
} phase;

typedef struct reason {
    int criterion;
    int phase;
    int verdict;
    double figure;
    char text[400];
} reason;

typedef struct validation {
    const char *baseline, *candidate;
    char loaded[2][PATH_MAX + 160]; /* what each spec really loads: "mimalloc 2.0.9 from PATH" */
    criterion crit[K_N];
    phase ph[PH_N];
    reason reasons[MAX_REASONS];
    size_t nreasons;
    char notes[16][300];
    size_t nnotes;
    unsigned runs;
    unsigned timeout; /* --timeout: seconds a run may take (not the soak); 0: no limit */
    bool valgrind;
    double duration_s;
    double smoke_wall_s; /* NAN until smoke ran cleanly */
    char workdir[256];
} validation;

__attribute__((format(printf, 5, 6))) static void add_fact(phase *p, const char *name, double num,
                                                           const char *unit, const char *fmt, ...) {
    if (p->nfacts == MAX_FACTS) return;
    fact *f = &p->facts[p->nfacts++];
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->unit, sizeof f->unit, "%s", unit);
    f->num = num;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->text, sizeof f->text, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 2, 3))) static void add_note(validation *v, const char *fmt, ...) {
    if (v->nnotes == sizeof v->notes / sizeof v->notes[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->notes[v->nnotes++], sizeof v->notes[0], fmt, ap);
    va_end(ap);
    printf("  note: %s\n", v->notes[v->nnotes - 1]);
}

/* Judge figure against criterion k: above the limit (and the criterion on), a reason with the
 * figure; the text says what was measured. */
__attribute__((format(printf, 5, 6))) static void judge(validation *v, int k, int phase_i,
                                                        double figure, const char *fmt, ...) {
    const criterion *c = &v->crit[k];
    if (c->action == VAL_OFF || !(figure > c->limit) || v->nreasons == MAX_REASONS) return;
    reason *r = &v->reasons[v->nreasons++];
    r->criterion = k;
    r->phase = phase_i;
    r->verdict = c->action;
    r->figure = figure;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->text, sizeof r->text, fmt, ap);
    va_end(ap);
    printf("  %s: %s (%s limit %g%s%s)\n", verdict_name(r->verdict), r->text, c->key, c->limit,
           unit_gap(c), c->unit);
}

/* A crash is a signal; a run --timeout killed failed instead ("timed out after S s"). */
static bool is_crash(const cli_run_result *r) {
    return r->signal != 0 && !r->timed_out;
}

/* Say what a phase runs before it runs. */
static void phase_start(validation *v, int i, const char *spec, const char *mode,
                        char *const *argv) {
    phase *p = &v->ph[i];
    p->ran = true;
    snprintf(p->under, sizeof p->under, "%s%s%s", spec, *mode ? ", " : "", mode);
    FILE *m = fmemopen(p->command, sizeof p->command - 1, "w");
    if (m != NULL) {
        print_words(m, argv);
        fclose(m);
    }
    printf("\n== %d/%d %s: under %s\n   $ %s\n", i + 1, PH_N, phase_names[i], p->under, p->command);
    fflush(stdout);
}

/* The last lines of text, indented, on stdout (what a failed run said). */
static void print_tail(const char *text, int lines) {
    if (text == NULL || *text == '\0') return;
    const char *end = text + strlen(text), *p = end;
    if (p > text && p[-1] == '\n') p--;
    for (int n = 0; p > text; p--)
        if (p[-1] == '\n' && ++n == lines) break;
    for (const char *q = p; q < end;) {
        size_t l = strcspn(q, "\n");
        printf("   | %.*s\n", (int)l, q);
        q += l + (q[l] == '\n');
    }
}

/* ctest's summary "NN% tests passed, F tests failed out of T": F and T from the last such line
 * of out; false when there is none. */
static bool parse_test_count(const char *out, unsigned long *failed, unsigned long *total) {
    const char *key = " tests failed out of ", *hit = NULL;
    for (const char *p = out; p != NULL && (p = strstr(p, key)) != NULL; p++) hit = p;
    if (hit == NULL) return false;
    const char *b = hit;
    while (b > out && b[-1] >= '0' && b[-1] <= '9') b--;
    if (b == hit) return false;
    *failed = strtoul(b, NULL, 10);
    char *end;
    *total = strtoul(hit + strlen(key), &end, 10);
    return end != hit + strlen(key) && *failed <= *total;
}

/* Tests ctest lists as crashed ("(SEGFAULT)", "(Subprocess aborted)", ...) in out. */
static unsigned long count_test_crashes(const char *out) {
    static const char *const marks[] = {"(SEGFAULT)",  "aborted)", "(ILLEGAL)",  "(BUS)",
                                        "(Exception)", "killed)",  "(NUMERICAL)"};
    const char *list = out ? strstr(out, "The following tests FAILED:") : NULL;
    unsigned long n = 0;
    for (const char *p = list; p != NULL && *p != '\0';) {
        size_t l = strcspn(p, "\n");
        for (size_t k = 0; k < sizeof marks / sizeof marks[0]; k++) {
            const char *m = memmem(p, l, marks[k], strlen(marks[k]));
            if (m != NULL) {
                n++;
                break;
            }
        }
        p += l + (p[l] == '\n');
    }
    return n;
}

static bool setup_failed(const char *what) {
    cli_error("validate", "%s: %s", what,
              errno == ENOENT ? "cannot find liballoy-override.so (set ALLOY_OVERRIDE_LIB)"
                              : strerror(errno));
    return false;
}

/* A run the user stopped (cli_run_stopped: ^C, ^\, SIGTERM, SIGHUP, passed on to it) stops the
 * validation, without a verdict. */
static bool interrupted(int sig) {
    if (!cli_run_stopped(sig)) return false;
    cli_error("validate", "interrupted (%s): no verdict", strsignal(sig));
    return true;
}

/* Phase i's one run of argv under the candidate, its output captured: how it ended into how
 * (160 bytes) and the phase's first facts. False (said) when the run could not be set up. */
static bool run_candidate(validation *v, int i, char *const *argv, cli_run_result *r, char *how) {
    phase_start(v, i, v->candidate, "", argv);
    cli_run_spec s = {v->candidate, NULL};
    if (!cli_run_once("validate", argv, &s,
                      CLI_RUN_CAPTURE | CLI_RUN_QUIET | CLI_RUN_TIMEOUT(v->timeout), r))
        return setup_failed(phase_names[i]);
    if (interrupted(r->signal)) {
        cli_run_result_free(r);
        return false;
    }
    cli_run_describe(r, how, 160);
    add_fact(&v->ph[i], "ended", NAN, "", "%s", how);
    add_fact(&v->ph[i], "wall_s", r->wall_s, "s", "%.3f s", r->wall_s);
    return true;
}

/* ---- smoke ------------------------------------------------------------------------------- */

static bool phase_smoke(validation *v, char *const *argv) {
    phase *p = &v->ph[PH_SMOKE];
    cli_run_result r;
    char how[160];
    if (!run_candidate(v, PH_SMOKE, argv, &r, how)) return false;
    unsigned long failed, total, crashed = count_test_crashes(r.out);
    bool counted = parse_test_count(r.out, &failed, &total) && total > 0;
    if (!counted) {
        total = 1; /* a crash is its own reason, not also a failed run */
        failed = cli_run_ok(&r) || is_crash(&r) ? 0 : 1;
    }
    /* ctest exits 0 when its filter matched nothing: a suite that tested nothing is a failed
     * one here, or a GO would rest on no test at all. */
    bool none = !counted && ((r.out != NULL && strstr(r.out, "No tests were found") != NULL) ||
                             strstr(r.err_line, "No tests were found") != NULL);
    if (none) {
        failed = 1;
        add_note(v, "smoke: ctest found no tests to run; counted as a failed run");
    }
    if (is_crash(&r)) crashed++;
    double pct = 100.0 * (double)failed / (double)total;
    add_fact(p, "tests", (double)total, "", "%lu%s", total,
             counted ? " (from the command's 'tests failed out of' line)" : " (the exit status)");
    add_fact(p, "failed", (double)failed, "", "%lu", failed);
    add_fact(p, "failed_pct", pct, "%", "%.1f%%", pct);
    add_fact(p, "crashes", (double)crashed, "", "%lu", crashed);
    printf("   %s in %.2f s; %lu of %lu %s failed (%.1f%%), %lu crashed\n", how, r.wall_s, failed,
           total, counted ? "tests" : "runs", pct, crashed);
    if (!cli_run_ok(&r)) {
        if (*r.err_line) printf("   stderr: %s\n", r.err_line);
        print_tail(r.out, 8);
    } else {
        v->smoke_wall_s = r.wall_s;
    }
    judge(v, K_CRASHES, PH_SMOKE, (double)crashed, "smoke: %lu crash%s under %s (%s)", crashed,
          crashed == 1 ? "" : "es", v->candidate, how);
    judge(v, K_FAILURES, PH_SMOKE, pct, "smoke: %lu of %lu %s failed (%.1f%%)", failed, total,
          counted ? "tests" : "runs", pct);
    cli_run_result_free(&r);
    return true;
}

/* ---- leaks ------------------------------------------------------------------------------- */

typedef struct leak_tally {
    uint64_t bytes, blocks;
    unsigned processes; /* debug heap: report files (one per process it ran in); valgrind:
                         * leak summaries */
    unsigned long errors;
    char first_error[200];
    struct {
        uint64_t bytes, blocks;
        char where[200];
    } top[3];
} leak_tally;

/* Where a report points: the first frame of its first stack that has a function name, as
 * "function (file:line)"; else the first frame as "module+offset". */
static void first_frame(const js_value *o, char *buf, size_t n) {
    const js_value *frames = js_get(js_at(js_get(o, "stacks"), 0), "frames");
    for (size_t i = 0; frames != NULL && i < frames->n; i++) {
        const js_value *fr = js_at(frames, i);
        const char *fn = js_str(fr, "function"), *file = js_str(fr, "file");
        if (fn == NULL || *fn == '\0') continue;
        if (file != NULL && *file != '\0')
            snprintf(buf, n, "%s (%s:%llu)", fn, file, (unsigned long long)js_u64(fr, "line"));
        else
            snprintf(buf, n, "%s", fn);
        return;
    }
    const js_value *fr = js_at(frames, 0);
    const char *mod = js_str(fr, "module"), *off = js_str(fr, "offset");
    if (mod != NULL && *mod != '\0') {
        const char *base = strrchr(mod, '/');
        snprintf(buf, n, "%s+%s", base ? base + 1 : mod, off ? off : "?");
    } else {
        snprintf(buf, n, "an unknown place");
    }
}

static void tally_leak_site(leak_tally *t, const js_value *o) {
    uint64_t b = js_u64(o, "bytes");
    size_t slot = 3;
    for (size_t i = 0; i < 3; i++)
        if (b > t->top[i].bytes) {
            slot = i;
            break;
        }
    if (slot == 3) return;
    memmove(&t->top[slot + 1], &t->top[slot], (2 - slot) * sizeof t->top[0]);
    t->top[slot].bytes = b;
    t->top[slot].blocks = js_u64(o, "blocks");
    first_frame(o, t->top[slot].where, sizeof t->top[slot].where);
}

/* Add one debug-heap JSON-lines report (docs/debug.md) to t. */
static void tally_debug_report(leak_tally *t, const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        js_doc d;
        char err[160];
        if (!js_parse(&d, line, (size_t)len, err, sizeof err)) continue;
        const char *kind = js_str(d.root, "kind");
        if (kind == NULL) {
        } else if (strcmp(kind, "leak-summary") == 0) {
            t->bytes += js_u64(d.root, "bytes");
            t->blocks += js_u64(d.root, "blocks");
        } else if (strcmp(kind, "leak") == 0) {
            tally_leak_site(t, d.root);
        } else {
            if (t->errors++ == 0) {
                char where[160];
                first_frame(d.root, where, sizeof where);
                snprintf(t->first_error, sizeof t->first_error, "%s at %s", kind, where);
            }
        }
        js_free(&d);
    }
    free(line);
    fclose(f);
}

/* A number as valgrind prints it ("1,048,576"), from *p on; *p moves past it. */
static uint64_t vg_number(const char **p) {
    uint64_t n = 0;
    for (; (**p >= '0' && **p <= '9') || **p == ','; (*p)++)
        if (**p != ',') n = n * 10 + (uint64_t)(**p - '0');
    return n;
}

/* The text of a valgrind log line after its "==PID== " prefix. */
static const char *vg_text(const char *line) {
    const char *p = strstr(line, "== ");
    return p != NULL && line[0] == '=' ? p + 3 : line;
}

/* Add one valgrind log to t: "definitely lost: N bytes in M blocks" is the leak, "ERROR
 * SUMMARY: N errors" the memory errors (leaks are not errors: --errors-for-leak-kinds=none);
 * the first error is named by its title line and the first frame under it. */
static void tally_valgrind_log(leak_tally *t, const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return;
    static const char *const titles[] = {"Invalid ",        "Conditional jump", "Use of uninit",
                                         "Mismatched free", "Syscall param",    "Source and dest",
                                         "Argument '"};
    char line[1024], title[120] = "";
    bool want_frame = false;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        const char *text = vg_text(line), *p;
        if ((p = strstr(text, "definitely lost: ")) != NULL) {
            p += 17;
            t->bytes += vg_number(&p);
            if ((p = strstr(p, " in ")) != NULL) {
                p += 4;
                t->blocks += vg_number(&p);
            }
            t->processes++;
        } else if ((p = strstr(text, "ERROR SUMMARY: ")) != NULL) {
            p += 15;
            t->errors += vg_number(&p);
        } else if (title[0] == '\0') {
            for (size_t i = 0; i < sizeof titles / sizeof titles[0]; i++)
                if (strncmp(text, titles[i], strlen(titles[i])) == 0) {
                    snprintf(title, sizeof title, "%.100s", text);
                    want_frame = true;
                }
        } else if (want_frame && (p = strstr(text, "at 0x")) != NULL) {
            const char *where = strstr(p, ": ");
            if (t->first_error[0] == '\0')
                snprintf(t->first_error, sizeof t->first_error, "%.100s at %.90s", title,
                         where ? where + 2 : p);
            want_frame = false;
        }
    }
    if (title[0] != '\0' && t->first_error[0] == '\0')
        snprintf(t->first_error, sizeof t->first_error, "%s", title);
    fclose(f);
}

static void tally_dir(leak_tally *t, const char *dir, const char *prefix, bool valgrind) {
    DIR *d = opendir(dir);
    if (d == NULL) return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (valgrind)
            tally_valgrind_log(t, path);
        else if (strstr(e->d_name, ".json") != NULL) {
            /* The debug heap creates its file at start-up and writes a leak summary only when
             * the exit check found leaks: an empty file is a process without leaks. */
            t->processes++;
            tally_debug_report(t, path);
        }
    }
    closedir(d);
}

static bool phase_leaks(validation *v, char *const *argv) {
    phase *p = &v->ph[PH_LEAKS];
    char report[300], log[300], vglog[300];
    snprintf(report, sizeof report, "ALLOY_DEBUG_REPORT=%s/debug-%%p.json", v->workdir);
    snprintf(log, sizeof log, "ALLOY_DEBUG_LOG=%s/debug-%%p.log", v->workdir);
    snprintf(vglog, sizeof vglog, "--log-file=%s/valgrind-%%p.log", v->workdir);
    const char *debug_env[] = {"ALLOY_DEBUG=1", report, log, NULL};
    size_t n = 0;
    while (argv[n] != NULL) n++;
    /* memcheck takes over liballoy-override's malloc (the soname synonym), so it sees every
     * block; the candidate is loaded but does not serve memory in this run. */
    char *vg_head[] = {"valgrind",
                       "--leak-check=full",
                       "--errors-for-leak-kinds=none",
                       "--trace-children=yes",
                       "--soname-synonyms=somalloc=liballoy-override.so*",
                       vglog};
    size_t nh = sizeof vg_head / sizeof vg_head[0];
    char **vargv = NULL;
    if (v->valgrind) {
        vargv = calloc(nh + n + 1, sizeof *vargv);
        if (vargv == NULL) return setup_failed("leaks run");
        memcpy(vargv, vg_head, sizeof vg_head);
        memcpy(vargv + nh, argv, n * sizeof *argv);
    }
    char *const *run_argv = v->valgrind ? vargv : argv;
    phase_start(v, PH_LEAKS, v->candidate,
                v->valgrind ? "valgrind memcheck (memcheck serves the memory)"
                            : "debug heap (ALLOY_DEBUG=1)",
                run_argv);
    cli_run_spec s = {v->candidate, v->valgrind ? NULL : debug_env};
    cli_run_result r;
    bool ok = cli_run_once("validate", run_argv, &s,
                           CLI_RUN_CAPTURE | CLI_RUN_QUIET | CLI_RUN_TIMEOUT(v->timeout), &r);
    free(vargv);
    if (!ok) return setup_failed("leaks run");
    if (interrupted(r.signal)) {
        cli_run_result_free(&r);
        return false;
    }
    char how[160];
    cli_run_describe(&r, how, sizeof how);
    leak_tally t = {0};
    tally_dir(&t, v->workdir, v->valgrind ? "valgrind-" : "debug-", v->valgrind);
    bool from_smoke = !isnan(v->smoke_wall_s);
    double secs = from_smoke ? v->smoke_wall_s : r.wall_s;
    if (secs < 1e-3) secs = 1e-3;
    double rate = (double)t.bytes / 1e6 / (secs / 3600.0);
    add_fact(p, "ended", NAN, "", "%s", how);
    add_fact(p, "wall_s", r.wall_s, "s", "%.3f s", r.wall_s);
    add_fact(p, "processes_reported", t.processes, "", "%u", t.processes);
    add_fact(p, "leaked_bytes", (double)t.bytes, "B", "%llu", (unsigned long long)t.bytes);
    add_fact(p, "leaked_blocks", (double)t.blocks, "", "%llu", (unsigned long long)t.blocks);
    add_fact(p, "leak_mb_per_hour", rate, "MB/h", "%.3g MB/h (over %.3f s, the %s run's time)",
             rate, secs, from_smoke ? "smoke" : "leaks");
    add_fact(p, "memory_errors", (double)t.errors, "", "%lu", t.errors);
    for (size_t i = 0; i < 3 && t.top[i].bytes > 0; i++)
        add_fact(p, "leak_site", (double)t.top[i].bytes, "B", "%llu bytes in %llu blocks from %s",
                 (unsigned long long)t.top[i].bytes, (unsigned long long)t.top[i].blocks,
                 t.top[i].where);
    printf("   %s in %.2f s; %u process report%s: %llu bytes in %llu blocks leaked, %lu memory "
           "error%s\n",
           how, r.wall_s, t.processes, t.processes == 1 ? "" : "s", (unsigned long long)t.bytes,
           (unsigned long long)t.blocks, t.errors, t.errors == 1 ? "" : "s");
    for (size_t i = 0; i < 3 && t.top[i].bytes > 0; i++)
        printf("   leak: %llu bytes in %llu blocks from %s\n", (unsigned long long)t.top[i].bytes,
               (unsigned long long)t.top[i].blocks, t.top[i].where);
    if (is_crash(&r))
        add_note(v,
                 "leaks: the test command was %s; the exit leak check does not run in a "
                 "process that crashed, so its leaks are not in the figure",
                 how);
    if (t.processes == 0) {
        add_note(v, "leaks: no process wrote a %s (%s); the leak figure is not known",
                 v->valgrind ? "leak summary" : "debug heap report", how);
        if (*r.err_line) printf("   stderr: %s\n", r.err_line);
    }
    judge(v, K_LEAK, PH_LEAKS, rate,
          "leaks: %llu bytes in %llu blocks leaked in a %.3f s run = %.3g MB/h%s%s",
          (unsigned long long)t.bytes, (unsigned long long)t.blocks, secs, rate,
          t.top[0].bytes ? "; largest from " : "", t.top[0].where);
    judge(v, K_MEMORY_ERRORS, PH_LEAKS, (double)t.errors, "leaks: %lu memory error%s (first: %s)",
          t.errors, t.errors == 1 ? "" : "s", t.first_error);
    /* The debug heap aborts on the errors it reports: those are not crashes of the candidate. */
    if (is_crash(&r) && t.errors == 0)
        judge(v, K_CRASHES, PH_LEAKS, 1, "leaks: the test command %s under the debug heap", how);
    cli_run_result_free(&r);
    return true;
}

/* ---- stress ------------------------------------------------------------------------------ */

static bool phase_stress(validation *v, char *const *argv) {
    phase *p = &v->ph[PH_STRESS];
    cli_run_result r;
    char how[160];
    if (!run_candidate(v, PH_STRESS, argv, &r, how)) return false;
    add_fact(p, "cpu_s", r.user_s + r.sys_s, "s", "%.3f s", r.user_s + r.sys_s);
    add_fact(p, "peak_rss_kb", (double)r.max_rss_kb, "KiB", "%ld KiB", r.max_rss_kb);
    printf("   %s in %.2f s, peak RSS %ld KiB\n", how, r.wall_s, r.max_rss_kb);
    if (!cli_run_ok(&r)) {
        if (*r.err_line) printf("   stderr: %s\n", r.err_line);
        print_tail(r.out, 8);
    }
    judge(v, K_CRASHES, PH_STRESS, is_crash(&r) ? 1 : 0, "stress: 1 crash under %s (%s)",
          v->candidate, how);
    if (!is_crash(&r))
        judge(v, K_FAILURES, PH_STRESS, cli_run_ok(&r) ? 0 : 100, "stress: the run failed (%s)",
              how);
    double rss_mb = (double)r.max_rss_kb * 1024 / 1e6;
    judge(v, K_STRESS_RSS, PH_STRESS, rss_mb, "stress: peak RSS %.1f MB (%ld KiB)", rss_mb,
          r.max_rss_kb);
    cli_run_result_free(&r);
    return true;
}

/* ---- bench ------------------------------------------------------------------------------- */

struct bench_progress {
    cli_progress pr;
    const cli_run_result *res;
};

static bool bench_tick(void *arg, unsigned round, unsigned rounds, size_t spec) {
    static const char *const who[] = {"baseline", "candidate", "baseline again"};
    struct bench_progress *b = arg;
    size_t k = (size_t)round * 3 + spec;
    if (k > 0 && cli_run_stopped(b->res[k - 1].signal)) return false; /* the user stopped it */
    cli_progress_update(&b->pr, false, "   round %u/%u: %s", round + 1, rounds, who[spec]);
    return true;
}

/* One compared figure: candidate against baseline, and baseline against itself. */
typedef struct compared {
    double base, cand, again; /* medians */
    double lo, hi;            /* 95% interval of cand / base */
    double aa, aa_lo, aa_hi;  /* again / base and its interval */
    double p;                 /* Mann-Whitney, base against cand */
    double change_pct, noise_pct;
    bool beyond_noise;
} compared;

static void compare(const double *a, const double *c, const double *a2, size_t n, compared *o) {
    o->base = cli_median(a, n);
    o->cand = cli_median(c, n);
    o->again = cli_median(a2, n);
    o->lo = o->hi = o->aa_lo = o->aa_hi = NAN;
    cli_bootstrap_ratio(a, n, c, n, 0.95, CLI_STATS_RESAMPLES, CLI_STATS_SEED, &o->lo, &o->hi);
    cli_bootstrap_ratio(a, n, a2, n, 0.95, CLI_STATS_RESAMPLES, CLI_STATS_SEED, &o->aa_lo,
                        &o->aa_hi);
    o->aa = o->base > 0 ? o->again / o->base : NAN;
    o->p = cli_mann_whitney(a, n, c, n, NULL);
    o->change_pct = o->base > 0 ? (o->cand / o->base - 1) * 100 : NAN;
    o->noise_pct = cli_aa_noise(o->aa, o->aa_lo, o->aa_hi) * 100;
    /* A difference counts when the runs tell the two apart (p < 0.05), the interval of the
     * ratio excludes 1, and it is larger than the baseline's difference from itself. */
    o->beyond_noise = o->p < 0.05 && (o->lo > 1 || o->hi < 1) && fabs(o->change_pct) > o->noise_pct;
}

static void bench_facts(phase *p, const char *what, const char *unit, const compared *c) {
    char name[40];
    snprintf(name, sizeof name, "%s_baseline", what);
    add_fact(p, name, c->base, unit, "%.4g %s (median)", c->base, unit);
    snprintf(name, sizeof name, "%s_candidate", what);
    add_fact(p, name, c->cand, unit, "%.4g %s (median)", c->cand, unit);
    snprintf(name, sizeof name, "%s_change_pct", what);
    add_fact(p, name, c->change_pct, "%",
             "%+.1f%% (95%% CI %+.1f%% to %+.1f%%, Mann-Whitney p = %.3g)", c->change_pct,
             (c->lo - 1) * 100, (c->hi - 1) * 100, c->p);
    snprintf(name, sizeof name, "%s_aa_noise_pct", what);
    add_fact(p, name, c->noise_pct, "%",
             "%.1f%% (baseline again / baseline = %.3f, 95%% CI %.3f to %.3f)", c->noise_pct, c->aa,
             c->aa_lo, c->aa_hi);
}

static bool phase_bench(validation *v, char *const *argv) {
    phase *p = &v->ph[PH_BENCH];
    phase_start(v, PH_BENCH, v->candidate, "", argv);
    snprintf(p->under, sizeof p->under, "%s, %s and %s again, %u interleaved rounds", v->baseline,
             v->candidate, v->baseline, v->runs);
    printf("   against %s; %u rounds of: baseline, candidate, baseline again\n", v->baseline,
           v->runs);
    const cli_run_spec specs[3] = {{v->baseline, NULL}, {v->candidate, NULL}, {v->baseline, NULL}};
    size_t total = (size_t)v->runs * 3;
    cli_run_result *res = calloc(total, sizeof *res);
    double *vals = calloc(total * 3, sizeof *vals);
    if (res == NULL || vals == NULL) {
        free(res);
        free(vals);
        errno = ENOMEM;
        return setup_failed("bench runs");
    }
    struct bench_progress bp = {.res = res};
    cli_progress_init(&bp.pr, stderr, 150);
    bool ok =
        cli_run_interleaved("validate", argv, specs, 3, v->runs,
                            CLI_RUN_QUIET | CLI_RUN_TIMEOUT(v->timeout), res, bench_tick, &bp);
    cli_progress_done(&bp.pr);
    int stop = 0;
    for (size_t i = 0; i < total && stop == 0; i++)
        if (cli_run_stopped(res[i].signal)) stop = res[i].signal;
    if (!ok || stop != 0) {
        for (size_t i = 0; i < total; i++) cli_run_result_free(&res[i]);
        free(res);
        free(vals);
        return stop != 0 ? !interrupted(stop) : setup_failed("bench runs");
    }
    /* Failed runs are counted, never averaged; the comparison takes the rounds where all three
     * runs succeeded, so the three samples stay paired by round. */
    unsigned crashed[3] = {0}, failed[3] = {0};
    const cli_run_result *first_bad[3] = {NULL}, *first_crash = NULL, *first_fail = NULL;
    double *wall[3], *cpu[3], *rss[3];
    for (int s = 0; s < 3; s++) {
        wall[s] = vals + (size_t)s * v->runs;
        cpu[s] = vals + total + (size_t)s * v->runs;
        rss[s] = vals + 2 * total + (size_t)s * v->runs;
    }
    size_t n = 0;
    for (unsigned r = 0; r < v->runs; r++) {
        bool all = true;
        for (int s = 0; s < 3; s++) {
            const cli_run_result *x = &res[(size_t)r * 3 + (size_t)s];
            if (cli_run_ok(x)) continue;
            all = false;
            if (is_crash(x))
                crashed[s]++;
            else
                failed[s]++;
            if (first_bad[s] == NULL) first_bad[s] = x;
            if (s == 1 && is_crash(x) && first_crash == NULL) first_crash = x;
            if (s == 1 && !is_crash(x) && first_fail == NULL) first_fail = x;
        }
        if (!all) continue;
        for (int s = 0; s < 3; s++) {
            wall[s][n] = res[(size_t)r * 3 + (size_t)s].wall_s;
            cpu[s][n] =
                res[(size_t)r * 3 + (size_t)s].user_s + res[(size_t)r * 3 + (size_t)s].sys_s;
            rss[s][n] = (double)res[(size_t)r * 3 + (size_t)s].max_rss_kb;
        }
        n++;
    }
    char how[160] = "", crash_how[160] = "", fail_how[160] = "";
    if (first_crash != NULL) cli_run_describe(first_crash, crash_how, sizeof crash_how);
    if (first_fail != NULL) cli_run_describe(first_fail, fail_how, sizeof fail_how);
    add_fact(p, "rounds", v->runs, "", "%u", v->runs);
    add_fact(p, "rounds_compared", (double)n, "", "%zu (every run of the round succeeded)", n);
    add_fact(p, "candidate_crashes", crashed[1], "", "%u", crashed[1]);
    add_fact(p, "candidate_failures", failed[1], "", "%u", failed[1]);
    add_fact(p, "baseline_failures", failed[0] + failed[2] + crashed[0] + crashed[2], "", "%u",
             failed[0] + failed[2] + crashed[0] + crashed[2]);
    if (first_bad[1] != NULL) {
        cli_run_describe(first_bad[1], how, sizeof how);
        printf("   candidate: %u crashed, %u failed of %u runs (first: %s%s%s)\n", crashed[1],
               failed[1], v->runs, how, *first_bad[1]->err_line ? "; stderr: " : "",
               first_bad[1]->err_line);
    }
    judge(v, K_CRASHES, PH_BENCH, crashed[1], "bench: %u of %u candidate runs crashed (%s)",
          crashed[1], v->runs, crash_how);
    double fpct = 100.0 * failed[1] / v->runs;
    judge(v, K_FAILURES, PH_BENCH, fpct, "bench: %u of %u candidate runs failed (%.0f%%; %s)",
          failed[1], v->runs, fpct, fail_how);
    if (first_bad[0] != NULL || first_bad[2] != NULL) {
        char bhow[160];
        cli_run_describe(first_bad[0] ? first_bad[0] : first_bad[2], bhow, sizeof bhow);
        add_note(v, "bench: %u baseline runs failed (first: %s); the baseline itself is not sound",
                 failed[0] + failed[2] + crashed[0] + crashed[2], bhow);
    }
    if (n < MIN_ROUNDS) {
        judge(v, K_FEW_ROUNDS, PH_BENCH, (double)(MIN_ROUNDS - n),
              "bench: too few rounds to compare: %zu of %u rounds had every run succeed, %d are "
              "needed before a difference can show; no comparison made",
              n, v->runs, MIN_ROUNDS);
    } else {
        /* Wall time is what a user waits for (lock contention, sleeping shows there); CPU time
         * is what the work costs, and stays steady on a loaded machine. */
        const struct {
            double **x;
            int k;
            const char *name, *what, *unit;
        } metrics[] = {{wall, K_SLOWER, "wall", "wall time", "s"},
                       {cpu, K_SLOWER_CPU, "cpu", "CPU time", "s"},
                       {rss, K_MEMORY, "peak_rss", "peak RSS", "KiB"}};
        for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++) {
            compared c;
            double **x = metrics[i].x;
            compare(x[0], x[1], x[2], n, &c);
            bench_facts(p, metrics[i].name, metrics[i].unit, &c);
            printf("   %-9s baseline %.4g %s, candidate %.4g %s: %+.1f%% (95%% CI %+.1f%% to "
                   "%+.1f%%, p = %.3g); A/A noise %.1f%%%s\n",
                   metrics[i].what, c.base, metrics[i].unit, c.cand, metrics[i].unit, c.change_pct,
                   (c.lo - 1) * 100, (c.hi - 1) * 100, c.p, c.noise_pct,
                   c.beyond_noise ? "" : ": no difference beyond the noise");
            if (c.beyond_noise)
                judge(v, metrics[i].k, PH_BENCH, c.change_pct,
                      "bench: %s %+.1f%% (median %.4g %s against %.4g %s; 95%% CI %+.1f%% to "
                      "%+.1f%%, Mann-Whitney p = %.3g, A/A noise %.1f%%)",
                      metrics[i].what, c.change_pct, c.cand, metrics[i].unit, c.base,
                      metrics[i].unit, (c.lo - 1) * 100, (c.hi - 1) * 100, c.p, c.noise_pct);
        }
    }
    for (size_t i = 0; i < total; i++) cli_run_result_free(&res[i]);
    free(res);
    free(vals);
    return true;
}

/* ---- soak -------------------------------------------------------------------------------- */

typedef struct soak_state {
    cli_child_end end; /* cli_child_spawn fills pid before the first tick */
    double t0, duration, term_at;
    bool termed, killed;
    double *t, *rss_kb;
    size_t n, cap;
    cli_progress pr;
} soak_state;

static void soak_tick(void *arg, bool ended) {
    soak_state *s = arg;
    if (ended || s->end.pid <= 0) return;
    double now = cli_monotonic_s() - s->t0;
    long kb = cli_child_rss_kb(&s->end);
    if (kb >= 0 && !s->termed) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 256;
            double *t = realloc(s->t, cap * sizeof *t),
                   *r = t ? realloc(s->rss_kb, cap * sizeof *r) : NULL;
            if (t != NULL) s->t = t;
            if (r != NULL) {
                s->rss_kb = r;
                s->cap = cap;
            }
        }
        if (s->n < s->cap) {
            s->t[s->n] = now;
            s->rss_kb[s->n++] = (double)kb;
        }
        cli_progress_update(&s->pr, false, "   %.0f/%.0f s, RSS %ld KiB", now, s->duration, kb);
    }
    if (!s->termed && now >= s->duration) {
        cli_child_signal(&s->end, SIGTERM);
        s->termed = true;
        s->term_at = now;
    } else if (s->termed && !s->killed && now - s->term_at > 10) {
        cli_child_signal(&s->end, SIGKILL);
        s->killed = true;
    }
}

/* Least-squares slope and r^2 of y over x[0..n). */
static void fit_line(const double *x, const double *y, size_t n, double *slope, double *r2) {
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    double sxx = 0, sxy = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        sxx += (x[i] - mx) * (x[i] - mx);
        sxy += (x[i] - mx) * (y[i] - my);
        syy += (y[i] - my) * (y[i] - my);
    }
    *slope = sxx > 0 ? sxy / sxx : 0;
    *r2 = sxx > 0 && syy > 0 ? sxy * sxy / (sxx * syy) : 0;
}

static bool phase_soak(validation *v, char *const *argv) {
    phase *p = &v->ph[PH_SOAK];
    phase_start(v, PH_SOAK, v->candidate, "", argv);
    unsigned tick_ms = (unsigned)(v->duration_s * 1000 / 120);
    if (tick_ms < 100) tick_ms = 100;
    if (tick_ms > 30000) tick_ms = 30000;
    printf("   for %.0f s, then SIGTERM; RSS sampled every %.1f s\n", v->duration_s,
           tick_ms / 1000.0);
    cli_run_spec spec = {v->candidate, NULL};
    cli_env env;
    if (!cli_run_env(&env, &spec)) return setup_failed("soak run");
    char logpath[300];
    snprintf(logpath, sizeof logpath, "%s/soak.log", v->workdir);
    int fd = open(logpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        cli_env_free(&env);
        return setup_failed(logpath);
    }
    soak_state s = {.duration = v->duration_s};
    cli_progress_init(&s.pr, stderr, 500);
    cli_child_opts o = CLI_CHILD_OPTS_INIT;
    o.tick = soak_tick;
    o.arg = &s;
    o.tick_ms = tick_ms;
    o.out_fd = fd;
    o.err_fd = fd;
    o.own_group = true; /* the end's SIGTERM reaches what the command started, and RSS sums it */
    fflush(stdout);
    s.t0 = cli_monotonic_s();
    int status = cli_child_spawn("validate", argv, env.v, &o, &s.end);
    cli_progress_done(&s.pr);
    close(fd);
    cli_env_free(&env);
    double ran = cli_monotonic_s() - s.t0;
    int sig = s.end.pid != 0 && WIFSIGNALED(s.end.wstatus) ? WTERMSIG(s.end.wstatus) : 0;
    if (!(s.termed && (sig == SIGTERM || sig == SIGKILL)) && interrupted(sig)) {
        free(s.t);
        free(s.rss_kb);
        return false;
    }
    bool ours =
        s.termed && (sig == SIGTERM || sig == SIGKILL || (WIFEXITED(s.end.wstatus) && sig == 0));
    char how[160];
    if (sig != 0)
        snprintf(how, sizeof how, "killed by signal %d (%s)%s", sig, strsignal(sig),
                 ours ? ", sent by validate at the end" : "");
    else if (s.end.pid != 0)
        snprintf(how, sizeof how, "exit status %d%s", WEXITSTATUS(s.end.wstatus),
                 s.termed ? " after validate's SIGTERM" : "");
    else
        snprintf(how, sizeof how, "not run (status %d)", status);
    add_fact(p, "ended", NAN, "", "%s", how);
    add_fact(p, "ran_s", ran, "s", "%.1f s of %.1f s", ran, v->duration_s);
    add_fact(p, "samples", (double)s.n, "", "%zu", s.n);
    printf("   %s after %.1f s; %zu RSS samples\n", how, ran, s.n);
    judge(v, K_CRASHES, PH_SOAK, sig != 0 && !ours ? 1 : 0, "soak: 1 crash under %s (%s)",
          v->candidate, how);
    if (!s.termed && sig == 0)
        judge(v, K_FAILURES, PH_SOAK, 100,
              "soak: the command ended by itself after %.1f s of "
              "%.0f s (%s)",
              ran, v->duration_s, how);
    /* The first tenth of the duration is warm-up (caches, arenas filling), left out of the
     * fit; seed 003 asks that RSS stabilize after it. */
    size_t from = 0;
    while (from < s.n && s.t[from] < v->duration_s * 0.1) from++;
    if (s.n - from >= 3) {
        double slope, r2;
        fit_line(s.t + from, s.rss_kb + from, s.n - from, &slope, &r2);
        double mb_h = slope * 1024.0 * 3600.0 / 1e6;
        double first = s.rss_kb[from], last = s.rss_kb[s.n - 1], peak = 0;
        for (size_t i = 0; i < s.n; i++) peak = s.rss_kb[i] > peak ? s.rss_kb[i] : peak;
        add_fact(p, "rss_first_kb", first, "KiB", "%.0f KiB (after warm-up, at %.1f s)", first,
                 s.t[from]);
        add_fact(p, "rss_last_kb", last, "KiB", "%.0f KiB", last);
        add_fact(p, "rss_peak_kb", peak, "KiB", "%.0f KiB", peak);
        add_fact(p, "growth_mb_per_hour", mb_h, "MB/h",
                 "%+.3f MB/h (least squares over %zu samples from %.1f s, r^2 = %.2f)", mb_h,
                 s.n - from, s.t[from], r2);
        printf("   RSS %.0f -> %.0f KiB (peak %.0f); growth %+.3f MB/h (r^2 %.2f)\n", first, last,
               peak, mb_h, r2);
        judge(v, K_SOAK, PH_SOAK, mb_h,
              "soak: RSS grew %+.3f MB/h (%.0f KiB to %.0f KiB over %.1f s, least squares over "
              "%zu samples, r^2 = %.2f)",
              mb_h, first, last, s.t[s.n - 1] - s.t[from], s.n - from, r2);
    } else {
        add_note(v, "soak: %zu RSS samples after warm-up; no growth figure", s.n - from);
    }
    free(s.t);
    free(s.rss_kb);
    return true;
}

/* ---- what a spec loads ------------------------------------------------------------------- */

/* Ask a child under spec what serves it (this binary's `bench --probe`, the check alloy bench
 * makes) into what: liballoy falls back to its default backend when a library does not load,
 * and validating the fallback would validate nothing. False, said, when the spec did not load
 * as written or the probe could not run. */
static bool probe_spec(const char *role, const char *spec, char *what, size_t n) {
    char self[PATH_MAX];
    if (!cli_self_exe(self, sizeof self)) {
        cli_error("validate", "cannot find this program (/proc/self/exe): %s", strerror(errno));
        return false;
    }
    cli_run_spec s = {spec, NULL};
    cli_probe pr;
    if (!cli_probe_spec("validate", self, &s, &pr)) return setup_failed("the backend probe");
    if (pr.state == CLI_PROBE_CRASHED) {
        /* A fallback would not crash: what crashed is the library asked for. The phases will
         * count its crashes. */
        snprintf(what, n, "%s (not known: the probe was %s)", spec, pr.how);
        return true;
    }
    if (pr.state == CLI_PROBE_NO_ANSWER) {
        cli_error("validate", "%s %s: the backend probe %s%s%s", role, spec, pr.how,
                  pr.err_line[0] ? ": " : "", pr.err_line);
        return false;
    }
    snprintf(what, n, "%s %s%s%s", pr.name, pr.version, pr.library[0] ? " from " : "", pr.library);
    if (pr.state == CLI_PROBE_OTHER) {
        cli_error("validate", "%s %s did not load: the child ran %s%s%s", role, spec, what,
                  pr.err_line[0] ? "; it said: " : "", pr.err_line);
        return false;
    }
    return true;
}

/* ---- reports ----------------------------------------------------------------------------- */

static int verdict_of(const validation *v) {
    int verdict = VAL_GO;
    for (size_t i = 0; i < v->nreasons; i++)
        if (v->reasons[i].verdict > verdict) verdict = v->reasons[i].verdict;
    return verdict;
}

/* Markdown table cells: '|' would split the cell, a newline the row. */
static void md_cell(FILE *f, const char *s) {
    for (; *s; s++)
        if (*s == '|')
            fputs("\\|", f);
        else if (*s == '\n')
            fputc(' ', f);
        else
            fputc(*s, f);
}

static void write_md(FILE *f, const validation *v) {
    int verdict = verdict_of(v);
    fprintf(f, "# alloy validate: `");
    md_cell(f, v->candidate);
    fprintf(f, "` against `");
    md_cell(f, v->baseline);
    fprintf(f, "`\n\nThe candidate loads ");
    md_cell(f, v->loaded[1]);
    fprintf(f, "; the baseline loads ");
    md_cell(f, v->loaded[0]);
    fprintf(f, ".\n\n**Verdict: %s**\n\n", verdict_name(verdict));
    if (v->nreasons == 0)
        fprintf(f, "No criterion was exceeded.\n\n");
    else {
        fprintf(f, "| verdict | criterion | limit | reason |\n|---|---|---|---|\n");
        for (size_t i = 0; i < v->nreasons; i++) {
            const reason *r = &v->reasons[i];
            const criterion *c = &v->crit[r->criterion];
            fprintf(f, "| %s | %s | %g%s%s | ", verdict_name(r->verdict), c->key, c->limit,
                    unit_gap(c), c->unit);
            md_cell(f, r->text);
            fprintf(f, " |\n");
        }
        fputc('\n', f);
    }
    for (size_t i = 0; i < v->nnotes; i++) {
        fprintf(f, "- note: ");
        md_cell(f, v->notes[i]);
        fputc('\n', f);
    }
    if (v->nnotes) fputc('\n', f);
    fprintf(f, "## Phases\n\n");
    for (int i = 0; i < PH_N; i++) {
        const phase *p = &v->ph[i];
        fprintf(f, "### %d. %s\n\n", i + 1, phase_names[i]);
        if (!p->ran) {
            fprintf(f, "Not run: %s.\n\n", p->skipped);
            continue;
        }
        fprintf(f, "Under `");
        md_cell(f, p->under);
        fprintf(f, "`:\n\n```\n%s\n```\n\n", p->command);
        for (size_t k = 0; k < p->nfacts; k++) {
            fprintf(f, "- %s: ", p->facts[k].name);
            md_cell(f, p->facts[k].text);
            fputc('\n', f);
        }
        fputc('\n', f);
    }
    fprintf(f, "## Criteria\n\n| criterion | limit | above it |\n|---|---|---|\n");
    for (int k = 0; k < K_N; k++)
        fprintf(f, "| %s | %g%s%s | %s |\n", v->crit[k].key, v->crit[k].limit,
                unit_gap(&v->crit[k]), v->crit[k].unit,
                v->crit[k].action == VAL_OFF ? "ignored" : verdict_name(v->crit[k].action));
    fprintf(f,
            "\nExit status %d. Medians and 95%% percentile bootstrap intervals (%u resamples, "
            "seed 0x%llx); MB is 10^6 bytes.\n",
            verdict, CLI_STATS_RESAMPLES, (unsigned long long)CLI_STATS_SEED);
}

static void json_num(FILE *f, double x) {
    if (isfinite(x) && x == floor(x) && fabs(x) < 9007199254740992.0)
        fprintf(f, "%.0f", x); /* integers exactly (byte counts) */
    else if (isfinite(x))
        fprintf(f, "%.6g", x);
    else
        fputs("null", f);
}

static void write_json(FILE *f, const validation *v) {
    int verdict = verdict_of(v);
    fprintf(f, "{\n  \"verdict\": \"%s\",\n  \"exit_status\": %d,\n  \"baseline\": ",
            verdict_name(verdict), verdict);
    cli_json_string(f, v->baseline);
    fprintf(f, ",\n  \"candidate\": ");
    cli_json_string(f, v->candidate);
    fprintf(f, ",\n  \"baseline_loads\": ");
    cli_json_string(f, v->loaded[0]);
    fprintf(f, ",\n  \"candidate_loads\": ");
    cli_json_string(f, v->loaded[1]);
    fprintf(f, ",\n  \"reasons\": [");
    for (size_t i = 0; i < v->nreasons; i++) {
        const reason *r = &v->reasons[i];
        fprintf(f,
                "%s\n    {\"verdict\": \"%s\", \"criterion\": \"%s\", \"phase\": \"%s\", "
                "\"figure\": ",
                i ? "," : "", verdict_name(r->verdict), v->crit[r->criterion].key,
                phase_names[r->phase]);
        json_num(f, r->figure);
        fprintf(f, ", \"limit\": ");
        json_num(f, v->crit[r->criterion].limit);
        fprintf(f, ", \"text\": ");
        cli_json_string(f, r->text);
        fputc('}', f);
    }
    fprintf(f, "%s],\n  \"notes\": [", v->nreasons ? "\n  " : "");
    for (size_t i = 0; i < v->nnotes; i++) {
        fputs(i ? ", " : "", f);
        cli_json_string(f, v->notes[i]);
    }
    fprintf(f, "],\n  \"phases\": {");
    for (int i = 0; i < PH_N; i++) {
        const phase *p = &v->ph[i];
        fprintf(f, "%s\n    \"%s\": {\"ran\": %s", i ? "," : "", phase_names[i],
                p->ran ? "true" : "false");
        if (!p->ran) {
            fprintf(f, ", \"skipped\": ");
            cli_json_string(f, p->skipped);
            fputc('}', f);
            continue;
        }
        fprintf(f, ", \"under\": ");
        cli_json_string(f, p->under);
        fprintf(f, ", \"command\": ");
        cli_json_string(f, p->command);
        fprintf(f, ", \"figures\": [");
        for (size_t k = 0; k < p->nfacts; k++) {
            fprintf(f, "%s\n      {\"name\": \"%s\", \"value\": ", k ? "," : "", p->facts[k].name);
            json_num(f, p->facts[k].num);
            fprintf(f, ", \"unit\": \"%s\", \"text\": ", p->facts[k].unit);
            cli_json_string(f, p->facts[k].text);
            fputc('}', f);
        }
        fprintf(f, "]}");
    }
    fprintf(f, "\n  },\n  \"criteria\": {");
    for (int k = 0; k < K_N; k++) {
        fprintf(f, "%s\n    \"%s\": {\"limit\": ", k ? "," : "", v->crit[k].key);
        json_num(f, v->crit[k].limit);
        fprintf(f, ", \"unit\": \"%s\", \"action\": \"%s\"}", v->crit[k].unit,
                action_name(v->crit[k].action));
    }
    fprintf(f,
            "\n  },\n  \"bench_rounds\": %u,\n  \"bootstrap\": {\"resamples\": %u, \"seed\": "
            "%llu, \"confidence\": 0.95}\n}\n",
            v->runs, CLI_STATS_RESAMPLES, (unsigned long long)CLI_STATS_SEED);
}

/* Create path (O_EXCL unless force, never through a symlink) and write a report into it. */
static bool write_report(const char *path, bool force, const validation *v,
                         void (*writer)(FILE *, const validation *)) {
    FILE *f = cli_output_open("validate", path, force);
    if (f == NULL) return false;
    writer(f, v);
    bool ok = fflush(f) == 0 && !ferror(f);
    if (fclose(f) != 0) ok = false;
    if (!ok) cli_error("validate", "cannot write %s: %s", path, strerror(errno));
    return ok;
}

/* ---- the command ------------------------------------------------------------------------- */

/* "90", "90s", "30m", "24h", "1.5h": seconds, > 0 and at most 30 days. */
static bool parse_duration(const char *s, double *out) {
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno != 0 || end == s || *s == '-' || *s == '+' || !isfinite(x)) return false;
    double mult = 1;
    if (strcmp(end, "h") == 0)
        mult = 3600;
    else if (strcmp(end, "m") == 0)
        mult = 60;
    else if (strcmp(end, "s") != 0 && *end != '\0')
        return false;
    x *= mult;
    if (!(x > 0) || x > 30 * 86400.0) return false;
    *out = x;
    return true;
}

static void remove_workdir(const char *dir) {
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char path[512];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

int cmd_validate(int argc, char **argv) {
    validation *v = calloc(1, sizeof *v);
    if (v == NULL) {
        cli_error("validate", "out of memory");
        return VAL_FAILED;
    }
    memcpy(v->crit, default_criteria, sizeof v->crit);
    v->runs = 10;
    v->smoke_wall_s = NAN;
    const char *cmds[PH_N] = {NULL}, *criteria = NULL, *report_md = NULL, *report_json = NULL,
               *duration = NULL;
    bool skip[PH_N] = {false}, force = false;
    int rc = VAL_GO;
    for (int i = 1; i < argc && rc == VAL_GO; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            printf(help, cli_backend_names());
            free(v);
            return 0;
        }
        if (strcmp(a, "--force") == 0 || strcmp(a, "-f") == 0) {
            force = true;
            continue;
        }
        if (strcmp(a, "--valgrind") == 0) {
            v->valgrind = true;
            continue;
        }
        static const char *const takes[] = {
            "--baseline",  "--candidate",   "--tests",    "--bench", "--stress",
            "--soak",      "--duration",    "--criteria", "--runs",  "--skip",
            "--report-md", "--report-json", "--timeout"};
        size_t t = 0, nt = sizeof takes / sizeof takes[0], l = 0;
        for (; t < nt; t++) {
            l = strlen(takes[t]);
            if (strncmp(a, takes[t], l) == 0 && (a[l] == '\0' || a[l] == '=')) break;
        }
        if (t == nt) {
            rc = a[0] == '-' ? usage_error("unknown option '%s'", a)
                             : usage_error("unexpected argument '%s' (a command is given with "
                                           "--tests, --bench, --stress or --soak)",
                                           a);
            break;
        }
        const char *val = a[l] == '=' ? a + l + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (val == NULL) {
            rc = usage_error("%s needs a value", takes[t]);
            break;
        }
        const char *opt = takes[t];
        if (strcmp(opt, "--baseline") == 0)
            v->baseline = val;
        else if (strcmp(opt, "--candidate") == 0)
            v->candidate = val;
        else if (strcmp(opt, "--tests") == 0)
            cmds[PH_SMOKE] = cmds[PH_LEAKS] = val;
        else if (strcmp(opt, "--bench") == 0)
            cmds[PH_BENCH] = val;
        else if (strcmp(opt, "--stress") == 0)
            cmds[PH_STRESS] = val;
        else if (strcmp(opt, "--soak") == 0)
            cmds[PH_SOAK] = val;
        else if (strcmp(opt, "--duration") == 0)
            duration = val;
        else if (strcmp(opt, "--criteria") == 0)
            criteria = val;
        else if (strcmp(opt, "--report-md") == 0)
            report_md = val;
        else if (strcmp(opt, "--report-json") == 0)
            report_json = val;
        else if (strcmp(opt, "--runs") == 0) {
            double n;
            if (!parse_number(val, &n) || n != floor(n) || n < MIN_ROUNDS || n > 10000)
                rc = usage_error("--runs: '%s' is not a whole number from %d to 10000 (fewer "
                                 "rounds can never show a difference)",
                                 val, MIN_ROUNDS);
            else
                v->runs = (unsigned)n;
        } else if (strcmp(opt, "--timeout") == 0) {
            double n;
            if (!parse_number(val, &n) || n != floor(n) || n < 1 || n > 86400)
                rc = usage_error("--timeout: '%s' is not a whole number of seconds from 1 to "
                                 "86400",
                                 val);
            else
                v->timeout = (unsigned)n;
        } else { /* --skip */
            for (const char *p = val; *p;) {
                size_t k = strcspn(p, ","), ph = 0;
                while (ph < PH_N &&
                       !(strlen(phase_names[ph]) == k && strncmp(p, phase_names[ph], k) == 0))
                    ph++;
                if (ph == PH_N) {
                    rc = usage_error("--skip: unknown phase '%.*s' (phases: smoke, leaks, stress, "
                                     "bench, soak)",
                                     (int)k, p);
                    break;
                }
                skip[ph] = true;
                p += k + (p[k] == ',');
            }
        }
    }
    char err[256];
    if (rc == VAL_GO && (v->baseline == NULL || v->candidate == NULL))
        rc = usage_error("--baseline and --candidate are both needed");
    if (rc == VAL_GO && !cli_spec_check(v->baseline, err, sizeof err))
        rc = usage_error("--baseline: %s", err);
    if (rc == VAL_GO && !cli_spec_check(v->candidate, err, sizeof err))
        rc = usage_error("--candidate: %s", err);
    bool any = false;
    for (int i = 0; i < PH_N; i++) any = any || (cmds[i] != NULL && !skip[i]);
    if (rc == VAL_GO && cmds[PH_SMOKE] == NULL && cmds[PH_BENCH] == NULL &&
        cmds[PH_STRESS] == NULL && cmds[PH_SOAK] == NULL)
        rc = usage_error("nothing to run: give --tests, --bench, --stress or --soak");
    else if (rc == VAL_GO && !any)
        rc = usage_error("nothing to run: --skip leaves no phase with a command (a verdict "
                         "needs at least one)");
    if (rc == VAL_GO && (cmds[PH_SOAK] != NULL) != (duration != NULL))
        rc = usage_error(duration ? "--duration without --soak" : "--soak needs --duration");
    if (rc == VAL_GO && duration != NULL && !parse_duration(duration, &v->duration_s))
        rc = usage_error("--duration: '%s' is not a time such as 90s, 30m or 24h (at most 30 "
                         "days)",
                         duration);
    if (rc == VAL_GO && v->valgrind && !cli_command_runnable("valgrind"))
        rc = usage_error("--valgrind: valgrind is not installed (not found in PATH)");
    if (rc == VAL_GO && criteria != NULL) rc = criteria_load(v->crit, criteria);
    words w[PH_N] = {{0}};
    static const char *const opt_of[PH_N] = {"--tests", "--tests", "--stress", "--bench", "--soak"};
    for (int i = 0; i < PH_N && rc == VAL_GO; i++) {
        if (cmds[i] == NULL) continue;
        if (!words_split(&w[i], cmds[i], err, sizeof err))
            rc = usage_error("%s: %s", opt_of[i], err);
        else if (!cli_command_runnable(w[i].argv[0]))
            rc = usage_error("%s: '%s': %s", opt_of[i], w[i].argv[0],
                             strchr(w[i].argv[0], '/') != NULL || *w[i].argv[0] == '\0'
                                 ? "not an executable file"
                                 : "command not found");
    }
    for (int i = 0; i < PH_N && rc == VAL_GO; i++) {
        if (cmds[i] == NULL)
            snprintf(v->ph[i].skipped, sizeof v->ph[i].skipped, "no %s command given", opt_of[i]);
        else if (skip[i])
            snprintf(v->ph[i].skipped, sizeof v->ph[i].skipped, "--skip %s", phase_names[i]);
    }
    if (rc == VAL_GO && cli_override_library() == NULL) {
        cli_error("validate", "cannot find liballoy-override.so (set ALLOY_OVERRIDE_LIB to its "
                              "path)");
        rc = VAL_FAILED;
    }
    if (rc == VAL_GO && report_md != NULL && report_json != NULL &&
        cli_same_output(report_md, report_json))
        rc = usage_error("--report-md and --report-json name the same file '%s'", report_md);
    /* A report that cannot be written is found now, not after a 24-hour soak. */
    const char *reports[] = {report_md, report_json};
    for (size_t i = 0; i < 2 && rc == VAL_GO; i++) {
        char why[PATH_MAX + 160];
        if (reports[i] != NULL && !cli_output_check(reports[i], force, why, sizeof why)) {
            cli_error("validate", "%s", why);
            rc = VAL_FAILED;
        }
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(v->workdir, sizeof v->workdir, "%s/alloy-validate.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (rc == VAL_GO && mkdtemp(v->workdir) == NULL) {
        cli_error("validate", "cannot create a directory in %s: %s", tmp && *tmp ? tmp : "/tmp",
                  strerror(errno));
        rc = VAL_FAILED;
        v->workdir[0] = '\0';
    } else if (rc != VAL_GO) {
        v->workdir[0] = '\0';
    }
    if (rc == VAL_GO && (!probe_spec("baseline", v->baseline, v->loaded[0], sizeof v->loaded[0]) ||
                         !probe_spec("candidate", v->candidate, v->loaded[1], sizeof v->loaded[1])))
        rc = VAL_FAILED;
    if (rc == VAL_GO) {
        printf("alloy validate: candidate %s against baseline %s\n  candidate loads %s\n"
               "  baseline loads %s\n",
               v->candidate, v->baseline, v->loaded[1], v->loaded[0]);
        static bool (*const run_phase[PH_N])(validation *, char *const *) = {
            phase_smoke, phase_leaks, phase_stress, phase_bench, phase_soak};
        for (int i = 0; i < PH_N && rc == VAL_GO; i++) {
            if (cmds[i] == NULL || skip[i]) {
                printf("\n== %d/%d %s: not run (%s)\n", i + 1, PH_N, phase_names[i],
                       v->ph[i].skipped);
                continue;
            }
            if (!run_phase[i](v, w[i].argv)) rc = VAL_FAILED;
        }
    }
    if (rc == VAL_GO) {
        int verdict = verdict_of(v);
        printf("\nverdict: %s%s%s\n", cli_sgr(stdout, "\033[1m"), verdict_name(verdict),
               cli_sgr(stdout, "\033[0m"));
        for (size_t i = 0; i < v->nreasons; i++)
            printf("  %s: %s\n", verdict_name(v->reasons[i].verdict), v->reasons[i].text);
        for (int i = 0; i < PH_N; i++)
            if (!v->ph[i].ran) printf("  not run: %s (%s)\n", phase_names[i], v->ph[i].skipped);
        if (report_md != NULL && !write_report(report_md, force, v, write_md)) rc = VAL_FAILED;
        if (report_json != NULL && !write_report(report_json, force, v, write_json))
            rc = VAL_FAILED;
        if (rc == VAL_GO) rc = verdict;
    }
    if (v->workdir[0] != '\0') remove_workdir(v->workdir);
    for (int i = 0; i < PH_N; i++) words_free(&w[i]);
    free(v);
    return rc;
}
