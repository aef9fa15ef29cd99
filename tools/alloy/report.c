/* SPDX-License-Identifier: MIT */
/* report.c - alloy report: profile files (one process or a forked family) into any export. */
#include "commands.h"
#include "dashboard.h"
#include "preload.h"
#include "profdata.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
    "usage: alloy report FILE... [--html | --json | --csv | --prom] [-o OUT] [--force]\n"
    "\n"
    "Read alloy profile files (alloy-profile/1 JSON: what ALLOY_PROFILE or alloy profile\n"
    "wrote, also one left by a program that crashed) and write one report of them all;\n"
    "several files (a program and the children it forked) are merged into one.\n"
    "\n"
    "  --html       the self-contained HTML dashboard (no network access needed)\n"
    "  --json       one merged profile, schema alloy-profile/1\n"
    "  --csv        the long CSV table of docs/profile.md\n"
    "  --prom       Prometheus text exposition format\n"
    "  -o OUT       write to OUT (never replaced unless --force; the format follows OUT's\n"
    "               extension .html .json .csv .prom when no format option is given)\n"
    "  -f, --force  replace OUT if it exists\n"
    "  -h, --help   show this help\n"
    "\n"
    "Without a format option and without -o, a short summary is printed.\n"
    "Exit status: 0 written, 1 a file could not be read or written, 2 usage error.\n";

static int from_ext(const char *out) {
    const char *dot = strrchr(out, '.');
    if (dot == NULL) return CLI_FMT_HTML;
    if (strcmp(dot, ".json") == 0) return CLI_FMT_JSON;
    if (strcmp(dot, ".csv") == 0) return CLI_FMT_CSV;
    if (strcmp(dot, ".prom") == 0) return CLI_FMT_PROM;
    return CLI_FMT_HTML;
}

int cli_report_write(const char *cmd, const char *out, int fmt, bool force,
                     const cli_profile *merged, const cli_profile *procs, size_t n,
                     const cli_series *series) {
    if (fmt == CLI_FMT_TEXT) {
        cli_profile_summary(stdout, merged, procs, n);
        return 0;
    }
    if (fmt != CLI_FMT_HTML) {
        alloy_profile_format pf = fmt == CLI_FMT_JSON  ? ALLOY_PROFILE_JSON
                                  : fmt == CLI_FMT_CSV ? ALLOY_PROFILE_CSV
                                                       : ALLOY_PROFILE_PROMETHEUS;
        bool ok = out == NULL ? alloy_profile_write(stdout, &merged->r, pf)
                              : alloy_profile_write_path(out, &merged->r, pf, force);
        if (!ok) {
            cli_error(cmd, "cannot write %s: %s", out ? out : "the output", strerror(errno));
            return 1;
        }
        return 0;
    }
    FILE *f = stdout;
    if (out != NULL) {
        if ((f = cli_output_open(cmd, out, force)) == NULL) return 1;
    }
    bool ok = cli_dashboard_write(f, merged, procs, n, series);
    if (f != stdout) ok = (fclose(f) == 0) && ok;
    if (!ok) {
        cli_error(cmd, "cannot write %s", out ? out : "the output");
        return 1;
    }
    return 0;
}

int cmd_report(int argc, char **argv) {
    int fmt = CLI_FMT_NONE;
    const char *out = NULL;
    bool force = false;
    char **files = calloc((size_t)argc, sizeof *files);
    size_t nfiles = 0;
    if (files == NULL) return 1;
    bool opts = true;
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        int f = CLI_FMT_NONE;
        if (opts && strcmp(a, "--") == 0)
            opts = false;
        else if (opts && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
            fputs(help, stdout);
            free(files);
            return 0;
        } else if (opts && strcmp(a, "--html") == 0)
            f = CLI_FMT_HTML;
        else if (opts && strcmp(a, "--json") == 0)
            f = CLI_FMT_JSON;
        else if (opts && strcmp(a, "--csv") == 0)
            f = CLI_FMT_CSV;
        else if (opts && strcmp(a, "--prom") == 0)
            f = CLI_FMT_PROM;
        else if (opts && (strcmp(a, "-f") == 0 || strcmp(a, "--force") == 0))
            force = true;
        else if (opts && strcmp(a, "-o") == 0) {
            if (i + 1 >= argc)
                rc = cli_usage_error("report", "-o needs a file name");
            else
                out = argv[++i];
        } else if (opts && a[0] == '-' && a[1] != '\0')
            rc = cli_usage_error("report", "unknown option '%s'", a);
        else
            files[nfiles++] = argv[i];
        if (f != CLI_FMT_NONE) {
            if (fmt != CLI_FMT_NONE && fmt != f)
                rc = cli_usage_error("report", "give one of --html, --json, --csv, --prom");
            fmt = f;
        }
    }
    if (rc == 0 && nfiles == 0) rc = cli_usage_error("report", "no profile file given");
    if (rc != 0) {
        free(files);
        return rc;
    }
    if (fmt == CLI_FMT_NONE) fmt = out != NULL ? from_ext(out) : CLI_FMT_TEXT;

    cli_profile *procs = calloc(nfiles, sizeof *procs);
    size_t n = 0;
    for (size_t i = 0; procs != NULL && i < nfiles; i++) {
        char err[256];
        if (!cli_profile_load(&procs[n], files[i], err, sizeof err)) {
            cli_error("report", "%s: %s", files[i], err);
            rc = 1;
            break;
        }
        n++;
    }
    if (procs == NULL) rc = 1;
    if (rc == 0) {
        cli_profile merged;
        if (!cli_profile_merge(&merged, procs, n)) {
            cli_error("report", "out of memory");
            rc = 1;
        } else {
            rc = cli_report_write("report", out, fmt, force, &merged, procs, n, NULL);
            cli_profile_free(&merged);
        }
    }
    for (size_t i = 0; i < n; i++) cli_profile_free(&procs[i]);
    free(procs);
    free(files);
    return rc;
}
