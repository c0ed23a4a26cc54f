"""Prints ruby.wasm's size against the official npm build, and what each wasm-opt step would save.

    python benchmarks/size.py [--ruby 3.3] [--profile full]

The reference is `@ruby/3.3-wasm-wasi@2.10.1`'s dist/ruby.wasm (same extension set, stdlib
not packed), fetched with `npm pack` through the machine's own npm configuration and
verified against the sha256 pinned here. Needs a built artifact (doit ruby_wasm).
"""
from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolchain import providers  # noqa: E402
from toolchain.fetch import sha256_file  # noqa: E402
from toolchain.paths import cache_dir  # noqa: E402
from toolchain.run import artifact_dir  # noqa: E402
from toolchain.steps import write_atomic  # noqa: E402

REFERENCE_PACKAGE = "@ruby/3.3-wasm-wasi@2.10.1"
REFERENCE_TARBALL = "ruby-3.3-wasm-wasi-2.10.1.tgz"
REFERENCE_SHA256 = "573c0d66d4dc755200ff0fe054aa31f6c4716d041f925e88b11f1e7b6f5443d1"
GOAL_RATIO = 0.8
# wasm-opt runs applied to our ruby.wasm, each on its own, to show what it would save.
VARIANTS = {
    "strip debug and producers": ["--strip-debug", "--strip-producers"],
    "-Oz": ["-Oz"],
    "-O3": ["-O3"],
    "-Oz, stripped": ["-Oz", "--strip-debug", "--strip-producers"],
}


def reference_wasm() -> Path:
    """The npm package's ruby.wasm, extracted from the verified tarball once."""
    directory = cache_dir("benchmarks")
    wasm = directory / f"{REFERENCE_TARBALL}.ruby.wasm"
    if wasm.exists():
        return wasm
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        subprocess.run(["npm", "pack", REFERENCE_PACKAGE, "--silent", "--pack-destination", scratch],
                       check=True, capture_output=True)
        tarball = Path(scratch) / REFERENCE_TARBALL
        actual = sha256_file(tarball)
        if actual != REFERENCE_SHA256:
            sys.exit(f"{REFERENCE_PACKAGE}: sha256 {actual}, expected {REFERENCE_SHA256}; refusing it.")
        with tarfile.open(tarball) as archive:
            member = archive.extractfile("package/dist/ruby.wasm")
            assert member is not None
            write_atomic(wasm, member.read())
    return wasm


def sizes(path: Path) -> str:
    data = path.read_bytes()
    return f"{len(data):>12,} bytes {len(gzip.compress(data, 6)):>12,} gzipped"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ruby", default="3.3")
    parser.add_argument("--profile", default="full")
    options = parser.parse_args()
    ours = artifact_dir(options.ruby, options.profile) / "ruby.wasm"
    if not ours.exists():
        sys.exit(f"No artifact at {ours}: run `doit ruby_wasm --profile {options.profile}` first.")
    reference = reference_wasm()
    ratio = ours.stat().st_size / reference.stat().st_size
    print(f"{REFERENCE_PACKAGE:<32}{sizes(reference)}")
    print(f"{'ours (' + options.profile + ')':<32}{sizes(ours)}")
    print(f"{'ratio':<32}{ratio:>12.3f} (goal <= {GOAL_RATIO})")
    wasm_opt = providers.resolve("auto", quiet=True).wasm_opt
    with tempfile.TemporaryDirectory() as scratch:
        for name, flags in VARIANTS.items():
            out = Path(scratch) / "out.wasm"
            subprocess.run([str(wasm_opt), *flags, str(ours), "-o", str(out)], check=True)
            saved = ours.stat().st_size - out.stat().st_size
            print(f"{'  wasm-opt ' + name:<32}{sizes(out)}  saves {saved:,} ({saved / ours.stat().st_size:.1%})")


if __name__ == "__main__":
    main()
