/* SPDX-License-Identifier: MIT */
/* bench/bench_child.h - what the benchmarks that time whole child programs
 * share: a private temporary directory removed at exit and on SIGINT, SIGTERM
 * or SIGHUP (the running child is stopped first, so a checker such as
 * valgrind removes its own files), a PATH lookup, and one timed child run.
 *
 * Every file a run may leave is named with bench_tmp_path() before the first
 * run, so the signal handler only calls kill, waitpid, unlink and rmdir. */
#ifndef ALLOY_BENCH_CHILD_H
#define ALLOY_BENCH_CHILD_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define BENCH_TMP_FILES 16

static char bench_tmp_dir[256];
static char bench_tmp_files[BENCH_TMP_FILES][340];
static size_t bench_tmp_nfiles;
static volatile sig_atomic_t bench_tmp_live;
static volatile pid_t bench_running_child;

static void bench_tmp_remove(void) {
    if (!bench_tmp_live) return;
    for (size_t i = 0; i < bench_tmp_nfiles; i++)
        if (bench_tmp_files[i][0] != 0) unlink(bench_tmp_files[i]);
    rmdir(bench_tmp_dir);
    bench_tmp_live = 0;
}

static void bench_on_signal(int sig) {
    pid_t child = bench_running_child;
    if (child > 0) {
        kill(child, SIGTERM);
        waitpid(child, NULL, 0);
    }
    bench_tmp_remove();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Make $TMPDIR/<prefix>-XXXXXX (TMPDIR unset: /tmp) and the signal handlers. */
static bool bench_tmp_create(const char *prefix) {
    const char *base = getenv("TMPDIR");
    if (base == NULL || *base == 0) base = "/tmp";
    int n = snprintf(bench_tmp_dir, sizeof bench_tmp_dir, "%s/%s-XXXXXX", base, prefix);
    if (n < 0 || (size_t)n >= sizeof bench_tmp_dir) return false;
    if (mkdtemp(bench_tmp_dir) == NULL) return false;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = bench_on_signal;
    sigemptyset(&sa.sa_mask);
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < 3; i++) sigaddset(&sa.sa_mask, sigs[i]);
    for (size_t i = 0; i < 3; i++) sigaction(sigs[i], &sa, NULL);
    bench_tmp_live = 1;
    return true;
}

/* The path of name in the temporary directory, removed with it; NULL if the
 * table is full. The string lives until exit. */
static char *bench_tmp_path(const char *name) {
    if (bench_tmp_nfiles == BENCH_TMP_FILES) return NULL;
    char *p = bench_tmp_files[bench_tmp_nfiles++];
    snprintf(p, sizeof bench_tmp_files[0], "%s/%s", bench_tmp_dir, name);
    return p;
}

/* Is prog (a path, or a name looked up in PATH) executable? */
static bool bench_on_path(const char *prog) {
    if (strchr(prog, '/') != NULL) return access(prog, X_OK) == 0;
    const char *path = getenv("PATH");
    if (path == NULL) return false;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *dir = strtok(buf, ":"); dir != NULL; dir = strtok(NULL, ":")) {
        char full[4352];
        snprintf(full, sizeof full, "%s/%s", dir, prog);
        if (access(full, X_OK) == 0) return true;
    }
    return false;
}

/* Run argv (NULL-ended) with env (NAME=VALUE, NULL-ended) added, stdout and
 * stderr into out_path; CPU seconds (user + system) and peak RSS in MB of the
 * child. Returns its wait status, or -1 if it could not be run. */
static int bench_run_child(const char *const *argv, const char *const *env, const char *out_path,
                           double *cpu, double *rss_mb) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        for (size_t i = 0; env[i] != NULL; i++) putenv((char *)env[i]);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    bench_running_child = pid;
    int status;
    struct rusage ru;
    pid_t got;
    while ((got = wait4(pid, &status, 0, &ru)) < 0 && errno == EINTR) {
    }
    bench_running_child = 0;
    if (got < 0) return -1;
    *cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    *rss_mb = (double)ru.ru_maxrss / 1024.0;
    return status;
}

/* The options of the churn benchmarks: --quick (1 round of 200000
 * operations), --rounds N (1..32, default 5), --ops N, --help (what, a
 * paragraph, after the usage line). Returns -1 to go on, else the exit status
 * (0 after --help, 2 for a bad option). */
static int bench_churn_options(int argc, char **argv, int *rounds, char *ops, size_t ops_len,
                               const char *what) {
    *rounds = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            *rounds = 1;
            snprintf(ops, ops_len, "200000");
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            *rounds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc) {
            snprintf(ops, ops_len, "%s", argv[++i]);
        } else {
            bool help = strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
            fprintf(help ? stdout : stderr,
                    "usage: %s [--quick] [--rounds N] [--ops N] [--help]\n%s", argv[0], what);
            return help ? 0 : 2;
        }
    }
    if (*rounds < 1) *rounds = 1;
    if (*rounds > 32) *rounds = 32;
    return -1;
}

#endif /* ALLOY_BENCH_CHILD_H */
