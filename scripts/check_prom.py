#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check a Prometheus text exposition (format 0.0.4) for what promtool does not check.

usage: check_prom.py FILE   (FILE '-' reads stdin); exit 0 if clean, 1 with one line per
problem, 2 on usage errors.

Checks: metric and label names are valid; label values use only the escapes \\\\ \\" \\n;
every family has one TYPE line before its samples and its samples are contiguous; no series
appears twice; counters end in _total; for every histogram series (labels other than le):
buckets sorted by le, counts cumulative (never decreasing), an le="+Inf" bucket equal to
_count, and a _sum.
"""
import math
import re
import sys

NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*$')
LABEL = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*$')


def parse_labels(text, problems, where):
    """Parse the inside of {...}; returns a list of (name, value) pairs."""
    out = []
    i, n = 0, len(text)
    while i < n:
        m = re.match(r'\s*([^=\s]+)\s*=\s*"', text[i:])
        if not m:
            problems.append(f'{where}: cannot parse labels {text!r}')
            return out
        name = m.group(1)
        if not LABEL.match(name):
            problems.append(f'{where}: bad label name {name!r}')
        i += m.end()
        val = []
        while True:
            if i >= n:
                problems.append(f'{where}: unterminated label value')
                return out
            c = text[i]
            if c == '\\':
                if i + 1 >= n or text[i + 1] not in '\\"n':
                    problems.append(f'{where}: bad escape in label {name!r}')
                    i += 1
                    continue
                val.append({'\\': '\\', '"': '"', 'n': '\n'}[text[i + 1]])
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                val.append(c)
                i += 1
        out.append((name, ''.join(val)))
        rest = text[i:].lstrip()
        if rest.startswith(','):
            i = n - len(rest) + 1
        elif rest == '':
            break
        else:
            problems.append(f'{where}: junk after label {name!r}: {rest!r}')
            return out
    return out


def split_sample(line):
    """name, label text (or None), rest."""
    m = re.match(r'([^\s{]+)(\{)?', line)
    name = m.group(1)
    if not m.group(2):
        return name, None, line[m.end():]
    # find the closing brace outside quotes
    i, inq = m.end(), False
    while i < len(line):
        c = line[i]
        if inq and c == '\\':
            i += 2
            continue
        if c == '"':
            inq = not inq
        elif c == '}' and not inq:
            return name, line[m.end():i], line[i + 1:]
        i += 1
    return name, line[m.end():], ''


def family_of(name, types):
    for suf in ('_bucket', '_sum', '_count'):
        if name.endswith(suf) and types.get(name[:-len(suf)]) in ('histogram', 'summary'):
            return name[:-len(suf)]
    return name


def check(text):
    problems = []
    types = {}
    seen_series = set()
    done_families = set()
    current = None
    hist = {}  # (family, labels without le) -> {'buckets': [(le, v)], 'sum': x, 'count': x}
    for ln, line in enumerate(text.split('\n'), 1):
        where = f'line {ln}'
        if line == '':
            continue
        if line.startswith('#'):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] == 'TYPE':
                fam = parts[2]
                if fam in types:
                    problems.append(f'{where}: second TYPE for {fam}')
                types[fam] = parts[3].strip() if len(parts) > 3 else ''
                if types[fam] == 'counter' and not fam.endswith('_total'):
                    problems.append(f'{where}: counter {fam} does not end in _total')
            continue
        name, ltext, rest = split_sample(line)
        if not NAME.match(name):
            problems.append(f'{where}: bad metric name {name!r}')
        labels = parse_labels(ltext, problems, where) if ltext is not None else []
        fields = rest.split()
        if not fields:
            problems.append(f'{where}: no value')
            continue
        try:
            value = float(fields[0])
        except ValueError:
            problems.append(f'{where}: bad value {fields[0]!r}')
            continue
        fam = family_of(name, types)
        if fam not in types:
            problems.append(f'{where}: {name} has no TYPE line before it')
        if fam != current:
            if fam in done_families:
                problems.append(f'{where}: samples of {fam} are not contiguous')
            if current is not None:
                done_families.add(current)
            current = fam
        names = [k for k, _ in labels]
        if len(set(names)) != len(names):
            problems.append(f'{where}: a label appears twice')
        key = (name, tuple(sorted(labels)))
        if key in seen_series:
            problems.append(f'{where}: duplicate series {name}{dict(labels)}')
        seen_series.add(key)
        if types.get(fam) == 'histogram':
            base = tuple(sorted((k, v) for k, v in labels if k != 'le'))
            h = hist.setdefault((fam, base), {'buckets': [], 'sum': None, 'count': None})
            if name == fam + '_bucket':
                le = dict(labels).get('le')
                if le is None:
                    problems.append(f'{where}: bucket without le')
                    continue
                try:
                    lev = math.inf if le == '+Inf' else float(le)
                except ValueError:
                    problems.append(f'{where}: bad le {le!r}')
                    continue
                h['buckets'].append((lev, value, ln))
            elif name == fam + '_sum':
                h['sum'] = value
            elif name == fam + '_count':
                h['count'] = value
    for (fam, base), h in hist.items():
        what = f'{fam}{dict(base) if base else ""}'
        b = h['buckets']
        if not b:
            problems.append(f'{what}: histogram without buckets')
            continue
        les = [x[0] for x in b]
        if les != sorted(les):
            problems.append(f'{what}: buckets not sorted by le')
        if len(set(les)) != len(les):
            problems.append(f'{what}: an le appears twice')
        for (l1, v1, _), (l2, v2, ln2) in zip(b, b[1:]):
            if v2 < v1:
                problems.append(f'{what}: bucket le={l2} (line {ln2}) is below the one before: '
                                'not cumulative')
        inf = [v for le, v, _ in b if le == math.inf]
        if not inf:
            problems.append(f'{what}: no le="+Inf" bucket')
        if h['count'] is None:
            problems.append(f'{what}: no _count')
        elif inf and inf[0] != h['count']:
            problems.append(f'{what}: le="+Inf" is {inf[0]} but _count is {h["count"]}')
        if h['sum'] is None:
            problems.append(f'{what}: no _sum')
    return problems


def main(argv):
    if len(argv) != 2:
        print('usage: check_prom.py FILE', file=sys.stderr)
        return 2
    data = sys.stdin.read() if argv[1] == '-' else open(argv[1], encoding='utf-8').read()
    problems = check(data)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
