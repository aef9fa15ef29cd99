# SPDX-License-Identifier: MIT
"""One case of the alloy migrate corpus, end to end.

The input program NAME.c is compiled and run as it is; then `alloy migrate` must
- in a dry run print a diff and leave the file alone,
- with --apply write exactly NAME.expected and a report whose sites are NAME.report,
- on the migrated file change nothing (a second run is a no-op);
and the migrated program must compile with -Wall -Wextra -Werror against alloy, print the
same output with the same exit status, and run clean under ALLOY_DEBUG=1 (no cross-heap free,
no size mismatch, no leak: the debug heap's findings go to stderr, which must stay empty).

ALLOY_MIGRATE_UPDATE=1 rewrites NAME.expected and NAME.report from the tool's output (for a
deliberate change of the rules; review the diff before committing it).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

TIMEOUT = 120


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, **kw)


def report_sites(path, prefix):
    # Sites without the header, with the temporary directory taken off the file names.
    with open(path) as f:
        return [l.rstrip("\n").replace(prefix, "", 1) for l in f if not l.startswith("#")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--alloy", required=True)
    ap.add_argument("--case", required=True)
    ap.add_argument("--cc", required=True)
    ap.add_argument("--include", action="append", default=[])
    ap.add_argument("--libdir", required=True)
    ap.add_argument("--sized", action="store_true")
    a = ap.parse_args()
    a.libdir = os.path.abspath(a.libdir)
    a.alloy = os.path.abspath(a.alloy)

    name = os.path.basename(a.case)[:-2]
    corpus = os.path.dirname(os.path.abspath(a.case))
    expected_path = os.path.join(corpus, name + ".expected")
    report_path = os.path.join(corpus, name + ".report")
    update = os.environ.get("ALLOY_MIGRATE_UPDATE") == "1"
    flags = ["--sized"] if a.sized else []
    cflags = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O1"]

    work = tempfile.mkdtemp(prefix="alloy-migrate-" + name + "-")
    try:
        src = os.path.join(work, "src")
        os.mkdir(src)
        target = os.path.join(src, name + ".c")
        shutil.copyfile(a.case, target)
        with open(a.case) as f:
            original = f.read()

        # The program before.
        r = run([a.cc] + cflags + ["-o", os.path.join(work, "before"), a.case])
        if r.returncode != 0:
            fail("the input does not compile:\n" + r.stderr)
        before = run([os.path.join(work, "before")], cwd=work)

        # Dry run: a diff on stdout, nothing written.
        r = run([a.alloy, "migrate"] + flags + [src])
        if r.returncode != 0:
            fail("dry run exited %d:\n%s" % (r.returncode, r.stderr))
        if "+++ " + target not in r.stdout:
            fail("dry run printed no diff for %s:\n%s" % (target, r.stdout + r.stderr))
        with open(target) as f:
            if f.read() != original:
                fail("the dry run changed the file")

        # --apply, with a report.
        report = os.path.join(work, "report.txt")
        r = run([a.alloy, "migrate", "--apply", "--report", report] + flags + [src])
        if r.returncode != 0:
            fail("--apply exited %d:\n%s" % (r.returncode, r.stdout + r.stderr))
        with open(target) as f:
            migrated = f.read()
        sites = report_sites(report, src + "/")
        if update:
            with open(expected_path, "w") as f:
                f.write(migrated)
            with open(report_path, "w") as f:
                f.write("".join(s + "\n" for s in sites))
        with open(expected_path) as f:
            if f.read() != migrated:
                r = run(["diff", "-u", expected_path, target])
                fail("migrated file differs from %s:\n%s" % (expected_path, r.stdout))
        with open(report_path) as f:
            want = [l.rstrip("\n") for l in f]
        if want != sites:
            fail("report differs:\nwant:\n%s\ngot:\n%s" % ("\n".join(want), "\n".join(sites)))

        # A second run over migrated code changes nothing.
        r = run([a.alloy, "migrate"] + flags + [src])
        if r.returncode != 0 or r.stdout.strip() != "":
            fail("second run is not a no-op (exit %d):\n%s" % (r.returncode, r.stdout))

        # The program after: same output, clean under the debug heap.
        inc = ["-I" + d for d in a.include]
        after_bin = os.path.join(work, "after")
        r = run([a.cc] + cflags + inc + ["-o", after_bin, target, "-L" + a.libdir, "-lalloy",
                                        "-Wl,-rpath," + a.libdir])
        if r.returncode != 0:
            fail("the migrated program does not compile:\n" + r.stderr)
        env = dict(os.environ, ALLOY_DEBUG="1", ALLOY_DEBUG_LEAK_EXITCODE="99")
        after = run([after_bin], cwd=work, env=env)
        if (after.returncode, after.stdout) != (before.returncode, before.stdout):
            fail("behaviour changed: before exit %d %r, after exit %d %r\n%s" %
                 (before.returncode, before.stdout, after.returncode, after.stdout, after.stderr))
        if after.stderr.strip():
            fail("stderr under ALLOY_DEBUG=1 is not empty:\n" + after.stderr)
        print("ok: %s (%d report sites, output %d bytes)" % (name, len(sites), len(after.stdout)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
