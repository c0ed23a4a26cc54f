"""The official npm build this project measures itself against: `@ruby/3.3-wasm-wasi@2.10.1`,
fetched with `npm pack` through the machine's own npm configuration, verified against the sha256
pinned here, and its wasm files extracted into the cache once."""
from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolchain.digests import sha256_file  # noqa: E402
from toolchain.paths import cache_dir  # noqa: E402
from toolchain.steps import write_atomic  # noqa: E402

PACKAGE = "@ruby/3.3-wasm-wasi@2.10.1"
TARBALL = "ruby-3.3-wasm-wasi-2.10.1.tgz"
SHA256 = "573c0d66d4dc755200ff0fe054aa31f6c4716d041f925e88b11f1e7b6f5443d1"
RUBY_WASM = "ruby.wasm"  # the interpreter alone
RUBY_STDLIB_WASM = "ruby+stdlib.wasm"  # the reactor with the standard library packed in


def official_wasm(name: str) -> Path:
    """package/dist/<name> of the verified package."""
    directory = cache_dir("benchmarks")
    wasm = directory / f"{TARBALL}.{name}"
    if wasm.exists():
        return wasm
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        subprocess.run(["npm", "pack", PACKAGE, "--silent", "--pack-destination", scratch],
                       check=True, capture_output=True)
        tarball = Path(scratch) / TARBALL
        actual = sha256_file(tarball)
        if actual != SHA256:
            sys.exit(f"{PACKAGE}: sha256 {actual}, expected {SHA256}; refusing it.")
        with tarfile.open(tarball) as archive:
            member = archive.extractfile(f"package/dist/{name}")
            assert member is not None
            write_atomic(wasm, member.read())
    return wasm
