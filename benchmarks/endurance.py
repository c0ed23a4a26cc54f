"""Runs the endurance programs (verification/endurance/, counts from the series' plan) on an
artifact and prints, per program: passed or how it failed, time and peak linear memory; then the
time of 100,000 Fiber switches measured inside the wasm (ten batches in one VM). With --official
it runs the same programs on the official @ruby/3.3-wasm-wasi `ruby+stdlib.wasm` (a reactor:
`ruby-init`, then `rb-eval-string-protect` with the program's source) and prints both side by side.

    python benchmarks/endurance.py [--artifact DIR] [--official [PATH]] [--count small|large] [--switches-only]

--official with no PATH fetches the pinned npm package (benchmarks/official.py).

"passed" means the output equals the native twin's (built by `doit ruby_wasm`) and nothing trapped.
"""
from __future__ import annotations

import argparse
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import wasmtime

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from official import RUBY_STDLIB_WASM, official_wasm  # noqa: E402

from toolchain.compile import cruby  # noqa: E402
from toolchain.run.runner import DEFAULT_PROFILE, Artifact, Mount, RubyWasm, artifact_dir, compiled_module, make_engine  # noqa: E402
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


@dataclass
class Outcome:
    stdout: str
    failure: str | None  # a trap, a Ruby exception, a time-out
    seconds: float
    memory_bytes: int


class OfficialRuby:
    """The official reactor build: instantiated afresh per program, its JavaScript imports refused."""

    def __init__(self, wasm: Path) -> None:
        self.engine = make_engine()  # the runner's settings: epoch time-outs, a 2 MiB wasm stack
        self.module = compiled_module(self.engine, wasm)

    def _linker(self, handles: dict[int, int]) -> wasmtime.Linker:
        linker = wasmtime.Linker(self.engine)
        linker.define_wasi()
        for imported in self.module.imports:
            if imported.module == "wasi_snapshot_preview1":
                continue
            linker.define_func(imported.module, imported.name, imported.type,
                               self._host_function(imported.name, handles))
        return linker

    @staticmethod
    def _host_function(name: str, handles: dict[int, int]) -> Callable:
        if name.startswith("resource_new_"):
            def new(value: int) -> int:
                handles[len(handles) + 1] = value
                return len(handles)
            return new
        if name.startswith("resource_get_"):
            return lambda handle: handles[handle]
        if name.startswith("resource_drop_"):
            return lambda handle: None

        def refused(*args):
            raise RuntimeError(f"JavaScript import {name} is not available here")
        return refused

    def run(self, source: str, timeout: float = TIMEOUT) -> Outcome:
        store = wasmtime.Store(self.engine)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "stdout"
            wasi = wasmtime.WasiConfig()
            wasi.stdout_file = str(out)
            wasi.stderr_file = str(Path(tmp) / "stderr")
            store.set_wasi(wasi)
            instance = self._linker({}).instantiate(store, self.module)
            # wit-bindgen's export names carry their signature: "ruby-init: func(args: ...) -> ()"
            exports = {name.split(":")[0]: export for name, export in instance.exports(store).items()}
            memory = exports["memory"]
            started = time.monotonic()
            # a reactor never exits, so nothing flushes $stdout unless the program does
            failure = _with_deadline(self.engine, store, timeout,
                                     lambda: self._eval(store, exports, memory, f"{source}\n$stdout.flush"))
            seconds = time.monotonic() - started
            return Outcome(out.read_text(errors="replace"), failure, seconds, memory.data_len(store))

    def _eval(self, store, exports, memory, source: str) -> str | None:
        exports["_initialize"](store)
        args = [self._string(store, exports, memory, arg) for arg in ("ruby.wasm", "-EUTF-8", "-e_=0")]
        table = exports["cabi_realloc"](store, 0, 0, 4, 8 * len(args))
        memory.write(store, b"".join(struct.pack("<II", ptr, size) for ptr, size in args), table)
        exports["ruby-init"](store, table, len(args))
        ret = exports["rb-eval-string-protect"](store, *self._string(store, exports, memory, source))
        _, state = struct.unpack("<Ii", memory.read(store, ret, ret + 8))
        return f"Ruby exception (tag state {state})" if state else None

    @staticmethod
    def _string(store, exports, memory, text: str) -> tuple[int, int]:
        data = text.encode()
        pointer = exports["cabi_realloc"](store, 0, 0, 1, len(data))
        memory.write(store, data, pointer)
        return pointer, len(data)


def _with_deadline(engine: wasmtime.Engine, store: wasmtime.Store, timeout: float,
                   call: Callable[[], str | None]) -> str | None:
    """Run call with the runner's time-out; a trap or time-out is returned as the failure."""
    store.set_epoch_deadline(1)
    finished = threading.Event()
    threading.Thread(target=lambda: finished.wait(timeout) or engine.increment_epoch(), daemon=True).start()
    try:
        return call()
    except wasmtime.Trap as trap:
        return f"trap: {trap.message.splitlines()[0]}"
    finally:
        finished.set()


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
    official_path = official_wasm(RUBY_STDLIB_WASM) if options.official == OFFICIAL_PINNED else options.official
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
