#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ALLOY_PROFILE_PROM=<dir>: the profiler keeps <dir>/alloy_<pid>.prom current; Debian's
prometheus-node-exporter, serving that directory with its textfile collector on loopback,
shows the metrics on /metrics without a scrape error.

usage: check_node_exporter.py VICTIM OVERRIDE_SO NODE_EXPORTER"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

victim, preload, exporter = sys.argv[1], sys.argv[2], sys.argv[3]
if not exporter:
    sys.exit('prometheus-node-exporter not found: install it (scripts/packages.txt)')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_for(pred, what, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    sys.exit(f'timed out waiting for {what}')


with tempfile.TemporaryDirectory() as d:
    env = dict(os.environ, LD_PRELOAD=preload, ALLOY_PROFILE_PROM=d,
               ALLOY_PROFILE=os.path.join(d, 'profile.json'))
    prog = subprocess.Popen([victim, 'hang'], env=env, stdout=subprocess.PIPE, text=True)
    ne = None
    try:
        assert prog.stdout.readline().strip() == 'ready'
        prom = os.path.join(d, f'alloy_{prog.pid}.prom')

        def streamed():
            try:
                text = open(prom).read()
            except OSError:
                return None
            m = re.search(r'^alloy_alloc_total (\d+)', text, re.M)
            return text if m and int(m.group(1)) >= 1720 else None
        wait_for(streamed, 'the .prom file')
        # Only the .prom file: the write's temporaries never keep the .prom suffix.
        leftovers = [f for f in os.listdir(d) if '.tmp.' in f and f.endswith('.prom')]
        if leftovers:
            sys.exit(f'temporary files named .prom: {leftovers}')
        port = free_port()
        ne = subprocess.Popen([exporter, '--collector.disable-defaults', '--collector.textfile',
                               f'--collector.textfile.directory={d}',
                               f'--web.listen-address=127.0.0.1:{port}'],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        def scrape():
            try:
                with urllib.request.urlopen(f'http://127.0.0.1:{port}/metrics', timeout=2) as r:
                    body = r.read().decode()
            except OSError:
                return None
            return body if 'alloy_alloc_total' in body else None
        body = wait_for(scrape, 'alloy metrics on node_exporter /metrics')
        fails = []
        m = re.search(r'^alloy_alloc_total (\S+)', body, re.M)
        if not m or float(m.group(1)) < 1720:
            fails.append(f'alloy_alloc_total: {m and m.group(1)}')
        if not re.search(r'^node_textfile_scrape_error 0$', body, re.M):
            fails.append('node_textfile_scrape_error is not 0')
        if 'alloy_alloc_latency_seconds_bucket{le="+Inf"}' not in body:
            fails.append('latency histogram missing')
        for f in fails:
            print(f)
        sys.exit(1 if fails else 0)
    finally:
        prog.send_signal(signal.SIGKILL)
        prog.wait()
        if ne is not None:
            ne.terminate()
            ne.wait()
