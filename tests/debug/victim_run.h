/* SPDX-License-Identifier: MIT */
/* tests/debug/victim_run.h - run debug_victim (DEBUG_VICTIM, its path) with extra environment
 * variables and keep its stdout and stderr. Include after cmocka_main.h. */
#ifndef ALLOY_TEST_VICTIM_RUN_H
#define ALLOY_TEST_VICTIM_RUN_H

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char v_out[65536], v_err[262144];

/* Drain both pipes to end of file. */
static void v_drain(int fo, int fe) {
    size_t no = 0, ne = 0;
    struct pollfd p[2] = {{fo, POLLIN, 0}, {fe, POLLIN, 0}};
    int open_n = 2;
    while (open_n > 0) {
        if (poll(p, 2, -1) < 0) break;
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || p[i].revents == 0) continue;
            char *buf = i == 0 ? v_out : v_err;
            size_t *n = i == 0 ? &no : &ne;
            size_t cap = i == 0 ? sizeof v_out : sizeof v_err;
            char tmp[4096];
            ssize_t r = read(p[i].fd, tmp, sizeof tmp);
            if (r <= 0) {
                close(p[i].fd);
                p[i].fd = -1;
                open_n--;
                continue;
            }
            size_t k = (size_t)r < cap - 1 - *n ? (size_t)r : cap - 1 - *n;
            memcpy(buf + *n, tmp, k);
            *n += k;
        }
    }
    v_out[no] = '\0';
    v_err[ne] = '\0';
}

/* env: "NAME=VALUE" strings, NULL-terminated ("NAME" alone unsets it); args after argv[0],
 * NULL-terminated. Returns the wait status. */
static int run_victim(const char *const *env, const char *const *args) {
    int po[2], pe[2];
    if (pipe(po) != 0 || pipe(pe) != 0) abort();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(po[1], STDOUT_FILENO);
        dup2(pe[1], STDERR_FILENO);
        close(po[0]), close(pe[0]), close(po[1]), close(pe[1]);
        for (const char *const *e = env; *e != NULL; e++) {
            const char *eq = strchr(*e, '=');
            if (eq == NULL) {
                unsetenv(*e);
                continue;
            }
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(eq - *e), *e);
            setenv(name, eq + 1, 1);
        }
        const char *argv[16] = {DEBUG_VICTIM};
        size_t n = 1;
        for (const char *const *a = args; *a != NULL && n < 15; a++) argv[n++] = *a;
        argv[n] = NULL;
        execv(DEBUG_VICTIM, (char *const *)argv);
        _exit(127);
    }
    close(po[1]), close(pe[1]);
    v_drain(po[0], pe[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

/* Lines of s that contain what. */
static inline int count_lines_with(const char *s, const char *what) {
    int n = 0;
    while (*s != '\0') {
        const char *nl = strchr(s, '\n');
        size_t len = nl != NULL ? (size_t)(nl - s) : strlen(s);
        const char *hit = strstr(s, what);
        if (hit != NULL && hit < s + len) n++;
        s += len + (nl != NULL);
    }
    return n;
}

#endif
