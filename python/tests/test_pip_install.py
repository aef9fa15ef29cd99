# SPDX-License-Identifier: MIT
"""`pip install --no-build-isolation .` of python/ against this build's liballoy."""
import os
import shutil
import subprocess

import pytest

from conftest import REPO


def test_pip_install_into_a_target(tmp_path, python):
    build = os.environ.get("ALLOY_BUILD_DIR")
    if not build:
        pytest.skip("ALLOY_BUILD_DIR is not set (ctest sets it)")
    src = tmp_path / "src"
    shutil.copytree(os.path.join(REPO, "python"), src / "python",
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    os.symlink(os.path.join(REPO, "include"), src / "include")
    env = dict(os.environ, ALLOY_BUILD_DIR=build)
    r = subprocess.run([python, "-m", "pip", "install", "--no-build-isolation", "--no-index",
                        "--no-deps", "--target", str(tmp_path / "site"), "."],
                       cwd=src / "python", env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    env["PYTHONPATH"] = str(tmp_path / "site")
    r = subprocess.run([python, "-c", "import alloy; print(alloy.__file__, alloy.backend())"],
                       cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(str(tmp_path / "site"))
