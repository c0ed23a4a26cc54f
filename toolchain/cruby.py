"""The CRuby stage: configure and cross-compile one Ruby for wasm32-wasi in a keyed build directory.

A build directory's name carries the hash of every input (source digest, patches,
toolchain identity, baseruby, extension list, configure arguments), so changing any
of them builds afresh while an unchanged build is reused. Each phase leaves a stamp,
so an interrupted build resumes at the phase it was in.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import fetch, providers, recipe
from .baseruby import BaseRuby, find_baseruby
from .errors import UserError
from .paths import cache_dir
from .providers import Toolchain
from .recipe import Recipe, Source
from .source import Patch, patches_for, prepare_tree
from .steps import run_logged, step, write_atomic

STACK_SIZE = 16 * 1024 * 1024
LDFLAGS = f"-Xlinker --stack-first -Xlinker -z -Xlinker stack-size={STACK_SIZE}"
PREFIX = "/usr/local"


@dataclass(frozen=True)
class RubyBuild:
    """Everything one ruby.wasm build depends on, resolved and verified."""
    recipe: Recipe
    profile: str
    source: Source
    tarball: Path
    toolchain: Toolchain
    baseruby: BaseRuby
    patches: tuple[Patch, ...]

    @property
    def extensions(self) -> tuple[str, ...]:
        return self.recipe.profiles[self.profile]

    @property
    def name(self) -> str:
        return f"ruby-{self.recipe.series}-{self.profile}"

    def configure_args(self) -> list[str]:
        return [
            "--host=wasm32-unknown-wasi", f"--prefix={PREFIX}",
            "--with-static-linked-ext", f"--with-ext={','.join(self.extensions)}",
            "--disable-install-doc", f"--with-baseruby={self.baseruby.path}",
            f"LDFLAGS={LDFLAGS}", "optflags=-O2", "debugflags=", "wasmoptflags=-O2",
        ]

    def inputs(self) -> dict:
        """The build's inputs as recorded in the manifest; their hash is the build key."""
        return {
            "ruby": {"version": self.recipe.version, "file": self.source.filename,
                     "url": self.source.url or fetch_url_label(self.source),
                     "sha256": self.source.sha256},
            "patches": [{"name": p.path.name, "sha256": p.sha256} for p in self.patches],
            "toolchain": self.toolchain.identity,
            "baseruby": self.baseruby.description,
            "profile": {"name": self.profile, "extensions": list(self.extensions)},
            "configure_args": self.configure_args(),
        }

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.inputs(), sort_keys=True).encode()).hexdigest()

    @property
    def build_dir(self) -> Path:
        return cache_dir("build") / f"ruby-{self.recipe.version}-{self.profile}-{self.key[:16]}"

    @property
    def install_dir(self) -> Path:
        return self.build_dir / "install"


def fetch_url_label(source: Source) -> str:
    assert source.debian
    return f"debian source package {source.debian.package} ({source.debian.suite})"


def plan(series: str, profile: str, provider: str, fetch_missing: bool = True,
         quiet: bool = False) -> RubyBuild | None:
    """Resolve every input of a build; with fetch_missing=False, None if a source is not cached."""
    ruby = recipe.ruby_recipe(series)
    if profile not in ruby.profiles:
        raise UserError(f"Recipe {ruby.path} has no profile '{profile}'. "
                        f"Profiles: {', '.join(ruby.profiles)}.")
    if fetch_missing:
        source, tarball = fetch.fetch_recipe(ruby)
    else:
        stored = [(s, fetch.verified_in_store(s)) for s in ruby.sources]
        stored = [(s, path) for s, path in stored if path]
        if not stored:
            return None
        source, tarball = stored[0]
    return RubyBuild(
        recipe=ruby, profile=profile, source=source, tarball=tarball,
        toolchain=providers.resolve(provider, quiet=quiet),
        baseruby=find_baseruby(ruby.baseruby or "0"),
        patches=tuple(patches_for(f"ruby-{series}")),
    )


def _stamp(build: RubyBuild, phase: str) -> Path:
    return build.build_dir / f".{phase}.done"


def _build_env(build: RubyBuild) -> dict[str, str]:
    env = {**os.environ, **build.toolchain.build_env(), "LC_ALL": "C"}
    # Debian's ruby otherwise installs the target's default gems into DESTDIR/var/lib/gems.
    env["DEBIAN_DISABLE_RUBYGEMS_INTEGRATION"] = "1"
    return env


def _skip_bundled_gems(source_root: Path) -> None:
    """Install no bundled gems: Debian's tarball lacks gems/*.gem and `make install` would try to
    download them. Both sources then yield the same artifact; gems come from pinned recipes."""
    listing = source_root / "gems" / "bundled_gems"
    if listing.exists():
        listing.write_text("# bundled gems are not installed by this toolchain\n")


def _run_phase(build: RubyBuild, phase: str, title: str, command: list[str], cwd: Path) -> None:
    """Run one build phase unless its stamp says it finished; record its duration."""
    if _stamp(build, phase).exists():
        return
    cwd.mkdir(parents=True, exist_ok=True)
    with step(title) as timer:
        run_logged(phase, command, build.build_dir / "logs" / f"{phase}.log", cwd=cwd, env=_build_env(build))
    write_atomic(_stamp(build, phase), f"{timer.elapsed:.1f}".encode())


def phase_seconds(build: RubyBuild) -> dict[str, float]:
    """How long each finished phase took, read back from its stamp."""
    return {phase: float(_stamp(build, phase).read_text() or 0)
            for phase in ("source", "configure", "install") if _stamp(build, phase).exists()}


def build_ruby(build: RubyBuild) -> Path:
    """Configure, compile and install into the build directory; return the install root."""
    if not _stamp(build, "source").exists():
        with step(f"unpack and patch {build.tarball.name}") as timer:
            root = prepare_tree(build.tarball, list(build.patches), build.build_dir / "src")
            _skip_bundled_gems(root)
        write_atomic(build.build_dir / "source-root", str(root).encode())
        write_atomic(_stamp(build, "source"), f"{timer.elapsed:.1f}".encode())
    source_root = Path((build.build_dir / "source-root").read_text())
    _run_phase(build, "configure", "configure", [str(source_root / "configure"), *build.configure_args()],
               cwd=build.build_dir / "obj")
    _run_phase(build, "install", f"make -j{os.cpu_count()} install (compile, link, Asyncify)",
               ["make", f"-j{os.cpu_count()}", "install", f"DESTDIR={build.install_dir}"],
               cwd=build.build_dir / "obj")
    return build.install_dir
