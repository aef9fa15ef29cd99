# SPDX-License-Identifier: MIT
"""Report and log files of ALLOY_DEBUG=1 under hostile conditions (issue 15, items 11-13, and
ALLOY_DEBUG_LOG). One case per run: test_debug_files.py CASE VICTIM.

Every JSON report a case makes is read back with a strict JSON parser.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile


def run(victim, args, env_extra, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLOY_DEBUG")}
    env["ALLOY_DEBUG"] = "1"
    env.update(env_extra)
    return subprocess.run([victim] + args, env=env, cwd=cwd, capture_output=True, timeout=60)


def records(path):
    """Every line of a JSON-lines report, parsed strictly (no NaN, no stray bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    text = data.decode("utf-8")  # raises on a byte that is not UTF-8
    out = []
    for line in text.splitlines():
        out.append(json.loads(line, parse_constant=lambda c: fail("constant " + c)))
    return out


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def expect(cond, msg, proc=None):
    if not cond:
        if proc is not None:
            print("stdout:", proc.stdout.decode(errors="replace"))
            print("stderr:", proc.stderr.decode(errors="replace"))
        fail(msg)


def as_reported(raw):
    """The documented rule: valid UTF-8 as is, every other byte b as the code point U+00bb."""
    return raw.decode("utf-8", errors="surrogateescape").translate(
        {0xDC00 + b: b for b in range(0x80, 0x100)})


def case_json_non_utf8(victim, tmp):
    # A module path that is not UTF-8: the victim runs from a directory named in Latin-1.
    d = os.path.join(tmp.encode(), b"caf\xe9-\xff\xfe")
    os.mkdir(d)
    exe = os.path.join(d, b"victim")
    shutil.copy(victim, exe)
    rep = os.path.join(tmp, "r.json")
    p = run(exe, ["leak"], {"ALLOY_DEBUG_REPORT": rep}, tmp)
    recs = records(rep)
    leaks = [r for r in recs if r["kind"] == "leak"]
    expect(len(leaks) == 1 and leaks[0]["bytes"] == 42, "one 42-byte leak in the report", p)
    modules = {f["module"] for s in leaks[0]["stacks"] for f in s["frames"]}
    expect(as_reported(exe) in modules, "module path %r not among %r" % (exe, modules), p)


def case_exec_per_image(victim, tmp):
    # Three images with one pid: each writes its own file, none is lost, nothing on stderr.
    p = run(victim, ["exec", "2"], {"ALLOY_DEBUG_REPORT": os.path.join(tmp, "r.%p.json"),
                                    "ALLOY_DEBUG_ON_ERROR": "continue"}, tmp)
    expect(p.returncode == 0, "exit status %d" % p.returncode, p)
    expect(b"cannot create" not in p.stderr, "a report file could not be created", p)
    files = sorted(f for f in os.listdir(tmp) if f.startswith("r."))
    expect(len(files) == 3, "three files, got %r" % files, p)
    pid = files[0].split(".")[1].split("-")[0]
    expect(files == ["r.%s-1.json" % pid, "r.%s-2.json" % pid, "r.%s.json" % pid],
           "names %r" % files)
    kinds = [[r["kind"] for r in records(os.path.join(tmp, f))] for f in files]
    # -1 and the first image: one finding each; -2, the last image, also leaks.
    expect(kinds[0] == ["size-mismatch"] and kinds[2] == ["size-mismatch"], "kinds %r" % kinds)
    expect(kinds[1][0] == "size-mismatch" and "leak" in kinds[1], "kinds %r" % kinds)


def case_long_path(victim, tmp):
    path = os.path.join(tmp, "d" * 200, "e" * 200, "f" * 200) + "/" + "x" * 4000 + ".json"
    p = run(victim, ["leak"], {"ALLOY_DEBUG_REPORT": path}, tmp)
    err = p.stderr.decode()
    expect("report file path is too long (" in err and "at most 4095" in err,
           "a message about the long path", p)
    expect("LEAKS: alloy debug" in err, "the findings still on stderr", p)


def case_hard_link(victim, tmp):
    a, b = os.path.join(tmp, "a.json"), os.path.join(tmp, "b.json")
    with open(a, "w") as f:
        f.write("precious\n")
    os.link(a, b)
    p = run(victim, ["leak"], {"ALLOY_DEBUG_REPORT": b, "ALLOY_DEBUG_REPORT_OVERWRITE": "1"}, tmp)
    expect(open(a).read() == "precious\n", "the other link's file was changed", p)
    expect(b"has 2 hard links: not written through them" in p.stderr, "a message", p)
    # Without other links, overwrite replaces the file, which is then a valid report.
    os.unlink(a)
    p = run(victim, ["leak"], {"ALLOY_DEBUG_REPORT": b, "ALLOY_DEBUG_REPORT_OVERWRITE": "1"}, tmp)
    expect(any(r["kind"] == "leak" for r in records(b)), "a leak in the replaced file", p)


def case_unwritable(victim, tmp):
    p = run(victim, ["leak"], {"ALLOY_DEBUG_REPORT": "/dev/full",
                               "ALLOY_DEBUG_REPORT_OVERWRITE": "1"}, tmp)
    expect(b"writing the report file failed (No space left on device)" in p.stderr,
           "a message for /dev/full", p)
    p = run(victim, ["leak"], {"ALLOY_DEBUG_REPORT": os.path.join(tmp, "missing", "r.json")}, tmp)
    expect(b"cannot create report file (No such file or directory" in p.stderr,
           "a message for a missing directory", p)
    p = run(victim, ["leak"], {"ALLOY_DEBUG_LOG": "/dev/full",
                               "ALLOY_DEBUG_REPORT_OVERWRITE": "1"}, tmp)
    expect(b"writing the log file failed (No space left on device)" in p.stderr,
           "a message for a log on /dev/full", p)


def case_log(victim, tmp):
    # The program's own output is what it would be without the debug allocator.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLOY_DEBUG")}
    env.pop("ALLOY_DEBUG", None)
    plain = subprocess.run([victim, "say", "hello"], env=env, capture_output=True, timeout=60)
    p = run(victim, ["say", "hello"], {"ALLOY_DEBUG_LOG": os.path.join(tmp, "log.%p"),
                                       "ALLOY_DEBUG_REPORT": os.path.join(tmp, "r.json")}, tmp)
    expect(p.stdout == plain.stdout and p.stderr == plain.stderr == b"",
           "stdout/stderr changed by the debug allocator", p)
    logs = [f for f in os.listdir(tmp) if f.startswith("log.")]
    expect(len(logs) == 1, "one log file, got %r" % logs)
    text = open(os.path.join(tmp, logs[0])).read()
    expect("SUMMARY: alloy debug: 42 bytes leaked in 1 blocks" in text, "the leak in the log")
    records(os.path.join(tmp, "r.json"))


def case_suppressions(victim, tmp):
    # LSan's format: a pattern on a function, a source file or a module suppresses the site.
    def leaks_with(lines):
        supp = os.path.join(tmp, "s.supp")
        with open(supp, "w") as f:
            f.write("\n".join(lines) + "\n")
        rep = os.path.join(tmp, "r.json")
        if os.path.exists(rep):
            os.unlink(rep)
        p = run(victim, ["leak"], {"ALLOY_DEBUG_SUPPRESSIONS": supp, "ALLOY_DEBUG_REPORT": rep},
                tmp)
        expect(p.returncode == 0, "exit status %d" % p.returncode, p)
        return p, [r for r in records(rep) if r["kind"] == "leak"]
    for lines in (["# the test's own leak", "leak:leak42"], ["leak:debug_vic*.c"],
                  ["leak:^leak4*$"], ["leak:debug_victim$"]):
        p, leaks = leaks_with(lines)
        expect(leaks == [] and b"leaked" not in p.stderr, "%r did not suppress" % lines, p)
    for lines in (["leak:no_such_function"], ["leak:^eak42"], ["leak:leak42x$"]):
        p, leaks = leaks_with(lines)
        expect(len(leaks) == 1 and b"42 bytes leaked in 1 blocks" in p.stderr,
               "%r suppressed" % lines, p)
    p, leaks = leaks_with(["frobnicate:leak42"])
    expect(b's.supp:1: not a "leak:PATTERN" line; ignored' in p.stderr, "a bad line is named", p)


CASES = {n[5:]: f for n, f in globals().items() if n.startswith("case_")}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in CASES:
        print("usage: test_debug_files.py %s VICTIM" % "|".join(CASES), file=sys.stderr)
        sys.exit(2)
    with tempfile.TemporaryDirectory() as tmp:
        CASES[sys.argv[1]](os.path.abspath(sys.argv[2]), tmp)
    print("ok")
