# SPDX-License-Identifier: MIT
"""use_for_python in a child interpreter: Python's own allocations through alloy, seen by the
profiler with Python's thread names, and a slice of CPython's test suite with the same results
routed and not."""
import json
import os
import subprocess

import pytest

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "routed_child.py")
SLICE = ["test_list", "test_dict", "test_set", "test_bytes", "test_json", "test_queue"]


def run_child(python, env, *args, timeout=240):
    r = subprocess.run([python, CHILD, *args], env=env, capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, r.stderr[-4000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_profiler_sees_python_allocations_by_thread_name(python, child_env):
    out = run_child(python, child_env, "workload")
    assert out["routed"] == ["raw", "mem", "obj"] == out["domains"]
    assert out["total"] == sum(i % 7 for i in range(5000))
    assert out["owned"] > 0
    # 20000 strings built on py-builder, each an object-domain allocation through alloy
    assert out["threads"]["py-builder"] >= 20000
    assert out["threads"]["MainThread"] >= 5000
    assert out["alloc_count"] >= 25000 and out["free_count"] > 0


def test_cpython_test_slice_same_results_routed(python, child_env):
    if not os.path.isdir("/usr/lib/python3.11/test/test_json"):
        pytest.fail("CPython's test suite is missing (Debian: libpython3.11-testsuite)")
    plain = run_child(python, child_env, "suite", "plain", *SLICE)
    routed = run_child(python, child_env, "suite", "routed", *SLICE)
    assert plain["domains"] == [] and routed["domains"] == ["raw", "mem", "obj"]
    assert plain["run"] > 1000
    assert {k: routed[k] for k in ("run", "failures", "errors", "skipped")} == \
        {k: plain[k] for k in ("run", "failures", "errors", "skipped")}
    assert plain["failures"] == plain["errors"] == 0


def test_raw_domain_alone(python, child_env):
    code = ("import alloy, json; r = alloy.use_for_python('raw'); "
            "again = alloy.use_for_python(('raw',)); "
            "print(json.dumps([list(r), list(again), list(alloy.routed_domains())]))")
    r = subprocess.run([python, "-c", code], env=child_env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [["raw"], [], ["raw"]]


def test_every_block_from_startup_under_the_override_library(python, child_env):
    lib = child_env.get("ALLOY_OVERRIDE_LIB")
    if not lib:
        pytest.skip("ALLOY_OVERRIDE_LIB is not set (ctest sets it)")
    env = dict(child_env, PYTHONMALLOC="malloc", LD_PRELOAD=lib)
    code = """if True:
        import alloy, json, threading
        with alloy.MemoryProfiler(track_per_thread=True) as prof:
            t = threading.Thread(target=lambda: [str(i) * 3 for i in range(10000)],
                                 name="startup-worker")
            t.start(); t.join()
        r = prof.report()
        print(json.dumps({t.thread_name: t.alloc_count for t in r.thread_stats}))
    """
    r = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    threads = json.loads(r.stdout)
    assert threads["startup-worker"] >= 10000  # malloc is alloy's: no use_for_python needed


def test_raw_domain_churn_from_threads_without_the_gil(python, child_env):
    """8 pthreads allocate, reallocate and free through PyMem_Raw* with no thread state, and
    free each other's blocks: the ownership registry under contention, seen by the profiler."""
    code = """if True:
        import alloy, json
        alloy.use_for_python(("raw",))
        before = alloy._alloy.owned_blocks()
        with alloy.MemoryProfiler(track_per_thread=True) as prof:
            failed = alloy._alloy._raw_stress(8, 300)
        after = alloy._alloy.owned_blocks()
        r = prof.report()
        print(json.dumps([failed, before, after, r.alloc_count, r.cross_thread_free_count,
                          len(r.thread_stats)]))
    """
    r = subprocess.run([python, "-c", code], env=child_env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    failed, before, after, allocs, cross, nthreads = json.loads(r.stdout)
    assert failed == 0
    assert abs(after - before) < 64  # every stress block went back (a few of Python's own may not)
    assert allocs >= 8 * 300 * 64
    assert cross >= 8 * 32  # the last blocks each thread posted are freed by another thread
    assert nthreads >= 8
