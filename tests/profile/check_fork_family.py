# SPDX-License-Identifier: MIT
"""A forked family's profiles add up (fork_family.c): each file holds what its process did
since the profiler (the child: since the fork), the child's inherited blocks are counted apart,
and `alloy report --json` of both files gives the family's exact totals.

usage: check_fork_family.py FORK_FAMILY [ALLOY]   (ALLOY empty or absent: no merge check)
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

victim = sys.argv[1]
alloy = sys.argv[2] if len(sys.argv) > 2 else ""
failures = []


def eq(what, got, want):
    ok = got == want
    print(("ok   " if ok else "FAIL ") + f"{what}: {got}" + ("" if ok else f" (want {want})"))
    if not ok:
        failures.append(what)


work = tempfile.mkdtemp(prefix="alloy-fork-")
env = dict(os.environ, ALLOY_PROFILE=os.path.join(work, "fam.%p.json"))
# Both processes leave blocks live on purpose: LeakSanitizer (ASan builds) must not fail them.
env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
p = subprocess.Popen([victim], env=env, stdout=subprocess.PIPE, text=True)
out, _ = p.communicate(timeout=60)
eq("exit status", p.returncode, 0)
child_pid = int(out.split()[1])
files = sorted(glob.glob(os.path.join(work, "fam.*.json")))
eq("files", len(files), 2)
docs = {json.load(open(f, encoding="utf-8"))["pid"]: f for f in files}
parent_pid = p.pid
with open(docs[parent_pid], encoding="utf-8") as f:
    par = json.load(f)
with open(docs[child_pid], encoding="utf-8") as f:
    chi = json.load(f)

eq("schema_minor", par["schema_minor"], 1)
# The parent: 110 allocations, 50 frees of its own blocks, 60 live and leaked.
eq("parent alloc_count", par["alloc_count"], 110)
eq("parent alloc_bytes", par["alloc_bytes"], 100 * 100 + 10 * 300)
eq("parent free_count", par["free_count"], 50)
eq("parent free_bytes", par["free_bytes"], 50 * 100)
eq("parent current_count", par["current_count"], 60)
eq("parent leaked_count", par["leaks"]["leaked_count"], 60)
eq("parent leaked_bytes", par["leaks"]["leaked_bytes"], 50 * 100 + 10 * 300)
eq("parent parent_pid", par["parent_pid"], 0)
eq("parent inherited", par["inherited"]["count"], 0)
# The child: its own 50 allocations and 30 frees; 60 inherited, 20 of them freed, 40 left.
eq("child parent_pid", chi["parent_pid"], parent_pid)
eq("child alloc_count", chi["alloc_count"], 50)
eq("child alloc_bytes", chi["alloc_bytes"], 50 * 200)
eq("child free_count", chi["free_count"], 30)
eq("child free_bytes", chi["free_bytes"], 30 * 200)
eq("child leaked_count", chi["leaks"]["leaked_count"], 20)
eq("child leaked_bytes", chi["leaks"]["leaked_bytes"], 20 * 200)
eq("child inherited.count", chi["inherited"]["count"], 60)
eq("child inherited.freed_count", chi["inherited"]["freed_count"], 20)
eq("child inherited.leaked_count", chi["inherited"]["leaked_count"], 40)
eq("child inherited.leaked_bytes", chi["inherited"]["leaked_bytes"], 40 * 100)
eq("child inherited bytes = 60 parent blocks' usable",
   chi["inherited"]["bytes"] * 20 == chi["inherited"]["freed_bytes"] * 60, True)
eq("child current_count", chi["current_count"], 20 + 40)
eq("child size histogram: only its own 200 B blocks",
   [(b["lo"] <= 200 <= b["hi"], b["count"]) for b in chi["size_histogram"]["buckets"]],
   [(True, 50)])

if alloy:
    r = subprocess.run([alloy, "report", "--json", "-o", os.path.join(work, "merged.json"),
                        *files], capture_output=True, text=True, timeout=60)
    eq("alloy report exit status", r.returncode, 0)
    with open(os.path.join(work, "merged.json"), encoding="utf-8") as f:
        m = json.load(f)
    # What the program did, counted once: 160 allocations, 80 frees of blocks by the process
    # that allocated them, 80 blocks never freed there.
    eq("merged alloc_count", m["alloc_count"], 160)
    eq("merged alloc_bytes", m["alloc_bytes"], 100 * 100 + 10 * 300 + 50 * 200)
    eq("merged free_count", m["free_count"], 80)
    eq("merged free_bytes", m["free_bytes"], 50 * 100 + 30 * 200)
    eq("merged leaked_count", m["leaks"]["leaked_count"], 80)
    eq("merged leaked_bytes", m["leaks"]["leaked_bytes"], 50 * 100 + 10 * 300 + 20 * 200)
    eq("merged inherited.freed_count", m["inherited"]["freed_count"], 20)
    eq("merged inherited.leaked_count", m["inherited"]["leaked_count"], 40)
    s = subprocess.run([alloy, "report", *files], capture_output=True, text=True, timeout=60)
    eq("summary has no double-count caveat", "count those twice" in s.stdout + s.stderr, False)
    eq("summary lists the child as forked", f"{child_pid} (forked)" in s.stdout + s.stderr, True)

print("FAILED: " + ", ".join(failures) if failures else "all ok")
sys.exit(1 if failures else 0)
