#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_docs.py <mode> <alloy-source-dir> [<alloy-build-dir>]

  names:  every public function declared in include/ (ALLOY_API, or an
          ALLOY_INLINE / `static inline` alloy_ function) is named in README.md, docs/*.md or
          man/alloy.3. Reads the headers when it runs, so new calls are
          checked as soon as they are declared.
  blocks: every ```c block of README.md and docs/*.md compiles as C11 with
          -Wall -Wextra -Wpedantic -Werror against the headers (and links
          against liballoy when it defines main); a block that includes no
          alloy header gets #include <alloy.h> first, so its declarations
          must agree with the real ones. A block that is only a
          fragment (a declaration list, a snippet without its context) is
          skipped when the line just above its fence is <!-- fragment -->;
          the skipped blocks are listed.
"""
import glob
import os
import re
import subprocess
import sys
import tempfile


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def public_functions(src):
    names = {}
    for path in sorted(glob.glob(os.path.join(src, "include", "**", "*.h"), recursive=True)):
        text = strip_comments(open(path, encoding="utf-8").read())
        rel = os.path.relpath(path, src)
        # ALLOY_API declarations: from the macro to the first '(' of a lower-case alloy_ name
        for m in re.finditer(r"\bALLOY_API\b([^;{]*?)\b(alloy_[a-z0-9_]+)\s*\(", text):
            names.setdefault(m.group(2), rel)
        for m in re.finditer(r"\b(?:static\s+inline|ALLOY_INLINE)\b[^;{(]*?\b(alloy_[a-z0-9_]+)\s*\(", text):
            names.setdefault(m.group(1), rel)
    # alloy__ names are internal halves of inline functions, not API
    return {n: h for n, h in names.items() if not n.startswith("alloy__")}


def doc_files(src):
    files = [os.path.join(src, "README.md")] + sorted(glob.glob(os.path.join(src, "docs", "*.md")))
    return [f for f in files if os.path.exists(f)]


def check_names(src):
    funcs = public_functions(src)
    if not funcs:
        print("FAIL: no public function found in include/ (is the source dir right?)")
        return 1
    text = ""
    for f in doc_files(src) + [os.path.join(src, "man", "alloy.3")]:
        if os.path.exists(f):
            text += open(f, encoding="utf-8").read() + "\n"
    missing = sorted(n for n in funcs if not re.search(r"\b%s\b" % re.escape(n), text))
    for n in missing:
        print("undocumented: %s (declared in %s)" % (n, funcs[n]))
    print("%d public functions, %d named in no doc" % (len(funcs), len(missing)))
    return 1 if missing else 0


FENCE = re.compile(r"^(\s*)```(\S*)\s*$")


def code_blocks(path):
    """Yield (line, lang, code, fragment) for each fenced block."""
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(2), i
        prev = lines[i - 1].strip() if i > 0 else ""
        i += 1
        body = []
        while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
            body.append(lines[i])
            i += 1
        i += 1
        yield start + 1, lang, "\n".join(body) + "\n", prev == "<!-- fragment -->"


def check_blocks(src, build):
    cc = os.environ.get("CC", "cc")
    flags = ["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror",
             "-I" + os.path.join(src, "include"), "-I" + os.path.join(build, "include")]
    failed = compiled = 0
    skipped = []
    with tempfile.TemporaryDirectory() as tmp:
        for doc in doc_files(src):
            rel = os.path.relpath(doc, src)
            for line, lang, code, fragment in code_blocks(doc):
                if lang != "c":
                    continue
                where = "%s:%d" % (rel, line)
                if fragment:
                    skipped.append(where)
                    continue
                c = os.path.join(tmp, "block.c")
                with open(c, "w", encoding="utf-8") as f:
                    # a block that includes no alloy header is checked against
                    # <alloy.h>: its declarations must agree with the real ones
                    if not re.search(r"#\s*include\s*<alloy", code):
                        f.write("#include <alloy.h>\n#line 1\n")
                    f.write(code)
                if re.search(r"\bint\s+main\s*\(", code):
                    cmd = [cc] + flags + [c, "-o", os.path.join(tmp, "block"),
                                          "-L" + build, "-lalloy", "-lpthread"]
                else:
                    cmd = [cc] + flags + ["-c", c, "-o", os.path.join(tmp, "block.o")]
                r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                compiled += 1
                if r.returncode != 0:
                    failed += 1
                    print("FAIL %s: the ```c block does not compile:" % where)
                    print(r.stdout.replace(c, where).rstrip())
    for w in skipped:
        print("skipped (marked <!-- fragment -->): %s" % w)
    print("%d C blocks compiled, %d failed, %d fragments skipped" % (compiled, failed, len(skipped)))
    return 1 if failed or compiled == 0 else 0


def main(argv):
    if len(argv) < 3 or argv[1] not in ("names", "blocks") or (argv[1] == "blocks" and len(argv) < 4):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    if argv[1] == "names":
        return check_names(argv[2])
    return check_blocks(argv[2], argv[3])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
