/* SPDX-License-Identifier: MIT */
/* alloy/profile.h - the allocation profiler: sizes, latency, threads, leaks.
 *
 * The profiler is a layer over the routed heap (alloy/layer.h): once pushed it
 * sees every alloy_malloc/alloy_free (and, under liballoy-override.so, every
 * malloc/free of the process). alloy_profile_start() pushes it if needed and
 * starts measuring; alloy_profile_stop() leaves it pushed but switches it to
 * pass-through (one relaxed load per call). Starting mid-run is allowed:
 * blocks the profiler never saw are freed without error and counted apart
 * (unknown_free_count).
 *
 * Modes. Full (sample_bytes == 0): every call is measured and every block has
 * a record, so cross-thread frees, requested bytes freed and leaks are exact.
 * Sampled (sample_bytes > 0): counters, size histogram and timeline stay
 * exact; blocks are recorded by byte-based Poisson sampling (mean interval
 * sample_bytes), so cross-thread and leak figures are estimates (each sampled
 * block stands for 1/p blocks, p = 1 - exp(-size / sample_bytes)); latency is
 * timed on 1 call in latency_every.
 *
 * Definitions (fragmentation, one formula each; "usable" is the backend's
 * usable size of the live blocks, "requested" what the program asked for):
 *   internal    = (usable - requested) / usable          (live blocks)
 *   external    = (heap - usable) / heap                 (heap: below)
 *   utilization = requested / heap
 * heap is the memory the backend holds by its own count, free memory it keeps
 * included: mimalloc's committed bytes (mi_process_info), jemalloc's
 * stats.active + stats.metadata + dirty pages, tcmalloc's generic.heap_size
 * less pageheap_unmapped_bytes, glibc's mallinfo2 arena + hblkhd; the process
 * RSS when the backend gives none or the profile is written where its locks
 * may be held (a fatal signal, _exit); heap_source names the figure.
 *
 * The report and the file formats (JSON "alloy-profile/1", CSV, Prometheus)
 * are specified in docs/profile.md. Report memory comes from mmap, never from
 * the profiled heap; release it with alloy_profile_report_free().
 */
#ifndef ALLOY_PROFILE_H
#define ALLOY_PROFILE_H

#include <stdio.h>

#include <alloy/common.h>

ALLOY_EXTERN_C_BEGIN

#define ALLOY_PROFILE_SCHEMA "alloy-profile/1"
/* Minor version of the schema: fields added without changing the schema string (1: parent_pid,
 * inherited). */
#define ALLOY_PROFILE_SCHEMA_MINOR 1

typedef struct alloy_profile_options {
    bool track_sizes;        /* size histogram and top sizes (default true) */
    bool track_latency;      /* alloc/free latency histograms (default true) */
    bool track_per_thread;   /* per-thread table with names (default true) */
    bool track_cross_thread; /* cross-thread frees and matrix (default true; needs records) */
    bool detect_leaks;       /* live blocks grouped by site at snapshot (default true) */
    bool capture_stacks;     /* allocation stacks for leak sites (default false) */
    unsigned stack_depth;    /* frames per stack, 1..64 (default 16) */
    size_t sample_bytes;     /* 0: full mode (default); else mean bytes between sampled blocks */
    unsigned latency_every;  /* time 1 call in N (0 or 1: every call; default 1) */
    unsigned timeline_ms;    /* timeline period in ms (default 10; 0: no timeline) */
    unsigned top_sizes;      /* exact sizes listed in top_sizes (default 10, at most 64) */
} alloy_profile_options;

typedef struct alloy_profile_size_bucket {
    uint64_t lo, hi; /* requested sizes lo..hi inclusive */
    uint64_t count, bytes;
} alloy_profile_size_bucket;

typedef struct alloy_profile_size_count {
    uint64_t size, count;
} alloy_profile_size_count;

typedef struct alloy_profile_latency_bucket {
    double le_ns;   /* upper bound of the bucket, ns */
    uint64_t count; /* calls in this bucket (not cumulative) */
} alloy_profile_latency_bucket;

typedef struct alloy_profile_latency {
    uint64_t count; /* calls timed */
    double sum_ns, mean_ns, p50_ns, p95_ns, p99_ns, p999_ns, max_ns;
    size_t nbuckets; /* non-empty buckets, ascending */
    const alloy_profile_latency_bucket *buckets;
} alloy_profile_latency;

typedef struct alloy_profile_thread {
    uint32_t index; /* row/column in the cross-thread matrix */
    uint64_t tid;   /* kernel thread id */
    char name[32];  /* pthread name, "" if none was seen */
    bool exited;
    uint64_t alloc_count, free_count, alloc_bytes, free_bytes; /* bytes: usable */
    uint64_t cross_thread_frees_sent;     /* this thread's blocks freed by another thread */
    uint64_t cross_thread_frees_received; /* other threads' blocks this thread freed */
} alloy_profile_thread;

typedef struct alloy_profile_frame {
    uintptr_t pc;
    const char *function; /* NULL if unknown */
    const char *file;     /* NULL if unknown */
    int line;
    const char *module; /* NULL if unknown */
} alloy_profile_frame;

typedef struct alloy_profile_leak_site {
    uint64_t count, bytes; /* blocks and requested bytes (estimates in sampled mode) */
    size_t nframes;
    const alloy_profile_frame *frames; /* innermost first; nframes == 0 without stacks */
} alloy_profile_leak_site;

typedef struct alloy_profile_fragmentation {
    double internal, external, utilization; /* formulas above; 0 when the base is 0 */
    uint64_t requested_bytes, usable_bytes; /* of live blocks (requested: full mode) */
    uint64_t heap_bytes, rss_bytes;
    const char *heap_source; /* the backend's figure, e.g. "mallinfo2.arena+hblkhd", or "rss" */
} alloy_profile_fragmentation;

typedef struct alloy_profile_sample {
    double t; /* seconds since start */
    uint64_t live_bytes, rss_bytes;
    double allocs_per_s, frees_per_s;
} alloy_profile_sample;

/* A forked child's profile is its own: its counters, histograms, latency, threads, timeline
 * and leaks start at the fork; the blocks it inherited live are counted here, not in them. */
typedef struct alloy_profile_inherited {
    uint64_t count, bytes;               /* blocks live at the fork, their usable bytes */
    uint64_t freed_count, freed_bytes;   /* of them, freed since (usable; not in free_count) */
    uint64_t leaked_count, leaked_bytes; /* of them, still live (requested; not in leaks) */
} alloy_profile_inherited;

typedef struct alloy_profile_report {
    const char *schema; /* ALLOY_PROFILE_SCHEMA */
    const char *mode;   /* "full" or "sampled" */
    const char *backend;
    uint64_t pid;
    uint64_t parent_pid; /* forked while profiled: the parent's pid (0: not a forked child) */
    alloy_profile_inherited inherited; /* a forked child: what it inherited (zeros otherwise) */
    double start_time, end_time, duration_s; /* unix seconds (a forked child: from the fork) */
    size_t sample_bytes;
    unsigned latency_every;
    const char *clock; /* "tsc" or "clock_gettime" */

    uint64_t alloc_count, free_count, realloc_count;
    uint64_t alloc_bytes, alloc_usable_bytes; /* requested, usable */
    uint64_t free_bytes, free_usable_bytes;   /* free_bytes: requested, when known */
    uint64_t current_bytes, current_count;    /* usable bytes live (seen; inherited included) */
    uint64_t peak_bytes;                      /* exact in full mode */
    uint64_t unknown_free_count, unknown_free_bytes; /* blocks the profiler never saw */
    uint64_t failed_count;                           /* allocations that returned NULL */

    double alloc_rate, free_rate, bytes_rate; /* per second over the run */
    double alloc_rate_avg, free_rate_avg;     /* exponential moving average (1 s) */

    alloy_profile_latency alloc_latency, free_latency;

    uint64_t cross_thread_free_count;
    double cross_thread_free_pct; /* of all frees */

    size_t nsize_buckets; /* non-empty buckets, ascending */
    const alloy_profile_size_bucket *size_buckets;
    size_t ntop_sizes;
    const alloy_profile_size_count *top_sizes; /* most frequent exact sizes first */

    size_t nthreads;
    const alloy_profile_thread *threads;
    const uint64_t *cross_matrix; /* nthreads x nthreads: [freer * nthreads + allocator] */

    alloy_profile_fragmentation fragmentation;

    bool leaks_estimated; /* sampled mode: counts scaled by 1/p */
    uint64_t leaked_count, leaked_bytes;
    size_t nleak_sites; /* largest first */
    const alloy_profile_leak_site *leak_sites;

    unsigned timeline_ms; /* period of the samples (doubles when the buffer fills) */
    size_t ntimeline;
    const alloy_profile_sample *timeline;

    void *priv_;
    size_t priv_len_;
} alloy_profile_report;

/* clang-format off */
/* Fill *o with the defaults listed above. */
ALLOY_API void alloy_profile_options_init(alloy_profile_options *o) ALLOY_NOEXCEPT;
/* Push the profiler layer if needed and start measuring with *o (NULL: defaults), from zero. False with errno: EINVAL for bad options, EBUSY if already started, else the layer's. */
ALLOY_API bool alloy_profile_start(const alloy_profile_options *o) ALLOY_NOEXCEPT;
/* Stop measuring: the layer stays pushed and passes calls through. Figures stay readable. */
ALLOY_API void alloy_profile_stop(void) ALLOY_NOEXCEPT;
/* True while measuring. */
ALLOY_API bool alloy_profile_running(void) ALLOY_NOEXCEPT;
/* Zero every figure (counters, histograms, threads, timeline) and forget known blocks. */
ALLOY_API void alloy_profile_reset(void) ALLOY_NOEXCEPT;
/* Fill *r with the figures now. False with errno EINVAL (r NULL) or ENOMEM. Free with alloy_profile_report_free. */
ALLOY_API bool alloy_profile_snapshot(alloy_profile_report *r) ALLOY_NOEXCEPT;
/* Release what a snapshot holds; r may be zeroed. */
ALLOY_API void alloy_profile_report_free(alloy_profile_report *r) ALLOY_NOEXCEPT;

typedef enum alloy_profile_format {
    ALLOY_PROFILE_JSON = 1,       /* schema alloy-profile/1 */
    ALLOY_PROFILE_CSV = 2,        /* long format: section,key,labels...,value */
    ALLOY_PROFILE_PROMETHEUS = 3, /* text exposition format 0.0.4 */
} alloy_profile_format;

/* Write r (NULL: a fresh snapshot) to f in format fmt. False with errno on a write error or bad argument. */
ALLOY_API bool alloy_profile_write(FILE *f, const alloy_profile_report *r, alloy_profile_format fmt) ALLOY_NOEXCEPT;
/* Write to a new file at path (never follows a symlink; an existing file is an error EEXIST unless overwrite, then it is replaced atomically by rename). */
ALLOY_API bool alloy_profile_write_path(const char *path, const alloy_profile_report *r, alloy_profile_format fmt, bool overwrite) ALLOY_NOEXCEPT;
/* clang-format on */

ALLOY_EXTERN_C_END

#endif /* ALLOY_PROFILE_H */
