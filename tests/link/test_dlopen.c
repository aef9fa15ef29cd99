/* SPDX-License-Identifier: MIT */
/* tests/link/test_dlopen.c - liballoy loaded after start-up, as a plugin or a
 * language binding would load it, and unloaded while a thread still runs.
 * This program does not link liballoy; it dlopens ALLOY_LIB_PATH.
 */
#define _GNU_SOURCE
#include <alloy/config.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "cmocka_main.h"

typedef struct api {
    void *(*malloc)(size_t);
    void (*free)(void *);
    const char *(*backend_name)(void);
} api;

static void *must_sym(void *h, const char *name) {
    void *p = dlsym(h, name);
    if (p == NULL) fail_msg("%s: %s", name, dlerror());
    return p;
}

static api load(void *h) {
    api a;
    void *p = must_sym(h, "alloy_malloc");
    memcpy(&a.malloc, &p, sizeof p);
    p = must_sym(h, "alloy_free");
    memcpy(&a.free, &p, sizeof p);
    p = must_sym(h, "alloy_backend_name");
    memcpy(&a.backend_name, &p, sizeof p);
    return a;
}

static void loads_late_and_serves(void **state) {
    (void)state;
    void *h = dlopen(ALLOY_LIB_PATH, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) fail_msg("dlopen: %s", dlerror());
    api a = load(h);
    void *p = a.malloc(1000);
    assert_non_null(p);
    memset(p, 1, 1000);
    a.free(p);
    assert_string_equal(a.backend_name(), ALLOY_DEFAULT_BACKEND);
    assert_int_equal(dlclose(h), 0);
}

typedef struct worker {
    api a;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int phase; /* 0 start, 1 allocated, 2 library closed */
} worker;

static void *work(void *arg) {
    worker *w = arg;
    void *p = w->a.malloc(64); /* registers this thread's counters */
    pthread_mutex_lock(&w->lock);
    w->phase = 1;
    pthread_cond_broadcast(&w->cond);
    while (w->phase != 2) pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
    w->a.free(p); /* after dlclose: the library must still be there */
    return NULL;  /* thread exit runs liballoy's thread destructor */
}

static void thread_outlives_dlclose(void **state) {
    (void)state;
    void *h = dlopen(ALLOY_LIB_PATH, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) fail_msg("dlopen: %s", dlerror());
    worker w = {.a = load(h), .phase = 0};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, work, &w), 0);
    pthread_mutex_lock(&w.lock);
    while (w.phase != 1) pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    assert_int_equal(dlclose(h), 0);
    pthread_mutex_lock(&w.lock);
    w.phase = 2;
    pthread_cond_broadcast(&w.cond);
    pthread_mutex_unlock(&w.lock);
    assert_int_equal(pthread_join(t, NULL), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(loads_late_and_serves),
    cmocka_unit_test(thread_outlives_dlclose),
};

ALLOY_TEST_MAIN(tests)
