// SPDX-License-Identifier: MIT
// alloy migrate: rewrite the malloc family to the alloy API (tools/alloy/migrate.c runs this).
//
// Two phases. The first only looks: it finds what must stay with libc (memory that libc
// allocates for the caller, names that a local declaration shadows) and what cannot be told
// (pointers that analyse.cocci saw leave a function holding libc memory), and records each
// decision under a key that survives rewriting: (file, function, argument text). The second
// rewrites every call whose key was not recorded. Positions are not used across a rewrite:
// once a rule has changed a function, positions in it refer to the rewritten text.
//
// Every decision is written as one line to $ALLOY_MIGRATE_OUT:
//   KIND <tab> WHAT <tab> FILE <tab> LINE <tab> REASON
// KIND is rewrite, kept or review (LINE is 0 for rewrites); the driver turns these lines into
// the summary and the report.

virtual sized

@initialize:python@
@@
import os

_out = open(os.environ.get("ALLOY_MIGRATE_OUT", "/dev/null"), "a")
_taint = {"func": set(), "field": set(), "outparam": set(), "escape": set()}
for _item in os.environ.get("ALLOY_MIGRATE_TAINT", "").split(";"):
    _kind, _sep, _name = _item.partition(" ")
    if _sep and _kind in _taint:
        _taint[_kind].add(_name)

SHADOW = set()     # (file, function, name): a local or a parameter of that name
KEEP = set()       # (file, function, argument of free): leave free alone
KEEP_ALLOC = set() # (file, function, allocator, arguments): leave the allocation alone
_assigned = {}     # (file, function, variable): assignments seen (--sized)
LOCALS = set()     # (file, function, variable): declared in that function (--sized)
_lines = {}


def here():
    return cocci.files()[0]


def emit(kind, what, line, reason=""):
    reason = str(reason).replace("\t", " ").replace("\n", " ")
    _out.write("%s\t%s\t%s\t%s\t%s\n" % (kind, what, here(), line, reason))
    _out.flush()


def name_at(p):
    # The identifier that starts at position p (the libc function a rule matched).
    f, line, col = p[0].file, int(p[0].line), int(p[0].column)
    if f not in _lines:
        with open(f, errors="replace") as fh:
            _lines[f] = fh.read().split("\n")
    text = _lines[f][line - 1] if line - 1 < len(_lines[f]) else ""
    end = col
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    return text[col:end] or "a libc function"


def tainted(kind, name):
    return str(name) in _taint[kind]


def norm(text):
    # Constraint scripts see an expression as tokens joined by spaces, script rules as written.
    return "".join(str(text).split())


def key(p, arg):
    return (here(), p[0].current_element, norm(arg))


def shadowed(p, name):
    return (here(), p[0].current_element, name) in SHADOW


def may_free(p, arg):
    return not shadowed(p, "free") and key(p, arg) not in KEEP


def may_alloc(p, name, args):
    return not shadowed(p, name) and (here(), p[0].current_element, name,
                                      norm(args)) not in KEEP_ALLOC


def rewrite(what):
    emit("rewrite", what, 0)


def sized_ok(x, S, pa, pf):
    # x is a local of the function assigned once (by the allocation), its size may be written
    # twice, and neither call is kept or shadowed.
    return (plain_size(S) and key(pf, x) in LOCALS and _assigned.get(key(pf, x), 0) == 1
            and may_free(pf, x)
            and may_alloc(pa, "malloc", S))


def plain_size(s):
    # A size that may be written a second time at the free: a sizeof, which is not evaluated
    # (alloy migrate does not size VLAs), with no increment or assignment inside.
    s = str(s).strip()
    return s.startswith("sizeof") and not any(op in s for op in ("++", "--", "="))

// ==== phase 1: decide =====================================================================

// ---- names a local declaration or a parameter shadows: never ours -------------------------

@shadow@
identifier x = {malloc, calloc, realloc, reallocarray, free, strdup, strndup, aligned_alloc,
                posix_memalign, memalign, malloc_usable_size};
type T;
position p;
@@
\(T x@p;\|T x@p = ...;\)

@script:python@
x << shadow.x;
p << shadow.p;
@@
SHADOW.add((here(), p[0].current_element, str(x)))

@shadow_param@
identifier fn;
identifier x = {malloc, calloc, realloc, reallocarray, free, strdup, strndup, aligned_alloc,
                posix_memalign, memalign, malloc_usable_size};
type T;
position p;
@@
fn@p(..., T x, ...) { ... }

@script:python@
x << shadow_param.x;
fn << shadow_param.fn;
@@
SHADOW.add((here(), str(fn), str(x)))

// ---- memory libc allocates for the caller: its free stays free --------------------------

@origin@
identifier fn;
expression E, D;
identifier lib1 = {getline, getdelim, asprintf, vasprintf, open_memstream, open_wmemstream};
identifier lib2 = {get_current_dir_name, canonicalize_file_name, backtrace_symbols, tempnam,
                   wcsdup};
position po;
@@
fn(...) {
<...
(
lib1@po(&E, ...)
|
scandir@po(D, &E, ...)
|
E = lib2@po(...)
|
E = realpath@po(D, NULL)
|
E = getcwd@po(NULL, ...)
)
...>
}

@keep_free@
identifier origin.fn;
expression origin.E;
position p;
@@
fn(...) {
<...
free@p(E)
...>
}

@script:python@
p << keep_free.p;
E << origin.E;
po << origin.po;
@@
KEEP.add(key(p, E))
emit("kept", "free", p[0].line,
     "frees memory from %s (line %s), which libc allocated" % (name_at(po), po[0].line))

@keep_free_elem@
identifier origin.fn;
expression origin.E;
expression I;
position p;
@@
fn(...) {
<...
free@p(E[I])
...>
}

@script:python@
p << keep_free_elem.p;
E << origin.E;
I << keep_free_elem.I;
po << origin.po;
@@
KEEP.add(key(p, "%s[%s]" % (E, I)))
emit("kept", "free", p[0].line,
     "frees an entry from %s (line %s), which libc allocated" % (name_at(po), po[0].line))

// A buffer handed to getline, getdelim or open_memstream may be reallocated by libc: its
// allocation stays with libc as well.
@keep_alloc@
identifier origin.fn;
expression origin.E;
identifier a = {malloc, calloc, realloc, reallocarray, strdup, strndup};
expression list ES;
position p;
@@
fn(...) {
<...
E = a@p(ES)
...>
}

@script:python@
p << keep_alloc.p;
a << keep_alloc.a;
ES << keep_alloc.ES;
po << origin.po;
@@
KEEP_ALLOC.add((here(), p[0].current_element, str(a), norm(ES)))
emit("kept", str(a), p[0].line,
     "the block goes to %s (line %s), which may reallocate it with libc" % (name_at(po), po[0].line))

// ---- cannot tell: libc memory leaves a function somewhere (analyse.cocci) -----------------

@review_call@
identifier F : script:python() { tainted("func", F) };
expression list ES;
position p;
@@
free@p(F(ES))

@script:python@
p << review_call.p;
F << review_call.F;
ES << review_call.ES;
@@
if key(p, "%s(%s)" % (F, ES)) not in KEEP:
    KEEP.add(key(p, "%s(%s)" % (F, ES)))
    emit("review", "free", p[0].line, "frees the result of %s, which may return memory from libc" % F)

@review_var@
identifier fn;
expression E;
identifier F : script:python() { tainted("func", F) or tainted("outparam", F) };
position pa;
@@
fn(...) {
<...
\(E = F@pa(...)\|F@pa(..., &E, ...)\)
...>
}

@review_var_free@
identifier review_var.fn;
expression review_var.E;
position p;
@@
fn(...) {
<...
free@p(E)
...>
}

@script:python@
p << review_var_free.p;
E << review_var.E;
F << review_var.F;
@@
if key(p, E) not in KEEP:
    KEEP.add(key(p, E))
    emit("review", "free", p[0].line, "%s comes from %s, which may hand out memory from libc" % (E, F))

@review_field@
identifier f : script:python() { tainted("field", f) };
expression X;
position p;
@@
free@p(X->f)

@review_field_dot@
identifier f : script:python() { tainted("field", f) };
expression X;
position p;
@@
free@p(X.f)

@script:python@
p << review_field.p;
f << review_field.f;
X << review_field.X;
@@
P = "%s->%s" % (X, f)
if key(p, P) not in KEEP:
    KEEP.add(key(p, P))
    emit("review", "free", p[0].line, "field %s holds memory from libc somewhere in the code base" % f)

@script:python@
p << review_field_dot.p;
f << review_field_dot.f;
X << review_field_dot.X;
@@
P = "%s.%s" % (X, f)
if key(p, P) not in KEEP:
    KEEP.add(key(p, P))
    emit("review", "free", p[0].line, "field %s holds memory from libc somewhere in the code base" % f)

@review_param@
identifier g : script:python() { tainted("escape", g) };
identifier P;
type T;
position p;
@@
g(..., T P, ...) {
<...
free@p(P)
...>
}

@script:python@
p << review_param.p;
g << review_param.g;
P << review_param.P;
@@
if key(p, P) not in KEEP:
    KEEP.add(key(p, P))
    emit("review", "free", p[0].line,
         "%s is passed memory from libc somewhere in the code base, maybe in %s" % (g, P))

// ---- realloc(p, 0) is a free under glibc, not under alloy ---------------------------------

@realloc0_stmt@
expression P, Q;
position p;
@@
Q = realloc@p(P, 0);

@realloc0_other@
expression P;
position p != realloc0_stmt.p;
@@
realloc@p(P, 0)

@script:python@
p << realloc0_other.p;
@@
emit("review", "realloc", p[0].line,
     "realloc(p, 0) frees p and returns NULL under glibc; alloy_realloc returns a minimal block")

// ---- --sized: the free of a block whose size the allocation shows ---------------------------

@assign depends on sized@
local idexpression x;
expression E;
position p;
@@
\(x@p = E\|&x@p\)

@script:python depends on sized@
x << assign.x;
p << assign.p;
@@
k = key(p, x)
_assigned[k] = _assigned.get(k, 0) + 1

@locals depends on sized@
identifier x;
type T;
position p;
@@
\(T x@p;\|T x@p = ...;\)

@script:python depends on sized@
x << locals.x;
p << locals.p;
@@
LOCALS.add(key(p, x))

@sized_cand depends on sized exists@
identifier x;
type T;
expression S;
position pa, pf;
@@
\(T x = malloc@pa(S);\|x = malloc@pa(S);\)
...
free@pf(x);

@script:python depends on sized@
x << sized_cand.x;
S << sized_cand.S;
pa << sized_cand.pa;
pf << sized_cand.pf;
@@
if not sized_ok(x, S, pa, pf):
    cocci.include_match(False)

// ==== phase 2: rewrite ====================================================================

@sized_free depends on sized@
identifier sized_cand.x;
expression sized_cand.S;
position sized_cand.pf;
@@
- free@pf(x)
+ alloy_free_sized(x, S)

@script:python depends on sized_free@
pf << sized_cand.pf;
@@
rewrite("free -> alloy_free_sized")

@realloc0_cand@
expression P, Q;
position p;
@@
Q = realloc@p(P, 0);

@script:python@
p << realloc0_cand.p;
P << realloc0_cand.P;
@@
if not may_alloc(p, "realloc", "%s, 0" % P):
    cocci.include_match(False)

@rw_realloc0@
expression realloc0_cand.P, realloc0_cand.Q;
position realloc0_cand.p;
@@
- Q = realloc@p(P, 0);
+ alloy_free(P);
+ Q = NULL;

@script:python depends on rw_realloc0@
@@
rewrite("realloc(p, 0) -> alloy_free")

@rw_free@
expression P;
position p : script:python(P) { may_free(p, P) };
@@
- free@p(P)
+ alloy_free(P)

@script:python@
p << rw_free.p;
@@
rewrite("free")

@rw_same@
identifier f = {malloc, calloc, realloc, reallocarray, strdup, strndup, posix_memalign};
fresh identifier g = "alloy_" ## f;
expression list ES;
position p : script:python(f, ES) { may_alloc(p, str(f), ES) };
@@
- f@p(ES)
+ g(ES)

@script:python@
f << rw_same.f;
p << rw_same.p;
@@
rewrite(str(f))

@rw_aligned@
identifier al = {aligned_alloc, memalign};
expression A, N;
position p : script:python(al) { not shadowed(p, str(al)) };
@@
- al@p(A, N)
+ alloy_malloc_aligned(N, A)

@script:python@
al << rw_aligned.al;
p << rw_aligned.p;
@@
rewrite(str(al))

@rw_usable@
expression P;
position p : script:python() { not shadowed(p, "malloc_usable_size") };
@@
- malloc_usable_size@p(P)
+ alloy_usable_size(P)

@script:python@
p << rw_usable.p;
@@
rewrite("malloc_usable_size")

// free as a value: callbacks, initializers, function-pointer assignments. A call still named
// free here is one phase 1 kept.
@rw_free_value@
identifier free_fn = free;
expression list ES;
position p : script:python() { not shadowed(p, "free") };
@@
(
free_fn(ES)
|
- free_fn@p
+ alloy_free
)

@script:python@
p << rw_free_value.p;
@@
rewrite("free (as a value)")

// ---- #include <alloy.h>, once per file that needs it ---------------------------------------

@has_alloy@
@@
#include <alloy.h>

@add_include depends on !has_alloy && (sized_free || rw_realloc0 || rw_free || rw_same || rw_aligned || rw_usable || rw_free_value)@
@@
#include <stdlib.h>
+#include <alloy.h>

@add_include_any depends on !has_alloy && !add_include && (sized_free || rw_realloc0 || rw_free || rw_same || rw_aligned || rw_usable || rw_free_value)@
@@
#include <stdio.h>
+#include <alloy.h>
