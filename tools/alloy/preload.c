/* SPDX-License-Identifier: MIT */
/* preload.c - the override library, the child's environment, running the child. */
#define _GNU_SOURCE
#include "preload.h"

#include "commands.h"

#include <alloy.h>

#include <dirent.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define OVERRIDE_NAME "liballoy-override.so"

static bool is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

bool cli_self_exe(char *buf, size_t n) {
    ssize_t k = readlink("/proc/self/exe", buf, n - 1);
    if (k <= 0 || (size_t)k >= n - 1) {
        if (k > 0) errno = ENAMETOOLONG;
        return false;
    }
    buf[k] = '\0';
    return true;
}

/* The directory of this executable, without a trailing slash; false if unknown. */
static bool self_dir(char *buf, size_t n) {
    if (!cli_self_exe(buf, n)) return false;
    char *slash = strrchr(buf, '/');
    if (slash == NULL) return false;
    *slash = '\0';
    return true;
}

const char *cli_override_library(void) {
    static char path[PATH_MAX];
    const char *env = getenv("ALLOY_OVERRIDE_LIB");
    if (env != NULL && *env != '\0') {
        if (!is_file(env)) {
            errno = ENOENT;
            return NULL;
        }
        snprintf(path, sizeof path, "%s", env);
        return path;
    }
    char dir[PATH_MAX], real_build[PATH_MAX];
    if (self_dir(dir, sizeof dir)) {
        /* From the build tree: the library the same build made. */
        if (realpath(ALLOY_TOOL_BUILD_DIR, real_build) != NULL && strcmp(dir, real_build) == 0 &&
            is_file(ALLOY_OVERRIDE_BUILD_PATH)) {
            snprintf(path, sizeof path, "%s", ALLOY_OVERRIDE_BUILD_PATH);
            return path;
        }
        /* Installed: <prefix>/<bindir>/alloy -> <prefix>/<libdir>/liballoy-override.so, which
         * keeps a relocated install (DESTDIR, a moved prefix) working. */
        size_t dl = strlen(dir), bl = strlen(ALLOY_TOOL_REL_BINDIR);
        if (dl > bl && strcmp(dir + dl - bl, ALLOY_TOOL_REL_BINDIR) == 0 &&
            dir[dl - bl - 1] == '/') {
            dir[dl - bl - 1] = '\0';
            int w =
                snprintf(path, sizeof path, "%s/%s/%s", dir, ALLOY_TOOL_REL_LIBDIR, OVERRIDE_NAME);
            if (w > 0 && (size_t)w < sizeof path && is_file(path)) return path;
        }
    }
    snprintf(path, sizeof path, "%s/%s", ALLOY_TOOL_FULL_LIBDIR, OVERRIDE_NAME);
    if (is_file(path)) return path;
    errno = ENOENT;
    return NULL;
}

/* ---- environment ------------------------------------------------------------------------- */

static bool grow(cli_env *e) {
    if (e->n + 2 <= e->cap) return true;
    size_t cap = e->cap ? e->cap * 2 : 64;
    char **v = realloc(e->v, cap * sizeof *v);
    if (v == NULL) return false;
    e->v = v;
    e->cap = cap;
    return true;
}

bool cli_env_init(cli_env *e) {
    *e = (cli_env){0};
    for (char **p = environ; p != NULL && *p != NULL; p++) {
        if (!grow(e)) return false;
        if ((e->v[e->n] = strdup(*p)) == NULL) return false;
        e->n++;
        e->v[e->n] = NULL;
    }
    if (!grow(e)) return false;
    e->v[e->n] = NULL;
    return true;
}

static ssize_t find_var(const cli_env *e, const char *name) {
    size_t l = strlen(name);
    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->v[i], name, l) == 0 && e->v[i][l] == '=') return (ssize_t)i;
    return -1;
}

const char *cli_env_get(const cli_env *e, const char *name) {
    ssize_t i = find_var(e, name);
    return i < 0 ? NULL : e->v[i] + strlen(name) + 1;
}

bool cli_env_set(cli_env *e, const char *name, const char *value) {
    size_t l = strlen(name) + strlen(value) + 2;
    char *s = malloc(l);
    if (s == NULL) return false;
    snprintf(s, l, "%s=%s", name, value);
    ssize_t i = find_var(e, name);
    if (i >= 0) {
        free(e->v[i]);
        e->v[i] = s;
        return true;
    }
    if (!grow(e)) {
        free(s);
        return false;
    }
    e->v[e->n++] = s;
    e->v[e->n] = NULL;
    return true;
}

void cli_env_unset(cli_env *e, const char *name) {
    ssize_t i = find_var(e, name);
    if (i < 0) return;
    free(e->v[i]);
    memmove(&e->v[i], &e->v[i + 1], (e->n - (size_t)i) * sizeof *e->v);
    e->n--;
}

bool cli_env_preload(cli_env *e, const char *lib) {
    const char *old = cli_env_get(e, "LD_PRELOAD");
    if (old == NULL || *old == '\0') return cli_env_set(e, "LD_PRELOAD", lib);
    size_t l = strlen(lib) + strlen(old) + 2;
    char *s = malloc(l);
    if (s == NULL) return false;
    snprintf(s, l, "%s:%s", lib, old);
    bool ok = cli_env_set(e, "LD_PRELOAD", s);
    free(s);
    return ok;
}

bool cli_env_tunable(cli_env *e, const char *tunable, const char *value) {
    const char *old = cli_env_get(e, "GLIBC_TUNABLES");
    size_t tl = strlen(tunable);
    size_t cap = (old ? strlen(old) : 0) + tl + strlen(value) + 3;
    char *s = malloc(cap);
    if (s == NULL) return false;
    size_t n = 0;
    /* Keep every other tunable, in order; GLIBC_TUNABLES is name=value pairs joined by ':'. */
    for (const char *p = old; p != NULL && *p != '\0';) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        bool same = len > tl && strncmp(p, tunable, tl) == 0 && p[tl] == '=';
        if (len > 0 && !same) {
            if (n > 0) s[n++] = ':';
            memcpy(s + n, p, len);
            n += len;
        }
        p = end ? end + 1 : p + len;
    }
    if (n > 0) s[n++] = ':';
    n += (size_t)snprintf(s + n, cap - n, "%s=%s", tunable, value);
    bool ok = cli_env_set(e, "GLIBC_TUNABLES", s);
    free(s);
    return ok;
}

bool cli_env_alloy(cli_env *e, const char *backend) {
    const char *lib = cli_override_library();
    if (lib == NULL) return false;
    if (!cli_env_preload(e, lib)) return false;
    if (backend != NULL && !cli_env_set(e, "ALLOY_BACKEND", backend)) return false;
    /* jemalloc needs ~2.6 KiB of static TLS, more than glibc keeps for libraries loaded after
     * start-up; the room costs nothing when unused, so every child gets it. */
    return cli_env_tunable(e, "glibc.rtld.optional_static_tls", "4096");
}

void cli_env_free(cli_env *e) {
    for (size_t i = 0; i < e->n; i++) free(e->v[i]);
    free(e->v);
    *e = (cli_env){0};
}

/* ---- the child --------------------------------------------------------------------------- */

/* The running child, negative for its process group (own_group). */
static volatile sig_atomic_t child_pid;

static void pass_on(int sig) {
    if (child_pid != 0) kill((pid_t)child_pid, sig);
}

void cli_child_signal(const cli_child_end *end, int sig) {
    if (end->pid > 0) kill(end->own_group ? -end->pid : end->pid, sig);
}

/* VmRSS of /proc/<pid>/status in KiB, or -1. */
static long rss_of(const char *pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%s/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

/* The process group of /proc/<pid>/stat, or -1. */
static long pgrp_of(const char *pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = '\0';
    /* pid (comm) state ppid pgrp ...: comm may hold anything, so parse after its last ')'. */
    const char *p = strrchr(buf, ')');
    char state;
    long ppid, pgrp;
    if (p == NULL || sscanf(p + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3) return -1;
    return pgrp;
}

long cli_child_rss_kb(const cli_child_end *end) {
    char self[24];
    if (end->pid <= 0) return -1;
    snprintf(self, sizeof self, "%d", (int)end->pid);
    if (!end->own_group) return rss_of(self);
    DIR *d = opendir("/proc");
    if (d == NULL) return rss_of(self);
    long sum = -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9' || pgrp_of(e->d_name) != (long)end->pid)
            continue;
        long kb = rss_of(e->d_name);
        if (kb >= 0) sum = (sum < 0 ? 0 : sum) + kb;
    }
    closedir(d);
    return sum;
}

static void wait_tick(pid_t pid, int pidfd, unsigned tick_ms) {
    if (pidfd >= 0) {
        struct pollfd p = {.fd = pidfd, .events = POLLIN};
        (void)poll(&p, 1, (int)tick_ms);
        return;
    }
    (void)pid;
    struct timespec ts = {(time_t)(tick_ms / 1000u), (long)(tick_ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

double cli_monotonic_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cli_child_run(const char *cmd, char *const argv[], char *const envp[], cli_tick_fn tick,
                  void *arg, unsigned tick_ms, pid_t *pid_out) {
    cli_child_opts o = CLI_CHILD_OPTS_INIT;
    o.tick = tick;
    o.arg = arg;
    o.tick_ms = tick_ms;
    cli_child_end end;
    int rc = cli_child_spawn(cmd, argv, envp, &o, &end);
    if (pid_out != NULL) *pid_out = end.pid;
    return rc;
}

int cli_child_spawn(const char *cmd, char *const argv[], char *const envp[],
                    const cli_child_opts *o, cli_child_end *end) {
    cli_child_end scratch;
    if (end == NULL) end = &scratch;
    *end = (cli_child_end){0};
    cli_tick_fn tick = o->tick;
    struct sigaction ign = {.sa_handler = SIG_IGN}, fwd = {.sa_handler = pass_on}, o_int, o_quit,
                     o_term, o_hup;
    sigemptyset(&ign.sa_mask);
    sigemptyset(&fwd.sa_mask);
    fwd.sa_flags = SA_RESTART;

    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGQUIT);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGHUP);
    posix_spawnattr_setsigdefault(&at, &def);
    short flags = POSIX_SPAWN_SETSIGDEF;
    if (o->own_group) {
        flags |= POSIX_SPAWN_SETPGROUP;
        posix_spawnattr_setpgroup(&at, 0);
    }
    posix_spawnattr_setflags(&at, flags);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (o->out_fd >= 0) posix_spawn_file_actions_adddup2(&fa, o->out_fd, STDOUT_FILENO);
    if (o->err_fd >= 0) posix_spawn_file_actions_adddup2(&fa, o->err_fd, STDERR_FILENO);

    /* In its own group the child no longer gets the terminal's ^C and ^\: pass them on. */
    sigaction(SIGINT, o->own_group ? &fwd : &ign, &o_int);
    sigaction(SIGQUIT, o->own_group ? &fwd : &ign, &o_quit);
    sigaction(SIGTERM, &fwd, &o_term);
    sigaction(SIGHUP, &fwd, &o_hup);

    pid_t pid;
    double t0 = cli_monotonic_s();
    int err = posix_spawnp(&pid, argv[0], &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    int rc;
    if (err != 0) {
        cli_error(cmd, "cannot run '%s': %s", argv[0], strerror(err));
        rc = err == ENOENT ? 127 : 126;
    } else {
        end->own_group = o->own_group;
        child_pid = o->own_group ? -pid : pid;
        end->pid = pid;
        int pidfd = -1;
#ifdef SYS_pidfd_open
        if (tick != NULL) pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
        int st = 0;
        for (;;) {
            pid_t w = wait4(pid, &st, tick != NULL ? WNOHANG : 0, &end->ru);
            if (w == pid) break;
            if (w < 0 && errno != EINTR) {
                st = 0;
                break;
            }
            if (w == 0) {
                wait_tick(pid, pidfd, o->tick_ms);
                tick(o->arg, false);
            }
        }
        end->wall_s = cli_monotonic_s() - t0;
        end->wstatus = st;
        if (pidfd >= 0) close(pidfd);
        child_pid = 0;
        /* What the child started in its group does not outlive it (a shell's background job
         * would otherwise run on into the next measured run). */
        if (o->own_group) kill(-pid, SIGKILL);
        if (tick != NULL) tick(o->arg, true);
        if (WIFEXITED(st))
            rc = WEXITSTATUS(st);
        else if (WIFSIGNALED(st))
            rc = 128 + WTERMSIG(st);
        else
            rc = 1;
    }
    sigaction(SIGINT, &o_int, NULL);
    sigaction(SIGQUIT, &o_quit, NULL);
    sigaction(SIGTERM, &o_term, NULL);
    sigaction(SIGHUP, &o_hup, NULL);
    return rc;
}

/* ---- report files ------------------------------------------------------------------------ */

bool cli_output_check(const char *path, bool force, char *err, size_t errlen) {
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (S_ISLNK(st.st_mode)) {
            snprintf(err, errlen, "%s is a symbolic link (not followed, even with --force)", path);
            return false;
        }
        if (!S_ISREG(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a regular file", path);
            return false;
        }
        if (!force) {
            snprintf(err, errlen, "%s exists (--force replaces it)", path);
            return false;
        }
    } else if (errno != ENOENT) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return false;
    }
    char dir[4096];
    int w = snprintf(dir, sizeof dir, "%s", path);
    if (w < 0 || (size_t)w >= sizeof dir) {
        snprintf(err, errlen, "cannot write %.200s...: path too long", path);
        return false;
    }
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else
        slash[slash == dir ? 1 : 0] = '\0';
    const char *why = NULL;
    if (stat(dir, &st) != 0)
        why = strerror(errno);
    else if (!S_ISDIR(st.st_mode))
        why = "not a directory";
    else if (access(dir, W_OK | X_OK) != 0)
        why = strerror(errno);
    if (why != NULL) {
        snprintf(err, errlen, "cannot write %s: %s: %s", path, dir, why);
        return false;
    }
    return true;
}

/* The real path of p's directory, then '/' and p's last component, into out (PATH_MAX). */
static bool real_output(const char *p, char *out) {
    char dir[PATH_MAX], real[PATH_MAX];
    const char *slash = strrchr(p, '/'), *base = slash ? slash + 1 : p;
    size_t dl = slash == NULL ? 0 : slash == p ? 1 : (size_t)(slash - p);
    if (dl >= sizeof dir) return false;
    if (dl == 0)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)dl, p);
    if (realpath(dir, real) == NULL) return false;
    int w = snprintf(out, PATH_MAX, "%s/%s", real, base);
    return w > 0 && w < PATH_MAX;
}

bool cli_same_output(const char *a, const char *b) {
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    char ra[PATH_MAX], rb[PATH_MAX];
    if (real_output(a, ra) && real_output(b, rb)) return strcmp(ra, rb) == 0;
    return strcmp(a, b) == 0;
}

FILE *cli_output_open(const char *cmd, const char *path, bool force) {
    int fd =
        open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        int e = errno;
        if (fd >= 0) close(fd);
        cli_error(cmd, "cannot write %s: %s%s", path, strerror(e),
                  e == EEXIST ? " (--force replaces it)" : "");
    }
    return f;
}

/* ---- backends ---------------------------------------------------------------------------- */

const char *cli_backend_names(void) {
    return alloy_backend_list();
}

bool cli_backend_known(const char *name) {
    const char *list = alloy_backend_list();
    size_t l = strlen(name);
    if (l == 0) return false;
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += l)
        if ((p == list || p[-1] == ' ') && (p[l] == '\0' || p[l] == ' ')) return true;
    return false;
}
