"""Source trees: unpack a verified tarball and apply the recipe's patches, in order."""
from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..paths import PATCHES_DIR
from .extract import extract_tar, is_package, single_top_dir
from .recipe import Recipe, Source


@dataclass(frozen=True)
class Patch:
    path: Path

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def patch_inputs(patches: Sequence[Patch]) -> list[dict[str, str]]:
    """How patches enter a build's key and manifest: each one's name and sha256, in order."""
    return [{"name": patch.path.name, "sha256": patch.sha256} for patch in patches]


def source_inputs(recipe: Recipe, source: Source, patches: Sequence[Patch]) -> dict:
    """How a recipe's verified source and its patches enter a build's key and manifest."""
    return {"version": recipe.version, "file": source.filename, "sha256": source.sha256,
            "patches": patch_inputs(patches)}


def patches_for(component: str) -> list[Patch]:
    """patches/<component>/*.patch, applied in file-name order."""
    return [Patch(p) for p in sorted((PATCHES_DIR / component).glob("*.patch"))]


def apply_patch(patch: Patch, tree: Path) -> None:
    result = subprocess.run(
        ["patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-i", str(patch.path)],
        cwd=tree, capture_output=True, text=True,
    )
    if result.returncode != 0:
        failed = [line for line in result.stdout.splitlines() if "FAILED" in line or "can't find" in line]
        raise UserError(
            f"Patch {patch.path} does not apply to {tree.name}: "
            f"{'; '.join(failed) or result.stdout.strip()[-500:] or result.stderr.strip()}. "
            "Refresh the patch against this source version, or remove it."
        )


def prepare_tree(tarball: Path, patches: list[Patch], destination: Path, subdir: str = "") -> Path:
    """Unpack tarball into destination, apply patches, and return the source root: `subdir` of the
    unpacked files when given, else a package's payload or a tarball's single top directory."""
    extract_tar(tarball, destination)
    if subdir or is_package(tarball):
        root = destination / subdir
    else:
        root = single_top_dir(destination)
    if not root.is_dir():
        raise UserError(f"{tarball.name} has no directory '{subdir}'. Fix the source's 'root' field "
                        "in the recipe to the directory that holds the component.")
    for patch in patches:
        apply_patch(patch, root)
    return root
