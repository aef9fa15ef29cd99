/* SPDX-License-Identifier: MIT */
/* Leaks at four sites, exactly 7 blocks and 284 bytes:
 *   leak_three: 3 x 24 bytes   leak_one: 1 x 100 bytes
 *   a thread:   1 x 48 bytes   a dlopen'ed library (dlclosed before exit): 2 x 32 bytes
 * and blocks that are not leaks: reachable from a global, from a TLS variable, only through
 * another reachable block, and what stdio allocates. The fixed twin frees the leaked ones. */
#include "corpus.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#ifndef CORPUS_LIB
#error CORPUS_LIB must name the library to dlopen
#endif

struct list {
    struct list *next;
    char payload[40];
};
/* Not static: the stores must happen even though the program never reads them again. */
struct list *global_list; /* reachable, with a block reachable only through it */
__thread char *tls_block; /* reachable from the main thread's TLS */
void *keep[8];

__attribute__((noinline)) static void leak_three(void) {
    for (int i = 0; i < 3; i++) {
        char *p = MALLOC(24);
        OPAQUE(p); /* the compiler may not drop an allocation it can see is never used */
        memset(p, i, 24);
        keep[i] = p;
    }
#ifndef FIXED
    memset(keep, 0, 3 * sizeof keep[0]);
#endif
}

__attribute__((noinline)) static void leak_one(void) {
    char *p = MALLOC(100);
    OPAQUE(p);
    memset(p, 7, 100);
    keep[3] = p;
#ifndef FIXED
    keep[3] = NULL;
#endif
}

static void *thread_body(void *arg) {
    char *p = MALLOC(48);
    OPAQUE(p);
    memset(p, 3, 48);
#ifdef FIXED
    FREE(p);
#endif
    (void)arg;
    return NULL;
}

__attribute__((noinline)) static void leak_in_library(void) {
    void *lib = dlopen(CORPUS_LIB, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen %s: %s\n", CORPUS_LIB, dlerror());
        exit(2);
    }
    void *(*make)(size_t);
    void (*release)(void *);
    *(void **)&make = dlsym(lib, "corpus_lib_make");
    *(void **)&release = dlsym(lib, "corpus_lib_free");
    void *a = make(32), *b = make(32);
#ifdef FIXED
    release(a);
    release(b);
#else
    (void)release;
    OPAQUE(a);
    OPAQUE(b);
#endif
    dlclose(lib);
}

static void not_leaks(void) {
    global_list = MALLOC(sizeof *global_list);
    global_list->next = MALLOC(sizeof *global_list);
    global_list->next->next = NULL;
    tls_block = MALLOC(16);
    strcpy(tls_block, "tls");
    printf("corpus leaks: %s\n", tls_block); /* stdio's buffer is reachable too */
}

int main(void) {
    not_leaks();
    leak_three();
    leak_one();
    pthread_t t;
    pthread_create(&t, NULL, thread_body, NULL);
    pthread_join(t, NULL);
    leak_in_library();
    return 0;
}
