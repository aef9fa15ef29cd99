/* SPDX-License-Identifier: MIT */
/* runner.h - run a command under backend specs, many times, interleaved, and measure each run.
 *
 * Shared by `alloy bench` and `alloy validate`. A backend spec is what the user wrote:
 *
 *     NAME        a backend of this build (cli_backend_names(): "mimalloc libc jemalloc ...")
 *     NAME:PATH   that backend's library loaded from PATH instead of the one the build found,
 *                 e.g. "mimalloc:/opt/mimalloc-3/lib/libmimalloc.so.3"
 *
 * A run's child gets cli_env_alloy() (the override library in LD_PRELOAD, jemalloc's static
 * TLS room) with ALLOY_BACKEND=<spec as given>, then the spec's extra variables. liballoy
 * reads ALLOY_BACKEND at start-up; if PATH cannot be loaded it warns on stderr and falls back
 * to the default backend, so a caller that must know what ran asks the child
 * (alloy_backend_name(), alloy_backend_version(); `alloy bench` does, see bench.c).
 *
 * Each run is measured from outside: wall time (CLOCK_MONOTONIC around spawn and wait), the
 * child's user and system CPU time and peak RSS (wait4's rusage), and how it ended. Runs are
 * interleaved round by round (A B A B ...) so that a drift of the machine (another job, the
 * CPU clock, a warming page cache) lands on every spec alike instead of on the last one.
 *
 * Nothing here prints except a spawn failure's one line (cli_child_spawn) and the parse
 * errors cli_spec_check writes into its buffer.
 */
#ifndef ALLOY_TOOLS_RUNNER_H
#define ALLOY_TOOLS_RUNNER_H

#include "preload.h"

#include <stdbool.h>
#include <stddef.h>

/* ---- backend specs ----------------------------------------------------------------------- */

/* Check spec's form: NAME must be a backend of this build, and PATH (when given) an absolute
 * path (liballoy takes no other) to a readable file. False with a one-line reason in err (at
 * least 160 bytes). */
bool cli_spec_check(const char *spec, char *err, size_t errlen);

/* The backend name of spec (up to the first ':') into name; false if it does not fit. */
bool cli_spec_name(const char *spec, char *name, size_t n);

/* The library path of spec (after the first ':'), or NULL for the plain NAME form. Points
 * into spec. */
const char *cli_spec_path(const char *spec);

/* ---- before running ---------------------------------------------------------------------- */

/* True when prog can be run as a command: searched in PATH as execvp does (when it has no
 * '/'), it must be a regular file this process may execute. An empty name or a directory is
 * not a command. */
bool cli_command_runnable(const char *prog);

/* ---- one run ----------------------------------------------------------------------------- */

/* What the runner runs a command under. */
typedef struct cli_run_spec {
    const char *spec;       /* backend spec as given; NULL: the build's default backend */
    const char *const *env; /* extra "NAME=value" strings for the child, NULL-terminated; or
                             * NULL. Set after ALLOY_BACKEND, so they may override it. */
} cli_run_spec;

/* How runs are made (flags, or'ed). */
enum {
    CLI_RUN_CAPTURE = 1 << 0, /* keep the child's stdout in cli_run_result.out */
    CLI_RUN_QUIET = 1 << 1,   /* the child's stdout (unless captured) goes to /dev/null and its
                               * stderr to a file whose last line lands in err_line; without
                               * it both are this process's */
};
/* Or'ed into the flags: a run still going after s seconds (1..16777215) is killed (SIGKILL)
 * and marked timed_out. Without it a run may take as long as it takes. */
#define CLI_RUN_TIMEOUT(s) ((unsigned)(s) << 8)

/* One measured run. */
typedef struct cli_run_result {
    double wall_s;      /* spawn to end, CLOCK_MONOTONIC */
    double user_s;      /* the child's user CPU time (and its waited-for descendants') */
    double sys_s;       /* the same, system time */
    long max_rss_kb;    /* peak resident set of the child or its largest waited-for descendant */
    int exit_code;      /* its exit status when it exited, else -1 */
    int signal;         /* the signal that ended it, else 0 */
    int status;         /* as cli_child_run returns: exit_code, 128+signal, 127 not found,
                         * 126 cannot run */
    char *out;          /* CLI_RUN_CAPTURE: its stdout, NUL-terminated (free() it); else NULL */
    char err_line[256]; /* CLI_RUN_QUIET: the last non-empty line it wrote on stderr, or "" */
    bool timed_out;     /* CLI_RUN_TIMEOUT: killed for running too long */
} cli_run_result;

/* True when signal sig, ending a run, means the user stopped it: SIGINT, SIGQUIT (a terminal's
 * ^C, ^\, passed on to the run's group), SIGTERM, SIGHUP (passed on to it), the way a shell
 * reads a child killed by SIGINT. Any other signal is a crash. */
bool cli_run_stopped(int sig);

/* True when the run ended with exit status 0. */
bool cli_run_ok(const cli_run_result *r);

/* One line saying how r ended: "exit status 3", "killed by signal 11 (Segmentation fault)",
 * "timed out after 30 s", "command not found", ... into buf; returns buf. */
const char *cli_run_describe(const cli_run_result *r, char *buf, size_t n);

/* Build the child's environment for s into e (initialized here; cli_env_free it). False with
 * errno: ENOENT no override library, ENOMEM. */
bool cli_run_env(cli_env *e, const cli_run_spec *s);

/* Run argv once under s (cmd names the sub-command in error lines). False only when the run
 * could not be set up (no override library, out of memory, no temporary file: errno says);
 * a command that fails, crashes or is not found is a true return with r saying so. */
bool cli_run_once(const char *cmd, char *const argv[], const cli_run_spec *s, unsigned flags,
                  cli_run_result *r);

/* Release r->out. */
void cli_run_result_free(cli_run_result *r);

/* ---- what a spec loads ------------------------------------------------------------------- */

/* liballoy falls back to its default backend when a spec's library does not load, so a
 * command that must know what ran asks a child: this binary's hidden `bench --probe`, run
 * under the spec, prints the backend's name, version and library file as JSON. */
enum {
    CLI_PROBE_LOADED,    /* the spec's backend (and, for NAME:PATH, a library file) answered */
    CLI_PROBE_OTHER,     /* another backend answered: the spec fell back */
    CLI_PROBE_CRASHED,   /* a signal (not the user's, not the time limit) ended the probe */
    CLI_PROBE_NO_ANSWER, /* it failed, timed out, was stopped or printed no answer */
};
#define CLI_PROBE_TIMEOUT_S 30 /* seconds a probe may take (a library that hangs at load) */

typedef struct cli_probe {
    int state;                                 /* CLI_PROBE_* */
    char name[64], version[64], library[4096]; /* the answer ("?" when a part is missing) */
    char how[160];      /* how the probe ended, as cli_run_describe says it */
    char err_line[256]; /* its last line on stderr (liballoy's warning of a fallback), or "" */
} cli_probe;

/* Probe s with self (this program's path, cli_self_exe). False only when the probe could not
 * be set up (errno); the answer, or why there is none, is in p. */
bool cli_probe_spec(const char *cmd, const char *self, const cli_run_spec *s, cli_probe *p);

/* ---- many runs --------------------------------------------------------------------------- */

/* Called before each run: round (0-based) of rounds, spec index. Return false to stop. */
typedef bool (*cli_run_progress_fn)(void *arg, unsigned round, unsigned rounds, size_t spec);

/* rounds rounds of argv under every spec in order: round 0 runs specs[0], specs[1], ...,
 * round 1 again, so each spec gets rounds runs interleaved with the others'. results must
 * hold rounds * nspecs entries; run (round, spec) goes to results[round * nspecs + spec].
 * Every run is made even when some fail (callers report failed runs, and must not average
 * them). progress may be NULL. False when a run could not be set up or progress stopped it;
 * the entries not run are zeroed with status -1. */
bool cli_run_interleaved(const char *cmd, char *const argv[], const cli_run_spec *specs,
                         size_t nspecs, unsigned rounds, unsigned flags, cli_run_result *results,
                         cli_run_progress_fn progress, void *arg);

#endif /* ALLOY_TOOLS_RUNNER_H */
