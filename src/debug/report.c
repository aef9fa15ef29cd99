/* SPDX-License-Identifier: MIT */
/* src/debug/report.c - one screen per problem on stderr, one JSON line per problem in a file.
 *
 * Text is built in a fixed buffer and written with write(2), so a report
 * never allocates through stdio (it may through the symbolizer, which runs
 * with `inside` raised). The JSON file is streamed: every problem is written
 * as soon as it is found, so a program that aborts or _exits leaves a usable
 * file. The file is created with O_EXCL | O_NOFOLLOW (never clobbered, never
 * through a symlink) unless ALLOY_DEBUG_REPORT_OVERWRITE=1; "%p" becomes the pid.
 */
#define _GNU_SOURCE
#include "debug_internal.h"
#include "../env.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- output buffer ------------------------------------------------------------ */

typedef struct out {
    int fd;
    size_t n;
    char buf[8192];
} out;

bool alloy__dbg_write(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        s += w;
        n -= (size_t)w;
    }
    return true;
}

/* errno of the first failed write to a file (not stderr) since the last check; 0: none. */
static int write_error;

static void out_flush(out *o) {
    if (o->fd >= 0 && !alloy__dbg_write(o->fd, o->buf, o->n) && o->fd != STDERR_FILENO &&
        write_error == 0)
        write_error = errno != 0 ? errno : EIO;
    o->n = 0;
}

static void out_str(out *o, const char *s) {
    size_t len = strlen(s);
    while (len > 0) {
        if (o->n == sizeof o->buf) out_flush(o);
        size_t k = sizeof o->buf - o->n < len ? sizeof o->buf - o->n : len;
        memcpy(o->buf + o->n, s, k);
        o->n += k;
        s += k;
        len -= k;
    }
}

__attribute__((format(printf, 2, 3))) static void out_fmt(out *o, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    out_str(o, tmp);
}

/* JSON string (quotes included). Escaped: '"', '\\', control characters and DEL as \u00XX; a
 * byte that is not part of valid UTF-8 (a path or symbol in another encoding) as \u00XX of its
 * value, so the file is always valid JSON and the byte can be recovered (docs/debug.md). */
static void out_json_str(out *o, const char *s) {
    static const char hex[] = "0123456789abcdef";
    out_str(o, "\"");
    char tmp[8];
    for (const unsigned char *p = (const unsigned char *)(s != NULL ? s : ""); *p;) {
        size_t n = alloy__utf8_len(p, 4); /* NUL-terminated: a NUL ends any sequence */
        if (*p == '"' || *p == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)*p;
            tmp[2] = '\0';
        } else if (n == 0 || *p < 0x20 || *p == 0x7f) {
            memcpy(tmp, "\\u00", 4);
            tmp[4] = hex[*p >> 4];
            tmp[5] = hex[*p & 15];
            tmp[6] = '\0';
            n = 1;
        } else {
            memcpy(tmp, p, n);
            tmp[n] = '\0';
        }
        out_str(o, tmp);
        p += n == 0 ? 1 : n;
    }
    out_str(o, "\"");
}

/* ---- the JSON file -------------------------------------------------------------- */

/* Expand "%p" in path to the pid, or "pid-seq" when seq > 0; false if it does not fit. */
static bool expand_path(const char *path, unsigned seq, char *name, size_t cap) {
    size_t n = 0;
    for (const char *p = path; *p; p++) {
        char num[48];
        const char *add = num;
        size_t len;
        if (p[0] == '%' && p[1] == 'p') {
            len = seq == 0 ? (size_t)snprintf(num, sizeof num, "%ld", (long)getpid())
                           : (size_t)snprintf(num, sizeof num, "%ld-%u", (long)getpid(), seq);
            p++;
        } else {
            add = p;
            len = 1;
        }
        if (n + len >= cap) return false;
        memcpy(name + n, add, len);
        n += len;
    }
    name[n] = '\0';
    return true;
}

/* Open a report file (JSON or text) named by path, what says which in messages. Never through a
 * symlink; never over an existing file unless ALLOY_DEBUG_REPORT_OVERWRITE=1, and then never a
 * file with other hard links (what the link names would change too). With "%p" every process
 * image gets its own file: a program that execs keeps its pid, so a later image takes the next
 * free name, pid-1, pid-2, ... */
static int open_report(const char *path, const char *what) {
    char name[4096];
    bool overwrite = alloy__env_flag("ALLOY_DEBUG_REPORT_OVERWRITE", false);
    bool per_image = strstr(path, "%p") != NULL;
    for (unsigned seq = 0; seq < 1000; seq++) {
        if (!expand_path(path, seq, name, sizeof name)) {
            alloy__warn("debug: %s path is too long (%zu bytes and more; at most %zu): no %s", what,
                        strlen(path), sizeof name - 1, what);
            return -1;
        }
        int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_APPEND;
        if (!overwrite || per_image) flags |= O_EXCL;
        int fd = open(name, flags, 0644);
        if (fd < 0 && errno == EEXIST && per_image) continue;
        if (fd < 0) {
            int e = errno;
            alloy__warn("debug: cannot create %s (%s%s): %s", what, strerror(e),
                        e == EEXIST ? "; set ALLOY_DEBUG_REPORT_OVERWRITE=1 to replace it" : "",
                        name);
            return -1;
        }
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink > 1) {
            alloy__warn("debug: %s %s has %ju hard links: not written through them", what, name,
                        (uintmax_t)st.st_nlink);
            close(fd);
            return -1;
        }
        if (overwrite && S_ISREG(st.st_mode) && ftruncate(fd, 0) != 0) {
            alloy__warn("debug: cannot empty %s %s: %s", what, name, strerror(errno));
            close(fd);
            return -1;
        }
        return fd;
    }
    alloy__warn("debug: no free name for %s %s after 1000 tries", what, path);
    return -1;
}

int alloy__dbg_open_json(const char *path) {
    return open_report(path, "report file");
}

/* A failed write to a report file is said once, on stderr, and the file is given up. */
static void check_written(alloy__debug_heap *h, int *fd, const char *what) {
    if (write_error == 0) return;
    char line[160];
    int n = snprintf(line, sizeof line,
                     "alloy: debug: writing the %s failed (%s): its findings are on stderr only\n",
                     what, strerror(write_error));
    alloy__dbg_write(STDERR_FILENO, line, (size_t)n);
    write_error = 0;
    if (*fd >= 0 && *fd != STDERR_FILENO) close(*fd);
    *fd = -1;
    (void)h;
}

/* ALLOY_DEBUG_LOG=<path> ("%p": pid): the process debug heap's text reports go to this file, so
 * the program's own stderr stays as it would be. Opened at the first report, by the process (or
 * forked child, or exec'd image) that has something to say. */
static int log_fd = -2; /* -2: not tried; -1: none */
static long log_pid;

static int text_fd(const alloy__debug_heap *h) {
    if (!h->process) return STDERR_FILENO;
    if (log_fd == -2 || (log_fd >= 0 && log_pid != (long)getpid())) {
        /* A forked child writes its own file: the parent's stays the parent's. */
        if (log_fd >= 0) close(log_fd);
        const char *path = getenv("ALLOY_DEBUG_LOG");
        log_fd = path != NULL && *path != '\0' ? open_report(path, "log file") : -1;
        log_pid = (long)getpid();
    }
    return log_fd >= 0 ? log_fd : STDERR_FILENO;
}

/* ---- stacks ------------------------------------------------------------------------- */

/* Set while a report must not allocate (the process's malloc is a damaged heap): frames are
 * printed as module+offset, which addr2line resolves, instead of going through libdw. */
static bool no_symbols;

static void symbolize(uint32_t id, uintptr_t pc, dbg_sym *s) {
    if (!no_symbols) {
        alloy__dbg_symbolize(id, pc, true, s);
        return;
    }
    memset(s, 0, sizeof *s);
    dbg_module *m = alloy__dbg_module_for(id, pc);
    if (m != NULL) {
        s->module = m->path;
        s->offset = pc - m->bias;
    }
}

static void text_stack(out *o, const char *title, uint32_t id, uint32_t tid) {
    void *const *pcs;
    size_t n = alloy__dbg_frames(id, &pcs);
    if (tid != 0)
        out_fmt(o, "  %s (thread %u):\n", title, tid);
    else
        out_fmt(o, "  %s:\n", title);
    if (n == 0) {
        out_str(o, "    <no stack recorded>\n");
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        dbg_sym s;
        symbolize(id, (uintptr_t)pcs[i], &s);
        if (s.n == 0) {
            if (s.module != NULL)
                out_fmt(o, "    #%zu %p in ?? (%s+0x%zx)\n", k++, pcs[i], s.module,
                        (size_t)s.offset);
            else
                out_fmt(o, "    #%zu %p in ??\n", k++, pcs[i]);
            continue;
        }
        for (unsigned j = 0; j < s.n; j++) {
            const dbg_frame *f = &s.f[j];
            out_fmt(o, "    #%zu %p in %s", k++, pcs[i], f->func != NULL ? f->func : "??");
            if (f->file != NULL)
                out_fmt(o, " %s:%d", f->file, f->line);
            else if (s.module != NULL)
                out_fmt(o, " (%s+0x%zx)", s.module, (size_t)s.offset);
            out_str(o, j + 1 < s.n ? " (inlined)\n" : "\n");
        }
    }
}

static void json_stack(out *o, const char *title, uint32_t id, uint32_t tid) {
    void *const *pcs;
    size_t n = alloy__dbg_frames(id, &pcs);
    out_str(o, "{\"what\":");
    out_json_str(o, title);
    out_fmt(o, ",\"thread\":%u,\"frames\":[", tid);
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        dbg_sym s;
        symbolize(id, (uintptr_t)pcs[i], &s);
        unsigned nf = s.n > 0 ? s.n : 1;
        for (unsigned j = 0; j < nf; j++) {
            const dbg_frame *f = s.n > 0 ? &s.f[j] : NULL;
            out_fmt(o, "%s{\"pc\":\"%p\",\"function\":", first ? "" : ",", pcs[i]);
            first = false;
            out_json_str(o, f != NULL ? f->func : NULL);
            out_str(o, ",\"file\":");
            out_json_str(o, f != NULL ? f->file : NULL);
            out_fmt(o, ",\"line\":%d,\"inlined\":%s,\"module\":", f != NULL ? f->line : 0,
                    j + 1 < nf ? "true" : "false");
            out_json_str(o, s.module);
            out_fmt(o, ",\"offset\":\"0x%zx\"}", (size_t)s.offset);
        }
    }
    out_str(o, "]}");
}

static const char *kind_name(alloy_debug_kind k) {
    switch (k) {
    case ALLOY_DEBUG_DOUBLE_FREE:
        return "double-free";
    case ALLOY_DEBUG_INVALID_FREE:
        return "invalid-free";
    case ALLOY_DEBUG_SIZE_MISMATCH:
        return "size-mismatch";
    case ALLOY_DEBUG_ALIGN_MISMATCH:
        return "alignment-mismatch";
    case ALLOY_DEBUG_OVERFLOW:
        return "heap-buffer-overflow";
    case ALLOY_DEBUG_UNDERFLOW:
        return "heap-buffer-underflow";
    case ALLOY_DEBUG_USE_AFTER_FREE:
        return "use-after-free";
    case ALLOY_DEBUG_LEAK:
        return "leak";
    }
    return "error";
}

/* The stacks a problem shows, in order: {title, stack, thread}. */
typedef struct shown {
    const char *title;
    uint32_t stack, tid;
} shown;

static size_t stacks_of(const dbg_problem *p, shown *s) {
    size_t n = 0;
    if (p->now_what != NULL) s[n++] = (shown){p->now_what, p->now_stack, p->now_tid};
    if (p->rec != NULL) {
        if (p->rec->state == REC_FREED)
            s[n++] = (shown){p->e.kind == ALLOY_DEBUG_DOUBLE_FREE ? "first freed at" : "freed at",
                             p->rec->free_stack, p->rec->free_tid};
        s[n++] = (shown){"allocated at", p->rec->alloc_stack, p->rec->alloc_tid};
    }
    return n;
}

static void describe(out *o, const dbg_problem *p) {
    const alloy_debug_error *e = &p->e;
    switch (e->kind) {
    case ALLOY_DEBUG_SIZE_MISMATCH:
        out_fmt(o, "  the %zu-byte block at %p was freed with size %zu\n", e->size, e->ptr,
                e->given_size);
        break;
    case ALLOY_DEBUG_ALIGN_MISMATCH:
        out_fmt(o, "  the block at %p (%zu bytes, alignment %zu) was freed with alignment %zu\n",
                e->ptr, e->size, e->align, e->given_align);
        break;
    case ALLOY_DEBUG_OVERFLOW:
    case ALLOY_DEBUG_UNDERFLOW:
    case ALLOY_DEBUG_USE_AFTER_FREE: {
        long off = (long)((uintptr_t)e->addr - (uintptr_t)e->ptr);
        if (e->addr == NULL)
            break;
        else if (off < 0)
            out_fmt(o, "  address %p is %ld bytes before the %zu-byte block at %p\n", e->addr, -off,
                    e->size, e->ptr);
        else if ((size_t)off >= e->size)
            out_fmt(o, "  address %p is %ld bytes after the %zu-byte block at %p\n", e->addr,
                    off - (long)e->size, e->size, e->ptr);
        else
            out_fmt(o, "  address %p is %ld bytes inside the %zu-byte block at %p\n", e->addr, off,
                    e->size, e->ptr);
        break;
    }
    default:
        break;
    }
    if (e->detail != NULL) out_fmt(o, "  %s\n", e->detail);
}

/* Reports are rare: one buffer, one report at a time. */
static out report_out;
static dbg_lock report_lock;

alloy_debug_action alloy__dbg_report(alloy__debug_heap *h, dbg_problem *p) {
    alloy__dbg_self.inside++;
    __atomic_fetch_add(&h->errors, 1, __ATOMIC_RELAXED);
    p->e.name = kind_name(p->e.kind);
    long pid = (long)getpid();
    shown st[4];
    size_t ns = stacks_of(p, st);

    out *const o = &report_out;
    dbg_lock_take(&report_lock);
    no_symbols = h->process && __atomic_load_n(&h->parent_damaged, __ATOMIC_RELAXED) &&
                 alloy__dbg_malloc_shares_parent();
    o->fd = text_fd(h);
    write_error = 0;
    o->n = 0;
    out_fmt(o, "=================================================================\n");
    out_fmt(o, "==%ld==ERROR: alloy debug (%s): %s", pid, h->name, p->e.name);
    if (p->e.kind == ALLOY_DEBUG_INVALID_FREE)
        out_fmt(o, " of %p", p->e.ptr);
    else
        out_fmt(o, " on a %zu-byte block at %p", p->e.size, p->e.ptr);
    out_fmt(o, " (thread %u)\n", p->now_tid);
    describe(o, p);
    if (no_symbols)
        out_str(o, "  (frames as module+offset, for addr2line -f -i -e MODULE OFFSET: the C "
                   "library's heap may be damaged, and the symbolizer allocates from it)\n");
    for (size_t i = 0; i < ns; i++) text_stack(o, st[i].title, st[i].stack, st[i].tid);
    if (p->e.kind == ALLOY_DEBUG_INVALID_FREE)
        out_fmt(o, "==%ld==SUMMARY: alloy debug: %s of %p (not a block of this allocator)\n", pid,
                p->e.name, p->e.ptr);
    else
        out_fmt(o, "==%ld==SUMMARY: alloy debug: %s (%zu-byte block)\n", pid, p->e.name, p->e.size);
    out_flush(o);
    if (o->fd != STDERR_FILENO) check_written(h, &log_fd, "log file");

    if (h->json_fd >= 0) {
        o->fd = h->json_fd;
        out_str(o, "{\"kind\":");
        out_json_str(o, p->e.name);
        out_fmt(o, ",\"pid\":%ld,\"allocator\":", pid);
        out_json_str(o, h->name);
        out_fmt(o, ",\"ptr\":\"%p\",\"size\":%zu,\"align\":%zu", p->e.ptr, p->e.size, p->e.align);
        if (p->e.kind == ALLOY_DEBUG_SIZE_MISMATCH || p->e.kind == ALLOY_DEBUG_ALIGN_MISMATCH)
            out_fmt(o, ",\"freed_size\":%zu,\"freed_align\":%zu", p->e.given_size,
                    p->e.given_align);
        if (p->e.addr != NULL) out_fmt(o, ",\"addr\":\"%p\"", p->e.addr);
        out_str(o, ",\"detail\":");
        out_json_str(o, p->e.detail);
        out_fmt(o, ",\"thread\":%u,\"stacks\":[", p->now_tid);
        for (size_t i = 0; i < ns; i++) {
            if (i) out_str(o, ",");
            json_stack(o, st[i].title, st[i].stack, st[i].tid);
        }
        out_str(o, "]}\n");
        out_flush(o);
        check_written(h, &h->json_fd, "report file");
    }
    dbg_lock_drop(&report_lock);

    alloy_debug_handler *fn = __atomic_load_n(&h->on_error, __ATOMIC_ACQUIRE);
    alloy_debug_action act = fn != NULL
                                 ? fn(&p->e, __atomic_load_n(&h->on_error_arg, __ATOMIC_ACQUIRE))
                                 : ALLOY_DEBUG_ABORT;
    if (h->process) {
        /* Tell the routed API's error handler too (EFAULT: corruption); errno is kept. */
        int saved = errno;
        alloy__fail(EFAULT, EFAULT);
        errno = saved;
    }
    alloy__dbg_self.inside--;
    if (act == ALLOY_DEBUG_ABORT) {
        char line[160];
        int n = snprintf(line, sizeof line,
                         "==%ld==ABORTING (alloy debug: the error handler chose abort)\n", pid);
        alloy__dbg_write(text_fd(h), line, (size_t)n);
        abort();
    }
    return act;
}

/* ---- leaks ------------------------------------------------------------------------------ */

void alloy__dbg_report_leaks(alloy__debug_heap *h, dbg_leak_site *sites, size_t n, const char *when,
                             const char *rule, uint64_t suppressed_blocks,
                             uint64_t suppressed_bytes) {
    alloy__dbg_self.inside++;
    long pid = (long)getpid();
    uint64_t blocks = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        blocks += sites[i].blocks;
        bytes += sites[i].bytes;
    }
    if (n == 0) {
        alloy__dbg_self.inside--;
        return;
    }
    out *const o = &report_out;
    dbg_lock_take(&report_lock);
    no_symbols = h->process && __atomic_load_n(&h->parent_damaged, __ATOMIC_RELAXED) &&
                 alloy__dbg_malloc_shares_parent();
    o->fd = text_fd(h);
    write_error = 0;
    o->n = 0;
    out_fmt(o, "=================================================================\n");
    out_fmt(o,
            "==%ld==LEAKS: alloy debug (%s): %llu leaked blocks, %llu bytes, from %zu "
            "allocation sites %s\n",
            pid, h->name, (unsigned long long)blocks, (unsigned long long)bytes, n, when);
    if (rule != NULL) out_fmt(o, "  rule: %s\n", rule);
    if (suppressed_blocks != 0)
        out_fmt(o, "  suppressed: %llu blocks, %llu bytes (ALLOY_DEBUG_SUPPRESSIONS)\n",
                (unsigned long long)suppressed_blocks, (unsigned long long)suppressed_bytes);
    for (size_t i = 0; i < n; i++) {
        dbg_leak_site *s = &sites[i];
        out_fmt(o, "-- leak: %llu block%s, %llu bytes (", (unsigned long long)s->blocks,
                s->blocks == 1 ? "" : "s", (unsigned long long)s->bytes);
        if (s->min_size == s->max_size)
            out_fmt(o, "%zu bytes each)", s->min_size);
        else
            out_fmt(o, "%zu to %zu bytes)", s->min_size, s->max_size);
        out_str(o, ",");
        text_stack(o, "allocated at", s->stack, s->tid);
    }
    out_fmt(o, "==%ld==SUMMARY: alloy debug: %llu bytes leaked in %llu blocks\n", pid,
            (unsigned long long)bytes, (unsigned long long)blocks);
    out_flush(o);
    if (o->fd != STDERR_FILENO) check_written(h, &log_fd, "log file");
    if (h->json_fd >= 0) {
        o->fd = h->json_fd;
        for (size_t i = 0; i < n; i++) {
            dbg_leak_site *s = &sites[i];
            out_fmt(o, "{\"kind\":\"leak\",\"pid\":%ld,\"allocator\":", pid);
            out_json_str(o, h->name);
            out_fmt(o, ",\"blocks\":%llu,\"bytes\":%llu,\"min_size\":%zu,\"max_size\":%zu,",
                    (unsigned long long)s->blocks, (unsigned long long)s->bytes, s->min_size,
                    s->max_size);
            out_str(o, "\"stacks\":[");
            json_stack(o, "allocated at", s->stack, s->tid);
            out_str(o, "]}\n");
        }
        out_fmt(o,
                "{\"kind\":\"leak-summary\",\"pid\":%ld,\"blocks\":%llu,\"bytes\":%llu,"
                "\"sites\":%zu,\"when\":",
                pid, (unsigned long long)blocks, (unsigned long long)bytes, n);
        out_json_str(o, when);
        out_str(o, ",\"rule\":");
        out_json_str(o, rule);
        out_str(o, "}\n");
        out_flush(o);
        check_written(h, &h->json_fd, "report file");
    }
    dbg_lock_drop(&report_lock);
    alloy_debug_handler *fn = __atomic_load_n(&h->on_error, __ATOMIC_ACQUIRE);
    if (fn != NULL) {
        for (size_t i = 0; i < n; i++) {
            alloy_debug_error e = {.kind = ALLOY_DEBUG_LEAK,
                                   .name = "leak",
                                   .size = sites[i].max_size,
                                   .given_size = (size_t)sites[i].bytes,
                                   .given_align = (size_t)sites[i].blocks,
                                   .detail = when};
            (void)fn(&e, h->on_error_arg);
        }
    }
    alloy__dbg_self.inside--;
}
