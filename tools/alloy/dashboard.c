/* SPDX-License-Identifier: MIT */
/* dashboard.c - the HTML report: one file with inline CSS, SVG drawn here and, when the build
 * embedded it, uPlot for the time charts (its data as escaped JSON, names set as text). A CSP
 * of default-src 'none' keeps it offline; every profile string goes through escape(). */
#include "dashboard.h"

#include <math.h>
#include <string.h>

/* Built from tools/alloy/dashboard (embed.cmake): "" when the build had no npm. */
extern const char cli_asset_uplot_js[], cli_asset_uplot_css[], cli_asset_dashboard_js[];

/* ---- escaping ---------------------------------------------------------------------------- */

/* Copy s to f with every byte markup or JSON could read as syntax escaped, and control bytes
 * and invalid UTF-8 shown as U+FFFD. html: for HTML content and attribute values (& < > " '
 * as entities). json: a JSON string body safe inside <script type=application/json> (" and \
 * escaped, < > & as \u escapes, so no "</script" can appear). */
static void escape(FILE *f, const char *s, bool json) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        unsigned c = *p;
        size_t len = c < 0x80                ? 1
                     : c >= 0xF0 && c < 0xF5 ? 4
                     : c >= 0xE0 && c < 0xF0 ? 3
                     : c >= 0xC2 && c < 0xE0 ? 2
                                             : 0;
        size_t k = 1;
        while (k < len && (p[k] & 0xC0) == 0x80) k++;
        if (len == 0 || k < len || c < 0x20 || c == 0x7f) {
            fputs(json ? "\\ufffd" : "&#xFFFD;", f);
            p++;
            continue;
        }
        if (len > 1) {
            fwrite(p, 1, len, f);
            p += len;
            continue;
        }
        p++;
        if (json && (c == '"' || c == '\\'))
            fprintf(f, "\\%c", (int)c);
        else if (json && (c == '<' || c == '>' || c == '&'))
            fprintf(f, "\\u%04x", c);
        else if (!json && c == '&')
            fputs("&amp;", f);
        else if (!json && c == '<')
            fputs("&lt;", f);
        else if (!json && c == '>')
            fputs("&gt;", f);
        else if (!json && (c == '"' || c == '\''))
            fprintf(f, "&#%u;", c);
        else
            fputc((int)c, f);
    }
}

static void esc(FILE *f, const char *s) {
    escape(f, s, false);
}

void cli_json_string(FILE *f, const char *s) {
    fputc('"', f);
    escape(f, s, true);
    fputc('"', f);
}

void cli_html_text(FILE *f, const char *s) {
    esc(f, s);
}

static void frame_html(FILE *f, const alloy_profile_frame *fr) {
    fprintf(f, "<code>0x%llx</code> ", (unsigned long long)fr->pc);
    if (fr->function) esc(f, fr->function);
    if (fr->file) {
        fputs(" <span class=m>", f);
        esc(f, fr->file);
        fprintf(f, ":%d</span>", fr->line);
    } else if (fr->module) {
        fputs(" <span class=m>", f);
        esc(f, fr->module);
        fputs("</span>", f);
    }
}

/* ---- rules ------------------------------------------------------------------------------- */

static void add(cli_advice *out, size_t max, size_t *n, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#include <stdarg.h>
static void add(cli_advice *out, size_t max, size_t *n, const char *rule, const char *fmt, ...) {
    if (*n >= max) return;
    out[*n].rule = rule;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out[*n].text, sizeof out[*n].text, fmt, ap);
    va_end(ap);
    (*n)++;
}

size_t cli_dashboard_advice(const alloy_profile_report *r, cli_advice *out, size_t max) {
    size_t n = 0;
    double allocs = (double)r->alloc_count;
    /* Many blocks of one size, nearly all freed: a pool serves them without the general heap. */
    if (r->ntop_sizes > 0 && r->alloc_count >= 10000) {
        double share = (double)r->top_sizes[0].count / allocs;
        if (share >= 0.30 && r->free_count >= r->alloc_count * 9 / 10)
            add(out, max, &n, "pool",
                "%.0f%% of allocations are %llu bytes and %.0f%% of all blocks are freed: an "
                "alloy pool (alloy_pool_init with blocks of %llu bytes) serves them in a few "
                "instructions and keeps them together.",
                share * 100, (unsigned long long)r->top_sizes[0].size,
                100.0 * (double)r->free_count / allocs, (unsigned long long)r->top_sizes[0].size);
    }
    /* Live bytes that climb and then fall back by half or more, several times: phases or
     * requests whose blocks die together, the shape an arena per phase serves best. */
    unsigned drops = 0;
    uint64_t hi = 0;
    for (size_t i = 0; i < r->ntimeline; i++) {
        uint64_t v = r->timeline[i].live_bytes;
        if (v > hi) hi = v;
        if (hi >= 65536 && v * 2 <= hi) {
            drops++;
            hi = v;
        }
    }
    if (drops >= 3)
        add(out, max, &n, "arena",
            "live memory fell back by half or more %u times after a rise (bursts freed together): "
            "an arena per phase or per request (alloy_arena_init, alloy_arena_reset) frees each "
            "burst in one step.",
            drops);
    if (r->free_count >= 1000 && r->cross_thread_free_pct >= 10.0)
        add(out, max, &n, "cross-thread",
            "%.1f%% of frees (%llu) happen on another thread than the allocation: use the shared "
            "pool for hand-offs, or compare backends (alloy bench; mimalloc and tcmalloc free "
            "remotely without a lock).",
            r->cross_thread_free_pct, (unsigned long long)r->cross_thread_free_count);
    const alloy_profile_fragmentation *g = &r->fragmentation;
    if (g->usable_bytes >= 65536 && g->internal >= 0.25)
        add(out, max, &n, "internal-fragmentation",
            "%.0f%% of the live usable bytes are padding (internal fragmentation): sizes just "
            "above a size-class boundary round up; allocate to the class size (the top size is "
            "%llu bytes) or pool such blocks.",
            g->internal * 100, r->ntop_sizes ? (unsigned long long)r->top_sizes[0].size : 0ull);
    const alloy_profile_latency *l = &r->alloc_latency;
    if (l->count >= 1000 && l->p999_ns >= 2000 && l->p999_ns >= 50 * l->p50_ns)
        add(out, max, &n, "latency-tail",
            "allocation P99.9 is %.1f us against a P50 of %.0f ns: the tail comes from large "
            "blocks (mmap'd) or from the backend returning memory; reuse large buffers, or tune "
            "alloy_collect and the backend's purge settings.",
            l->p999_ns / 1000, l->p50_ns);
    if (r->alloc_count >= 1000 && r->leaked_bytes >= 1 << 20 &&
        (double)r->leaked_bytes >= 0.5 * (double)r->peak_bytes)
        add(out, max, &n, "leak",
            "%llu bytes in %llu blocks are still live at the end, %.0f%% of the peak: memory "
            "grows without frees; see the leak table for the suspects (ALLOY_DEBUG=1 or "
            "alloy run --debug gives full stacks).",
            (unsigned long long)r->leaked_bytes, (unsigned long long)r->leaked_count,
            r->peak_bytes ? 100.0 * (double)r->leaked_bytes / (double)r->peak_bytes : 100.0);
    return n;
}

/* ---- charts ------------------------------------------------------------------------------ */

#define W 640
#define H 180

static void timeline_svg(FILE *f, const alloy_profile_report *r) {
    if (r->ntimeline < 2) {
        fputs("<p class=m>No timeline (a run shorter than one period).</p>", f);
        return;
    }
    double tmax = r->timeline[r->ntimeline - 1].t;
    uint64_t ymax = 1;
    size_t peak = 0;
    for (size_t i = 0; i < r->ntimeline; i++) {
        if (r->timeline[i].rss_bytes > ymax) ymax = r->timeline[i].rss_bytes;
        if (r->timeline[i].live_bytes > ymax) ymax = r->timeline[i].live_bytes;
        if (r->timeline[i].live_bytes > r->timeline[peak].live_bytes) peak = i;
    }
    if (tmax <= 0) tmax = 1;
    fprintf(f, "<svg class=chart id=timeline viewBox='0 0 %d %d' role=img>", W, H + 20);
    for (int series = 0; series < 2; series++) {
        fprintf(f, "<polyline fill=none stroke='%s' stroke-width=1.5 points='",
                series ? "#d62728" : "#1f77b4");
        /* At most ~2 points per pixel column: the file stays small for any run length. */
        size_t step = r->ntimeline / (2 * W) + 1;
        for (size_t i = 0; i < r->ntimeline; i += step) {
            uint64_t v = series ? r->timeline[i].rss_bytes : r->timeline[i].live_bytes;
            fprintf(f, "%.1f,%.1f ", r->timeline[i].t / tmax * W, H - (double)v / (double)ymax * H);
        }
        fputs("'/>", f);
    }
    char b[48];
    double px = r->timeline[peak].t / tmax * W,
           py = H - (double)r->timeline[peak].live_bytes / (double)ymax * H;
    fprintf(f, "<circle cx=%.1f cy=%.1f r=4 fill='#ff7f0e'/><text x=%.1f y=%.1f>peak %s</text>", px,
            py, px + 6 > W - 120 ? W - 120 : px + 6, py < 14 ? 14 : py,
            cli_bytes(b, sizeof b, (double)r->timeline[peak].live_bytes));
    fprintf(f, "<text x=0 y=%d>0 s</text><text x=%d y=%d text-anchor=end>%.2f s</text>", H + 16, W,
            H + 16, tmax);
    fprintf(f, "<text x=4 y=12>%s</text></svg>", cli_bytes(b, sizeof b, (double)ymax));
    fputs("<p><span style='color:#1f77b4'>&#9632; live bytes</span> "
          "<span style='color:#d62728'>&#9632; RSS</span></p>",
          f);
}

static void size_heat(FILE *f, const alloy_profile_report *r) {
    uint64_t max = 1;
    for (size_t i = 0; i < r->nsize_buckets; i++)
        if (r->size_buckets[i].count > max) max = r->size_buckets[i].count;
    fputs("<svg class=chart id=sizes viewBox='0 0 640 ", f);
    fprintf(f, "%zu' role=img>", r->nsize_buckets * 14 + 4);
    for (size_t i = 0; i < r->nsize_buckets; i++) {
        const alloy_profile_size_bucket *s = &r->size_buckets[i];
        double x = log1p((double)s->count) / log1p((double)max);
        fprintf(f,
                "<text x=0 y=%zu>%llu-%llu</text><rect x=130 y=%zu width=%.1f height=12 "
                "fill='hsl(%.0f,80%%,50%%)'/><text x=%.1f y=%zu>%llu</text>",
                i * 14 + 12, (unsigned long long)s->lo, (unsigned long long)s->hi, i * 14 + 2,
                x * 420 + 1, 240 - x * 240, x * 420 + 136, i * 14 + 12,
                (unsigned long long)s->count);
    }
    fputs("</svg>", f);
}

static void latency_svg(FILE *f, const alloy_profile_latency *l, const char *id) {
    char a[32], b[32], c[32], d[32];
    fprintf(f, "<p>%llu timed: P50 %s, P95 %s, <b>P99 %s</b>, <b>P99.9 %s</b></p>",
            (unsigned long long)l->count, cli_ns(a, sizeof a, l->p50_ns),
            cli_ns(b, sizeof b, l->p95_ns), cli_ns(c, sizeof c, l->p99_ns),
            cli_ns(d, sizeof d, l->p999_ns));
    if (l->nbuckets == 0) return;
    uint64_t max = 1;
    for (size_t i = 0; i < l->nbuckets; i++)
        if (l->buckets[i].count > max) max = l->buckets[i].count;
    double lo = log10(l->buckets[0].le_ns > 1 ? l->buckets[0].le_ns : 1) - 0.05,
           hi = log10(l->buckets[l->nbuckets - 1].le_ns) + 0.05;
    fprintf(f, "<svg class=chart id='%s' viewBox='0 0 %d %d' role=img>", id, W, H + 20);
    for (size_t i = 0; i < l->nbuckets; i++) {
        double x = (log10(l->buckets[i].le_ns) - lo) / (hi - lo) * W;
        double h = log1p((double)l->buckets[i].count) / log1p((double)max) * H;
        fprintf(f, "<rect x=%.1f y=%.1f width=3 height=%.1f fill='#2ca02c'/>", x - 3, H - h, h);
    }
    const double qs[4] = {l->p50_ns, l->p95_ns, l->p99_ns, l->p999_ns};
    const char *names[4] = {"P50", "P95", "P99", "P99.9"};
    for (int i = 0; i < 4; i++) {
        if (qs[i] <= 0) continue;
        double x = (log10(qs[i]) - lo) / (hi - lo) * W;
        fprintf(f,
                "<line x1=%.1f x2=%.1f y1=0 y2=%d stroke='#d62728' stroke-dasharray=3/>"
                "<text x=%.1f y=%d>%s</text>",
                x, x, H, x + 2, 12 + 12 * i, names[i]);
    }
    fprintf(f, "<text x=0 y=%d>%s</text><text x=%d y=%d text-anchor=end>%s</text></svg>", H + 16,
            cli_ns(a, sizeof a, pow(10, lo)), W, H + 16, cli_ns(b, sizeof b, pow(10, hi)));
}

static void threads_html(FILE *f, const alloy_profile_report *r) {
    uint64_t max = 1;
    for (size_t i = 0; i < r->nthreads; i++)
        if (r->threads[i].alloc_count > max) max = r->threads[i].alloc_count;
    fputs("<table id=threads><tr><th>#</th><th>tid</th><th>name</th><th>allocations</th>"
          "<th></th><th>frees</th><th>sent</th><th>received</th></tr>",
          f);
    for (size_t i = 0; i < r->nthreads && i < 256; i++) {
        const alloy_profile_thread *t = &r->threads[i];
        fprintf(f, "<tr><td>%u</td><td>%llu</td><td>", t->index, (unsigned long long)t->tid);
        esc(f, t->name);
        fprintf(f,
                "</td><td>%llu</td><td><svg width=200 height=10><rect width=%.1f height=10 "
                "fill='#1f77b4'/></svg></td><td>%llu</td><td>%llu</td><td>%llu</td></tr>",
                (unsigned long long)t->alloc_count, 200.0 * (double)t->alloc_count / (double)max,
                (unsigned long long)t->free_count, (unsigned long long)t->cross_thread_frees_sent,
                (unsigned long long)t->cross_thread_frees_received);
    }
    fputs("</table>", f);
}

static void matrix_html(FILE *f, const alloy_profile_report *r) {
    size_t n = r->nthreads < 32 ? r->nthreads : 32;
    uint64_t max = 1;
    for (size_t i = 0; i < n * n; i++) {
        uint64_t v = r->cross_matrix[(i / n) * r->nthreads + i % n];
        if (v > max) max = v;
    }
    fputs("<table id=matrix class=mx><tr><th>freed by \\ allocated by</th>", f);
    for (size_t a = 0; a < n; a++) fprintf(f, "<th>%zu</th>", a);
    fputs("</tr>", f);
    for (size_t fr = 0; fr < n; fr++) {
        fprintf(f, "<tr><th>%zu</th>", fr);
        for (size_t a = 0; a < n; a++) {
            uint64_t v = r->cross_matrix[fr * r->nthreads + a];
            fprintf(f, "<td style='background:rgba(214,39,40,%.2f)'>%llu</td>",
                    v ? 0.1 + 0.9 * (double)v / (double)max : 0.0, (unsigned long long)v);
        }
        fputs("</tr>", f);
    }
    fputs("</table>", f);
}

static void gauge(FILE *f, const char *name, double v) {
    if (v < 0) v = 0;
    if (v > 1) v = 1;
    fprintf(f,
            "<div class=g><span>%s</span><svg width=300 height=14><rect width=300 height=14 "
            "fill='#eee'/><rect width=%.1f height=14 fill='#9467bd'/></svg> %.1f%%</div>",
            name, v * 300, v * 100);
}

/* ---- series ------------------------------------------------------------------------------ */

static unsigned size_row(uint64_t size) {
    unsigned r = 0;
    while (size != 0 && r < CLI_SERIES_ROWS - 1) {
        size >>= 1;
        r++;
    }
    return r;
}

void cli_series_add(cli_series *s, const cli_profile *procs, size_t n) {
    if (n == 0) return;
    if (s->every == 0) s->every = 1;
    if (s->skip++ % s->every != 0) return;
    if (s->nt == CLI_SERIES_T) { /* full: keep every other column, take half as many from now */
        for (size_t i = 0; i < CLI_SERIES_T / 2; i++) {
            s->t[i] = s->t[2 * i + 1];
            memcpy(s->sizes[i], s->sizes[2 * i + 1], sizeof s->sizes[i]);
            for (size_t k = 0; k <= CLI_SERIES_THREADS; k++) {
                s->th[k].allocs[i] = s->th[k].allocs[2 * i + 1];
                s->th[k].frees[i] = s->th[k].frees[2 * i + 1];
            }
        }
        s->nt = CLI_SERIES_T / 2;
        s->every *= 2;
    }
    size_t c = s->nt++;
    double end = 0;
    if (s->t0 == 0) {
        s->t0 = procs[0].r.start_time;
        for (size_t i = 0; i < n; i++)
            if (procs[i].r.start_time < s->t0) s->t0 = procs[i].r.start_time;
    }
    memset(s->sizes[c], 0, sizeof s->sizes[c]);
    for (size_t k = 0; k <= CLI_SERIES_THREADS; k++) s->th[k].allocs[c] = s->th[k].frees[c] = 0;
    for (size_t i = 0; i < n; i++) {
        const alloy_profile_report *r = &procs[i].r;
        if (r->end_time > end) end = r->end_time;
        for (size_t b = 0; b < r->nsize_buckets; b++)
            s->sizes[c][size_row(r->size_buckets[b].lo)] += r->size_buckets[b].count;
        for (size_t t = 0; t < r->nthreads; t++) {
            const alloy_profile_thread *x = &r->threads[t];
            size_t k = 0;
            while (k < s->nthreads && (s->th[k].pid != r->pid || s->th[k].tid != x->tid)) k++;
            if (k == s->nthreads && k < CLI_SERIES_THREADS) {
                s->th[k].pid = r->pid;
                s->th[k].tid = x->tid;
                s->nthreads++;
            }
            if (k == s->nthreads) k = CLI_SERIES_THREADS; /* others */
            memcpy(s->th[k].name, x->name, sizeof s->th[k].name);
            s->th[k].allocs[c] += x->alloc_count;
            s->th[k].frees[c] += x->free_count;
        }
    }
    s->t[c] = end - s->t0;
}

/* Size rows x time: allocations in each interval, log colour scale. */
static void heatmap_svg(FILE *f, const cli_series *s) {
    unsigned lo = CLI_SERIES_ROWS, hi = 0;
    uint64_t max = 1;
    for (size_t c = 1; c < s->nt; c++)
        for (unsigned r = 0; r < CLI_SERIES_ROWS; r++) {
            uint64_t d =
                s->sizes[c][r] -
                (s->sizes[c][r] < s->sizes[c - 1][r] ? s->sizes[c][r] : s->sizes[c - 1][r]);
            if (d == 0) continue;
            if (r < lo) lo = r;
            if (r > hi) hi = r;
            if (d > max) max = d;
        }
    if (lo > hi) {
        fputs("<p class=m>No allocation between two reads of the profile.</p>", f);
        return;
    }
    unsigned rows = hi - lo + 1;
    double cw = (double)(W - 80) / (double)(s->nt - 1), rh = 12;
    fprintf(f, "<svg class=chart id=heatmap viewBox='0 0 %d %.0f' role=img>", W, rows * rh + 18);
    for (unsigned r = lo; r <= hi; r++) {
        double y = (hi - r) * rh;
        fprintf(f, "<text x=0 y=%.0f>%s%llu B</text>", y + 10, r ? "&lt;" : "",
                r ? 1ull << r : 0ull);
        for (size_t c = 1; c < s->nt; c++) {
            uint64_t d = s->sizes[c][r] >= s->sizes[c - 1][r] ? s->sizes[c][r] - s->sizes[c - 1][r]
                                                              : s->sizes[c][r];
            if (d == 0) continue;
            double v = log1p((double)d) / log1p((double)max);
            fprintf(f, "<rect x=%.1f y=%.0f width=%.1f height=%.0f fill='hsl(%.0f,85%%,%.0f%%)'/>",
                    80 + (c - 1) * cw, y, cw + 0.3, rh - 1, 240 - v * 240, 75 - v * 30);
        }
    }
    fprintf(f, "<text x=80 y=%.0f>%.2f s</text><text x=%d y=%.0f text-anchor=end>%.2f s</text>",
            rows * rh + 14, s->t[0], W, rows * rh + 14, s->t[s->nt - 1]);
    fputs("</svg>", f);
}

/* Allocations per second of each thread over time. */
static void activity_svg(FILE *f, const cli_series *s) {
    static const char *const colours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                          "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
    double tmax = s->t[s->nt - 1] > s->t[0] ? s->t[s->nt - 1] : s->t[0] + 1, ymax = 1;
    size_t nth = s->nthreads + 1;
    for (size_t k = 0; k < nth; k++) {
        size_t kk = k == s->nthreads ? CLI_SERIES_THREADS : k;
        for (size_t c = 1; c < s->nt; c++) {
            double dt = s->t[c] - s->t[c - 1];
            uint64_t a = s->th[kk].allocs[c], b = s->th[kk].allocs[c - 1];
            double rate = dt > 0 && a > b ? (double)(a - b) / dt : 0;
            if (rate > ymax) ymax = rate;
        }
    }
    fprintf(f, "<svg class=chart id=activity viewBox='0 0 %d %d' role=img>", W, H + 20);
    for (size_t k = 0; k < nth; k++) {
        size_t kk = k == s->nthreads ? CLI_SERIES_THREADS : k;
        if (kk == CLI_SERIES_THREADS && s->th[kk].allocs[s->nt - 1] == 0) continue;
        fprintf(f, "<polyline fill=none stroke='%s' stroke-width=1.2 points='", colours[k % 8]);
        for (size_t c = 1; c < s->nt; c++) {
            double dt = s->t[c] - s->t[c - 1];
            uint64_t a = s->th[kk].allocs[c], b = s->th[kk].allocs[c - 1];
            double rate = dt > 0 && a > b ? (double)(a - b) / dt : 0;
            fprintf(f, "%.1f,%.1f ", (s->t[c] - s->t[0]) / (tmax - s->t[0]) * W,
                    H - rate / ymax * H);
        }
        fputs("'/>", f);
    }
    fprintf(f, "<text x=4 y=12>%.0f allocations/s</text></svg><p>", ymax);
    for (size_t k = 0; k < nth; k++) {
        size_t kk = k == s->nthreads ? CLI_SERIES_THREADS : k;
        if (kk == CLI_SERIES_THREADS && s->th[kk].allocs[s->nt - 1] == 0) continue;
        fprintf(f, "<span style='color:%s'>&#9632; ", colours[k % 8]);
        if (kk == CLI_SERIES_THREADS)
            fputs("other threads", f);
        else {
            fprintf(f, "%llu/%llu ", (unsigned long long)s->th[kk].pid,
                    (unsigned long long)s->th[kk].tid);
            esc(f, s->th[kk].name);
        }
        fputs("</span> ", f);
    }
    fputs("</p>", f);
}

/* The data of the uPlot charts, as JSON: the timeline (at most ~1300 points, each bin keeping
 * its highest live figure so the peak survives) and the per-thread allocation rates. */
static void chart_data(FILE *f, const alloy_profile_report *r, const cli_series *s) {
    fputs("<script type=\"application/json\" id=\"alloy-data\">{\"timeline\":{", f);
    size_t step = r->ntimeline / 1300 + 1;
    for (int k = 0; k < 3; k++) {
        fprintf(f, "%s\"%s\":[", k ? "]," : "", k == 0 ? "t" : k == 1 ? "live" : "rss");
        for (size_t i = 0; i < r->ntimeline; i += step) {
            size_t best = i;
            for (size_t j = i; j < i + step && j < r->ntimeline; j++)
                if (r->timeline[j].live_bytes > r->timeline[best].live_bytes) best = j;
            const alloy_profile_sample *x = &r->timeline[best];
            if (k == 0)
                fprintf(f, "%s%.4f", i ? "," : "", x->t);
            else
                fprintf(f, "%s%llu", i ? "," : "",
                        (unsigned long long)(k == 1 ? x->live_bytes : x->rss_bytes));
        }
    }
    fputs("]}", f);
    if (s != NULL && s->nt >= 2) {
        fputs(",\"activity\":{\"t\":[", f);
        for (size_t c = 1; c < s->nt; c++) fprintf(f, "%s%.3f", c > 1 ? "," : "", s->t[c]);
        fputs("],\"threads\":[", f);
        bool first = true;
        for (size_t k = 0; k <= s->nthreads; k++) {
            size_t kk = k == s->nthreads ? CLI_SERIES_THREADS : k;
            if (kk == CLI_SERIES_THREADS && s->th[kk].allocs[s->nt - 1] == 0) continue;
            char label[96];
            if (kk == CLI_SERIES_THREADS)
                snprintf(label, sizeof label, "other threads");
            else
                snprintf(label, sizeof label, "%llu/%llu %s", (unsigned long long)s->th[kk].pid,
                         (unsigned long long)s->th[kk].tid, s->th[kk].name);
            fputs(first ? "{\"name\":" : ",{\"name\":", f);
            first = false;
            cli_json_string(f, label);
            fputs(",\"rate\":[", f);
            for (size_t c = 1; c < s->nt; c++) {
                double dt = s->t[c] - s->t[c - 1];
                uint64_t a = s->th[kk].allocs[c], b = s->th[kk].allocs[c - 1];
                fprintf(f, "%s%.0f", c > 1 ? "," : "", dt > 0 && a > b ? (double)(a - b) / dt : 0);
            }
            fputs("]}", f);
        }
        fputs("]}", f);
    }
    fputs("}</script>", f);
}

static const char css[] =
    "body{font:14px system-ui,sans-serif;margin:0;background:#f6f7f9;color:#222}"
    "header{background:#223;color:#fff;padding:12px 20px}header h1{margin:0;font-size:20px}"
    "main{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:14px;"
    "padding:14px}section{background:#fff;border-radius:6px;padding:10px 14px;"
    "box-shadow:0 1px 3px #0002;overflow:auto}h2{font-size:16px;margin:4px 0 8px}"
    ".chart{width:100%;height:auto}svg text{font-size:11px}.m{color:#777}"
    "table{border-collapse:collapse;font-size:12px}td,th{padding:2px 6px;border-bottom:1px "
    "solid #eee;text-align:left}.mx td{text-align:right}.g span{display:inline-block;width:110px}"
    ".kv td:first-child{color:#555}.rule{border-left:4px solid #ff7f0e;padding:4px 8px;margin:6px "
    "0}";

bool cli_html_charts(void) {
    return cli_asset_uplot_js[0] != '\0';
}

void cli_html_begin(FILE *f, const char *title, const char *extra_css) {
    bool js = cli_html_charts();
    fputs("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
          "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; img-src data:",
          f);
    fputs(js ? "; script-src 'unsafe-inline'\">" : "\">", f);
    fputs("<title>", f);
    esc(f, title);
    fputs("</title><style>", f);
    fputs(css, f);
    if (extra_css != NULL) fputs(extra_css, f);
    if (js) fputs(cli_asset_uplot_css, f);
    fputs("</style></head><body><header><h1>", f);
    esc(f, title);
    fputs("</h1>", f);
}

void cli_html_end(FILE *f) {
    if (cli_html_charts()) {
        fputs("<script>", f);
        fputs(cli_asset_uplot_js, f);
        fputs("</script><script>", f);
        fputs(cli_asset_dashboard_js, f);
        fputs("</script>", f);
    }
    fputs("</body></html>\n", f);
}

bool cli_dashboard_write(FILE *f, const cli_profile *m, const cli_profile *procs, size_t n,
                         const cli_series *series) {
    const alloy_profile_report *r = &m->r;
    char a[48], b[48];
    bool js = cli_html_charts();
    cli_html_begin(f, "alloy profile", NULL);
    fputs("<div>", f);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%spid %llu", i ? " · " : "", (unsigned long long)procs[i].r.pid);
        if (procs[i].path) {
            fputs(" (", f);
            esc(f, procs[i].path);
            fputs(")", f);
        }
        if (procs[i].inherited) fputs(" forked", f);
    }
    fputs(" · backend ", f);
    esc(f, r->backend);
    fputs(" · ", f);
    esc(f, r->mode);
    fprintf(f, " mode · %.3f s</div>", r->duration_s);
    for (size_t i = 0; i < n; i++)
        if (procs[i].inherited) {
            fputs("<div>Note: a forked child's figures include its parent's up to the fork, so "
                  "the merged totals count those twice.</div>",
                  f);
            break;
        }
    fputs("</header><main>", f);

    fputs("<section id=p-summary><h2>Summary</h2><table class=kv>", f);
    fprintf(f, "<tr><td>allocations</td><td>%s (%s requested)</td></tr>",
            cli_count(a, sizeof a, r->alloc_count), cli_bytes(b, sizeof b, (double)r->alloc_bytes));
    fprintf(f, "<tr><td>frees</td><td>%s</td></tr>", cli_count(a, sizeof a, r->free_count));
    fprintf(f, "<tr><td>peak</td><td>%s%s</td></tr>", cli_bytes(a, sizeof a, (double)r->peak_bytes),
            n > 1 ? " (sum of the processes' peaks)" : "");
    fprintf(f, "<tr><td>live at the end</td><td>%s in %s blocks</td></tr>",
            cli_bytes(a, sizeof a, (double)r->current_bytes),
            cli_count(b, sizeof b, r->current_count));
    fprintf(f, "<tr><td>rate</td><td>%.0f allocations/s</td></tr>", r->alloc_rate);
    fputs("<tr><td>top sizes</td><td>", f);
    for (size_t i = 0; i < r->ntop_sizes && i < 8; i++)
        fprintf(f, "%s%llu B &times; %s", i ? ", " : "", (unsigned long long)r->top_sizes[i].size,
                cli_count(a, sizeof a, r->top_sizes[i].count));
    fputs("</td></tr></table></section>", f);

    fputs("<section id=p-timeline><h2>1. Memory timeline</h2>", f);
    if (js && r->ntimeline >= 2) fputs("<div id=u-timeline></div><noscript>", f);
    timeline_svg(f, r);
    if (js && r->ntimeline >= 2) fputs("</noscript>", f);
    fputs("</section><section id=p-sizes><h2>2. Allocation sizes</h2>", f);
    if (series != NULL && series->nt >= 2) {
        fputs("<p class=m>Allocations per size and time (log colour scale), then per bucket "
              "over the whole run.</p>",
              f);
        heatmap_svg(f, series);
    } else
        fputs("<p class=m>Count per requested-size bucket over the whole run (log colour scale; "
              "alloy profile also shows them over time).</p>",
              f);
    size_heat(f, r);
    fputs("</section><section id=p-latency><h2>3. Latency</h2><h3>alloc</h3>", f);
    latency_svg(f, &r->alloc_latency, "lat-alloc");
    fputs("<h3>free</h3>", f);
    latency_svg(f, &r->free_latency, "lat-free");
    fputs("</section><section id=p-threads><h2>4. Thread activity</h2>", f);
    if (series != NULL && series->nt >= 2) {
        if (js) fputs("<div id=u-activity></div><noscript>", f);
        activity_svg(f, series);
        if (js) fputs("</noscript>", f);
    }
    threads_html(f, r);
    fprintf(f,
            "</section><section id=p-cross><h2>5. Cross-thread frees</h2><p>%.2f%% of frees "
            "(%s)</p>",
            r->cross_thread_free_pct, cli_count(a, sizeof a, r->cross_thread_free_count));
    matrix_html(f, r);
    fputs("</section><section id=p-frag><h2>6. Fragmentation</h2>", f);
    gauge(f, "internal", r->fragmentation.internal);
    gauge(f, "external", r->fragmentation.external);
    gauge(f, "utilization", r->fragmentation.utilization);
    fprintf(f, "<p class=m>heap %s (", cli_bytes(a, sizeof a, (double)r->fragmentation.heap_bytes));
    esc(f, r->fragmentation.heap_source);
    fprintf(f, "), RSS %s</p></section>",
            cli_bytes(b, sizeof b, (double)r->fragmentation.rss_bytes));

    fprintf(f, "<section id=p-leaks><h2>7. Leaks</h2><p>%s blocks, %s live at the end%s</p>",
            cli_count(a, sizeof a, r->leaked_count),
            cli_bytes(b, sizeof b, (double)r->leaked_bytes),
            r->leaks_estimated ? " (estimated)" : "");
    fputs("<table id=leaks><tr><th>bytes</th><th>blocks</th><th>stack (innermost first)</th></tr>",
          f);
    for (size_t i = 0; i < r->nleak_sites && i < 50; i++) {
        const alloy_profile_leak_site *s = &r->leak_sites[i];
        fprintf(f, "<tr><td>%llu</td><td>%llu</td><td>", (unsigned long long)s->bytes,
                (unsigned long long)s->count);
        for (size_t k = 0; k < s->nframes; k++) {
            if (k) fputs("<br>", f);
            frame_html(f, &s->frames[k]);
        }
        fputs("</td></tr>", f);
    }
    fputs("</table></section><section id=p-advice><h2>8. Recommendations</h2>", f);
    cli_advice adv[8];
    size_t na = cli_dashboard_advice(r, adv, 8);
    for (size_t i = 0; i < na; i++) {
        fprintf(f, "<div class=rule data-rule='%s'>", adv[i].rule);
        esc(f, adv[i].text);
        fputs("</div>", f);
    }
    if (na == 0) fputs("<p class=m>No rule fired: nothing stands out.</p>", f);
    fputs("</section></main>", f);
    if (js) chart_data(f, r, series);
    cli_html_end(f);
    return !ferror(f);
}
