"""Prints the foundation's figures: build time per phase (each C library, then Ruby), wasm size,
no-op rebuild, run start-up; with --cold, a cold staged build's wall time beside the sum of its
stages (the overlap `doit -n` achieved); with --relink GEM, the time of a gem's relink; with
--patch-change, the rebuild after a one-line change to one CRuby C file made through a patch, and
how many compiles the compiler cache served.

    python benchmarks/foundation.py [--ruby 3.3] [--profile full] [--cold] [--jobs 2] [--relink nokogiri]
                                    [--patch-change]

Needs a built artifact (doit ruby_wasm). Times are wall-clock medians of a few runs. --cold
builds everything again in an empty cache (about 15 minutes on 2 cores), downloads included.
"""
from __future__ import annotations

import argparse
import difflib
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolchain.compile import compiler_cache, cruby  # noqa: E402
from toolchain.compile.phases import PhasedBuild  # noqa: E402
from toolchain.paths import ARTIFACT_ROOT_ENV, CACHE_ENV, PATCHES_DIR, PROJECT_ROOT, build_root, cache_root  # noqa: E402
from toolchain.run.runner import DEFAULT_PROFILE, artifact_dir  # noqa: E402


def wall(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    subprocess.run(command, cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)
    return time.monotonic() - started


def median_wall(command: list[str], runs: int = 3) -> float:
    return statistics.median(wall(command) for _ in range(runs))


def phase_seconds(build: cruby.RubyBuild) -> dict[str, float]:
    """Each phase of the build's stages, as its stamp recorded it: the baseruby, each C library, Ruby."""
    stages = {"baseruby": PhasedBuild(build.host_build.build_dir, {}), "ruby": build.phases,
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
        with mock.patch.dict(os.environ, {CACHE_ENV: cache}):  # the phases of the build in the scratch cache
            build = cruby.plan(options.ruby, options.profile, "auto", fetch_missing=False, quiet=True)
            assert build is not None
            print(f"cold build, doit -n {options.jobs} ruby_wasm, by phase:")
            total = print_phases(build)
        print(f"{'sum of phases':<24}{total:8.1f} s")
        print(f"{'wall (downloads too)':<24}{seconds:8.1f} s   phases overlapped {total / seconds:.2f}x")


def relink(gem: str, series: str) -> None:
    """The gem's link stage again: its output removed, then `doit link:<series>-<gem>`."""
    stage = f"link:{series}-{gem}"
    subprocess.run([sys.executable, "-m", "doit", "clean", stage], cwd=PROJECT_ROOT, check=True, capture_output=True)
    print(f"{'relink ' + gem:<24}{wall([sys.executable, '-m', 'doit', stage]):8.1f} s")


# The one-line change: a new global in array.c, so array.o, and only it, must compile again. Its
# value differs from run to run, so each run makes a new key, as a developer's next edit would.
CHANGED_FILE = "array.c"


def one_line_patch(build: cruby.RubyBuild) -> str:
    """A patch, applying after the series' own, that adds one line to the end of CHANGED_FILE."""
    old = (build.source_root / CHANGED_FILE).read_text().splitlines(keepends=True)
    line = f"const long rb_benchmark_one_line_change = {time.time_ns()};\n"
    diff = difflib.unified_diff(old, [*old, line], f"a/{CHANGED_FILE}", f"b/{CHANGED_FILE}")
    return f"Benchmark only: one added line in {CHANGED_FILE}.\n\n" + "".join(diff)


def keyed_dirs() -> list[Path]:
    """The native Rubies' and the Ruby builds' keyed directories in the cache."""
    return [*(cache_root() / "native").glob("native-ruby-*"), *build_root().glob("ruby-*")]


def patch_change(options: argparse.Namespace, build: cruby.RubyBuild) -> None:
    """`doit -n JOBS ruby_wasm` in a copy of the project with one more patch, sharing this cache and
    publishing to a scratch artifact root. The new key builds CRuby again (not the baseruby, which
    is built from the unpatched source) through the compiler cache; its build is removed after."""
    existing = set(keyed_dirs())
    counts = compiler_cache.counters()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as scratch:
        project = Path(scratch) / "project"
        shutil.copytree(PROJECT_ROOT, project, ignore=shutil.ignore_patterns(".git", ".venv", "cache", "__pycache__"))
        series_patches = project / PATCHES_DIR.relative_to(PROJECT_ROOT) / f"ruby-{options.ruby}"
        (series_patches / "9999-benchmark-one-line-change.patch").write_text(one_line_patch(build))
        env = {**os.environ, ARTIFACT_ROOT_ENV: str(Path(scratch) / "artifacts")}
        command = [sys.executable, "-m", "doit", "-n", str(options.jobs), "ruby_wasm", "--ruby", options.ruby,
                   "--profile", options.profile]
        started = time.monotonic()
        result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
        seconds = time.monotonic() - started
        if result.returncode != 0:
            sys.exit(f"The rebuild failed:\n{(result.stdout + result.stderr)[-3000:]}")
    built = sorted(set(keyed_dirs()) - existing)
    phases = {f"{directory.name.split('-')[0]} {phase}": value for directory in built
              for phase, value in PhasedBuild(directory, {}).seconds().items()}
    print(f"one-line patch change to {CHANGED_FILE}, doit -n {options.jobs} ruby_wasm, by phase:")
    for name, value in phases.items():
        print(f"{name:<24}{value:8.1f} s")
    print(f"{'wall':<24}{seconds:8.1f} s")
    counts = compiler_cache.counters() - counts
    print(f"compiles: {compiler_cache.hits(counts)} from the compiler cache, {counts['cache_miss']} compiled "
          f"(and {counts['autoconf_test'] + counts['called_for_link']} configure tests and links, which ccache does not cache)")
    for directory in built:
        shutil.rmtree(directory)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ruby", default="3.3")
    parser.add_argument("--profile", default=DEFAULT_PROFILE)
    parser.add_argument("--cold", action="store_true", help="also time a cold staged build in an empty cache")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="doit -n for --cold")
    parser.add_argument("--relink", metavar="GEM", help="also time the gem's relink")
    parser.add_argument("--patch-change", action="store_true",
                        help="also time the rebuild after a one-line change to one CRuby C file through a patch")
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
    if options.patch_change:
        patch_change(options, build)
    if options.cold:
        cold_build(options)


if __name__ == "__main__":
    main()
