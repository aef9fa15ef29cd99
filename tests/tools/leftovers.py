# SPDX-License-Identifier: MIT
"""Shared by check_bench.py and check_validate.py: the processes a run left behind."""
import os


def leftovers(marker):
    """Pids of the processes whose command line holds marker (a run's children must not
    outlive it: give them a marker argument no other process has)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found
