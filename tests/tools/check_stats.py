# SPDX-License-Identifier: MIT
"""tools.bench.stats: tools/alloy/stats.c against values computed here independently.

Medians and quantiles come from Python's statistics module; the Mann-Whitney U is counted pair
by pair (not from ranks) and its p-value follows the textbook normal approximation with tie and
continuity corrections; the bootstrap is recomputed with the same documented PRNG (splitmix64,
rejection sampling) and type-7 quantiles, so the intervals must agree exactly. A few small
cases are checked by hand.

usage: check_stats.py TOOLS_STATS
"""
import json
import math
import random
import statistics
import subprocess
import sys

PROG = sys.argv[1]
M64 = (1 << 64) - 1
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def close(x, y, tol=1e-9):
    return abs(x - y) <= tol * max(1.0, abs(x), abs(y))


def run(seed, a, b):
    args = [PROG, str(seed)] + [repr(x) for x in a] + ["--"] + [repr(x) for x in b]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


class SplitMix:
    def __init__(self, seed):
        self.s = seed & M64

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & M64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def below(self, n):
        limit = M64 - M64 % n
        while True:
            x = self.next()
            if x < limit:
                return x % n


def q7(sorted_v, q):
    n = len(sorted_v)
    if q <= 0:
        return sorted_v[0]
    if q >= 1:
        return sorted_v[-1]
    h = (n - 1) * q
    i = math.floor(h)
    if i + 1 >= n:
        return sorted_v[-1]
    return sorted_v[i] + (h - i) * (sorted_v[i + 1] - sorted_v[i])


def boot_median(rng, v):
    return statistics.median([v[rng.below(len(v))] for _ in v])


def boot_ci(a, seed, conf, resamples):
    rng = SplitMix(seed)
    est = sorted(boot_median(rng, a) for _ in range(resamples))
    t = (1 - conf) / 2
    return q7(est, t), q7(est, 1 - t)


def ratio_ci(a, b, seed, conf, resamples):
    rng = SplitMix(seed)
    est = []
    for _ in range(resamples):
        ma = boot_median(rng, a)
        mb = boot_median(rng, b)
        if ma != 0:
            est.append(mb / ma)
    est.sort()
    t = (1 - conf) / 2
    return q7(est, t), q7(est, 1 - t)


def mann_whitney(a, b):
    u = sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in a for y in b)
    na, nb = len(a), len(b)
    n = na + nb
    counts = {}
    for x in a + b:
        counts[x] = counts.get(x, 0) + 1
    ties = sum(t ** 3 - t for t in counts.values())
    var = na * nb / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return u, 1.0
    z = max(0.0, (abs(u - na * nb / 2.0) - 0.5) / math.sqrt(var))
    return u, math.erfc(z / math.sqrt(2))


def compare(seed, a, b):
    got = run(seed, a, b)
    name = "a=%s b=%s" % (a[:6], b[:6])
    check(close(got["median"], statistics.median(a)), "median " + name)
    s = sorted(a)
    if len(a) >= 2:
        # statistics.quantiles(method="inclusive") is type 7: cut points k/20.
        cuts = statistics.quantiles(a, n=20, method="inclusive")
        for k in range(1, 20):
            check(close(got["q"][k], cuts[k - 1]), "quantile %d/20 %s" % (k, name))
    check(got["q"][0] == s[0] and got["q"][20] == s[-1], "quantile 0 and 1 " + name)
    lo, hi = boot_ci(a, seed, 0.95, 500)
    check(close(got["lo"], lo) and close(got["hi"], hi), "bootstrap median " + name)
    check(got["lo"] <= statistics.median(a) <= got["hi"], "interval holds the median " + name)
    rlo, rhi = ratio_ci(a, b, seed, 0.90, 400)
    check(close(got["rlo"], rlo) and close(got["rhi"], rhi), "bootstrap ratio " + name)
    u, p = mann_whitney(a, b)
    check(close(got["u"], u), "U %s: %s != %s" % (name, got["u"], u))
    check(close(got["p"], p), "p %s: %s != %s" % (name, got["p"], p))
    r = statistics.median(b) / statistics.median(a)
    check(close(got["noise"], max(abs(r - 1), abs(rlo - 1), abs(rhi - 1))), "A/A noise " + name)
    return got


# splitmix64 from seed 0: the published first outputs of the reference implementation.
g = run(0, [1.0], [1.0])
check(g["rand"][0] == str(0xE220A8397B1DCDAF), "splitmix64 first output from seed 0")
check(g["rand"][1] == str(0x6E789E6AA1B965F4), "splitmix64 second output from seed 0")

# Hand-checked cases.
g = run(1, [3, 1, 2], [4, 5, 6])
check(g["median"] == 2 and g["u"] == 0, "median of 3 1 2 is 2; U of a below b is 0")
g = run(1, [1, 2, 3, 4], [1, 2, 3, 4])
check(g["median"] == 2.5 and g["u"] == 8 and g["p"] == 1.0, "identical samples: U = 8, p = 1")
# The A/A noise is not the ratio alone: equal medians by luck, a wide interval, wide noise.
check(g["noise"] > 0.2 and close(g["noise"], max(abs(g["rlo"] - 1), abs(g["rhi"] - 1))),
      "A/A noise of equal medians is the interval's reach: %s" % g["noise"])
g = run(1, [5, 5, 5], [5, 5, 5])
check(g["p"] == 1.0 and g["lo"] == 5 and g["hi"] == 5, "all tied: p = 1, interval [5, 5]")
check(g["rlo"] == 1 and g["rhi"] == 1, "all tied: ratio interval [1, 1]")
a = [10.0 + i * 0.1 for i in range(12)]
b = [20.0 + i * 0.1 for i in range(12)]
g = run(1, a, b)
check(g["p"] < 0.001 and g["u"] == 0, "separated samples: p %s < 0.001" % g["p"])
check(g["rlo"] > 1.8 and g["rhi"] < 2.2, "separated samples: ratio near 2")

# Same seed, same interval; another seed, still a valid interval.
rnd = random.Random(7)
a = [rnd.gauss(100, 5) for _ in range(15)]
check(run(9, a, a) == run(9, a, a), "the bootstrap is reproducible")

# Random samples with and without ties, odd and even sizes, against the independent code.
for trial in range(12):
    na, nb = rnd.randint(1, 25), rnd.randint(1, 25)
    if trial % 3 == 0:
        a = [float(rnd.randint(1, 6)) for _ in range(na)]
        b = [float(rnd.randint(2, 7)) for _ in range(nb)]
    else:
        a = [rnd.lognormvariate(0, 0.3) for _ in range(na)]
        b = [rnd.lognormvariate(0.2, 0.3) for _ in range(nb)]
    if na + nb >= 2:
        compare(rnd.randint(0, 1 << 40), a, b)

if failures:
    print("%d failures" % len(failures))
    sys.exit(1)
print("stats: all checks passed")
