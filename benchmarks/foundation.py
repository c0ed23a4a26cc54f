"""Prints the foundation's figures: build time per phase (each C library, then Ruby), wasm size,
no-op rebuild, run start-up.

    python benchmarks/foundation.py [--ruby 3.3] [--profile full]

Needs a built artifact (doit ruby_wasm). Times are wall-clock medians of a few runs.
"""
from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolchain import cruby  # noqa: E402
from toolchain.paths import CACHE_ENV, PROJECT_ROOT  # noqa: E402
from toolchain.run import DEFAULT_PROFILE, artifact_dir  # noqa: E402


def wall(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    subprocess.run(command, cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)
    return time.monotonic() - started


def median_wall(command: list[str], runs: int = 3) -> float:
    return statistics.median(wall(command) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ruby", default="3.3")
    parser.add_argument("--profile", default=DEFAULT_PROFILE)
    options = parser.parse_args()
    build = cruby.plan(options.ruby, options.profile, "auto", fetch_missing=False, quiet=True)
    if build is None:
        sys.exit("No cached source: run `doit ruby_wasm` first.")
    wasm = artifact_dir(options.ruby, options.profile) / "ruby.wasm"
    print(f"artifact          {wasm}")
    for library in build.libraries:
        for phase, seconds in library.phases.seconds().items():
            print(f"{library.name + ' ' + phase:<18}{seconds:8.1f} s")
    for phase, seconds in build.phases.seconds().items():
        print(f"{'ruby ' + phase:<18}{seconds:8.1f} s")
    size = wasm.stat().st_size
    print(f"ruby.wasm         {size:>10,} bytes ({len(gzip.compress(wasm.read_bytes(), 6)):,} gzipped)")
    doit = [sys.executable, "-m", "doit", "ruby_wasm", "--ruby", options.ruby, "--profile", options.profile]
    print(f"no-op ruby_wasm   {median_wall(doit):8.2f} s")
    run = [sys.executable, "-m", "toolchain.run", "--artifact", str(wasm.parent), "-e", "1"]
    with tempfile.TemporaryDirectory() as empty_cache:  # no compiled module yet: pays the compile
        print(f"-e 1 first run    {wall(run, {**os.environ, CACHE_ENV: empty_cache}):8.2f} s")
    print(f"-e 1 cached run   {median_wall(run):8.2f} s")


if __name__ == "__main__":
    main()
