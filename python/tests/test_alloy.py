# SPDX-License-Identifier: MIT
"""The alloy package: counters, the profiler over threads and a planted leak, the exports."""
import csv
import json
import os
import shutil
import subprocess
import threading

import pytest

import alloy
from alloy import _alloy

from conftest import REPO


def test_backend_and_version():
    assert alloy.backend() in _alloy.versions()[2].split()
    assert alloy.version().count(".") == 2


def test_counters_match_a_known_workload():
    alloy.enable_stats(exact_peak=True)
    alloy.reset_stats()
    before = alloy.stats()
    assert (before.alloc_count, before.free_count, before.alloc_bytes) == (0, 0, 0)
    blocks = [_alloy._alloc(1000) for _ in range(100)]
    mid = alloy.stats()
    for p in blocks:
        _alloy._free(p)
    after = alloy.stats()
    assert mid.alloc_count == 100 and mid.free_count == 0
    assert mid.current_count == before.current_count + 100
    assert mid.alloc_bytes >= 100 * 1000 and mid.alloc_bytes % 100 == 0  # usable, same for each
    assert after.alloc_count == 100 and after.free_count == 100
    assert after.free_bytes == after.alloc_bytes
    assert after.current_count == before.current_count
    assert after.current_allocated == after.current_bytes == before.current_bytes
    assert after.peak_bytes >= before.current_bytes + mid.alloc_bytes
    alloy.reset_stats()
    assert alloy.stats().alloc_count == 0
    alloy.collect()
    alloy.collect(force=True)


def run_threads(n):
    """'producer' allocates n blocks of 48 bytes, 'consumer' frees them."""
    box = []
    prod = threading.Thread(target=lambda: box.extend(_alloy._alloc(48) for _ in range(n)),
                            name="producer")
    prod.start()
    prod.join()
    cons = threading.Thread(target=lambda: [_alloy._free(p) for p in box], name="consumer")
    cons.start()
    cons.join()


def test_profiler_reports_threads_and_cross_thread_frees():
    n = 200
    with alloy.MemoryProfiler(track_per_thread=True) as prof:
        run_threads(n)
    r = prof.report()
    assert r.alloc_count == n and r.free_count == n
    assert r.alloc_bytes == 48 * n and r.free_bytes == 48 * n
    assert r.cross_thread_free_count == n
    assert r.cross_thread_free_pct == pytest.approx(100.0)
    assert r.current_allocated == 0 and r.peak_allocated >= 48 * n
    names = {t.thread_name: t for t in r.thread_stats}
    assert names["producer"].alloc_count == n and names["producer"].cross_thread_frees_sent == n
    assert names["consumer"].free_count == n
    assert names["consumer"].cross_thread_frees_received == n
    prod, cons = names["producer"].index, names["consumer"].index
    assert r.cross_thread_matrix[cons][prod] == n
    assert r.size_histogram.hot_sizes(1) == [("48-55", n)]
    assert r.size_histogram.top_sizes[0] == (48, n)
    assert r.alloc_latency_p50 > 0 and r.alloc_latency_p50 <= r.alloc_latency_p99
    assert r.free_latency_p999 >= r.free_latency_p50 > 0
    assert r.duration_seconds > 0 and r.end_time >= r.start_time
    assert r.alloc_rate > 0
    assert 0.0 <= r.fragmentation.internal_fragmentation < 1.0


def test_per_thread_off_by_default_and_snapshot_reset():
    prof = alloy.MemoryProfiler()
    prof.start()
    try:
        with pytest.raises(RuntimeError):
            alloy.MemoryProfiler().start()  # one profiler per process
        run_threads(10)
        s = prof.snapshot()
        assert s.alloc_count == 10 and s.cross_thread_free_count == 10
        assert s.thread_stats == []
        prof.reset()
        assert prof.snapshot().alloc_count == 0
    finally:
        prof.stop()
    assert prof.report().alloc_count == 0


def test_leak_planted_in_a_c_function_is_found_with_its_stack():
    with alloy.MemoryProfiler(detect_leaks=True, capture_stacks=True) as prof:
        keep = _alloy._alloc(100)
        _alloy._free(keep)
        leaked = _alloy._planted_leak(777)
    try:
        r = prof.report()
        assert r.leaked_bytes == 777
        assert len(r.leaked_allocations) == 1
        site = r.leaked_allocations[0]
        assert site.size == 777 and site.count == 1
        assert site.stack_trace[0].startswith("alloy_py_planted_leak ")
        assert "alloymodule.c" in site.stack_trace[0]
    finally:
        _alloy._free(leaked)


def parse_prometheus(text):
    """Samples as {name{labels}: value}; every line is a comment or 'series value'."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        assert series not in out, series
        out[series] = float(value)
    return out


def test_every_export_parses(tmp_path):
    with alloy.MemoryProfiler(track_per_thread=True) as prof:
        run_threads(50)
    prof.to_json(tmp_path / "p.json")
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["schema"] == _alloy.SCHEMA and doc["alloc_count"] == 50
    assert doc["cross_thread_free_count"] == 50
    assert {t["thread_name"] for t in doc["thread_stats"]} >= {"producer", "consumer"}
    prof.to_json(tmp_path / "p.json")  # a second write replaces the file

    prof.to_csv(tmp_path / "p.csv")
    rows = list(csv.reader(open(tmp_path / "p.csv", newline="")))
    assert rows[0] == ["section", "metric", "key", "label", "value"]
    summary = {r[1]: r[4] for r in rows[1:] if r[0] == "summary"}
    assert float(summary["alloc_count"]) == 50

    text = prof.to_prometheus()
    samples = parse_prometheus(text)
    assert samples["alloy_alloc_total"] == 50
    assert samples["alloy_cross_thread_free_total"] == 50
    prom = tmp_path / "p.prom"
    prom.write_text(text)
    checker = os.environ.get("ALLOY_CHECK_PROM", os.path.join(REPO, "scripts", "check_prom.py"))
    r = subprocess.run(["/usr/bin/python3", checker, str(prom)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    promtool = os.environ.get("ALLOY_PROMTOOL") or shutil.which("promtool")
    if promtool:
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def alloy_command_with_report():
    exe = os.environ.get("ALLOY_COMMAND") or shutil.which("alloy")
    if not exe:
        return None
    r = subprocess.run([exe, "help", "report"], capture_output=True, text=True)
    return exe if r.returncode == 0 else None


def test_to_html_without_the_command_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("ALLOY_COMMAND", "")
    monkeypatch.setenv("PATH", str(tmp_path))
    with alloy.MemoryProfiler() as prof:
        pass
    with pytest.raises(RuntimeError, match="alloy command"):
        prof.to_html(tmp_path / "r.html")


def test_to_html_through_alloy_report(tmp_path):
    exe = alloy_command_with_report()
    if exe is None:
        pytest.skip("the alloy command has no `report` sub-command in this build")
    with alloy.MemoryProfiler(track_per_thread=True) as prof:
        run_threads(20)
    prof.to_html(tmp_path / "r.html", alloy_command=exe)
    prof.to_html(tmp_path / "r.html", alloy_command=exe)  # replaces, as a Python write would
    html = (tmp_path / "r.html").read_text()
    assert "<html" in html.lower()
    assert "producer" in html and "consumer" in html
    assert not list(tmp_path.glob("*.json"))  # the intermediate profile is removed


def test_options_are_checked():
    with pytest.raises(ValueError):
        alloy.MemoryProfiler(sample_rate=0)
    with pytest.raises(ValueError):
        alloy.MemoryProfiler(latency_buckets=0)
    with pytest.raises(ValueError):
        alloy.use_for_python(("heap",))
    p = alloy.MemoryProfiler(sample_rate=0.5)
    assert p._opts["sample_bytes"] > 0 and p._opts["latency_every"] == 2


def test_thread_names_leave_the_main_thread_alone():
    with open("/proc/self/comm") as f:
        before = f.read()
    alloy.name_threads()
    with open("/proc/self/comm") as f:
        assert f.read() == before
    seen = []
    t = threading.Thread(target=lambda: seen.append(
        open(f"/proc/self/task/{threading.get_native_id()}/comm").read().strip()),
        name="a-rather-long-thread-name")
    t.start()
    t.join()
    assert seen == ["a-rather-long-thread-name"[:15]]
