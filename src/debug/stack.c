/* SPDX-License-Identifier: MIT */
/* src/debug/stack.c - stack capture, the stack depot and the module registry.
 *
 * Capture: the default on x86-64 is a frame walk with a rule cache. For each
 * return address the rule for reaching its caller is learned once from
 * libunwind (which reads DWARF call-frame information): "frame pointer" when
 * the function starts with push %rbp; mov %rsp,%rbp, else "caller's frame at
 * sp + k, %rbp saved at sp + j (or untouched)". Later captures through the
 * same addresses are a table lookup and two loads per frame, and still walk
 * correctly through glibc and any code built without frame pointers. Measured
 * by bench_debug_unwind: a plain frame-pointer walk is cheapest but loses the
 * caller of every glibc function; libunwind's unw_backtrace is exact but
 * costs several times more per capture (and keeps ~8 MiB of cache per
 * thread); glibc's backtrace() is ~15x slower still. libunwind is loaded with
 * dlopen, so liballoy has no link-time dependency on it.
 *
 * Depot: each distinct stack is stored once, in pages reserved up front, and
 * named by a 32-bit id. Lookup and insertion are lock-free (a CAS on the
 * bucket head); a record costs 4 bytes per stack instead of a copy of it.
 *
 * Modules: when a new stack is stored, the loader's add/remove counters are
 * compared with the last snapshot and the registry is refreshed if they moved.
 * Entries are never removed, only marked unloaded, and each stack remembers
 * how many entries existed when it was stored, so a library that has since
 * been dlclose'd (even with another one loaded at its address) still gives
 * its file and offset to the symbolizer.
 */
#define _GNU_SOURCE
#include "debug_internal.h"

#include <dlfcn.h>
#include <errno.h>
#if !defined(ALLOY_HAVE_LIBUNWIND_H) && defined(__has_include)
#if __has_include(<libunwind.h>)
#define ALLOY_HAVE_LIBUNWIND_H 1
#endif
#endif
#if defined(__x86_64__) && ALLOY_HAVE_LIBUNWIND_H
#define ALLOY_HYBRID 1
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#else
#define ALLOY_HYBRID 0
#endif
#include <execinfo.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------------- */

void *alloy__dbg_pages(size_t bytes) {
    size_t page = 4096;
    bytes = (bytes + page - 1) & ~(page - 1);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void alloy__dbg_unpages(void *p, size_t bytes) {
    size_t page = 4096;
    if (p != NULL) munmap(p, (bytes + page - 1) & ~(page - 1));
}

void alloy__dbg_lock_slow(dbg_lock *l) {
    for (unsigned spins = 0;; spins++) {
        if (__atomic_load_n(&l->v, __ATOMIC_RELAXED) == 0 &&
            __atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE) == 0)
            return;
        if (spins < 1000)
            __builtin_ia32_pause();
        else
            sched_yield();
    }
}

ALLOY_TLS dbg_thread alloy__dbg_self;

uint32_t alloy__dbg_tid(void) {
    dbg_thread *t = &alloy__dbg_self;
    if (ALLOY_UNLIKELY(t->tid == 0)) t->tid = (uint32_t)syscall(SYS_gettid);
    /* Looking up the stack bounds may allocate (the main thread's come from /proc/self/maps)
     * and takes a glibc lock: never from inside our own code, which may be inside that call. */
    if (ALLOY_UNLIKELY(!t->registered) && t->inside == 0) {
        t->registered = true;
        alloy__dbg_thread_register();
    }
    return t->tid;
}

/* ---- unwinders ------------------------------------------------------------ */

typedef int unw_backtrace_fn(void **, int);
static unw_backtrace_fn *unw_bt;
static int unw_state; /* 0 untried, 1 loaded, -1 unavailable */
static uintptr_t self_lo, self_hi;

typedef struct self_q {
    uintptr_t probe;
    int index;
} self_q;

static int self_range_cb(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    self_q *q = arg;
    int index = q->index++;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (q->probe >= lo && q->probe < hi) {
            /* The first module is the executable: a statically linked alloy shares its text,
             * so nothing can be skipped by address. */
            if (index != 0) {
                self_lo = lo;
                self_hi = hi;
            }
            return 1;
        }
    }
    return 0;
}

static void find_self(void) {
    self_q q = {(uintptr_t)&find_self, 0};
    dl_iterate_phdr(self_range_cb, &q);
}

/* ---- the hybrid unwinder (x86-64) -------------------------------------------- */

static bool hybrid_ok;

#if ALLOY_HYBRID
static struct {
    int (*getcontext)(unw_context_t *);
    int (*init_local)(unw_cursor_t *, unw_context_t *);
    int (*step)(unw_cursor_t *);
    int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
    int (*get_save_loc)(unw_cursor_t *, int, unw_save_loc_t *);
    int (*get_proc_info)(unw_cursor_t *, unw_proc_info_t *);
    int (*is_signal_frame)(unw_cursor_t *);
} ul;

/* Rules by return address: open addressing, published with one store of val after pc. */
enum { R_FP = 1, R_SP = 2, R_STOP = 3 };
#define RULES (1u << 16)
#define RBP_SAME 0x7fff
typedef struct rule {
    uintptr_t pc;
    uint64_t val; /* type | cfa offset << 8 (32 bits) | rbp offset << 40 (16 bits) */
} rule;
static rule *rules;

static bool fp_prologue(uintptr_t start);
static size_t hybrid_capture(void **pcs, size_t max, const void *from);

static void hybrid_load(void *h) {
    const alloy__sym syms[] = {
        {"_Ux86_64_getcontext", &ul.getcontext},
        {"_ULx86_64_init_local", &ul.init_local},
        {"_ULx86_64_step", &ul.step},
        {"_ULx86_64_get_reg", &ul.get_reg},
        {"_ULx86_64_get_save_loc", &ul.get_save_loc},
        {"_ULx86_64_get_proc_info", &ul.get_proc_info},
        {"_ULx86_64_is_signal_frame", &ul.is_signal_frame},
    };
    char err[128]; /* without these the hybrid walk is off (hybrid_ok) and libunwind is used */
    if (!alloy__resolve(h, "libunwind", syms, sizeof syms / sizeof syms[0], err, sizeof err))
        return;
    rules = alloy__dbg_pages(RULES * sizeof(rule));
    /* The walk starts from frames of ours that must keep a frame pointer (the build gives
     * these files -fno-omit-frame-pointer); a build that did not gets libunwind instead. */
    hybrid_ok = rules != NULL && fp_prologue((uintptr_t)&hybrid_capture) &&
                fp_prologue((uintptr_t)&alloy__dbg_alloc);
}

static inline size_t rule_slot(uintptr_t pc) {
    return (size_t)((pc * 0x9e3779b97f4a7c15ull) >> 48) & (RULES - 1);
}

static inline uint64_t rule_get(uintptr_t pc) {
    size_t i = rule_slot(pc);
    for (int probe = 0; probe < 8; probe++, i = (i + 1) & (RULES - 1)) {
        uintptr_t k = __atomic_load_n(&rules[i].pc, __ATOMIC_ACQUIRE);
        if (k == pc) return __atomic_load_n(&rules[i].val, __ATOMIC_ACQUIRE);
        if (k == 0) return 0;
    }
    return 0;
}

static void rule_put(uintptr_t pc, uint64_t val) {
    size_t i = rule_slot(pc);
    for (int probe = 0; probe < 8; probe++, i = (i + 1) & (RULES - 1)) {
        uintptr_t k = 0;
        if (__atomic_compare_exchange_n(&rules[i].pc, &k, pc, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE) ||
            k == pc) {
            __atomic_store_n(&rules[i].val, val, __ATOMIC_RELEASE);
            return;
        }
    }
}

/* Does the function starting at start set up %rbp as its frame pointer first thing? */
static bool fp_prologue(uintptr_t start) {
    const unsigned char *c = (const unsigned char *)start;
    if (c[0] == 0xf3 && c[1] == 0x0f && c[2] == 0x1e && c[3] == 0xfa) c += 4; /* endbr64 */
    return c[0] == 0x55 && c[1] == 0x48 && c[2] == 0x89 && c[3] == 0xe5;
}

/* Walk with the learned rules from the caller of our caller (hybrid_capture, which has a
 * frame pointer); false if a frame has no rule yet. */
__attribute__((noinline)) static bool fast_walk(void **pcs, size_t max, size_t *out,
                                                const void *from) {
    uintptr_t *fp = from != NULL ? (uintptr_t *)(uintptr_t)from
                                 : (uintptr_t *)((uintptr_t *)__builtin_frame_address(0))[0];
    uintptr_t pc = fp[1], sp = (uintptr_t)(fp + 2), rbp = fp[0];
    /* Never read above this thread's stack, whatever a frame holds. */
    uintptr_t top = alloy__dbg_self.stack_hi != 0 ? alloy__dbg_self.stack_hi : sp + (16u << 20);
    size_t n = 0;
    while (n < max && pc != 0) {
        pcs[n++] = (void *)pc;
        uint64_t v = rule_get(pc);
        unsigned type = (unsigned)(v & 0xff);
        uintptr_t next_sp;
        if (type == R_FP) {
            if (rbp < sp || rbp + 16 > top || (rbp & 7)) break; /* broken chain: stop */
            next_sp = rbp + 16;
            pc = ((const uintptr_t *)rbp)[1];
            rbp = ((const uintptr_t *)rbp)[0];
        } else if (type == R_SP) {
            int32_t cfa = (int32_t)(uint32_t)(v >> 8);
            int32_t ro = (int16_t)(uint16_t)(v >> 40);
            next_sp = sp + (uintptr_t)(intptr_t)cfa;
            if (next_sp > top || (ro != RBP_SAME && sp + (intptr_t)ro + 8 > top)) break;
            uintptr_t nrbp = ro == RBP_SAME ? rbp : *(const uintptr_t *)(sp + (intptr_t)ro);
            pc = *(const uintptr_t *)(next_sp - 8);
            rbp = nrbp;
        } else if (type == R_STOP) {
            break;
        } else {
            *out = n;
            return false;
        }
        if (next_sp <= sp || next_sp > top) break;
        sp = next_sp;
    }
    *out = n;
    return true;
}

/* Where the value %rbp has in the cursor's frame is kept: memory address, or 0 if in a register. */
static uintptr_t rbp_home(unw_cursor_t *c, bool *in_other_reg) {
    unw_save_loc_t loc;
    memset(&loc, 0, sizeof loc);
    if (ul.get_save_loc(c, UNW_X86_64_RBP, &loc) != 0) loc.type = UNW_SLT_NONE;
    *in_other_reg = loc.type == UNW_SLT_REG;
    return loc.type == UNW_SLT_MEMORY ? (uintptr_t)loc.u.addr : 0;
}

/* Walk with libunwind, learning a rule for every frame it steps over. */
__attribute__((noinline)) static size_t learn_walk(void **pcs, size_t max, const void *from) {
    /* With from, list only the frames fast_walk lists: from the entry function's caller. */
    uintptr_t first_sp = from != NULL ? (uintptr_t)from + 16 : 0;
    unw_context_t uc;
    unw_cursor_t c;
    if (ul.getcontext(&uc) != 0 || ul.init_local(&c, &uc) != 0) return 0;
    /* Up to our caller's caller, where fast_walk's list starts too. */
    if (ul.step(&c) <= 0 || ul.step(&c) <= 0) return 0;
    bool unused_other_reg = false;
    uintptr_t home = rbp_home(&c, &unused_other_reg);
    size_t n = 0;
    while (n < max) {
        unw_word_t ip = 0, sp = 0, sp2 = 0;
        ul.get_reg(&c, UNW_REG_IP, &ip);
        ul.get_reg(&c, UNW_REG_SP, &sp);
        if (ip == 0) break;
        if (sp >= first_sp) pcs[n++] = (void *)ip;
        bool learn = ul.is_signal_frame(&c) <= 0;
        bool fp = false;
        unw_proc_info_t pi;
        if (learn && ul.get_proc_info(&c, &pi) == 0 && pi.start_ip != 0)
            fp = fp_prologue((uintptr_t)pi.start_ip);
        int r = ul.step(&c);
        if (r <= 0) {
            if (r == 0 && learn) rule_put(ip, R_STOP);
            break;
        }
        ul.get_reg(&c, UNW_REG_SP, &sp2);
        bool caller_other_reg = false;
        uintptr_t caller_home = rbp_home(&c, &caller_other_reg);
        if (learn && fp) {
            rule_put(ip, R_FP);
        } else if (learn && !caller_other_reg) {
            /* The caller's %rbp is where it was for this frame (untouched here), or saved by
             * this frame at caller_home. */
            int32_t ro = RBP_SAME;
            bool ok = true;
            if (caller_home != 0 && caller_home != home) {
                intptr_t d = (intptr_t)caller_home - (intptr_t)sp;
                ok = d >= -32768 && d < RBP_SAME;
                ro = (int32_t)d;
            } else if (caller_home == 0 && home != 0) {
                ok = false; /* restored into a register from elsewhere: no simple rule */
            }
            intptr_t cfa = (intptr_t)sp2 - (intptr_t)sp;
            if (ok && cfa > 0 && cfa < INT32_MAX)
                rule_put(ip, ((uint64_t)(uint16_t)(int16_t)ro << 40) |
                                 ((uint64_t)(uint32_t)cfa << 8) | R_SP);
        }
        home = caller_home;
    }
    return n;
}

__attribute__((noinline)) static size_t hybrid_capture(void **pcs, size_t max, const void *from) {
    size_t n;
    if (fast_walk(pcs, max, &n, from)) return n;
    n = learn_walk(pcs, max, from);
    __asm__ volatile("" ::: "memory"); /* no tail call: learn_walk counts our frame */
    return n;
}
#else
static void hybrid_load(void *h) {
    (void)h;
}
static size_t hybrid_capture(void **pcs, size_t max, const void *from) {
    (void)pcs, (void)max, (void)from;
    return 0;
}
#endif

alloy_debug_unwinder alloy__dbg_unwinder_resolve(alloy_debug_unwinder u) {
    if (__atomic_load_n(&unw_state, __ATOMIC_ACQUIRE) == 0) {
        alloy__dbg_self.inside++;
        void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
        if (h != NULL) {
            void *fn = dlsym(h, "unw_backtrace");
            memcpy(&unw_bt, &fn, sizeof fn);
            hybrid_load(h);
        }
        find_self();
        /* Warm up glibc's backtrace (its first call dlopens libgcc_s) and libunwind (its
         * lazy global set-up is not thread-safe): here, before any thread races. */
        void *pcs[4];
        backtrace(pcs, 4);
        if (hybrid_ok) hybrid_capture(pcs, 4, NULL);
        alloy__dbg_self.inside--;
        __atomic_store_n(&unw_state, unw_bt != NULL ? 1 : -1, __ATOMIC_RELEASE);
    }
    if (u == ALLOY_DEBUG_UNWIND_DEFAULT) {
#if defined(__x86_64__)
        u = hybrid_ok        ? ALLOY_DEBUG_UNWIND_HYBRID
            : unw_bt != NULL ? ALLOY_DEBUG_UNWIND_LIBUNWIND
                             : ALLOY_DEBUG_UNWIND_BACKTRACE;
#elif defined(__aarch64__)
        /* AAPCS64 code keeps frame records; libunwind when present is still exact. */
        u = unw_bt != NULL ? ALLOY_DEBUG_UNWIND_LIBUNWIND : ALLOY_DEBUG_UNWIND_FP;
#else
        u = ALLOY_DEBUG_UNWIND_BACKTRACE;
#endif
    }
    if (u == ALLOY_DEBUG_UNWIND_LIBUNWIND && unw_bt == NULL) u = ALLOY_DEBUG_UNWIND_BACKTRACE;
    if (u == ALLOY_DEBUG_UNWIND_HYBRID && !hybrid_ok)
        u = unw_bt != NULL ? ALLOY_DEBUG_UNWIND_LIBUNWIND : ALLOY_DEBUG_UNWIND_BACKTRACE;
    return u;
}

/* Frame-pointer walk: each frame holds {saved fp, return address}. Stops at a
 * frame pointer that does not move up the stack by less than 1 MiB. */
__attribute__((noinline)) static size_t fp_walk(void **pcs, size_t max) {
    void **fp = __builtin_frame_address(0);
    size_t n = 0;
    while (n < max && fp != NULL) {
        void **next = (void **)fp[0];
        void *ret = fp[1];
        if (ret == NULL) break;
        pcs[n++] = ret;
        if (next <= fp || (uintptr_t)next - (uintptr_t)fp > (1u << 20) || ((uintptr_t)next & 7))
            break;
        fp = next;
    }
    return n;
}

/* Up to want return addresses with unwinder how, from the caller of this function's caller
 * (or, for the hybrid walk with from, of from's function). Always inlined into its two
 * callers, so the frames each skips are the same as without it. */
static inline __attribute__((always_inline)) size_t
unwind(void **buf, size_t want, alloy_debug_unwinder how, const void *from) {
    int r;
    switch (how) {
    case ALLOY_DEBUG_UNWIND_LIBUNWIND:
        r = unw_bt(buf, (int)want);
        return r > 0 ? (size_t)r : 0;
    case ALLOY_DEBUG_UNWIND_BACKTRACE:
        r = backtrace(buf, (int)want);
        return r > 0 ? (size_t)r : 0;
    case ALLOY_DEBUG_UNWIND_FP:
        return fp_walk(buf, want);
    case ALLOY_DEBUG_UNWIND_HYBRID:
        return hybrid_capture(buf, want, from);
    default:
        return 0;
    }
}

__attribute__((noinline)) size_t alloy__dbg_capture(void **pcs, size_t max,
                                                    alloy_debug_unwinder how, const void *from) {
    void *buf[DBG_MAX_FRAMES + 16];
    size_t want = max + 16 > sizeof buf / sizeof buf[0] ? sizeof buf / sizeof buf[0] : max + 16;
    size_t n = unwind(buf, want, how, from);
    size_t skip = 0;
    /* Drop this function's own frame and every leading frame inside alloy. */
    while (skip < n && (uintptr_t)buf[skip] >= self_lo && (uintptr_t)buf[skip] < self_hi) skip++;
    if (skip == 0 && n > 0 && !(how == ALLOY_DEBUG_UNWIND_HYBRID && from != NULL)) skip = 1;
    size_t out = n - skip < max ? n - skip : max;
    memcpy(pcs, buf + skip, out * sizeof *pcs);
    return out;
}

size_t alloy_debug_backtrace(void **pcs, size_t max, alloy_debug_unwinder how) {
    how = alloy__dbg_unwinder_resolve(how);
    void *buf[DBG_MAX_FRAMES + 16];
    size_t want = max + 1 > sizeof buf / sizeof buf[0] ? sizeof buf / sizeof buf[0] : max + 1;
    size_t n = unwind(buf, want, how, NULL);
    /* Drop our own frame (the first); the caller's is next. */
    if (n == 0) return 0;
    memcpy(pcs, buf + 1, (n - 1) * sizeof *pcs);
    return n - 1;
}

/* ---- the module registry --------------------------------------------------- */

#define MAX_MODULES 1024u

static dbg_module *modules; /* MAX_MODULES entries, from mmap */
static uint32_t nmodules;   /* published with release after an entry is filled */
static dbg_lock modules_lock;
static unsigned long long seen_adds, seen_subs;

typedef struct scan_entry {
    uintptr_t start, end, bias;
    char path[256];
} scan_entry;

typedef struct scan_state {
    scan_entry *e;
    size_t n, cap;
    unsigned long long adds, subs;
} scan_state;

static int counters_cb(struct dl_phdr_info *info, size_t size, void *arg) {
    scan_state *s = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        s->adds = info->dlpi_adds;
        s->subs = info->dlpi_subs;
    }
    return 1;
}

static void exe_path(char *out, size_t len) {
    ssize_t r = readlink("/proc/self/exe", out, len - 1);
    out[r > 0 ? (size_t)r : 0] = '\0';
}

static int scan_cb(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    scan_state *s = arg;
    if (s->n >= s->cap) return 1;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < lo) lo = a;
        if (a + ph->p_memsz > hi) hi = a + ph->p_memsz;
    }
    if (hi == 0) return 0;
    scan_entry *e = &s->e[s->n++];
    e->start = lo;
    e->end = hi;
    e->bias = info->dlpi_addr;
    if (info->dlpi_name == NULL || info->dlpi_name[0] == '\0')
        exe_path(e->path, sizeof e->path);
    else
        snprintf(e->path, sizeof e->path, "%s", info->dlpi_name);
    return 0;
}

/* Refresh the registry if the loader's counters moved since the last look. */
static void modules_refresh(void) {
    scan_state s = {0};
    dl_iterate_phdr(counters_cb, &s);
    if (__atomic_load_n(&nmodules, __ATOMIC_ACQUIRE) != 0 &&
        s.adds == __atomic_load_n(&seen_adds, __ATOMIC_RELAXED) &&
        s.subs == __atomic_load_n(&seen_subs, __ATOMIC_RELAXED))
        return;
    /* Collect without our lock held: the loader lock may be held by a thread that is inside
     * malloc, waiting for us. */
    size_t cap = 512, bytes = cap * sizeof(scan_entry);
    s.e = alloy__dbg_pages(bytes);
    if (s.e == NULL) return;
    s.cap = cap;
    dl_iterate_phdr(scan_cb, &s);
    dl_iterate_phdr(counters_cb, &s);
    dbg_lock_take(&modules_lock);
    if (modules == NULL) modules = alloy__dbg_pages(MAX_MODULES * sizeof(dbg_module));
    if (modules != NULL) {
        uint32_t n = nmodules;
        for (uint32_t i = 0; i < n; i++) {
            bool present = false;
            for (size_t j = 0; j < s.n && !present; j++)
                present = modules[i].start == s.e[j].start && modules[i].bias == s.e[j].bias &&
                          strcmp(modules[i].path, s.e[j].path) == 0;
            if (!present) modules[i].unloaded = true;
        }
        for (size_t j = 0; j < s.n && n < MAX_MODULES; j++) {
            bool known = false;
            for (uint32_t i = 0; i < n && !known; i++)
                known = !modules[i].unloaded && modules[i].start == s.e[j].start &&
                        modules[i].bias == s.e[j].bias && strcmp(modules[i].path, s.e[j].path) == 0;
            if (known) continue;
            dbg_module *m = &modules[n++];
            m->start = s.e[j].start;
            m->end = s.e[j].end;
            m->bias = s.e[j].bias;
            memcpy(m->path, s.e[j].path, sizeof m->path);
            m->unloaded = false;
            m->dwfl = NULL;
        }
        __atomic_store_n(&nmodules, n, __ATOMIC_RELEASE);
        __atomic_store_n(&seen_adds, s.adds, __ATOMIC_RELAXED);
        __atomic_store_n(&seen_subs, s.subs, __ATOMIC_RELAXED);
    }
    dbg_lock_drop(&modules_lock);
    alloy__dbg_unpages(s.e, bytes);
}

static dbg_module *module_in(uintptr_t pc, uint32_t limit) {
    uint32_t n = __atomic_load_n(&nmodules, __ATOMIC_ACQUIRE);
    if (limit == 0 || limit > n) limit = n;
    for (uint32_t i = limit; i-- > 0;)
        if (pc >= modules[i].start && pc < modules[i].end) return &modules[i];
    return NULL;
}

dbg_module *alloy__dbg_module_of(uintptr_t pc) {
    dbg_module *m = module_in(pc, 0);
    if (m == NULL) {
        modules_refresh();
        m = module_in(pc, 0);
    }
    return m;
}

typedef struct global_q {
    uintptr_t addr;
    const char *name;
    bool found;
} global_q;

static int global_cb(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    global_q *q = arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (q->addr >= lo && q->addr < hi) {
            q->found = true;
            q->name = info->dlpi_name;
            return 1;
        }
    }
    return 0;
}

bool alloy__dbg_global_addr(uintptr_t addr, const char **name) {
    global_q q = {addr, NULL, false};
    dl_iterate_phdr(global_cb, &q);
    *name = q.name != NULL && q.name[0] != '\0' ? q.name : "the executable";
    return q.found;
}

/* ---- the depot ------------------------------------------------------------- */

typedef struct dnode {
    uint32_t next; /* id of the next node in the bucket, 0: end */
    uint32_t hash;
    uint32_t n;
    uint32_t epoch; /* module entries that existed when stored */
    uintptr_t pcs[];
} dnode;

#define DEPOT_BYTES ((size_t)256 << 20)
#define DEPOT_BUCKETS (1u << 16)

static unsigned char *depot;
static uint32_t *depot_buckets;
static size_t depot_used = 8; /* id 0 is "no stack" */
static int depot_state;       /* 0 none, 1 initializing, 2 ready, -1 failed */

static bool depot_ready(void) {
    int s = __atomic_load_n(&depot_state, __ATOMIC_ACQUIRE);
    if (ALLOY_LIKELY(s == 2)) return true;
    if (s < 0) return false;
    int expected = 0;
    if (__atomic_compare_exchange_n(&depot_state, &expected, 1, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        depot = alloy__dbg_pages(DEPOT_BYTES);
        depot_buckets = alloy__dbg_pages(DEPOT_BUCKETS * sizeof(uint32_t));
        __atomic_store_n(&depot_state, depot && depot_buckets ? 2 : -1, __ATOMIC_RELEASE);
    } else {
        while (__atomic_load_n(&depot_state, __ATOMIC_ACQUIRE) == 1) sched_yield();
    }
    return __atomic_load_n(&depot_state, __ATOMIC_ACQUIRE) == 2;
}

static inline dnode *node_at(uint32_t id) {
    return (dnode *)(depot + (size_t)id * 8);
}

static uint64_t hash_pcs(void *const *pcs, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint64_t)(uintptr_t)pcs[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return h | 1u;
}

/* Recently interned stacks by their 64-bit hash: a hit skips the chain walk and the compare
 * (two different stacks with one 64-bit hash are not a practical concern). Entries are written
 * without locks; the check word makes a torn read a miss. */
#define RECENT 4096u
typedef struct recent {
    uint64_t hash;
    uint32_t id, check;
} recent;
static recent recents[RECENT];

static uint32_t recent_get(uint64_t h) {
    recent *r = &recents[(h >> 20) & (RECENT - 1)];
    uint64_t k = __atomic_load_n(&r->hash, __ATOMIC_ACQUIRE);
    uint32_t id = __atomic_load_n(&r->id, __ATOMIC_RELAXED);
    uint32_t check = __atomic_load_n(&r->check, __ATOMIC_RELAXED);
    return k == h && check == (uint32_t)(h ^ id) ? id : 0;
}

static void recent_put(uint64_t h, uint32_t id) {
    recent *r = &recents[(h >> 20) & (RECENT - 1)];
    __atomic_store_n(&r->hash, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&r->id, id, __ATOMIC_RELAXED);
    __atomic_store_n(&r->check, (uint32_t)(h ^ id), __ATOMIC_RELAXED);
    __atomic_store_n(&r->hash, h, __ATOMIC_RELEASE);
}

static uint32_t find_in_chain(uint32_t id, uint32_t stop, uint32_t hash, void *const *pcs,
                              size_t n) {
    for (; id != 0 && id != stop; id = node_at(id)->next) {
        dnode *d = node_at(id);
        if (d->hash == hash && d->n == n && memcmp(d->pcs, pcs, n * sizeof(void *)) == 0) return id;
    }
    return 0;
}

uint32_t alloy__dbg_intern(void *const *pcs, size_t n) {
    if (n == 0 || !depot_ready()) return 0;
    uint64_t h64 = hash_pcs(pcs, n);
    uint32_t id = recent_get(h64);
    if (ALLOY_LIKELY(id != 0)) return id;
    uint32_t hash = (uint32_t)h64 | 1u;
    uint32_t *bucket = &depot_buckets[hash & (DEPOT_BUCKETS - 1)];
    uint32_t head = __atomic_load_n(bucket, __ATOMIC_ACQUIRE);
    id = find_in_chain(head, 0, hash, pcs, n);
    if (id != 0) {
        recent_put(h64, id);
        return id;
    }
    /* New stack: make sure the registry knows its modules before anyone reports it. */
    modules_refresh();
    size_t bytes = (sizeof(dnode) + n * sizeof(uintptr_t) + 7) & ~(size_t)7;
    size_t off = __atomic_fetch_add(&depot_used, bytes, __ATOMIC_RELAXED);
    if (off + bytes > DEPOT_BYTES || off / 8 > UINT32_MAX) return 0;
    dnode *d = (dnode *)(depot + off);
    d->hash = hash;
    d->n = (uint32_t)n;
    d->epoch = __atomic_load_n(&nmodules, __ATOMIC_ACQUIRE);
    memcpy(d->pcs, pcs, n * sizeof(void *));
    uint32_t me = (uint32_t)(off / 8);
    for (;;) {
        d->next = head;
        if (__atomic_compare_exchange_n(bucket, &head, me, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            recent_put(h64, me);
            return me;
        }
        /* Someone inserted meanwhile: maybe the same stack. */
        id = find_in_chain(head, d->next, hash, pcs, n);
        if (id != 0) return id; /* our node is wasted; rare */
    }
}

uint32_t alloy__dbg_stack(unsigned depth, alloy_debug_unwinder how, const void *from) {
    if (how == ALLOY_DEBUG_UNWIND_NONE || depth == 0) return 0;
    void *pcs[DBG_MAX_FRAMES];
    size_t n = alloy__dbg_capture(pcs, depth, how, from);
    return alloy__dbg_intern(pcs, n);
}

size_t alloy__dbg_frames(uint32_t id, void *const **pcs) {
    if (id == 0 || depot == NULL) return 0;
    dnode *d = node_at(id);
    *pcs = (void *const *)d->pcs;
    return d->n;
}

dbg_module *alloy__dbg_module_for(uint32_t id, uintptr_t pc) {
    uint32_t epoch = id != 0 && depot != NULL ? node_at(id)->epoch : 0;
    dbg_module *m = module_in(pc, epoch);
    return m != NULL ? m : alloy__dbg_module_of(pc);
}
