/* SPDX-License-Identifier: MIT */
/* preload.h - running a program under liballoy-override.so: finding the library, building the
 * child's environment, running the child and mapping its end to an exit status.
 *
 * Shared by `alloy run`, `alloy profile` and the commands that run programs after them
 * (bench, validate), and the checks of the report files they write. Nothing here prints except
 * cli_child_run's "cannot run" line and cli_output_open's error line.
 */
#ifndef ALLOY_TOOLS_PRELOAD_H
#define ALLOY_TOOLS_PRELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>

/* The override library: $ALLOY_OVERRIDE_LIB if set; the build tree's when this binary runs
 * from its build directory; else <prefix>/<libdir>/liballoy-override.so relative to this
 * binary, then the configured install path. NULL (errno ENOENT) when none exists. The
 * result is static storage. */
const char *cli_override_library(void);

/* An environment under construction: a NULL-terminated array of "NAME=value" strings. */
typedef struct cli_env {
    char **v;
    size_t n, cap;
} cli_env;

/* A copy of this process's environment. False on out of memory. */
bool cli_env_init(cli_env *e);
/* The value of name, or NULL. */
const char *cli_env_get(const cli_env *e, const char *name);
/* Set (or replace) name=value. */
bool cli_env_set(cli_env *e, const char *name, const char *value);
/* Remove name. */
void cli_env_unset(cli_env *e, const char *name);
/* Put lib first in LD_PRELOAD, keeping what was there (separated by ':'). */
bool cli_env_preload(cli_env *e, const char *lib);
/* Set one glibc tunable ("glibc.rtld.optional_static_tls", "4096") in GLIBC_TUNABLES, keeping
 * the others; a value already there for the same tunable is replaced. */
bool cli_env_tunable(cli_env *e, const char *tunable, const char *value);
/* Everything alloy's override library needs for backend (NULL: the default): LD_PRELOAD, the
 * backend, jemalloc's static TLS room. False with errno (ENOENT: no library). */
bool cli_env_alloy(cli_env *e, const char *backend);
void cli_env_free(cli_env *e);

/* Called every tick_ms while the child runs (and once more after it ended, with ended true). */
typedef void (*cli_tick_fn)(void *arg, bool ended);

/* Run argv (PATH searched) with envp and wait for it. SIGINT, SIGQUIT are ignored by this
 * process while the child runs (a terminal sends them to the child too); SIGTERM and SIGHUP are
 * passed on to it. Returns the exit status to report: the child's, 128+N when signal N killed
 * it, 127 when the command is not found, 126 when it cannot be executed (with one line on
 * stderr, prefixed "alloy CMD:"). *pid_out (may be NULL) gets the child's pid, 0 if none. */
int cli_child_run(const char *cmd, char *const argv[], char *const envp[], cli_tick_fn tick,
                  void *arg, unsigned tick_ms, pid_t *pid_out);

/* How cli_child_spawn runs the child. CLI_CHILD_OPTS_INIT is cli_child_run's behaviour. */
typedef struct cli_child_opts {
    cli_tick_fn tick; /* NULL: block until the child ends */
    void *arg;
    unsigned tick_ms;
    int out_fd, err_fd; /* >= 0: the child's stdout / stderr is a copy of this descriptor;
                         * -1: this process's */
    bool own_group;     /* run the child in a process group of its own (pgid = its pid), so
                         * that cli_child_signal reaches everything it started; SIGINT and
                         * SIGQUIT, which the terminal no longer sends it, are passed on to the
                         * group, and what is left of the group once the child ended is killed.
                         * For measured runs (bench, validate); `alloy run` and `alloy profile`
                         * keep the terminal's group, so an interactive program stays in the
                         * foreground. */
} cli_child_opts;
#define CLI_CHILD_OPTS_INIT                                                                        \
    { NULL, NULL, 0, -1, -1, false }

/* What cli_child_spawn saw of the child's end. */
typedef struct cli_child_end {
    pid_t pid;        /* 0 when it could not be started; set as soon as the child runs, so a
                       * tick whose arg points at this struct may read it (validate's soak
                       * samples /proc/PID/status that way) */
    int wstatus;      /* as from wait(2); 0 when it could not be started */
    struct rusage ru; /* the child's (and its waited-for descendants') usage, from wait4(2):
                       * ru_maxrss is its peak RSS in KiB (see docs/bench.md for the floor) */
    double wall_s;    /* CLOCK_MONOTONIC seconds from just before the spawn to its end */
    bool own_group;   /* started with cli_child_opts.own_group: its pgid is pid */
} cli_child_end;

/* cli_child_run with descriptors, resource usage and wall time: the same signal handling and
 * the same return value. end may be NULL. */
int cli_child_spawn(const char *cmd, char *const argv[], char *const envp[],
                    const cli_child_opts *o, cli_child_end *end);

/* Send sig to the child of end (a tick's way to stop it): to its whole process group when it
 * was started with own_group, else to the child alone. Nothing when it is not running. */
void cli_child_signal(const cli_child_end *end, int sig);

/* The resident set of the child of end in KiB, summed over its process group when it was
 * started with own_group (a shell and the programs it started), else its own VmRSS; -1 when
 * nothing could be read. */
long cli_child_rss_kb(const cli_child_end *end);

/* ---- report files ------------------------------------------------------------------------ */

/* Check, before any run, that a report can be written to path at the end: an existing path
 * must be a regular file (a symbolic link or anything else is refused, even with force; the
 * file is opened with O_NOFOLLOW) and is replaced only with force; its directory must exist
 * and be writable. False with a one-line reason in err. */
bool cli_output_check(const char *path, bool force, char *err, size_t errlen);

/* True when paths a and b name the same file: the same device and inode when both exist,
 * else the same real directory and the same last component ("r.json", "./r.json" and
 * "d/../r.json" are one file). */
bool cli_same_output(const char *a, const char *b);

/* Open path to write a report (the file cli_output_check approved): created 0644, never
 * through a symbolic link, an existing file replaced only with force. NULL, with one line on
 * stderr prefixed "alloy CMD:", when it cannot be. */
FILE *cli_output_open(const char *cmd, const char *path, bool force);

/* ---- this program ------------------------------------------------------------------------ */

/* This program's own path (/proc/self/exe) into buf; false (errno) when unknown or too long. */
bool cli_self_exe(char *buf, size_t n);

/* CLOCK_MONOTONIC now, in seconds. */
double cli_monotonic_s(void);

/* The backend names this build accepts, separated by spaces. */
const char *cli_backend_names(void);
/* True when name is a backend name this build knows. */
bool cli_backend_known(const char *name);

#endif /* ALLOY_TOOLS_PRELOAD_H */
