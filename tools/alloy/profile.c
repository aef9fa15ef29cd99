/* SPDX-License-Identifier: MIT */
/* profile.c - alloy profile: run a program under the profiler, summarize, write reports. */
#define _GNU_SOURCE
#include "commands.h"
#include "dashboard.h"
#include "preload.h"
#include "profdata.h"
#include "progress.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
    "usage: alloy profile [--sample BYTES | --full] [--follow-exec] [-o PREFIX]\n"
    "                     [--html] [--json] [--csv] [--prom] [--force] [--] CMD [ARGS...]\n"
    "\n"
    "Run CMD under alloy's profiler (the override library with ALLOY_PROFILE), print a short\n"
    "summary when it ends (peak, totals, top sizes, latency P99/P99.9, cross-thread share,\n"
    "top leak sites) and write the reports asked for (default: --html).\n"
    "\n"
    "  --full           every call measured, every block recorded (the default)\n"
    "  --sample BYTES   record one block per BYTES allocated on average (K/M/G suffixes):\n"
    "                   counters stay exact, leaks and cross-thread figures are estimates\n"
    "  --follow-exec    keep profiling programs CMD executes (exec)\n"
    "  -o PREFIX        file names start with PREFIX (default alloy-profile.CMD.PID)\n"
    "  --html --json --csv --prom   the reports: PREFIX.html, .json, .csv, .prom\n"
    "  -f, --force      replace report files that exist\n"
    "  -h, --help       show this help\n"
    "\n"
    "Each process writes its own profile, PREFIX.<pid>.json, rewritten every 100 ms, so a\n"
    "program that crashes still leaves one; children from fork get their own and are listed\n"
    "at the end. The reports merge them all. Allocation stacks are captured for leak sites.\n"
    "On a terminal, a run longer than a second shows a progress line on stderr (elapsed time,\n"
    "live and peak bytes, allocations and their rate), erased before the summary.\n"
    "\n"
    "Exit status: CMD's (128+N if signal N ended it); 1 nothing was profiled or a report\n"
    "could not be written; 2 usage error.\n";

static bool size_arg(const char *s) {
    if (!isdigit((unsigned char)*s)) return false;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end && strchr("kKmMgG", *end)) end++;
    return *end == '\0' && v > 0;
}

/* The profile files of the family: PREFIX.<digits>.json. */
static size_t find_family(const char *prefix, char ***out) {
    char dir[4096] = ".";
    const char *base = prefix, *slash = strrchr(prefix, '/');
    if (slash) {
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - prefix), prefix);
        if (dir[0] == '\0') strcpy(dir, "/");
        base = slash + 1;
    }
    size_t bl = strlen(base), n = 0, cap = 0;
    *out = NULL;
    DIR *d = opendir(dir);
    if (d == NULL) return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        const char *nm = e->d_name;
        if (strncmp(nm, base, bl) != 0 || nm[bl] != '.') continue;
        const char *p = nm + bl + 1;
        if (!isdigit((unsigned char)*p)) continue;
        while (isdigit((unsigned char)*p)) p++;
        if (strcmp(p, ".json") != 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            char **v = realloc(*out, cap * sizeof *v);
            if (v == NULL) break;
            *out = v;
        }
        size_t l = strlen(dir) + strlen(nm) + 2;
        if (((*out)[n] = malloc(l)) == NULL) break;
        snprintf((*out)[n++], l, "%s/%s", slash ? dir : ".", nm);
    }
    closedir(d);
    return n;
}

static void free_family(char **files, size_t n) {
    for (size_t k = 0; k < n; k++) free(files[k]);
    free(files);
}

/* While the program runs: read every process's profile, add a column to the series and, on a
 * terminal, show how far it is. */
struct poll_state {
    const char *prefix, *cmd;
    cli_series *series;
    cli_progress progress;
};

/* The progress line: from the first second on, so short runs print nothing extra. */
static void show_progress(struct poll_state *ps, const cli_profile *procs, size_t n) {
    double t = cli_progress_elapsed(&ps->progress);
    if (t < 1.0) return;
    uint64_t allocs = 0, live = 0, peak = 0;
    double rate = 0;
    for (size_t k = 0; k < n; k++) {
        allocs += procs[k].r.alloc_count;
        live += procs[k].r.current_bytes;
        peak += procs[k].r.peak_bytes;
        rate += procs[k].r.alloc_rate_avg;
    }
    char b1[32], b2[32], b3[32], b4[32];
    cli_progress_update(
        &ps->progress, false,
        "alloy profile: %s  %.1f s  live %s  peak %s  %s allocs (%s/s)  %zu process%s", ps->cmd, t,
        cli_bytes(b1, sizeof b1, (double)live), cli_bytes(b2, sizeof b2, (double)peak),
        cli_count(b3, sizeof b3, allocs), cli_count(b4, sizeof b4, (uint64_t)rate), n,
        n == 1 ? "" : "es");
}

static void poll_profiles(void *arg, bool ended) {
    struct poll_state *ps = arg;
    char **files;
    size_t nf = find_family(ps->prefix, &files);
    cli_profile *procs = calloc(nf ? nf : 1, sizeof *procs);
    size_t n = 0;
    for (size_t k = 0; procs != NULL && k < nf; k++) {
        char err[256];
        /* A file may be replaced while we read it: a failed read just skips this column. */
        if (cli_profile_load(&procs[n], files[k], err, sizeof err)) n++;
    }
    if (n == nf && n > 0) cli_series_add(ps->series, procs, n);
    if (ended)
        cli_progress_done(&ps->progress);
    else if (n > 0)
        show_progress(ps, procs, n);
    for (size_t k = 0; k < n; k++) cli_profile_free(&procs[k]);
    free(procs);
    free_family(files, nf);
}

int cmd_profile(int argc, char **argv) {
    const char *sample = NULL, *prefix = NULL;
    bool follow = false, force = false, want[CLI_FMT_TEXT] = {false};
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(help, stdout);
            return 0;
        }
        if (strcmp(a, "--sample") == 0) {
            if (i + 1 >= argc) return cli_usage_error("profile", "--sample needs a size");
            sample = argv[++i];
            if (!size_arg(sample))
                return cli_usage_error("profile", "--sample takes bytes like 512K, not '%s'",
                                       sample);
        } else if (strcmp(a, "--full") == 0)
            sample = NULL;
        else if (strcmp(a, "--follow-exec") == 0)
            follow = true;
        else if (strcmp(a, "-f") == 0 || strcmp(a, "--force") == 0)
            force = true;
        else if (strcmp(a, "-o") == 0) {
            if (i + 1 >= argc) return cli_usage_error("profile", "-o needs a prefix");
            prefix = argv[++i];
            if (*prefix == '\0') return cli_usage_error("profile", "-o needs a prefix");
        } else if (strcmp(a, "--html") == 0)
            want[CLI_FMT_HTML] = true;
        else if (strcmp(a, "--json") == 0)
            want[CLI_FMT_JSON] = true;
        else if (strcmp(a, "--csv") == 0)
            want[CLI_FMT_CSV] = true;
        else if (strcmp(a, "--prom") == 0)
            want[CLI_FMT_PROM] = true;
        else if (a[0] == '-')
            return cli_usage_error("profile", "unknown option '%s'", a);
        else
            break;
    }
    if (i >= argc) return cli_usage_error("profile", "no command given");
    if (!want[CLI_FMT_JSON] && !want[CLI_FMT_CSV] && !want[CLI_FMT_PROM]) want[CLI_FMT_HTML] = true;

    char defprefix[512];
    if (prefix == NULL) {
        const char *b = strrchr(argv[i], '/');
        b = b ? b + 1 : argv[i];
        snprintf(defprefix, sizeof defprefix, "alloy-profile.%.200s.%ld", b, (long)getpid());
        for (char *c = defprefix; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-' && *c != '_') *c = '_';
        prefix = defprefix;
    }
    static const char *const ext[] = {"", "html", "json", "csv", "prom"};
    char out[CLI_FMT_TEXT][4200];
    for (int k = CLI_FMT_HTML; k < CLI_FMT_TEXT; k++) {
        snprintf(out[k], sizeof out[k], "%s.%s", prefix, ext[k]);
        char why[4400];
        if (want[k] && !cli_output_check(out[k], force, why, sizeof why)) {
            cli_error("profile", "%s%s", why,
                      force || strstr(why, "exists (") == NULL ? "" : "; -o picks another prefix");
            return 1;
        }
    }
    char **old = NULL;
    size_t nold = find_family(prefix, &old);
    for (size_t k = 0; k < nold; k++) free(old[k]);
    free(old);
    if (nold > 0) {
        cli_error("profile", "profiles named %s.<pid>.json exist already; pick another -o", prefix);
        return 1;
    }

    cli_env env;
    char pattern[4200];
    snprintf(pattern, sizeof pattern, "%s.%%p.json", prefix);
    if (!cli_env_init(&env)) return 1;
    int rc = 1;
    if (!cli_env_alloy(&env, NULL)) {
        cli_error("profile", "cannot find liballoy-override.so (set ALLOY_OVERRIDE_LIB)");
        cli_env_free(&env);
        return 1;
    }
    cli_env_set(&env, "ALLOY_PROFILE", pattern);
    cli_env_set(&env, "ALLOY_PROFILE_STACKS", "1");
    cli_env_set(&env, "ALLOY_PROFILE_SAMPLE", sample ? sample : "0");
    if (follow) cli_env_set(&env, "ALLOY_PROFILE_EXEC", "1");
    fflush(stdout);
    static cli_series series;
    memset(&series, 0, sizeof series);
    const char *base = strrchr(argv[i], '/');
    struct poll_state ps = {.prefix = prefix, .cmd = base ? base + 1 : argv[i], .series = &series};
    cli_progress_init(&ps.progress, stderr, 200);
    int child = cli_child_run("profile", argv + i, env.v, poll_profiles, &ps, 100, NULL);
    cli_env_free(&env);

    char **files = NULL;
    size_t nf = find_family(prefix, &files);
    cli_profile *procs = calloc(nf ? nf : 1, sizeof *procs);
    size_t n = 0;
    for (size_t k = 0; procs != NULL && k < nf; k++) {
        char err[256];
        if (cli_profile_load(&procs[n], files[k], err, sizeof err))
            n++;
        else
            cli_error("profile", "%s: %s", files[k], err);
    }
    if (n == 0) {
        cli_error("profile",
                  "no profile was written (if '%s' is a wrapper that runs the real program, "
                  "such as a pyenv shim, add --follow-exec or profile the program itself)",
                  argv[i]);
        rc = 1;
    } else {
        cli_profile merged;
        if (cli_profile_merge(&merged, procs, n)) {
            FILE *e = stderr;
            const char *bo = cli_sgr(e, "\033[1m"), *no = cli_sgr(e, "\033[0m");
            fprintf(e, "%salloy profile:%s %s, %zu process%s, %.3f s, backend %s, %s mode\n", bo,
                    no, argv[i], n, n == 1 ? "" : "es", merged.r.duration_s, merged.r.backend,
                    merged.r.mode);
            cli_profile_summary(e, &merged, procs, n);
            fprintf(e, "  %-13s", "profiles");
            for (size_t k = 0; k < n; k++) fprintf(e, " %s", procs[k].path);
            fputc('\n', e);
            rc = 0;
            for (int k = CLI_FMT_HTML; k < CLI_FMT_TEXT; k++) {
                if (!want[k]) continue;
                if (cli_report_write("profile", out[k], k, force, &merged, procs, n, &series) != 0)
                    rc = 1;
                else
                    fprintf(e, "  %-13s %s\n", k == CLI_FMT_HTML ? "report" : "", out[k]);
            }
            cli_profile_free(&merged);
        }
    }
    for (size_t k = 0; k < n; k++) cli_profile_free(&procs[k]);
    free(procs);
    for (size_t k = 0; k < nf; k++) free(files[k]);
    free(files);
    return rc != 0 && child == 0 ? rc : child;
}
