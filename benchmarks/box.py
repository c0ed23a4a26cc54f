"""Prints, side by side in one run, a box against the unpacked artifact it was built from and the
official @ruby/3.3-wasm-wasi `ruby+stdlib.wasm`:

- sizes: the box, the module before pre-initialization (what the snapshot adds), the official one;
- inside the wasm: the time from instantiating the compiled, cached module to the end of
  `-e 'puts 1'` (the official reactor: `_initialize`, `ruby-init`, then `puts 1` evaluated),
  the median of --runs runs in this one process, after one that warms the caches
  (toolchain/publish/measure.py, what the nightly records);
- the whole command, each a fresh process (median of --runs, after one warm-up): `ruby-wasm BOX.wasm -e 'puts 1'`,
  `ruby-wasm --artifact DIR -e 'puts 1'`, Node's `node_runner.mjs BOX.wasm -e 'puts 1'`, and
  `python -c 'import wasmtime'`, which every Python runner of a wasm pays first.

    python benchmarks/box.py [--box DIR] [--artifact DIR] [--runs 10]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from toolchain.compile.box import active_data  # noqa: E402
from toolchain.run.official import RUBY_STDLIB_WASM, OfficialRuby, official_wasm, package_name  # noqa: E402
from toolchain.paths import PROJECT_ROOT, build_root  # noqa: E402
from toolchain.publish.measure import START_PROGRAM, median_ms, start_official, start_ours  # noqa: E402
from toolchain.run.runner import DEFAULT_PROFILE, Artifact, RubyWasm, artifact_dir, artifact_path  # noqa: E402

PROGRAM = ["-e", START_PROGRAM]
RUNNER = PROJECT_ROOT / ".venv" / "bin" / "ruby-wasm"
NODE_RUNNER = PROJECT_ROOT / "toolchain" / "run" / "node_runner.mjs"


def wall(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)}: exit {result.returncode}: {result.stderr.strip()[-500:]}")


def linked_size(box: Artifact) -> int | None:
    """The box's module before Wizer ran, if its build directory is on this machine."""
    manifest = json.loads(box.manifest.read_text())
    linked = build_root() / f"box-{manifest['name']}-{manifest['build_key'][:16]}" / "linked.wasm"
    return linked.stat().st_size if linked.exists() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--box", type=Path, default=artifact_path(f"ruby-3.3-{DEFAULT_PROFILE}-box"))
    parser.add_argument("--artifact", type=Path, default=artifact_dir("3.3", DEFAULT_PROFILE))
    parser.add_argument("--runs", type=int, default=10)
    options = parser.parse_args()
    box, unpacked = Artifact(options.box), Artifact(options.artifact)
    official_path = official_wasm("3.3", RUBY_STDLIB_WASM)
    box_runner, unpacked_runner, official = RubyWasm(box), RubyWasm(unpacked), OfficialRuby(official_path)
    linked = linked_size(box)
    print(f"box {box.directory.name}: {box.wasm.stat().st_size:,} bytes"
          + (f" ({box.wasm.stat().st_size - linked:+,} bytes of snapshot over the {linked:,}-byte module before "
             "pre-initialization)" if linked else ""))
    data, span = active_data(box.wasm)
    print(f"  its memory image: {data:,} bytes of data spanning {span:,} ({'copy-on-write' if span < 2 * data else 'copied'})")
    print(f"official {package_name('3.3')} {RUBY_STDLIB_WASM}: {official_path.stat().st_size:,} bytes")
    print(f"\n-e 'puts 1', median of {options.runs} runs (ms)")
    print(f"{'':38} {'box':>10} {'unpacked':>10} {'official':>10}")
    print(f"{'inside the wasm (instantiate + run)':38} {median_ms(lambda: start_ours(box_runner), options.runs):10.1f} "
          f"{median_ms(lambda: start_ours(unpacked_runner), options.runs):10.1f} "
          f"{median_ms(lambda: start_official(official), options.runs):10.1f}")
    floor = median_ms(lambda: wall([sys.executable, "-c", "import wasmtime"]), options.runs)
    print(f"{'ruby-wasm, the whole command':38} "
          f"{median_ms(lambda: wall([str(RUNNER), str(box.wasm), *PROGRAM]), options.runs):10.1f} "
          f"{median_ms(lambda: wall([str(RUNNER), '--artifact', str(unpacked.directory), *PROGRAM]), options.runs):10.1f} "
          f"{'-':>10}")
    print(f"{'node node_runner.mjs, the whole command':38} "
          f"{median_ms(lambda: wall(['node', str(NODE_RUNNER), str(box.wasm), *PROGRAM]), options.runs):10.1f} "
          f"{'-':>10} {'-':>10}")
    print(f"{'python -c import wasmtime (the floor)':38} {floor:10.1f}")


if __name__ == "__main__":
    main()
