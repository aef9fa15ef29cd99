# SPDX-License-Identifier: MIT
"""Build the alloy package: `pip install --no-build-isolation .` from python/ (Debian's
setuptools; no other index is needed).

liballoy is found through pkg-config (`make install` puts alloy.pc in place) or, for a build
tree, ALLOY_BUILD_DIR=/path/to/build (headers from this repository and the build's
include/alloy/config.h; the extension gets an rpath to the build directory).
"""
import os
import shlex
import subprocess

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def alloy_flags():
    build = os.environ.get("ALLOY_BUILD_DIR")
    if build:
        build = os.path.abspath(build)
        return dict(include_dirs=[os.path.join(HERE, "..", "include"),
                                  os.path.join(build, "include")],
                    library_dirs=[build], runtime_library_dirs=[build], libraries=["alloy"])
    try:
        cflags = subprocess.run(["pkg-config", "--cflags", "alloy"], check=True,
                                capture_output=True, text=True).stdout
        libs = subprocess.run(["pkg-config", "--libs", "alloy"], check=True,
                              capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit("alloy: liballoy not found: run `make install` (pkg-config alloy) "
                         "or set ALLOY_BUILD_DIR to a CMake build directory") from e
    inc = [f[2:] for f in shlex.split(cflags) if f.startswith("-I")]
    libdirs = [f[2:] for f in shlex.split(libs) if f.startswith("-L")]
    names = [f[2:] for f in shlex.split(libs) if f.startswith("-l")]
    return dict(include_dirs=inc, library_dirs=libdirs, runtime_library_dirs=libdirs,
                libraries=names)


setup(
    name="alloy",
    version="0.1.0",
    description="alloy's counters and profiler from Python, and Python's allocations through alloy",
    license="MIT",
    packages=["alloy"],
    ext_modules=[Extension("alloy._alloy", ["src/alloymodule.c"],
                           extra_compile_args=["-Wall", "-Wextra", "-fno-omit-frame-pointer"],
                           **alloy_flags())],
    python_requires=">=3.9",
)
