"""Prints the wall time of CRuby's full bootstraptest against a built artifact.

    python benchmarks/bootstraptest.py [--ruby 3.3] [--profile full] [--workers N]

Needs a built artifact (doit ruby_wasm). Uses the same worker pool as `doit verify`.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolchain.compile import cruby  # noqa: E402
from toolchain.run.runner import DEFAULT_PROFILE, Artifact, artifact_dir  # noqa: E402
from toolchain.run.workers import worker_pool  # noqa: E402
from toolchain.verify import suites  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ruby", default="3.3")
    parser.add_argument("--profile", default=DEFAULT_PROFILE)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    options = parser.parse_args()
    build = cruby.plan(options.ruby, options.profile, "auto", fetch_missing=False, quiet=True)
    if build is None:
        sys.exit("No cached source: run `doit ruby_wasm` first.")
    source = build.source_root
    with tempfile.TemporaryDirectory() as work, \
            worker_pool(Artifact(artifact_dir(options.ruby, options.profile)), options.workers) as socket:
        context = suites.SuiteContext(socket, source, build.twin, Path(work), options.workers)
        started = time.monotonic()
        results = suites.run_bootstraptest(context)
        elapsed = time.monotonic() - started
    failed = sum(r.failed for r in results)
    print(f"bootstraptest  {len(results)} tests, {failed} failed, {elapsed:.1f} s wall "
          f"with {options.workers} workers ({elapsed / len(results) * 1000:.0f} ms/test)")


if __name__ == "__main__":
    main()
