# SPDX-License-Identifier: MIT
"""alloy profile / alloy report on real programs and on tools_victim.

usage: check_profile.py CASE ALLOY VICTIM OUTDIR
CASE: rule-<name> | hostile | fork | crash | python | sqlite3 | git | usage | chromium | progress
"""
import fcntl
import glob
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios

case, alloy, victim, outdir = sys.argv[1:5]
work = tempfile.mkdtemp(prefix="alloy-tools-")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def profile(prefix, cmd, *opts, env=None):
    p = subprocess.run([alloy, "profile", "-o", os.path.join(work, prefix), *opts, "--", *cmd],
                       capture_output=True, text=True, cwd=work, env=env, timeout=120)
    files = sorted(glob.glob(os.path.join(work, prefix + ".[0-9]*.json")))
    return p, files


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def rules(html_path):
    with open(html_path, encoding="utf-8") as f:
        text = f.read()
    return {part.split("'")[0] for part in text.split("data-rule='")[1:]}


def report_json(files):
    p = subprocess.run([alloy, "report", *files, "--json"], capture_output=True, text=True)
    check(p.returncode == 0, "report --json exits 0")
    return json.loads(p.stdout)


SAME = ["alloc_count", "free_count", "realloc_count", "alloc_bytes", "free_bytes",
        "current_allocated", "current_count", "peak_allocated", "cross_thread_free_count"]


def agree(name, cmd):
    p, files = profile(name, cmd, "--json", "--csv", "--prom")
    check(len(files) >= 1, f"{name}: a profile per process ({len(files)})")
    if not files:
        return
    procs = [load(f) for f in files]
    merged = load(os.path.join(work, name + ".json"))
    for k in SAME:
        check(merged[k] == sum(d[k] for d in procs), f"{name}: merged {k} is the sum")
    if len(files) == 1:
        check(merged == procs[0], f"{name}: the report is the profiler's JSON, field for field")
    s = p.stderr
    check("peak" in s and "P99.9" in s and "cross-thread" in s and "leaks" in s,
          f"{name}: summary has peak, P99.9, cross-thread, leaks")
    check(f"{procs[0]['alloc_count']:,}" in s or len(files) > 1,
          f"{name}: summary shows the profile's allocation count")
    csv = open(os.path.join(work, name + ".csv"), encoding="utf-8").read()
    check(csv.startswith("section,metric,key,label,value"), f"{name}: CSV header")
    prom = open(os.path.join(work, name + ".prom"), encoding="utf-8").read()
    check(f"alloy_alloc_total {merged['alloc_count']}" in prom, f"{name}: Prometheus total")


RULES = {"pool": "pool", "arena": "arena", "cross-thread": "cross", "internal-fragmentation": "frag",
         "latency-tail": "tail", "leak": "leak"}

if case.startswith("rule-"):
    rule = case[5:]
    mode = RULES[rule]
    for m, want in ((mode, True), ("no" + mode, False)):
        p, files = profile(m, [victim, m])
        check(p.returncode == 0, f"{m}: exit 0 ({p.stderr.strip()[-200:]})")
        got = rules(os.path.join(work, m + ".html"))
        check((rule in got) == want, f"{m}: rule {rule} {'fires' if want else 'stays quiet'} ({sorted(got)})")
elif case == "hostile":
    p, files = profile("hostile", [victim, "hostile"], "--json", "--html")
    html = open(os.path.join(work, "hostile.html"), encoding="utf-8").read()
    check("&lt;/script&gt;&lt;scri" in html, "the thread name is shown as text")
    scripts = html.lower().count("<script")
    check(scripts in (0, 3), f"only the report's own scripts (data, uPlot, charts): {scripts}")
    check(scripts == 0 or "\\u003c/script\\u003e\\u003cscri" in html,
          "the name in the chart data is a JSON string with < and > escaped")
    check("Content-Security-Policy" in html and "default-src 'none'" in html,
          "a CSP forbids every request")
    chromium = shutil.which("chromium")
    if chromium:
        d = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            "--user-data-dir=" + os.path.join(work, "ch"), "--dump-dom",
                            "file://" + os.path.join(work, "hostile.html")],
                           capture_output=True, text=True, timeout=120)
        check(d.stdout.lower().count("<script") == scripts,
              "in Chromium the page holds no script it did not ship")
        check("&lt;/script&gt;&lt;scri" in d.stdout, "Chromium shows the name as text")
    names = [t["thread_name"] for t in load(os.path.join(work, "hostile.json"))["thread_stats"]]
    check("</script><scri" in names, "the JSON keeps the name as it was")
    shutil.copy(os.path.join(work, "hostile.html"), os.path.join(outdir, "hostile.html"))
elif case == "fork":
    p, files = profile("fork", [victim, "fork"], "--json")
    check(p.returncode == 0, "exit 0")
    check(len(files) == 2, f"parent and child each wrote a profile ({len(files)})")
    check("(forked)" in p.stderr, "the summary lists the forked child")
    agree("fork2", [victim, "fork"])
elif case == "crash":
    p, files = profile("crash", [victim, "crash"])
    check(p.returncode == 128 + 11, f"exit status 139 passed on ({p.returncode})")
    check(len(files) == 1, "the crashed program left a profile")
    if files:
        d = load(files[0])
        check(d["current_count"] >= 100, f"its live blocks are there ({d['current_count']})")
        r = subprocess.run([alloy, "report", files[0], "-o", os.path.join(work, "c.html")])
        check(r.returncode == 0 and os.path.getsize(os.path.join(work, "c.html")) > 1000,
              "alloy report turns it into HTML")
elif case == "_exit":
    # _exit and _Exit skip exit handlers and destructors: the profile is written there too,
    # at once (these programs end long before the first 100 ms write).
    for fn, status in (("_exit", 3), ("_Exit", 4)):
        p, files = profile(fn, [victim, fn], "--json")
        check(p.returncode == status, f"{fn}: exit status {status} passed on ({p.returncode})")
        check(len(files) == 1, f"{fn}: the program left a profile ({len(files)})")
        if files:
            d = load(files[0])
            check(d["alloc_count"] >= 1000 and d["current_count"] >= 700,
                  f"{fn}: its allocations and live blocks are there "
                  f"({d['alloc_count']}, {d['current_count']})")
            sites = [s for s in d["leaks"]["sites"] if s["count"] == 700]
            check(len(sites) == 1, f"{fn}: the 700 live blocks are one leak site")
    # A vfork child shares its parent's memory: its _exit must not write the parent's file.
    p, files = profile("vfork", [victim, "vfork"], "--json")
    check(p.returncode == 5, f"vfork: exit status 5 ({p.returncode})")
    check(len(files) == 1, f"vfork: one profile, the parent's ({len(files)})")
    if files:
        d = load(files[0])
        check(d["alloc_count"] >= 500 and d["pid"] == int(files[0].split(".")[-2]),
              f"vfork: the parent's figures under its own pid ({d['alloc_count']})")
elif case == "python":
    agree("python", ["/usr/bin/python3", "-c",
                     "import threading\n"
                     "def w():\n    l=[bytes(64) for _ in range(20000)]\n"
                     "t=[threading.Thread(target=w) for _ in range(4)]\n"
                     "[x.start() for x in t]; [x.join() for x in t]"])
elif case == "sqlite3":
    agree("sqlite3", ["sqlite3", ":memory:",
                      "create table t(a,b); with recursive c(x) as (select 1 union all select x+1 "
                      "from c where x<20000) insert into t select x, randomblob(50) from c; "
                      "select count(*) from t;"])
elif case == "git":
    agree("git", ["git", "--version"])
elif case == "big":
    import time
    p, files = profile("many", [victim, "many"])
    d = load(files[0])
    check(d["alloc_count"] == 10_000_000, f"10 million allocations profiled ({d['alloc_count']})")
    size = os.path.getsize(os.path.join(work, "many.html"))
    check(size < 2_000_000, f"the HTML report is under 2 MB ({size} bytes)")
    t = time.monotonic()
    r = subprocess.run([alloy, "report", *files, "-o", os.path.join(work, "again.html")])
    check(r.returncode == 0 and time.monotonic() - t < 1.0, "alloy report takes under a second")
elif case == "follow-exec":
    cmd = ["sh", "-c", f"exec {victim} pool"]
    p, files = profile("followed", cmd, "--follow-exec")
    n = sum(load(f)["alloc_count"] for f in files)
    check(n >= 200000, f"--follow-exec: the exec'd program is profiled ({n} allocations)")
    p, files = profile("unfollowed", cmd)
    n = sum(load(f)["alloc_count"] for f in files)
    check(n < 200000, f"without it only the shell is ({n} allocations)")
elif case == "usage":
    for sub in ("profile", "report"):
        p = subprocess.run([alloy, sub, "--help"], capture_output=True, text=True)
        check(p.returncode == 0 and p.stdout.startswith(f"usage: alloy {sub}"), f"{sub} --help")
        p = subprocess.run([alloy, sub, "--bogus"], capture_output=True, text=True)
        check(p.returncode == 2 and p.stderr.count("\n") == 1, f"{sub}: bad option, one line, 2")
    for args in (["profile"], ["profile", "--sample"], ["profile", "--sample", "x", "--", "true"],
                 ["profile", "-o"], ["report"], ["report", "a.json", "--json", "--csv"],
                 ["report", "-o"]):
        p = subprocess.run([alloy, *args], capture_output=True, text=True)
        check(p.returncode == 2, f"{' '.join(args)}: usage error 2")
    bad = os.path.join(work, "bad.json")
    open(bad, "w").write('{"schema":"other"}')
    p = subprocess.run([alloy, "report", bad], capture_output=True, text=True)
    check(p.returncode == 1 and "not an alloy profile" in p.stderr, "wrong schema: 1")
    p = subprocess.run([alloy, "report", os.path.join(work, "missing.json")], capture_output=True)
    check(p.returncode == 1, "missing file: 1")
    p, files = profile("twice", [victim, "pool"])
    p2 = subprocess.run([alloy, "report", *files, "-o", os.path.join(work, "twice.html")],
                        capture_output=True, text=True)
    check(p2.returncode == 1 and "--force" in p2.stderr, "an existing report is not replaced")
    p2 = subprocess.run([alloy, "report", *files, "-f", "-o", os.path.join(work, "twice.html")])
    check(p2.returncode == 0, "--force replaces it")
    # A report that would be a symbolic link (dangling here) is refused before the program
    # runs, --force or not: the profiler never writes through a link.
    os.symlink(os.path.join(work, "elsewhere.html"), os.path.join(work, "linked.html"))
    for extra in ([], ["--force"]):
        p, files = profile("linked", [victim, "pool"], "--html", *extra)
        check(p.returncode == 1 and "symbolic link" in p.stderr and not files and
              not os.path.exists(os.path.join(work, "elsewhere.html")),
              f"a linked report is refused before the run {extra} ({p.returncode} {p.stderr!r})")
    p = subprocess.run([alloy, "profile", "--", "/nonexistent/x"], capture_output=True, cwd=work)
    check(p.returncode == 127, "profile of a missing program: 127")
elif case == "chromium":
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium not installed: skipped")
        sys.exit(77)
    p, files = profile("dash", [victim, "arena"])
    html = os.path.join(work, "dash.html")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
             "--user-data-dir=" + os.path.join(work, "profile")]
    d = subprocess.run([chromium, *flags, "--dump-dom", "file://" + html],
                       capture_output=True, text=True, timeout=120)
    dom = d.stdout
    uplot = "alloy-data" in open(html, encoding="utf-8").read()
    svg = ["heatmap", "sizes", "lat-alloc", "lat-free", "threads", "matrix", "leaks"]
    if not uplot:
        svg += ["timeline", "activity"]
    for panel in svg:
        check(f"id=\"{panel}\"" in dom, f"panel {panel} rendered")
    if uplot:
        for panel in ("u-timeline", "u-activity"):
            check(f"id=\"{panel}\" data-drawn=\"1\"" in dom, f"uPlot drew {panel}")
        check(dom.count("<canvas") >= 2, "uPlot canvases present")
    check(dom.count("<polyline") >= 2 and dom.count("<rect") > 20, "the charts drew")
    console = [l for l in d.stderr.splitlines() if "CONSOLE" in l]
    check(not console, f"no console message ({console[:2]})")
    # Every request the page makes, from Chromium's own network log: the report must make
    # none. The same check on a copy without the CSP and with an image from the network
    # must see that request (a test of the test). Chromium's own background requests carry
    # another network isolation key than the page's (file://) and are left out.
    def page_requests(page):
        log = os.path.join(work, "net.json")
        subprocess.run([chromium, *flags, "--log-net-log=" + log, "--dump-dom", "file://" + page],
                       capture_output=True, text=True, timeout=120)
        with open(log, encoding="utf-8") as f:
            text = f.read()
        try:
            net = json.loads(text)
        except ValueError:  # a log cut short lacks its closing brackets
            net = json.loads(text.rstrip().rstrip(",") + "]}")
        start = net["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
        return [e["params"]["url"] for e in net["events"] if e["type"] == start
                and str(e.get("params", {}).get("network_isolation_key", "")).startswith("file:")]
    check(page_requests(html) == [], "the report made no network request (Chromium net log)")
    with open(html, encoding="utf-8") as f:
        page = f.read()
    csp = page.index("<meta http-equiv='Content-Security-Policy'")
    page = page[:csp] + page[page.index(">", csp) + 1:]
    page = page.replace("<body>", "<body><img src=\"http://127.0.0.1:9/x.png\">", 1)
    bad = os.path.join(work, "bad.html")
    with open(bad, "w", encoding="utf-8") as f:
        f.write(page)
    check("http://127.0.0.1:9/x.png" in page_requests(bad),
          "the same check sees a request injected into a copy without the CSP")
    png = os.path.join(outdir, "dashboard.png")
    s = subprocess.run([chromium, *flags, "--screenshot=" + png, "--window-size=1400,2200",
                        "file://" + html], capture_output=True, text=True, timeout=120)
    check(os.path.exists(png) and os.path.getsize(png) > 10000, f"screenshot saved: {png}")
    shutil.copy(html, os.path.join(outdir, "dashboard.html"))
elif case == "progress":
    # On a terminal: a progress line while the program runs, erased before the summary.
    stop = os.path.join(work, "stop")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = dict(os.environ, TERM="xterm", NO_COLOR="1")
    prog = subprocess.Popen([alloy, "profile", "-o", os.path.join(work, "tty"), "--json", "--",
                             victim, "until", stop], stdin=slave, stdout=slave, stderr=slave,
                            cwd=work, env=env)
    os.close(slave)
    seen = b""
    while True:
        r, _, _ = select.select([master], [], [], 60)
        if not r:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every writer of the terminal is gone
            break
        if not chunk:
            break
        seen += chunk
        if b"\x1b[K" in seen and b" allocs" in seen and not os.path.exists(stop):
            open(stop, "w").close()  # progress seen: let the program end
    prog.wait(timeout=60)
    os.close(master)
    text = seen.decode("utf-8", "replace")
    lines = re.findall("\r(alloy profile: tools_victim [^\r\x1b]*)\x1b\\[K", text)
    check(prog.returncode == 0, f"exit 0 ({prog.returncode})")
    check(len(lines) >= 1, f"progress lines on the terminal ({len(lines)})")
    check(lines and all(" live " in l and " peak " in l and " allocs " in l and "/s" in l for l in lines),
          "each names live, peak, allocations and rate")
    tail = text.rsplit("\r\x1b[K", 1)[-1]
    check(tail.lstrip().startswith(f"alloy profile: {victim}, 1 process"),
          f"the summary starts on a clean line ({tail[:60]!r})")
    check("\x1b[1m" not in text, "NO_COLOR: no colour escapes")
    # In a pipe: never a carriage return or an escape, however long the run.
    stop2 = os.path.join(work, "stop2")
    prog = subprocess.Popen([alloy, "profile", "-o", os.path.join(work, "pipe"), "--json", "--",
                             victim, "until", stop2], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=work, text=True)
    # The program's own streamed profile says when it has run past the progress threshold.
    while prog.poll() is None and not os.path.exists(stop2):
        for f in glob.glob(os.path.join(work, "pipe.[0-9]*.json")):
            try:
                if load(f)["duration_seconds"] > 1.5:
                    open(stop2, "w").close()
            except (ValueError, KeyError, OSError):
                pass  # being rewritten
        select.select([], [], [], 0.05)
    out, err = prog.communicate(timeout=60)
    check(prog.returncode == 0, f"pipe: exit 0 ({prog.returncode})")
    check("\r" not in err and "\x1b" not in err, "pipe: no carriage return or escape")
    check(err.startswith(f"alloy profile: {victim}, 1 process"), "pipe: the summary only")
else:
    print("unknown case " + case)
    sys.exit(2)

shutil.rmtree(work, ignore_errors=True)
sys.exit(1 if failures else 0)
