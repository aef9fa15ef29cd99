/* SPDX-License-Identifier: MIT */
/* src/debug/leaks.c - leak reports: grouping by site, and the reachability scan at exit.
 *
 * The rule (LSan's): at exit a live block is not a leak if a pointer to it, or
 * into it, is found in a root or in another block that is not a leak. Roots:
 * - the writable segments of every loaded module (globals, .bss, GOT);
 * - the exiting thread's stack from the exit handler's caller up (our own
 *   frames are skipped: they hold stale copies of block addresses) and its TLS
 *   blocks; for alloy_debug_leak_check also the caller's registers;
 * - the whole stacks (TLS included) of other threads still alive at exit that
 *   allocated through the debug allocator (read with process_vm_readv, so an
 *   unmapped page cannot fault);
 * - blocks the dynamic loader allocated (DTVs, dynamic TLS, link maps): these
 *   are never reported themselves and are scanned as roots.
 * Blocks the debug allocator's own helpers allocated (libunwind, libdw, dlopen)
 * are internal: never reported, not roots. Words are scanned 8-byte aligned.
 *
 * For alloy_debug_deinit and alloy_debug_report there is no scan: every live
 * block is reported, since the allocator (or the caller) says its life is over.
 */
#define _GNU_SOURCE
#include "debug_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---- threads that allocated ----------------------------------------------------- */

#define MAX_THREADS 4096u
typedef struct thread_entry {
    uint32_t tid;
    uintptr_t lo, hi;
} thread_entry;
static thread_entry *threads;
static uint32_t nthreads;
static dbg_lock threads_lock;

bool alloy__dbg_stack_bounds(uintptr_t *lo, uintptr_t *hi) {
    pthread_attr_t attr;
    void *base = NULL;
    size_t len = 0;
    bool ok = false;
    alloy__dbg_self.inside++; /* glibc may allocate here */
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        ok = pthread_attr_getstack(&attr, &base, &len) == 0 && base != NULL;
        pthread_attr_destroy(&attr);
    }
    alloy__dbg_self.inside--;
    *lo = ok ? (uintptr_t)base : 0;
    *hi = ok ? (uintptr_t)base + len : 0;
    return ok;
}

void alloy__dbg_thread_register(void) {
    uintptr_t lo, hi;
    alloy__dbg_stack_bounds(&lo, &hi);
    alloy__dbg_self.stack_hi = hi;
    dbg_lock_take(&threads_lock);
    if (threads == NULL) threads = alloy__dbg_pages(MAX_THREADS * sizeof *threads);
    if (threads != NULL) {
        /* Reuse the entry of a thread that is gone (or had this tid before). */
        uint32_t slot = nthreads;
        for (uint32_t i = 0; i < nthreads; i++)
            if (threads[i].tid == alloy__dbg_self.tid ||
                syscall(SYS_tgkill, getpid(), (pid_t)threads[i].tid, 0) != 0) {
                slot = i;
                break;
            }
        if (slot < MAX_THREADS) {
            threads[slot] = (thread_entry){alloy__dbg_self.tid, lo, hi};
            if (slot == nthreads) nthreads++;
        }
    }
    dbg_lock_drop(&threads_lock);
}

/* ---- the live set ---------------------------------------------------------------- */

typedef struct blk {
    uintptr_t lo, hi;
    uint32_t stack, tid;
    size_t size;
    uint8_t mark; /* 0 unreached, 1 reached (queued), 2 loader-owned root */
} blk;

typedef struct live_set {
    blk *b;
    size_t n, cap;
    size_t *work;
    size_t nwork;
    uintptr_t *scratch; /* SCRATCH_WORDS, from mmap: never itself a root */
} live_set;

#define SCRATCH_WORDS 4096u

static void collect(dbg_rec *r, void *arg) {
    live_set *ls = arg;
    if (ls->n >= ls->cap) return;
    blk *b = &ls->b[ls->n++];
    b->lo = r->user;
    b->hi = r->user + (r->size ? r->size : 1);
    b->stack = r->alloc_stack;
    b->tid = r->alloc_tid;
    b->size = r->size;
    b->mark = 0;
}

static int by_lo(const void *a, const void *b) {
    uintptr_t x = ((const blk *)a)->lo, y = ((const blk *)b)->lo;
    return x < y ? -1 : x > y;
}

static blk *find_blk(live_set *ls, uintptr_t p) {
    size_t lo = 0, hi = ls->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ls->b[mid].lo <= p)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0) return NULL;
    blk *b = &ls->b[lo - 1];
    return p < b->hi ? b : NULL;
}

static void reach(live_set *ls, blk *b) {
    if (b->mark != 0) return;
    b->mark = 1;
    ls->work[ls->nwork++] = (size_t)(b - ls->b);
}

/* Scan [lo, hi) of our own readable memory. */
__attribute__((no_sanitize("address"))) static void scan_range(live_set *ls, uintptr_t lo,
                                                               uintptr_t hi) {
    lo = (lo + 7) & ~(uintptr_t)7;
    if (ls->n == 0) return;
    uintptr_t min = ls->b[0].lo, max = ls->b[ls->n - 1].hi;
    for (uintptr_t a = lo; a + 8 <= hi; a += 8) {
        uintptr_t v = *(const volatile uintptr_t *)a;
        if (v < min || v >= max) continue;
        blk *b = find_blk(ls, v);
        if (b != NULL) reach(ls, b);
    }
}

/* Scan memory that may be partly unmapped (other threads' stacks). */
static void scan_foreign(live_set *ls, uintptr_t lo, uintptr_t hi) {
    uintptr_t *buf = ls->scratch;
    lo &= ~(uintptr_t)7;
    while (lo < hi) {
        size_t cap = SCRATCH_WORDS * sizeof *buf;
        size_t len = hi - lo < cap ? hi - lo : cap;
        struct iovec local = {buf, len}, remote = {(void *)lo, len};
        ssize_t got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
        if (got > 0) scan_range(ls, (uintptr_t)buf, (uintptr_t)buf + (size_t)got);
        lo += got > 0 ? (uintptr_t)got : 4096 - (lo & 4095);
    }
}

static int globals_cb(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    live_set *ls = arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W)) scan_foreign(ls, lo, lo + ph->p_memsz);
        if (ph->p_type == PT_TLS && info->dlpi_tls_data != NULL)
            scan_range(ls, (uintptr_t)info->dlpi_tls_data,
                       (uintptr_t)info->dlpi_tls_data + ph->p_memsz);
    }
    return 0;
}

static bool loader_module(const dbg_module *m) {
    if (m == NULL) return false;
    const char *base = strrchr(m->path, '/');
    base = base != NULL ? base + 1 : m->path;
    return strncmp(base, "ld-linux", 8) == 0 || strncmp(base, "ld64.so", 7) == 0 ||
           strncmp(base, "ld.so", 5) == 0;
}

/* The exiting thread: its registers as the checker's caller left them, and its stack from
 * `from` (the checker's caller's frame: our own frames hold stale copies of block addresses from
 * earlier malloc calls, which would hide leaks) up to the top. */
static void scan_current_thread(live_set *ls, const void *regs, size_t nregs, uintptr_t from,
                                uintptr_t stack_hi) {
    if (regs != NULL) scan_range(ls, (uintptr_t)regs, (uintptr_t)regs + nregs);
    if (stack_hi > from) scan_foreign(ls, from, stack_hi);
}

static uintptr_t current_stack_hi(void) {
    uintptr_t lo, hi;
    alloy__dbg_stack_bounds(&lo, &hi);
    return hi;
}

/* ---- the live part of the exiting thread's stack ------------------------------------------
 * At exit, the frames below the caller of exit (exit itself, __run_exit_handlers, the loader's
 * _dl_fini and a library's finalizer, the exit handler) sit where the program's last calls were:
 * their unused slots still hold addresses those calls handled, and a block whose only copy is
 * such a stale word would not be reported. What is live is the caller of exit and the frames
 * above it (when main returned, only the start-up frames).
 *
 * Unwinding from the exit handler does not get there (library finalizers carry no unwind
 * tables), so the boundary is found on the stack itself: exit calls __run_exit_handlers, which
 * never returns, so exactly one word holds a return address into exit, at the bottom of exit's
 * frame. Stale copies of that value can only lie below it (they are made after the call), so the
 * highest such word is the one. */

__attribute__((noinline, no_sanitize("address"))) uintptr_t
alloy__dbg_exit_stack_start(uintptr_t from) {
    uintptr_t lo, hi;
    if (!alloy__dbg_stack_bounds(&lo, &hi) || from < lo || from >= hi) return from;
    static uintptr_t exit_at;
    if (exit_at == 0) {
        alloy__dbg_self.inside++; /* dlopen and dlsym may allocate */
        void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
        void *e = libc != NULL ? dlsym(libc, "exit") : NULL;
        if (libc != NULL) dlclose(libc);
        alloy__dbg_self.inside--;
        exit_at = (uintptr_t)e;
    }
    if (exit_at == 0) return from;
    uintptr_t found = 0;
    for (uintptr_t a = (from + 7) & ~(uintptr_t)7; a + 8 <= hi; a += 8) {
        uintptr_t v = *(const uintptr_t *)a;
        if (v <= exit_at || v > exit_at + 256) continue;
        Dl_info di;
        if (dladdr((void *)(v - 1), &di) != 0 && (uintptr_t)di.dli_saddr == exit_at) found = a;
    }
    return found != 0 ? found + 8 : from;
}

/* ---- suppressions ----------------------------------------------------------------------
 * ALLOY_DEBUG_SUPPRESSIONS=<file>, in LeakSanitizer's format: one "leak:PATTERN" per line, '#'
 * starts a comment. A leak site is suppressed when a frame of its allocation stack (inlined
 * frames included) has a function name, source file or module path that PATTERN matches: '*'
 * is any run of characters, a leading '^' and a trailing '$' anchor it, else it may match
 * anywhere. Read once, into pages of our own, at the first exit report. */

#define SUPP_BYTES (64u << 10)
#define SUPP_MAX 256u
static char *supp_text;
static const char *supp[SUPP_MAX];
static size_t nsupp;
static int supp_state; /* 0 unread, 1 read */

static void supp_load(void) {
    if (supp_state != 0) return;
    supp_state = 1;
    const char *path = getenv("ALLOY_DEBUG_SUPPRESSIONS");
    if (path == NULL || *path == '\0') return;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        alloy__warn("debug: cannot read ALLOY_DEBUG_SUPPRESSIONS (%s): %s", strerror(errno), path);
        return;
    }
    supp_text = alloy__dbg_pages(SUPP_BYTES);
    size_t n = 0;
    ssize_t r;
    while (supp_text != NULL && n < SUPP_BYTES - 1 &&
           (r = read(fd, supp_text + n, SUPP_BYTES - 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    if (supp_text == NULL) return;
    supp_text[n] = '\0';
    unsigned lineno = 0;
    for (char *line = supp_text; line != NULL && *line != '\0';) {
        char *next = strchr(line, '\n');
        if (next != NULL) *next++ = '\0';
        lineno++;
        while (*line == ' ' || *line == '\t') line++;
        size_t len = strlen(line);
        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#') {
            line = next;
            continue;
        }
        if (strncmp(line, "leak:", 5) != 0 || line[5] == '\0') {
            alloy__warn("debug: %s:%u: not a \"leak:PATTERN\" line; ignored", path, lineno);
        } else if (nsupp < SUPP_MAX) {
            supp[nsupp++] = line + 5;
        }
        line = next;
    }
}

/* Does the glob p ('*' only) match all of s? */
static bool glob_all(const char *p, const char *pend, const char *s, const char *send) {
    while (p < pend) {
        if (*p == '*') {
            for (const char *t = send; t >= s; t--)
                if (glob_all(p + 1, pend, t, send)) return true;
            return false;
        }
        if (s == send || *p != *s) return false;
        p++, s++;
    }
    return s == send;
}

static bool supp_match(const char *pat, const char *s) {
    if (s == NULL) return false;
    size_t plen = strlen(pat), slen = strlen(s);
    bool start = pat[0] == '^', end = plen > 0 && pat[plen - 1] == '$';
    const char *p = pat + start, *pend = pat + plen - end;
    if (start && end) return glob_all(p, pend, s, s + slen);
    for (size_t i = 0; i <= slen; i++) {
        if (start && i > 0) break;
        /* Unanchored at the end: the pattern followed by anything. */
        for (size_t j = end ? slen : i; j <= slen; j++)
            if (glob_all(p, pend, s + i, s + j)) return true;
    }
    return false;
}

static bool suppressed(uint32_t stack) {
    if (nsupp == 0) return false;
    void *const *pcs;
    size_t n = alloy__dbg_frames(stack, &pcs);
    for (size_t i = 0; i < n; i++) {
        dbg_sym sym;
        alloy__dbg_symbolize(stack, (uintptr_t)pcs[i], true, &sym);
        for (size_t k = 0; k < nsupp; k++) {
            if (supp_match(supp[k], sym.module)) return true;
            for (unsigned f = 0; f < sym.n; f++)
                if (supp_match(supp[k], sym.f[f].func) || supp_match(supp[k], sym.f[f].file))
                    return true;
        }
    }
    return false;
}

/* ---- grouping ------------------------------------------------------------------------ */

static int by_stack(const void *a, const void *b) {
    uint32_t x = ((const blk *)a)->stack, y = ((const blk *)b)->stack;
    return x < y ? -1 : x > y;
}

static int by_bytes(const void *a, const void *b) {
    uint64_t x = ((const dbg_leak_site *)a)->bytes, y = ((const dbg_leak_site *)b)->bytes;
    return x > y ? -1 : x < y;
}

static const char RULE[] =
    "unreachable at exit from globals, the exiting thread's stack, registers and TLS, the stacks "
    "of live threads, and reachable blocks (interior pointers count); blocks of the dynamic "
    "loader are not reported";

size_t alloy__dbg_leaks(alloy__debug_heap *h, bool reachability, uintptr_t stack_from,
                        const void *regs, size_t nregs, const char *when,
                        alloy_debug_summary *out) {
    alloy__dbg_self.inside++;
    uintptr_t stack_hi = reachability ? current_stack_hi() : 0;
    live_set ls = {0};
    alloy_debug_summary sum;
    alloy__dbg_summarize(h, &sum);
    ls.cap = sum.live_blocks + 1024;
    size_t bytes =
        ls.cap * (sizeof(blk) + sizeof(size_t) + sizeof(dbg_leak_site)) + SCRATCH_WORDS * 8;
    unsigned char *mem = alloy__dbg_pages(bytes);
    if (mem == NULL) {
        alloy__dbg_self.inside--;
        return 0;
    }
    ls.b = (blk *)mem;
    ls.work = (size_t *)(mem + ls.cap * sizeof(blk));
    dbg_leak_site *sites = (dbg_leak_site *)(mem + ls.cap * (sizeof(blk) + sizeof(size_t)));
    ls.scratch = (uintptr_t *)(sites + ls.cap);
    alloy__dbg_lock_all(h);
    alloy__dbg_each_live(h, collect, &ls);
    alloy__dbg_unlock_all(h);
    qsort(ls.b, ls.n, sizeof *ls.b, by_lo);

    if (reachability) {
        for (size_t i = 0; i < ls.n; i++) {
            void *const *pcs;
            size_t nf = alloy__dbg_frames(ls.b[i].stack, &pcs);
            if (nf > 0 && loader_module(alloy__dbg_module_for(ls.b[i].stack, (uintptr_t)pcs[0]))) {
                ls.b[i].mark = 2;
                ls.work[ls.nwork++] = i;
            }
        }
        dl_iterate_phdr(globals_cb, &ls);
        scan_current_thread(&ls, regs, nregs, stack_from, stack_hi);
        uint32_t me = alloy__dbg_tid();
        dbg_lock_take(&threads_lock);
        for (uint32_t i = 0; i < nthreads; i++) {
            thread_entry t = threads[i];
            if (t.tid == me || t.hi == 0) continue;
            if (syscall(SYS_tgkill, getpid(), (pid_t)t.tid, 0) != 0) continue;
            scan_foreign(&ls, t.lo, t.hi);
        }
        dbg_lock_drop(&threads_lock);
        while (ls.nwork > 0) {
            blk *b = &ls.b[ls.work[--ls.nwork]];
            scan_foreign(&ls, b->lo, b->hi);
        }
    }

    /* Unreached blocks, grouped by allocation stack. */
    size_t nleak = 0;
    for (size_t i = 0; i < ls.n; i++)
        if (ls.b[i].mark == 0) ls.b[nleak++] = ls.b[i];
    qsort(ls.b, nleak, sizeof *ls.b, by_stack);
    size_t nsites = 0;
    uint64_t leaked_bytes = 0;
    for (size_t i = 0; i < nleak; i++) {
        blk *b = &ls.b[i];
        leaked_bytes += b->size;
        if (nsites == 0 || sites[nsites - 1].stack != b->stack) {
            sites[nsites++] = (dbg_leak_site){b->stack, 0, 0, b->size, b->size, b->tid};
        }
        dbg_leak_site *s = &sites[nsites - 1];
        s->blocks++;
        s->bytes += b->size;
        if (b->size < s->min_size) s->min_size = b->size;
        if (b->size > s->max_size) s->max_size = b->size;
    }
    qsort(sites, nsites, sizeof *sites, by_bytes);
    /* The process heap at exit: leave out the sites the suppressions file names. */
    uint64_t supp_blocks = 0, supp_bytes = 0;
    if (h->process && reachability) {
        supp_load();
        size_t kept = 0;
        for (size_t i = 0; i < nsites; i++) {
            if (suppressed(sites[i].stack)) {
                supp_blocks += sites[i].blocks;
                supp_bytes += sites[i].bytes;
            } else {
                sites[kept++] = sites[i];
            }
        }
        nsites = kept;
        nleak -= (size_t)supp_blocks;
        leaked_bytes -= supp_bytes;
    }
    alloy__dbg_report_leaks(h, sites, nsites, when, reachability ? RULE : NULL, supp_blocks,
                            supp_bytes);
    if (out != NULL) {
        out->live_blocks = nleak;
        out->live_bytes = leaked_bytes;
        out->leak_sites = nsites;
        out->errors = __atomic_load_n(&h->errors, __ATOMIC_RELAXED);
    }
    alloy__dbg_unpages(mem, bytes);
    alloy__dbg_self.inside--;
    return nleak;
}
