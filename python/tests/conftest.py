# SPDX-License-Identifier: MIT
"""Shared fixtures: where the repository is, and a Python that imports this build's alloy."""
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def child_env():
    """Environment for a child interpreter that imports the same alloy package."""
    env = dict(os.environ)
    import alloy
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(alloy.__file__))
    env.pop("ALLOY_STATS", None)
    return env


@pytest.fixture
def python():
    return sys.executable
