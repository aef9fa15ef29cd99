/* SPDX-License-Identifier: MIT */
/* src/profile/stream.c - the profiler thread, the timeline, the streamed file.
 *
 * While the profiler runs, one thread of its own (its allocations pass
 * straight through: `inside` stays raised) takes a timeline sample every
 * timeline_ms and, every ALLOY_PROFILE_INTERVAL_MS (default 100), rewrites the
 * profile file atomically (a fresh temporary beside it, then rename), so the
 * file on disk is always a complete JSON profile at most one interval old:
 * SIGKILL, abort or _exit leave it readable. At exit (a destructor), on
 * fatal signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, when no handler is
 * installed) and, under the override library, at _exit and _Exit
 * (alloy__pf_exit_write) the file is written once more. ALLOY_PROFILE_PROM=<dir> adds a
 * Prometheus textfile (<dir>/alloy_<pid>.prom, written, fsynced, renamed) for
 * node_exporter's textfile collector.
 *
 * fork: the child's profile is its own, from the fork (core.c, "forked children": what it
 * inherited is counted apart), and goes to its own file, the path with ".<pid>" added (or %p
 * expanded with its pid).
 * exec: ALLOY_PROFILE* are removed from the environment at start unless
 * ALLOY_PROFILE_EXEC=1, so a program the profiled one runs is not profiled by
 * accident.
 */
#define _GNU_SOURCE
#include "profile_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../env.h"

int alloy__pf_want_thread;

/* ---- timeline ------------------------------------------------------------------ */
#define TL_CAP 8192u

static pthread_mutex_t tl_lock = PTHREAD_MUTEX_INITIALIZER;
static alloy_profile_sample *tl; /* TL_CAP entries, mmap'd */
static size_t tl_n;
static unsigned tl_period; /* ms between kept samples */
static unsigned tl_skip, tl_skip_left;
static uint64_t tl_last_mono, tl_last_allocs, tl_last_frees;
static uint64_t tl_start_mono;
static double ema_alloc, ema_free;

/* With tl_lock held. */
static void timeline_reset_locked(void) {
    __atomic_store_n(&tl_n, 0, __ATOMIC_RELAXED);
    tl_period = alloy__pf_cfg.o.timeline_ms;
    tl_skip = 1;
    tl_skip_left = 1;
    tl_last_mono = tl_start_mono = alloy__pf_mono_ns();
    tl_last_allocs = tl_last_frees = 0;
    ema_alloc = ema_free = 0;
}

void alloy__pf_timeline_reset(void) {
    pthread_mutex_lock(&tl_lock);
    timeline_reset_locked();
    pthread_mutex_unlock(&tl_lock);
}

uint64_t alloy__pf_rss(void) {
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    char *s = buf;
    while (*s && *s != ' ') s++;
    uint64_t pages = 0;
    while (*s == ' ') s++;
    while (*s >= '0' && *s <= '9') pages = pages * 10u + (uint64_t)(*s++ - '0');
    return pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void timeline_tick(void) {
    uint64_t allocs, frees;
    int64_t live;
    alloy__pf_totals(&allocs, &frees, &live);
    uint64_t now = alloy__pf_mono_ns();
    pthread_mutex_lock(&tl_lock);
    double dt = (double)(now - tl_last_mono) * 1e-9;
    if (dt <= 0) {
        pthread_mutex_unlock(&tl_lock);
        return;
    }
    double ar = (double)(allocs - tl_last_allocs) / dt, fr = (double)(frees - tl_last_frees) / dt;
    /* Moving average with a 1 s time constant. */
    double k = dt >= 1.0 ? 1.0 : dt;
    ema_alloc += k * (ar - ema_alloc);
    ema_free += k * (fr - ema_free);
    tl_last_mono = now;
    tl_last_allocs = allocs;
    tl_last_frees = frees;
    if (tl == NULL) tl = alloy__pf_pages(TL_CAP * sizeof *tl);
    if (tl != NULL && --tl_skip_left == 0) {
        tl_skip_left = tl_skip;
        if (tl_n == TL_CAP) {
            /* Full: keep every other sample and halve the rate from now on. */
            for (size_t i = 0; i < TL_CAP / 2; i++) tl[i] = tl[2 * i + 1];
            __atomic_store_n(&tl_n, TL_CAP / 2, __ATOMIC_RELAXED);
            tl_skip *= 2;
            tl_skip_left = tl_skip;
            tl_period *= 2;
        }
        size_t at = tl_n;
        __atomic_store_n(&tl_n, at + 1, __ATOMIC_RELAXED);
        tl[at] = (alloy_profile_sample){(double)(now - tl_start_mono) * 1e-9,
                                        live > 0 ? (uint64_t)live : 0, alloy__pf_rss(), ar, fr};
    }
    pthread_mutex_unlock(&tl_lock);
}

size_t alloy__pf_timeline_len(void) {
    return __atomic_load_n(&tl_n, __ATOMIC_RELAXED);
}

size_t alloy__pf_timeline_copy(alloy_profile_sample *out, size_t max, unsigned *period_ms) {
    /* trylock: a fatal signal may arrive while this thread holds it. */
    if (pthread_mutex_trylock(&tl_lock) != 0) {
        *period_ms = alloy__pf_cfg.o.timeline_ms;
        return 0;
    }
    size_t n = tl_n < max ? tl_n : max;
    if (n) memcpy(out, tl, n * sizeof *out);
    *period_ms = tl_period;
    pthread_mutex_unlock(&tl_lock);
    return n;
}

void alloy__pf_rates(double *alloc_avg, double *free_avg) {
    *alloc_avg = *free_avg = 0;
    if (pthread_mutex_trylock(&tl_lock) != 0) return;
    *alloc_avg = ema_alloc;
    *free_avg = ema_free;
    pthread_mutex_unlock(&tl_lock);
}

/* ---- files ------------------------------------------------------------------------ */
bool alloy__pf_write_file(const char *path, const pf_buf *b, bool overwrite, bool sync) {
    char tmp[4200];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%ld", path, (long)getpid(),
                     (long)syscall(SYS_gettid));
    if (n < 0 || (size_t)n >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return false;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(fd, b->p + off, b->len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            errno = e;
            return false;
        }
        off += (size_t)w;
    }
    if (sync && fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return false;
    }
    close(fd);
    int rc;
    if (overwrite) {
        rc = rename(tmp, path);
    } else {
        /* link() never replaces: an existing path (file or symlink) is EEXIST. */
        rc = link(tmp, path);
        int e = errno;
        unlink(tmp);
        errno = e;
    }
    if (rc != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return false;
    }
    return true;
}

/* ---- the environment ---------------------------------------------------------------- */
static char out_path[4096];  /* the JSON profile ("" none) */
static char prom_path[4096]; /* the textfile ("" none) */
static char path_pattern[4096];
static char prom_dir[4000];
static bool out_overwrite;
static bool out_written; /* the first write (no clobber) has been done */
static bool out_failed;
static unsigned flush_ms = 100;
static bool env_mode;
static pid_t out_pid;  /* the process the paths were made for */
static int write_lock; /* spin: the thread, the destructor and a signal may all write */

static void expand(char *dst, size_t len, const char *pattern, bool child) {
    size_t o = 0;
    bool had_pid = false;
    for (const char *s = pattern; *s && o + 24 < len; s++) {
        if (s[0] == '%' && s[1] == 'p') {
            o += (size_t)snprintf(dst + o, len - o, "%ld", (long)getpid());
            had_pid = true;
            s++;
        } else {
            dst[o++] = *s;
        }
    }
    dst[o] = 0;
    if (child && !had_pid && o + 24 < len) snprintf(dst + o, len - o, ".%ld", (long)getpid());
}

static void set_paths(bool child) {
    if (path_pattern[0]) expand(out_path, sizeof out_path, path_pattern, child);
    if (prom_dir[0])
        snprintf(prom_path, sizeof prom_path, "%s/alloy_%ld.prom", prom_dir, (long)getpid());
    out_pid = getpid();
    out_written = false;
    out_failed = false;
}

/* How a writer waits for the lock. A signal handler does not (it may have interrupted the
 * holder); the exit destructor waits as long as it takes, so the final figures are never
 * lost to a periodic write in progress; _exit waits a bounded time, as it may run in a
 * signal handler too. */
enum { WAIT_NOT, WAIT_ALWAYS, WAIT_BOUNDED };

static void write_outputs_waiting(int wait) {
    bool in_signal = wait != WAIT_ALWAYS;
    if (!env_mode) return;
    for (unsigned tries = 0; __atomic_exchange_n(&write_lock, 1, __ATOMIC_ACQUIRE) != 0; tries++) {
        if (wait == WAIT_NOT || (wait == WAIT_BOUNDED && tries == 1000)) return;
        struct timespec ts = {0, 1000000L}; /* 1 ms: a periodic write takes a few */
        if (wait == WAIT_BOUNDED)
            nanosleep(&ts, NULL);
        else
            sched_yield();
    }
    alloy__pf_self.inside++;
    alloy_profile_report r;
    if (alloy__pf_snapshot(&r, in_signal)) {
        pf_buf b = {0};
        if (out_path[0] && !out_failed && alloy__pf_format(&b, &r, ALLOY_PROFILE_JSON)) {
            if (alloy__pf_write_file(out_path, &b, out_overwrite || out_written, false)) {
                out_written = true;
            } else if (!out_written) {
                out_failed = true;
                alloy__warn("ALLOY_PROFILE: cannot create the profile file (%s); set "
                            "ALLOY_PROFILE_OVERWRITE=1 to replace an existing file",
                            strerror(errno));
            }
        }
        b.len = 0;
        if (prom_path[0] && alloy__pf_format(&b, &r, ALLOY_PROFILE_PROMETHEUS))
            (void)alloy__pf_write_file(prom_path, &b, true, true);
        alloy__pf_buf_free(&b);
        alloy_profile_report_free(&r);
    }
    alloy__pf_self.inside--;
    __atomic_store_n(&write_lock, 0, __ATOMIC_RELEASE);
}

static void write_outputs(bool in_signal) {
    write_outputs_waiting(in_signal ? WAIT_NOT : WAIT_ALWAYS);
}

/* ---- the thread ------------------------------------------------------------------------ */
static int thread_state; /* 0 none, 1 starting/running */
static int thread_stop_flag;
static pthread_t thread_id;
static int atfork_done;

static void *pf_thread(void *arg) {
    (void)arg;
    alloy__pf_self.inside = 1; /* nothing this thread allocates is profiled */
    unsigned tick = alloy__pf_cfg.o.timeline_ms ? alloy__pf_cfg.o.timeline_ms : flush_ms;
    if (env_mode && flush_ms < tick) tick = flush_ms;
    uint64_t last_flush = alloy__pf_mono_ns();
    while (!__atomic_load_n(&thread_stop_flag, __ATOMIC_ACQUIRE)) {
        struct timespec ts = {(time_t)(tick / 1000u), (long)(tick % 1000u) * 1000000L};
        nanosleep(&ts, NULL);
        if (!__atomic_load_n(&alloy__pf_running, __ATOMIC_ACQUIRE)) continue;
        if (alloy__pf_cfg.o.timeline_ms) timeline_tick();
        uint64_t now = alloy__pf_mono_ns();
        if (env_mode && now - last_flush >= (uint64_t)flush_ms * 1000000u) {
            last_flush = now;
            write_outputs(false);
        }
    }
    return NULL;
}

ALLOY_HIDDEN void alloy__pf_atfork_prepare(void);
ALLOY_HIDDEN void alloy__pf_atfork_parent(void);
ALLOY_HIDDEN void alloy__pf_fork_child_core(void);

static void fork_prepare(void) {
    pthread_mutex_lock(&tl_lock);
    alloy__pf_atfork_prepare();
}
static void fork_parent(void) {
    alloy__pf_atfork_parent();
    pthread_mutex_unlock(&tl_lock);
}
static void fork_child(void) {
    alloy__pf_fork_child_core();
    /* The child's timeline starts at the fork; tl_lock is still held from fork_prepare (taking
     * it again here, under the other fork handlers' locks, would invert their order). */
    if (__atomic_load_n(&alloy__pf_running, __ATOMIC_RELAXED)) timeline_reset_locked();
    pthread_mutex_unlock(&tl_lock);
    __atomic_store_n(&write_lock, 0, __ATOMIC_RELAXED);
    /* The profiler thread did not come along. */
    __atomic_store_n(&thread_state, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&thread_stop_flag, 0, __ATOMIC_RELAXED);
    if (__atomic_load_n(&alloy__pf_running, __ATOMIC_RELAXED))
        __atomic_store_n(&alloy__pf_want_thread, 1, __ATOMIC_RELAXED);
    if (env_mode) set_paths(true);
}

void alloy__pf_atfork_register(void) {
    if (__atomic_exchange_n(&atfork_done, 1, __ATOMIC_ACQ_REL) == 0)
        pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void alloy__pf_thread_kick(void) {
    if (!__atomic_exchange_n(&alloy__pf_want_thread, 0, __ATOMIC_ACQ_REL)) return;
    if (__atomic_exchange_n(&thread_state, 1, __ATOMIC_ACQ_REL) != 0) return;
    __atomic_store_n(&thread_stop_flag, 0, __ATOMIC_RELEASE);
    /* The thread must not hold up the program's signals (a handler for
     * SIGTERM or SIGINT expects the program's own threads). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&thread_id, NULL, pf_thread, NULL) != 0)
        __atomic_store_n(&thread_state, 0, __ATOMIC_RELEASE);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void alloy__pf_thread_stop(void) {
    if (__atomic_load_n(&thread_state, __ATOMIC_ACQUIRE) == 0) return;
    __atomic_store_n(&thread_stop_flag, 1, __ATOMIC_RELEASE);
    alloy__pf_self.inside++;
    pthread_join(thread_id, NULL);
    alloy__pf_self.inside--;
    __atomic_store_n(&thread_state, 0, __ATOMIC_RELEASE);
    write_outputs(false);
}

/* ---- fatal signals and exit ------------------------------------------------------------- */
static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

static void on_fatal(int sig) {
    write_outputs(true);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_fatal(void) {
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) {
        struct sigaction old;
        if (sigaction(fatal[i], NULL, &old) != 0) continue;
        if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler != SIG_DFL) continue;
        if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction != NULL) continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND | SA_NODEFER;
        sigaction(fatal[i], &sa, NULL);
    }
}

/* The snapshot is the signal handler's (no symbols: _exit may run in a handler that
 * interrupted the symbolizer or the backend); the periodic writes before it had them. */
void alloy__pf_exit_write(void) {
    if (!env_mode || getpid() != out_pid || !__atomic_load_n(&alloy__pf_running, __ATOMIC_ACQUIRE))
        return;
    write_outputs_waiting(WAIT_BOUNDED);
}

__attribute__((destructor)) static void pf_fini(void) {
    if (env_mode && __atomic_load_n(&alloy__pf_running, __ATOMIC_ACQUIRE)) write_outputs(false);
}

static void copy_env(char *dst, size_t len, const char *name) {
    const char *v = getenv(name);
    dst[0] = 0;
    if (v == NULL) return;
    size_t n = strlen(v);
    if (n >= len) {
        alloy__env_reject(name, v, "a path shorter than 4096 bytes", "no output");
        return;
    }
    memcpy(dst, v, n + 1);
}

bool alloy__pf_env_start(void) {
    alloy_profile_options o;
    alloy_profile_options_init(&o);
    copy_env(path_pattern, sizeof path_pattern, "ALLOY_PROFILE");
    copy_env(prom_dir, sizeof prom_dir, "ALLOY_PROFILE_PROM");
    o.sample_bytes = alloy__env_size("ALLOY_PROFILE_SAMPLE", 0, 0, (size_t)1 << 40);
    o.latency_every = (unsigned)alloy__env_size("ALLOY_PROFILE_LATENCY_EVERY", 1, 1, 1u << 20);
    o.track_sizes = alloy__env_flag("ALLOY_PROFILE_SIZES", true);
    o.track_latency = alloy__env_flag("ALLOY_PROFILE_LATENCY", true);
    o.track_per_thread = alloy__env_flag("ALLOY_PROFILE_THREADS", true);
    o.track_cross_thread = alloy__env_flag("ALLOY_PROFILE_CROSS_THREAD", true);
    o.detect_leaks = alloy__env_flag("ALLOY_PROFILE_LEAKS", true);
    o.capture_stacks = alloy__env_flag("ALLOY_PROFILE_STACKS", false);
    o.stack_depth = (unsigned)alloy__env_size("ALLOY_PROFILE_STACK_DEPTH", 16, 1, 64);
    o.timeline_ms = (unsigned)alloy__env_size("ALLOY_PROFILE_TIMELINE_MS", 10, 0, 60000);
    o.top_sizes = (unsigned)alloy__env_size("ALLOY_PROFILE_TOP", 10, 0, 64);
    flush_ms = (unsigned)alloy__env_size("ALLOY_PROFILE_INTERVAL_MS", 100, 1, 100);
    out_overwrite = alloy__env_flag("ALLOY_PROFILE_OVERWRITE", false);
    bool keep_for_exec = alloy__env_flag("ALLOY_PROFILE_EXEC", false);
    env_mode = true;
    set_paths(false);
    if (!keep_for_exec) {
        static const char *const names[] = {"ALLOY_PROFILE",        "ALLOY_PROFILE_PROM",
                                            "ALLOY_PROFILE_SAMPLE", "ALLOY_PROFILE_LATENCY_EVERY",
                                            "ALLOY_PROFILE_STACKS", "ALLOY_PROFILE_LEAKS"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) unsetenv(names[i]);
    }
    if (!alloy__pf_begin(&o)) return false;
    __atomic_store_n(&alloy__pf_want_thread, 1, __ATOMIC_RELEASE);
    install_fatal();
    return true;
}
