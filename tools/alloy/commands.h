/* SPDX-License-Identifier: MIT */
/* commands.h - the sub-commands of the alloy command and the helpers they share.
 *
 * A sub-command is one source file with one entry point, int cmd_<name>(int argc, char **argv),
 * where argv[0] is the sub-command's name. It returns the process exit status: 0 success,
 * 1 the work failed, 2 a usage error (one line on stderr, see cli_usage_error). Every
 * sub-command answers --help on stdout with status 0. The exception is validate, whose
 * statuses 0, 1, 2 are its verdicts: its usage errors are 64 (EX_USAGE), its failures 3.
 *
 * To add one: declare its entry point below, add a row to ALLOY_COMMANDS, list its source in
 * tools/CMakeLists.txt.
 */
#ifndef ALLOY_TOOLS_COMMANDS_H
#define ALLOY_TOOLS_COMMANDS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

/* X(name, one-line summary): the table `alloy --help` lists, in this order. */
#define ALLOY_COMMANDS(X)                                                                          \
    X(run, "run a program with alloy's override library (backend, debug heap, counters)")          \
    X(profile, "run a program under the profiler: summary and HTML/JSON/CSV/Prometheus reports")   \
    X(report, "turn profile files (a forked family merged) into HTML, JSON, CSV or Prometheus")    \
    X(bench, "compare allocator backends: built-in workloads or your command, with the noise")     \
    X(validate, "judge an allocator change: tests, leaks, bench, soak -> GO / NO-GO")              \
    X(migrate, "rewrite a C code base from malloc/free to alloy (Coccinelle semantic patches)")

int cmd_run(int argc, char **argv);
int cmd_profile(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_migrate(int argc, char **argv);

/* "alloy": what error lines start with. */
extern const char *const cli_program;

/* Print "alloy CMD: <message>; try 'alloy CMD --help'" on stderr as one line; returns 2.
 * cmd may be NULL for errors of the alloy command itself. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cli_usage_error with a va_list, for a command whose usage status is not 2 (validate's 64):
 * prints the same line and returns 2; the caller returns its own status. */
int cli_vusage_error(const char *cmd, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Print "alloy CMD: <message>" on stderr as one line (a failure, not a usage error). */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True when colour escapes may be written to f: f is a terminal, NO_COLOR is unset or empty,
 * and TERM is not "dumb". */
bool cli_colour(FILE *f);

/* Escape sequence s when cli_colour(f), else "". */
const char *cli_sgr(FILE *f, const char *s);

#endif /* ALLOY_TOOLS_COMMANDS_H */
