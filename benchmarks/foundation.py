"""Prints the foundation's figures: build time per phase (each C library, then Ruby), wasm size,
no-op rebuild, run start-up; with --cold, a cold staged build's wall time beside the sum of its
stages (the overlap `doit -n` achieved); with --relink GEM, the time of a gem's relink.

    python benchmarks/foundation.py [--ruby 3.3] [--profile full] [--cold] [--jobs 2] [--relink nokogiri]

Needs a built artifact (doit ruby_wasm). Times are wall-clock medians of a few runs. --cold
builds everything again in an empty cache (about 15 minutes on 2 cores), downloads included.
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
from toolchain.phases import PhasedBuild  # noqa: E402
from toolchain.run import DEFAULT_PROFILE, artifact_dir  # noqa: E402


def wall(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    subprocess.run(command, cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)
    return time.monotonic() - started


def median_wall(command: list[str], runs: int = 3) -> float:
    return statistics.median(wall(command) for _ in range(runs))


def phase_seconds(build: cruby.RubyBuild) -> dict[str, float]:
    """Each phase of the build's stages, as its stamp recorded it: the twin, each C library, Ruby."""
    stages = {"twin": PhasedBuild(build.native.build_dir, {}), "ruby": build.phases,
              **{library.name: library.phases for library in build.libraries}}
    return {f"{name} {phase}": seconds for name, phases in stages.items() for phase, seconds in phases.seconds().items()}


def print_phases(build: cruby.RubyBuild) -> float:
    seconds = phase_seconds(build)
    for name, value in seconds.items():
        print(f"{name:<24}{value:8.1f} s")
    return sum(seconds.values())


def cold_build(options: argparse.Namespace) -> None:
    """`doit -n JOBS ruby_wasm` in an empty cache: its wall time beside the sum of its phases."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as cache:
        env = {**os.environ, CACHE_ENV: cache}
        command = [sys.executable, "-m", "doit", "-n", str(options.jobs), "ruby_wasm", "--ruby", options.ruby,
                   "--profile", options.profile]
        seconds = wall(command, env)
        os.environ[CACHE_ENV] = cache
        build = cruby.plan(options.ruby, options.profile, "auto", fetch_missing=False, quiet=True)
        assert build is not None
        print(f"cold build, doit -n {options.jobs} ruby_wasm, by phase:")
        total = print_phases(build)
        print(f"{'sum of phases':<24}{total:8.1f} s")
        print(f"{'wall (downloads too)':<24}{seconds:8.1f} s   phases overlapped {total / seconds:.2f}x")
        del os.environ[CACHE_ENV]


def relink(gem: str, series: str) -> None:
    """The gem's link stage again: its output removed, then `doit link:<series>-<gem>`."""
    stage = f"link:{series}-{gem}"
    subprocess.run([sys.executable, "-m", "doit", "clean", stage], cwd=PROJECT_ROOT, check=True, capture_output=True)
    print(f"{'relink ' + gem:<24}{wall([sys.executable, '-m', 'doit', stage]):8.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ruby", default="3.3")
    parser.add_argument("--profile", default=DEFAULT_PROFILE)
    parser.add_argument("--cold", action="store_true", help="also time a cold staged build in an empty cache")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="doit -n for --cold")
    parser.add_argument("--relink", metavar="GEM", help="also time the gem's relink")
    options = parser.parse_args()
    build = cruby.plan(options.ruby, options.profile, "auto", fetch_missing=False, quiet=True)
    if build is None:
        sys.exit("No cached source: run `doit ruby_wasm` first.")
    wasm = artifact_dir(options.ruby, options.profile) / "ruby.wasm"
    print(f"artifact          {wasm}")
    print_phases(build)
    size = wasm.stat().st_size
    print(f"ruby.wasm         {size:>10,} bytes ({len(gzip.compress(wasm.read_bytes(), 6)):,} gzipped)")
    doit = [sys.executable, "-m", "doit", "ruby_wasm", "--ruby", options.ruby, "--profile", options.profile]
    print(f"no-op ruby_wasm   {median_wall(doit):8.2f} s")
    run = [sys.executable, "-m", "toolchain.run", "--artifact", str(wasm.parent), "-e", "1"]
    with tempfile.TemporaryDirectory() as empty_cache:  # no compiled module yet: pays the compile
        print(f"-e 1 first run    {wall(run, {**os.environ, CACHE_ENV: empty_cache}):8.2f} s")
    print(f"-e 1 cached run   {median_wall(run):8.2f} s")
    if options.relink:
        relink(options.relink, options.ruby)
    if options.cold:
        cold_build(options)


if __name__ == "__main__":
    main()
