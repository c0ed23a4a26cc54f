"""Cache garbage collection (doit gc): what the current recipes, profiles, lock and the last
nightly releases need stays; the rest of the keyed builds, native twins, compiled modules,
downloads and partial downloads goes.

"Needed" is computed, not guessed. Every product of every Ruby series is planned from the cache
alone (no download, no build) with each toolchain already prepared on this machine, and its
keyed builds are named; a download is needed when the lock or a kept release names its sha256;
a compiled module when a published artifact's ruby.wasm has its digest. Artifacts, releases,
verification reports and benchmarks are the user's results and are never removed.

A directory goes by being renamed aside first, so an interrupted gc never leaves half a build
that looks finished (the next gc removes what was set aside), and not at all while a build
holds its lock.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import pipeline
from .inputs import lock, providers
from .locks import SET_ASIDE_OLD, held_if_free, remove_unless_in_use
from .paths import artifact_root, build_root, cache_root
from .publish.nightly import releases_dir
from .publish.release import RECORD
from .publish.reproduce import repro_roots
from .run.runner import compiled_path
from .steps import say

KEEP_RELEASES = 3
SET_ASIDE = ".gc-"  # prefix of an entry being removed


@dataclass(frozen=True)
class Garbage:
    path: Path
    size: int

    def shown(self) -> str:
        return f"{self.path.relative_to(cache_root())}  {human(self.size)}"


def human(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    raise AssertionError


# --- what is needed ------------------------------------------------------------------------------

def prepared_providers() -> list[str]:
    """The toolchains this machine has ready: planning with them installs and downloads nothing."""
    ready = [name for name, present in (("wasi-sdk", providers.cached_wasi_sdk_present),
                                        ("debian", providers.cached_debian_present)) if present()]
    return ready + (["path"] if os.environ.get("WASI_SDK_PATH") else [])


def needed_build_names() -> set[str]:
    """The build directories of every product of every Ruby series, for each prepared toolchain."""
    return {build.build_dir.name for provider in prepared_providers()
            for build in pipeline.planned_builds(list(pipeline.all_products(provider)))}


def kept_releases(keep: int) -> list[Path]:
    return sorted(releases_dir().glob("nightly-*"))[-keep:] if keep > 0 else []


def sha256s_in(value: object) -> Iterator[str]:
    """Every "sha256" value in a JSON document (the lock, a release record)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "sha256" and isinstance(item, str):
                yield item
            else:
                yield from sha256s_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from sha256s_in(item)


def needed_downloads(keep_releases: int) -> set[str]:
    records = [json.loads((release / RECORD).read_text()) for release in kept_releases(keep_releases)
               if (release / RECORD).exists()]
    return {*sha256s_in(lock.read_lock()), *(digest for record in records for digest in sha256s_in(record["inputs"]))}


def needed_modules() -> set[str]:
    """Compiled-module names for the ruby.wasm of every published artifact, first and second build."""
    digests = set()
    for root in (artifact_root(), repro_roots()[1]):
        for manifest in root.glob("*/manifest.json"):
            digests.add(json.loads(manifest.read_text())["outputs"]["ruby.wasm"]["sha256"])
    return {compiled_path(digest).name for digest in digests}


# --- what is not ---------------------------------------------------------------------------------

def size_of(path: Path) -> int:
    if not path.is_dir() or path.is_symlink():
        return path.lstat().st_size
    return sum(entry.lstat().st_size for entry in path.rglob("*"))


def unneeded(directory: Path, needed: Callable[[str], bool]) -> Iterator[Garbage]:
    """Entries of directory that `needed` rejects, with what an earlier gc set aside; never the
    lock files, which go with their directory."""
    if not directory.is_dir():
        return
    for entry in sorted(directory.iterdir()):
        aside = entry.name.startswith(SET_ASIDE)
        if aside or not entry.name.startswith(".") and not needed(entry.name):
            yield Garbage(entry, size_of(entry))


def replaced_artifacts() -> Iterator[Garbage]:
    """Published directories that a newer publish replaced while a run still read them."""
    for root in (artifact_root(), repro_roots()[1]):
        for old in sorted(root.glob(f".*{SET_ASIDE_OLD}*")) if root.is_dir() else ():
            yield Garbage(old, size_of(old))


def garbage(keep_releases: int) -> list[Garbage]:
    builds = needed_build_names()
    downloads = needed_downloads(keep_releases)
    modules = needed_modules()
    areas: Iterable[tuple[Path, Callable[[str], bool]]] = (
        (build_root(), builds.__contains__),
        (repro_roots()[0], builds.__contains__),
        (cache_root() / "native", builds.__contains__),
        (cache_root() / "compiled", modules.__contains__),
        (cache_root() / "store", downloads.__contains__),
        (cache_root() / "partial", lambda name: name.split("-", 1)[0] in downloads),
    )
    return [*(item for directory, needed in areas for item in unneeded(directory, needed)), *replaced_artifacts()]


def remove(item: Garbage) -> bool:
    """Remove an entry unless a build holds its lock (a run, a replaced artifact); False if it was in use."""
    if SET_ASIDE_OLD in item.path.name:
        return remove_unless_in_use(item.path)
    with held_if_free(item.path) as free:
        if not free:
            return False
        aside = item.path if item.path.name.startswith(SET_ASIDE) else item.path.with_name(SET_ASIDE + item.path.name)
        if aside != item.path:
            os.rename(item.path, aside)
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside)
        else:
            aside.unlink()
        item.path.with_name(f".{item.path.name}.lock").unlink(missing_ok=True)
    return True


def collect(dry_run: bool, keep_releases: int = KEEP_RELEASES) -> list[Garbage]:
    """Remove (or, dry_run, list) what nothing needs; return what was removed (would be)."""
    found = garbage(keep_releases)
    removed = [item for item in found if dry_run or remove(item)]
    for item in found:
        mark = "would remove" if dry_run else ("removed" if item in removed else "in use, kept")
        say(f"    {mark}: {item.shown()}")
    total = human(sum(item.size for item in removed))
    say(f"gc: {'would free' if dry_run else 'freed'} {total} in {len(removed)} entries "
        f"(kept what {', '.join(prepared_providers()) or 'no prepared toolchain'} builds, the lock and "
        f"the last {keep_releases} releases need)")
    return removed
