# SPDX-License-Identifier: MIT
"""What tests/profile/workload.h does, as the checkers compare it (see the comment there)."""
import os
import re

ALLOCS = 1720
BYTES = 1000 * 24 + 500 * 1000 + 10 * 100000 + 200 * 64 + 7 * 24 + 3 * 1000
FREES = 1710
CROSS = 400
LEAKED = 10
LEAKED_BYTES = 7 * 24 + 3 * 1000
SIZES = {24: 1007, 1000: 503, 64: 200, 100000: 10}


def line_of(marker):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'workload.h')
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if marker in line and 'ALLOC(' in line:
                return n
    raise SystemExit(f'{marker} not found in workload.h')


def bucket_count(doc, size):
    for b in doc['size_histogram']['buckets']:
        if b['lo'] <= size <= b['hi']:
            return b['count']
    return 0


def prom_samples(text):
    """name{labels} -> value for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith('#'):
            continue
        m = re.match(r'(\S+?(?:\{.*\})?) (\S+)$', line)
        out[m.group(1)] = float(m.group(2))
    return out
