# SPDX-License-Identifier: MIT
"""alloy from Python: the backend, the counters, the profiler and Python's own allocations.

The C core (alloy._alloy) binds liballoy; this module gives it seed 002's Python shapes:
stats() returns a Stats object, MemoryProfiler is a context manager whose report() is a
MemoryProfilerReport with the seed's field names. See docs/python.md.
"""
import math
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

from . import _alloy

__all__ = [
    "backend", "version", "stats", "enable_stats", "reset_stats", "collect", "Stats",
    "MemoryProfiler", "MemoryProfilerReport", "SizeHistogram", "ThreadMemoryStats",
    "FragmentationMetrics", "AllocationRecord", "LeakSite", "use_for_python", "name_threads",
]


def backend():
    """Name of the backend serving this process ("mimalloc", "libc", ...)."""
    return _alloy.backend()


def version():
    """alloy's version string."""
    return _alloy.versions()[0]


def collect(force=False):
    """Return free memory to the OS where the backend can; force also flushes caches."""
    _alloy.collect(bool(force))


@dataclass(frozen=True)
class Stats:
    """The counters of alloy_stats (bytes are usable sizes)."""
    alloc_count: int
    free_count: int
    alloc_bytes: int
    free_bytes: int
    current_bytes: int
    current_count: int
    peak_bytes: int

    @property
    def current_allocated(self):
        """Seed 002's name for current_bytes."""
        return self.current_bytes


def enable_stats(exact_peak=False):
    """Switch counting on (alloy_stats_enable); it stays on for the life of the process."""
    _alloy.stats_enable(bool(exact_peak))


def stats():
    """The counters now. Counting is off by default: call enable_stats() first (or run with
    ALLOY_STATS=1); while it is off this raises RuntimeError rather than returning zeros."""
    t = _alloy.stats_get()
    if t is None:
        raise RuntimeError("alloy counting is off: call alloy.enable_stats() or set ALLOY_STATS=1")
    return Stats(*t)


def reset_stats():
    """Zero the cumulative counters; current bytes and count are kept."""
    _alloy.stats_reset()


# ---- threads named as Python names them -------------------------------------------------
# CPython 3.11 does not give its threads OS names, and the profiler reads the kernel's
# (/proc/self/task/TID/comm, 15 bytes). name_threads() writes each live threading.Thread's
# name there and, through threading.setprofile, names threads started later as they begin.
# The full names are kept here so reports can show them untruncated.
_names = {}
_names_lock = threading.Lock()
_hook_on = False
_prev_profile = None


def _set_comm(tid, name):
    try:
        with open(f"/proc/self/task/{tid}/comm", "wb") as f:
            f.write(name.encode("utf-8", "replace")[:15])
    except OSError:
        pass  # the thread has exited, or /proc is not there: the report keeps the kernel name


def _remember(t):
    tid = getattr(t, "native_id", None)
    if tid is None:
        return
    with _names_lock:
        _names[tid] = t.name
    if t is not threading.main_thread():  # the main thread's OS name is the program's (ps, top)
        _set_comm(tid, t.name)


def _thread_hook(frame, event, arg):
    import sys
    _remember(threading.current_thread())
    sys.setprofile(_prev_profile)  # this thread is named; hand over to whoever was there
    if _prev_profile is not None:
        return _prev_profile(frame, event, arg)
    return None


def name_threads():
    """Give every live Python thread, and every thread started from now on, its
    threading name as its OS name (what the profiler reports)."""
    global _hook_on, _prev_profile
    for t in threading.enumerate():
        _remember(t)
    if not _hook_on:
        _prev_profile = threading.getprofile()
        threading.setprofile(_thread_hook)
        _hook_on = True


def _python_name(tid, fallback):
    with _names_lock:
        return _names.get(tid, fallback)


# ---- Python's own allocations -------------------------------------------------------------
_DOMAINS = {"raw": _alloy.DOMAIN_RAW, "mem": _alloy.DOMAIN_MEM, "obj": _alloy.DOMAIN_OBJ}


def use_for_python(domains=("raw", "mem", "obj")):
    """Route the interpreter's allocation domains through alloy from now on.

    Called in a running interpreter, each domain already holds blocks of its old allocator
    (pymalloc, malloc): new blocks come from alloy and are recorded, frees and reallocs of
    blocks alloy did not make go to the old allocator. One way: there is no going back while
    alloy blocks are live. Returns the domains routed by this call. To have every block from
    alloy from the first allocation, start the interpreter with PYTHONMALLOC=malloc under
    LD_PRELOAD=liballoy-override.so instead (docs/python.md)."""
    if isinstance(domains, str):
        domains = (domains,)
    wanted = []
    for d in domains:
        if d not in _DOMAINS:
            raise ValueError(f"unknown domain {d!r} (raw, mem, obj)")
        wanted.append(d)
    done = []
    for d in ("raw", "mem", "obj"):  # raw first: pymalloc hands its large blocks to raw
        if d in wanted and _alloy.route_domain(_DOMAINS[d]):
            done.append(d)
    name_threads()
    return tuple(done)


def routed_domains():
    """The domains routed through alloy, as a tuple of names."""
    flags = _alloy.routed_domains()
    return tuple(n for n, f in zip(("raw", "mem", "obj"), flags) if f)


# ---- the profiler's report ------------------------------------------------------------------
def _range(lo, hi):
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


@dataclass
class SizeHistogram:
    """Requested sizes: buckets keyed "lo-hi" (inclusive), in ascending order."""
    buckets: dict
    total_count: int
    total_bytes: int
    bucket_bytes: dict = field(default_factory=dict)
    top_sizes: list = field(default_factory=list)  # (exact size, count), most frequent first

    def hot_sizes(self, top_n=5):
        """The top_n most frequent size ranges as (range, count), most frequent first."""
        items = sorted(self.buckets.items(), key=lambda kv: -kv[1])
        return items[:top_n]


@dataclass
class ThreadMemoryStats:
    thread_id: int
    thread_name: str
    alloc_count: int
    free_count: int
    alloc_bytes: int
    free_bytes: int
    cross_thread_frees_sent: int
    cross_thread_frees_received: int
    index: int = 0
    exited: bool = False


@dataclass
class FragmentationMetrics:
    internal_fragmentation: float
    external_fragmentation: float
    largest_free_block: int  # not measured by alloy's profiler: always None
    free_block_count: int  # not measured by alloy's profiler: always None
    utilization: float
    requested_bytes: int = 0
    usable_bytes: int = 0
    heap_bytes: int = 0
    rss_bytes: int = 0
    heap_source: str = ""


@dataclass
class AllocationRecord:
    """One leak site: blocks live at the snapshot, grouped by allocating call. ptr is None
    (the profiler groups blocks by site); size is the site's bytes, count its blocks."""
    ptr: object
    size: int
    timestamp: float
    thread_id: object
    stack_trace: object
    count: int = 1


LeakSite = AllocationRecord


@dataclass
class MemoryProfilerReport:
    alloc_count: int
    free_count: int
    alloc_bytes: int
    free_bytes: int
    current_allocated: int
    peak_allocated: int
    alloc_rate: float
    free_rate: float
    bytes_rate: float
    alloc_latency_p50: float
    alloc_latency_p95: float
    alloc_latency_p99: float
    alloc_latency_p999: float
    free_latency_p50: float
    free_latency_p95: float
    free_latency_p99: float
    free_latency_p999: float
    cross_thread_free_count: int
    cross_thread_free_pct: float
    size_histogram: SizeHistogram
    thread_stats: list
    fragmentation: FragmentationMetrics
    leaked_allocations: object
    leaked_bytes: int
    duration_seconds: float
    start_time: datetime
    end_time: datetime
    raw: dict = field(repr=False, default_factory=dict)  # every field of the C report

    @property
    def cross_thread_matrix(self):
        return self.raw.get("cross_thread_matrix", [])


def _frame_text(f):
    fn = f.get("function") or f"0x{f['pc']:x}"
    where = f.get("file")
    if where:
        return f"{fn} {where}:{f.get('line', 0)}"
    mod = f.get("module")
    return f"{fn} ({mod})" if mod else fn


def _build_report(d, detect_leaks):
    hist = SizeHistogram(
        buckets={_range(lo, hi): c for lo, hi, c, _ in d["size_buckets"]},
        total_count=sum(c for _, _, c, _ in d["size_buckets"]),
        total_bytes=sum(b for _, _, _, b in d["size_buckets"]),
        bucket_bytes={_range(lo, hi): b for lo, hi, _, b in d["size_buckets"]},
        top_sizes=list(d["top_sizes"]))
    threads = [ThreadMemoryStats(
        thread_id=t["thread_id"], thread_name=_python_name(t["thread_id"], t["thread_name"]),
        alloc_count=t["alloc_count"], free_count=t["free_count"], alloc_bytes=t["alloc_bytes"],
        free_bytes=t["free_bytes"], cross_thread_frees_sent=t["cross_thread_frees_sent"],
        cross_thread_frees_received=t["cross_thread_frees_received"], index=t["index"],
        exited=t["exited"]) for t in d["thread_stats"]]
    fr = d["fragmentation"]
    frag = FragmentationMetrics(
        internal_fragmentation=fr["internal_fragmentation"],
        external_fragmentation=fr["external_fragmentation"], largest_free_block=None,
        free_block_count=None, utilization=fr["utilization"],
        requested_bytes=fr["requested_bytes"], usable_bytes=fr["usable_bytes"],
        heap_bytes=fr["heap_bytes"], rss_bytes=fr["rss_bytes"], heap_source=fr["heap_source"])
    leaks = None
    if detect_leaks:
        leaks = [AllocationRecord(ptr=None, size=s["bytes"], timestamp=d["end_time"],
                                  thread_id=None,
                                  stack_trace=[_frame_text(f) for f in s["stack"]] or None,
                                  count=s["count"]) for s in d["leak_sites"]]
    al, fl = d["alloc_latency"], d["free_latency"]
    return MemoryProfilerReport(
        alloc_count=d["alloc_count"], free_count=d["free_count"], alloc_bytes=d["alloc_bytes"],
        free_bytes=d["free_bytes"], current_allocated=d["current_allocated"],
        peak_allocated=d["peak_allocated"], alloc_rate=d["alloc_rate"],
        free_rate=d["free_rate"], bytes_rate=d["bytes_rate"],
        alloc_latency_p50=al["p50_ns"], alloc_latency_p95=al["p95_ns"],
        alloc_latency_p99=al["p99_ns"], alloc_latency_p999=al["p999_ns"],
        free_latency_p50=fl["p50_ns"], free_latency_p95=fl["p95_ns"],
        free_latency_p99=fl["p99_ns"], free_latency_p999=fl["p999_ns"],
        cross_thread_free_count=d["cross_thread_free_count"],
        cross_thread_free_pct=d["cross_thread_free_pct"], size_histogram=hist,
        thread_stats=threads, fragmentation=frag, leaked_allocations=leaks,
        leaked_bytes=d["leaked_bytes"] if detect_leaks else 0,
        duration_seconds=d["duration_seconds"],
        start_time=datetime.fromtimestamp(d["start_time"], timezone.utc),
        end_time=datetime.fromtimestamp(d["end_time"], timezone.utc), raw=d)


# seed 002's sample_rate is a fraction; the profiler samples by bytes (unbiased for leaks
# and heap figures): a block of _SAMPLE_REF bytes is recorded with probability sample_rate.
_SAMPLE_REF = 64


class MemoryProfiler:
    """Seed 002's profiler over alloy_profile_*: one per process runs at a time."""

    def __init__(self, *, track_sizes=True, track_latency=True, track_per_thread=False,
                 track_cross_thread=True, detect_leaks=False, capture_stacks=False,
                 sample_rate=1.0, latency_buckets=1000, sample_bytes=None, stack_depth=16,
                 timeline_ms=10, top_sizes=10):
        if not 0.0 < float(sample_rate) <= 1.0:
            raise ValueError("sample_rate must be in (0, 1]")
        if int(latency_buckets) <= 0:
            raise ValueError("latency_buckets must be positive")
        if sample_bytes is None:
            sample_bytes = 0 if sample_rate >= 1.0 else max(
                1, math.ceil(-_SAMPLE_REF / math.log1p(-sample_rate)))
        latency_every = 1 if sample_rate >= 1.0 else max(1, round(1.0 / sample_rate))
        self._opts = dict(track_sizes=bool(track_sizes), track_latency=bool(track_latency),
                          track_per_thread=bool(track_per_thread),
                          track_cross_thread=bool(track_cross_thread),
                          detect_leaks=bool(detect_leaks), capture_stacks=bool(capture_stacks),
                          sample_bytes=int(sample_bytes), latency_every=latency_every,
                          stack_depth=int(stack_depth), timeline_ms=int(timeline_ms),
                          top_sizes=int(top_sizes))
        # The latency histogram is log-linear with fixed resolution (<= 3.2 % per bucket):
        # latency_buckets is accepted for seed 002's signature and otherwise unused.
        self.latency_buckets = int(latency_buckets)
        self._final = None
        self._running = False

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        """Start measuring, from zero."""
        if self._opts["track_per_thread"]:
            name_threads()
        _alloy.profile_start(**self._opts)
        self._running = True
        self._final = None

    def stop(self):
        """Stop measuring; the figures at this moment become report()."""
        if not self._running:
            return
        self._final = _alloy.profile_snapshot()
        _alloy.profile_stop()
        self._running = False

    def reset(self):
        """Zero every figure (the profiler keeps running if it was)."""
        _alloy.profile_reset()
        self._final = None

    def _raw(self):
        if self._running or self._final is None:
            return _alloy.profile_snapshot()
        return self._final

    def snapshot(self):
        """The figures now, without stopping."""
        return _build_report(_alloy.profile_snapshot().to_dict(), self._opts["detect_leaks"])

    def report(self):
        """The final report (the figures at stop(); while running, a snapshot)."""
        return _build_report(self._raw().to_dict(), self._opts["detect_leaks"])

    def to_json(self, path):
        """Write the report as JSON (schema alloy-profile/1, docs/profile.md)."""
        self._raw().write(os.fspath(path), "json", True)

    def to_csv(self, path):
        """Write the report as CSV (section,metric,key,label,value)."""
        self._raw().write(os.fspath(path), "csv", True)

    def to_prometheus(self):
        """The report in the Prometheus text format, as a string."""
        return self._raw().text("prometheus")

    def to_html(self, path, alloy_command=None):
        """Write the HTML dashboard through `alloy report FILE --html -o PATH` (the alloy
        command: ALLOY_COMMAND, else `alloy` on PATH). RuntimeError if it is not there."""
        exe = alloy_command or os.environ.get("ALLOY_COMMAND") or shutil.which("alloy")
        if not exe:
            raise RuntimeError("to_html needs the alloy command (tools/alloy, `make install`): "
                               "not on PATH and ALLOY_COMMAND is not set")
        path = os.fspath(path)
        tmp = f"{path}.{os.getpid()}.json"
        self._raw().write(tmp, "json", True)
        try:
            r = subprocess.run([exe, "report", tmp, "--html", "-o", path, "--force"],
                               capture_output=True, text=True)
        finally:
            os.unlink(tmp)
        if r.returncode != 0:
            raise RuntimeError(f"alloy report --html failed ({r.returncode}): {r.stderr.strip()}")
