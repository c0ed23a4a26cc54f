"""The native twin: CRuby built for this host from the same pinned, patched source as ruby.wasm.

It is the baseruby of the cross build (the exact version, so no distribution Ruby is needed: it
runs CRuby's generators, the gems' extconf.rb and bootstraptest's runner) and the reference the
wasm's behaviour is compared with (the endurance suite runs every program on both).

It lives in cache/native/, outside the build root, so the nightly's second build in another root
uses the same twin. Its key covers the source, the patches, the host compiler and configure's
arguments. It is installed with a load-relative prefix, so it runs wherever the cache is.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..inputs.providers import install_debian_packages
from ..inputs.recipe import Recipe, Source
from ..inputs.source import Patch, source_inputs
from ..paths import cache_dir
from .phases import KeyedBuild, PhasedBuild

PREFIX = "/usr/local"
CONFIGURE_ARGS = (f"--prefix={PREFIX}", "--enable-load-relative", "--disable-install-doc",
                  "optflags=-O2", "debugflags=")
# A C compiler, and the headers of what psych and zlib wrap: extconf.rb scripts (nokogiri's reads
# its dependencies.yml) and Ruby's own tools require them from the baseruby.
HOST_PACKAGES = {"gcc": "/usr/bin/gcc", "make": "/usr/bin/make",
                 "libyaml-dev": "/usr/include/yaml.h", "zlib1g-dev": "/usr/include/zlib.h"}


@dataclass(frozen=True)
class BaseRuby:
    """The host Ruby a build runs: its path, and what enters a build key about it."""
    path: Path
    version: str

    @property
    def description(self) -> str:
        # The twin is built from the build's own source and patches, which are in the key already;
        # its host compiler is not, so that keys do not depend on the machine.
        return f"native twin of ruby {self.version}"


@dataclass(frozen=True)
class NativeRuby(KeyedBuild):
    recipe: Recipe
    source: Source
    tarball: Path
    patches: tuple[Patch, ...]

    def inputs(self) -> dict:
        return {"native": source_inputs(self.recipe, self.source, self.patches),
                "compiler": host_compiler(), "configure_args": list(CONFIGURE_ARGS)}

    @property
    def label(self) -> str:
        return f"native-ruby-{self.recipe.version}"

    @property
    def build_dir(self) -> Path:
        return cache_dir("native") / f"{self.label}-{self.key[:16]}"

    @property
    def install_dir(self) -> Path:
        return self.build_dir / "install"

    @property
    def baseruby(self) -> BaseRuby:
        return BaseRuby(self.install_dir / PREFIX.lstrip("/") / "bin" / "ruby", self.recipe.version)


def host_compiler() -> str:
    try:
        return subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    except OSError:
        return "none"


def host_environment() -> dict[str, str]:
    """A native build's whole environment: fixed locale and time zone, the caller's PATH."""
    return {"HOME": os.environ.get("HOME", "/"), "LC_ALL": "C", "TZ": "UTC",
            "PATH": os.environ.get("PATH", os.defpath)}


def skip_bundled_gems(source_root: Path) -> None:
    """Install no bundled gems: Debian's tarball lacks gems/*.gem and `make install` would try to
    download them. Both sources then yield the same Ruby; gems come from pinned recipes."""
    listing = source_root / "gems" / "bundled_gems"
    if listing.exists():
        listing.write_text("# bundled gems are not installed by this toolchain\n")


def _ensure_host_packages() -> None:
    missing = [package for package, path in HOST_PACKAGES.items() if not Path(path).exists()]
    if missing:
        install_debian_packages(missing, "The native twin (the host build of Ruby)")


def build_native(twin: NativeRuby) -> BaseRuby:
    """Configure, compile and install the twin once; later calls only check its stamps."""
    phases = PhasedBuild(twin.build_dir, host_environment())
    if not phases.done("install"):
        _ensure_host_packages()
        source_root = phases.unpack(twin.tarball, twin.patches, twin.source.root, prepare=skip_bundled_gems)
        obj = twin.build_dir / "obj"
        phases.run("configure", "configure the native twin", [str(source_root / "configure"), *CONFIGURE_ARGS],
                   cwd=obj)
        phases.run("install", f"make -j{os.cpu_count()} install (native twin)",
                   ["make", f"-j{os.cpu_count()}", "install", f"DESTDIR={twin.install_dir}"], cwd=obj)
    ruby = twin.baseruby
    if not ruby.path.exists():
        raise UserError(f"The native twin's build finished but {ruby.path} is missing; see the logs in "
                        f"{twin.build_dir / 'logs'}. Remove {twin.build_dir} to build it again.")
    return ruby
