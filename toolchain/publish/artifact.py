"""Artifacts: a stable directory per product holding ruby.wasm, the tree it expects at /, a
manifest of every input and output, and the smoke report.

An artifact is assembled in a staging directory, smoke-checked there, and only then swapped
into place, so the published directory is always a verified one. One process assembles an
artifact at a time; another that waited for it uses what it published.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import binary_cache
from ..digests import sha256_file
from ..locks import held, replace_dir
from ..run.runner import Artifact, artifact_path
from ..steps import say, step, write_atomic
from ..verify.verification import smoke
from .integrity import SUMS, altered_files, expected_digests


@dataclass(frozen=True)
class ArtifactSpec:
    """Everything one published artifact is made of."""
    name: str  # its directory under artifacts/
    key: str  # the build key: the artifact is current when its manifest records this key
    inputs: dict  # recorded in the manifest
    wasm: Path  # the linked, asyncified ruby.wasm
    trees: tuple[tuple[Path, str], ...]  # (host directory, its path under root/), copied in order; none for a box
    features: tuple[str, ...]  # prelinked features, each required by the smoke checks
    smoke_scripts: tuple[Path, ...] = ()  # further checks (a gem's), run after the base ones

    @property
    def directory(self) -> Path:
        return artifact_path(self.name)


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


def write_manifest(spec: ArtifactSpec, staging: Artifact) -> None:
    root_digests = tree_digests(staging.root) if staging.root.is_dir() else {}
    manifest = {
        "name": spec.name,
        "build_key": spec.key,
        "inputs": spec.inputs,
        "features": list(spec.features),
        "outputs": {
            "ruby.wasm": {"sha256": sha256_file(staging.wasm), "size": staging.wasm.stat().st_size},
            "root": {"files": len(root_digests), "sha256": tree_sha256(root_digests)},
        },
    }
    sums = {"ruby.wasm": manifest["outputs"]["ruby.wasm"]["sha256"],
            **{f"root/{k}": v for k, v in root_digests.items() if not v.startswith("symlink:")}}
    write_atomic(staging.directory / SUMS,
                 "".join(f"{v}  {k}\n" for k, v in sorted(sums.items())).encode())
    write_atomic(staging.manifest, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())


def assemble(spec: ArtifactSpec) -> Artifact:
    """Copy ruby.wasm and its trees into a staging artifact, smoke-check it, publish it."""
    final = spec.directory
    with held(final, f"another assembly of {final.name}"):
        if not is_current(final, spec.key):  # else the process this one waited for published it
            _stage_and_publish(spec, final)
    return Artifact(final)


def _stage_and_publish(spec: ArtifactSpec, final: Path) -> None:
    staging = Artifact(final.with_name(f".{final.name}.staging"))
    shutil.rmtree(staging.directory, ignore_errors=True)
    with step(f"assemble {final.name}"):
        staging.directory.mkdir(parents=True)
        shutil.copy2(spec.wasm, staging.wasm)
        for tree, destination in spec.trees:
            shutil.copytree(tree, staging.root / destination, symlinks=True, dirs_exist_ok=True)
    smoke(staging, list(spec.features), list(spec.smoke_scripts), staging.directory / "smoke.json")
    write_manifest(spec, staging)
    replace_dir(staging.directory, final)
    altered_files(final)  # records the stamp that makes the next checks cheap


PUBLISHED = ("ruby.wasm", "root", "manifest.json", SUMS, "smoke.json")


def cache_entry(name: str, key: str) -> binary_cache.Entry:
    return binary_cache.Entry(f"artifact-{name}", key, artifact_path(name), PUBLISHED, whole=True)


def pull_published(name: str, key: str) -> bool:
    """Publish the artifact as the binary cache holds it, if it does: its files checked against
    the signed index, then against its own manifest and SHA256SUMS, as every use checks them."""
    entry = cache_entry(name, key)
    if not binary_cache.pull(entry):
        return False
    if is_current(entry.directory, key):
        return True
    say(f"    binary cache: {entry.shown} not used: its manifest or SHA256SUMS do not match its files; building it here")
    shutil.rmtree(entry.directory, ignore_errors=True)
    binary_cache.pulled_marker(entry).unlink(missing_ok=True)
    return False


def is_current(directory: Path, key: str) -> bool:
    """True when the artifact in directory was made from exactly the inputs with this key and
    every file still matches its SHA256SUMS (an edited file gets the artifact published again)."""
    artifact = Artifact(directory)
    if not artifact.manifest.exists() or not artifact.wasm.exists():
        return False
    manifest = json.loads(artifact.manifest.read_text())
    return (manifest.get("build_key") == key
            and manifest["outputs"]["ruby.wasm"]["sha256"] == expected_digests(directory).get("ruby.wasm")
            and not altered_files(directory))
