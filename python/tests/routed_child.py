# SPDX-License-Identifier: MIT
"""Child interpreter for test_use_for_python.py.

usage: routed_child.py workload
       routed_child.py suite plain|routed MODULE...
workload: route every domain through alloy, profile a threaded Python workload, print JSON.
suite: run the named modules of CPython's test package (unittest) with or without the
routing, print {"run", "failures", "errors", "skipped"} as JSON.
"""
import json
import sys
import threading

import alloy


def workload():
    routed = alloy.use_for_python()
    with alloy.MemoryProfiler(track_per_thread=True, detect_leaks=True) as prof:
        box = []
        w = threading.Thread(target=lambda: box.append([str(i) * 3 for i in range(20000)]),
                             name="py-builder")
        w.start()
        w.join()
        d = {str(i): list(range(i % 7)) for i in range(5000)}
        total = sum(len(v) for v in d.values())
        del box[:]
    r = prof.report()
    print(json.dumps({
        "routed": list(routed), "domains": list(alloy.routed_domains()),
        "owned": alloy._alloy.owned_blocks(), "total": total,
        "alloc_count": r.alloc_count, "free_count": r.free_count,
        "threads": {t.thread_name: t.alloc_count for t in r.thread_stats},
        "hot": r.size_histogram.hot_sizes(3),
    }))


def suite(mode, names):
    import unittest
    if mode == "routed":
        alloy.use_for_python()
    tests = unittest.defaultTestLoader.loadTestsFromNames([f"test.{n}" for n in names])
    res = unittest.TextTestRunner(stream=sys.stderr, verbosity=0).run(tests)
    print(json.dumps({"run": res.testsRun, "failures": len(res.failures),
                      "errors": len(res.errors), "skipped": len(res.skipped),
                      "domains": list(alloy.routed_domains())}))


if __name__ == "__main__":
    if sys.argv[1] == "workload":
        workload()
    else:
        suite(sys.argv[2], sys.argv[3:])
