"""Native CRuby, built for this host from the pinned source of a Ruby series, in two kinds:

- the baseruby, from the unpatched source: the exact version, so no distribution Ruby is needed.
  It runs CRuby's generators and the gems' extconf.rb during the cross build. Unpatched, so a
  change to a patch rebuilds ruby.wasm without first building a native Ruby again;
- the twin, from the same patched source as ruby.wasm: the reference the wasm's behaviour is
  compared with (the endurance suite runs every program on both) and bootstraptest's runner.

Both live in cache/native/, outside the build root, so the nightly's second build in another
root uses the same ones. A key covers the source, the patches, the host compiler and configure's
arguments. They are installed with a load-relative prefix, so they run wherever the cache is, and
compile through the compiler cache (compiler_cache.py), so the twin reuses the baseruby's
objects wherever the patches did not change a file.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .. import binary_cache
from ..errors import UserError
from ..inputs.providers import host_driver, install_debian_packages
from ..inputs.recipe import Recipe, Source
from ..inputs.source import Patch, source_inputs
from ..paths import cache_dir
from . import compiler_cache
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
        # The source is in the build's key already; the host compiler is not, so that keys do
        # not depend on the machine.
        return f"native ruby {self.version}, unpatched"


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
    def ruby(self) -> Path:
        return self.install_dir / PREFIX.lstrip("/") / "bin" / "ruby"

    def cache_entry(self) -> binary_cache.Entry:
        return binary_cache.Entry(self.label, self.key, self.build_dir, ("install",), ".install.done", ("install",))

    @property
    def baseruby(self) -> BaseRuby:
        assert not self.patches, "the baseruby is built from the unpatched source"
        return BaseRuby(self.ruby, self.recipe.version)

    @property
    def kind(self) -> str:
        return "native twin" if self.patches else "baseruby"


def host_compiler() -> str:
    try:
        return subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    except OSError:
        return "none"


def host_environment() -> dict[str, str]:
    """A native build's whole environment: fixed locale and time zone, the caller's PATH behind
    the host compiler's driver, and the compiler cache."""
    return {"HOME": os.environ.get("HOME", "/"), "LC_ALL": "C", "TZ": "UTC",
            "PATH": f"{host_driver()}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
            **compiler_cache.environment(cache_dir("native"), host_compiler())}


def skip_bundled_gems(source_root: Path) -> None:
    """Install no bundled gems: Debian's tarball lacks gems/*.gem and `make install` would try to
    download them. Both sources then yield the same Ruby; gems come from pinned recipes."""
    listing = source_root / "gems" / "bundled_gems"
    if listing.exists():
        listing.write_text("# bundled gems are not installed by this toolchain\n")


def _ensure_host_packages() -> None:
    missing = [package for package, path in HOST_PACKAGES.items() if not Path(path).exists()]
    if missing:
        install_debian_packages(missing, "Native Ruby (the baseruby and the twin)")


def build_native(native: NativeRuby) -> Path:
    """Configure, compile and install a native Ruby once; later calls only check its stamps.
    Return its ruby executable."""
    phases = PhasedBuild(native.build_dir, host_environment())
    if not phases.done("install"):
        _ensure_host_packages()  # a pulled Ruby needs them too: its psych and zlib load the host's libraries
    if not phases.done("install") and not binary_cache.pull(native.cache_entry()):
        compiler_cache.ensure_installed()
        source_root = phases.unpack(native.tarball, native.patches, native.source.root, prepare=skip_bundled_gems)
        obj = native.build_dir / "obj"
        phases.run("configure", f"configure the {native.kind}", [str(source_root / "configure"), *CONFIGURE_ARGS],
                   cwd=obj)
        phases.run("install", f"make -j{os.cpu_count()} install ({native.kind})",
                   ["make", f"-j{os.cpu_count()}", "install", f"DESTDIR={native.install_dir}"], cwd=obj)
    if not native.ruby.exists():
        raise UserError(f"The {native.kind}'s build finished but {native.ruby} is missing; see the logs in "
                        f"{native.build_dir / 'logs'}. Remove {native.build_dir} to build it again.")
    return native.ruby
