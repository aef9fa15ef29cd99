# SPDX-License-Identifier: MIT
"""tools.bench.*: `alloy bench` end to end.

usage: check_bench.py CASE ALLOY BENCH_VICTIM OUTDIR
CASE: workloads | selfcheck | command | command-fail | json | timeout | interrupt | usage |
      chromium | path | progress
"""
import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios

from leftovers import leftovers  # tests/tools/leftovers.py, beside this script

case, alloy, victim, outdir = sys.argv[1:5]
work = tempfile.mkdtemp(prefix="alloy-bench-test.")
failures = []
TINY = ["--scale", "0.01", "--runs", "1"]


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def bench(*args, env=None, timeout=300):
    p = subprocess.run([alloy, "bench", *args], capture_output=True, text=True, cwd=work,
                       env=env, timeout=timeout)
    return p


def build_backends():
    out = bench("--help").stdout
    m = re.search(r"NAME \(one of: ([a-z ]+)\)", out)
    return m.group(1).split()


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_json(d, mode, runs):
    """Every member of the JSON output, with its type and the relations between them."""
    check(d["tool"] == "alloy bench" and isinstance(d["version"], str), "tool and version")
    check(d["mode"] == mode, f"mode {d['mode']}")
    check(number(d["cpus"]) and d["cpus"] >= 1, "cpus")
    check(d["runs"] == runs, "runs")
    check(d["confidence"] == 0.95 and d["alpha"] == 0.05, "confidence and alpha")
    check(number(d["resamples"]) and number(d["seed"]), "resamples and seed")
    check((d["scale"] is None) == (mode == "command"), "scale only for workloads")
    check((d["command"] is None) == (mode == "workloads"), "command only for a command")
    check(isinstance(d["mi_options"], list), "mi_options")
    check(len(d["backends"]) >= 1, "backends")
    for b in d["backends"]:
        check(set(b) == {"spec", "name", "version", "library"}, f"backend members {sorted(b)}")
        check(b["spec"].split(":")[0] == b["name"], f"backend {b['spec']} ran as {b['name']}")
        check(b["version"] != "" and b["library"].startswith("/"), f"{b['spec']}: version, file")
    specs = [b["spec"] for b in d["backends"]]
    keys = {"workload", "threads", "backend", "role", "ok_runs", "failed_runs", "failure",
            "verdict", "median_s", "median_ci", "median_cpu_s", "median_max_rss_kb", "ops_per_s",
            "median_rss_end_kb", "median_live_bytes", "ratio", "ratio_ci", "p", "noise", "runs"}
    run_keys = {"ok", "seconds", "wall_s", "user_s", "sys_s", "max_rss_kb", "exit_code", "signal",
                "status", "timed_out", "stderr_last"}
    cells = {}
    for r in d["results"]:
        check(set(r) == keys, f"result members {sorted(set(r) ^ keys)}")
        cells.setdefault((r["workload"], r["threads"]), []).append(r)
        check(r["backend"] in specs, f"result backend {r['backend']}")
        check(r["ok_runs"] + r["failed_runs"] == runs and len(r["runs"]) == runs, "run counts")
        check((r["failure"] is None) == (r["failed_runs"] == 0), "failure text iff a run failed")
        want = {"workload", "threads"} if mode == "command" else set()
        check(all(r[k] is None for k in want), "no workload in command mode")
        for x in r["runs"]:
            rk = run_keys | ({"ops", "rss_end_kb", "live_bytes"} if mode == "workloads" else set())
            check(set(x) == rk, f"run members {sorted(set(x) ^ rk)}")
            check(x["ok"] == (x["exit_code"] == 0 and x["seconds"] is not None), "ok run")
            check(number(x["wall_s"]) and x["wall_s"] > 0, "wall time")
            check(x["seconds"] is None or 0 < x["seconds"] <= x["wall_s"], "work within wall")
            check(x["max_rss_kb"] > 0 or not x["ok"], "peak RSS")
            if mode == "workloads" and x["ok"]:
                check(x["ops"] > 0, "operations counted")
        if r["ok_runs"] == runs:
            lo, hi = r["median_ci"]
            check(lo <= r["median_s"] <= hi, "the median inside its interval")
            check(r["median_max_rss_kb"] > 0 and r["median_cpu_s"] >= 0, "RSS and CPU")
            if mode == "workloads":
                check(r["ops_per_s"] > 0, "throughput")
    for (wl, th), rs in cells.items():
        roles = [r["role"] for r in rs]
        check(roles[0] == "baseline" and roles[-1] == "aa" and
              roles.count("baseline") == 1 and roles.count("aa") == 1,
              f"{wl}/{th}: baseline first, A/A last ({roles})")
        check(rs[0]["backend"] == rs[-1]["backend"] == specs[0], "A/A is the baseline again")
        base = rs[0]
        if base["ok_runs"] == runs:
            check(base["ratio"] == 1 and base["verdict"] == "baseline", "the baseline row")
        for r in rs[1:]:
            if r["ok_runs"] == runs and base["ok_runs"] == runs:
                check(number(r["ratio"]) and 0 <= r["p"] <= 1, "ratio and p")
                check(abs(r["ratio"] - r["median_s"] / base["median_s"]) < 1e-6, "ratio of medians")
                check(number(r["noise"]) and r["noise"] >= 0, "noise")
                v = r["verdict"]
                if r["role"] == "aa":
                    check(v == "A/A", "A/A verdict")
                else:
                    check(v in ("faster", "slower", "no difference", "too few runs"),
                          f"verdict {v}")
                    # Below 5 runs a side p never gets below 0.05: no verdict either way.
                    check((v == "too few runs") == (runs < 5), f"too few runs at {runs}: {v}")
                    big = r["p"] < 0.05 and abs(r["ratio"] - 1) > r["noise"]
                    if runs >= 5:
                        check((v != "no difference") == big,
                              "named only beyond noise and p < 0.05")
            else:
                check(r["verdict"] == "failed" or base["ok_runs"] < runs, "failed verdict")
    return cells


if case == "workloads":
    # Every workload under every backend of the build, 1 and 2 threads, checked by itself.
    backends = build_backends()
    js = os.path.join(work, "w.json")
    p = bench(*TINY, "--runs", "2", "--threads", "1,2", "--json", js)
    check(p.returncode == 0, f"exit 0 ({p.returncode}): {p.stderr[-500:]}")
    d = load(js)
    got = [b["spec"] for b in d["backends"]]
    check(got == backends, f"every backend of the build ran ({got} vs {backends})")
    cells = check_json(d, "workloads", 2)
    names = ["lifo", "batch", "mixed", "xthread", "larson", "false-sharing", "spike"]
    for wl in names:
        for th in (1, 2):
            if wl == "xthread" and th == 1:
                check((wl, 1) not in cells, "xthread runs at least 2 threads")
                continue
            rs = cells.get((wl, th), [])
            check(len(rs) == len(backends) + 1, f"{wl}/{th}: every backend and A/A")
            check(all(r["ok_runs"] == 2 for r in rs), f"{wl}/{th}: every run passed its checks")
    spike = cells[("spike", 1)][0]
    check(spike["median_live_bytes"] > 0 and spike["median_rss_end_kb"] > 0, "spike: RSS left")
    check("spike" in p.stdout and " left" in p.stdout, "spike: the table shows the RSS left")
    for b in backends:
        check(re.search(r"^  %s +%s \S+" % (b, b), p.stdout, re.M), f"table names {b}'s version")
elif case == "selfcheck":
    # The checks catch damage: one byte flipped in a block makes every workload fail loudly.
    env = dict(os.environ, ALLOY_BENCH_SELFTEST_CORRUPT="1")
    js = os.path.join(work, "c.json")
    p = bench(*TINY, "--threads", "2", "--backend", "libc", "--json", js, env=env)
    check(p.returncode == 1, f"exit 1 ({p.returncode})")
    d = load(js)
    for r in d["results"]:
        check(r["ok_runs"] == 0 and r["verdict"] == "failed", f"{r['workload']}: failed")
        check("was changed while allocated" in r["failure"], f"{r['workload']}: {r['failure']}")
        check(r["runs"][0]["exit_code"] == 1, "the child exits 1")
    check(p.stdout.count("FAILED 1/1 runs") == len(d["results"]), "the table says FAILED")
elif case == "command":
    js = os.path.join(work, "cmd.json")
    p = bench("--runs", "3", "--backend", "libc", "--backend", "mimalloc", "--json", js, "--",
              victim, "20000")
    check(p.returncode == 0, f"exit 0 ({p.returncode}): {p.stderr}")
    d = load(js)
    check(d["command"] == [victim, "20000"], "the command in the JSON")
    check_json(d, "command", 3)
    check([r["role"] for r in d["results"]] == ["baseline", "candidate", "aa"], "arms")
    check("libc (A/A)" in p.stdout and "A/A: noise" in p.stdout, "the A/A row and its noise")
    check(re.search(r"^mimalloc .*too few runs to compare \(5 needed\)", p.stdout, re.M),
          "3 runs: too few to compare, not 'no difference'")
    check("20000" not in p.stdout, "the command's output is not shown")
elif case == "command-fail":
    # A command that fails under one backend: reported with its status, not averaged.
    js = os.path.join(work, "f.json")
    p = bench("--runs", "2", "--backend", "libc", "--backend", "mimalloc", "--json", js, "--",
              victim, "1000", "exit-under", "mimalloc", "3")
    check(p.returncode == 1, f"exit 1 ({p.returncode})")
    check(re.search(r"^mimalloc .*FAILED 2/2 runs: run 1: exit status 3: bench_victim: failing "
                    r"under mimalloc as asked", p.stdout, re.M), "FAILED with status and stderr")
    d = load(js)
    r = d["results"][1]
    check(r["verdict"] == "failed" and r["median_s"] is None, "no median of failed runs")
    check([x["exit_code"] for x in r["runs"]] == [3, 3], "exit codes in the JSON")
    check(d["results"][0]["ok_runs"] == 2, "the baseline still measured")
    # The baseline fails every run: the others are measured but not compared.
    p = bench("--runs", "2", "--backend", "mimalloc", "--backend", "libc", "--json", js,
              "--force", "--", victim, "1000", "exit-under", "mimalloc", "4")
    rs = load(js)["results"]
    check(p.returncode == 1 and [r["verdict"] for r in rs] == ["failed", "no baseline", "failed"],
          f"no baseline: {[r['verdict'] for r in rs]}")
    check("not compared: every baseline run failed" in p.stdout and rs[1]["ratio"] is None,
          "the other backend is not compared")
    p = bench("--runs", "1", "--backend", "libc", "--backend", "jemalloc", "--", victim, "10",
              "abort-under", "jemalloc")
    check(p.returncode == 1 and "killed by signal 6" in p.stdout, "a crash: the signal named")
    p = bench("--runs", "1", "--", os.path.join(work, "no-such-program"))
    check(p.returncode == 1 and "cannot run" in p.stderr and p.stderr.count("\n") == 1,
          f"a missing command: one line, exit 1 ({p.stderr!r})")
    # An empty name or a directory is no command either: refused before any run.
    for name in ("", work):
        p = bench("--runs", "1", "--backend", "libc", "--", name)
        check(p.returncode == 1 and "not an executable file" in p.stderr and
              p.stderr.count("\n") == 1 and p.stdout == "",
              f"{name!r} is not a command ({p.returncode} {p.stderr!r} {p.stdout[:80]!r})")
elif case == "json":
    # --mi-option reaches the mimalloc children only; JSON escapes odd command arguments.
    js = os.path.join(work, "o.json")
    odd = 'a"b\\c</script>\x01é'
    p = bench("--runs", "1", "--backend", "mimalloc", "--backend", "libc", "--mi-option",
              "verbose=0", "--json", js, "--", "sh", "-c",
              'test "$MIMALLOC_VERBOSE" = 0 || test "${ALLOY_BACKEND}" = libc', odd)
    check(p.returncode == 0, f"MIMALLOC_VERBOSE=0 for mimalloc ({p.returncode}) {p.stdout}")
    d = load(js)
    check(d["mi_options"] == ["MIMALLOC_VERBOSE=0"], "mi_options listed")
    check(d["command"][-1] == odd.replace("\x01", "\ufffd"), f"odd argument kept {d['command']}")
    p = bench("--runs", "1", "--backend", "libc", "--mi-option", "verbose=1", "--", "sh", "-c",
              'test -z "$MIMALLOC_VERBOSE"')
    check(p.returncode == 0, "no MIMALLOC_ variable for another backend")
    p = bench("--runs", "1", "--backend", "libc", "--json", js, "--", "true")
    check(p.returncode == 1 and "exists" in p.stderr and "--force" in p.stderr,
          "an existing file is not replaced")
    p = bench("--runs", "1", "--backend", "libc", "--json", js, "--force", "--", "true")
    check(p.returncode == 0 and load(js)["command"] == ["true"], "--force replaces it")
    # Reports that could not be written at the end are refused before any run: a dangling
    # symbolic link, a symbolic link even with --force, a directory that does not exist.
    link = os.path.join(work, "link.json")
    os.symlink(os.path.join(work, "nowhere.json"), link)
    for args, what in ((["--json", link], "dangling link"),
                       (["--html", link, "--force"], "link with --force"),
                       (["--json", os.path.join(work, "no-dir", "x.json")], "missing directory")):
        p = bench("--runs", "1", "--backend", "libc", *args, "--", "sh", "-c",
                  'echo ran >> "$0"', os.path.join(work, "ran"))
        check(p.returncode == 1 and p.stderr.count("\n") == 1 and
              not os.path.exists(os.path.join(work, "ran")),
              f"{what}: refused before any run ({p.returncode} {p.stderr!r})")
    check(not os.path.exists(os.path.join(work, "nowhere.json")), "nothing written through a link")
elif case == "timeout":
    js = os.path.join(work, "t.json")
    p = bench("--runs", "1", "--timeout", "1", "--backend", "libc", "--json", js, "--", "sleep",
              "30", timeout=60)
    check(p.returncode == 1 and "FAILED 1/1 runs: run 1: timed out after 1 s" in p.stdout,
          f"a run past --timeout is killed and reported ({p.stdout})")
    x = load(js)["results"][0]["runs"][0]
    check(x["timed_out"] is True and x["signal"] == 9 and not x["ok"], f"timed out in JSON {x}")
    check(load(js)["results"][0]["verdict"] == "failed", "a timed-out arm failed")
    # What the command started dies with it: the whole process group is killed.
    marker = "31.%d" % os.getpid()
    p = bench("--runs", "1", "--timeout", "1", "--backend", "libc", "--", "sh", "-c",
              "sleep %s & sleep %s; wait" % (marker, marker), timeout=60)
    check("timed out after 1 s" in p.stdout, f"the shell timed out ({p.stdout})")
    left = leftovers(marker)
    check(not left, f"no process of the run is left after the timeout ({left})")
    for pid in left:
        os.kill(pid, signal.SIGKILL)
elif case == "interrupt":
    # ^C on a terminal reaches the whole foreground group: the run dies of SIGINT, bench
    # ignores it, then stops with no table and 130. The command says when it has started.
    started = os.path.join(work, "started")
    prog = subprocess.Popen([alloy, "bench", "--runs", "3", "--backend", "libc", "--", "sh",
                             "-c", 'touch "$0"; exec sleep 60', started],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=work,
                            start_new_session=True)
    while not os.path.exists(started) and prog.poll() is None:
        select.select([], [], [], 0.02)
    os.killpg(prog.pid, signal.SIGINT)
    out, err = prog.communicate(timeout=60)
    check(prog.returncode == 130, f"exit 130 ({prog.returncode})")
    check(err.strip() == "alloy bench: interrupted (Interrupt): no results" and out == "",
          f"one line, no table ({err!r}, {out[:80]!r})")
elif case == "usage":
    p = bench("--help")
    check(p.returncode == 0 and "usage: alloy bench" in p.stdout and "spike" in p.stdout,
          "--help")
    for args in (["--backend", "nosuch"], ["--backend", "mimalloc:/no/such/lib.so"],
                 ["--backend", "mimalloc:"], ["--threads", "0"], ["--threads", "1,x"],
                 ["--threads", "1,"], ["--runs", "0"], ["--runs", "abc"], ["--scale", "0"],
                 ["--workload", "nosuch"], ["--mi-option", "novalue"], ["--mi-option", "a-b=1"],
                 ["--json"], ["--bogus"], ["stray"], ["--"], ["--threads", "2", "--", "true"],
                 ["--json", "x", "--html", "x"], ["--json", "x", "--html", "./x"],
                 ["--timeout", "0"]):
        p = bench(*args)
        lines = p.stderr.splitlines()
        check(p.returncode == 2 and len(lines) == 1 and lines[0].startswith("alloy bench: ")
              and "try 'alloy bench --help'" in lines[0], f"usage error for {args}: {p.stderr!r}")
    p = subprocess.run([alloy, "help", "bench"], capture_output=True, text=True)
    check(p.returncode == 0 and "usage: alloy bench" in p.stdout, "alloy help bench")
    p = subprocess.run([alloy, "--help"], capture_output=True, text=True)
    check(re.search(r"^  bench ", p.stdout, re.M), "alloy --help lists bench")
elif case == "chromium":
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium not installed: skipped")
        sys.exit(77)
    html = os.path.join(work, "b.html")
    html2 = os.path.join(work, "c.html")
    p = bench(*TINY, "--threads", "1,2", "--workload", "lifo", "--workload", "spike", "--backend",
              "mimalloc", "--backend", "libc", "--html", html)
    check(p.returncode == 0, f"workloads page ({p.returncode}) {p.stderr}")
    p = bench("--runs", "3", "--backend", "libc", "--html", html2, "--", victim, "100")
    check(p.returncode == 0, f"command page ({p.returncode})")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
             "--user-data-dir=" + os.path.join(work, "profile")]
    for page, charts in ((html, 2), (html2, 1)):
        text = open(page, encoding="utf-8").read()
        check(not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=", text),
              "no external resource")
        check("default-src 'none'" in text, "the offline CSP")
        d = subprocess.run([chromium, *flags, "--dump-dom", "file://" + page],
                           capture_output=True, text=True, timeout=120)
        dom = d.stdout
        uplot = "alloy-data" in text
        check("<table>" in dom and "mimalloc" in dom or page == html2, "the table is there")
        if uplot:
            drawn = len(re.findall(r'id="u-bench-\d+" data-drawn="1"', dom))
            check(drawn == charts, f"uPlot drew {drawn} of {charts} charts in {page}")
            check(dom.count("<canvas") >= charts, "canvases")
        console = [l for l in d.stderr.splitlines() if "CONSOLE" in l]
        check(not console, f"no console message ({console[:2]})")
    shutil.copy(html, os.path.join(outdir, "bench.html"))
elif case == "path":
    # The NAME:PATH form with a copy of the system's libmimalloc at another path. Needs the
    # library to accept ALLOY_BACKEND=NAME:PATH.
    src = None
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu"):
        for name in ("libmimalloc.so.2", "libmimalloc.so"):
            if os.path.exists(os.path.join(d, name)):
                src = src or os.path.join(d, name)
    if src is None:
        print("no libmimalloc on this system: skipped")
        sys.exit(77)
    copy_dir = os.path.join(work, "mi copy")
    os.mkdir(copy_dir)
    copy = os.path.join(copy_dir, "libmimalloc.so.2")
    shutil.copy(src, copy)
    js = os.path.join(work, "p.json")
    spec = "mimalloc:" + copy
    p = bench(*TINY, "--threads", "1", "--workload", "lifo", "--backend", "mimalloc",
              "--backend", spec, "--json", js)
    check(p.returncode == 0, f"exit 0 ({p.returncode}): {p.stderr.strip()}")
    if p.returncode == 0:
        d = load(js)
        b = d["backends"][1]
        check(b["spec"] == spec and os.path.realpath(b["library"]) == os.path.realpath(copy),
              f"the copy was loaded ({b})")
        check(b["version"] == d["backends"][0]["version"], "the copy's version reported")
        check(copy in p.stdout, "the table names the file")
        check(all(r["ok_runs"] == 1 for r in d["results"]), "the workload ran under the copy")
    # A relative path is made absolute (liballoy takes absolute paths only).
    p = subprocess.run([alloy, "bench", *TINY, "--workload", "lifo", "--threads", "1",
                        "--backend", "mimalloc:libmimalloc.so.2", "--json", "rel.json"],
                       capture_output=True, text=True, cwd=copy_dir)
    check(p.returncode == 0 and load(os.path.join(copy_dir, "rel.json"))["backends"][0]["spec"]
          == spec, f"a relative library path resolved ({p.returncode}: {p.stderr.strip()})")
    # A file that is not a library: the child falls back; bench refuses to measure it.
    junk = os.path.join(work, "junk.so")
    with open(junk, "w") as f:
        f.write("not a library\n")
    p = bench(*TINY, "--workload", "lifo", "--backend", "mimalloc:" + junk)
    check(p.returncode == 1 and "did not load" in p.stderr, f"a bad library refused: {p.stderr}")
elif case == "progress":
    # On a terminal: progress lines, erased before the table; in a pipe: none.
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = dict(os.environ, TERM="xterm", NO_COLOR="1")
    prog = subprocess.Popen([alloy, "bench", "--runs", "6", "--backend", "libc", "--", victim,
                             "6000000"], stdin=slave, stdout=slave, stderr=slave, env=env,
                            cwd=work)
    os.close(slave)
    seen = b""
    while True:
        r, _, _ = select.select([master], [], [], 120)
        if not r:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    prog.wait(timeout=60)
    os.close(master)
    text = seen.decode("utf-8", "replace")
    lines = re.findall("\r(alloy bench: [^\r\x1b]*)\x1b\\[K", text)
    check(prog.returncode == 0, f"exit 0 ({prog.returncode})")
    check(any("run " in l and "under libc" in l for l in lines), f"progress lines ({lines[:3]})")
    tail = text.rsplit("\r\x1b[K", 1)[-1]
    check(tail.lstrip().startswith("alloy bench: 6 runs"), f"the table on a clean line {tail[:40]!r}")
    p = bench("--runs", "2", "--backend", "libc", "--", victim, "1000")
    check("\r" not in p.stderr and "\x1b" not in p.stderr + p.stdout, "pipe: no progress")
else:
    print("unknown case " + case)
    sys.exit(2)

shutil.rmtree(work, ignore_errors=True)
sys.exit(1 if failures else 0)
