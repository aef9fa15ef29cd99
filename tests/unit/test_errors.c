/* tests/unit/test_errors.c - the error handler and the ALLOY_BACKEND fallback. */
#define _GNU_SOURCE
#include <alloy.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmocka_main.h"

typedef struct seen {
    int count;
    int last;
    void *arg;
} seen;

static void record(int err, void *arg) {
    seen *s = arg;
    s->count++;
    s->last = err;
    s->arg = arg;
}

static void handler_sees_each_error_kind(void **state) {
    (void)state;
    seen s = {0};
    assert_null(alloy_set_error_handler(record, &s));
    volatile size_t huge = SIZE_MAX;

    assert_null(alloy_malloc(huge));
    assert_int_equal(s.count, 1);
    assert_int_equal(s.last, ENOMEM);
    assert_ptr_equal(s.arg, &s);

    assert_null(alloy_calloc(huge, 2));
    assert_int_equal(s.count, 2);
    assert_int_equal(s.last, EOVERFLOW);
    assert_int_equal(errno, ENOMEM); /* libc's errno for overflow, EOVERFLOW to the handler */

    assert_null(alloy_malloc_aligned(8, 12));
    assert_int_equal(s.count, 3);
    assert_int_equal(s.last, EINVAL);
    assert_int_equal(errno, EINVAL);

    void *p = alloy_malloc(1);
    assert_null(alloy_realloc(p, huge));
    assert_int_equal(s.count, 4);
    assert_int_equal(s.last, ENOMEM);
    alloy_free(p);

    /* success does not call it */
    p = alloy_malloc(64);
    alloy_free(p);
    assert_int_equal(s.count, 4);

    assert_ptr_equal(alloy_set_error_handler(NULL, NULL), record);
    assert_null(alloy_malloc(huge));
    assert_int_equal(s.count, 4);
}

/* Run this test binary's own "child" mode with an environment; capture stderr. */
static int run_child(const char *backend_env, char *err, size_t errlen, char *out, size_t outlen) {
    int perr[2], pout[2];
    assert_int_equal(pipe(perr), 0);
    assert_int_equal(pipe(pout), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(perr[1], 2);
        dup2(pout[1], 1);
        setenv("ALLOY_BACKEND", backend_env, 1);
        execl("/proc/self/exe", "test_errors", "--child", (char *)NULL);
        _exit(127);
    }
    close(perr[1]);
    close(pout[1]);
    ssize_t n = read(perr[0], err, errlen - 1);
    err[n < 0 ? 0 : n] = '\0';
    n = read(pout[0], out, outlen - 1);
    out[n < 0 ? 0 : n] = '\0';
    close(perr[0]);
    close(pout[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void unknown_backend_warns_once_and_keeps_default(void **state) {
    (void)state;
    char err[1024], out[256];
    assert_int_equal(run_child("no-such-allocator", err, sizeof err, out, sizeof out), 0);
    assert_non_null(strstr(err, "ALLOY_BACKEND=no-such-allocator is not a backend"));
    assert_non_null(strstr(err, "using " ALLOY_DEFAULT_BACKEND));
    assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1); /* exactly one line */
    assert_string_equal(out, ALLOY_DEFAULT_BACKEND);
}

static void each_backend_is_selectable_at_run_time(void **state) {
    (void)state;
    char list[64];
    snprintf(list, sizeof list, "%s", alloy_backend_list());
    for (char *save = NULL, *name = strtok_r(list, " ", &save); name != NULL;
         name = strtok_r(NULL, " ", &save)) {
        char err[1024], out[256];
        assert_int_equal(run_child(name, err, sizeof err, out, sizeof out), 0);
        assert_string_equal(err, "");
        assert_string_equal(out, name);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(handler_sees_each_error_kind),
    cmocka_unit_test(unknown_backend_warns_once_and_keeps_default),
    cmocka_unit_test(each_backend_is_selectable_at_run_time),
};

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--child") == 0) {
        void *p = alloy_malloc(10); /* the backend serves real blocks */
        alloy_free(p);
        fputs(alloy_backend_name(), stdout);
        return p == NULL;
    }
    return alloy_test_run(__FILE__, tests, sizeof tests / sizeof tests[0], argc, argv);
}
