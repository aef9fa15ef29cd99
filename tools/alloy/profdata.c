/* SPDX-License-Identifier: MIT */
/* profdata.c - profile files read, merged and summarized. */
#include "profdata.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void *own(cli_profile *p, size_t n, size_t size) {
    for (size_t i = 0; i < sizeof p->owned / sizeof p->owned[0]; i++)
        if (p->owned[i] == NULL) return p->owned[i] = calloc(n ? n : 1, size);
    return NULL;
}

static void latency(cli_profile *p, alloy_profile_latency *l, const js_value *o) {
    l->count = js_u64(o, "count");
    l->sum_ns = js_num(o, "sum_ns");
    l->mean_ns = js_num(o, "mean_ns");
    l->p50_ns = js_num(o, "p50_ns");
    l->p95_ns = js_num(o, "p95_ns");
    l->p99_ns = js_num(o, "p99_ns");
    l->p999_ns = js_num(o, "p999_ns");
    l->max_ns = js_num(o, "max_ns");
    const js_value *b = js_get(o, "buckets");
    size_t n = b != NULL && b->type == JS_ARR ? b->n : 0;
    alloy_profile_latency_bucket *v = own(p, n, sizeof *v);
    if (v == NULL) return;
    for (size_t i = 0; i < n; i++) {
        const js_value *e = js_at(b, i);
        if (js_at(e, 1) == NULL) continue;
        v[l->nbuckets].le_ns = js_at(e, 0)->num;
        v[l->nbuckets++].count = js_at(e, 1)->u;
    }
    l->buckets = v;
}

static const char *str_or(const js_value *o, const char *k, const char *def) {
    const char *s = js_str(o, k);
    return s != NULL ? s : def;
}

bool cli_profile_parse(cli_profile *p, const char *text, size_t len, const char *path, char *err,
                       size_t errlen) {
    memset(p, 0, sizeof *p);
    p->nprocs = 1;
    char jerr[128];
    if (!js_parse(&p->doc, text, len, jerr, sizeof jerr)) {
        snprintf(err, errlen, "not JSON (%s)", jerr);
        return false;
    }
    const js_value *root = p->doc.root;
    const char *schema = js_str(root, "schema");
    if (schema == NULL || strcmp(schema, ALLOY_PROFILE_SCHEMA) != 0) {
        snprintf(err, errlen, "not an alloy profile (schema is not \"%s\")", ALLOY_PROFILE_SCHEMA);
        js_free(&p->doc);
        return false;
    }
    if (path != NULL) p->path = strdup(path);
    alloy_profile_report *r = &p->r;
    r->schema = ALLOY_PROFILE_SCHEMA;
    r->mode = str_or(root, "mode", "full");
    r->backend = str_or(root, "backend", "?");
    r->clock = str_or(root, "clock", "?");
    r->pid = js_u64(root, "pid");
    r->start_time = js_num(root, "start_time");
    r->end_time = js_num(root, "end_time");
    r->duration_s = js_num(root, "duration_seconds");
    r->sample_bytes = (size_t)js_u64(root, "sample_bytes");
    r->latency_every = (unsigned)js_u64(root, "latency_every");
    r->alloc_count = js_u64(root, "alloc_count");
    r->free_count = js_u64(root, "free_count");
    r->realloc_count = js_u64(root, "realloc_count");
    r->failed_count = js_u64(root, "failed_count");
    r->alloc_bytes = js_u64(root, "alloc_bytes");
    r->alloc_usable_bytes = js_u64(root, "alloc_usable_bytes");
    r->free_bytes = js_u64(root, "free_bytes");
    r->free_usable_bytes = js_u64(root, "free_usable_bytes");
    r->current_bytes = js_u64(root, "current_allocated");
    r->current_count = js_u64(root, "current_count");
    r->peak_bytes = js_u64(root, "peak_allocated");
    r->unknown_free_count = js_u64(root, "unknown_free_count");
    r->unknown_free_bytes = js_u64(root, "unknown_free_bytes");
    /* schema_minor 1 (absent before: zeros, a file from before the child's figures were its own) */
    r->parent_pid = js_u64(root, "parent_pid");
    const js_value *ih = js_get(root, "inherited");
    r->inherited = (alloy_profile_inherited){
        js_u64(ih, "count"),       js_u64(ih, "bytes"),        js_u64(ih, "freed_count"),
        js_u64(ih, "freed_bytes"), js_u64(ih, "leaked_count"), js_u64(ih, "leaked_bytes")};
    p->inherited = r->parent_pid != 0;
    r->alloc_rate = js_num(root, "alloc_rate");
    r->free_rate = js_num(root, "free_rate");
    r->bytes_rate = js_num(root, "bytes_rate");
    r->alloc_rate_avg = js_num(root, "alloc_rate_avg");
    r->free_rate_avg = js_num(root, "free_rate_avg");
    latency(p, &r->alloc_latency, js_get(root, "alloc_latency"));
    latency(p, &r->free_latency, js_get(root, "free_latency"));
    r->cross_thread_free_count = js_u64(root, "cross_thread_free_count");
    r->cross_thread_free_pct = js_num(root, "cross_thread_free_pct");

    const js_value *sh = js_get(root, "size_histogram");
    const js_value *sb = js_get(sh, "buckets"), *ts = js_get(sh, "top_sizes");
    size_t n = sb != NULL && sb->type == JS_ARR ? sb->n : 0;
    alloy_profile_size_bucket *sizes = own(p, n, sizeof *sizes);
    for (size_t i = 0; sizes != NULL && i < n; i++) {
        const js_value *e = js_at(sb, i);
        sizes[i] = (alloy_profile_size_bucket){js_u64(e, "lo"), js_u64(e, "hi"), js_u64(e, "count"),
                                               js_u64(e, "bytes")};
    }
    r->size_buckets = sizes;
    r->nsize_buckets = sizes ? n : 0;
    n = ts != NULL && ts->type == JS_ARR ? ts->n : 0;
    alloy_profile_size_count *tops = own(p, n, sizeof *tops);
    for (size_t i = 0; tops != NULL && i < n; i++)
        tops[i] =
            (alloy_profile_size_count){js_u64(js_at(ts, i), "size"), js_u64(js_at(ts, i), "count")};
    r->top_sizes = tops;
    r->ntop_sizes = tops ? n : 0;

    const js_value *th = js_get(root, "thread_stats");
    n = th != NULL && th->type == JS_ARR ? th->n : 0;
    alloy_profile_thread *threads = own(p, n, sizeof *threads);
    uint64_t *matrix = own(p, n * n, sizeof *matrix);
    for (size_t i = 0; threads != NULL && i < n; i++) {
        const js_value *e = js_at(th, i);
        alloy_profile_thread *t = &threads[i];
        t->index = (uint32_t)js_u64(e, "index");
        t->tid = js_u64(e, "thread_id");
        const char *name = js_str(e, "thread_name");
        if (name != NULL) snprintf(t->name, sizeof t->name, "%s", name);
        t->exited = js_bool(e, "exited");
        t->alloc_count = js_u64(e, "alloc_count");
        t->free_count = js_u64(e, "free_count");
        t->alloc_bytes = js_u64(e, "alloc_bytes");
        t->free_bytes = js_u64(e, "free_bytes");
        t->cross_thread_frees_sent = js_u64(e, "cross_thread_frees_sent");
        t->cross_thread_frees_received = js_u64(e, "cross_thread_frees_received");
    }
    const js_value *mx = js_get(root, "cross_thread_matrix");
    for (size_t f = 0; matrix != NULL && f < n; f++)
        for (size_t a = 0; a < n; a++) {
            const js_value *c = js_at(js_at(mx, f), a);
            matrix[f * n + a] = c != NULL ? c->u : 0;
        }
    r->threads = threads;
    r->nthreads = threads && matrix ? n : 0;
    r->cross_matrix = matrix;

    const js_value *g = js_get(root, "fragmentation");
    r->fragmentation.internal = js_num(g, "internal_fragmentation");
    r->fragmentation.external = js_num(g, "external_fragmentation");
    r->fragmentation.utilization = js_num(g, "utilization");
    r->fragmentation.requested_bytes = js_u64(g, "requested_bytes");
    r->fragmentation.usable_bytes = js_u64(g, "usable_bytes");
    r->fragmentation.heap_bytes = js_u64(g, "heap_bytes");
    r->fragmentation.rss_bytes = js_u64(g, "rss_bytes");
    r->fragmentation.heap_source = str_or(g, "heap_source", "rss");

    const js_value *lk = js_get(root, "leaks"), *sites = js_get(lk, "sites");
    r->leaks_estimated = js_bool(lk, "estimated");
    r->leaked_count = js_u64(lk, "leaked_count");
    r->leaked_bytes = js_u64(lk, "leaked_bytes");
    n = sites != NULL && sites->type == JS_ARR ? sites->n : 0;
    size_t nframes = 0;
    for (size_t i = 0; i < n; i++) {
        const js_value *st = js_get(js_at(sites, i), "stack");
        nframes += st != NULL && st->type == JS_ARR ? st->n : 0;
    }
    alloy_profile_leak_site *ls = own(p, n, sizeof *ls);
    alloy_profile_frame *fr = own(p, nframes, sizeof *fr);
    size_t k = 0;
    for (size_t i = 0; ls != NULL && fr != NULL && i < n; i++) {
        const js_value *e = js_at(sites, i), *st = js_get(e, "stack");
        ls[i].count = js_u64(e, "count");
        ls[i].bytes = js_u64(e, "bytes");
        ls[i].frames = fr + k;
        for (size_t j = 0; st != NULL && st->type == JS_ARR && j < st->n; j++) {
            const js_value *x = js_at(st, j);
            const char *pc = js_str(x, "pc");
            fr[k] = (alloy_profile_frame){pc ? (uintptr_t)strtoull(pc, NULL, 16) : 0,
                                          js_str(x, "function"), js_str(x, "file"),
                                          (int)js_u64(x, "line"), js_str(x, "module")};
            k++;
            ls[i].nframes++;
        }
    }
    r->leak_sites = ls;
    r->nleak_sites = ls && fr ? n : 0;

    const js_value *tl = js_get(root, "timeline"), *smp = js_get(tl, "samples");
    r->timeline_ms = (unsigned)js_u64(tl, "period_ms");
    n = smp != NULL && smp->type == JS_ARR ? smp->n : 0;
    alloy_profile_sample *tv = own(p, n, sizeof *tv);
    for (size_t i = 0; tv != NULL && i < n; i++) {
        const js_value *e = js_at(smp, i);
        if (js_at(e, 4) == NULL) continue;
        tv[r->ntimeline++] = (alloy_profile_sample){
            js_at(e, 0)->num, js_at(e, 1)->u, js_at(e, 2)->u, js_at(e, 3)->num, js_at(e, 4)->num};
    }
    r->timeline = tv;
    return true;
}

bool cli_profile_load(cli_profile *p, const char *path, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return false;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (buf == NULL) break;
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = realloc(buf, cap *= 2);
        if (nb == NULL) free(buf);
        buf = nb;
    }
    bool rd = !ferror(f);
    fclose(f);
    if (buf == NULL || !rd) {
        free(buf);
        snprintf(err, errlen, "cannot read: %s", buf == NULL ? "out of memory" : "read error");
        return false;
    }
    bool ok = cli_profile_parse(p, buf, n, path, err, errlen);
    free(buf);
    return ok;
}

void cli_profile_free(cli_profile *p) {
    for (size_t i = 0; i < sizeof p->owned / sizeof p->owned[0]; i++) free(p->owned[i]);
    free(p->path);
    js_free(&p->doc);
    memset(p, 0, sizeof *p);
}

/* ---- merge ------------------------------------------------------------------------------- */

static int cmp_lat(const void *a, const void *b) {
    double x = ((const alloy_profile_latency_bucket *)a)->le_ns,
           y = ((const alloy_profile_latency_bucket *)b)->le_ns;
    return (x > y) - (x < y);
}

static double quantile(const alloy_profile_latency *l, double q) {
    uint64_t total = 0;
    for (size_t i = 0; i < l->nbuckets; i++) total += l->buckets[i].count;
    if (total == 0) return 0;
    double want = q * (double)total;
    uint64_t rank = (uint64_t)ceil(want), seen = 0;
    if (rank == 0) rank = 1;
    for (size_t i = 0; i < l->nbuckets; i++) {
        seen += l->buckets[i].count;
        /* Buckets are 1/32 of a power of two wide: the midpoint is 1/64 below the bound. */
        if (seen >= rank) return fmin(l->buckets[i].le_ns * (1.0 - 1.0 / 64), l->max_ns);
    }
    return l->max_ns;
}

static void merge_latency(cli_profile *out, alloy_profile_latency *o, cli_profile *in, size_t n,
                          bool alloc) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += (alloc ? in[i].r.alloc_latency : in[i].r.free_latency).nbuckets;
    alloy_profile_latency_bucket *v = own(out, total, sizeof *v);
    if (v == NULL) return;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const alloy_profile_latency *l = alloc ? &in[i].r.alloc_latency : &in[i].r.free_latency;
        memcpy(v + k, l->buckets, l->nbuckets * sizeof *v);
        k += l->nbuckets;
        o->count += l->count;
        o->sum_ns += l->sum_ns;
        o->max_ns = fmax(o->max_ns, l->max_ns);
    }
    qsort(v, k, sizeof *v, cmp_lat);
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        /* The same bucket seen by two processes (their tick rates differ by a hair). */
        if (m > 0 && fabs(v[m - 1].le_ns - v[i].le_ns) <= v[i].le_ns * 1e-3)
            v[m - 1].count += v[i].count;
        else
            v[m++] = v[i];
    }
    o->buckets = v;
    o->nbuckets = m;
    o->mean_ns = o->count ? o->sum_ns / (double)o->count : 0;
    o->p50_ns = quantile(o, 0.50);
    o->p95_ns = quantile(o, 0.95);
    o->p99_ns = quantile(o, 0.99);
    o->p999_ns = quantile(o, 0.999);
}

static int cmp_size_bucket(const void *a, const void *b) {
    uint64_t x = ((const alloy_profile_size_bucket *)a)->lo,
             y = ((const alloy_profile_size_bucket *)b)->lo;
    return (x > y) - (x < y);
}

static int cmp_top(const void *a, const void *b) {
    const alloy_profile_size_count *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return (x->size > y->size) - (x->size < y->size);
}

static int cmp_site(const void *a, const void *b) {
    uint64_t x = ((const alloy_profile_leak_site *)a)->bytes,
             y = ((const alloy_profile_leak_site *)b)->bytes;
    return (x < y) - (x > y);
}

bool cli_profile_merge(cli_profile *out, cli_profile *in, size_t n) {
    memset(out, 0, sizeof *out);
    out->nprocs = n;
    if (n == 0) return false;
    alloy_profile_report *r = &out->r;
    const alloy_profile_report *f0 = &in[0].r;
    *r = *f0; /* strings, options, mode */
    r->alloc_latency = r->free_latency = (alloy_profile_latency){0};
    r->alloc_count = r->free_count = r->realloc_count = r->failed_count = 0;
    r->alloc_bytes = r->alloc_usable_bytes = r->free_bytes = r->free_usable_bytes = 0;
    r->current_bytes = r->current_count = r->peak_bytes = 0;
    r->unknown_free_count = r->unknown_free_bytes = 0;
    r->alloc_rate = r->free_rate = r->bytes_rate = r->alloc_rate_avg = r->free_rate_avg = 0;
    r->cross_thread_free_count = 0;
    r->leaked_count = r->leaked_bytes = 0;
    r->parent_pid = n == 1 ? f0->parent_pid : 0;
    r->inherited = (alloy_profile_inherited){0};
    memset(&r->fragmentation, 0, sizeof r->fragmentation);
    r->fragmentation.heap_source = f0->fragmentation.heap_source;
    size_t nsb = 0, ntop = 0, nth = 0, nsites = 0;
    const alloy_profile_report *longest = f0;
    for (size_t i = 0; i < n; i++) {
        const alloy_profile_report *x = &in[i].r;
        if (x->start_time < r->start_time) r->start_time = x->start_time;
        if (x->end_time > r->end_time) r->end_time = x->end_time;
        r->alloc_count += x->alloc_count;
        r->free_count += x->free_count;
        r->realloc_count += x->realloc_count;
        r->failed_count += x->failed_count;
        r->alloc_bytes += x->alloc_bytes;
        r->alloc_usable_bytes += x->alloc_usable_bytes;
        r->free_bytes += x->free_bytes;
        r->free_usable_bytes += x->free_usable_bytes;
        r->current_bytes += x->current_bytes;
        r->current_count += x->current_count;
        r->peak_bytes += x->peak_bytes; /* processes may overlap: an upper bound */
        r->unknown_free_count += x->unknown_free_count;
        r->unknown_free_bytes += x->unknown_free_bytes;
        r->alloc_rate_avg += x->alloc_rate_avg;
        r->free_rate_avg += x->free_rate_avg;
        r->cross_thread_free_count += x->cross_thread_free_count;
        r->leaked_count += x->leaked_count;
        r->leaked_bytes += x->leaked_bytes;
        r->inherited.count += x->inherited.count;
        r->inherited.bytes += x->inherited.bytes;
        r->inherited.freed_count += x->inherited.freed_count;
        r->inherited.freed_bytes += x->inherited.freed_bytes;
        r->inherited.leaked_count += x->inherited.leaked_count;
        r->inherited.leaked_bytes += x->inherited.leaked_bytes;
        r->leaks_estimated |= x->leaks_estimated;
        r->fragmentation.requested_bytes += x->fragmentation.requested_bytes;
        r->fragmentation.usable_bytes += x->fragmentation.usable_bytes;
        r->fragmentation.heap_bytes += x->fragmentation.heap_bytes;
        r->fragmentation.rss_bytes += x->fragmentation.rss_bytes;
        nsb += x->nsize_buckets;
        ntop += x->ntop_sizes;
        nth += x->nthreads;
        nsites += x->nleak_sites;
        if (x->ntimeline > longest->ntimeline) longest = x;
    }
    r->duration_s = r->end_time - r->start_time;
    if (n == 1) r->duration_s = f0->duration_s;
    if (r->duration_s > 0) {
        r->alloc_rate = (double)r->alloc_count / r->duration_s;
        r->free_rate = (double)r->free_count / r->duration_s;
        r->bytes_rate = (double)r->alloc_bytes / r->duration_s;
    }
    r->cross_thread_free_pct =
        r->free_count ? 100.0 * (double)r->cross_thread_free_count / (double)r->free_count : 0;
    alloy_profile_fragmentation *g = &r->fragmentation;
    g->internal = g->usable_bytes && g->requested_bytes
                      ? (double)(g->usable_bytes - g->requested_bytes) / (double)g->usable_bytes
                      : 0;
    g->external = g->heap_bytes > g->usable_bytes
                      ? (double)(g->heap_bytes - g->usable_bytes) / (double)g->heap_bytes
                      : 0;
    g->utilization = g->heap_bytes ? (double)g->requested_bytes / (double)g->heap_bytes : 0;
    if (n == 1) *g = f0->fragmentation;

    merge_latency(out, &r->alloc_latency, in, n, true);
    merge_latency(out, &r->free_latency, in, n, false);
    if (n == 1) { /* the file's own figures, unchanged */
        r->alloc_latency = f0->alloc_latency;
        r->free_latency = f0->free_latency;
        r->alloc_rate = f0->alloc_rate;
        r->free_rate = f0->free_rate;
        r->bytes_rate = f0->bytes_rate;
        r->cross_thread_free_pct = f0->cross_thread_free_pct;
    }

    alloy_profile_size_bucket *sb = own(out, nsb, sizeof *sb);
    alloy_profile_size_count *tops = own(out, ntop, sizeof *tops);
    alloy_profile_thread *th = own(out, nth, sizeof *th);
    uint64_t *mx = own(out, nth * nth, sizeof *mx);
    alloy_profile_leak_site *ls = own(out, nsites, sizeof *ls);
    if (!sb || !tops || !th || !mx || !ls) return false;
    size_t ks = 0, kt = 0, kh = 0, kl = 0;
    for (size_t i = 0; i < n; i++) {
        const alloy_profile_report *x = &in[i].r;
        memcpy(sb + ks, x->size_buckets, x->nsize_buckets * sizeof *sb);
        ks += x->nsize_buckets;
        memcpy(tops + kt, x->top_sizes, x->ntop_sizes * sizeof *tops);
        kt += x->ntop_sizes;
        for (size_t t = 0; t < x->nthreads; t++) {
            th[kh + t] = x->threads[t];
            th[kh + t].index = (uint32_t)(kh + t);
            for (size_t a = 0; a < x->nthreads; a++)
                mx[(kh + t) * nth + kh + a] = x->cross_matrix[t * x->nthreads + a];
        }
        kh += x->nthreads;
        memcpy(ls + kl, x->leak_sites, x->nleak_sites * sizeof *ls);
        kl += x->nleak_sites;
    }
    qsort(sb, ks, sizeof *sb, cmp_size_bucket);
    size_t m = 0;
    for (size_t i = 0; i < ks; i++) {
        if (m > 0 && sb[m - 1].lo == sb[i].lo) {
            sb[m - 1].count += sb[i].count;
            sb[m - 1].bytes += sb[i].bytes;
        } else
            sb[m++] = sb[i];
    }
    r->size_buckets = sb;
    r->nsize_buckets = m;
    m = 0;
    for (size_t i = 0; i < kt; i++) {
        size_t j = 0;
        while (j < m && tops[j].size != tops[i].size) j++;
        if (j < m)
            tops[j].count += tops[i].count;
        else
            tops[m++] = tops[i];
    }
    qsort(tops, m, sizeof *tops, cmp_top);
    r->top_sizes = tops;
    r->ntop_sizes = m < f0->ntop_sizes || n == 1 ? m : f0->ntop_sizes;
    r->threads = th;
    r->nthreads = kh;
    r->cross_matrix = mx;
    qsort(ls, kl, sizeof *ls, cmp_site);
    r->leak_sites = ls;
    r->nleak_sites = kl > 100 ? 100 : kl;
    r->timeline = longest->timeline;
    r->ntimeline = longest->ntimeline;
    r->timeline_ms = longest->timeline_ms;
    return true;
}

/* ---- text -------------------------------------------------------------------------------- */

const char *cli_bytes(char *buf, size_t n, double b) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    unsigned u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", b, units[u]);
    return buf;
}

const char *cli_count(char *buf, size_t n, uint64_t v) {
    char tmp[32];
    int l = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < l && o + 2 < n; i++) {
        buf[o++] = tmp[i];
        if ((l - i - 1) % 3 == 0 && i + 1 < l) buf[o++] = ',';
    }
    buf[o] = '\0';
    return buf;
}

const char *cli_ns(char *buf, size_t n, double ns) {
    if (ns < 1000)
        snprintf(buf, n, "%.0f ns", ns);
    else if (ns < 1e6)
        snprintf(buf, n, "%.1f us", ns / 1e3);
    else
        snprintf(buf, n, "%.1f ms", ns / 1e6);
    return buf;
}

/* A frame for people: "function (file:line)" or the module, or the pc. Bytes that would steer
 * a terminal are shown as '?'. */
static void frame_text(char *buf, size_t n, const alloy_profile_frame *f) {
    if (f->function && f->file)
        snprintf(buf, n, "%s (%s:%d)", f->function, f->file, f->line);
    else if (f->function)
        snprintf(buf, n, "%s", f->function);
    else if (f->module)
        snprintf(buf, n, "0x%llx in %s", (unsigned long long)f->pc, f->module);
    else
        snprintf(buf, n, "0x%llx", (unsigned long long)f->pc);
    for (char *c = buf; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
}

void cli_profile_summary(FILE *f, const cli_profile *m, const cli_profile *procs, size_t np) {
    const alloy_profile_report *r = &m->r;
    char a[48], b[48], c[48], d[48];
    fprintf(f, "  %-13s %s allocations (%s requested), %s frees, %s reallocs\n", "totals",
            cli_count(a, sizeof a, r->alloc_count), cli_bytes(b, sizeof b, (double)r->alloc_bytes),
            cli_count(c, sizeof c, r->free_count), cli_count(d, sizeof d, r->realloc_count));
    fprintf(f, "  %-13s %s live at peak%s; %s in %s blocks at the end\n", "peak",
            cli_bytes(a, sizeof a, (double)r->peak_bytes),
            m->nprocs > 1 ? " (sum of the processes' peaks)" : "",
            cli_bytes(b, sizeof b, (double)r->current_bytes),
            cli_count(c, sizeof c, r->current_count));
    fprintf(f, "  %-13s", "top sizes");
    for (size_t i = 0; i < r->ntop_sizes && i < 5; i++)
        fprintf(f, "%s%llu B x %s", i ? ", " : " ", (unsigned long long)r->top_sizes[i].size,
                cli_count(a, sizeof a, r->top_sizes[i].count));
    fputs(r->ntop_sizes ? "\n" : " (none)\n", f);
    fprintf(
        f, "  %-13s alloc P50 %s, P99 %s, P99.9 %s; free P50 %s, P99 %s, P99.9 %s\n", "latency",
        cli_ns(a, sizeof a, r->alloc_latency.p50_ns), cli_ns(b, sizeof b, r->alloc_latency.p99_ns),
        cli_ns(c, sizeof c, r->alloc_latency.p999_ns), cli_ns(d, sizeof d, r->free_latency.p50_ns),
        cli_ns(a, sizeof a, r->free_latency.p99_ns), cli_ns(b, sizeof b, r->free_latency.p999_ns));
    fprintf(f, "  %-13s %.2f%% of frees (%s) in %zu threads\n", "cross-thread",
            r->cross_thread_free_pct, cli_count(a, sizeof a, r->cross_thread_free_count),
            r->nthreads);
    fprintf(f, "  %-13s %s blocks, %s never freed%s\n", "leaks",
            cli_count(a, sizeof a, r->leaked_count),
            cli_bytes(b, sizeof b, (double)r->leaked_bytes),
            r->leaks_estimated ? " (estimated)" : "");
    for (size_t i = 0; i < r->nleak_sites && i < 5; i++) {
        const alloy_profile_leak_site *s = &r->leak_sites[i];
        char fr[256] = "(no stack)";
        /* The innermost frame outside the allocator's own code. */
        for (size_t k = 0; k < s->nframes; k++) {
            frame_text(fr, sizeof fr, &s->frames[k]);
            if (s->frames[k].function == NULL || (strncmp(s->frames[k].function, "alloy", 5) != 0 &&
                                                  strcmp(s->frames[k].function, "malloc") != 0 &&
                                                  strcmp(s->frames[k].function, "calloc") != 0 &&
                                                  strcmp(s->frames[k].function, "realloc") != 0))
                break;
        }
        fprintf(f, "  %-13s %s in %s blocks at %s\n", "", cli_bytes(a, sizeof a, (double)s->bytes),
                cli_count(b, sizeof b, s->count), fr);
    }
    if (r->inherited.count != 0)
        fprintf(f,
                "  %-13s %s blocks live at fork, counted in their parent; children freed %s of "
                "them and left %s\n",
                "inherited", cli_count(a, sizeof a, r->inherited.count),
                cli_count(b, sizeof b, r->inherited.freed_count),
                cli_count(c, sizeof c, r->inherited.leaked_count));
    if (np > 1 || (np == 1 && procs[0].path != NULL)) {
        fprintf(f, "  %-13s", "processes");
        for (size_t i = 0; i < np; i++)
            fprintf(f, "%s%llu%s", i ? ", " : " ", (unsigned long long)procs[i].r.pid,
                    procs[i].inherited ? " (forked)" : "");
        fputc('\n', f);
    }
}
