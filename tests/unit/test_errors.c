/* SPDX-License-Identifier: MIT */
/* tests/unit/test_errors.c - the error handler and the ALLOY_BACKEND fallback. */
#define _GNU_SOURCE
#include <alloy.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmocka_main.h"
#include "read_all.h"

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

    volatile size_t not_pow2 = 12; /* a runtime value: the point is the runtime check */
    assert_null(alloy_malloc_aligned(8, not_pow2));
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

/* Run this test binary's own child mode (argv[1] = mode) with ALLOY_BACKEND and
 * optionally ALLOY_LEAK_CHECK=1; capture stderr and stdout. */
static int run_child_mode(const char *mode, const char *backend_env, bool leak_check, char *err,
                          size_t errlen, char *out, size_t outlen) {
    int perr[2], pout[2];
    assert_int_equal(pipe(perr), 0);
    assert_int_equal(pipe(pout), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(perr[1], 2);
        dup2(pout[1], 1);
        setenv("ALLOY_BACKEND", backend_env, 1);
        if (leak_check)
            setenv("ALLOY_LEAK_CHECK", "1", 1);
        else
            unsetenv("ALLOY_LEAK_CHECK");
        execl("/proc/self/exe", "test_errors", mode, (char *)NULL);
        _exit(127);
    }
    close(perr[1]);
    close(pout[1]);
    /* stdout first: a child filling the stdout pipe while we wait on stderr would hang */
    read_all(pout[0], out, outlen);
    read_all(perr[0], err, errlen);
    close(perr[0]);
    close(pout[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int run_child(const char *backend_env, char *err, size_t errlen, char *out, size_t outlen) {
    return run_child_mode("--child", backend_env, false, err, errlen, out, outlen);
}

static void unknown_backend_warns_once_and_keeps_default(void **state) {
    (void)state;
    char err[1024], out[256];
    assert_int_equal(run_child("no-such-allocator", err, sizeof err, out, sizeof out), 0);
    assert_non_null(strstr(err, "ALLOY_BACKEND=no-such-allocator is not valid"));
    assert_non_null(strstr(err, "using " ALLOY_DEFAULT_BACKEND));
    assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1); /* exactly one line */
    assert_string_equal(out, ALLOY_DEFAULT_BACKEND);
}

/* jemalloc loaded after start-up needs static TLS that glibc does not keep
 * spare by default: without the tunable the process says how to fix it, in one
 * line, and keeps the default backend. */
static void jemalloc_without_static_tls_says_how(void **state) {
    (void)state;
    if (!ALLOY_HAVE_JEMALLOC || strcmp(ALLOY_DEFAULT_BACKEND, "jemalloc") == 0) skip();
    char err[1024], out[256];
    char *saved = getenv("GLIBC_TUNABLES") ? strdup(getenv("GLIBC_TUNABLES")) : NULL;
    unsetenv("GLIBC_TUNABLES");
    int rc = run_child("jemalloc", err, sizeof err, out, sizeof out);
    if (saved) {
        setenv("GLIBC_TUNABLES", saved, 1);
        free(saved);
    }
    assert_int_equal(rc, 0);
    assert_non_null(strstr(err, "ALLOY_BACKEND=jemalloc is unavailable"));
    assert_non_null(strstr(err, "GLIBC_TUNABLES=glibc.rtld.optional_static_tls=4096"));
    assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1);
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

/* ALLOY_LEAK_CHECK=1 names exactly the blocks the child left live. */
static void leak_check_reports_exact_live_blocks(void **state) {
    (void)state;
    char err[1024], out[256];
    alloy_stats s;
    if (!alloy_stats_get(&s)) {
        assert_int_equal(run_child_mode("--leak", "", true, err, sizeof err, out, sizeof out), 0);
        assert_non_null(strstr(err, "leak check unavailable"));
        return;
    }
    assert_int_equal(run_child_mode("--leak", "", true, err, sizeof err, out, sizeof out), 0);
    /* the child printed the usable bytes of its three blocks on stdout */
    char want[256];
    snprintf(want, sizeof want, "leak check (%s): 3 of ", ALLOY_DEFAULT_BACKEND);
    assert_non_null(strstr(err, want));
    char bytes[128];
    snprintf(bytes, sizeof bytes, "blocks (%.40s bytes) still live at exit", out);
    assert_non_null(strstr(err, bytes));
    /* without the variable: silent */
    assert_int_equal(run_child_mode("--leak", "", false, err, sizeof err, out, sizeof out), 0);
    assert_string_equal(err, "");
}

/* fork() while other threads allocate: the child allocates, frees, and its
 * counters stay consistent (nothing negative, frees balance). */
static void *churn(void *arg) {
    volatile int *stop = arg;
    while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE)) alloy_free(alloy_malloc(48));
    return NULL;
}

static void fork_with_threads_allocating(void **state) {
    (void)state;
    int stop = 0;
    pthread_t t[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, churn, &stop), 0);
    for (int round = 0; round < 20; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            alloy_stats a, b;
            bool counted = alloy_stats_get(&a);
            void *p[100];
            for (int i = 0; i < 100; i++) p[i] = alloy_malloc((size_t)i + 1);
            for (int i = 0; i < 100; i++) alloy_free(p[i]);
            alloy_stats_get(&b);
            bool ok = !counted ||
                      (b.current_count == a.current_count && b.current_bytes == a.current_bytes &&
                       b.alloc_count - a.alloc_count == 100 && b.current_count < (1u << 30));
            _exit(ok ? 0 : 3);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(handler_sees_each_error_kind),
    cmocka_unit_test(unknown_backend_warns_once_and_keeps_default),
    cmocka_unit_test(each_backend_is_selectable_at_run_time),
    cmocka_unit_test(jemalloc_without_static_tls_says_how),
    cmocka_unit_test(leak_check_reports_exact_live_blocks),
    cmocka_unit_test(fork_with_threads_allocating),
};

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--leak") == 0) {
        /* leave three blocks live at exit; report their usable bytes */
        static void *leaked[3];
        size_t bytes = 0;
        for (int i = 0; i < 3; i++) {
            leaked[i] = alloy_malloc((size_t)(i + 1) * 100);
            bytes += alloy_usable_size(leaked[i]);
        }
        void *freed = alloy_malloc(5000);
        alloy_free(freed);
        printf("%zu", bytes);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--child") == 0) {
        void *p = alloy_malloc(10); /* the backend serves real blocks */
        alloy_free(p);
        fputs(alloy_backend_name(), stdout);
        return p == NULL;
    }
    return alloy_test_run(__FILE__, tests, sizeof tests / sizeof tests[0], argc, argv);
}
