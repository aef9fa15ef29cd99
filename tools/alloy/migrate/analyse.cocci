// SPDX-License-Identifier: MIT
// alloy migrate, first pass: where does memory that libc allocated for the caller leave the
// function that received it? Nothing is rewritten. Each finding is one line on
// $ALLOY_MIGRATE_OUT, "KIND NAME", which migrate.cocci reads back from $ALLOY_MIGRATE_TAINT
// (and this pass too: memory from a function found in one round is followed in the next):
//   func F      F returns such memory
//   field F     such memory is stored in a field named F
//   outparam F  F stores such memory through a pointer parameter
//   escape F    such memory is passed to F (a function of the code base may free it)

@initialize:python@
@@
import os

_out = open(os.environ.get("ALLOY_MIGRATE_OUT", "/dev/null"), "a")
_seen = set()
# What earlier rounds found: the driver reruns this pass until nothing new turns up.
_known = {"func": set(), "outparam": set()}
for _item in os.environ.get("ALLOY_MIGRATE_TAINT", "").split(";"):
    _kind, _sep, _name = _item.partition(" ")
    if _sep and _kind in _known:
        _known[_kind].add(_name)
_ignore = {"free", "printf", "fprintf", "puts", "fputs", "strlen", "strcmp", "strncmp",
           "strcpy", "memcpy", "fclose", "fwrite", "fread", "fflush", "perror", "strchr",
           "strrchr", "strstr", "strtol", "atoi", "sscanf", "snprintf", "sprintf"}


def found(kind, name):
    name = str(name)
    if (kind, name) not in _seen and name not in _ignore:
        _seen.add((kind, name))
        _out.write("%s %s\n" % (kind, name))
        _out.flush()


def field_of(e):
    # "a->b.c" -> "c"; None when e is not a field access.
    e = str(e).strip()
    for sep in ("->", "."):
        if sep in e:
            tail = e.rsplit(sep, 1)[1].strip()
            if tail.replace("_", "a").isalnum():
                return tail
    return None

@origin@
identifier fn;
identifier F : script:python() { F in _known["func"] };
identifier G : script:python() { G in _known["outparam"] };
expression E, D;
identifier lib1 = {getline, getdelim, asprintf, vasprintf, open_memstream, open_wmemstream};
identifier lib2 = {get_current_dir_name, canonicalize_file_name, backtrace_symbols, tempnam,
                   wcsdup};
@@
fn(...) {
<...
(
lib1(&E, ...)
|
scandir(D, &E, ...)
|
E = lib2(...)
|
E = realpath(D, NULL)
|
E = getcwd(NULL, ...)
|
E = F(...)
|
G(..., &E, ...)
)
...>
}

@script:python@
E << origin.E;
@@
f = field_of(E)
if f:
    found("field", f)

// Returned directly.
@ret_direct@
identifier fn;
expression D;
identifier lib2 = {get_current_dir_name, canonicalize_file_name, backtrace_symbols, tempnam,
                   wcsdup};
@@
fn(...) {
<+...
\(return lib2(...);\|return realpath(D, NULL);\|return getcwd(NULL, ...);\)
...+>
}

@script:python@
fn << ret_direct.fn;
@@
found("func", fn)

// Returned, stored through a pointer or in a field, or passed on.
@ret@
identifier origin.fn;
expression origin.E;
position p;
@@
fn(...) {
<...
return@p E;
...>
}

@script:python@
p << ret.p;
@@
found("func", p[0].current_element)

@deref@
identifier origin.fn;
expression origin.E;
expression X;
position p;
@@
fn(...) {
<...
*X =@p E
...>
}

@script:python@
p << deref.p;
@@
found("outparam", p[0].current_element)

@stored@
identifier origin.fn;
expression origin.E;
expression X;
identifier f;
@@
fn(...) {
<...
\(X->f = E\|X.f = E\)
...>
}

@script:python@
f << stored.f;
@@
found("field", f)

@passed@
identifier origin.fn;
expression origin.E;
identifier g;
@@
fn(...) {
<...
g(..., E, ...)
...>
}

@script:python@
g << passed.g;
@@
found("escape", g)

// getline(p, ...) with p a pointer parameter: the caller's variable receives the memory.
@outparam@
identifier fn, P;
type T;
identifier lib1 = {getline, getdelim, asprintf, vasprintf, open_memstream, open_wmemstream};
@@
fn(..., T P, ...) {
<+...
lib1(P, ...)
...+>
}

@script:python@
fn << outparam.fn;
@@
found("outparam", fn)
