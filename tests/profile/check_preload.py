#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ALLOY_PROFILE=<path> on an unmodified program under LD_PRELOAD of liballoy-override.so.

usage: check_preload.py CASE VICTIM OVERRIDE_SO
cases: exit _exit abort sigkill fork exec_default exec_asked hostile_names no_clobber bad_env
The profile file must be valid JSON (schema alloy-profile/1) holding at least the known
workload (tests/profile/workload.h; the C library allocates too, so counts are lower bounds),
whatever way the program ended."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import expect as E  # noqa: E402

case, victim, preload = sys.argv[1], sys.argv[2], sys.argv[3]
fails = []


def env(path, **extra):
    e = dict(os.environ)
    e['LD_PRELOAD'] = preload
    e['ALLOY_PROFILE'] = path
    e.update(extra)
    return e


def load(path):
    with open(path, 'rb') as f:
        raw = f.read()
    doc = json.loads(raw.decode('utf-8'))  # strict: invalid UTF-8 or JSON raises
    if doc.get('schema') != 'alloy-profile/1':
        raise ValueError(f'schema {doc.get("schema")!r}')
    return doc


def check_workload(doc, what):
    if doc['alloc_count'] < E.ALLOCS:
        fails.append(f'{what}: alloc_count {doc["alloc_count"]} < {E.ALLOCS}')
    for size, n in E.SIZES.items():
        if E.bucket_count(doc, size) < n:
            fails.append(f'{what}: size {size}: {E.bucket_count(doc, size)} < {n}')
    if doc['cross_thread_free_count'] < E.CROSS:
        fails.append(f'{what}: cross-thread frees {doc["cross_thread_free_count"]} < {E.CROSS}')
    names = [t['thread_name'] for t in doc['thread_stats']]
    if case != 'hostile_names' and 'worker' not in names:
        fails.append(f'{what}: no thread named worker in {names}')
    if doc['leaks']['leaked_count'] < E.LEAKED:
        fails.append(f'{what}: leaked_count {doc["leaks"]["leaked_count"]} < {E.LEAKED}')


def run(mode, path, *args, **extra):
    return subprocess.run([victim, mode, *args], env=env(path, **extra), capture_output=True,
                          text=True, timeout=30)


with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, 'prof.json')
    if case in ('exit', '_exit', 'abort'):
        # _exit: the victim waits for the stream to hold its workload, then ends without exit
        # handlers (the file is at most one interval old).
        p = run(case, path, *([path] if case == '_exit' else []))
        want_rc = -signal.SIGABRT if case == 'abort' else 0
        if p.returncode != want_rc:
            fails.append(f'exit status {p.returncode}, want {want_rc}: {p.stderr}')
        check_workload(load(path), case)
    elif case == 'hostile_names':
        p = run('hostile', path, ALLOY_PROFILE_PROM=d)
        doc = load(path)
        check_workload(doc, case)
        names = [t['thread_name'] for t in doc['thread_stats']]
        if 'w"o\\r\nk\u00ff' not in names:
            fails.append(f'hostile name not kept (escaped) in JSON: {names}')
        prom = os.path.join(d, f'alloy_{doc["pid"]}.prom')
        chk = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'scripts',
                           'check_prom.py')
        r = subprocess.run([sys.executable, chk, prom], capture_output=True, text=True)
        if r.returncode != 0:
            fails.append('check_prom.py: ' + r.stdout)
    elif case == 'sigkill':
        p = subprocess.Popen([victim, 'hang'], env=env(path), stdout=subprocess.PIPE, text=True)
        if p.stdout.readline().strip() != 'ready':
            fails.append('victim did not get ready')
        # The stream rewrites the file at least every 100 ms: wait (bounded) until it holds the
        # whole workload, then kill without warning.
        deadline = time.monotonic() + 10
        doc = None
        while time.monotonic() < deadline:
            try:
                doc = load(path)
                if doc['alloc_count'] >= E.ALLOCS and doc['leaks']['leaked_count'] >= E.LEAKED:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        p.send_signal(signal.SIGKILL)
        p.wait()
        check_workload(load(path), 'after SIGKILL')
    elif case == 'fork':
        p = run('fork', path)
        if p.returncode != 0:
            fails.append(f'fork victim failed: {p.returncode} {p.stderr}')
        child = int(p.stdout.strip())
        parent_doc = load(path)
        child_doc = load(f'{path}.{child}')
        if child_doc['pid'] != child:
            fails.append(f'child file has pid {child_doc["pid"]}, want {child}')
        if E.bucket_count(child_doc, 777) != 5:
            fails.append(f'child: size 777 count {E.bucket_count(child_doc, 777)}, want 5')
        if E.bucket_count(parent_doc, 777) != 0:
            fails.append('parent profile has the child\'s allocations')
        check_workload(parent_doc, 'parent')
    elif case in ('exec_default', 'exec_asked'):
        extra = {'ALLOY_PROFILE_EXEC': '1'} if case == 'exec_asked' else {}
        p = run('exec', path, **extra)
        if p.returncode != 0:
            fails.append(f'exec victim failed: {p.returncode} {p.stderr}')
        marked = os.path.exists(path) and E.bucket_count(load(path), 555) == 5
        if case == 'exec_asked' and not marked:
            fails.append('ALLOY_PROFILE_EXEC=1: the exec\'d program was not profiled')
        if case == 'exec_default' and marked:
            fails.append('the exec\'d program was profiled without ALLOY_PROFILE_EXEC=1')
    elif case == 'no_clobber':
        with open(path, 'w') as f:
            f.write('precious')
        p = run('exit', path)
        if open(path).read() != 'precious':
            fails.append('an existing file was overwritten')
        if 'ALLOY_PROFILE_OVERWRITE' not in p.stderr:
            fails.append(f'no message about the existing file: {p.stderr!r}')
        link = os.path.join(d, 'link.json')
        os.symlink(path, link)
        run('exit', link)
        if open(path).read() != 'precious':
            fails.append('written through a symlink')
        run('exit', path, ALLOY_PROFILE_OVERWRITE='1')
        check_workload(load(path), 'with ALLOY_PROFILE_OVERWRITE=1')
    elif case == 'bad_env':
        p = run('exit', path, ALLOY_PROFILE_SAMPLE='12\x1bjunk')
        lines = [l for l in p.stderr.splitlines() if 'ALLOY_PROFILE_SAMPLE' in l]
        if len(lines) != 1 or '\\x1b' not in lines[0]:
            fails.append(f'want one escaped line about ALLOY_PROFILE_SAMPLE: {p.stderr!r}')
        doc = load(path)
        if doc['mode'] != 'full':
            fails.append(f'bad value did not fall back to full mode: {doc["mode"]}')
    else:
        sys.exit(f'unknown case {case}')

for f in fails:
    print(f)
sys.exit(1 if fails else 0)
