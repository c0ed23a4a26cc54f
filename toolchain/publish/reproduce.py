"""The second, independent build of an artifact: the nightly's proof that a build is reproducible.

The product is built again by a process of its own under another build root and artifact root,
with the same clean environment but without the compiler cache (so the comparison also proves
that the cache changes no byte) and without the binary cache (which would hand it the first
build's bytes); the two are compared file by file, wasm files section by section. The verdict is
kept per build key beside the second builds: the reproduce:<artifact> stage makes it, the
nightly reads it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Protocol

from ..binary_cache.remote import BINARY_CACHE_ENV
from ..compile.compiler_cache import COMPILER_CACHE_ENV
from ..errors import UserError
from ..paths import ARTIFACT_ROOT_ENV, BUILD_ROOT_ENV, cache_dir, cache_root
from ..run.runner import Artifact, artifact_path
from ..steps import run_guarded, say, step, write_atomic
from .artifact import is_current
from .release import compare_trees


class Reproducible(Protocol):
    """A product as the second build sees it (toolchain/pipeline.py's Product)."""
    kind: str
    series: str
    target: str
    provider: str

    @property
    def name(self) -> str: ...
    def key(self) -> str | None: ...
    def build(self) -> Artifact: ...


def repro_roots() -> tuple[Path, Path]:
    """The build root and artifact root of the second build: another absolute path than the first's."""
    base = cache_root() / "repro"
    return base / "build", base / "artifacts"


def build_again(item: Reproducible) -> Path:
    """Build the product in a separate process under the second roots; return its artifact directory."""
    build_root, artifacts = repro_roots()
    env = {**os.environ, BUILD_ROOT_ENV: str(build_root), ARTIFACT_ROOT_ENV: str(artifacts), COMPILER_CACHE_ENV: "off"}
    env.pop(BINARY_CACHE_ENV, None)
    command = [sys.executable, "-m", "toolchain.pipeline", "build-one", item.kind, item.series, item.target,
               "--toolchain", item.provider]
    result = run_guarded(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = cache_dir("repro") / f"{item.name}.log"
    write_atomic(log, result.stdout.encode())
    if result.returncode != 0:
        raise UserError(f"The second build of {item.name} failed (exit {result.returncode}). Last lines:\n"
                        f"{result.stdout.strip()[-2000:]}\nFull log: {log}")
    return artifacts / item.name


def reproducibility(first: Artifact, second: Path) -> dict:
    """Compare the two builds' outputs: ruby.wasm and the tree under root/."""
    differences = compare_trees(first.directory, second)
    outputs = [d for d in differences if d["file"] == "ruby.wasm" or d["file"].startswith("root/")]
    return {"reproducible": not outputs, "second_build": str(second), "differences": outputs}


def verdict_path(name: str) -> Path:
    return cache_dir("repro") / f"{name}.json"


def kept_verdict(item: Reproducible) -> dict | None:
    """The comparison made for the artifact as it is published now, if one was kept."""
    path = verdict_path(item.name)
    key = item.key()
    if key is None or not path.exists() or not is_current(artifact_path(item.name), key):
        return None
    verdict = json.loads(path.read_text())
    return verdict if verdict.get("key") == key else None


def reproduce(item: Reproducible) -> dict:
    """Build the published artifact a second time and compare, once per build key."""
    kept = kept_verdict(item)
    if kept is not None:
        return kept
    first = item.build()  # current already when the artifact stage ran first
    started = time.monotonic()
    with step(f"second build of {item.name} (independent build root, no compiler cache)"):
        second = build_again(item)
    verdict = {"key": json.loads(first.manifest.read_text())["build_key"], **reproducibility(first, second),
               "seconds": round(time.monotonic() - started, 1)}
    say(f"    {item.name}: reproducible: {'yes' if verdict['reproducible'] else 'NO'}")
    write_atomic(verdict_path(item.name), (json.dumps(verdict, indent=2) + "\n").encode())
    return verdict
