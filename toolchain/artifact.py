"""Artifacts: a stable directory per (Ruby series, profile) holding ruby.wasm, the stdlib tree
it expects at /, a manifest of every input and output, and the smoke report.

An artifact is assembled in a staging directory, smoke-checked there, and only then
swapped into place, so the published directory is always a verified one.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

from .cruby import PREFIX, RubyBuild
from .fetch import sha256_file
from .run import Artifact, artifact_dir
from .steps import replace_dir, step, write_atomic
from .verify import smoke

EXTINIT_RE = re.compile(r'init\(Init_\w+, "([^"]+)"\);')


def linked_features(build: RubyBuild) -> list[str]:
    """The features CRuby registered for static init, read from the generated ext/extinit.c."""
    extinit = build.build_dir / "obj" / "ext" / "extinit.c"
    return EXTINIT_RE.findall(extinit.read_text()) if extinit.exists() else []


def tree_digests(root: Path) -> dict[str, str]:
    """sha256 of every regular file under root, by relative path (links recorded by target)."""
    digests = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_symlink():
            digests[relative] = "symlink:" + str(path.readlink())
        elif path.is_file():
            digests[relative] = sha256_file(path)
    return digests


def tree_sha256(digests: dict[str, str]) -> str:
    return hashlib.sha256("".join(f"{k}\0{v}\n" for k, v in sorted(digests.items())).encode()).hexdigest()


def write_manifest(build: RubyBuild, staging: Artifact, features: list[str]) -> None:
    root_digests = tree_digests(staging.root)
    manifest = {
        "name": build.name,
        "build_key": build.key,
        "inputs": build.inputs(),
        "features": features,
        "outputs": {
            "ruby.wasm": {"sha256": sha256_file(staging.wasm), "size": staging.wasm.stat().st_size},
            "root": {"files": len(root_digests), "sha256": tree_sha256(root_digests)},
        },
    }
    sums = {"ruby.wasm": manifest["outputs"]["ruby.wasm"]["sha256"],
            **{f"root/{k}": v for k, v in root_digests.items() if not v.startswith("symlink:")}}
    write_atomic(staging.directory / "SHA256SUMS",
                 "".join(f"{v}  {k}\n" for k, v in sorted(sums.items())).encode())
    write_atomic(staging.manifest, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())


def assemble(build: RubyBuild, install: Path) -> Artifact:
    """Copy the installed ruby and stdlib into a staging artifact, smoke-check it, publish it."""
    final = artifact_dir(build.recipe.series, build.profile)
    staging = Artifact(final.with_name(f".{final.name}.staging"))
    shutil.rmtree(staging.directory, ignore_errors=True)
    prefix = install / PREFIX.lstrip("/")
    with step(f"assemble {final.name}"):
        staging.root.mkdir(parents=True)
        shutil.copy2(prefix / "bin" / "ruby", staging.wasm)
        shutil.copytree(prefix / "lib" / "ruby", staging.root / PREFIX.lstrip("/") / "lib" / "ruby",
                        symlinks=True)
    features = linked_features(build)
    smoke(staging, features, staging.directory / "smoke.json")
    write_manifest(build, staging, features)
    replace_dir(staging.directory, final)
    return Artifact(final)


def is_current(build: RubyBuild | None) -> bool:
    """True when the published artifact was made from exactly these inputs and is intact."""
    if build is None:
        return False
    artifact = Artifact(artifact_dir(build.recipe.series, build.profile))
    if not artifact.manifest.exists() or not artifact.wasm.exists():
        return False
    manifest = json.loads(artifact.manifest.read_text())
    return (manifest.get("build_key") == build.key
            and manifest["outputs"]["ruby.wasm"]["sha256"] == sha256_file(artifact.wasm))
