#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""profile_demo runs the known workload with the profiler started in code and writes JSON, CSV
and Prometheus; every figure in every export must equal what the workload did (full mode),
and the Prometheus file must pass promtool and scripts/check_prom.py.

usage: check_exports.py PROFILE_DEMO CHECK_PROM [PROMTOOL]"""
import csv
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import expect as E  # noqa: E402

demo, check_prom = sys.argv[1], sys.argv[2]
promtool = sys.argv[3] if len(sys.argv) > 3 else ''
fails = []


def eq(what, got, want):
    if got != want:
        fails.append(f'{what}: got {got!r}, want {want!r}')


with tempfile.TemporaryDirectory() as d:
    subprocess.run([demo, d], check=True)
    doc = json.load(open(os.path.join(d, 'profile.json'), encoding='utf-8'))
    rows = list(csv.reader(open(os.path.join(d, 'profile.csv'), encoding='utf-8', newline='')))
    prom = open(os.path.join(d, 'profile.prom'), encoding='utf-8').read()
    prom_path = os.path.join(d, 'profile.prom')

    # ---- JSON
    eq('schema', doc['schema'], 'alloy-profile/1')
    eq('mode', doc['mode'], 'full')
    eq('alloc_count', doc['alloc_count'], E.ALLOCS)
    eq('alloc_bytes', doc['alloc_bytes'], E.BYTES)
    eq('free_count', doc['free_count'], E.FREES)
    eq('free_bytes', doc['free_bytes'], E.BYTES - E.LEAKED_BYTES)
    eq('current_count', doc['current_count'], E.LEAKED)
    eq('cross_thread_free_count', doc['cross_thread_free_count'], E.CROSS)
    eq('alloc_latency.count', doc['alloc_latency']['count'], E.ALLOCS)
    eq('free_latency.count', doc['free_latency']['count'], E.FREES)
    eq('latency bucket sum', sum(c for _, c in doc['alloc_latency']['buckets']), E.ALLOCS)
    for size, n in E.SIZES.items():
        eq(f'size bucket of {size}', E.bucket_count(doc, size), n)
    eq('size total', doc['size_histogram']['total_count'], E.ALLOCS)
    eq('top sizes', [(t['size'], t['count']) for t in doc['size_histogram']['top_sizes']][:4],
       sorted(E.SIZES.items(), key=lambda kv: -kv[1]))
    threads = {t['thread_name']: t for t in doc['thread_stats']}
    w = threads.get('worker')
    if w is None:
        fails.append(f'no thread named worker in {list(threads)}')
    else:
        main = [t for t in doc['thread_stats'] if t is not w][0]
        eq('worker allocs', w['alloc_count'], 200)
        eq('worker frees', w['free_count'], 600)
        eq('worker received', w['cross_thread_frees_received'], E.CROSS)
        eq('main sent', main['cross_thread_frees_sent'], E.CROSS)
        eq('main allocs', main['alloc_count'], E.ALLOCS - 200)
        eq('matrix[worker][main]', doc['cross_thread_matrix'][w['index']][main['index']], E.CROSS)
        eq('matrix[main][worker]', doc['cross_thread_matrix'][main['index']][w['index']], 0)
    lk = doc['leaks']
    eq('leaked_count', lk['leaked_count'], E.LEAKED)
    eq('leaked_bytes', lk['leaked_bytes'], E.LEAKED_BYTES)
    eq('leak sites', [(s['count'], s['bytes']) for s in lk['sites']], [(3, 3000), (7, 168)])
    for site, func, marker in ((0, 'leak_big', 'LEAK_BIG'), (1, 'leak_small', 'LEAK_SMALL')):
        frames = lk['sites'][site]['stack'] if len(lk['sites']) > site else []
        want = (func, E.line_of(marker))
        if not any((f['function'], f['line']) == want for f in frames):
            fails.append(f'leak site {site}: no frame {want} in {frames[:3]}')
        if not any(f['file'] and f['file'].endswith('workload.h') for f in frames):
            fails.append(f'leak site {site}: no frame in workload.h')

    # ---- CSV
    eq('csv header', rows[0], ['section', 'metric', 'key', 'label', 'value'])
    table = {(r[0], r[1], r[2], r[3]): r[4] for r in rows[1:]}
    eq('csv alloc_count', table.get(('summary', 'alloc_count', '', '')), str(E.ALLOCS))
    eq('csv free_count', table.get(('summary', 'free_count', '', '')), str(E.FREES))
    eq('csv cross', table.get(('summary', 'cross_thread_free_count', '', '')), str(E.CROSS))
    eq('csv size 24', table.get(('size_histogram', 'count', '24', '27')), str(E.SIZES[24]))
    eq('csv leaked_bytes', table.get(('leaks', 'leaked_bytes', '', 'exact')), str(E.LEAKED_BYTES))
    if w is not None:
        eq('csv worker allocs', table.get(('thread', 'alloc_count', str(w['index']), 'worker')),
           '200')
        eq('csv cross cell',
           table.get(('cross_thread', 'frees', str(w['index']), str(main['index']))), str(E.CROSS))

    # ---- Prometheus
    s = E.prom_samples(prom)
    eq('prom alloc_total', s.get('alloy_alloc_total'), E.ALLOCS)
    eq('prom free_total', s.get('alloy_free_total'), E.FREES)
    eq('prom alloc_bytes_total', s.get('alloy_alloc_bytes_total'), E.BYTES)
    eq('prom cross', s.get('alloy_cross_thread_free_total'), E.CROSS)
    eq('prom leaked', s.get('alloy_leaked_bytes'), E.LEAKED_BYTES)
    eq('prom size count', s.get('alloy_alloc_size_bytes_count'), E.ALLOCS)
    eq('prom size sum', s.get('alloy_alloc_size_bytes_sum'), E.BYTES)
    eq('prom size le=32', s.get('alloy_alloc_size_bytes_bucket{le="32"}'), E.SIZES[24])
    eq('prom size le=1024', s.get('alloy_alloc_size_bytes_bucket{le="1024"}'),
       E.SIZES[24] + E.SIZES[64] + E.SIZES[1000])
    eq('prom latency count', s.get('alloy_alloc_latency_seconds_count'), E.ALLOCS)
    r = subprocess.run([sys.executable, check_prom, prom_path], capture_output=True, text=True)
    if r.returncode != 0:
        fails.append('check_prom.py: ' + r.stdout)
    if promtool:
        r = subprocess.run([promtool, 'check', 'metrics'], input=prom, capture_output=True,
                           text=True)
        if r.returncode != 0:
            fails.append('promtool: ' + r.stdout + r.stderr)
    else:
        print('promtool not found: install Debian prometheus (scripts/packages.txt)')
        fails.append('promtool missing')

for f in fails:
    print(f)
sys.exit(1 if fails else 0)
