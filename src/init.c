/* SPDX-License-Identifier: MIT */
/* src/init.c - choosing and loading the backend, once per process.
 *
 * alloy__be starts as a bootstrap table whose every slot initializes alloy,
 * seals the layer stack (src/layer/stack.c) and then forwards to the real
 * table, so the hot path carries no "initialized?" test. Initialization may
 * itself allocate (dlopen does): in an override build those calls land back
 * here on the same thread and are served from a small static buffer, which
 * the override shims recognize when the block is freed.
 */
#define _GNU_SOURCE
#include "internal.h"
#include "env.h"
#include "layer/layer.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

/* ---- diagnostics --------------------------------------------------------- */

void alloy__warn(const char *fmt, ...) {
    char line[512];
    int n = snprintf(line, sizeof line, "alloy: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

/* ---- bootstrap allocator --------------------------------------------------
 * Serves allocations made by initialization itself. Bump only; blocks are
 * never reused. 16-byte header holds the usable size.
 */
#define BOOT_SIZE ALLOY__BOOT_SIZE
_Alignas(4096) unsigned char alloy__boot_buf[BOOT_SIZE];
#define boot_buf alloy__boot_buf
static size_t boot_used; /* only touched by the initializing thread */

static void *boot_alloc(size_t size, size_t align) {
    if (align < 16) align = 16;
    size_t start = (boot_used + 16 + align - 1) & ~(align - 1);
    if (size > BOOT_SIZE || start + size > BOOT_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    boot_used = start + size;
    memcpy(boot_buf + start - sizeof(size_t), &size, sizeof size);
    return boot_buf + start;
}

size_t alloy__boot_usable(const void *p) {
    size_t size;
    memcpy(&size, (const unsigned char *)p - sizeof(size_t), sizeof size);
    return size;
}

/* ---- backend registry ---------------------------------------------------- */

typedef struct backend_slot {
    const char *name;
    alloy__backend_load_fn *load;
    int state;        /* 0 untried, 1 loaded, -1 failed */
    const char *path; /* the library file ALLOY_BACKEND named for it; NULL: its soname */
    alloy__backend table;
    char error[512];
} backend_slot;

static backend_slot slots[] = {
#if ALLOY_HAVE_MIMALLOC
    {"mimalloc", alloy__mimalloc_load, 0, NULL, {0}, {0}},
#endif
    {"libc", alloy__libc_load, 0, NULL, {0}, {0}},
#if ALLOY_HAVE_JEMALLOC
    {"jemalloc", alloy__jemalloc_load, 0, NULL, {0}, {0}},
#endif
#if ALLOY_HAVE_TCMALLOC
    {"tcmalloc", alloy__tcmalloc_load, 0, NULL, {0}, {0}},
#endif
};
#define NSLOTS (sizeof slots / sizeof slots[0])

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

/* The slot named by the first len bytes of name. */
static backend_slot *find_slot_n(const char *name, size_t len) {
    for (size_t i = 0; i < NSLOTS; i++)
        if (strncmp(slots[i].name, name, len) == 0 && slots[i].name[len] == '\0') return &slots[i];
    return NULL;
}

static backend_slot *find_slot(const char *name) {
    return find_slot_n(name, strlen(name));
}

/* Caller holds registry_lock (or is the single initializing thread). */
static const alloy__backend *load_slot(backend_slot *s) {
    if (s->state == 0) {
        s->state = s->load(&s->table, s->path, s->error, sizeof s->error) ? 1 : -1;
        if (s->state > 0) s->table.name = s->name;
    }
    return s->state > 0 ? &s->table : NULL;
}

const alloy__backend *alloy__backend_get(const char *name) {
    alloy__init();
    backend_slot *s = find_slot(name);
    if (s == NULL) return NULL;
    pthread_mutex_lock(&registry_lock);
    const alloy__backend *be = load_slot(s);
    pthread_mutex_unlock(&registry_lock);
    return be;
}

bool alloy_backend_available(const char *name) {
    return name != NULL && alloy__backend_get(name) != NULL;
}

const char *alloy_backend_list(void) {
    static char list[64];
    static int done;
    if (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&registry_lock);
        if (!__atomic_load_n(&done, __ATOMIC_RELAXED)) {
            size_t n = 0;
            for (size_t i = 0; i < NSLOTS; i++)
                n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? " " : "",
                                      slots[i].name);
            __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&registry_lock);
    }
    return list;
}

/* A fork while another thread loads a backend must not leave the child's
 * registry locked. */
static void registry_prepare(void) {
    pthread_mutex_lock(&registry_lock);
}
static void registry_parent(void) {
    pthread_mutex_unlock(&registry_lock);
}
static void registry_child(void) {
    pthread_mutex_init(&registry_lock, NULL);
}

/* ---- initialization ------------------------------------------------------ */

static int init_state; /* 0 not started, 1 running, 2 done */
/* > 0 while this thread runs initialization or attaches a layer before the
 * seal: its allocations come from the bootstrap buffer. */
ALLOY_TLS int alloy__boot_serving;
static const alloy__backend *chosen;

/* The layers the environment can ask for, bottom first (alloy/layer.h). */
static const alloy__layer *const env_layers[] = {
    &alloy__layer_debug,
    &alloy__layer_count,
#if ALLOY_HAVE_PROFILE
    &alloy__layer_profile,
#endif
};

/* ALLOY_BACKEND=NAME:PATH: the file the named backend is loaded from instead of its soname.
 * Only an absolute path is taken: the variable reaches child processes, which may start in
 * other directories. Not in a set-user-ID or set-group-ID process, where the environment is
 * the caller's (glibc's LD_PRELOAD takes no path there either). */
static char backend_path[4096];

static bool take_path(backend_slot *s, const char *wanted, const char *path) {
    const char *why = NULL;
    if (s->load == alloy__libc_load)
        why = "mimalloc, jemalloc or tcmalloc with a library path (libc takes none)";
    else if (path[0] != '/')
        why = "NAME:PATH with an absolute PATH";
    else if (strlen(path) >= sizeof backend_path)
        why = "NAME:PATH with a PATH shorter than 4096 bytes";
    else if (getauxval(AT_SECURE))
        why = "NAME only in a set-user-ID or set-group-ID program";
    if (why != NULL) {
        alloy__env_reject("ALLOY_BACKEND", wanted, why, ALLOY_DEFAULT_BACKEND);
        return false;
    }
    memcpy(backend_path, path, strlen(path) + 1);
    s->path = backend_path;
    return true;
}

static void choose_backend(void) {
    const char *wanted = getenv("ALLOY_BACKEND");
    const alloy__backend *be = NULL;
    if (wanted != NULL && *wanted != '\0') {
        const char *colon = strchr(wanted, ':');
        backend_slot *s = find_slot_n(wanted, colon ? (size_t)(colon - wanted) : strlen(wanted));
        if (s == NULL) {
            char accepted[128];
            snprintf(accepted, sizeof accepted, "a backend of this build (%s), or NAME:PATH",
                     alloy_backend_list());
            alloy__env_reject("ALLOY_BACKEND", wanted, accepted, ALLOY_DEFAULT_BACKEND);
        } else if (colon == NULL || take_path(s, wanted, colon + 1)) {
            if ((be = load_slot(s)) == NULL) {
                alloy__env_unavailable("ALLOY_BACKEND", wanted, s->error, ALLOY_DEFAULT_BACKEND);
                /* The default may be this very backend: by its soname, then. */
                s->path = NULL;
                s->state = 0;
            }
        }
    }
    if (be == NULL) {
        backend_slot *def = find_slot(ALLOY_DEFAULT_BACKEND);
        be = load_slot(def);
        if (be == NULL) {
            alloy__warn("default backend %s is unavailable (%s); using libc", def->name,
                        def->error);
            be = load_slot(find_slot("libc"));
        }
    }
    /* Nothing is published here: the first allocation seals the stack, so
     * that alloy_layer_push() can still add the debug heap until then. */
    chosen = be;
    alloy__stack_base(be);
    alloy__stack_push_env(env_layers, sizeof env_layers / sizeof env_layers[0]);
}

void alloy__init(void) {
    if (ALLOY_LIKELY(__atomic_load_n(&init_state, __ATOMIC_ACQUIRE) == 2)) return;
    int expected = 0;
    if (__atomic_compare_exchange_n(&init_state, &expected, 1, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        alloy__boot_serving++;
        pthread_atfork(registry_prepare, registry_parent, registry_child);
        alloy__stack_init();
        choose_backend();
        alloy__boot_serving--;
        __atomic_store_n(&init_state, 2, __ATOMIC_RELEASE);
        return;
    }
    if (alloy__boot_serving) return; /* re-entered from our own initialization */
    while (__atomic_load_n(&init_state, __ATOMIC_ACQUIRE) != 2) sched_yield();
}

/* Initialize and seal: what every bootstrap slot does before forwarding. */
static void ready(void) {
    alloy__init();
    alloy__stack_seal();
}

void *alloy__meta_malloc(size_t size) {
    alloy__init();
    return chosen->malloc(size);
}

void alloy__meta_free(void *p) {
    chosen->free(p);
}

const char *alloy_backend_name(void) {
    alloy__init();
    return chosen->name;
}

bool alloy__backend_heap_stats(alloy__heap_stats *out) {
    alloy__init();
    return chosen->heap_stats != NULL && chosen->heap_stats(out);
}

const char *alloy_backend_version(void) {
    alloy__init();
    return chosen->version;
}

__attribute__((constructor)) static void alloy_constructor(void) {
    alloy__init();
}

/* ---- the bootstrap table ------------------------------------------------- */

static void *boot_malloc(size_t size) {
    if (alloy__boot_serving) return boot_alloc(size, 16);
    ready();
    return ALLOY__TOP(malloc)(size);
}

static void *boot_calloc(size_t count, size_t size) {
    if (alloy__boot_serving) return boot_alloc(count * size, 16); /* static buffer is zeroed */
    ready();
    return ALLOY__TOP(calloc)(count, size);
}

static void *boot_malloc_aligned(size_t size, size_t align) {
    if (alloy__boot_serving) return boot_alloc(size, align);
    ready();
    return ALLOY__TOP(malloc_aligned)(size, align);
}

/* While initializing (dlopen and dlerror allocate), realloc and free may see NULL or a
 * bootstrap block: served here, since the table's slots would lead back to this table. */
static void *boot_realloc(void *p, size_t size) {
    if (alloy__boot_serving && (p == NULL || alloy__boot_owns(p))) {
        void *q = boot_alloc(size, 16);
        if (q != NULL && p != NULL) {
            size_t old = alloy__boot_usable(p);
            memcpy(q, p, old < size ? old : size);
        }
        return q;
    }
    ready();
    return ALLOY__TOP(realloc)(p, size);
}

static void *boot_realloc_aligned(void *p, size_t size, size_t align) {
    ready();
    return ALLOY__TOP(realloc_aligned)(p, size, align);
}

static void boot_free(void *p) {
    if (p == NULL || alloy__boot_owns(p)) return;
    ready();
    ALLOY__TOP(free)(p);
}

static void boot_free_sized(void *p, size_t size) {
    if (p == NULL || alloy__boot_owns(p)) return;
    ready();
    ALLOY__TOP(free_sized)(p, size);
}

static void boot_free_aligned_sized(void *p, size_t size, size_t align) {
    if (p == NULL || alloy__boot_owns(p)) return;
    ready();
    ALLOY__TOP(free_aligned_sized)(p, size, align);
}

static size_t boot_usable_size(const void *p) {
    if (alloy__boot_owns(p)) return alloy__boot_usable(p);
    ready();
    return ALLOY__TOP(usable_size)(p);
}

static void boot_collect(bool force) {
    ready();
    ALLOY__TOP(collect)(force);
}

alloy__backend alloy__be = {
    .name = "(initializing)",
    .malloc = boot_malloc,
    .calloc = boot_calloc,
    .realloc = boot_realloc,
    .free = boot_free,
    .free_sized = boot_free_sized,
    .malloc_aligned = boot_malloc_aligned,
    .realloc_aligned = boot_realloc_aligned,
    .free_aligned_sized = boot_free_aligned_sized,
    .usable_size = boot_usable_size,
    .collect = boot_collect,
    .version = "",
};
