/* SPDX-License-Identifier: MIT */
/* runner.c - measured, interleaved runs of a command under backend specs (see runner.h). */
#define _GNU_SOURCE
#include "runner.h"

#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- specs ------------------------------------------------------------------------------- */

bool cli_spec_name(const char *spec, char *name, size_t n) {
    const char *colon = strchr(spec, ':');
    size_t l = colon ? (size_t)(colon - spec) : strlen(spec);
    if (l >= n) return false;
    memcpy(name, spec, l);
    name[l] = '\0';
    return true;
}

const char *cli_spec_path(const char *spec) {
    const char *colon = strchr(spec, ':');
    return colon ? colon + 1 : NULL;
}

bool cli_spec_check(const char *spec, char *err, size_t errlen) {
    char name[64];
    if (!cli_spec_name(spec, name, sizeof name) || !cli_backend_known(name)) {
        snprintf(err, errlen, "unknown backend '%.*s' in '%s' (this build has: %s)",
                 (int)strcspn(spec, ":"), spec, spec, cli_backend_names());
        return false;
    }
    const char *path = cli_spec_path(spec);
    if (path == NULL) return true;
    struct stat st;
    if (*path == '\0') {
        snprintf(err, errlen, "backend '%s' has an empty library path (NAME:PATH)", spec);
        return false;
    }
    /* liballoy takes absolute paths only: a child may start in another directory. */
    if (*path != '/') {
        snprintf(err, errlen, "backend library '%s' must be an absolute path", path);
        return false;
    }
    if (stat(path, &st) != 0 || access(path, R_OK) != 0) {
        snprintf(err, errlen, "backend library '%s': %s", path, strerror(errno));
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "backend library '%s' is not a regular file", path);
        return false;
    }
    return true;
}

/* ---- before running ---------------------------------------------------------------------- */

/* True when path is a regular file this process may execute. */
static bool executable_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

bool cli_command_runnable(const char *prog) {
    if (*prog == '\0') return false;
    if (strchr(prog, '/') != NULL) return executable_file(prog);
    const char *path = getenv("PATH");
    if (path == NULL) path = "/bin:/usr/bin"; /* execvp's default */
    char buf[4096];
    for (const char *p = path;;) {
        size_t l = strcspn(p, ":");
        /* An empty element is the current directory, as for execvp. */
        int w = snprintf(buf, sizeof buf, "%.*s%s%s", (int)l, l ? p : ".", "/", prog);
        if (w > 0 && (size_t)w < sizeof buf && executable_file(buf)) return true;
        if (p[l] == '\0') return false;
        p += l + 1;
    }
}

/* ---- one run ----------------------------------------------------------------------------- */

bool cli_run_stopped(int sig) {
    return sig == SIGINT || sig == SIGQUIT || sig == SIGTERM || sig == SIGHUP;
}

bool cli_run_ok(const cli_run_result *r) {
    return r->exit_code == 0;
}

const char *cli_run_describe(const cli_run_result *r, char *buf, size_t n) {
    if (r->timed_out)
        snprintf(buf, n, "timed out after %.0f s", r->wall_s);
    else if (r->signal != 0)
        snprintf(buf, n, "killed by signal %d (%s)", r->signal, strsignal(r->signal));
    else if (r->exit_code < 0 && r->status == 127)
        snprintf(buf, n, "command not found");
    else if (r->exit_code < 0 && r->status == 126)
        snprintf(buf, n, "command cannot be run");
    else if (r->exit_code < 0)
        snprintf(buf, n, "not run");
    else
        snprintf(buf, n, "exit status %d", r->exit_code);
    return buf;
}

bool cli_run_env(cli_env *e, const cli_run_spec *s) {
    if (!cli_env_init(e)) {
        errno = ENOMEM;
        return false;
    }
    bool ok = cli_env_alloy(e, s->spec);
    int saved = errno;
    for (const char *const *v = s->env; ok && v != NULL && *v != NULL; v++) {
        const char *eq = strchr(*v, '=');
        if (eq == NULL) continue;
        char name[256];
        size_t l = (size_t)(eq - *v);
        if (l == 0 || l >= sizeof name) continue;
        memcpy(name, *v, l);
        name[l] = '\0';
        ok = cli_env_set(e, name, eq + 1);
        saved = ENOMEM;
    }
    if (!ok) {
        cli_env_free(e);
        errno = saved;
    }
    return ok;
}

/* All of fd's file (from its start) as a NUL-terminated string; NULL on failure. */
static char *slurp(int fd) {
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < 0 || lseek(fd, 0, SEEK_SET) < 0) return NULL;
    char *buf = malloc((size_t)size + 1);
    if (buf == NULL) return NULL;
    size_t got = 0;
    while (got < (size_t)size) {
        ssize_t k = read(fd, buf + got, (size_t)size - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    buf[got] = '\0';
    return buf;
}

/* The last non-empty line of text into out. */
static void last_line(const char *text, char *out, size_t n) {
    out[0] = '\0';
    if (text == NULL) return;
    size_t end = strlen(text);
    while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r')) end--;
    size_t start = end;
    while (start > 0 && text[start - 1] != '\n') start--;
    size_t l = end - start < n - 1 ? end - start : n - 1;
    memcpy(out, text + start, l);
    out[l] = '\0';
}

/* CLI_RUN_TIMEOUT: a tick that kills the child once its time is up. */
typedef struct deadline {
    const cli_child_end *end;
    double seconds, start;
    bool fired;
} deadline;

static void deadline_tick(void *arg, bool ended) {
    deadline *d = arg;
    if (!ended && !d->fired && d->end->pid > 0 && cli_monotonic_s() - d->start >= d->seconds) {
        cli_child_signal(d->end, SIGKILL);
        d->fired = true;
    }
}

/* A file that vanishes when closed, for the child's output. */
static int temp_fd(void) {
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/alloy-run-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) unlink(path);
    return fd;
}

bool cli_run_once(const char *cmd, char *const argv[], const cli_run_spec *s, unsigned flags,
                  cli_run_result *r) {
    *r = (cli_run_result){.exit_code = -1, .status = -1};
    cli_env env;
    if (!cli_run_env(&env, s)) return false;
    int out_fd = -1, err_fd = -1, null_fd = -1;
    bool ok = true;
    if (flags & CLI_RUN_CAPTURE) ok = (out_fd = temp_fd()) >= 0;
    if (ok && (flags & CLI_RUN_QUIET)) {
        ok = (err_fd = temp_fd()) >= 0;
        if (ok && out_fd < 0)
            ok = (out_fd = null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) >= 0;
    }
    if (ok) {
        cli_child_opts o = CLI_CHILD_OPTS_INIT;
        o.out_fd = out_fd;
        o.err_fd = err_fd;
        o.own_group = true;
        cli_child_end end;
        deadline dl = {&end, (double)(flags >> 8), cli_monotonic_s(), false};
        if (flags >> 8) {
            o.tick = deadline_tick;
            o.arg = &dl;
            o.tick_ms = 50;
        }
        fflush(stdout);
        fflush(stderr);
        r->status = cli_child_spawn(cmd, argv, env.v, &o, &end);
        r->timed_out = dl.fired;
        r->wall_s = end.wall_s;
        r->user_s = (double)end.ru.ru_utime.tv_sec + (double)end.ru.ru_utime.tv_usec * 1e-6;
        r->sys_s = (double)end.ru.ru_stime.tv_sec + (double)end.ru.ru_stime.tv_usec * 1e-6;
        r->max_rss_kb = end.ru.ru_maxrss;
        if (end.pid != 0 && WIFEXITED(end.wstatus))
            r->exit_code = WEXITSTATUS(end.wstatus);
        else if (end.pid != 0 && WIFSIGNALED(end.wstatus))
            r->signal = WTERMSIG(end.wstatus);
        if ((flags & CLI_RUN_CAPTURE) && (r->out = slurp(out_fd)) == NULL) {
            ok = false;
            errno = ENOMEM;
        }
        if (err_fd >= 0) {
            char *e = slurp(err_fd);
            last_line(e, r->err_line, sizeof r->err_line);
            free(e);
        }
    }
    int saved = errno;
    if (out_fd >= 0) close(out_fd);
    if (err_fd >= 0) close(err_fd);
    (void)null_fd; /* closed as out_fd */
    cli_env_free(&env);
    errno = saved;
    return ok;
}

void cli_run_result_free(cli_run_result *r) {
    free(r->out);
    r->out = NULL;
}

/* ---- what a spec loads ------------------------------------------------------------------- */

bool cli_probe_spec(const char *cmd, const char *self, const cli_run_spec *s, cli_probe *p) {
    *p = (cli_probe){.state = CLI_PROBE_NO_ANSWER};
    char *argv[] = {(char *)self, "bench", "--probe", NULL};
    cli_run_result r;
    unsigned flags = CLI_RUN_CAPTURE | CLI_RUN_QUIET | CLI_RUN_TIMEOUT(CLI_PROBE_TIMEOUT_S);
    if (!cli_run_once(cmd, argv, s, flags, &r)) return false;
    cli_run_describe(&r, p->how, sizeof p->how);
    snprintf(p->err_line, sizeof p->err_line, "%s", r.err_line);
    js_doc d = {0};
    char err[160];
    if (r.signal != 0 && !r.timed_out && !cli_run_stopped(r.signal)) {
        p->state = CLI_PROBE_CRASHED;
    } else if (cli_run_ok(&r) && r.out != NULL &&
               js_parse(&d, r.out, strlen(r.out), err, sizeof err) &&
               js_str(d.root, "name") != NULL) {
        const char *version = js_str(d.root, "version"), *library = js_str(d.root, "library");
        snprintf(p->name, sizeof p->name, "%s", js_str(d.root, "name"));
        snprintf(p->version, sizeof p->version, "%s", version ? version : "?");
        snprintf(p->library, sizeof p->library, "%s", library ? library : "");
        char want[64] = "";
        if (s->spec != NULL) cli_spec_name(s->spec, want, sizeof want);
        bool by_path = s->spec != NULL && cli_spec_path(s->spec) != NULL;
        p->state =
            (s->spec == NULL || strcmp(want, p->name) == 0) && (!by_path || p->library[0] != '\0')
                ? CLI_PROBE_LOADED
                : CLI_PROBE_OTHER;
    }
    js_free(&d);
    cli_run_result_free(&r);
    return true;
}

/* ---- many runs --------------------------------------------------------------------------- */

bool cli_run_interleaved(const char *cmd, char *const argv[], const cli_run_spec *specs,
                         size_t nspecs, unsigned rounds, unsigned flags, cli_run_result *results,
                         cli_run_progress_fn progress, void *arg) {
    size_t total = (size_t)rounds * nspecs;
    for (size_t i = 0; i < total; i++) results[i] = (cli_run_result){.exit_code = -1, .status = -1};
    for (unsigned round = 0; round < rounds; round++)
        for (size_t s = 0; s < nspecs; s++) {
            if (progress != NULL && !progress(arg, round, rounds, s)) return false;
            if (!cli_run_once(cmd, argv, &specs[s], flags, &results[(size_t)round * nspecs + s]))
                return false;
        }
    return true;
}
