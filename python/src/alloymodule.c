/* SPDX-License-Identifier: MIT */
/* _alloy - the C core of the alloy Python package (python/alloy/__init__.py wraps it).
 *
 * What it holds: the counters (alloy/stats.h), the profiler (alloy/profile.h) with its report
 * as a Python object, the exports, and the hooks that route the interpreter's own allocation
 * domains through alloy (PyMem_SetAllocator).
 *
 * Free-threaded builds (Py_GIL_DISABLED): nothing here keeps a borrowed reference across a
 * call that may run other Python code; the only static mutable state is the routing table
 * (written once per domain under route_lock before the hook is installed, read-only after)
 * and the ownership registry (each shard behind its own lock). A Report is immutable once
 * built, so concurrent readers need no lock.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <alloy/heap.h>
#include <alloy/profile.h>
#include <alloy/stats.h>

/* ---- ownership registry --------------------------------------------------------------
 * use_for_python() runs in an interpreter whose domains already hold blocks from their old
 * allocator (pymalloc, glibc malloc). A free must reach the allocator that made the block,
 * and no backend of alloy can tell its own pointers from foreign ones, so every block the
 * hooks hand out is recorded here: 64 shards, each an open-addressed set of addresses in
 * mmap'd memory (never from the heaps it tracks) behind a spin lock. */
#define REG_SHARDS 64
#define REG_EMPTY ((uintptr_t)0)
#define REG_TOMB ((uintptr_t)1)

typedef struct reg_shard {
    int lock; /* atomic */
    uintptr_t *tab;
    size_t cap, used, tomb;
    char pad[64 - sizeof(int) - sizeof(void *) - 3 * sizeof(size_t)];
} reg_shard;

static reg_shard reg[REG_SHARDS];

static uint64_t reg_hash(uintptr_t p) {
    return (uint64_t)(p >> 4) * 0x9E3779B97F4A7C15ull;
}

static void reg_lock(reg_shard *s) {
    while (__atomic_exchange_n(&s->lock, 1, __ATOMIC_ACQUIRE) != 0) {
        while (__atomic_load_n(&s->lock, __ATOMIC_RELAXED) != 0) sched_yield();
    }
}

static void reg_unlock(reg_shard *s) {
    __atomic_store_n(&s->lock, 0, __ATOMIC_RELEASE);
}

/* Rehash s into a table of newcap slots; false (s unchanged) if mmap fails. */
static bool reg_resize(reg_shard *s, size_t newcap) {
    uintptr_t *t =
        mmap(NULL, newcap * sizeof *t, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (t == MAP_FAILED) return false;
    for (size_t i = 0; i < s->cap; i++) {
        uintptr_t p = s->tab[i];
        if (p == REG_EMPTY || p == REG_TOMB) continue;
        size_t j = (size_t)(reg_hash(p) >> 16) & (newcap - 1);
        while (t[j] != REG_EMPTY) j = (j + 1) & (newcap - 1);
        t[j] = p;
    }
    if (s->tab != NULL) munmap(s->tab, s->cap * sizeof *s->tab);
    s->tab = t;
    s->cap = newcap;
    s->tomb = 0;
    return true;
}

/* Record p; false only when the shard is full and cannot grow. */
static bool reg_insert(void *ptr) {
    uintptr_t p = (uintptr_t)ptr;
    uint64_t h = reg_hash(p);
    reg_shard *s = &reg[h >> 58];
    reg_lock(s);
    if ((s->used + s->tomb + 1) * 4 > s->cap * 3) {
        size_t want = s->cap == 0 ? 1024 : (s->used * 2 >= s->cap ? s->cap * 2 : s->cap);
        if (!reg_resize(s, want) && s->used + s->tomb + 1 >= s->cap) {
            reg_unlock(s);
            return false;
        }
    }
    size_t j = (size_t)(h >> 16) & (s->cap - 1);
    while (s->tab[j] != REG_EMPTY && s->tab[j] != REG_TOMB) j = (j + 1) & (s->cap - 1);
    if (s->tab[j] == REG_TOMB) s->tomb--;
    s->tab[j] = p;
    s->used++;
    reg_unlock(s);
    return true;
}

/* Forget p; true if it was recorded (an alloy block). */
static bool reg_remove(void *ptr) {
    uintptr_t p = (uintptr_t)ptr;
    uint64_t h = reg_hash(p);
    reg_shard *s = &reg[h >> 58];
    bool found = false;
    reg_lock(s);
    if (s->cap != 0) {
        size_t j = (size_t)(h >> 16) & (s->cap - 1);
        while (s->tab[j] != REG_EMPTY) {
            if (s->tab[j] == p) {
                s->tab[j] = REG_TOMB;
                s->used--;
                s->tomb++;
                found = true;
                break;
            }
            j = (j + 1) & (s->cap - 1);
        }
    }
    reg_unlock(s);
    return found;
}

static size_t reg_count(void) {
    size_t n = 0;
    for (int i = 0; i < REG_SHARDS; i++) {
        reg_lock(&reg[i]);
        n += reg[i].used;
        reg_unlock(&reg[i]);
    }
    return n;
}

/* ---- the domain hooks ------------------------------------------------------------------ */
static PyMemAllocatorEx old_alloc[3]; /* indexed by PyMemAllocatorDomain; read-only once routed */
static int routed[3];                 /* atomic */
static pthread_mutex_t route_lock = PTHREAD_MUTEX_INITIALIZER;

static void *own(void *p) {
    if (p != NULL && !reg_insert(p)) {
        alloy_free(p);
        return NULL;
    }
    return p;
}

static void *hook_malloc(size_t n) {
    return own(alloy_malloc(n));
}
static void *hook_calloc(size_t a, size_t b) {
    return own(alloy_calloc(a, b));
}

static void *hook_realloc(int d, void *p, size_t n) {
    if (p == NULL) return hook_malloc(n);
    if (!reg_remove(p)) return old_alloc[d].realloc(old_alloc[d].ctx, p, n);
    void *q = alloy_realloc(p, n);
    if (q == NULL) {
        (void)reg_insert(p); /* its slot was just freed: cannot fail */
        return NULL;
    }
    if (!reg_insert(q)) Py_FatalError("alloy: ownership registry out of memory");
    return q;
}

static void hook_free(int d, void *p) {
    if (p == NULL) return;
    if (reg_remove(p))
        alloy_free(p);
    else
        old_alloc[d].free(old_alloc[d].ctx, p);
}

/* ctx is ignored: PyMem_SetAllocator is not atomic, so a racing caller could pair our
 * function with the old ctx; each domain has its own functions instead. */
#define DOMAIN_HOOKS(tag, D)                                                                       \
    static void *tag##_malloc(void *ctx, size_t n) {                                               \
        (void)ctx;                                                                                 \
        return hook_malloc(n);                                                                     \
    }                                                                                              \
    static void *tag##_calloc(void *ctx, size_t a, size_t b) {                                     \
        (void)ctx;                                                                                 \
        return hook_calloc(a, b);                                                                  \
    }                                                                                              \
    static void *tag##_realloc(void *ctx, void *p, size_t n) {                                     \
        (void)ctx;                                                                                 \
        return hook_realloc(D, p, n);                                                              \
    }                                                                                              \
    static void tag##_free(void *ctx, void *p) {                                                   \
        (void)ctx;                                                                                 \
        hook_free(D, p);                                                                           \
    }
DOMAIN_HOOKS(raw, PYMEM_DOMAIN_RAW)
DOMAIN_HOOKS(mem, PYMEM_DOMAIN_MEM)
DOMAIN_HOOKS(obj, PYMEM_DOMAIN_OBJ)

static PyObject *py_route_domain(PyObject *self, PyObject *arg) {
    (void)self;
    long d = PyLong_AsLong(arg);
    if (d == -1 && PyErr_Occurred()) return NULL;
    if (d != PYMEM_DOMAIN_RAW && d != PYMEM_DOMAIN_MEM && d != PYMEM_DOMAIN_OBJ) {
        PyErr_SetString(PyExc_ValueError, "unknown allocator domain");
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    /* The free-threaded GC finds objects by walking the object domain's mimalloc heaps. */
    if (d == PYMEM_DOMAIN_OBJ) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the object domain must stay mimalloc's in a free-threaded build");
        return NULL;
    }
#endif
    PyMemAllocatorEx hooks[3] = {
        [PYMEM_DOMAIN_RAW] = {NULL, raw_malloc, raw_calloc, raw_realloc, raw_free},
        [PYMEM_DOMAIN_MEM] = {NULL, mem_malloc, mem_calloc, mem_realloc, mem_free},
        [PYMEM_DOMAIN_OBJ] = {NULL, obj_malloc, obj_calloc, obj_realloc, obj_free},
    };
    bool now = false;
    pthread_mutex_lock(&route_lock);
    if (!__atomic_load_n(&routed[d], __ATOMIC_ACQUIRE)) {
        PyMem_GetAllocator((PyMemAllocatorDomain)d, &old_alloc[d]);
        __atomic_store_n(&routed[d], 1, __ATOMIC_RELEASE);
        PyMem_SetAllocator((PyMemAllocatorDomain)d, &hooks[d]);
        now = true;
    }
    pthread_mutex_unlock(&route_lock);
    return PyBool_FromLong(now);
}

static PyObject *py_routed_domains(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return Py_BuildValue("(iii)", __atomic_load_n(&routed[PYMEM_DOMAIN_RAW], __ATOMIC_ACQUIRE),
                         __atomic_load_n(&routed[PYMEM_DOMAIN_MEM], __ATOMIC_ACQUIRE),
                         __atomic_load_n(&routed[PYMEM_DOMAIN_OBJ], __ATOMIC_ACQUIRE));
}

static PyObject *py_owned_blocks(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyLong_FromSize_t(reg_count());
}

/* ---- heap and counters ----------------------------------------------------------------- */
static PyObject *py_backend(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyUnicode_FromString(alloy_backend_name());
}

static PyObject *py_versions(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return Py_BuildValue("(sss)", alloy_version(), alloy_backend_version(), alloy_backend_list());
}

static PyObject *py_collect(PyObject *self, PyObject *args) {
    (void)self;
    int force = 0;
    if (!PyArg_ParseTuple(args, "|p", &force)) return NULL;
    Py_BEGIN_ALLOW_THREADS alloy_collect(force != 0);
    Py_END_ALLOW_THREADS Py_RETURN_NONE;
}

static PyObject *py_stats_enable(PyObject *self, PyObject *args) {
    (void)self;
    int exact = 0;
    if (!PyArg_ParseTuple(args, "|p", &exact)) return NULL;
    if (!alloy_stats_enable(exact != 0)) return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

/* (alloc_count, free_count, alloc_bytes, free_bytes, current_bytes, current_count,
 * peak_bytes), or None while counting is off. */
static PyObject *py_stats_get(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    alloy_stats s;
    if (!alloy_stats_get(&s)) Py_RETURN_NONE;
    return Py_BuildValue("(KKKKKKK)", (unsigned long long)s.alloc_count,
                         (unsigned long long)s.free_count, (unsigned long long)s.alloc_bytes,
                         (unsigned long long)s.free_bytes, (unsigned long long)s.current_bytes,
                         (unsigned long long)s.current_count, (unsigned long long)s.peak_bytes);
}

static PyObject *py_stats_reset(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    alloy_stats_reset();
    Py_RETURN_NONE;
}

/* ---- blocks on demand, for exact tests ------------------------------------------------- */
static PyObject *py_alloc(PyObject *self, PyObject *arg) {
    (void)self;
    size_t n = PyLong_AsSize_t(arg);
    if (n == (size_t)-1 && PyErr_Occurred()) return NULL;
    void *p = alloy_malloc(n);
    if (p == NULL) return PyErr_NoMemory();
    memset(p, 0xA5, n);
    return PyLong_FromVoidPtr(p);
}

static PyObject *py_free(PyObject *self, PyObject *arg) {
    (void)self;
    void *p = PyLong_AsVoidPtr(arg);
    if (p == NULL && PyErr_Occurred()) return NULL;
    alloy_free(p);
    Py_RETURN_NONE;
}

/* A leak on purpose: the block is never freed by this function, and the profiler's leak
 * sites name it (exported, not inlined, so its frame has a symbol). */
__attribute__((noinline, visibility("default"))) void *alloy_py_planted_leak(size_t n) {
    void *p = alloy_malloc(n);
    if (p != NULL) memset(p, 0x5A, n);
    __asm__ volatile("" ::: "memory"); /* keep this frame a frame */
    return p;
}

static PyObject *py_planted_leak(PyObject *self, PyObject *arg) {
    (void)self;
    size_t n = PyLong_AsSize_t(arg);
    if (n == (size_t)-1 && PyErr_Occurred()) return NULL;
    void *p = alloy_py_planted_leak(n);
    if (p == NULL) return PyErr_NoMemory();
    return PyLong_FromVoidPtr(p);
}

/* Test hook: nthreads pthreads (no thread state, as the raw domain allows) each allocate
 * and free through PyMem_RawMalloc/Realloc/Free rounds times; half the blocks of each round
 * are handed to the next thread, which frees them. Returns the failed allocations. */
#define STRESS_MAX 16
#define STRESS_BLOCKS 64
typedef struct stress_arg {
    unsigned rounds, seed, index, nthreads;
    void *volatile *mailbox; /* [STRESS_MAX][STRESS_BLOCKS / 2], atomically exchanged */
    unsigned long failed;
} stress_arg;

static void *stress_main(void *p) {
    stress_arg *a = p;
    void *mine[STRESS_BLOCKS];
    for (unsigned r = 0; r < a->rounds; r++) {
        for (unsigned i = 0; i < STRESS_BLOCKS; i++) {
            a->seed = a->seed * 1103515245u + 12345u;
            size_t n = 1 + (a->seed >> 16) % 2048;
            mine[i] = (i & 3) == 0 ? PyMem_RawCalloc(1, n) : PyMem_RawMalloc(n);
            if (mine[i] != NULL && (i & 7) == 1) {
                void *q = PyMem_RawRealloc(mine[i], n * 2);
                if (q != NULL) mine[i] = q;
            }
            if (mine[i] == NULL) a->failed++;
        }
        /* Blocks the previous thread left in our inbox are freed here (cross-thread); ours
         * go to the next thread's inbox, and one it has not taken yet comes back to us. */
        void *volatile *in = &a->mailbox[a->index * (STRESS_BLOCKS / 2)];
        void *volatile *out = &a->mailbox[((a->index + 1) % a->nthreads) * (STRESS_BLOCKS / 2)];
        for (unsigned i = 0; i < STRESS_BLOCKS / 2; i++) {
            PyMem_RawFree(__atomic_exchange_n(&in[i], NULL, __ATOMIC_ACQ_REL));
            PyMem_RawFree(__atomic_exchange_n(&out[i], mine[i], __ATOMIC_ACQ_REL));
        }
        for (unsigned i = STRESS_BLOCKS / 2; i < STRESS_BLOCKS; i++) PyMem_RawFree(mine[i]);
    }
    return NULL;
}

static PyObject *py_raw_stress(PyObject *self, PyObject *args) {
    (void)self;
    unsigned nthreads, rounds;
    if (!PyArg_ParseTuple(args, "II", &nthreads, &rounds)) return NULL;
    if (nthreads < 1 || nthreads > STRESS_MAX) {
        PyErr_SetString(PyExc_ValueError, "1 to 16 threads");
        return NULL;
    }
    void *volatile mailbox[STRESS_MAX * (STRESS_BLOCKS / 2)] = {0};
    stress_arg arg[STRESS_MAX];
    pthread_t th[STRESS_MAX];
    unsigned started = 0;
    unsigned long failed = 0;
    Py_BEGIN_ALLOW_THREADS for (unsigned i = 0; i < nthreads; i++) {
        arg[i] = (stress_arg){rounds, 0x9E37u * (i + 1), i, nthreads, mailbox, 0};
        if (pthread_create(&th[i], NULL, stress_main, &arg[i]) != 0) break;
        started++;
    }
    for (unsigned i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        failed += arg[i].failed;
    }
    for (unsigned i = 0; i < STRESS_MAX * (STRESS_BLOCKS / 2); i++) PyMem_RawFree(mailbox[i]);
    Py_END_ALLOW_THREADS if (started != nthreads) {
        PyErr_SetString(PyExc_RuntimeError, "pthread_create failed");
        return NULL;
    }
    return PyLong_FromUnsignedLong(failed);
}

/* ---- profiler ---------------------------------------------------------------------------- */
static PyObject *py_profile_start(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *names[] = {"track_sizes",        "track_latency", "track_per_thread",
                            "track_cross_thread", "detect_leaks",  "capture_stacks",
                            "sample_bytes",       "latency_every", "stack_depth",
                            "timeline_ms",        "top_sizes",     NULL};
    alloy_profile_options o;
    alloy_profile_options_init(&o);
    int ts = o.track_sizes, tl = o.track_latency, tp = o.track_per_thread,
        tc = o.track_cross_thread, dl = o.detect_leaks, cs = o.capture_stacks;
    Py_ssize_t sb = (Py_ssize_t)o.sample_bytes;
    unsigned int le = o.latency_every, sd = o.stack_depth, tm = o.timeline_ms, top = o.top_sizes;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|$ppppppnIIII", names, &ts, &tl, &tp, &tc, &dl, &cs,
                                     &sb, &le, &sd, &tm, &top))
        return NULL;
    if (sb < 0) {
        PyErr_SetString(PyExc_ValueError, "sample_bytes must be >= 0");
        return NULL;
    }
    o.track_sizes = ts;
    o.track_latency = tl;
    o.track_per_thread = tp;
    o.track_cross_thread = tc;
    o.detect_leaks = dl;
    o.capture_stacks = cs;
    o.sample_bytes = (size_t)sb;
    o.latency_every = le;
    o.stack_depth = sd;
    o.timeline_ms = tm;
    o.top_sizes = top;
    if (!alloy_profile_start(&o)) {
        if (errno == EBUSY) {
            PyErr_SetString(PyExc_RuntimeError, "the profiler is already running");
            return NULL;
        }
        if (errno == EINVAL) {
            PyErr_SetString(PyExc_ValueError, "bad profiler options");
            return NULL;
        }
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyObject *py_profile_stop(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    alloy_profile_stop();
    Py_RETURN_NONE;
}

static PyObject *py_profile_running(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyBool_FromLong(alloy_profile_running());
}

static PyObject *py_profile_reset(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    alloy_profile_reset();
    Py_RETURN_NONE;
}

typedef struct {
    PyObject_HEAD alloy_profile_report r;
} ReportObject;

static void report_dealloc(PyObject *o) {
    alloy_profile_report_free(&((ReportObject *)o)->r);
    Py_TYPE(o)->tp_free(o);
}

/* Set d[key] = v, consuming v; false on error (v NULL included). */
static bool put(PyObject *d, const char *key, PyObject *v) {
    if (v == NULL) return false;
    int rc = PyDict_SetItemString(d, key, v);
    Py_DECREF(v);
    return rc == 0;
}

static PyObject *str_or_none(const char *s) {
    if (s == NULL) Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

#define U64(x) PyLong_FromUnsignedLongLong((unsigned long long)(x))
#define F64(x) PyFloat_FromDouble(x)

static PyObject *latency_dict(const alloy_profile_latency *l) {
    PyObject *d = PyDict_New();
    if (d == NULL) return NULL;
    PyObject *b = PyList_New((Py_ssize_t)l->nbuckets);
    if (b == NULL) goto fail;
    for (size_t i = 0; i < l->nbuckets; i++) {
        PyObject *t =
            Py_BuildValue("(dK)", l->buckets[i].le_ns, (unsigned long long)l->buckets[i].count);
        if (t == NULL) {
            Py_DECREF(b);
            goto fail;
        }
        PyList_SET_ITEM(b, (Py_ssize_t)i, t);
    }
    if (!put(d, "buckets", b) || !put(d, "count", U64(l->count)) ||
        !put(d, "sum_ns", F64(l->sum_ns)) || !put(d, "mean_ns", F64(l->mean_ns)) ||
        !put(d, "p50_ns", F64(l->p50_ns)) || !put(d, "p95_ns", F64(l->p95_ns)) ||
        !put(d, "p99_ns", F64(l->p99_ns)) || !put(d, "p999_ns", F64(l->p999_ns)) ||
        !put(d, "max_ns", F64(l->max_ns)))
        goto fail;
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

static PyObject *frames_list(const alloy_profile_leak_site *s) {
    PyObject *l = PyList_New((Py_ssize_t)s->nframes);
    if (l == NULL) return NULL;
    for (size_t i = 0; i < s->nframes; i++) {
        const alloy_profile_frame *f = &s->frames[i];
        PyObject *d = PyDict_New();
        if (d == NULL || !put(d, "pc", PyLong_FromUnsignedLongLong(f->pc)) ||
            !put(d, "function", str_or_none(f->function)) ||
            !put(d, "file", str_or_none(f->file)) || !put(d, "line", PyLong_FromLong(f->line)) ||
            !put(d, "module", str_or_none(f->module))) {
            Py_XDECREF(d);
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, d);
    }
    return l;
}

static PyObject *report_to_dict(PyObject *self, PyObject *unused) {
    (void)unused;
    const alloy_profile_report *r = &((ReportObject *)self)->r;
    PyObject *d = PyDict_New();
    PyObject *l = NULL;
    if (d == NULL) return NULL;
    if (!put(d, "schema", str_or_none(r->schema)) || !put(d, "mode", str_or_none(r->mode)) ||
        !put(d, "backend", str_or_none(r->backend)) || !put(d, "pid", U64(r->pid)) ||
        !put(d, "start_time", F64(r->start_time)) || !put(d, "end_time", F64(r->end_time)) ||
        !put(d, "duration_seconds", F64(r->duration_s)) ||
        !put(d, "sample_bytes", PyLong_FromSize_t(r->sample_bytes)) ||
        !put(d, "latency_every", PyLong_FromUnsignedLong(r->latency_every)) ||
        !put(d, "clock", str_or_none(r->clock)) || !put(d, "alloc_count", U64(r->alloc_count)) ||
        !put(d, "free_count", U64(r->free_count)) ||
        !put(d, "realloc_count", U64(r->realloc_count)) ||
        !put(d, "alloc_bytes", U64(r->alloc_bytes)) ||
        !put(d, "alloc_usable_bytes", U64(r->alloc_usable_bytes)) ||
        !put(d, "free_bytes", U64(r->free_bytes)) ||
        !put(d, "free_usable_bytes", U64(r->free_usable_bytes)) ||
        !put(d, "current_allocated", U64(r->current_bytes)) ||
        !put(d, "current_count", U64(r->current_count)) ||
        !put(d, "peak_allocated", U64(r->peak_bytes)) ||
        !put(d, "unknown_free_count", U64(r->unknown_free_count)) ||
        !put(d, "unknown_free_bytes", U64(r->unknown_free_bytes)) ||
        !put(d, "failed_count", U64(r->failed_count)) ||
        !put(d, "alloc_rate", F64(r->alloc_rate)) || !put(d, "free_rate", F64(r->free_rate)) ||
        !put(d, "bytes_rate", F64(r->bytes_rate)) ||
        !put(d, "alloc_rate_avg", F64(r->alloc_rate_avg)) ||
        !put(d, "free_rate_avg", F64(r->free_rate_avg)) ||
        !put(d, "alloc_latency", latency_dict(&r->alloc_latency)) ||
        !put(d, "free_latency", latency_dict(&r->free_latency)) ||
        !put(d, "cross_thread_free_count", U64(r->cross_thread_free_count)) ||
        !put(d, "cross_thread_free_pct", F64(r->cross_thread_free_pct)) ||
        !put(d, "leaks_estimated", PyBool_FromLong(r->leaks_estimated)) ||
        !put(d, "leaked_count", U64(r->leaked_count)) ||
        !put(d, "leaked_bytes", U64(r->leaked_bytes)) ||
        !put(d, "timeline_ms", PyLong_FromUnsignedLong(r->timeline_ms)))
        goto fail;

    const alloy_profile_fragmentation *fr = &r->fragmentation;
    PyObject *fd = PyDict_New();
    if (!put(d, "fragmentation", fd) || !put(fd, "internal_fragmentation", F64(fr->internal)) ||
        !put(fd, "external_fragmentation", F64(fr->external)) ||
        !put(fd, "utilization", F64(fr->utilization)) ||
        !put(fd, "requested_bytes", U64(fr->requested_bytes)) ||
        !put(fd, "usable_bytes", U64(fr->usable_bytes)) ||
        !put(fd, "heap_bytes", U64(fr->heap_bytes)) || !put(fd, "rss_bytes", U64(fr->rss_bytes)) ||
        !put(fd, "heap_source", str_or_none(fr->heap_source)))
        goto fail;

    if (!put(d, "size_buckets", l = PyList_New((Py_ssize_t)r->nsize_buckets))) goto fail;
    for (size_t i = 0; i < r->nsize_buckets; i++) {
        const alloy_profile_size_bucket *b = &r->size_buckets[i];
        PyObject *t = Py_BuildValue("(KKKK)", (unsigned long long)b->lo, (unsigned long long)b->hi,
                                    (unsigned long long)b->count, (unsigned long long)b->bytes);
        if (t == NULL) goto fail;
        PyList_SET_ITEM(l, (Py_ssize_t)i, t);
    }
    if (!put(d, "top_sizes", l = PyList_New((Py_ssize_t)r->ntop_sizes))) goto fail;
    for (size_t i = 0; i < r->ntop_sizes; i++) {
        PyObject *t = Py_BuildValue("(KK)", (unsigned long long)r->top_sizes[i].size,
                                    (unsigned long long)r->top_sizes[i].count);
        if (t == NULL) goto fail;
        PyList_SET_ITEM(l, (Py_ssize_t)i, t);
    }
    if (!put(d, "thread_stats", l = PyList_New((Py_ssize_t)r->nthreads))) goto fail;
    for (size_t i = 0; i < r->nthreads; i++) {
        const alloy_profile_thread *t = &r->threads[i];
        PyObject *td = PyDict_New();
        if (td == NULL) goto fail;
        PyList_SET_ITEM(l, (Py_ssize_t)i, td);
        if (!put(td, "index", PyLong_FromUnsignedLong(t->index)) ||
            !put(td, "thread_id", U64(t->tid)) ||
            !put(td, "thread_name", t->name[0] ? str_or_none(t->name) : str_or_none(NULL)) ||
            !put(td, "exited", PyBool_FromLong(t->exited)) ||
            !put(td, "alloc_count", U64(t->alloc_count)) ||
            !put(td, "free_count", U64(t->free_count)) ||
            !put(td, "alloc_bytes", U64(t->alloc_bytes)) ||
            !put(td, "free_bytes", U64(t->free_bytes)) ||
            !put(td, "cross_thread_frees_sent", U64(t->cross_thread_frees_sent)) ||
            !put(td, "cross_thread_frees_received", U64(t->cross_thread_frees_received)))
            goto fail;
    }
    if (!put(d, "cross_thread_matrix", l = PyList_New((Py_ssize_t)r->nthreads))) goto fail;
    for (size_t f = 0; f < r->nthreads; f++) {
        PyObject *row = PyList_New((Py_ssize_t)r->nthreads);
        if (row == NULL) goto fail;
        PyList_SET_ITEM(l, (Py_ssize_t)f, row);
        for (size_t a = 0; a < r->nthreads; a++) {
            PyObject *v = U64(r->cross_matrix ? r->cross_matrix[f * r->nthreads + a] : 0);
            if (v == NULL) goto fail;
            PyList_SET_ITEM(row, (Py_ssize_t)a, v);
        }
    }
    if (!put(d, "leak_sites", l = PyList_New((Py_ssize_t)r->nleak_sites))) goto fail;
    for (size_t i = 0; i < r->nleak_sites; i++) {
        const alloy_profile_leak_site *s = &r->leak_sites[i];
        PyObject *sd = PyDict_New();
        if (sd == NULL) goto fail;
        PyList_SET_ITEM(l, (Py_ssize_t)i, sd);
        if (!put(sd, "count", U64(s->count)) || !put(sd, "bytes", U64(s->bytes)) ||
            !put(sd, "stack", frames_list(s)))
            goto fail;
    }
    if (!put(d, "timeline", l = PyList_New((Py_ssize_t)r->ntimeline))) goto fail;
    for (size_t i = 0; i < r->ntimeline; i++) {
        const alloy_profile_sample *s = &r->timeline[i];
        PyObject *t =
            Py_BuildValue("(dKKdd)", s->t, (unsigned long long)s->live_bytes,
                          (unsigned long long)s->rss_bytes, s->allocs_per_s, s->frees_per_s);
        if (t == NULL) goto fail;
        PyList_SET_ITEM(l, (Py_ssize_t)i, t);
    }
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

static int format_of(const char *name) {
    if (strcmp(name, "json") == 0) return ALLOY_PROFILE_JSON;
    if (strcmp(name, "csv") == 0) return ALLOY_PROFILE_CSV;
    if (strcmp(name, "prometheus") == 0) return ALLOY_PROFILE_PROMETHEUS;
    PyErr_Format(PyExc_ValueError, "unknown format %s (json, csv, prometheus)", name);
    return 0;
}

static PyObject *report_text(PyObject *self, PyObject *args) {
    const char *fmt;
    if (!PyArg_ParseTuple(args, "s", &fmt)) return NULL;
    int f = format_of(fmt);
    if (f == 0) return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&buf, &len);
    if (mf == NULL) return PyErr_SetFromErrno(PyExc_OSError);
    bool ok;
    Py_BEGIN_ALLOW_THREADS ok =
        alloy_profile_write(mf, &((ReportObject *)self)->r, (alloy_profile_format)f);
    ok = (fclose(mf) == 0) && ok;
    Py_END_ALLOW_THREADS if (!ok) {
        free(buf);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *s = PyUnicode_DecodeUTF8(buf, (Py_ssize_t)len, "replace");
    free(buf);
    return s;
}

static PyObject *report_write(PyObject *self, PyObject *args) {
    PyObject *path;
    const char *fmt;
    int overwrite = 1;
    if (!PyArg_ParseTuple(args, "O&s|p", PyUnicode_FSConverter, &path, &fmt, &overwrite))
        return NULL;
    int f = format_of(fmt);
    if (f == 0) {
        Py_DECREF(path);
        return NULL;
    }
    bool ok;
    const char *p = PyBytes_AS_STRING(path);
    Py_BEGIN_ALLOW_THREADS ok = alloy_profile_write_path(p, &((ReportObject *)self)->r,
                                                         (alloy_profile_format)f, overwrite != 0);
    Py_END_ALLOW_THREADS if (!ok) {
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
        Py_DECREF(path);
        return NULL;
    }
    Py_DECREF(path);
    Py_RETURN_NONE;
}

static PyMethodDef report_methods[] = {
    {"to_dict", report_to_dict, METH_NOARGS, "The report as plain dicts, lists and tuples."},
    {"text", report_text, METH_VARARGS, "text(format): the report as json, csv or prometheus."},
    {"write", report_write, METH_VARARGS,
     "write(path, format, overwrite=True): write the report to a file."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ReportType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "alloy._alloy.RawReport",
    .tp_basicsize = sizeof(ReportObject),
    .tp_dealloc = report_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One profiler snapshot, as alloy_profile_snapshot filled it (immutable).",
    .tp_methods = report_methods,
};

static PyObject *py_profile_snapshot(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    ReportObject *o = PyObject_New(ReportObject, &ReportType);
    if (o == NULL) return NULL;
    memset(&o->r, 0, sizeof o->r);
    bool ok;
    Py_BEGIN_ALLOW_THREADS ok = alloy_profile_snapshot(&o->r);
    Py_END_ALLOW_THREADS if (!ok) {
        int e = errno;
        Py_DECREF(o);
        errno = e;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return (PyObject *)o;
}

static PyMethodDef methods[] = {
    {"backend", py_backend, METH_NOARGS, "Name of the backend serving this process."},
    {"versions", py_versions, METH_NOARGS, "(alloy version, backend version, backends built in)."},
    {"collect", py_collect, METH_VARARGS, "collect(force=False): return free memory to the OS."},
    {"stats_enable", py_stats_enable, METH_VARARGS, "stats_enable(exact_peak=False)."},
    {"stats_get", py_stats_get, METH_NOARGS, "The counters as a tuple, None while off."},
    {"stats_reset", py_stats_reset, METH_NOARGS, "Zero the cumulative counters."},
    {"profile_start", (PyCFunction)(void (*)(void))py_profile_start, METH_VARARGS | METH_KEYWORDS,
     "Start the profiler with keyword options (alloy_profile_options)."},
    {"profile_stop", py_profile_stop, METH_NOARGS, "Stop measuring."},
    {"profile_running", py_profile_running, METH_NOARGS, "True while measuring."},
    {"profile_reset", py_profile_reset, METH_NOARGS, "Zero every profiler figure."},
    {"profile_snapshot", py_profile_snapshot, METH_NOARGS, "A RawReport of the figures now."},
    {"route_domain", py_route_domain, METH_O, "Route one PYMEM_DOMAIN_* through alloy."},
    {"routed_domains", py_routed_domains, METH_NOARGS, "(raw, mem, obj) routed flags."},
    {"owned_blocks", py_owned_blocks, METH_NOARGS, "Blocks the domain hooks handed out, live."},
    {"_alloc", py_alloc, METH_O, "Test hook: alloy_malloc(n), returns the address."},
    {"_free", py_free, METH_O, "Test hook: alloy_free(address)."},
    {"_raw_stress", py_raw_stress, METH_VARARGS,
     "Test hook: _raw_stress(threads, rounds): raw-domain churn without the GIL."},
    {"_planted_leak", py_planted_leak, METH_O,
     "Test hook: allocate n bytes in alloy_py_planted_leak and return the address."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "_alloy",
    "C core of the alloy package.",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__alloy(void) {
    if (PyType_Ready(&ReportType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
#ifdef Py_GIL_DISABLED
    PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED);
#endif
    Py_INCREF(&ReportType);
    if (PyModule_AddObject(m, "RawReport", (PyObject *)&ReportType) < 0 ||
        PyModule_AddIntConstant(m, "DOMAIN_RAW", PYMEM_DOMAIN_RAW) < 0 ||
        PyModule_AddIntConstant(m, "DOMAIN_MEM", PYMEM_DOMAIN_MEM) < 0 ||
        PyModule_AddIntConstant(m, "DOMAIN_OBJ", PYMEM_DOMAIN_OBJ) < 0 ||
        PyModule_AddStringConstant(m, "SCHEMA", ALLOY_PROFILE_SCHEMA) < 0) {
        Py_DECREF(&ReportType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
