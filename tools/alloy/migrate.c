/* SPDX-License-Identifier: MIT */
/* migrate.c - alloy migrate: rewrite a C code base from malloc/free to alloy with Coccinelle.
 *
 * The rewriting is Coccinelle's (the .cocci files of tools/alloy/migrate); this file finds the
 * files, runs spatch twice over them in parallel (analyse.cocci, then migrate.cocci with what the
 * first pass found), and turns what spatch wrote into a diff, a report and a summary. spatch
 * is started with fork/exec and an argument vector: no path goes through a shell.
 */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* realpath, mkdtemp, strndup */
#endif
#include "commands.h"

#include <alloy/config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CMD "migrate"
#define MAX_JOBS 16

static const char help[] =
    "usage: alloy migrate [--apply] [--report FILE] [--sized] [options] PATH...\n"
    "\n"
    "Rewrite the malloc family of the C sources under each PATH (files or directories)\n"
    "to the alloy API with Coccinelle semantic patches (spatch). Without --apply, print\n"
    "the changes as a unified diff on stdout and write nothing. Memory that libc allocates\n"
    "for the caller (getline, asprintf, realpath(..., NULL), ...) keeps its free; a free\n"
    "whose pointer may hold such memory is left alone and listed for review.\n"
    "\n"
    "  --apply          write the changes into the files\n"
    "  --report FILE    write every site kept, left for review or not parsed to FILE\n"
    "  --force          overwrite FILE if it exists\n"
    "  --sized          free of a block whose size the allocation shows -> alloy_free_sized\n"
    "  --exclude GLOB   skip files and directories whose path or name matches (repeatable)\n"
    "  --jobs N         spatch processes to run at once (default: the online CPUs)\n"
    "  --help           show this help\n"
    "\n"
    "compile_commands.json in a PATH directory (or its build/) gives include paths and\n"
    "macros. Hidden directories are skipped. The summary goes to stderr in a dry run and to\n"
    "stdout with --apply. Environment: ALLOY_MIGRATE_DIR (the .cocci files), ALLOY_SPATCH\n"
    "(the spatch program). Exit status: 0 done, 1 spatch failed, 2 usage error.\n"
    "See docs/migrate.md.\n";

/* ---- small growable things --------------------------------------------------------------- */

struct strv {
    char **v;
    size_t n, cap;
};

static void die_oom(void) {
    cli_error(CMD, "out of memory");
    exit(1);
}

static char *xstrdup(const char *s) {
    char *d = strdup(s);
    if (d == NULL) die_oom();
    return d;
}

static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) die_oom();
    char *s = malloc((size_t)n + 1);
    if (s == NULL) die_oom();
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static void strv_push(struct strv *sv, char *s) {
    if (sv->n + 1 >= sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 16;
        char **v = realloc(sv->v, cap * sizeof *v);
        if (v == NULL) die_oom();
        sv->v = v;
        sv->cap = cap;
    }
    sv->v[sv->n++] = s;
    sv->v[sv->n] = NULL;
}

static bool strv_has(const struct strv *sv, const char *s) {
    for (size_t i = 0; i < sv->n; i++)
        if (strcmp(sv->v[i], s) == 0) return true;
    return false;
}

static void strv_free(struct strv *sv) {
    for (size_t i = 0; i < sv->n; i++) free(sv->v[i]);
    free(sv->v);
    *sv = (struct strv){0};
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whole file into a NUL-terminated buffer; NULL on error (errno set). */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    if (b == NULL) die_oom();
    size_t got;
    while ((got = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            char *nb = realloc(b, cap);
            if (nb == NULL) die_oom();
            b = nb;
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        errno = EIO;
        return NULL;
    }
    b[n] = '\0';
    if (len != NULL) *len = n;
    return b;
}

/* ---- options ----------------------------------------------------------------------------- */

struct opts {
    bool apply, sized, force;
    const char *report;
    unsigned jobs;
    struct strv paths, excludes;
};

/* ---- finding the files ------------------------------------------------------------------- */

static bool excluded(const struct opts *o, const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (size_t i = 0; i < o->excludes.n; i++)
        if (fnmatch(o->excludes.v[i], path, 0) == 0 || fnmatch(o->excludes.v[i], base, 0) == 0)
            return true;
    return false;
}

static bool c_source(const char *name) {
    size_t n = strlen(name);
    return n > 2 && name[n - 2] == '.' && (name[n - 1] == 'c' || name[n - 1] == 'h');
}

static void walk(const struct opts *o, const char *dir, struct strv *files) {
    DIR *d = opendir(dir);
    if (d == NULL) {
        cli_error(CMD, "cannot read directory %s: %s", dir, strerror(errno));
        return;
    }
    struct strv names = {0};
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') strv_push(&names, xstrdup(e->d_name));
    closedir(d);
    if (names.n > 0) qsort(names.v, names.n, sizeof *names.v, cmp_str);
    for (size_t i = 0; i < names.n; i++) {
        size_t dl = strlen(dir);
        char *p = dl > 0 && dir[dl - 1] == '/' ? xprintf("%s%s", dir, names.v[i])
                                               : xprintf("%s/%s", dir, names.v[i]);
        struct stat st;
        /* lstat: a symbolic link is neither followed into a directory nor rewritten. */
        if (excluded(o, p) || lstat(p, &st) != 0) {
            free(p);
        } else if (S_ISDIR(st.st_mode)) {
            walk(o, p, files);
            free(p);
        } else if (S_ISREG(st.st_mode) && c_source(names.v[i])) {
            strv_push(files, p);
        } else {
            free(p);
        }
    }
    strv_free(&names);
}

/* ---- compile_commands.json: -I and -D ---------------------------------------------------- */

/* Next JSON string at or after *pp (skipping everything else); its unescaped text, or NULL. */
static char *json_next_string(const char **pp, const char *end) {
    const char *p = *pp;
    while (p < end && *p != '"') p++;
    if (p >= end) return NULL;
    p++;
    size_t cap = 64, n = 0;
    char *s = malloc(cap);
    if (s == NULL) die_oom();
    while (p < end && *p != '"') {
        char c = *p++;
        if (c == '\\' && p < end) {
            char x = *p++;
            c = x == 'n' ? '\n' : x == 't' ? '\t' : x == 'u' ? '?' : x;
            if (x == 'u') p += (end - p) >= 4 ? 4 : end - p;
        }
        if (n + 2 >= cap) {
            cap *= 2;
            char *ns = realloc(s, cap);
            if (ns == NULL) die_oom();
            s = ns;
        }
        s[n++] = c;
    }
    s[n] = '\0';
    *pp = p < end ? p + 1 : end;
    return s;
}

static void add_flag(struct strv *incs, struct strv *defs, const char *dir, const char *flag,
                     const char *next) {
    const char *v = NULL;
    bool inc = false;
    if (strncmp(flag, "-I", 2) == 0) {
        v = flag[2] ? flag + 2 : next;
        inc = true;
    } else if (strncmp(flag, "-D", 2) == 0) {
        v = flag[2] ? flag + 2 : next;
    }
    if (v == NULL || *v == '\0') return;
    if (inc) {
        char *p = v[0] == '/' || dir == NULL ? xstrdup(v) : xprintf("%s/%s", dir, v);
        if (strv_has(incs, p))
            free(p);
        else
            strv_push(incs, p);
    } else if (!strv_has(defs, v)) {
        strv_push(defs, xstrdup(v));
    }
}

/* Split a command line on blanks (compile_commands "command" strings; quotes are rare there
 * and only matter for values we pass on unchanged). */
static void scan_command(struct strv *incs, struct strv *defs, const char *dir, const char *cmd) {
    struct strv words = {0};
    const char *p = cmd;
    while (*p) {
        while (*p == ' ' || *p == '\t') p++;
        const char *s = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        if (p > s) strv_push(&words, strndup(s, (size_t)(p - s)));
    }
    for (size_t i = 0; i < words.n; i++)
        add_flag(incs, defs, dir, words.v[i], i + 1 < words.n ? words.v[i + 1] : NULL);
    strv_free(&words);
}

static void read_compile_commands(const char *path, struct strv *incs, struct strv *defs) {
    size_t len;
    char *text = slurp(path, &len);
    if (text == NULL) return;
    const char *p = text, *end = text + len;
    /* Each entry: {"directory": ..., "command": ... | "arguments": [...], "file": ...}. */
    while ((p = strchr(p, '{')) != NULL) {
        const char *close = strchr(p, '}');
        if (close == NULL) break;
        char *dir = NULL, *cmd = NULL;
        struct strv args = {0};
        const char *q = p + 1;
        char *key;
        while ((key = json_next_string(&q, close)) != NULL) {
            while (q < close && (*q == ' ' || *q == ':' || *q == '\n' || *q == '\t')) q++;
            if (strcmp(key, "arguments") == 0 && q < close && *q == '[') {
                const char *rb = memchr(q, ']', (size_t)(close - q));
                const char *ae = rb ? rb : close;
                char *a;
                while ((a = json_next_string(&q, ae)) != NULL) strv_push(&args, a);
                q = ae;
            } else {
                char *val = json_next_string(&q, close);
                if (strcmp(key, "directory") == 0 && dir == NULL)
                    dir = val;
                else if (strcmp(key, "command") == 0 && cmd == NULL)
                    cmd = val;
                else
                    free(val);
            }
            free(key);
        }
        if (cmd != NULL) scan_command(incs, defs, dir, cmd);
        for (size_t i = 0; i < args.n; i++)
            add_flag(incs, defs, dir, args.v[i], i + 1 < args.n ? args.v[i + 1] : NULL);
        strv_free(&args);
        free(dir);
        free(cmd);
        p = close + 1;
    }
    free(text);
    (void)end;
}

/* ---- where things are -------------------------------------------------------------------- */

static bool is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The directory of the .cocci files: ALLOY_MIGRATE_DIR, the source tree when this binary
 * runs from its build directory, <prefix>/share/alloy/migrate relative to the binary, then
 * the configured install directory. */
static char *cocci_dir(void) {
    const char *env = getenv("ALLOY_MIGRATE_DIR");
    if (env != NULL && *env != '\0') return xstrdup(env);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            char built[PATH_MAX];
            if (realpath(ALLOY_TOOL_BUILD_DIR, built) != NULL && strcmp(built, exe) == 0)
                return xstrdup(ALLOY_MIGRATE_SOURCE_DIR);
            /* <prefix>/bin/alloy -> <prefix>/share/alloy/migrate */
            char *up = strrchr(exe, '/');
            if (up != NULL) {
                *up = '\0';
                char *rel = xprintf("%s/%s", exe, ALLOY_MIGRATE_REL_DIR);
                char *probe = xprintf("%s/migrate.cocci", rel);
                bool ok = is_file(probe);
                free(probe);
                if (ok) return rel;
                free(rel);
            }
        }
    }
    return xstrdup(ALLOY_MIGRATE_INSTALL_DIR);
}

static const char *spatch_program(void) {
    const char *env = getenv("ALLOY_SPATCH");
    return env != NULL && *env != '\0' ? env : "spatch";
}

/* ---- running spatch ---------------------------------------------------------------------- */

struct job {
    pid_t pid;
    char *groups, *out, *stdout_path, *stderr_path;
};

/* Start argv with stdout and stderr sent to files and extra environment variables set. */
static pid_t spawn(char *const argv[], const char *out_path, const char *err_path,
                   const char *env[][2]) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0) return pid;
    int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
    int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
    if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0) _exit(126);
    close(fo);
    close(fe);
    for (size_t i = 0; env[i][0] != NULL; i++) setenv(env[i][0], env[i][1], 1);
    execvp(argv[0], argv);
    dprintf(2, "alloy migrate: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

struct run {
    const struct opts *o;
    const char *tmp, *cocci_dir;
    struct strv files, incs;
    char *macro_file;
    unsigned jobs;
    unsigned *job_of; /* the job each file goes to (balance) */
};

/* Give each file to a job, largest first to the job with the fewest bytes so far: spatch's
 * time grows faster than a file's size, and one big file must not wait behind others. */
struct sized_file {
    size_t size, index;
};

static int cmp_larger(const void *a, const void *b) {
    const struct sized_file *x = a, *y = b;
    return x->size != y->size ? (x->size < y->size ? 1 : -1) : (x->index < y->index ? -1 : 1);
}

static void balance(struct run *r, unsigned nj) {
    size_t n = r->files.n;
    struct sized_file *f = calloc(n ? n : 1, sizeof *f);
    r->job_of = realloc(r->job_of, (n ? n : 1) * sizeof *r->job_of);
    if (f == NULL || r->job_of == NULL) die_oom();
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        f[i] = (struct sized_file){stat(r->files.v[i], &st) == 0 ? (size_t)st.st_size : 0, i};
    }
    qsort(f, n, sizeof *f, cmp_larger);
    size_t load[MAX_JOBS] = {0};
    for (size_t i = 0; i < n; i++) {
        unsigned best = 0;
        for (unsigned j = 1; j < nj; j++)
            if (load[j] < load[best]) best = j;
        r->job_of[f[i].index] = best;
        load[best] += f[i].size;
    }
    free(f);
}

/* Run spatch with sp_file over all files in r->jobs parallel processes, one file group per
 * source file. Returns the number of processes that failed. */
static int run_pass(struct run *r, const char *pass, const char *sp_file, bool apply,
                    const char *taint, struct job *jobs) {
    unsigned nj = r->jobs;
    if (nj > r->files.n) nj = (unsigned)r->files.n;
    if (nj == 0) return 0;
    balance(r, nj);
    for (unsigned j = 0; j < nj; j++) {
        struct job *jb = &jobs[j];
        jb->groups = xprintf("%s/%s.%u.groups", r->tmp, pass, j);
        jb->out = xprintf("%s/%s.%u.decisions", r->tmp, pass, j);
        jb->stdout_path = xprintf("%s/%s.%u.stdout", r->tmp, pass, j);
        jb->stderr_path = xprintf("%s/%s.%u.stderr", r->tmp, pass, j);
        FILE *g = fopen(jb->groups, "w");
        if (g == NULL) {
            cli_error(CMD, "cannot write %s: %s", jb->groups, strerror(errno));
            exit(1);
        }
        for (size_t i = 0; i < r->files.n; i++)
            if (r->job_of[i] == j) fprintf(g, "%s\n\n", r->files.v[i]);
        fclose(g);
        int fd = open(jb->out, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
        if (fd >= 0) close(fd);
    }
    int failed = 0;
    for (unsigned j = 0; j < nj; j++) {
        struct job *jb = &jobs[j];
        struct strv argv = {0};
        strv_push(&argv, xstrdup(spatch_program()));
        strv_push(&argv, xstrdup("--sp-file"));
        strv_push(&argv, xstrdup(sp_file));
        strv_push(&argv, xstrdup("--file-groups"));
        strv_push(&argv, xstrdup(jb->groups));
        strv_push(&argv, xstrdup("--verbose-parsing"));
        strv_push(&argv, xstrdup("--smpl-spacing")); /* "(char *)alloy_malloc(n)", no added blank */
        strv_push(&argv, xstrdup("--timeout"));
        strv_push(&argv, xstrdup("120"));
        for (size_t i = 0; i < r->incs.n; i++) {
            strv_push(&argv, xstrdup("-I"));
            strv_push(&argv, xstrdup(r->incs.v[i]));
        }
        if (r->macro_file != NULL) {
            strv_push(&argv, xstrdup("--macro-file"));
            strv_push(&argv, xstrdup(r->macro_file));
        }
        if (r->o->sized && strcmp(pass, "migrate") == 0) {
            strv_push(&argv, xstrdup("-D"));
            strv_push(&argv, xstrdup("sized"));
        }
        if (apply) strv_push(&argv, xstrdup("--in-place"));
        const char *env[][2] = {{"ALLOY_MIGRATE_OUT", jb->out},
                                {"ALLOY_MIGRATE_TAINT", taint != NULL ? taint : ""},
                                {"PYTHONDONTWRITEBYTECODE", "1"},
                                {NULL, NULL}};
        jb->pid = spawn(argv.v, jb->stdout_path, jb->stderr_path, env);
        if (jb->pid < 0) {
            cli_error(CMD, "cannot start spatch: %s", strerror(errno));
            failed++;
        }
        strv_free(&argv);
    }
    for (unsigned j = 0; j < nj; j++) {
        int st;
        if (jobs[j].pid <= 0) continue;
        while (waitpid(jobs[j].pid, &st, 0) < 0 && errno == EINTR) continue;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            failed++;
            char *err = slurp(jobs[j].stderr_path, NULL);
            /* spatch's last lines say why; pass on the last one that is not blank. */
            const char *why = "no message";
            if (err != NULL) {
                char *e = err + strlen(err);
                while (e > err && (e[-1] == '\n' || e[-1] == ' ')) *--e = '\0';
                char *nl = strrchr(err, '\n');
                why = nl ? nl + 1 : err;
            }
            cli_error(CMD, "spatch (%s, %s) failed with status %d: %s", pass, sp_file,
                      WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), why);
            free(err);
        }
    }
    return failed;
}

static void job_cleanup(struct job *jobs, unsigned n) {
    for (unsigned j = 0; j < n; j++) {
        char *p[] = {jobs[j].groups, jobs[j].out, jobs[j].stdout_path, jobs[j].stderr_path};
        for (size_t i = 0; i < 4; i++)
            if (p[i] != NULL) {
                unlink(p[i]);
                free(p[i]);
            }
        jobs[j] = (struct job){0};
    }
}

/* ---- results ----------------------------------------------------------------------------- */

struct site {
    char *file;
    long line;
    char *kind; /* kept, review, parse-error, macro */
    char *text;
};

struct sites {
    struct site *v;
    size_t n, cap;
};

static void site_add(struct sites *s, const char *file, long line, const char *kind, char *text) {
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].line == line && strcmp(s->v[i].file, file) == 0 &&
            strcmp(s->v[i].kind, kind) == 0 && strcmp(s->v[i].text, text) == 0) {
            free(text);
            return;
        }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 32;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (s->v == NULL) die_oom();
    }
    s->v[s->n++] = (struct site){xstrdup(file), line, xstrdup(kind), text};
}

static int cmp_site(const void *a, const void *b) {
    const struct site *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    if (c != 0) return c;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    return strcmp(x->kind, y->kind);
}

struct count {
    char *what;
    long n;
};

struct tally {
    struct count v[64];
    size_t n;
};

static void tally_add(struct tally *t, const char *what) {
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].what, what) == 0) {
            t->v[i].n++;
            return;
        }
    if (t->n < sizeof t->v / sizeof t->v[0]) t->v[t->n++] = (struct count){xstrdup(what), 1};
}

/* Split s at tabs into at most n fields; returns how many. */
static size_t split_tabs(char *s, char **f, size_t n) {
    size_t k = 0;
    while (k < n) {
        f[k++] = s;
        char *t = strchr(s, '\t');
        if (t == NULL) break;
        *t = '\0';
        s = t + 1;
    }
    return k;
}

static void read_decisions(const char *path, struct sites *sites, struct tally *rw) {
    char *text = slurp(path, NULL);
    if (text == NULL) return;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[5];
        if (split_tabs(line, f, 5) < 5) continue;
        if (strcmp(f[0], "rewrite") == 0)
            tally_add(rw, f[1]);
        else
            site_add(sites, f[2], strtol(f[3], NULL, 10), f[0], xprintf("%s: %s", f[1], f[4]));
    }
    free(text);
}

/* spatch --verbose-parsing: "parse error \n = File "F", line N, column C, ..." then
 * "  around = 'tok'". */
static void read_parse_errors(const char *path, const struct strv *files, struct sites *sites) {
    char *text = slurp(path, NULL);
    if (text == NULL) return;
    const char *p = text;
    while ((p = strstr(p, "parse error")) != NULL) {
        p += 11;
        const char *f = strstr(p, "File \"");
        if (f == NULL) break;
        f += 6;
        const char *fe = strchr(f, '"');
        if (fe == NULL) break;
        const char *l = strstr(fe, "line ");
        long line = l ? strtol(l + 5, NULL, 10) : 0;
        const char *a = strstr(fe, "around = '");
        char *around = NULL;
        if (a != NULL && a - fe < 200) {
            a += 10;
            const char *ae = strstr(a, "',");
            if (ae == NULL) ae = strchr(a, '\n');
            if (ae != NULL && ae - a < 80) around = strndup(a, (size_t)(ae - a));
        }
        char *file = strndup(f, (size_t)(fe - f));
        if (file == NULL) die_oom();
        /* spatch also parses its own output files; only the sources count. */
        if (strv_has(files, file))
            site_add(sites, file, line, "parse-error",
                     xprintf("spatch cannot parse the code%s%s%s; what it holds is not "
                             "migrated: migrate it by hand, or define the macro it uses "
                             "(docs/migrate.md)",
                             around && *around ? " near '" : " here", around ? around : "",
                             around && *around ? "'" : ""));
        free(file);
        free(around);
        p = fe;
    }
    free(text);
}

/* ---- the diff ---------------------------------------------------------------------------- */

struct changed {
    char *file;
    long *lines; /* lines of the original that the diff removes or replaces */
    size_t n, cap;
};

struct diffinfo {
    struct changed *v;
    size_t n, cap;
};

static struct changed *diff_file(struct diffinfo *d, const char *file) {
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->v = realloc(d->v, d->cap * sizeof *d->v);
        if (d->v == NULL) die_oom();
    }
    d->v[d->n] = (struct changed){xstrdup(file), NULL, 0, 0};
    return &d->v[d->n++];
}

static void changed_add(struct changed *c, long line) {
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->lines = realloc(c->lines, c->cap * sizeof *c->lines);
        if (c->lines == NULL) die_oom();
    }
    c->lines[c->n++] = line;
}

/* Copy spatch's diff from path to out (NULL: only read it), naming the new file like the old
 * one so that `patch -p0` applies it, and note which original lines it changes. */
static void pass_diff(const char *path, FILE *out, struct diffinfo *d) {
    char *text = slurp(path, NULL);
    if (text == NULL) return;
    struct changed *cur = NULL;
    long old = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "--- ", 4) == 0) {
            cur = diff_file(d, line + 4);
            if (out) fprintf(out, "%s\n", line);
            continue;
        }
        if (strncmp(line, "+++ ", 4) == 0 && cur != NULL) {
            if (out) fprintf(out, "+++ %s\n", cur->file);
            continue;
        }
        if (cur == NULL) continue;
        if (strncmp(line, "@@ -", 4) == 0) {
            old = strtol(line + 4, NULL, 10);
        } else if (line[0] == '-') {
            changed_add(cur, old++);
        } else if (line[0] == ' ') {
            old++;
        }
        if (out) fprintf(out, "%s\n", line);
    }
    free(text);
}

static bool line_changed(const struct diffinfo *d, const char *file, long from, long to) {
    for (size_t i = 0; i < d->n; i++) {
        if (strcmp(d->v[i].file, file) != 0) continue;
        for (size_t k = 0; k < d->v[i].n; k++)
            if (d->v[i].lines[k] >= from && d->v[i].lines[k] <= to) return true;
    }
    return false;
}

/* ---- macros that wrap the malloc family -------------------------------------------------- */

static const char *const family[] = {"malloc",
                                     "calloc",
                                     "realloc",
                                     "reallocarray",
                                     "free",
                                     "strdup",
                                     "strndup",
                                     "aligned_alloc",
                                     "posix_memalign",
                                     "memalign",
                                     "malloc_usable_size",
                                     NULL};

static const char *family_name(const char *s, size_t n) {
    for (size_t i = 0; family[i] != NULL; i++)
        if (strlen(family[i]) == n && memcmp(family[i], s, n) == 0) return family[i];
    return NULL;
}

static bool ident_char(char c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* If p starts a comment or a string or character literal, return the first byte after it
 * (counting newlines into *line); else return p. */
static char *skip_non_code(char *p, long *line) {
    if (p[0] == '/' && p[1] == '*') {
        for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
            if (*p == '\n') ++*line;
        return *p ? p + 2 : p;
    }
    if (p[0] == '/' && p[1] == '/') {
        while (*p && *p != '\n') p++;
        return p;
    }
    if (*p == '"' || *p == '\'') {
        char q = *p++;
        while (*p && *p != q && *p != '\n') p += (*p == '\\' && p[1]) ? 2 : 1;
        return *p == q ? p + 1 : p;
    }
    return p;
}

struct macro {
    char *file, *name;
    const char *calls;
    long first, last;
};

struct macros {
    struct macro *v;
    size_t n, cap;
};

/* Find each #define whose body names a function of the family (comments and string literals
 * do not count), before spatch runs. Reading only: the rewriting is spatch's. */
static void scan_macros(const char *file, struct macros *ms) {
    char *text = slurp(file, NULL);
    if (text == NULL) return;
    long line = 1;
    bool bol = true;
    for (char *p = text; *p;) {
        if (*p == '\n') {
            line++;
            bol = true;
            p++;
            continue;
        }
        char *after = skip_non_code(p, &line);
        if (after != p) {
            bol = bol && *p == '/';
            p = after;
            continue;
        }
        if (*p == ' ' || *p == '\t') {
            p++;
            continue;
        }
        if (bol && *p == '#') {
            char *q = p + 1;
            while (*q == ' ' || *q == '\t') q++;
            if (strncmp(q, "define", 6) == 0 && !ident_char(q[6])) {
                q += 6;
                while (*q == ' ' || *q == '\t') q++;
                char *name = q;
                while (ident_char(*q)) q++;
                size_t name_len = (size_t)(q - name);
                long first = line;
                const char *hit = NULL;
                /* The body runs to the first newline not escaped by a backslash. */
                while (*q && !(*q == '\n' && q[-1] != '\\')) {
                    if (*q == '\n') line++;
                    char *after = skip_non_code(q, &line);
                    if (after != q) {
                        q = after;
                        continue;
                    }
                    if (ident_char(*q) && !ident_char(q[-1])) {
                        char *s = q;
                        while (ident_char(*q)) q++;
                        const char *f = family_name(s, (size_t)(q - s));
                        if (f != NULL && hit == NULL) hit = f;
                        continue;
                    }
                    q++;
                }
                if (hit != NULL && name_len > 0) {
                    if (ms->n == ms->cap) {
                        ms->cap = ms->cap ? ms->cap * 2 : 16;
                        ms->v = realloc(ms->v, ms->cap * sizeof *ms->v);
                        if (ms->v == NULL) die_oom();
                    }
                    char *nm = strndup(name, name_len);
                    if (nm == NULL) die_oom();
                    ms->v[ms->n++] = (struct macro){xstrdup(file), nm, hit, first, line};
                }
                p = q;
                bol = false;
                continue;
            }
        }
        bol = false;
        p++;
    }
    free(text);
}

/* Report each macro: rewritten by spatch when the diff touches its lines, by hand otherwise. */
static void macro_sites(struct macros *ms, const struct diffinfo *d, struct sites *sites) {
    for (size_t i = 0; i < ms->n; i++) {
        const struct macro *m = &ms->v[i];
        bool done = line_changed(d, m->file, m->first, m->last);
        site_add(sites, m->file, m->first, "macro",
                 xprintf("macro %s wraps %s: %s", m->name, m->calls,
                         done ? "its body was rewritten, so every pointer its users pass or get "
                                "is alloy's now; check them, or move its users to the alloy API"
                              : "not rewritten (spatch did not parse it): migrate the macro by "
                                "hand"));
        free(m->file);
        free(m->name);
    }
    free(ms->v);
    *ms = (struct macros){0};
}

/* ---- the report and the summary ---------------------------------------------------------- */

/* Open the report before any work, so that a name in the way fails at once. */
static int open_report(const struct opts *o) {
    int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | (o->force ? O_TRUNC : O_EXCL);
    int fd = open(o->report, flags, 0644);
    if (fd < 0) {
        if (errno == EEXIST)
            cli_error(CMD, "%s exists; --force overwrites it", o->report);
        else
            cli_error(CMD, "cannot write %s: %s", o->report, strerror(errno));
    }
    return fd;
}

static int write_report(const struct opts *o, int fd, const struct sites *s) {
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        return 1;
    }
    fprintf(f,
            "# alloy migrate report: FILE:LINE: KIND: WHAT: WHY\n"
            "# kept: stays with libc on purpose; review: left alone, a person must decide;\n"
            "# parse-error: spatch skipped that code; macro: a macro wraps the malloc family.\n");
    for (size_t i = 0; i < s->n; i++)
        fprintf(f, "%s:%ld: %s: %s\n", s->v[i].file, s->v[i].line, s->v[i].kind, s->v[i].text);
    if (fclose(f) != 0) {
        cli_error(CMD, "cannot write %s: %s", o->report, strerror(errno));
        return 1;
    }
    return 0;
}

static size_t count_kind(const struct sites *s, const char *kind) {
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) n += strcmp(s->v[i].kind, kind) == 0;
    return n;
}

static void summary(FILE *f, const struct opts *o, size_t nfiles, size_t nchanged,
                    const struct tally *rw, const struct sites *s, double secs) {
    const char *b = cli_sgr(f, "\033[1m"), *r = cli_sgr(f, "\033[0m");
    const char *y = cli_sgr(f, "\033[33m");
    long total = 0;
    for (size_t i = 0; i < rw->n; i++) total += rw->v[i].n;
    fprintf(f, "%salloy migrate:%s %zu file%s, %zu %s, %ld rewrite%s in %.1f s%s\n", b, r, nfiles,
            nfiles == 1 ? "" : "s", nchanged, o->apply ? "changed" : "to change", total,
            total == 1 ? "" : "s", secs,
            o->apply ? "" : " (dry run: nothing written, --apply writes)");
    for (size_t i = 0; i < rw->n; i++) fprintf(f, "  %-34s %ld\n", rw->v[i].what, rw->v[i].n);
    fprintf(f, "  %-34s %zu\n", "kept with libc (libc's memory)", count_kind(s, "kept"));
    size_t review = count_kind(s, "review"), perr = count_kind(s, "parse-error");
    size_t macros = count_kind(s, "macro");
    fprintf(f, "  %s%-34s %zu%s\n", review ? y : "", "left for review", review, review ? r : "");
    fprintf(f, "  %s%-34s %zu%s\n", perr ? y : "", "not parsed (parse errors)", perr,
            perr ? r : "");
    fprintf(f, "  %-34s %zu\n", "macros wrapping the malloc family", macros);
    size_t shown = 0;
    for (size_t i = 0; i < s->n && shown < 10; i++) {
        if (strcmp(s->v[i].kind, "kept") == 0) continue;
        fprintf(f, "    %s:%ld: %s: %s\n", s->v[i].file, s->v[i].line, s->v[i].kind, s->v[i].text);
        shown++;
    }
    if (review + perr + macros > shown)
        fprintf(f, "    ... %zu more%s\n", review + perr + macros - shown,
                o->report ? " in the report" : " (--report FILE lists them all)");
    else if (o->report)
        fprintf(f, "  report: %s\n", o->report);
    fprintf(f,
            "%sbuild against alloy:%s\n"
            "  pkg-config: cc $(pkg-config --cflags alloy) ... $(pkg-config --libs alloy)\n"
            "  CMake:      find_package(alloy REQUIRED)\n"
            "              target_link_libraries(<target> PRIVATE alloy::alloy)\n",
            b, r);
}

/* ---- the command ------------------------------------------------------------------------- */

static int parse_args(int argc, char **argv, struct opts *o) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o->jobs = cpus > 0 ? (unsigned)(cpus < MAX_JOBS ? cpus : MAX_JOBS) : 1;
    bool only_paths = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_paths || a[0] != '-' || strcmp(a, "-") == 0) {
            strv_push(&o->paths, xstrdup(a));
        } else if (strcmp(a, "--") == 0) {
            only_paths = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(help, stdout);
            return -1;
        } else if (strcmp(a, "--apply") == 0) {
            o->apply = true;
        } else if (strcmp(a, "--sized") == 0) {
            o->sized = true;
        } else if (strcmp(a, "--force") == 0) {
            o->force = true;
        } else if (strcmp(a, "--report") == 0 || strcmp(a, "--exclude") == 0 ||
                   strcmp(a, "--jobs") == 0) {
            if (i + 1 == argc || argv[i + 1][0] == '\0')
                return cli_usage_error(CMD, "%s needs a value", a);
            const char *v = argv[++i];
            if (a[2] == 'r') {
                o->report = v;
            } else if (a[2] == 'e') {
                strv_push(&o->excludes, xstrdup(v));
            } else {
                char *end;
                errno = 0;
                long n = strtol(v, &end, 10);
                if (errno != 0 || *end != '\0' || n < 1 || n > MAX_JOBS)
                    return cli_usage_error(CMD, "--jobs takes a number from 1 to %d", MAX_JOBS);
                o->jobs = (unsigned)n;
            }
        } else {
            return cli_usage_error(CMD, "unknown option '%s'", a);
        }
    }
    if (o->paths.n == 0) return cli_usage_error(CMD, "no PATH given");
    for (size_t i = 0; i < o->paths.n; i++) {
        struct stat st;
        if (stat(o->paths.v[i], &st) != 0)
            return cli_usage_error(CMD, "%s: %s", o->paths.v[i], strerror(errno));
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
            return cli_usage_error(CMD, "%s is neither a file nor a directory", o->paths.v[i]);
    }
    return 0;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The taint lines of the first pass ("func NAME", ...) and those of prev, sorted, without
 * repeats, joined by ';'. */
static char *collect_taint(struct job *jobs, unsigned n, const char *prev) {
    struct strv items = {0};
    char *old = xstrdup(prev);
    char *save = NULL;
    for (char *l = strtok_r(old, ";", &save); l; l = strtok_r(NULL, ";", &save))
        if (!strv_has(&items, l)) strv_push(&items, xstrdup(l));
    free(old);
    for (unsigned j = 0; j < n; j++) {
        char *text = slurp(jobs[j].out, NULL);
        if (text == NULL) continue;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
            if (!strv_has(&items, l) && strchr(l, ';') == NULL) strv_push(&items, xstrdup(l));
        free(text);
    }
    if (items.n > 0) qsort(items.v, items.n, sizeof *items.v, cmp_str);
    size_t len = 1;
    for (size_t i = 0; i < items.n; i++) len += strlen(items.v[i]) + 1;
    char *s = malloc(len);
    if (s == NULL) die_oom();
    s[0] = '\0';
    for (size_t i = 0; i < items.n; i++) {
        strcat(s, items.v[i]);
        strcat(s, ";");
    }
    strv_free(&items);
    return s;
}

/* The first pass, until a round finds nothing new (memory followed through one more call per
 * round; at most MAX_ROUNDS). NULL when spatch failed. */
#define MAX_ROUNDS 4
static char *analyse_rounds(struct run *r, const char *sp_file, struct job *jobs) {
    char *taint = xstrdup("");
    for (int round = 0; round < MAX_ROUNDS; round++) {
        int failed = run_pass(r, "analyse", sp_file, false, taint, jobs);
        char *next = failed ? NULL : collect_taint(jobs, r->jobs, taint);
        job_cleanup(jobs, MAX_JOBS);
        bool same = next != NULL && strcmp(next, taint) == 0;
        free(taint);
        taint = next;
        if (taint == NULL || same) break;
    }
    return taint;
}

int cmd_migrate(int argc, char **argv) {
    struct opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc != 0) {
        strv_free(&o.paths);
        strv_free(&o.excludes);
        return rc < 0 ? 0 : rc;
    }
    int report_fd = -1;
    if (o.report != NULL && (report_fd = open_report(&o)) < 0) {
        strv_free(&o.paths);
        strv_free(&o.excludes);
        return 1;
    }
    double t0 = now();
    struct run r = {.o = &o, .jobs = o.jobs};
    r.cocci_dir = cocci_dir();
    char *analyse = xprintf("%s/analyse.cocci", r.cocci_dir);
    char *migrate = xprintf("%s/migrate.cocci", r.cocci_dir);
    if (!is_file(analyse) || !is_file(migrate)) {
        cli_error(CMD, "no semantic patches in %s (set ALLOY_MIGRATE_DIR)", r.cocci_dir);
        return 1;
    }

    /* Files, and compile_commands.json where a PATH directory (or its build/) has one. */
    struct strv defs = {0};
    for (size_t i = 0; i < o.paths.n; i++) {
        const char *p = o.paths.v[i];
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            walk(&o, p, &r.files);
            char *cc = xprintf("%s/compile_commands.json", p);
            char *cb = xprintf("%s/build/compile_commands.json", p);
            read_compile_commands(is_file(cc) ? cc : cb, &r.incs, &defs);
            free(cc);
            free(cb);
        } else if (!strv_has(&r.files, p)) {
            strv_push(&r.files, xstrdup(p));
        }
    }

    char tmpl[] = "/tmp/alloy-migrate-XXXXXX";
    const char *tmpdir = getenv("TMPDIR");
    char *tmp_template =
        tmpdir && *tmpdir ? xprintf("%s/alloy-migrate-XXXXXX", tmpdir) : xstrdup(tmpl);
    if (mkdtemp(tmp_template) == NULL) {
        cli_error(CMD, "cannot make a temporary directory: %s", strerror(errno));
        return 1;
    }
    r.tmp = tmp_template;
    if (defs.n > 0) {
        r.macro_file = xprintf("%s/macros.h", r.tmp);
        FILE *m = fopen(r.macro_file, "w");
        if (m != NULL) {
            for (size_t i = 0; i < defs.n; i++) {
                char *eq = strchr(defs.v[i], '=');
                if (eq != NULL)
                    fprintf(m, "#define %.*s %s\n", (int)(eq - defs.v[i]), defs.v[i], eq + 1);
                else
                    fprintf(m, "#define %s 1\n", defs.v[i]);
            }
            fclose(m);
        } else {
            free(r.macro_file);
            free(r.job_of);
            r.macro_file = NULL;
        }
    }

    struct job jobs[MAX_JOBS] = {{0}};
    struct sites sites = {0};
    struct tally rw = {0};
    struct diffinfo diff = {0};
    char *taint = analyse_rounds(&r, analyse, jobs);
    int failed = taint == NULL;
    struct macros macros = {0};
    for (size_t i = 0; i < r.files.n; i++) scan_macros(r.files.v[i], &macros);
    if (!failed) failed = run_pass(&r, "migrate", migrate, o.apply, taint, jobs);
    if (!failed) {
        unsigned nj = r.jobs < r.files.n ? r.jobs : (unsigned)r.files.n;
        for (unsigned j = 0; j < nj; j++) {
            read_decisions(jobs[j].out, &sites, &rw);
            read_parse_errors(jobs[j].stderr_path, &r.files, &sites);
            pass_diff(jobs[j].stdout_path, o.apply ? NULL : stdout, &diff);
        }
        macro_sites(&macros, &diff, &sites);
        if (sites.n > 0) qsort(sites.v, sites.n, sizeof *sites.v, cmp_site);
        if (report_fd >= 0 && write_report(&o, report_fd, &sites) != 0) failed = 1;
        report_fd = -1; /* write_report closed it */
        fflush(stdout);
        summary(o.apply ? stdout : stderr, &o, r.files.n, diff.n, &rw, &sites, now() - t0);
    }
    job_cleanup(jobs, MAX_JOBS);
    if (r.macro_file != NULL) unlink(r.macro_file);
    if (report_fd >= 0 && failed) close(report_fd);
    rmdir(r.tmp);

    free(taint);
    free(r.macro_file);
    free(r.job_of);
    free(tmp_template);
    free(analyse);
    free(migrate);
    free((char *)r.cocci_dir);
    for (size_t i = 0; i < sites.n; i++) {
        free(sites.v[i].file);
        free(sites.v[i].kind);
        free(sites.v[i].text);
    }
    free(sites.v);
    for (size_t i = 0; i < rw.n; i++) free(rw.v[i].what);
    for (size_t i = 0; i < diff.n; i++) {
        free(diff.v[i].file);
        free(diff.v[i].lines);
    }
    free(diff.v);
    strv_free(&r.files);
    strv_free(&r.incs);
    strv_free(&defs);
    strv_free(&o.paths);
    strv_free(&o.excludes);
    return failed ? 1 : 0;
}
