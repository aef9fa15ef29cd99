/* SPDX-License-Identifier: MIT */
/* tests/override/test_backend_path.c - ALLOY_BACKEND=NAME:PATH loads a backend from a file.
 *
 * A copy of Debian's libmimalloc.so.2 at another path stands in for a newer mimalloc: the
 * probe (backend_probe.c) is served from the copy under liballoy and under the override
 * library; a missing file, a library that is not mimalloc, a relative path and a path for libc
 * each give one escaped warning line and a process served by the default backend.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmocka_main.h"
#include "read_all.h"

static char dir[64], copy[128];

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation" /* the buffers fit the paths made here */
#endif

/* Run argv with ALLOY_BACKEND=backend (and LD_PRELOAD=preload, extra "NAME=VALUE" if given);
 * stdout and stderr captured. Returns the exit status (-1 if it did not exit). */
static int run(char *const argv[], const char *backend, const char *preload, const char *extra,
               char *out, size_t outlen, char *err, size_t errlen) {
    int po[2], pe[2];
    assert_int_equal(pipe(po), 0);
    assert_int_equal(pipe(pe), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        setenv("ALLOY_BACKEND", backend, 1);
        if (preload != NULL) setenv("LD_PRELOAD", preload, 1);
        if (extra != NULL) putenv((char *)extra);
        execv(argv[0], argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    read_all(po[0], out, outlen);
    read_all(pe[0], err, errlen);
    close(po[0]);
    close(pe[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The probe under liballoy (preload false) or the override library. */
static int probe(bool preload, const char *backend, const char *extra, char *out, size_t outlen,
                 char *err, size_t errlen) {
    char *argv[] = {PROBE, preload ? "preload" : LIBALLOY, "mimalloc", NULL};
    return run(argv, backend, preload ? OVERRIDE : NULL, extra, out, outlen, err, errlen);
}

static void copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/alloy-backend-path-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(copy, sizeof copy, "%s/libmimalloc.so.2", dir);
    copy_file(MIMALLOC_LIB, copy);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    unlink(copy);
    rmdir(dir);
    return 0;
}

/* Served from the copy: the version the soname reports, the copy mapped and Debian's file not. */
static void loads_from_path(bool preload) {
    char out[4096], err[4096], want[256], out_soname[4096];
    assert_int_equal(
        probe(preload, "mimalloc", NULL, out_soname, sizeof out_soname, err, sizeof err), 0);
    assert_string_equal(err, "");
    *strchr(out_soname, '\n') = '\0'; /* "backend mimalloc 2.0.9" */
    char backend[256];
    snprintf(backend, sizeof backend, "mimalloc:%s", copy);
    assert_int_equal(probe(preload, backend, NULL, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(err, "");
    snprintf(want, sizeof want, "%s\nmapped %s\n", out_soname, copy);
    assert_string_equal(out, want);
}

static void path_loads_under_liballoy(void **state) {
    (void)state;
    loads_from_path(false);
}

static void path_loads_under_override(void **state) {
    (void)state;
    loads_from_path(true);
    /* and an unmodified program runs */
    char backend[256], out[256], err[1024];
    snprintf(backend, sizeof backend, "mimalloc:%s", copy);
    char *argv[] = {"/bin/echo", "ok", NULL};
    assert_int_equal(run(argv, backend, OVERRIDE, NULL, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "ok\n");
    assert_string_equal(err, "");
}

/* One warning line containing each of the parts; the probe served by the default backend. */
static void falls_back(const char *backend, const char *const *parts, size_t nparts) {
    for (int preload = 0; preload < 2; preload++) {
        char out[4096], err[4096];
        assert_int_equal(probe(preload, backend, NULL, out, sizeof out, err, sizeof err), 0);
        for (size_t i = 0; i < nparts; i++) {
            if (strstr(err, parts[i]) == NULL) fail_msg("no \"%s\" in: %s", parts[i], err);
        }
        assert_non_null(strstr(err, "; using " DEFAULT_BACKEND "\n"));
        assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1); /* exactly one line */
        assert_true(strncmp(out, "backend " DEFAULT_BACKEND " ", 9 + strlen(DEFAULT_BACKEND)) == 0);
        assert_null(strstr(out, copy));
    }
}

static void missing_file_warns_and_falls_back(void **state) {
    (void)state;
    char backend[256], named[300];
    snprintf(backend, sizeof backend, "mimalloc:%s/no-such-lib.so", dir);
    snprintf(named, sizeof named,
             "alloy: ALLOY_BACKEND=%s is unavailable (%s/no-such-lib.so: ", backend, dir);
    const char *parts[] = {named, "cannot open shared object file"};
    falls_back(backend, parts, 2);
}

static void library_that_is_not_mimalloc_is_refused(void **state) {
    (void)state;
    Dl_info info; /* libm: a real shared library without mimalloc's entry points */
    double (*fn)(double) = cos;
    void *addr;
    memcpy(&addr, &fn, sizeof addr);
    assert_true(dladdr(addr, &info) != 0 && info.dli_fname != NULL);
    char backend[512], missing[600];
    snprintf(backend, sizeof backend, "mimalloc:%s", info.dli_fname);
    snprintf(missing, sizeof missing, "(%s: symbol mi_malloc missing)", info.dli_fname);
    const char *parts[] = {"is unavailable", missing};
    falls_back(backend, parts, 2);
}

static void relative_path_and_libc_path_are_rejected(void **state) {
    (void)state;
    const char *rel[] = {"ALLOY_BACKEND=mimalloc:lib/libmimalloc.so.2 is not valid",
                         "absolute PATH"};
    falls_back("mimalloc:lib/libmimalloc.so.2", rel, 2);
    const char *libc[] = {"ALLOY_BACKEND=libc:/lib/libc.so.6 is not valid", "libc takes none"};
    falls_back("libc:/lib/libc.so.6", libc, 2);
}

/* A path is user input: control bytes reach the terminal escaped. */
static void path_is_escaped_in_the_warning(void **state) {
    (void)state;
    char backend[256];
    snprintf(backend, sizeof backend, "mimalloc:%s/\033[31mred\n.so", dir);
    const char *parts[] = {"/\\x1b[31mred\\x0a.so is unavailable ("};
    falls_back(backend, parts, 1);
}

/* mimalloc reads its own MIMALLOC_* variables, from the copy too. */
static void mimalloc_options_pass_through(void **state) {
    (void)state;
    char backend[256], out[4096], err[16384];
    snprintf(backend, sizeof backend, "mimalloc:%s", copy);
    assert_int_equal(probe(false, backend, "MIMALLOC_VERBOSE=1", out, sizeof out, err, sizeof err),
                     0);
    assert_non_null(strstr(err, "mimalloc: option 'verbose': 1"));
    assert_non_null(strstr(out, copy));
}

/* jemalloc and tcmalloc take a path too: a copy of each serves the probe under liballoy. */
static void jemalloc_and_tcmalloc_by_path(void **state) {
    (void)state;
    const char *const libs[][2] = {{"jemalloc", JEMALLOC_LIB}, {"tcmalloc", TCMALLOC_LIB}};
    for (size_t i = 0; i < 2; i++) {
        if (libs[i][1][0] == '\0') continue; /* not in this build */
        char path[256], backend[300], out[4096], err[4096], want[512];
        snprintf(path, sizeof path, "%s/lib%s-copy.so", dir, libs[i][0]);
        copy_file(libs[i][1], path);
        snprintf(backend, sizeof backend, "%s:%s", libs[i][0], path);
        char *argv[] = {PROBE, LIBALLOY, "-copy.so", NULL};
        int rc = run(argv, backend, NULL, NULL, out, sizeof out, err, sizeof err);
        unlink(path);
        assert_int_equal(rc, 0);
        assert_string_equal(err, "");
        snprintf(want, sizeof want, "backend %s ", libs[i][0]);
        assert_true(strncmp(out, want, strlen(want)) == 0);
        snprintf(want, sizeof want, "\nmapped %s\n", path);
        assert_non_null(strstr(out, want));
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(path_loads_under_liballoy, setup, teardown),
    cmocka_unit_test_setup_teardown(path_loads_under_override, setup, teardown),
    cmocka_unit_test_setup_teardown(missing_file_warns_and_falls_back, setup, teardown),
    cmocka_unit_test_setup_teardown(library_that_is_not_mimalloc_is_refused, setup, teardown),
    cmocka_unit_test_setup_teardown(relative_path_and_libc_path_are_rejected, setup, teardown),
    cmocka_unit_test_setup_teardown(path_is_escaped_in_the_warning, setup, teardown),
    cmocka_unit_test_setup_teardown(mimalloc_options_pass_through, setup, teardown),
    cmocka_unit_test_setup_teardown(jemalloc_and_tcmalloc_by_path, setup, teardown),
};

int main(int argc, char **argv) {
    return alloy_test_run(__FILE__, tests, sizeof tests / sizeof tests[0], argc, argv);
}
