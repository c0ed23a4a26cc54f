"""Runs the endurance programs (verification/endurance/, counts from the series' plan) on an
artifact and prints, per program: passed or how it failed, time and peak linear memory; then the
time of 100,000 Fiber switches measured inside the wasm (ten batches in one VM). With --official
it runs the same programs on the official @ruby/3.3-wasm-wasi `ruby+stdlib.wasm` (a reactor:
`ruby-init`, then `rb-eval-string-protect` with the program's source) and prints both side by side.

    python benchmarks/endurance.py [--artifact DIR] [--official [PATH]] [--count small|large] [--switches-only]

--official with no PATH fetches the pinned npm package (recipes/official-3.3.toml).

"passed" means the output equals the native twin's (built by `doit ruby_wasm`) and nothing trapped.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolchain.compile import cruby  # noqa: E402
from toolchain.run.official import RUBY_STDLIB_WASM, OfficialRuby, Outcome, official_wasm  # noqa: E402
from toolchain.run.runner import DEFAULT_PROFILE, Artifact, Mount, RubyWasm, artifact_dir  # noqa: E402
from toolchain.verify.known_failures import ENDURANCE_DIR, load_plan  # noqa: E402
from toolchain.verify.suites import EnduranceProgram  # noqa: E402

TIMEOUT = 900.0
OFFICIAL_PINNED = Path("pinned")  # --official given without a path
# Loops with `while`, not blocks: the official reactor raises when a fiber is resumed, or yields,
# inside a block (Kernel#loop, Integer#times), when driven through rb-eval-string-protect.
SWITCHES = ("f = Fiber.new { while true do Fiber.yield end }; f.resume; batch = 0; "
            "while batch < 10 do i = 0; t = Process.clock_gettime(Process::CLOCK_MONOTONIC); "
            "while i < 100_000 do f.resume; i += 1 end; "
            "puts ((Process.clock_gettime(Process::CLOCK_MONOTONIC) - t) * 1000).round; batch += 1 end")


def ours(runner: RubyWasm, program: EnduranceProgram, count: int) -> Outcome:
    started = time.monotonic()
    result = runner.capture([f"/endurance/{program.path.name}", str(count)],
                            mounts=[Mount(ENDURANCE_DIR, "/endurance", False)], timeout=TIMEOUT)
    failure = f"trap: {result.trap.splitlines()[0]}" if result.trap else (
        f"exit {result.exit_code}: {result.stderr.strip()[-200:]}" if result.exit_code else None)
    return Outcome(str(result.stdout), failure, time.monotonic() - started, result.memory_bytes)


def official_source(program: EnduranceProgram, count: int) -> str:
    return f"ARGV.replace([{str(count)!r}])\n{program.path.read_text()}"


def verdict(outcome: Outcome, expected: str) -> str:
    if outcome.failure:
        return outcome.failure[:60]
    return "passed" if outcome.stdout == expected else "WRONG OUTPUT"


def switch_ms(run: Callable[[], Outcome]) -> str:
    """Ten batches of 100,000 switches in one VM: the best batch is the least disturbed by
    whatever else the machine runs, the median the typical one."""
    outcome = run()
    if outcome.failure:
        return outcome.failure
    batches = [int(line) for line in outcome.stdout.split()]
    return f"best {min(batches)} ms, median {statistics.median(batches):.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ruby", default="3.3")
    parser.add_argument("--artifact", type=Path, help=f"artifact directory (default: ruby-3.3-{DEFAULT_PROFILE})")
    parser.add_argument("--official", nargs="?", type=Path, const=OFFICIAL_PINNED, default=None,
                        help="the official ruby+stdlib.wasm to compare with (default: the pinned npm package's)")
    parser.add_argument("--count", choices=("small", "large"), default="large")
    parser.add_argument("--switches-only", action="store_true", help="only the Fiber switch timing")
    options = parser.parse_args()
    build = cruby.plan(options.ruby, DEFAULT_PROFILE, "auto", fetch_missing=False, quiet=True)
    if build is None or not build.twin.exists():
        sys.exit(f"No native twin yet: run `doit twin:{options.ruby}` first.")
    endurance = load_plan(f"ruby-{options.ruby}").endurance
    assert endurance is not None
    runner = RubyWasm(Artifact(options.artifact or artifact_dir(options.ruby, DEFAULT_PROFILE)))
    official_path = official_wasm("3.3", RUBY_STDLIB_WASM) if options.official == OFFICIAL_PINNED else options.official
    official = OfficialRuby(official_path) if official_path else None
    print(f"artifact: {runner.artifact.directory}" + (f"\nofficial: {official_path}" if official else ""))
    header = f"{'program':<22}{'count':>10}  {'ours':<28}{'time s':>8}{'memory MiB':>12}"
    if official:
        header += f"  {'official':<28}{'time s':>8}{'memory MiB':>12}"
    print(header)
    for program in () if options.switches_only else endurance.programs:
        count = getattr(program, options.count)
        expected = subprocess.run([str(build.twin), str(program.path), str(count)],
                                  capture_output=True, text=True).stdout
        row = [ours(runner, program, count)] + ([official.run(official_source(program, count))] if official else [])
        print(f"{program.path.stem:<22}{count:>10}" + "".join(
            f"  {verdict(o, expected):<28}{o.seconds:8.1f}{o.memory_bytes / 2**20:12.1f}" for o in row), flush=True)
    line = f"100,000 Fiber switches inside the wasm: ours {switch_ms(lambda: ours_code(runner, SWITCHES))}"
    if official:
        line += f", official {switch_ms(lambda: official.run(SWITCHES, timeout=120))}"
    print(line)


def ours_code(runner: RubyWasm, code: str) -> Outcome:
    result = runner.capture(["-e", code], timeout=120)
    return Outcome(str(result.stdout), f"trap: {result.trap}" if result.trap else None, 0.0, result.memory_bytes)


if __name__ == "__main__":
    main()
