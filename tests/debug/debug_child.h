/* SPDX-License-Identifier: MIT */
/* tests/debug/debug_child.h - run a scenario in a child process and keep what it
 * wrote to stderr (the debug allocator's report), for the death and guard tests.
 * Include after cmocka_main.h. */
#ifndef ALLOY_TEST_DEBUG_CHILD_H
#define ALLOY_TEST_DEBUG_CHILD_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "read_all.h"

/* The last child's stderr, NUL-terminated. */
static char report[65536];

/* Fork, run fn with stderr into a pipe, _exit(0) if it returns; wait for the
 * child and return its wait status, with its stderr in report. */
static int run_child_capture(void (*fn)(void)) {
    int fds[2];
    if (pipe(fds) != 0) abort();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    read_all(fds[0], report, sizeof report);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

/* Fail the test, showing the report, unless the child died of abort() (the
 * debug allocator's default answer to a problem). */
static void expect_abort(int status) {
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT) {
        fprintf(stderr, "child did not abort (status %d):\n%s\n", status, report);
        fail();
    }
}

/* Fail the test, showing the report, unless it contains what. */
static void expect_text(const char *what) {
    if (strstr(report, what) == NULL) {
        fprintf(stderr, "report lacks \"%s\":\n%s\n", what, report);
        fail();
    }
}

#endif
