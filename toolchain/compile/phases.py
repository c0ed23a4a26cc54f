"""A keyed build directory whose phases leave stamps, so an interrupted build resumes at the
phase it was in. Used by every compiled component (C libraries, CRuby).

Layout: src/ (the unpacked, patched tree; its root is recorded in `source-root`),
`source-date-epoch` (the newest time in the source archive, the SOURCE_DATE_EPOCH of every
command), logs/<phase>.log, and .<phase>.done stamps holding the phase's duration in seconds.

Many processes may build the same key at once: each phase runs under the directory's lock
(locks.held), which its command holds too, so a phase runs once and the others wait, then find
its stamp. A rerun can never share a tree with a command that outlived an earlier run.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .. import binary_cache
from ..inputs.extract import newest_mtime
from ..inputs.providers import Toolchain
from ..inputs.source import Patch, prepare_tree
from ..locks import once
from ..paths import BUILD_ROOT_ENV, SOURCE_ROOT_ENV, build_root
from ..steps import run_logged, step, write_atomic


T = TypeVar("T")


def build_environment(toolchain: Toolchain, **extra: str) -> dict[str, str]:
    """The whole environment of a build command: the toolchain's variables, the build root its
    compilers map to /build, a fixed locale and time zone, HOME, and nothing else from the
    caller's environment, so two builds of the same inputs see the same variables."""
    return {"HOME": os.environ.get("HOME", "/"), "LC_ALL": "C", "TZ": "UTC",
            BUILD_ROOT_ENV: str(build_root()), **toolchain.build_env(), **extra}


def dependencies_first(items: Iterable[T], deps: Callable[[T], Iterable[T]]) -> list[T]:
    """items and, transitively, what they depend on: each once, every dependency before what needs it."""
    ordered: list[T] = []
    for item in items:
        ordered += [d for d in [*dependencies_first(deps(item), deps), item] if d not in ordered]
    return ordered


class KeyedBuild:
    """A build whose directory is named by the hash of every input, so that changing any input
    builds afresh while an unchanged build is reused. Subclasses say what the inputs are."""

    def inputs(self) -> dict:
        raise NotImplementedError

    @property
    def label(self) -> str:
        raise NotImplementedError

    @functools.cached_property
    def key(self) -> str:
        """Computed once per planned build: inputs() may hash files (patches, sources, an app's
        tree), and the build directory, stamps and manifests all ask for the key."""
        return hashlib.sha256(json.dumps(self.inputs(), sort_keys=True).encode()).hexdigest()

    @property
    def build_dir(self) -> Path:
        return build_root() / f"{self.label}-{self.key[:16]}"

    def cache_entry(self) -> binary_cache.Entry | None:
        """What the binary cache holds of this build; None for a build it does not hold (a gem's
        unpacked source, a box's build directory: their outputs are cheap or published whole)."""
        return None


@dataclass(frozen=True)
class PhasedBuild:
    directory: Path
    env: Mapping[str, str]

    def _stamp(self, phase: str) -> Path:
        return self.directory / f".{phase}.done"

    def done(self, phase: str) -> bool:
        return self._stamp(phase).exists()

    def _finish(self, phase: str, seconds: float) -> None:
        write_atomic(self._stamp(phase), f"{seconds:.1f}".encode())

    @property
    def source_root(self) -> Path:
        return Path((self.directory / "source-root").read_text())

    def _once(self, phase: str, work: Callable[[int], None]) -> None:
        """Do a phase's work, given the directory lock's descriptor, unless its stamp says it is done."""
        once(self.directory, f"another build of {self.directory.name}", lambda: self.done(phase), work)

    def unpack(self, tarball: Path, patches: Sequence[Patch], subdir: str = "",
               prepare: Callable[[Path], None] | None = None) -> Path:
        """Unpack and patch the source once; `prepare(root)` adjusts the tree after patching."""
        self._once("source", lambda lock: self._unpack(tarball, patches, subdir, prepare))
        return self.source_root

    def _unpack(self, tarball: Path, patches: Sequence[Patch], subdir: str,
                prepare: Callable[[Path], None] | None) -> None:
        with step(f"unpack and patch {tarball.name}") as timer:
            root = prepare_tree(tarball, list(patches), self.directory / "src", subdir)
            if prepare:
                prepare(root)
        write_atomic(self.directory / "source-root", str(root).encode())
        write_atomic(self._epoch_file, str(newest_mtime(tarball)).encode())
        self._finish("source", timer.elapsed)

    def share_source(self, build: PhasedBuild) -> None:
        """Compile against another build's unpacked source: its tree is then this build's own to the
        toolchain's clang (mapped to `.`, so `#include __FILE__` works), with its SOURCE_DATE_EPOCH."""
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomic(self.directory / "source-root", str(build.source_root).encode())
        write_atomic(self._epoch_file, build._epoch_file.read_bytes())

    @property
    def _epoch_file(self) -> Path:
        return self.directory / "source-date-epoch"

    def run(self, phase: str, title: str, command: Sequence[str], cwd: Path) -> None:
        """Run one phase's command unless its stamp says it finished; record its duration."""
        self._once(phase, lambda lock: self._run(phase, title, command, cwd, lock))

    def _run(self, phase: str, title: str, command: Sequence[str], cwd: Path, lock: int) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        env = dict(self.env)
        if self._epoch_file.exists():
            env["SOURCE_DATE_EPOCH"] = self._epoch_file.read_text()
            env[SOURCE_ROOT_ENV] = str(self.source_root)
        with step(title) as timer:
            run_logged(phase, command, self.directory / "logs" / f"{phase}.log", cwd=cwd, env=env, hold=[lock],
                       compile_record=self._compile_record(phase))
        self._finish(phase, timer.elapsed)

    def _compile_record(self, phase: str) -> Path:
        """Where the phase's compile count is kept for the next build of the same thing (any key)."""
        unkeyed = self.directory.name.rsplit("-", 1)[0]
        return self.directory.parent / ".compile-counts" / f"{unkeyed}.{phase}"

    def seconds(self) -> dict[str, float]:
        """How long each finished phase took, read back from its stamp."""
        return {stamp.name[1:-len(".done")]: float(stamp.read_text() or 0)
                for stamp in sorted(self.directory.glob(".*.done"))}
