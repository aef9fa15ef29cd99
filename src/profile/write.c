/* SPDX-License-Identifier: MIT */
/* src/profile/write.c - JSON, CSV and Prometheus writers.
 *
 * A small writer of our own into a buffer of mmap'd pages: a library JSON
 * writer would allocate through the heap being profiled (and, under the
 * preload library, recurse into it), and the formats here are flat enough
 * that escaping is the only subtle part. Escaping, per format:
 *   JSON: ", \ and control characters as \" \\ \uXXXX; a byte that is not part
 *         of valid UTF-8 is written as \u00XX (its value as a code point), so
 *         the file stays valid JSON whatever a thread name or path holds.
 *   CSV:  every text field quoted, " doubled (RFC 4180); bytes otherwise raw.
 *   Prometheus label values: \, " and newline as \\ \" \n (exposition 0.0.4);
 *         other control bytes and invalid UTF-8 as '?'.
 */
#define _GNU_SOURCE
#include "profile_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void alloy__pf_buf_put(pf_buf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 65536;
        while (ncap < b->len + n + 1) ncap *= 2;
        char *np = alloy__pf_pages(ncap);
        if (np == NULL) {
            b->failed = true;
            return;
        }
        if (b->len) memcpy(np, b->p, b->len);
        alloy__pf_unpages(b->p, b->cap);
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void alloy__pf_buf_printf(pf_buf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    alloy__pf_buf_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

void alloy__pf_buf_free(pf_buf *b) {
    alloy__pf_unpages(b->p, b->cap);
    memset(b, 0, sizeof *b);
}

#define PUTS(b, s) alloy__pf_buf_put((b), (s), strlen(s))
#define PF(b, ...) alloy__pf_buf_printf((b), __VA_ARGS__)

static void json_str(pf_buf *b, const char *s) {
    if (s == NULL) {
        PUTS(b, "null");
        return;
    }
    PUTS(b, "\"");
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            alloy__pf_buf_put(b, e, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            PF(b, "\\u%04x", c);
            i++;
        } else {
            size_t l = alloy__utf8_len(u + i, n - i);
            if (l == 0) {
                PF(b, "\\u%04x", c);
                i++;
            } else {
                alloy__pf_buf_put(b, (const char *)u + i, l);
                i += l;
            }
        }
    }
    PUTS(b, "\"");
}

/* Finite doubles only (JSON has no NaN/inf). */
static void json_num(pf_buf *b, double v) {
    if (!(v == v) || v > 1e300 || v < -1e300) v = 0;
    PF(b, "%.6g", v);
}

static void json_latency(pf_buf *b, const char *name, const alloy_profile_latency *l) {
    PF(b, "\"%s\":{\"count\":%llu,\"sum_ns\":", name, (unsigned long long)l->count);
    json_num(b, l->sum_ns);
    PUTS(b, ",\"mean_ns\":");
    json_num(b, l->mean_ns);
    PUTS(b, ",\"p50_ns\":");
    json_num(b, l->p50_ns);
    PUTS(b, ",\"p95_ns\":");
    json_num(b, l->p95_ns);
    PUTS(b, ",\"p99_ns\":");
    json_num(b, l->p99_ns);
    PUTS(b, ",\"p999_ns\":");
    json_num(b, l->p999_ns);
    PUTS(b, ",\"max_ns\":");
    json_num(b, l->max_ns);
    PUTS(b, ",\"buckets\":[");
    for (size_t i = 0; i < l->nbuckets; i++) {
        PUTS(b, i ? ",[" : "[");
        json_num(b, l->buckets[i].le_ns);
        PF(b, ",%llu]", (unsigned long long)l->buckets[i].count);
    }
    PUTS(b, "]}");
}

#define U(x) ((unsigned long long)(x))

static void write_json(pf_buf *b, const alloy_profile_report *r) {
    PUTS(b, "{\"schema\":");
    json_str(b, r->schema);
    PF(b, ",\"schema_minor\":%d,\"mode\":", ALLOY_PROFILE_SCHEMA_MINOR);
    json_str(b, r->mode);
    PUTS(b, ",\"backend\":");
    json_str(b, r->backend);
    PF(b,
       ",\"pid\":%llu,\"parent_pid\":%llu,\"start_time\":%.6f,\"end_time\":%.6f"
       ",\"duration_seconds\":%.6f",
       U(r->pid), U(r->parent_pid), r->start_time, r->end_time, r->duration_s);
    PF(b, ",\"sample_bytes\":%llu,\"latency_every\":%u,\"clock\":", U(r->sample_bytes),
       r->latency_every);
    json_str(b, r->clock);
    PF(b,
       ",\"alloc_count\":%llu,\"free_count\":%llu,\"realloc_count\":%llu,\"failed_count\":%llu"
       ",\"alloc_bytes\":%llu,\"alloc_usable_bytes\":%llu,\"free_bytes\":%llu"
       ",\"free_usable_bytes\":%llu,\"current_allocated\":%llu,\"current_count\":%llu"
       ",\"peak_allocated\":%llu,\"unknown_free_count\":%llu,\"unknown_free_bytes\":%llu",
       U(r->alloc_count), U(r->free_count), U(r->realloc_count), U(r->failed_count),
       U(r->alloc_bytes), U(r->alloc_usable_bytes), U(r->free_bytes), U(r->free_usable_bytes),
       U(r->current_bytes), U(r->current_count), U(r->peak_bytes), U(r->unknown_free_count),
       U(r->unknown_free_bytes));
    const alloy_profile_inherited *ih = &r->inherited;
    PF(b,
       ",\"inherited\":{\"count\":%llu,\"bytes\":%llu,\"freed_count\":%llu,\"freed_bytes\":%llu"
       ",\"leaked_count\":%llu,\"leaked_bytes\":%llu}",
       U(ih->count), U(ih->bytes), U(ih->freed_count), U(ih->freed_bytes), U(ih->leaked_count),
       U(ih->leaked_bytes));
    PUTS(b, ",\"alloc_rate\":");
    json_num(b, r->alloc_rate);
    PUTS(b, ",\"free_rate\":");
    json_num(b, r->free_rate);
    PUTS(b, ",\"bytes_rate\":");
    json_num(b, r->bytes_rate);
    PUTS(b, ",\"alloc_rate_avg\":");
    json_num(b, r->alloc_rate_avg);
    PUTS(b, ",\"free_rate_avg\":");
    json_num(b, r->free_rate_avg);
    PUTS(b, ",");
    json_latency(b, "alloc_latency", &r->alloc_latency);
    PUTS(b, ",");
    json_latency(b, "free_latency", &r->free_latency);
    PF(b, ",\"cross_thread_free_count\":%llu,\"cross_thread_free_pct\":",
       U(r->cross_thread_free_count));
    json_num(b, r->cross_thread_free_pct);
    PUTS(b, ",\"size_histogram\":{\"buckets\":[");
    uint64_t tc = 0, tb = 0;
    for (size_t i = 0; i < r->nsize_buckets; i++) {
        const alloy_profile_size_bucket *s = &r->size_buckets[i];
        PF(b, "%s{\"lo\":%llu,\"hi\":%llu,\"count\":%llu,\"bytes\":%llu}", i ? "," : "", U(s->lo),
           U(s->hi), U(s->count), U(s->bytes));
        tc += s->count;
        tb += s->bytes;
    }
    PF(b, "],\"total_count\":%llu,\"total_bytes\":%llu,\"top_sizes\":[", U(tc), U(tb));
    for (size_t i = 0; i < r->ntop_sizes; i++)
        PF(b, "%s{\"size\":%llu,\"count\":%llu}", i ? "," : "", U(r->top_sizes[i].size),
           U(r->top_sizes[i].count));
    PUTS(b, "]},\"thread_stats\":[");
    for (size_t i = 0; i < r->nthreads; i++) {
        const alloy_profile_thread *t = &r->threads[i];
        PF(b, "%s{\"index\":%u,\"thread_id\":%llu,\"thread_name\":", i ? "," : "", t->index,
           U(t->tid));
        json_str(b, t->name[0] ? t->name : NULL);
        PF(b,
           ",\"exited\":%s,\"alloc_count\":%llu,\"free_count\":%llu,\"alloc_bytes\":%llu"
           ",\"free_bytes\":%llu,\"cross_thread_frees_sent\":%llu"
           ",\"cross_thread_frees_received\":%llu}",
           t->exited ? "true" : "false", U(t->alloc_count), U(t->free_count), U(t->alloc_bytes),
           U(t->free_bytes), U(t->cross_thread_frees_sent), U(t->cross_thread_frees_received));
    }
    PUTS(b, "],\"cross_thread_matrix\":[");
    for (size_t f = 0; f < r->nthreads; f++) {
        PUTS(b, f ? ",[" : "[");
        for (size_t c = 0; c < r->nthreads; c++)
            PF(b, "%s%llu", c ? "," : "", U(r->cross_matrix[f * r->nthreads + c]));
        PUTS(b, "]");
    }
    const alloy_profile_fragmentation *g = &r->fragmentation;
    PUTS(b, "],\"fragmentation\":{\"internal_fragmentation\":");
    json_num(b, g->internal);
    PUTS(b, ",\"external_fragmentation\":");
    json_num(b, g->external);
    PUTS(b, ",\"utilization\":");
    json_num(b, g->utilization);
    PF(b,
       ",\"requested_bytes\":%llu,\"usable_bytes\":%llu,\"heap_bytes\":%llu,\"rss_bytes\":%llu"
       ",\"heap_source\":",
       U(g->requested_bytes), U(g->usable_bytes), U(g->heap_bytes), U(g->rss_bytes));
    json_str(b, g->heap_source);
    PF(b, "},\"leaks\":{\"estimated\":%s,\"leaked_count\":%llu,\"leaked_bytes\":%llu,\"sites\":[",
       r->leaks_estimated ? "true" : "false", U(r->leaked_count), U(r->leaked_bytes));
    for (size_t i = 0; i < r->nleak_sites; i++) {
        const alloy_profile_leak_site *s = &r->leak_sites[i];
        PF(b, "%s{\"count\":%llu,\"bytes\":%llu,\"stack\":[", i ? "," : "", U(s->count),
           U(s->bytes));
        for (size_t f = 0; f < s->nframes; f++) {
            const alloy_profile_frame *fr = &s->frames[f];
            PF(b, "%s{\"pc\":\"0x%llx\",\"function\":", f ? "," : "", U(fr->pc));
            json_str(b, fr->function);
            PUTS(b, ",\"file\":");
            json_str(b, fr->file);
            PF(b, ",\"line\":%d,\"module\":", fr->line);
            json_str(b, fr->module);
            PUTS(b, "}");
        }
        PUTS(b, "]}");
    }
    PF(b, "]},\"timeline\":{\"period_ms\":%u,\"samples\":[", r->timeline_ms);
    for (size_t i = 0; i < r->ntimeline; i++) {
        const alloy_profile_sample *s = &r->timeline[i];
        PUTS(b, i ? ",[" : "[");
        json_num(b, s->t);
        PF(b, ",%llu,%llu,", U(s->live_bytes), U(s->rss_bytes));
        json_num(b, s->allocs_per_s);
        PUTS(b, ",");
        json_num(b, s->frees_per_s);
        PUTS(b, "]");
    }
    PUTS(b, "]}}\n");
}

/* ---- CSV: section,metric,key,label,value ------------------------------------------- */
static void csv_str(pf_buf *b, const char *s) {
    PUTS(b, "\"");
    for (; s != NULL && *s; s++) {
        if (*s == '"') PUTS(b, "\"");
        alloy__pf_buf_put(b, s, 1);
    }
    PUTS(b, "\"");
}

static void csv_prefix(pf_buf *b, const char *section, const char *metric, const char *key,
                       const char *label) {
    PF(b, "%s,%s,", section, metric);
    csv_str(b, key);
    PUTS(b, ",");
    csv_str(b, label);
}

static void csv_row(pf_buf *b, const char *section, const char *metric, const char *key,
                    const char *label, double v) {
    csv_prefix(b, section, metric, key, label);
    if (v == (double)(uint64_t)v && v < 1.8e19)
        PF(b, ",%llu\n", U(v));
    else
        PF(b, ",%.6g\n", v);
}

static void csv_u(pf_buf *b, const char *section, const char *metric, const char *key,
                  const char *label, uint64_t v) {
    csv_prefix(b, section, metric, key, label);
    PF(b, ",%llu\n", U(v));
}

static void csv_latency(pf_buf *b, const char *sec, const alloy_profile_latency *l) {
    csv_u(b, sec, "count", "", "", l->count);
    csv_row(b, sec, "sum_ns", "", "", l->sum_ns);
    csv_row(b, sec, "p50_ns", "", "", l->p50_ns);
    csv_row(b, sec, "p95_ns", "", "", l->p95_ns);
    csv_row(b, sec, "p99_ns", "", "", l->p99_ns);
    csv_row(b, sec, "p999_ns", "", "", l->p999_ns);
    csv_row(b, sec, "max_ns", "", "", l->max_ns);
    char k[64];
    for (size_t i = 0; i < l->nbuckets; i++) {
        snprintf(k, sizeof k, "%.6g", l->buckets[i].le_ns);
        csv_u(b, sec, "bucket", k, "", l->buckets[i].count);
    }
}

static void write_csv(pf_buf *b, const alloy_profile_report *r) {
    PUTS(b, "section,metric,key,label,value\n");
    const char *S = "summary";
    csv_row(b, S, "schema", "", r->schema, 1);
    csv_row(b, S, "mode", "", r->mode, 1);
    csv_row(b, S, "backend", "", r->backend, 1);
    csv_u(b, S, "schema_minor", "", "", ALLOY_PROFILE_SCHEMA_MINOR);
    csv_u(b, S, "pid", "", "", r->pid);
    csv_u(b, S, "parent_pid", "", "", r->parent_pid);
    csv_u(b, "inherited", "count", "", "", r->inherited.count);
    csv_u(b, "inherited", "bytes", "", "", r->inherited.bytes);
    csv_u(b, "inherited", "freed_count", "", "", r->inherited.freed_count);
    csv_u(b, "inherited", "freed_bytes", "", "", r->inherited.freed_bytes);
    csv_u(b, "inherited", "leaked_count", "", "", r->inherited.leaked_count);
    csv_u(b, "inherited", "leaked_bytes", "", "", r->inherited.leaked_bytes);
    csv_row(b, S, "duration_seconds", "", "", r->duration_s);
    csv_u(b, S, "alloc_count", "", "", r->alloc_count);
    csv_u(b, S, "free_count", "", "", r->free_count);
    csv_u(b, S, "realloc_count", "", "", r->realloc_count);
    csv_u(b, S, "failed_count", "", "", r->failed_count);
    csv_u(b, S, "alloc_bytes", "", "", r->alloc_bytes);
    csv_u(b, S, "alloc_usable_bytes", "", "", r->alloc_usable_bytes);
    csv_u(b, S, "free_bytes", "", "", r->free_bytes);
    csv_u(b, S, "free_usable_bytes", "", "", r->free_usable_bytes);
    csv_u(b, S, "current_allocated", "", "", r->current_bytes);
    csv_u(b, S, "current_count", "", "", r->current_count);
    csv_u(b, S, "peak_allocated", "", "", r->peak_bytes);
    csv_u(b, S, "unknown_free_count", "", "", r->unknown_free_count);
    csv_u(b, S, "unknown_free_bytes", "", "", r->unknown_free_bytes);
    csv_row(b, S, "alloc_rate", "", "", r->alloc_rate);
    csv_row(b, S, "free_rate", "", "", r->free_rate);
    csv_row(b, S, "bytes_rate", "", "", r->bytes_rate);
    csv_u(b, S, "cross_thread_free_count", "", "", r->cross_thread_free_count);
    csv_row(b, S, "cross_thread_free_pct", "", "", r->cross_thread_free_pct);
    csv_latency(b, "alloc_latency", &r->alloc_latency);
    csv_latency(b, "free_latency", &r->free_latency);
    char k[64], l[64];
    for (size_t i = 0; i < r->nsize_buckets; i++) {
        snprintf(k, sizeof k, "%llu", U(r->size_buckets[i].lo));
        snprintf(l, sizeof l, "%llu", U(r->size_buckets[i].hi));
        csv_u(b, "size_histogram", "count", k, l, r->size_buckets[i].count);
        csv_u(b, "size_histogram", "bytes", k, l, r->size_buckets[i].bytes);
    }
    for (size_t i = 0; i < r->ntop_sizes; i++) {
        snprintf(k, sizeof k, "%llu", U(r->top_sizes[i].size));
        csv_u(b, "top_sizes", "count", k, "", r->top_sizes[i].count);
    }
    for (size_t i = 0; i < r->nthreads; i++) {
        const alloy_profile_thread *t = &r->threads[i];
        snprintf(k, sizeof k, "%u", t->index);
        csv_u(b, "thread", "thread_id", k, t->name, t->tid);
        csv_u(b, "thread", "alloc_count", k, t->name, t->alloc_count);
        csv_u(b, "thread", "free_count", k, t->name, t->free_count);
        csv_u(b, "thread", "alloc_bytes", k, t->name, t->alloc_bytes);
        csv_u(b, "thread", "free_bytes", k, t->name, t->free_bytes);
        csv_u(b, "thread", "cross_thread_frees_sent", k, t->name, t->cross_thread_frees_sent);
        csv_u(b, "thread", "cross_thread_frees_received", k, t->name,
              t->cross_thread_frees_received);
    }
    for (size_t f = 0; f < r->nthreads; f++) {
        for (size_t c = 0; c < r->nthreads; c++) {
            uint64_t v = r->cross_matrix[f * r->nthreads + c];
            if (v == 0) continue;
            snprintf(k, sizeof k, "%zu", f);
            snprintf(l, sizeof l, "%zu", c);
            csv_u(b, "cross_thread", "frees", k, l, v);
        }
    }
    const alloy_profile_fragmentation *g = &r->fragmentation;
    csv_row(b, "fragmentation", "internal_fragmentation", "", "", g->internal);
    csv_row(b, "fragmentation", "external_fragmentation", "", "", g->external);
    csv_row(b, "fragmentation", "utilization", "", "", g->utilization);
    csv_u(b, "fragmentation", "requested_bytes", "", "", g->requested_bytes);
    csv_u(b, "fragmentation", "usable_bytes", "", "", g->usable_bytes);
    csv_u(b, "fragmentation", "heap_bytes", "", g->heap_source, g->heap_bytes);
    csv_u(b, "fragmentation", "rss_bytes", "", "", g->rss_bytes);
    csv_u(b, "leaks", "leaked_count", "", r->leaks_estimated ? "estimated" : "exact",
          r->leaked_count);
    csv_u(b, "leaks", "leaked_bytes", "", r->leaks_estimated ? "estimated" : "exact",
          r->leaked_bytes);
    for (size_t i = 0; i < r->nleak_sites; i++) {
        const alloy_profile_leak_site *s = &r->leak_sites[i];
        char where[1024] = "";
        if (s->nframes)
            snprintf(where, sizeof where, "%s %s:%d",
                     s->frames[0].function ? s->frames[0].function : "?",
                     s->frames[0].file ? s->frames[0].file : "?", s->frames[0].line);
        snprintf(k, sizeof k, "%zu", i);
        csv_u(b, "leak_site", "count", k, where, s->count);
        csv_u(b, "leak_site", "bytes", k, where, s->bytes);
    }
    for (size_t i = 0; i < r->ntimeline; i++) {
        const alloy_profile_sample *s = &r->timeline[i];
        snprintf(k, sizeof k, "%.3f", s->t);
        csv_u(b, "timeline", "live_bytes", k, "", s->live_bytes);
        csv_u(b, "timeline", "rss_bytes", k, "", s->rss_bytes);
        csv_row(b, "timeline", "allocs_per_s", k, "", s->allocs_per_s);
        csv_row(b, "timeline", "frees_per_s", k, "", s->frees_per_s);
    }
}

/* ---- Prometheus text exposition ------------------------------------------------------- */
static void prom_label(pf_buf *b, const char *s) {
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)u);
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        if (c == '\\')
            PUTS(b, "\\\\"), i++;
        else if (c == '"')
            PUTS(b, "\\\""), i++;
        else if (c == '\n')
            PUTS(b, "\\n"), i++;
        else if (c < 0x20 || c == 0x7f)
            PUTS(b, "?"), i++;
        else {
            size_t l = alloy__utf8_len(u + i, n - i);
            if (l == 0)
                PUTS(b, "?"), i++;
            else
                alloy__pf_buf_put(b, (const char *)u + i, l), i += l;
        }
    }
}

static void prom_head(pf_buf *b, const char *name, const char *type, const char *help) {
    PF(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_val(pf_buf *b, double v) {
    if (!(v == v)) v = 0;
    if (v == (double)(uint64_t)v && v < 1e18)
        PF(b, " %llu\n", U(v));
    else
        PF(b, " %.9g\n", v);
}

static void prom_one(pf_buf *b, const char *name, const char *type, const char *help, double v) {
    prom_head(b, name, type, help);
    PUTS(b, name);
    prom_val(b, v);
}

/* Latency histogram in seconds over fixed bounds: each fine bucket is counted
 * under the first bound at or above its upper edge. */
static void prom_latency(pf_buf *b, const char *name, const char *help,
                         const alloy_profile_latency *l) {
    static const double bounds_ns[] = {10,   25,   50,    100,   250, 500, 1000,
                                       2500, 5000, 1e4,   2.5e4, 5e4, 1e5, 2.5e5,
                                       5e5,  1e6,  2.5e6, 5e6,   1e7, 1e8, 1e9};
    prom_head(b, name, "histogram", help);
    size_t k = 0;
    uint64_t cum = 0;
    for (size_t i = 0; i < sizeof bounds_ns / sizeof bounds_ns[0]; i++) {
        while (k < l->nbuckets && l->buckets[k].le_ns <= bounds_ns[i]) cum += l->buckets[k++].count;
        PF(b, "%s_bucket{le=\"%.9g\"} %llu\n", name, bounds_ns[i] * 1e-9, U(cum));
    }
    PF(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, U(l->count));
    PF(b, "%s_sum %.9g\n%s_count %llu\n", name, l->sum_ns * 1e-9, name, U(l->count));
    char q[128];
    snprintf(q, sizeof q, "%s_percentile", name);
    prom_head(b, q, "gauge", "latency percentiles (log-linear histogram, <= 3.2% error)");
    const double qs[] = {0.5, 0.95, 0.99, 0.999};
    const double vs[] = {l->p50_ns, l->p95_ns, l->p99_ns, l->p999_ns};
    for (size_t i = 0; i < 4; i++) {
        PF(b, "%s{percentile=\"%g\"}", q, qs[i] * 100.0);
        prom_val(b, vs[i] * 1e-9);
    }
    snprintf(q, sizeof q, "%s_max", name);
    prom_one(b, q, "gauge", "slowest call timed", l->max_ns * 1e-9);
}

static void write_prom(pf_buf *b, const alloy_profile_report *r) {
    prom_head(b, "alloy_profile_info", "gauge", "profiler settings (value is always 1)");
    PUTS(b, "alloy_profile_info{schema=\"");
    prom_label(b, r->schema);
    PUTS(b, "\",mode=\"");
    prom_label(b, r->mode);
    PUTS(b, "\",backend=\"");
    prom_label(b, r->backend);
    PUTS(b, "\",clock=\"");
    prom_label(b, r->clock);
    PUTS(b, "\"} 1\n");
    prom_one(b, "alloy_alloc_total", "counter", "allocations", (double)r->alloc_count);
    prom_one(b, "alloy_free_total", "counter", "frees of blocks seen allocated",
             (double)r->free_count);
    prom_one(b, "alloy_realloc_total", "counter", "reallocations", (double)r->realloc_count);
    prom_one(b, "alloy_alloc_failed_total", "counter", "allocations that returned NULL",
             (double)r->failed_count);
    prom_one(b, "alloy_alloc_bytes_total", "counter", "requested bytes allocated",
             (double)r->alloc_bytes);
    prom_one(b, "alloy_alloc_usable_bytes_total", "counter", "usable bytes allocated",
             (double)r->alloc_usable_bytes);
    prom_one(b, "alloy_free_bytes_total", "counter", "usable bytes freed",
             (double)r->free_usable_bytes);
    prom_one(b, "alloy_unknown_free_total", "counter", "frees of blocks allocated before the start",
             (double)r->unknown_free_count);
    prom_one(b, "alloy_current_bytes", "gauge", "usable bytes live", (double)r->current_bytes);
    prom_one(b, "alloy_current_blocks", "gauge", "blocks live", (double)r->current_count);
    prom_one(b, "alloy_peak_bytes", "gauge", "high-water mark of live usable bytes",
             (double)r->peak_bytes);
    prom_one(b, "alloy_alloc_rate", "gauge", "allocations per second, 1 s moving average",
             r->alloc_rate_avg);
    prom_one(b, "alloy_free_rate", "gauge", "frees per second, 1 s moving average",
             r->free_rate_avg);
    prom_latency(b, "alloy_alloc_latency_seconds", "time spent in the allocator per allocation",
                 &r->alloc_latency);
    prom_latency(b, "alloy_free_latency_seconds", "time spent in the allocator per free",
                 &r->free_latency);
    /* Request sizes: cumulative over powers of two. */
    prom_head(b, "alloy_alloc_size_bytes", "histogram", "requested sizes");
    uint64_t cum = 0, sum = 0;
    size_t k = 0;
    for (unsigned e = 3; e <= 30; e++) {
        uint64_t le = 1ull << e;
        while (k < r->nsize_buckets && r->size_buckets[k].hi <= le) {
            cum += r->size_buckets[k].count;
            k++;
        }
        PF(b, "alloy_alloc_size_bytes_bucket{le=\"%llu\"} %llu\n", U(le), U(cum));
    }
    uint64_t total = 0;
    for (size_t i = 0; i < r->nsize_buckets; i++) {
        total += r->size_buckets[i].count;
        sum += r->size_buckets[i].bytes;
    }
    PF(b, "alloy_alloc_size_bytes_bucket{le=\"+Inf\"} %llu\n", U(total));
    PF(b, "alloy_alloc_size_bytes_sum %llu\nalloy_alloc_size_bytes_count %llu\n", U(sum), U(total));
    prom_one(b, "alloy_cross_thread_free_total", "counter", "blocks freed by another thread",
             (double)r->cross_thread_free_count);
    prom_one(b, "alloy_cross_thread_free_ratio", "gauge", "cross-thread frees over all frees",
             r->cross_thread_free_pct / 100.0);
    const alloy_profile_fragmentation *g = &r->fragmentation;
    prom_one(b, "alloy_fragmentation_internal_ratio", "gauge", "(usable - requested) / usable",
             g->internal);
    prom_one(b, "alloy_fragmentation_external_ratio", "gauge", "(heap - usable) / heap",
             g->external);
    prom_one(b, "alloy_utilization_ratio", "gauge", "requested / heap", g->utilization);
    prom_one(b, "alloy_heap_bytes", "gauge", "heap size (mallinfo2 or RSS)", (double)g->heap_bytes);
    prom_one(b, "alloy_rss_bytes", "gauge", "resident set size", (double)g->rss_bytes);
    prom_one(b, "alloy_leaked_bytes", "gauge", "requested bytes of live blocks",
             (double)r->leaked_bytes);
    prom_one(b, "alloy_leaked_blocks", "gauge", "live blocks", (double)r->leaked_count);
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } tm[] = {
        {"alloy_thread_alloc_total", "counter", "allocations by thread",
         offsetof(alloy_profile_thread, alloc_count)},
        {"alloy_thread_free_total", "counter", "frees by thread",
         offsetof(alloy_profile_thread, free_count)},
        {"alloy_thread_alloc_bytes_total", "counter", "usable bytes allocated by thread",
         offsetof(alloy_profile_thread, alloc_bytes)},
        {"alloy_thread_cross_thread_frees_sent_total", "counter",
         "blocks of this thread freed by another",
         offsetof(alloy_profile_thread, cross_thread_frees_sent)},
        {"alloy_thread_cross_thread_frees_received_total", "counter",
         "blocks of other threads this thread freed",
         offsetof(alloy_profile_thread, cross_thread_frees_received)},
    };
    for (size_t m = 0; m < sizeof tm / sizeof tm[0]; m++) {
        if (r->nthreads == 0) break;
        prom_head(b, tm[m].name, tm[m].type, tm[m].help);
        for (size_t i = 0; i < r->nthreads; i++) {
            const alloy_profile_thread *t = &r->threads[i];
            PF(b, "%s{thread=\"%u\",tid=\"%llu\",name=\"", tm[m].name, t->index, U(t->tid));
            prom_label(b, t->name);
            uint64_t v;
            memcpy(&v, (const char *)t + tm[m].off, sizeof v);
            PF(b, "\"} %llu\n", U(v));
        }
    }
}

bool alloy__pf_format(pf_buf *b, const alloy_profile_report *r, alloy_profile_format fmt) {
    switch (fmt) {
    case ALLOY_PROFILE_JSON:
        write_json(b, r);
        break;
    case ALLOY_PROFILE_CSV:
        write_csv(b, r);
        break;
    case ALLOY_PROFILE_PROMETHEUS:
        write_prom(b, r);
        break;
    default:
        errno = EINVAL;
        return false;
    }
    if (b->failed) errno = ENOMEM;
    return !b->failed;
}

static bool format_report(pf_buf *b, const alloy_profile_report *r, alloy_profile_format fmt) {
    alloy_profile_report own;
    bool ok;
    if (r == NULL) {
        if (!alloy__pf_snapshot(&own, false)) return false;
        ok = alloy__pf_format(b, &own, fmt);
        alloy_profile_report_free(&own);
    } else {
        ok = alloy__pf_format(b, r, fmt);
    }
    return ok;
}

bool alloy_profile_write(FILE *f, const alloy_profile_report *r, alloy_profile_format fmt) {
    if (f == NULL || fmt < ALLOY_PROFILE_JSON || fmt > ALLOY_PROFILE_PROMETHEUS) {
        errno = EINVAL;
        return false;
    }
    alloy__pf_self.inside++;
    pf_buf b = {0};
    bool ok = format_report(&b, r, fmt);
    if (ok) ok = fwrite(b.p, 1, b.len, f) == b.len && fflush(f) == 0;
    alloy__pf_buf_free(&b);
    alloy__pf_self.inside--;
    return ok;
}

bool alloy_profile_write_path(const char *path, const alloy_profile_report *r,
                              alloy_profile_format fmt, bool overwrite) {
    if (path == NULL || path[0] == '\0' || fmt < ALLOY_PROFILE_JSON ||
        fmt > ALLOY_PROFILE_PROMETHEUS) {
        errno = EINVAL;
        return false;
    }
    alloy__pf_self.inside++;
    pf_buf b = {0};
    bool ok = format_report(&b, r, fmt);
    if (ok) ok = alloy__pf_write_file(path, &b, overwrite, false);
    int e = errno;
    alloy__pf_buf_free(&b);
    alloy__pf_self.inside--;
    errno = e;
    return ok;
}
