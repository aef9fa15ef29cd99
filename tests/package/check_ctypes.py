#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_ctypes.py <alloy-source-dir> <liballoy.so>

Every public inline function of the headers (ALLOY_INLINE) is exported by
liballoy.so under its own name, and Python ctypes can call them: an
allocator value from alloy_heap(), alloy_alloc/alloy_dealloc through it, and a
whole SMR round trip (enter, protect, exit, retire_node, barrier, stats).
"""
import ctypes
import glob
import os
import re
import sys


class Allocator(ctypes.Structure):
    _fields_ = [("ctx", ctypes.c_void_p), ("vt", ctypes.c_void_p)]


class SmrStats(ctypes.Structure):
    _fields_ = [("retired", ctypes.c_uint64), ("freed", ctypes.c_uint64),
                ("pending", ctypes.c_uint64), ("clock", ctypes.c_uint64),
                ("threads", ctypes.c_uint32), ("slots", ctypes.c_uint32),
                ("cached", ctypes.c_uint64)]


def inline_names(src):
    names = set()
    for path in glob.glob(os.path.join(src, "include", "**", "*.h"), recursive=True):
        text = re.sub(r"/\*.*?\*/", " ", open(path, encoding="utf-8").read(), flags=re.S)
        for m in re.finditer(r"\bALLOY_INLINE\b[^;{(]*?\b(alloy_[a-z0-9_]+)\s*\(", text):
            names.add(m.group(1))
    return sorted(names)


def main(src, libpath):
    lib = ctypes.CDLL(libpath)
    names = inline_names(src)
    if len(names) < 20:
        print("FAIL: found only %d ALLOY_INLINE functions in the headers" % len(names))
        return 1
    missing = [n for n in names if not hasattr(lib, n)]
    if missing:
        print("FAIL: liballoy.so does not export: " + " ".join(missing))
        return 1

    lib.alloy_heap.restype = Allocator
    lib.alloy_alloc.restype = ctypes.c_void_p
    lib.alloy_alloc.argtypes = [Allocator, ctypes.c_size_t, ctypes.c_size_t]
    lib.alloy_dealloc.restype = None
    lib.alloy_dealloc.argtypes = [Allocator, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
    lib.alloy_alloc_array_zeroed.restype = ctypes.c_void_p
    lib.alloy_alloc_array_zeroed.argtypes = [Allocator, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t]
    heap = lib.alloy_heap()
    p = lib.alloy_alloc(heap, 100, 64)
    if not p or p % 64:
        print("FAIL: alloy_alloc(heap, 100, 64) gave %r" % p)
        return 1
    ctypes.memset(p, 0xAB, 100)
    lib.alloy_dealloc(heap, p, 100, 64)
    z = lib.alloy_alloc_array_zeroed(heap, 10, 8, 8)
    if not z or any(ctypes.string_at(z, 80)):
        print("FAIL: alloy_alloc_array_zeroed did not give 80 zero bytes")
        return 1
    lib.alloy_dealloc(heap, z, 80, 8)
    if lib.alloy_alloc(heap, 8, 3) is not None:
        print("FAIL: alloy_alloc with alignment 3 did not fail")
        return 1

    lib.alloy_smr_create.restype = ctypes.c_void_p
    lib.alloy_smr_create.argtypes = [ctypes.c_int]
    for fn in ("alloy_smr_enter", "alloy_smr_exit", "alloy_smr_barrier", "alloy_smr_destroy"):
        getattr(lib, fn).argtypes = [ctypes.c_void_p]
        getattr(lib, fn).restype = None
    lib.alloy_smr_protect.restype = ctypes.c_void_p
    lib.alloy_smr_protect.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.alloy_smr_node_alloc.restype = ctypes.c_void_p
    lib.alloy_smr_node_alloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.alloy_smr_retire_node.restype = None
    lib.alloy_smr_retire_node.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    lib.alloy_smr_stats_get.restype = ctypes.c_bool
    lib.alloy_smr_stats_get.argtypes = [ctypes.c_void_p, ctypes.POINTER(SmrStats)]
    d = lib.alloy_smr_create(1)  # ALLOY_SMR_IBR
    if not d:
        print("FAIL: alloy_smr_create")
        return 1
    shared = ctypes.c_void_p(lib.alloy_smr_node_alloc(d, 48))
    lib.alloy_smr_enter(d)
    got = lib.alloy_smr_protect(d, ctypes.byref(shared))
    lib.alloy_smr_exit(d)
    if got != shared.value:
        print("FAIL: alloy_smr_protect returned %r, not %r" % (got, shared.value))
        return 1
    lib.alloy_smr_retire_node(d, shared, 48)
    lib.alloy_smr_barrier(d)
    st = SmrStats()
    if not lib.alloy_smr_stats_get(d, ctypes.byref(st)) or st.retired != 1 or st.pending != 0:
        print("FAIL: after one retire and a barrier: retired %d pending %d" % (st.retired, st.pending))
        return 1
    lib.alloy_smr_destroy(d)
    if lib.alloy_smr_stats_get(None, ctypes.byref(st)):
        print("FAIL: alloy_smr_stats_get(NULL) returned true")
        return 1
    print("ok: %d inline functions exported; ctypes calls through alloy_alloc and the SMR read side work"
          % len(names))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
