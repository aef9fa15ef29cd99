#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The Prometheus checker finds each kind of fault it claims to (and passes a clean file)."""
import subprocess
import sys

checker = sys.argv[1]

GOOD = '''# HELP x_seconds a histogram
# TYPE x_seconds histogram
x_seconds_bucket{le="0.1"} 1
x_seconds_bucket{le="1"} 3
x_seconds_bucket{le="+Inf"} 4
x_seconds_sum 2.5
x_seconds_count 4
# TYPE y_total counter
y_total{name="a\\"b\\\\c\\nd"} 7
'''

BAD = {
    'not cumulative': GOOD.replace('le="1"} 3', 'le="1"} 0'),
    'no le="+Inf"': GOOD.replace('x_seconds_bucket{le="+Inf"} 4\n', ''),
    'le="+Inf" is': GOOD.replace('le="+Inf"} 4', 'le="+Inf"} 5'),
    'no _sum': GOOD.replace('x_seconds_sum 2.5\n', ''),
    'no _count': GOOD.replace('x_seconds_count 4\n', ''),
    'not sorted': GOOD.replace('le="0.1"} 1\nx_seconds_bucket{le="1"} 3',
                               'le="1"} 1\nx_seconds_bucket{le="0.1"} 3'),
    'duplicate series': GOOD + 'y_total{name="a\\"b\\\\c\\nd"} 8\n',
    'bad escape': GOOD.replace('\\nd"', '\\td"'),
    'does not end in _total': GOOD.replace('y_total', 'y'),
    'no TYPE line': GOOD + 'z 1\n',
    'not contiguous': GOOD + 'x_seconds_count 4\n',
}


def run(text):
    p = subprocess.run([sys.executable, checker, '-'], input=text, capture_output=True, text=True)
    return p.returncode, p.stdout


rc, out = run(GOOD)
if rc != 0:
    sys.exit(f'clean file rejected: {out}')
failed = False
for want, text in BAD.items():
    rc, out = run(text)
    if rc != 1 or want not in out:
        print(f'fault "{want}" not reported (rc {rc}): {out!r}')
        failed = True
sys.exit(1 if failed else 0)
