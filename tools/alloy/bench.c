/* SPDX-License-Identifier: MIT */
/* bench.c - alloy bench: backends against each other on built-in workloads or on the user's
 * command, interleaved runs, medians with intervals, the A/A noise, table / JSON / HTML.
 *
 * Every run is a child process, so that each backend starts from a clean heap: a workload run
 * re-executes this binary with the hidden option --child (one binary to install and to find,
 * and the child's liballoy is the very one the parent links); a command run is the user's
 * command under the override library. Before any run, each backend spec is probed (this
 * binary again, --probe, under the same environment) for the backend, version and library
 * file the child really gets, so a NAME:PATH spec that fell back is caught, not measured.
 */
#define _GNU_SOURCE
#include "commands.h"
#include "dashboard.h"
#include "json.h"
#include "progress.h"
#include "runner.h"
#include "stats.h"
#include "workloads.h"

#include <alloy.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ALPHA 0.05      /* a difference needs p below this (Mann-Whitney, two-sided) */
#define CONFIDENCE 0.95 /* of every interval reported */
#define MAX_SPECS 16
#define MAX_THREADS 256
#define MAX_MI_OPTIONS 32

static const char help[] =
    "usage: alloy bench [--backend SPEC]... [--workload NAME]... [--threads LIST] [--runs N]\n"
    "                   [--scale F] [--mi-option NAME=VALUE]... [--json FILE] [--html FILE]\n"
    "                   [--timeout S] [--force]\n"
    "       alloy bench [--backend SPEC]... [--runs N] [options] -- CMD [ARGS...]\n"
    "\n"
    "Compare allocator backends: on alloy's built-in workloads, or on your own command run\n"
    "through the override library. Runs are interleaved (A B C A' A B C A' ...), the first\n"
    "backend is the baseline, and the baseline is also run against itself (A/A): a difference\n"
    "is reported only when Mann-Whitney's p < 0.05 and it is larger than the A/A noise.\n"
    "\n"
    "  --backend SPEC        NAME (one of: %s) or NAME:PATH, that\n"
    "                        backend's library loaded from PATH (e.g. a newer mimalloc);\n"
    "                        repeatable, the first is the baseline (default: every backend)\n"
    "  --workload NAME       repeatable (default: all; see below)\n"
    "  --threads LIST        thread counts, e.g. 1,2,4 (default: 1 and the number of CPUs)\n"
    "  --runs N              runs per backend (default 5 for workloads, 10 for a command)\n"
    "  --scale F             work per workload run, 1 = the default size (0 < F <= 100)\n"
    "  --timeout S           a run taking longer than S seconds is killed and reported\n"
    "  --mi-option NAME=VAL  a mimalloc option for the mimalloc backends: the child gets\n"
    "                        MIMALLOC_NAME=VAL (e.g. --mi-option arena_eager_commit=1)\n"
    "  --json FILE           every run and every figure as JSON\n"
    "  --html FILE           a page with the table and charts\n"
    "  -f, --force           replace FILE if it exists\n"
    "  -h, --help            show this help\n"
    "\n"
    "Workloads (time of the work itself, measured by the child):\n"
    "%s"
    "\n"
    "With -- CMD: CMD runs under each backend (its output discarded; a failed run's last stderr\n"
    "line is shown); the figures are wall time, user+system CPU time and peak RSS of the\n"
    "process tree. A run that fails is reported and left out of the medians.\n"
    "A progress line is shown on stderr when it is a terminal.\n"
    "\n"
    "Exit status: 0 every run succeeded; 1 a run failed or a backend did not load; 2 usage\n"
    "error; 128+N when signal N (SIGINT, SIGQUIT, SIGTERM, SIGHUP) ended a run: stopped.\n";

/* ---- the child sides ---------------------------------------------------------------------- */

typedef struct lib_query {
    const char *want_real; /* realpath of a NAME:PATH library, or NULL */
    const char *prefix;    /* "libmimalloc" ...: what a plain name's library file starts with */
    char found[PATH_MAX];
} lib_query;

static int find_lib(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    lib_query *q = arg;
    const char *name = info->dlpi_name;
    if (name == NULL || *name == '\0') return 0;
    if (q->want_real != NULL) {
        char real[PATH_MAX];
        if (realpath(name, real) != NULL && strcmp(real, q->want_real) == 0) {
            snprintf(q->found, sizeof q->found, "%s", name);
            return 1;
        }
        return 0;
    }
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    size_t l = strlen(q->prefix);
    if (strncmp(base, q->prefix, l) == 0 && (base[l] == '.' || base[l] == '_')) {
        snprintf(q->found, sizeof q->found, "%s", name);
        return 1;
    }
    return 0;
}

/* The library file that serves this process's backend, as loaded ("" when not found). */
static void backend_library(char *out, size_t n) {
    const char *spec = getenv("ALLOY_BACKEND");
    const char *name = alloy_backend_name();
    lib_query q = {0};
    char want[PATH_MAX], prefix[64];
    const char *path = spec != NULL ? cli_spec_path(spec) : NULL;
    if (path != NULL && realpath(path, want) != NULL) q.want_real = want;
    snprintf(prefix, sizeof prefix, "lib%s", strcmp(name, "libc") == 0 ? "c" : name);
    q.prefix = prefix;
    dl_iterate_phdr(find_lib, &q);
    snprintf(out, n, "%s", q.found);
}

/* What the child reports first: what serves it. */
static void print_backend(void) {
    char lib[PATH_MAX];
    const char *name = alloy_backend_name(), *version = alloy_backend_version();
    backend_library(lib, sizeof lib);
    fputs("{\"name\":", stdout);
    cli_json_string(stdout, name);
    fputs(",\"version\":", stdout);
    cli_json_string(stdout, version);
    fputs(",\"library\":", stdout);
    cli_json_string(stdout, lib);
}

static int child_probe(void) {
    /* The first allocation makes liballoy settle its backend. */
    void *p = alloy_malloc(1);
    alloy_free(p);
    print_backend();
    fputs("}\n", stdout);
    return 0;
}

static int child_workload(int argc, char **argv) {
    if (argc != 5) return cli_usage_error("bench", "--child takes WORKLOAD THREADS SCALE");
    const wl_workload *w = wl_find(argv[2]);
    unsigned threads = (unsigned)strtoul(argv[3], NULL, 10);
    double scale = strtod(argv[4], NULL);
    if (w == NULL || threads == 0 || !(scale > 0))
        return cli_usage_error("bench", "--child: bad arguments");
    const char *corrupt = getenv("ALLOY_BENCH_SELFTEST_CORRUPT");
    wl_selftest_corrupt = corrupt != NULL && strcmp(corrupt, "1") == 0;
    wl_result r = {0};
    char err[256] = "";
    if (!w->run(threads, scale, &r, err, sizeof err)) {
        cli_error("bench", "workload %s failed its check: %s", w->name, err);
        return 1;
    }
    print_backend();
    printf(",\"ops\":%llu,\"seconds\":%.9f,\"threads\":%u,\"rss_peak_kb\":%ld,"
           "\"rss_end_kb\":%ld,\"live_bytes\":%llu}\n",
           (unsigned long long)r.ops, r.seconds, r.threads, r.rss_peak_kb, r.rss_end_kb,
           (unsigned long long)r.live_bytes);
    return 0;
}

/* ---- options ------------------------------------------------------------------------------ */

typedef struct backend {
    const char *spec;
    char name[64], version[64], library[PATH_MAX];
    const char *env[MAX_MI_OPTIONS + 1];
    bool dropped; /* a default backend that does not load here */
} backend;

typedef struct opts {
    backend be[MAX_SPECS];
    size_t nbe;
    const wl_workload *wl[16];
    size_t nwl;
    unsigned threads[16];
    size_t nthreads;
    unsigned runs;
    unsigned timeout; /* seconds a run may take; 0: no limit */
    double scale;
    char *mi_env[MAX_MI_OPTIONS];
    size_t nmi;
    const char *json, *html;
    bool force;
    bool all_backends; /* no --backend: the probe drops those that do not load */
    char **cmd;        /* NULL: workloads */
} opts;

/* An option's value: "--name=value" or the next argument. NULL when missing. */
static const char *value(int argc, char **argv, int *i, const char *name) {
    size_t l = strlen(name);
    if (argv[*i][l] == '=') return argv[*i] + l + 1;
    if (*i + 1 < argc) return argv[++*i];
    return NULL;
}

static bool is_opt(const char *a, const char *name) {
    size_t l = strlen(name);
    return strncmp(a, name, l) == 0 && (a[l] == '\0' || a[l] == '=');
}

/* A whole number in 1..max for option name into *out; 0, or a usage error's 2. */
static int count_opt(int argc, char **argv, int *i, const char *name, unsigned long max,
                     unsigned *out) {
    const char *v = value(argc, argv, i, name);
    if (v == NULL) return cli_usage_error("bench", "%s needs a number", name);
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (!isdigit((unsigned char)*v) || *end != '\0' || n < 1 || n > max)
        return cli_usage_error("bench", "%s takes a number from 1 to %lu: '%s'", name, max, v);
    *out = (unsigned)n;
    return 0;
}

static int parse_threads(opts *o, const char *s) {
    o->nthreads = 0;
    for (const char *p = s; *p;) {
        char *end;
        if (!isdigit((unsigned char)*p))
            return cli_usage_error("bench", "--threads takes numbers separated by commas: '%s'", s);
        unsigned long v = strtoul(p, &end, 10);
        if (v == 0 || v > MAX_THREADS)
            return cli_usage_error("bench", "thread count %lu is out of 1..%d", v, MAX_THREADS);
        if (o->nthreads == sizeof o->threads / sizeof o->threads[0])
            return cli_usage_error("bench", "at most 16 thread counts");
        o->threads[o->nthreads++] = (unsigned)v;
        if (*end == ',' && end[1] != '\0')
            end++;
        else if (*end != '\0')
            return cli_usage_error("bench", "--threads takes numbers separated by commas: '%s'", s);
        p = end;
    }
    return 0;
}

/* spec with a relative library path made absolute (liballoy takes absolute paths only), in
 * storage that lives as long as the process; spec itself when there is nothing to do or the
 * file does not exist (cli_spec_check says why). NULL when out of memory. */
static const char *absolute_spec(const char *spec) {
    const char *path = cli_spec_path(spec);
    char real[PATH_MAX];
    if (path == NULL || *path == '/' || *path == '\0' || realpath(path, real) == NULL) return spec;
    size_t l = (size_t)(path - spec) + strlen(real) + 1;
    char *s = malloc(l);
    if (s != NULL) snprintf(s, l, "%.*s%s", (int)(path - spec), spec, real);
    return s; /* kept for the whole run, like argv */
}

static int parse(opts *o, int argc, char **argv, bool *done) {
    *done = false;
    bool workload_opts = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strcmp(a, "--") == 0) {
            if (i + 1 >= argc) return cli_usage_error("bench", "no command after --");
            o->cmd = argv + i + 1;
            break;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            char list[2048];
            size_t n = 0;
            for (size_t k = 0; k < wl_nworkloads; k++)
                n += (size_t)snprintf(list + n, sizeof list - n, "  %-14s %s\n",
                                      wl_workloads[k].name, wl_workloads[k].summary);
            printf(help, cli_backend_names(), list);
            *done = true;
            return 0;
        }
        if (strcmp(a, "-f") == 0 || strcmp(a, "--force") == 0) {
            o->force = true;
        } else if (is_opt(a, "--backend")) {
            if ((v = value(argc, argv, &i, "--backend")) == NULL)
                return cli_usage_error("bench", "--backend needs a SPEC");
            char err[PATH_MAX + 200];
            if ((v = absolute_spec(v)) == NULL) return cli_usage_error("bench", "out of memory");
            if (!cli_spec_check(v, err, sizeof err)) return cli_usage_error("bench", "%s", err);
            if (o->nbe == MAX_SPECS) return cli_usage_error("bench", "at most 16 backends");
            o->be[o->nbe++].spec = v;
        } else if (is_opt(a, "--workload")) {
            if ((v = value(argc, argv, &i, "--workload")) == NULL)
                return cli_usage_error("bench", "--workload needs a NAME");
            const wl_workload *w = wl_find(v);
            if (w == NULL) {
                char list[256];
                size_t n = 0;
                for (size_t k = 0; k < wl_nworkloads; k++)
                    n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", k ? " " : "",
                                          wl_workloads[k].name);
                return cli_usage_error("bench", "unknown workload '%s' (there are: %s)", v, list);
            }
            if (o->nwl == sizeof o->wl / sizeof o->wl[0])
                return cli_usage_error("bench", "too many --workload options");
            o->wl[o->nwl++] = w;
            workload_opts = true;
        } else if (is_opt(a, "--threads")) {
            if ((v = value(argc, argv, &i, "--threads")) == NULL)
                return cli_usage_error("bench", "--threads needs a LIST");
            int rc = parse_threads(o, v);
            if (rc) return rc;
            workload_opts = true;
        } else if (is_opt(a, "--runs")) {
            int rc = count_opt(argc, argv, &i, "--runs", 1000, &o->runs);
            if (rc) return rc;
        } else if (is_opt(a, "--timeout")) {
            int rc = count_opt(argc, argv, &i, "--timeout", 86400, &o->timeout);
            if (rc) return rc;
        } else if (is_opt(a, "--scale")) {
            if ((v = value(argc, argv, &i, "--scale")) == NULL)
                return cli_usage_error("bench", "--scale needs a number");
            char *end;
            o->scale = strtod(v, &end);
            if (end == v || *end != '\0' || !(o->scale > 0 && o->scale <= 100))
                return cli_usage_error("bench", "--scale takes a number in (0, 100]: '%s'", v);
            workload_opts = true;
        } else if (is_opt(a, "--mi-option")) {
            if ((v = value(argc, argv, &i, "--mi-option")) == NULL)
                return cli_usage_error("bench", "--mi-option needs NAME=VALUE");
            const char *eq = strchr(v, '=');
            size_t nl = eq ? (size_t)(eq - v) : 0;
            bool ok = nl > 0 && nl < 64;
            for (size_t k = 0; ok && k < nl; k++) ok = isalnum((unsigned char)v[k]) || v[k] == '_';
            if (!ok)
                return cli_usage_error("bench",
                                       "--mi-option takes NAME=VALUE (NAME: letters, "
                                       "digits, '_'): '%s'",
                                       v);
            if (o->nmi == MAX_MI_OPTIONS) return cli_usage_error("bench", "too many --mi-option");
            /* mimalloc reads MIMALLOC_<NAME> with the name in any case; upper case is its
             * documented spelling. */
            char *s = malloc(strlen(v) + 10);
            if (s == NULL) return cli_usage_error("bench", "out of memory");
            size_t k = (size_t)sprintf(s, "MIMALLOC_");
            for (size_t j = 0; j < nl; j++) s[k++] = (char)toupper((unsigned char)v[j]);
            strcpy(s + k, eq);
            o->mi_env[o->nmi++] = s;
        } else if (is_opt(a, "--json")) {
            if ((o->json = value(argc, argv, &i, "--json")) == NULL || *o->json == '\0')
                return cli_usage_error("bench", "--json needs a FILE");
        } else if (is_opt(a, "--html")) {
            if ((o->html = value(argc, argv, &i, "--html")) == NULL || *o->html == '\0')
                return cli_usage_error("bench", "--html needs a FILE");
        } else if (a[0] == '-') {
            return cli_usage_error("bench", "unknown option '%s'", a);
        } else {
            return cli_usage_error("bench", "unexpected argument '%s' (a command goes after --)",
                                   a);
        }
    }
    if (o->cmd != NULL && workload_opts)
        return cli_usage_error("bench", "--workload, --threads and --scale are for the built-in "
                                        "workloads, not for a command");
    if (o->json != NULL && o->html != NULL && cli_same_output(o->json, o->html))
        return cli_usage_error("bench", "--json and --html name the same file");
    if (o->runs == 0) o->runs = o->cmd ? 10 : 5;
    if (o->scale == 0) o->scale = 1;
    if (o->nwl == 0)
        for (size_t k = 0; k < wl_nworkloads; k++) o->wl[o->nwl++] = &wl_workloads[k];
    if (o->nthreads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        o->threads[o->nthreads++] = 1;
        if (cpus > 1) o->threads[o->nthreads++] = cpus > MAX_THREADS ? MAX_THREADS : (unsigned)cpus;
    }
    if (o->nbe == 0) {
        /* Every backend of the build; the probe leaves out those that cannot load here (in
         * the child's environment: jemalloc needs the static TLS room cli_env_alloy gives). */
        static char names[256];
        snprintf(names, sizeof names, "%s", cli_backend_names());
        for (char *save = NULL, *t = strtok_r(names, " ", &save); t && o->nbe < MAX_SPECS;
             t = strtok_r(NULL, " ", &save))
            o->be[o->nbe++].spec = t;
        o->all_backends = true;
    }
    for (size_t b = 0; b < o->nbe; b++) {
        char name[64];
        cli_spec_name(o->be[b].spec, name, sizeof name);
        size_t k = 0;
        if (strcmp(name, "mimalloc") == 0)
            for (size_t m = 0; m < o->nmi; m++) o->be[b].env[k++] = o->mi_env[m];
        o->be[b].env[k] = NULL;
    }
    return 0;
}

/* ---- measuring ---------------------------------------------------------------------------- */

/* Roles of an arm: the baseline, a backend compared with it, the baseline again (A/A). */
enum { ROLE_BASE, ROLE_CAND, ROLE_AA };

/* One backend's runs in one cell, and what they say. */
typedef struct arm {
    size_t be; /* index in opts.be */
    int role;
    cli_run_result *res; /* runs of them, res[round] */
    double *metric;      /* seconds per run (the workload's own time, or wall); NAN: failed */
    double *ops, *rss_end_kb, *live_bytes;
    size_t ok;
    char failure[400]; /* the first failure, described */
    double med, lo, hi, cpu, rss_kb, end_kb, live, ops_per_s;
    double ratio, rlo, rhi, p, noise;
    const char *verdict; /* "baseline", "faster", "slower", "no difference", "too few runs",
                          * "failed" */
} arm;

/* A workload at a thread count, or the command. */
typedef struct cell {
    const wl_workload *wl; /* NULL: the command */
    unsigned threads;
    arm *arms;
    size_t narms;
} cell;

typedef struct bench {
    opts *o;
    char self[PATH_MAX];
    cell *cells;
    size_t ncells;
    cli_progress pr;
    size_t done, total; /* runs */
    const cell *now;
    const cli_run_result *res; /* the runs of the cell being measured, and their arms */
    size_t narms;
    int stop_sig; /* a run was ended by this signal from the user: stop */
} bench;

static bool on_run(void *arg, unsigned round, unsigned rounds, size_t spec) {
    bench *b = arg;
    size_t i = (size_t)round * b->narms + spec;
    if (i > 0 && cli_run_stopped(b->res[i - 1].signal)) {
        b->stop_sig = b->res[i - 1].signal;
        return false;
    }
    const cell *c = b->now;
    const arm *a = &c->arms[spec];
    char what[96];
    if (c->wl != NULL)
        snprintf(what, sizeof what, "%s, %u thread%s", c->wl->name, c->threads,
                 c->threads == 1 ? "" : "s");
    else
        snprintf(what, sizeof what, "the command");
    double el = cli_progress_elapsed(&b->pr);
    cli_progress_update(&b->pr, false, "alloy bench: %s: run %u/%u under %s%s [%zu/%zu, %.0f s]",
                        what, round + 1, rounds, b->o->be[a->be].spec,
                        a->role == ROLE_AA ? " (A/A)" : "", b->done + 1, b->total, el);
    b->done++;
    return true;
}

/* The probe: what each spec really loads. False (and a message) when one did not load. */
static bool probe(bench *b) {
    bool ok = true;
    for (size_t i = 0; i < b->o->nbe; i++) {
        backend *be = &b->o->be[i];
        cli_run_spec s = {be->spec, be->env};
        cli_probe pr;
        cli_progress_update(&b->pr, true, "alloy bench: loading %s", be->spec);
        if (!cli_probe_spec("bench", b->self, &s, &pr)) {
            cli_progress_done(&b->pr);
            cli_error("bench", "cannot run the probe for %s: %s", be->spec, strerror(errno));
            return false;
        }
        if (pr.state == CLI_PROBE_NO_ANSWER || pr.state == CLI_PROBE_CRASHED) {
            cli_progress_done(&b->pr);
            cli_error("bench", "backend %s: the probe %s%s%s", be->spec, pr.how,
                      pr.err_line[0] ? ": " : "", pr.err_line);
            ok = false;
            continue;
        }
        snprintf(be->name, sizeof be->name, "%s", pr.name);
        snprintf(be->version, sizeof be->version, "%s", pr.version);
        snprintf(be->library, sizeof be->library, "%s", pr.library);
        if (pr.state == CLI_PROBE_OTHER) {
            cli_progress_done(&b->pr);
            if (b->o->all_backends) {
                cli_error("bench", "%s left out: it does not load here%s%s%s", be->spec,
                          pr.err_line[0] ? " (" : "", pr.err_line, pr.err_line[0] ? ")" : "");
                be->dropped = true;
            } else {
                cli_error("bench", "backend %s did not load: the child ran %s %s%s%s%s%s", be->spec,
                          be->name, be->version, be->library[0] ? " from " : "", be->library,
                          pr.err_line[0] ? "; it said: " : "", pr.err_line);
                ok = false;
            }
        }
    }
    /* Close the gaps of the dropped ones; their env arrays move with them. */
    size_t k = 0;
    for (size_t i = 0; i < b->o->nbe; i++)
        if (!b->o->be[i].dropped) b->o->be[k++] = b->o->be[i];
    b->o->nbe = k;
    if (ok && k == 0) {
        cli_error("bench", "no backend of this build loads here");
        ok = false;
    }
    return ok;
}

static bool summarize(bench *b, cell *c);

static bool measure(bench *b, cell *c) {
    opts *o = b->o;
    size_t n = c->narms;
    unsigned rounds = o->runs;
    cli_run_spec specs[MAX_SPECS + 1];
    for (size_t k = 0; k < n; k++)
        specs[k] = (cli_run_spec){o->be[c->arms[k].be].spec, o->be[c->arms[k].be].env};
    cli_run_result *res = calloc((size_t)rounds * n, sizeof *res);
    if (res == NULL) return false;
    char th[16], sc[32];
    snprintf(th, sizeof th, "%u", c->threads);
    snprintf(sc, sizeof sc, "%.17g", o->scale);
    char *wargv[] = {b->self, "bench", "--child", c->wl ? (char *)c->wl->name : "", th, sc, NULL};
    char **argv = c->wl ? wargv : o->cmd;
    unsigned flags = CLI_RUN_QUIET | (c->wl ? CLI_RUN_CAPTURE : 0) | CLI_RUN_TIMEOUT(o->timeout);
    b->now = c;
    b->res = res;
    b->narms = n;
    bool ok = cli_run_interleaved("bench", argv, specs, n, rounds, flags, res, on_run, b);
    for (size_t i = 0; b->stop_sig == 0 && i < (size_t)rounds * n; i++)
        if (cli_run_stopped(res[i].signal)) b->stop_sig = res[i].signal;
    if (b->stop_sig != 0) {
        cli_progress_done(&b->pr);
        cli_error("bench", "interrupted (%s): no results", strsignal(b->stop_sig));
        ok = false;
    } else if (!ok) {
        cli_progress_done(&b->pr);
        cli_error("bench", "cannot run: %s", strerror(errno));
    }
    for (size_t k = 0; ok && k < n; k++) {
        arm *a = &c->arms[k];
        a->res = malloc(rounds * sizeof *a->res);
        a->metric = malloc(4 * rounds * sizeof *a->metric);
        if (a->res == NULL || a->metric == NULL) {
            cli_progress_done(&b->pr);
            cli_error("bench", "out of memory");
            ok = false;
            break;
        }
        a->ops = a->metric + rounds;
        a->rss_end_kb = a->ops + rounds;
        a->live_bytes = a->rss_end_kb + rounds;
        for (unsigned r = 0; r < rounds; r++) {
            cli_run_result *x = &res[(size_t)r * n + k];
            a->res[r] = *x;
            a->metric[r] = a->ops[r] = a->rss_end_kb[r] = a->live_bytes[r] = NAN;
            char how[128];
            bool good = cli_run_ok(x);
            if (good && c->wl != NULL) {
                js_doc d = {0};
                char err[160];
                good = x->out != NULL && js_parse(&d, x->out, strlen(x->out), err, sizeof err) &&
                       js_get(d.root, "seconds") != NULL;
                if (good) {
                    a->metric[r] = js_num(d.root, "seconds");
                    a->ops[r] = js_num(d.root, "ops");
                    a->rss_end_kb[r] = js_num(d.root, "rss_end_kb");
                    a->live_bytes[r] = js_num(d.root, "live_bytes");
                } else if (a->failure[0] == '\0')
                    snprintf(a->failure, sizeof a->failure, "run %u: no result line", r + 1);
                js_free(&d);
            } else if (good) {
                a->metric[r] = x->wall_s;
            } else if (a->failure[0] == '\0') {
                snprintf(a->failure, sizeof a->failure, "run %u: %s%s%s", r + 1,
                         cli_run_describe(x, how, sizeof how), x->err_line[0] ? ": " : "",
                         x->err_line);
            }
            if (good) a->ok++;
            cli_run_result_free(x); /* its output is read; a->res[r] keeps the figures */
            a->res[r].out = NULL;
        }
    }
    /* The outputs of runs not taken into an arm (stopped, or out of memory part-way). */
    for (size_t i = 0; i < (size_t)rounds * n; i++) cli_run_result_free(&res[i]);
    free(res);
    if (ok && !summarize(b, c)) {
        cli_progress_done(&b->pr);
        cli_error("bench", "out of memory");
        ok = false;
    }
    return ok;
}

/* The finite values of v[0..n) into out; returns how many. */
static size_t finite_of(const double *v, size_t n, double *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) out[k++] = v[i];
    return k;
}

/* Medians, intervals, ratios, p and the noise of c's arms; false when out of memory. */
static bool summarize(bench *b, cell *c) {
    unsigned rounds = b->o->runs;
    double *x = malloc(rounds * sizeof *x), *y = malloc(rounds * sizeof *y);
    if (x == NULL || y == NULL) {
        free(x);
        free(y);
        return false;
    }
    arm *base = NULL, *aa = NULL;
    for (size_t k = 0; k < c->narms; k++) {
        arm *a = &c->arms[k];
        if (a->role == ROLE_BASE) base = a;
        if (a->role == ROLE_AA) aa = a;
        size_t n = finite_of(a->metric, rounds, x);
        a->med = a->lo = a->hi = a->cpu = a->rss_kb = a->end_kb = a->live = a->ops_per_s = NAN;
        a->ratio = a->rlo = a->rhi = a->noise = NAN;
        a->p = NAN;
        if (n == 0) continue;
        a->med = cli_median(x, n);
        cli_bootstrap_median(x, n, CONFIDENCE, CLI_STATS_RESAMPLES, CLI_STATS_SEED, &a->lo, &a->hi);
        /* The other figures of the good runs only. */
        size_t m = 0;
        for (unsigned r = 0; r < rounds; r++)
            if (isfinite(a->metric[r])) y[m++] = a->res[r].user_s + a->res[r].sys_s;
        a->cpu = cli_median(y, m);
        m = 0;
        for (unsigned r = 0; r < rounds; r++)
            if (isfinite(a->metric[r])) y[m++] = (double)a->res[r].max_rss_kb;
        a->rss_kb = cli_median(y, m);
        if (c->wl != NULL) {
            m = 0;
            for (unsigned r = 0; r < rounds; r++)
                if (isfinite(a->metric[r]) && a->metric[r] > 0) y[m++] = a->ops[r] / a->metric[r];
            a->ops_per_s = cli_median(y, m);
            a->end_kb = cli_median(y, finite_of(a->rss_end_kb, rounds, y));
            a->live = cli_median(y, finite_of(a->live_bytes, rounds, y));
        }
    }
    /* The noise: how far the baseline is from itself. */
    double noise = NAN;
    size_t nb = base ? finite_of(base->metric, rounds, x) : 0;
    if (aa != NULL && nb > 0) {
        size_t na = finite_of(aa->metric, rounds, y);
        double lo, hi;
        if (na > 0 && cli_bootstrap_ratio(x, nb, y, na, CONFIDENCE, CLI_STATS_RESAMPLES,
                                          CLI_STATS_SEED, &lo, &hi)) {
            double r = cli_median(y, na) / cli_median(x, nb);
            noise = cli_aa_noise(r, lo, hi);
        }
    }
    for (size_t k = 0; k < c->narms; k++) {
        arm *a = &c->arms[k];
        a->noise = noise;
        size_t n = finite_of(a->metric, rounds, y);
        if (n < rounds) a->verdict = "failed";
        if (a->role == ROLE_BASE) {
            if (n == rounds) a->verdict = "baseline";
            a->ratio = 1;
            continue;
        }
        if (n == 0) {
            a->verdict = "failed";
            continue;
        }
        if (nb == 0) {
            if (n == rounds) a->verdict = "no baseline"; /* its runs are fine: nothing to compare */
            continue;
        }
        a->ratio = a->med / cli_median(x, nb);
        cli_bootstrap_ratio(x, nb, y, n, CONFIDENCE, CLI_STATS_RESAMPLES, CLI_STATS_SEED, &a->rlo,
                            &a->rhi);
        a->p = cli_mann_whitney(x, nb, y, n, NULL);
        if (n < rounds) continue;
        if (a->role == ROLE_AA)
            a->verdict = "A/A";
        else if (n < CLI_STATS_MIN_RUNS || nb < CLI_STATS_MIN_RUNS)
            a->verdict = "too few runs"; /* p could not get below ALPHA: no verdict */
        else if (a->p < ALPHA && isfinite(noise) && fabs(a->ratio - 1) > noise)
            a->verdict = a->ratio < 1 ? "faster" : "slower";
        else
            a->verdict = "no difference";
    }
    free(x);
    free(y);
    return true;
}

/* ---- the table ---------------------------------------------------------------------------- */

static const char *kib(char *buf, size_t n, double kb) {
    if (!isfinite(kb)) return "-";
    return cli_bytes(buf, n, kb * 1024);
}

/* The verdict as a reader gets it (of an arm whose runs all succeeded). */
static const char *verdict_text(const arm *a, char *buf, size_t n) {
    double pct = a->noise * 100;
    if (strcmp(a->verdict, "baseline") == 0)
        snprintf(buf, n, "baseline");
    else if (strcmp(a->verdict, "no baseline") == 0)
        snprintf(buf, n, "not compared: every baseline run failed");
    else if (strcmp(a->verdict, "A/A") == 0)
        snprintf(buf, n, "A/A: noise ±%.1f%%", pct);
    else if (strcmp(a->verdict, "no difference") == 0)
        snprintf(buf, n, "no difference beyond noise (±%.1f%%)", pct);
    else if (strcmp(a->verdict, "too few runs") == 0)
        snprintf(buf, n, "too few runs to compare (%d needed)", CLI_STATS_MIN_RUNS);
    else
        snprintf(buf, n, "%.1f%% %s (p=%.3f, noise ±%.1f%%)", fabs(a->ratio - 1) * 100, a->verdict,
                 a->p, pct);
    return buf;
}

/* One row of the table, as text: the terminal and the HTML page print the same. */
typedef struct row {
    char label[80], mops[24], time[32], ratio[64], rss[40], verdict[600];
    const char *sgr; /* the verdict's colour on a terminal */
} row;

static void make_row(const bench *b, const cell *c, const arm *a, row *w) {
    const opts *o = b->o;
    char t[32];
    snprintf(w->label, sizeof w->label, "%s%s", o->be[a->be].spec,
             a->role == ROLE_AA ? " (A/A)" : "");
    if (a->role == ROLE_BASE)
        snprintf(w->ratio, sizeof w->ratio, "1");
    else if (isfinite(a->ratio))
        snprintf(w->ratio, sizeof w->ratio, "%.3fx [%.3f, %.3f]", a->ratio, a->rlo, a->rhi);
    else
        snprintf(w->ratio, sizeof w->ratio, "-");
    if (c->wl != NULL && strcmp(c->wl->name, "spike") == 0 && isfinite(a->end_kb))
        snprintf(w->rss, sizeof w->rss, "%s left", kib(t, sizeof t, a->end_kb));
    else
        snprintf(w->rss, sizeof w->rss, "%s", kib(t, sizeof t, a->rss_kb));
    if (a->ok < o->runs)
        snprintf(w->verdict, sizeof w->verdict, "FAILED %zu/%u runs: %s", (size_t)o->runs - a->ok,
                 o->runs, a->failure);
    else
        verdict_text(a, w->verdict, sizeof w->verdict);
    w->sgr = strcmp(a->verdict, "failed") == 0   ? "\033[31m"
             : strcmp(a->verdict, "faster") == 0 ? "\033[32m"
             : strcmp(a->verdict, "slower") == 0 ? "\033[33m"
                                                 : NULL;
    if (isfinite(a->med))
        snprintf(w->time, sizeof w->time, "%.4f s", a->med);
    else
        snprintf(w->time, sizeof w->time, "-");
    if (c->wl == NULL)
        snprintf(w->mops, sizeof w->mops, isfinite(a->cpu) ? "%.4f s" : "-", a->cpu);
    else
        snprintf(w->mops, sizeof w->mops, isfinite(a->ops_per_s) ? "%.2f" : "-",
                 a->ops_per_s / 1e6);
}

static const char legend[] =
    "vs baseline: the ratio of median times (below 1 is faster) with its bootstrap interval. "
    "A difference is named only when Mann-Whitney's p < 0.05 and it exceeds the A/A noise: "
    "the farthest of the baseline-against-itself ratio and its interval from 1.";

static void print_table(const bench *b) {
    FILE *f = stdout;
    const opts *o = b->o;
    const char *bold = cli_sgr(f, "\033[1m"), *off = cli_sgr(f, "\033[0m");
    printf("%salloy bench%s: %u run%s per backend, interleaved, %ld CPUs; medians with %.0f%% "
           "intervals\n",
           bold, off, o->runs, o->runs == 1 ? "" : "s", sysconf(_SC_NPROCESSORS_ONLN),
           CONFIDENCE * 100);
    for (size_t i = 0; i < o->nbe; i++)
        printf("  %-12s %s %s%s%s%s\n", o->be[i].spec, o->be[i].name, o->be[i].version,
               o->be[i].library[0] ? "  " : "", o->be[i].library, i ? "" : "  (baseline)");
    for (size_t i = 0; i < o->nmi; i++) printf("  mimalloc option: %s\n", o->mi_env[i]);
    printf("\n");
    bool wl = b->cells[0].wl != NULL;
    if (wl)
        printf("%s%-14s %3s  %-16s %8s %10s  %-24s %12s  %s%s\n", bold, "workload", "thr",
               "backend", "Mops/s", "time", "vs baseline [95% CI]", "peak RSS", "verdict", off);
    else
        printf("%s%-22s %10s %10s  %-24s %12s  %s%s\n", bold, "backend", "wall", "cpu",
               "vs baseline [95% CI]", "peak RSS", "verdict", off);
    for (size_t ci = 0; ci < b->ncells; ci++) {
        const cell *c = &b->cells[ci];
        for (size_t k = 0; k < c->narms; k++) {
            row w;
            make_row(b, c, &c->arms[k], &w);
            const char *col = w.sgr ? cli_sgr(f, w.sgr) : "";
            if (wl)
                printf("%-14s %3u  %-16s %8s %10s  %-24s %12s  %s%s%s\n", k ? "" : c->wl->name,
                       c->threads, w.label, w.mops, w.time, w.ratio, w.rss, col, w.verdict,
                       *col ? off : "");
            else
                printf("%-22s %10s %10s  %-24s %12s  %s%s%s\n", w.label, w.time, w.mops, w.ratio,
                       w.rss, col, w.verdict, *col ? off : "");
        }
    }
    printf("\nvs baseline: the ratio of median times (below 1 is faster) and its bootstrap "
           "interval.\nA difference is named only when Mann-Whitney's p < %.2f and it exceeds "
           "the A/A noise:\nthe farthest from 1 of the baseline-against-itself ratio and its "
           "interval.\n",
           ALPHA);
}

/* ---- JSON --------------------------------------------------------------------------------- */

/* A number, or null when it is not finite (JSON has no NaN). */
static void jval(FILE *f, double v) {
    if (isfinite(v))
        fprintf(f, "%.9g", v);
    else
        fputs("null", f);
}

static void jnum(FILE *f, const char *key, double v, bool comma) {
    fprintf(f, "%s\"%s\":", comma ? "," : "", key);
    jval(f, v);
}

/* "key":[lo,hi] */
static void jpair(FILE *f, const char *key, double lo, double hi) {
    fprintf(f, ",\"%s\":[", key);
    jval(f, lo);
    fputc(',', f);
    jval(f, hi);
    fputc(']', f);
}

static const char *role_name(int role) {
    return role == ROLE_BASE ? "baseline" : role == ROLE_AA ? "aa" : "candidate";
}

static bool write_json(const bench *b, FILE *f) {
    const opts *o = b->o;
    fprintf(f, "{\"tool\":\"alloy bench\",\"version\":\"%s\",\"mode\":\"%s\"", alloy_version(),
            o->cmd ? "command" : "workloads");
    fprintf(f, ",\"cpus\":%ld,\"runs\":%u", sysconf(_SC_NPROCESSORS_ONLN), o->runs);
    jnum(f, "scale", o->cmd ? NAN : o->scale, true);
    fprintf(f, ",\"confidence\":%.2f,\"alpha\":%.2f,\"resamples\":%u,\"seed\":%llu", CONFIDENCE,
            ALPHA, CLI_STATS_RESAMPLES, (unsigned long long)CLI_STATS_SEED);
    fputs(",\"command\":", f);
    if (o->cmd) {
        fputc('[', f);
        for (char **a = o->cmd; *a; a++) {
            if (a != o->cmd) fputc(',', f);
            cli_json_string(f, *a);
        }
        fputc(']', f);
    } else
        fputs("null", f);
    fputs(",\"mi_options\":[", f);
    for (size_t i = 0; i < o->nmi; i++) {
        if (i) fputc(',', f);
        cli_json_string(f, o->mi_env[i]);
    }
    fputs("],\"backends\":[", f);
    for (size_t i = 0; i < o->nbe; i++) {
        fputs(i ? ",{\"spec\":" : "{\"spec\":", f);
        cli_json_string(f, o->be[i].spec);
        fputs(",\"name\":", f);
        cli_json_string(f, o->be[i].name);
        fputs(",\"version\":", f);
        cli_json_string(f, o->be[i].version);
        fputs(",\"library\":", f);
        cli_json_string(f, o->be[i].library);
        fputc('}', f);
    }
    fputs("],\"results\":[", f);
    bool first = true;
    for (size_t ci = 0; ci < b->ncells; ci++) {
        const cell *c = &b->cells[ci];
        for (size_t k = 0; k < c->narms; k++) {
            const arm *a = &c->arms[k];
            fputs(first ? "{\"workload\":" : ",{\"workload\":", f);
            first = false;
            if (c->wl)
                cli_json_string(f, c->wl->name);
            else
                fputs("null", f);
            jnum(f, "threads", c->wl ? c->threads : NAN, true);
            fputs(",\"backend\":", f);
            cli_json_string(f, o->be[a->be].spec);
            fprintf(f, ",\"role\":\"%s\",\"ok_runs\":%zu,\"failed_runs\":%zu", role_name(a->role),
                    a->ok, (size_t)o->runs - a->ok);
            fputs(",\"failure\":", f);
            if (a->failure[0])
                cli_json_string(f, a->failure);
            else
                fputs("null", f);
            fprintf(f, ",\"verdict\":\"%s\"", a->verdict);
            jnum(f, "median_s", a->med, true);
            jpair(f, "median_ci", a->lo, a->hi);
            jnum(f, "median_cpu_s", a->cpu, true);
            jnum(f, "median_max_rss_kb", a->rss_kb, true);
            jnum(f, "ops_per_s", a->ops_per_s, true);
            jnum(f, "median_rss_end_kb", a->end_kb, true);
            jnum(f, "median_live_bytes", a->live, true);
            jnum(f, "ratio", a->ratio, true);
            jpair(f, "ratio_ci", a->rlo, a->rhi);
            jnum(f, "p", a->p, true);
            jnum(f, "noise", a->noise, true);
            fputs(",\"runs\":[", f);
            for (unsigned r = 0; r < o->runs; r++) {
                const cli_run_result *x = &a->res[r];
                fputs(r ? ",{" : "{", f);
                fprintf(f, "\"ok\":%s", isfinite(a->metric[r]) ? "true" : "false");
                jnum(f, "seconds", a->metric[r], true);
                jnum(f, "wall_s", x->wall_s, true);
                jnum(f, "user_s", x->user_s, true);
                jnum(f, "sys_s", x->sys_s, true);
                fprintf(f,
                        ",\"max_rss_kb\":%ld,\"exit_code\":%d,\"signal\":%d,\"status\":%d,"
                        "\"timed_out\":%s",
                        x->max_rss_kb, x->exit_code, x->signal, x->status,
                        x->timed_out ? "true" : "false");
                if (c->wl) {
                    jnum(f, "ops", a->ops[r], true);
                    jnum(f, "rss_end_kb", a->rss_end_kb[r], true);
                    jnum(f, "live_bytes", a->live_bytes[r], true);
                }
                fputs(",\"stderr_last\":", f);
                cli_json_string(f, x->err_line);
                fputc('}', f);
            }
            fputs("]}", f);
        }
    }
    fputs("]}\n", f);
    return !ferror(f);
}

/* ---- HTML --------------------------------------------------------------------------------- */

static const char html_css[] = ".bad{color:#c00}.good{color:#080}.warn{color:#a60}"
                               "td.n{text-align:right;white-space:nowrap}";

static void html_rows(FILE *f, const bench *b, const cell *c) {
    for (size_t k = 0; k < c->narms; k++) {
        row w;
        make_row(b, c, &c->arms[k], &w);
        const char *cls = w.sgr == NULL                    ? ""
                          : strcmp(w.sgr, "\033[31m") == 0 ? " class=bad"
                          : strcmp(w.sgr, "\033[32m") == 0 ? " class=good"
                                                           : " class=warn";
        fputs("<tr>", f);
        if (c->wl != NULL) fprintf(f, "<td class=n>%u</td>", c->threads);
        fputs("<td>", f);
        cli_html_text(f, w.label);
        fprintf(f, "</td><td class=n>%s</td><td class=n>%s</td><td class=n>%s</td>", w.mops, w.time,
                w.ratio);
        fprintf(f, "<td class=n>%s</td><td%s>", w.rss, cls);
        cli_html_text(f, w.verdict);
        fputs("</td></tr>", f);
    }
}

/* One generic chart of dashboard.js: x values, then a series per arm (A/A left out). */
static void chart_json(FILE *f, const bench *b, const char *id, const char *x_label,
                       const char *y_label, bool bytes, const cell *cells, size_t ncells,
                       bool per_run) {
    const opts *o = b->o;
    fprintf(f, "{\"id\":\"%s\",\"x_label\":\"%s\",\"y_label\":\"%s\",\"bytes\":%s,\"x\":[", id,
            x_label, y_label, bytes ? "true" : "false");
    size_t nx = per_run ? o->runs : ncells;
    for (size_t i = 0; i < nx; i++)
        fprintf(f, "%s%u", i ? "," : "", per_run ? (unsigned)i + 1 : cells[i].threads);
    fputs("],\"series\":[", f);
    for (size_t k = 0; k < cells[0].narms; k++) {
        const arm *a0 = &cells[0].arms[k];
        if (!per_run && a0->role == ROLE_AA) continue;
        char label[80];
        snprintf(label, sizeof label, "%s%s", o->be[a0->be].spec,
                 a0->role == ROLE_AA ? " (A/A)" : "");
        fputs(k ? ",{\"label\":" : "{\"label\":", f);
        cli_json_string(f, label);
        fputs(",\"values\":[", f);
        for (size_t i = 0; i < nx; i++) {
            const arm *a = per_run ? a0 : &cells[i].arms[k];
            double v = per_run ? a->metric[i] : bytes ? a->end_kb * 1024 : a->ops_per_s / 1e6;
            if (i) fputc(',', f);
            jval(f, v);
        }
        fputs("]}", f);
    }
    fputs("]}", f);
}

static bool write_html(const bench *b, FILE *f) {
    const opts *o = b->o;
    cli_html_begin(f, "alloy bench", html_css);
    fprintf(f,
            "<div>%u run%s per backend, interleaved · %ld CPUs · medians with %.0f%% "
            "intervals</div>",
            o->runs, o->runs == 1 ? "" : "s", sysconf(_SC_NPROCESSORS_ONLN), CONFIDENCE * 100);
    for (size_t i = 0; i < o->nbe; i++) {
        fputs("<div>", f);
        cli_html_text(f, o->be[i].spec);
        fputs(": ", f);
        cli_html_text(f, o->be[i].name);
        fputs(" ", f);
        cli_html_text(f, o->be[i].version);
        if (o->be[i].library[0]) {
            fputs(" <span class=m>", f);
            cli_html_text(f, o->be[i].library);
            fputs("</span>", f);
        }
        fputs(i ? "</div>" : " (baseline)</div>", f);
    }
    for (size_t i = 0; i < o->nmi; i++) {
        fputs("<div>mimalloc option ", f);
        cli_html_text(f, o->mi_env[i]);
        fputs("</div>", f);
    }
    if (o->cmd != NULL) {
        fputs("<div>command: <code>", f);
        for (char **a = o->cmd; *a; a++) {
            if (a != o->cmd) fputc(' ', f);
            cli_html_text(f, *a);
        }
        fputs("</code></div>", f);
    }
    fputs("</header><main>", f);
    bool js = cli_html_charts();
    const char *head =
        o->cmd ? "<th>backend</th><th>cpu</th>" : "<th>threads</th><th>backend</th><th>Mops/s</th>";
    size_t nch = 0;
    for (size_t ci = 0; ci < b->ncells;) {
        const cell *c = &b->cells[ci];
        size_t cn = 1;
        while (c->wl != NULL && ci + cn < b->ncells && b->cells[ci + cn].wl == c->wl) cn++;
        fputs("<section><h2>", f);
        cli_html_text(f, c->wl ? c->wl->name : "the command");
        fputs("</h2>", f);
        if (c->wl) {
            fputs("<p class=m>", f);
            cli_html_text(f, c->wl->summary);
            fputs("</p>", f);
        }
        if (js) fprintf(f, "<div id=u-bench-%zu></div>", nch++);
        fprintf(f,
                "<table><tr>%s<th>%s</th><th>vs baseline [95%% CI]</th><th>%s</th>"
                "<th>verdict</th></tr>",
                head, c->wl ? "time" : "wall",
                c->wl && !strcmp(c->wl->name, "spike") ? "RSS left" : "peak RSS");
        for (size_t k = 0; k < cn; k++) html_rows(f, b, &b->cells[ci + k]);
        fputs("</table></section>", f);
        ci += cn;
    }
    fputs("<section><h2>How to read this</h2><p>", f);
    cli_html_text(f, legend);
    fputs("</p></section></main>", f);
    if (js) {
        fputs("<script type=\"application/json\" id=\"alloy-data\">{\"charts\":[", f);
        nch = 0;
        for (size_t ci = 0; ci < b->ncells;) {
            const cell *c = &b->cells[ci];
            size_t cn = 1;
            while (c->wl != NULL && ci + cn < b->ncells && b->cells[ci + cn].wl == c->wl) cn++;
            char id[32];
            snprintf(id, sizeof id, "u-bench-%zu", nch);
            if (nch++) fputc(',', f);
            if (c->wl == NULL)
                chart_json(f, b, id, "run", "wall seconds", false, c, 1, true);
            else if (strcmp(c->wl->name, "spike") == 0)
                chart_json(f, b, id, "threads", "RSS left", true, c, cn, false);
            else
                chart_json(f, b, id, "threads", "million allocations/s", false, c, cn, false);
            ci += cn;
        }
        fputs("]}</script>", f);
    }
    cli_html_end(f);
    return !ferror(f);
}

/* ---- the command -------------------------------------------------------------------------- */

static bool build_cells(bench *b) {
    opts *o = b->o;
    size_t narms = o->nbe + 1, max = o->cmd ? 1 : o->nwl * o->nthreads;
    b->cells = calloc(max, sizeof *b->cells);
    if (b->cells == NULL) return false;
    for (size_t w = 0; w < (o->cmd ? 1 : o->nwl); w++)
        for (size_t t = 0; t < (o->cmd ? 1 : o->nthreads); t++) {
            const wl_workload *wl = o->cmd ? NULL : o->wl[w];
            unsigned th = o->cmd ? 0 : o->threads[t];
            /* A hand-off needs two threads: xthread's 1 is its 2. */
            if (wl != NULL && strcmp(wl->name, "xthread") == 0 && th < 2) th = 2;
            bool dup = false;
            for (size_t k = 0; k < b->ncells; k++)
                dup |= b->cells[k].wl == wl && b->cells[k].threads == th;
            if (dup) continue;
            cell *c = &b->cells[b->ncells++];
            c->wl = wl;
            c->threads = th;
            /* narms only once arms exists: free_bench walks narms of a cell's arms. */
            if ((c->arms = calloc(narms, sizeof *c->arms)) == NULL) return false;
            c->narms = narms;
            /* A B C ... A': the A/A arm last, as far from the baseline as any other. */
            for (size_t k = 0; k < narms; k++) {
                c->arms[k].be = k < o->nbe ? k : 0;
                c->arms[k].role = k == 0 ? ROLE_BASE : k < o->nbe ? ROLE_CAND : ROLE_AA;
                c->arms[k].verdict = "failed";
            }
        }
    b->total = b->ncells * narms * o->runs;
    return true;
}

static void free_bench(bench *b) {
    for (size_t i = 0; i < b->ncells; i++) {
        for (size_t k = 0; k < b->cells[i].narms; k++) {
            free(b->cells[i].arms[k].res);
            free(b->cells[i].arms[k].metric);
        }
        free(b->cells[i].arms);
    }
    free(b->cells);
    for (size_t i = 0; i < b->o->nmi; i++) free(b->o->mi_env[i]);
}

/* Write one output file; false (with a message) on failure. */
static bool output(const bench *b, const char *path, bool force,
                   bool (*write)(const bench *, FILE *)) {
    FILE *f = cli_output_open("bench", path, force);
    if (f == NULL) return false;
    bool ok = write(b, f);
    ok = fclose(f) == 0 && ok;
    if (!ok) cli_error("bench", "cannot write %s", path);
    return ok;
}

int cmd_bench(int argc, char **argv) {
    /* The hidden child sides: this binary, re-executed under a backend. */
    if (argc >= 2 && strcmp(argv[1], "--probe") == 0) return child_probe();
    if (argc >= 2 && strcmp(argv[1], "--child") == 0) return child_workload(argc, argv);

    opts o = {0};
    bool done;
    int rc = parse(&o, argc, argv, &done);
    if (rc != 0 || done) return rc;
    bench b = {.o = &o};
    if (!cli_self_exe(b.self, sizeof b.self)) {
        cli_error("bench", "cannot find this program (/proc/self/exe)");
        return 1;
    }
    if (o.nbe == 0) {
        cli_error("bench", "no backend of this build can be loaded");
        return 1;
    }
    if (o.cmd != NULL && !cli_command_runnable(o.cmd[0])) {
        cli_error("bench", "cannot run '%s': not an executable file%s", o.cmd[0],
                  strchr(o.cmd[0], '/') || !*o.cmd[0] ? "" : " in PATH (command not found)");
        return 1;
    }
    /* A report that cannot be written is found now, not after the runs. */
    for (int i = 0; i < 2; i++) {
        const char *p = i ? o.html : o.json;
        char err[PATH_MAX + 160];
        if (p != NULL && !cli_output_check(p, o.force, err, sizeof err)) {
            cli_error("bench", "%s", err);
            return 1;
        }
    }
    cli_progress_init(&b.pr, stderr, 100);
    bool ok = probe(&b);
    if (ok && !build_cells(&b)) {
        cli_error("bench", "out of memory");
        ok = false;
    }
    for (size_t i = 0; ok && i < b.ncells; i++) ok = measure(&b, &b.cells[i]);
    cli_progress_done(&b.pr);
    if (!ok) {
        free_bench(&b);
        return b.stop_sig ? 128 + b.stop_sig : 1;
    }
    print_table(&b);
    bool all = true;
    for (size_t i = 0; i < b.ncells; i++)
        for (size_t a = 0; a < b.cells[i].narms; a++) all &= b.cells[i].arms[a].ok == o.runs;
    if (o.json != NULL) ok &= output(&b, o.json, o.force, write_json);
    if (o.html != NULL) ok &= output(&b, o.html, o.force, write_html);
    free_bench(&b);
    return ok && all ? 0 : 1;
}
