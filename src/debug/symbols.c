/* SPDX-License-Identifier: MIT */
/* src/debug/symbols.c - return addresses to "function file:line", with elfutils libdw.
 *
 * Resolved only when a report is written, never on the allocation path. Each
 * module of the registry (stack.c) gets its own Dwfl, opened from the file
 * path and load address recorded while the module was mapped: PIE
 * executables, shared libraries and libraries dlclose'd since are handled
 * alike, and two libraries loaded one after the other at the same address
 * never share a Dwfl. Answers are cached per (module, address).
 *
 * libdw is loaded with dlopen on first use; without it a frame prints as
 * module+offset. A build without libdw's headers (ALLOY_HAVE_LIBDW=0) says so once, at the first
 * report, and prints the same. Inlined calls are expanded into one frame each (from the
 * DWARF scopes' call file and line), so a call made through an inline
 * function still names the caller's own line. libdw allocates: calls run with `inside` raised, so
 * those blocks are internal to the debug allocator and never reported.
 */
#define _GNU_SOURCE
#include "debug_internal.h"
#include "../env.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef ALLOY_HAVE_LIBDW
#define ALLOY_HAVE_LIBDW 1
#endif

static dbg_lock sym_lock;

#if ALLOY_HAVE_LIBDW
#include <dwarf.h>
#include <elf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>

static struct {
    __typeof__(dwfl_begin) *begin;
    __typeof__(dwfl_report_begin) *report_begin;
    __typeof__(dwfl_report_elf) *report_elf;
    __typeof__(dwfl_report_end) *report_end;
    __typeof__(dwfl_addrmodule) *addrmodule;
    __typeof__(dwfl_module_addrname) *addrname;
    __typeof__(dwfl_module_getsrc) *getsrc;
    __typeof__(dwfl_lineinfo) *lineinfo;
    __typeof__(dwfl_module_addrdie) *addrdie;
    __typeof__(dwarf_getscopes) *getscopes;
    __typeof__(dwarf_getscopes_die) *getscopes_die;
    __typeof__(dwarf_tag) *tag;
    __typeof__(dwarf_diename) *diename;
    __typeof__(dwarf_attr_integrate) *attr_integrate;
    __typeof__(dwarf_formudata) *formudata;
    __typeof__(dwarf_formstring) *formstring;
    __typeof__(dwarf_getsrcfiles) *getsrcfiles;
    __typeof__(dwarf_filesrc) *filesrc;
    __typeof__(dwfl_module_getdwarf) *getdwarf;
    __typeof__(dwarf_nextcu) *nextcu;
    __typeof__(dwarf_offdie) *offdie;
    __typeof__(dwarf_haspc) *haspc;
    __typeof__(dwarf_getsrc_die) *getsrc_die;
    __typeof__(dwarf_lineno) *lineno;
    __typeof__(dwarf_linesrc) *linesrc;
    Dwfl_Callbacks callbacks;
    char *debuginfo_path;
    int state; /* 0 untried, 1 ready, -1 unavailable */
} dw;

static bool full_symbols;

static bool dw_load(void) {
    if (dw.state != 0) return dw.state > 0;
    dw.state = -1;
    void *h = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) return false;
    void *find_debuginfo = NULL, *section_address = NULL;
    const alloy__sym syms[] = {
        {"dwfl_begin", &dw.begin},
        {"dwfl_report_begin", &dw.report_begin},
        {"dwfl_report_elf", &dw.report_elf},
        {"dwfl_report_end", &dw.report_end},
        {"dwfl_addrmodule", &dw.addrmodule},
        {"dwfl_module_addrname", &dw.addrname},
        {"dwfl_module_getsrc", &dw.getsrc},
        {"dwfl_lineinfo", &dw.lineinfo},
        {"dwfl_module_addrdie", &dw.addrdie},
        {"dwarf_getscopes", &dw.getscopes},
        {"dwarf_getscopes_die", &dw.getscopes_die},
        {"dwarf_tag", &dw.tag},
        {"dwarf_diename", &dw.diename},
        {"dwarf_attr_integrate", &dw.attr_integrate},
        {"dwarf_formudata", &dw.formudata},
        {"dwarf_formstring", &dw.formstring},
        {"dwarf_getsrcfiles", &dw.getsrcfiles},
        {"dwarf_filesrc", &dw.filesrc},
        {"dwfl_module_getdwarf", &dw.getdwarf},
        {"dwarf_nextcu", &dw.nextcu},
        {"dwarf_offdie", &dw.offdie},
        {"dwarf_haspc", &dw.haspc},
        {"dwarf_getsrc_die", &dw.getsrc_die},
        {"dwarf_lineno", &dw.lineno},
        {"dwarf_linesrc", &dw.linesrc},
        {"dwfl_standard_find_debuginfo", &find_debuginfo},
        {"dwfl_offline_section_address", &section_address},
    };
    char err[128]; /* a missing symbol means no file:line, which reports say; no message */
    if (!alloy__resolve(h, "libdw.so.1", syms, sizeof syms / sizeof syms[0], err, sizeof err))
        return false;
    memcpy(&dw.callbacks.find_debuginfo, &find_debuginfo, sizeof find_debuginfo);
    memcpy(&dw.callbacks.section_address, &section_address, sizeof section_address);
    /* Separate debug files (/usr/lib/debug, .debug/) hold the line tables of system libraries,
     * at the price of decompressing them (~18 MB for glibc's): opt in with
     * ALLOY_DEBUG_SYMBOLS=full; by default only what each module carries is read. */
    static const char *const modes[] = {"default", "full", NULL};
    static char none[] = "/nonexistent-alloy-debuginfo";
    full_symbols = alloy__env_choice("ALLOY_DEBUG_SYMBOLS", modes, 0) == 1;
    dw.debuginfo_path = full_symbols ? NULL : none;
    dw.callbacks.debuginfo_path = &dw.debuginfo_path;
    dw.state = 1;
    return true;
}

#endif /* ALLOY_HAVE_LIBDW */

/* ---- cache ------------------------------------------------------------------ */

typedef struct centry {
    uintptr_t pc;
    const dbg_module *mod;
    unsigned n;
    dbg_frame f[DBG_MAX_INLINE];
    bool used;
} centry;

#define CACHE_SLOTS 8192u
#define STRINGS_BYTES (2u << 20)

static centry *cache;
static char *strings;
static size_t strings_used;

static const char *keep(const char *s) {
    if (s == NULL) return NULL;
    size_t n = strlen(s) + 1;
    if (strings == NULL || strings_used + n > STRINGS_BYTES) return "?";
    char *d = strings + strings_used;
    memcpy(d, s, n);
    strings_used += n;
    return d;
}

#if ALLOY_HAVE_LIBDW
/* Does the ELF file at path carry its own DWARF (.debug_info)? Read with pread: a stripped
 * system library is not worth mapping into the process (glibc's costs ~8 MB of RSS for names
 * dladdr gives for free). */
static bool has_debug_info(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool found = false;
    Elf64_Ehdr eh;
    if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh &&
        memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
        eh.e_shentsize == sizeof(Elf64_Shdr) && eh.e_shstrndx < eh.e_shnum && eh.e_shnum < 4096) {
        Elf64_Shdr shs[256];
        size_t n = eh.e_shnum < 256 ? eh.e_shnum : 256;
        Elf64_Shdr strh;
        if (pread(fd, shs, n * sizeof(Elf64_Shdr), (off_t)eh.e_shoff) ==
                (ssize_t)(n * sizeof(Elf64_Shdr)) &&
            pread(fd, &strh, sizeof strh,
                  (off_t)(eh.e_shoff + eh.e_shstrndx * sizeof(Elf64_Shdr))) ==
                (ssize_t)sizeof strh) {
            for (size_t i = 0; i < n && !found; i++) {
                char name[16];
                if (shs[i].sh_name >= strh.sh_size) continue;
                ssize_t r = pread(fd, name, sizeof name, (off_t)(strh.sh_offset + shs[i].sh_name));
                if (r <= 0) continue;
                name[sizeof name - 1] = '\0';
                found = strcmp(name, ".debug_info") == 0 || strcmp(name, ".zdebug_info") == 0;
            }
        }
    }
    close(fd);
    return found;
}

static Dwfl *module_dwfl(dbg_module *m) {
    if (m->dwfl == (void *)1) return NULL;
    if (m->dwfl != NULL) return m->dwfl;
    if (!full_symbols && !has_debug_info(m->path)) {
        m->dwfl = (void *)1;
        return NULL;
    }
    Dwfl *d = dw.begin(&dw.callbacks);
    if (d != NULL) {
        dw.report_begin(d);
        if (dw.report_elf(d, m->path, m->path, -1, m->bias, false) == NULL) {
            d = NULL;
        } else {
            dw.report_end(d, NULL, NULL);
        }
    }
    m->dwfl = d != NULL ? (void *)d : (void *)1;
    /* Also from a global: the registry is in mmap'd pages, where a leak checker scanning this
     * process (LSan in a sanitizer build) would not see libdw's caches as reachable. */
    static Dwfl *open_dwfls[256];
    static size_t nopen;
    if (d != NULL && nopen < sizeof open_dwfls / sizeof open_dwfls[0]) open_dwfls[nopen++] = d;
    return d;
}

static const char *die_name(Dwarf_Die *die) {
    Dwarf_Attribute at;
    if (dw.attr_integrate(die, DW_AT_name, &at) != NULL) return dw.formstring(&at);
    return dw.diename(die);
}

static bool die_udata(Dwarf_Die *die, unsigned name, Dwarf_Word *out) {
    Dwarf_Attribute at;
    return dw.attr_integrate(die, name, &at) != NULL && dw.formudata(&at, out) == 0;
}

/* Fill out->f from the line table and the inline scopes at look. */
static void resolve(Dwfl_Module *mod, uintptr_t look, dbg_sym *out) {
    const char *symname = dw.addrname(mod, look);
    const char *file = NULL;
    int line = 0;
    Dwfl_Line *ln = dw.getsrc(mod, look);
    if (ln != NULL) file = dw.lineinfo(ln, NULL, &line, NULL, NULL, NULL);
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = dw.addrdie(mod, look, &bias);
    Dwarf_Die cu_mem;
    if (cu == NULL) {
        /* No .debug_aranges (clang's default): find the unit by its own address ranges. */
        Dwarf *dwarf = dw.getdwarf(mod, &bias);
        Dwarf_Off off = 0, next;
        size_t hsize;
        while (dwarf != NULL && dw.nextcu(dwarf, off, &next, &hsize, NULL, NULL, NULL) == 0) {
            if (dw.offdie(dwarf, off + hsize, &cu_mem) != NULL &&
                dw.haspc(&cu_mem, look - bias) > 0) {
                cu = &cu_mem;
                break;
            }
            off = next;
        }
        if (cu != NULL && file == NULL) {
            Dwarf_Line *dl = dw.getsrc_die(cu, look - bias);
            if (dl != NULL) {
                file = dw.linesrc(dl, NULL, NULL);
                dw.lineno(dl, &line);
            }
        }
    }
    /* dwarf_getscopes gives the innermost scope at the address, but above an inlined call it
     * goes on through the inlined function's abstract definition, not through the functions it
     * was inlined into. dwarf_getscopes_die from the innermost scope walks the concrete tree:
     * every inlined call, innermost first, then the real function. */
    Dwarf_Die *scopes = NULL;
    int ns = cu != NULL ? dw.getscopes(cu, look - bias, &scopes) : 0;
    if (ns > 0) {
        Dwarf_Die *chain = NULL;
        int nc = dw.getscopes_die(&scopes[0], &chain);
        if (nc > 0) {
            free(scopes);
            scopes = chain;
            ns = nc;
        } else {
            free(chain);
        }
    }
    Dwarf_Files *files = NULL;
    size_t nfiles = 0;
    if (cu != NULL && dw.getsrcfiles(cu, &files, &nfiles) != 0) files = NULL;
    out->n = 0;
    bool outer = false;
    for (int i = 0; i < ns && out->n < DBG_MAX_INLINE; i++) {
        int tag = dw.tag(&scopes[i]);
        if (tag == DW_TAG_inlined_subroutine) {
            out->f[out->n++] = (dbg_frame){die_name(&scopes[i]), file, line};
            Dwarf_Word cf = 0, cl = 0;
            die_udata(&scopes[i], DW_AT_call_file, &cf);
            die_udata(&scopes[i], DW_AT_call_line, &cl);
            file = files != NULL && cf < nfiles ? dw.filesrc(files, cf, NULL, NULL) : NULL;
            line = (int)cl;
        } else if (tag == DW_TAG_subprogram) {
            const char *name = die_name(&scopes[i]);
            out->f[out->n++] = (dbg_frame){symname != NULL ? symname : name, file, line};
            outer = true;
            break;
        }
    }
    if (!outer && out->n < DBG_MAX_INLINE) out->f[out->n++] = (dbg_frame){symname, file, line};
    free(scopes);
}

#endif /* ALLOY_HAVE_LIBDW */

void alloy__dbg_symbolize(uint32_t stack, uintptr_t pc, bool is_return, dbg_sym *out) {
    memset(out, 0, sizeof *out);
    uintptr_t look = is_return && pc > 0 ? pc - 1 : pc;
    dbg_module *m = alloy__dbg_module_for(stack, pc);
    if (m != NULL) {
        out->module = m->path;
        out->offset = pc - m->bias;
    }
    alloy__dbg_self.inside++;
    dbg_lock_take(&sym_lock);
    if (cache == NULL) {
        cache = alloy__dbg_pages(CACHE_SLOTS * sizeof(centry));
        strings = alloy__dbg_pages(STRINGS_BYTES);
    }
    centry *c = NULL;
    if (cache != NULL) {
        size_t i = (size_t)((look * 0x9e3779b97f4a7c15ull) >> 51) & (CACHE_SLOTS - 1);
        for (size_t probe = 0; probe < 16; probe++, i = (i + 1) & (CACHE_SLOTS - 1)) {
            if (!cache[i].used) {
                c = &cache[i];
                break;
            }
            if (cache[i].pc == look && cache[i].mod == m) {
                out->n = cache[i].n;
                memcpy(out->f, cache[i].f, sizeof out->f);
                dbg_lock_drop(&sym_lock);
                alloy__dbg_self.inside--;
                return;
            }
        }
    }
#if ALLOY_HAVE_LIBDW
    if (m != NULL && dw_load()) {
        Dwfl *d = module_dwfl(m);
        Dwfl_Module *mod = d != NULL ? dw.addrmodule(d, look) : NULL;
        if (mod != NULL) resolve(mod, look, out);
    }
#else
    static bool noted;
    if (!noted) {
        noted = true;
        alloy__warn("debug: built without libdw (elfutils): frames show as function and "
                    "module+offset, not file:line (install libdw-dev and rebuild)");
    }
#endif
    if (out->n == 0 && (m == NULL || !m->unloaded)) {
        /* No DWARF: the dynamic symbol table of a module still loaded. */
        Dl_info di;
        if (dladdr((void *)look, &di) != 0 && di.dli_sname != NULL)
            out->f[out->n++] = (dbg_frame){di.dli_sname, NULL, 0};
    }
    for (unsigned k = 0; k < out->n; k++) {
        out->f[k].func = keep(out->f[k].func);
        out->f[k].file = keep(out->f[k].file);
    }
    if (c != NULL) {
        c->pc = look;
        c->mod = m;
        c->n = out->n;
        memcpy(c->f, out->f, sizeof c->f);
        c->used = true;
    }
    dbg_lock_drop(&sym_lock);
    alloy__dbg_self.inside--;
}

bool alloy_debug_symbolize(const void *pc, char *buf, size_t len) {
    dbg_sym s;
    alloy__dbg_symbolize(0, (uintptr_t)pc, true, &s);
    if (len > 0) buf[0] = '\0';
    if (s.n == 0 && s.module == NULL) return false;
    dbg_frame f = s.n > 0 ? s.f[s.n - 1] : (dbg_frame){NULL, NULL, 0};
    if (f.file != NULL)
        snprintf(buf, len, "%s %s:%d", f.func != NULL ? f.func : "??", f.file, f.line);
    else if (s.module != NULL)
        snprintf(buf, len, "%s (%s+0x%zx)", f.func != NULL ? f.func : "??", s.module,
                 (size_t)s.offset);
    else
        snprintf(buf, len, "%s", f.func != NULL ? f.func : "??");
    return true;
}
