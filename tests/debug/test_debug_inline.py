# SPDX-License-Identifier: MIT
"""Inlined frames in debug reports match addr2line -i (issue 14: "Debug stacks lose inlined
frames"). Usage: test_debug_inline.py INLINE_VICTIM.

inline_victim (built at -O2, three levels of forced inlining) frees a block twice under
ALLOY_DEBUG=1 with a JSON report. The frames the report gives for the first address of the
"freed again" stack must be, function by function and line by line, what addr2line -f -i says
for that address.
"""
import json
import os
import subprocess
import sys
import tempfile


def main(victim):
    with tempfile.TemporaryDirectory() as tmp:
        rep = os.path.join(tmp, "r.json")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALLOY_DEBUG")}
        env.update({"ALLOY_DEBUG": "1", "ALLOY_DEBUG_REPORT": rep})
        p = subprocess.run([victim], env=env, capture_output=True, timeout=60)
        recs = [json.loads(l) for l in open(rep, encoding="utf-8")]
    errs = [r for r in recs if r["kind"] == "double-free"]
    if len(errs) != 1:
        print("no double-free in the report; stderr:\n" + p.stderr.decode(errors="replace"))
        return 1
    stack = next(s for s in errs[0]["stacks"] if s["what"] == "freed again")
    first = [f for f in stack["frames"] if f["pc"] == stack["frames"][0]["pc"]]
    got = [(f["function"], f["line"]) for f in first]
    offset = int(first[0]["offset"], 16) - 1  # a return address: the call is just before it
    a2l = subprocess.run(["addr2line", "-f", "-i", "-e", first[0]["module"], hex(offset)],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    want = []
    for fn, where in zip(a2l[0::2], a2l[1::2]):
        line = where.rsplit(":", 1)[1].split(" ")[0]
        want.append((fn, int(line) if line.isdigit() else 0))
    print("report:   ", got)
    print("addr2line:", want)
    if [w[0] for w in want][:4] != ["leaf", "middle", "outer", "main"]:
        print("the build did not inline as expected: nothing to compare")
        return 1
    return 0 if got == want else 1


if __name__ == "__main__":
    sys.exit(main(os.path.abspath(sys.argv[1])))
