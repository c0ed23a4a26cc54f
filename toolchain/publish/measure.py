"""What the nightly measures of each artifact beside its tests: the time to start Ruby and run
`-e 'puts 1'` inside the wasm, and the same figures for the official build pinned for the series.

Each figure is the median of START_RUNS runs in this process, after one run that compiles the
module (wasmtime's cache) and warms the page cache: from instantiation to the program's end, as
benchmarks/box.py measures it (its other columns, the whole command's time, need an idle machine
the nightly does not promise)."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from ..errors import UserError
from ..run import official
from ..run.runner import Artifact, RubyWasm

START_RUNS = 5
START_PROGRAM = "puts 1"


def median_ms(run_once: Callable[[], None], runs: int = START_RUNS) -> float:
    """The median time of `runs` calls of run_once, in ms, after one call that warms the caches."""
    run_once()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run_once()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 1)


def start_ours(runner: RubyWasm) -> None:
    """One run of START_PROGRAM on one of our artifacts, checked."""
    result = runner.capture(["-e", START_PROGRAM])
    if result.exit_code != 0 or result.stdout != "1\n":
        raise UserError(f"{runner.artifact.directory}: -e '{START_PROGRAM}' gave exit {result.exit_code} and "
                        f"{result.stdout!r} (stderr: {result.stderr.strip()[-300:]}); the artifact does not start.")


def start_official(reactor: official.OfficialRuby) -> None:
    """One run of START_PROGRAM on the official reactor, checked."""
    outcome = reactor.run(START_PROGRAM)
    if outcome.failure or outcome.stdout != "1\n":
        raise UserError(f"The official {official.RUBY_STDLIB_WASM} did not run '{START_PROGRAM}': "
                        f"{outcome.failure or repr(outcome.stdout)}")


def start_ms(artifact: Artifact) -> float:
    runner = RubyWasm(artifact)
    return median_ms(lambda: start_ours(runner))


def official_figures(series: str) -> dict | None:
    """The official build's sizes and start time, or None when none is pinned for the series."""
    if official.comparison(series) is None:
        return None
    wasm = {name: official.official_wasm(series, name) for name in (official.RUBY_WASM, official.RUBY_STDLIB_WASM)}
    reactor = official.OfficialRuby(wasm[official.RUBY_STDLIB_WASM])
    return {"package": official.package_name(series),
            "bytes": {name: path.stat().st_size for name, path in wasm.items()},
            "start_ms": median_ms(lambda: start_official(reactor))}
