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
import re
from dataclasses import dataclass
from pathlib import Path

from ..inputs import fetch, providers, recipe
from ..digests import sha256_file
from ..inputs.providers import Toolchain
from ..inputs.recipe import Recipe, Source
from ..inputs.source import Patch, patch_inputs, patches_for
from ..paths import build_root, portable
from ..steps import write_atomic
from . import compiler_cache
from .baseruby import BaseRuby, NativeRuby, build_native, skip_bundled_gems
from .libraries import LibraryBuild, build_library, plan_library
from .phases import KeyedBuild, PhasedBuild, build_environment

STACK_SIZE = 16 * 1024 * 1024
LDFLAGS = f"-Xlinker --stack-first -Xlinker -z -Xlinker stack-size={STACK_SIZE}"
# CRuby is optimized with -O2, as ruby/ruby.wasm builds it, not for size. Its setjmp, GC stack
# scan and Fiber switch each unwind the whole C stack with Asyncify into a buffer, and the less a
# build inlines, the more frames (each with its saved locals) the buffer must hold: with -Oz, and
# still with -Os, loading psych's test files overflowed it (a trap in asyncify_stop_unwind). The
# libraries, which call back into Ruby seldom and from few frames, get -Oz (libraries.OPTFLAGS).
RUBY_OPTFLAGS = "-O2"
# Asyncify buffers, in bytes. A setjmp capture saves the locals of the frames up to the nearest
# vm_exec (patches/ruby-3.3/0005), a few dozen frames, into the jump buffer of each VM tag, which
# is heap-allocated per tag: CRuby's 6 KB overflowed three nested `require`s when captures went
# down to the root, and 16 KB is kept. A fiber switch and the GC's stack scan save the whole
# running stack, into one static buffer each (0007): sized for the deepest stack the 256 KB
# machine stack limit allows (0006), whose saved locals measured about 0.8 bytes per byte of
# linear stack.
ASYNCIFY_BUFFER_SIZES = {"SETJMP": 16 << 10, "FIBER": 512 << 10, "SCAN": 512 << 10}
ASYNCIFY_CPPFLAGS = " ".join(f"-DWASM_{name}_STACK_BUFFER_SIZE={size}" for name, size in ASYNCIFY_BUFFER_SIZES.items())
PREFIX = "/usr/local"
TARGET = "wasm32-wasi"  # RbConfig's arch: names the build's <arch>-fake.rb and its ruby ABI dirs
# wasm-opt after linking, as the official npm builds run it: CRuby's Asyncify pass with -O3 -g
# (CRuby's default level; DWARF and producer notes stripped), then a run that strips the names
# -g kept. With -g, binaryen keeps its passes from invalidating debug info, and skips those that
# would: without it the module had 4,000 fewer functions and 100,000 Fiber switches took 25% longer
# (418 against 332 ms at best), and with -Oz 20-40% longer still. Each switch unwinds and rewinds
# every frame on the stack through Asyncify's instrumentation, vm_exec_core's above all.
# Optimizing *before* Asyncify breaks CRuby's Asyncify-based setjmp: such a ruby.wasm traps at
# start-up. benchmarks/size.py and benchmarks/endurance.py measure both sides.
WASMOPTFLAGS = "-O3 -g --strip-dwarf --strip-producers"
STRIP_NAMES = "--strip-debug"
POSTLINK = ("$(WASMOPT) --asyncify $(wasmoptflags) --pass-arg=asyncify-ignore-imports -o $@ $@ && "
            f"$(WASMOPT) {STRIP_NAMES} -o $@ $@")
EXTINIT_RE = re.compile(r'init\(Init_\w+, "([^"]+)"\);')


@dataclass(frozen=True)
class RubyBuild(KeyedBuild):
    """Everything one ruby.wasm build depends on, resolved and verified."""
    recipe: Recipe
    profile: str
    source: Source
    tarball: Path
    toolchain: Toolchain
    native: NativeRuby  # the twin: the same source and patches, built for the host
    patches: tuple[Patch, ...]
    libraries: tuple[LibraryBuild, ...]

    @property
    def host_build(self) -> NativeRuby:
        """The baseruby's build: the same source, unpatched."""
        return NativeRuby(self.recipe, self.source, self.tarball, ())

    @property
    def baseruby(self) -> BaseRuby:
        return self.host_build.baseruby

    @property
    def twin(self) -> Path:
        """The native twin's ruby: the reference the wasm is compared with."""
        return self.native.ruby

    @property
    def extensions(self) -> tuple[str, ...]:
        return self.recipe.profiles[self.profile].extensions

    @property
    def name(self) -> str:
        return f"ruby-{self.recipe.series}-{self.profile}"

    def configure_args(self) -> list[str]:
        return [
            "--host=wasm32-unknown-wasi", f"--prefix={PREFIX}",
            "--with-static-linked-ext", f"--with-ext={','.join(self.extensions)}",
            "--disable-install-doc", "--with-baseruby=ruby",  # the baseruby, first on PATH
            f"LDFLAGS={LDFLAGS}", f"CPPFLAGS={ASYNCIFY_CPPFLAGS}", f"optflags={RUBY_OPTFLAGS}", "debugflags=",
            f"wasmoptflags={WASMOPTFLAGS}",
            *[lib.expand(arg, "ruby_configure") for lib in self.libraries for arg in lib.recipe.ruby_configure],
        ]

    def inputs(self) -> dict:
        """The build's inputs as recorded in the manifest; their hash is the build key."""
        return {
            "ruby": {"version": self.recipe.version, "file": self.source.filename,
                     "url": self.source.url or fetch_url_label(self.source),
                     "sha256": self.source.sha256},
            "patches": patch_inputs(self.patches),
            "toolchain": self.toolchain.identity,
            "baseruby": self.baseruby.description,
            "profile": {"name": self.profile, "extensions": list(self.extensions)},
            "libraries": {lib.name: {"version": lib.recipe.version, "sha256": lib.source.sha256,
                                     "key": lib.key} for lib in self.libraries},
            "configure_args": [portable(arg) for arg in self.configure_args()],
            "postlink": POSTLINK,
        }

    @property
    def label(self) -> str:
        return f"ruby-{self.recipe.version}-{self.profile}"

    @property
    def install_dir(self) -> Path:
        return self.build_dir / "install"

    def environment(self) -> dict[str, str]:
        # Debian's ruby otherwise installs the target's default gems into DESTDIR/var/lib/gems.
        env = build_environment(self.toolchain, DEBIAN_DISABLE_RUBYGEMS_INTEGRATION="1")
        # configure names the baseruby `ruby`, so no cache path enters the key or rbconfig.rb
        env["PATH"] = f"{self.baseruby.path.parent}{os.pathsep}{env['PATH']}"
        return env

    @property
    def phases(self) -> PhasedBuild:
        """The build's phases; make compiles through the compiler cache."""
        return PhasedBuild(self.build_dir, {**self.environment(),
                                            **compiler_cache.environment(build_root(), self.toolchain.identity)})

    def configure_key(self, source_root: Path) -> str:
        """What configure's results depend on: the configure script and every input but the patches."""
        inputs = {**self.inputs(), "patches": None, "configure": sha256_file(source_root / "configure")}
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()

    @property
    def source_root(self) -> Path:
        return self.phases.source_root

    @property
    def wasm(self) -> Path:
        return self.install_dir / PREFIX.lstrip("/") / "bin" / "ruby"

    @property
    def abi(self) -> str:
        """The ABI directory of the series' load path: site_ruby/3.3.0 for Ruby 3.3."""
        return f"{self.recipe.series}.0"

    @property
    def stdlib(self) -> tuple[Path, str]:
        """The standard library's installed directory and its path in the wasm's tree."""
        relative = f"{PREFIX.lstrip('/')}/lib/ruby"
        return self.install_dir / relative, relative

    def linked_features(self) -> tuple[str, ...]:
        """The features CRuby registered for static init, read from the generated ext/extinit.c."""
        extinit = self.build_dir / "obj" / "ext" / "extinit.c"
        return tuple(EXTINIT_RE.findall(extinit.read_text())) if extinit.exists() else ()


def fetch_url_label(source: Source) -> str:
    assert source.debian
    return f"debian source package {source.debian.package} ({source.debian.suite})"


def plan(series: str, profile: str, provider: str, fetch_missing: bool = True,
         quiet: bool = False) -> RubyBuild | None:
    """Resolve every input of a build; with fetch_missing=False, None if a source is not cached."""
    ruby = recipe.ruby_recipe(series)
    libraries_named = ruby.profile(profile).libraries
    fetched = fetch.resolve(ruby, fetch_missing)
    if fetched is None:
        return None
    toolchain = providers.resolve(provider, quiet=quiet)
    libraries = [plan_library(name, toolchain, fetch_missing) for name in libraries_named]
    if None in libraries:
        return None
    source, tarball = fetched
    patches = tuple(patches_for(f"ruby-{series}"))
    return RubyBuild(
        recipe=ruby, profile=profile, source=source, tarball=tarball, toolchain=toolchain,
        native=NativeRuby(ruby, source, tarball, patches), patches=patches,
        libraries=tuple(libraries),  # type: ignore[arg-type]  # None was ruled out above
    )


def _name_build_root(install_dir: Path) -> None:
    """rbconfig.rb records configure's arguments, the libraries' directories under the build root
    among them: name the build root /build there too, as the compilers do in the code."""
    for rbconfig in (install_dir / PREFIX.lstrip("/") / "lib" / "ruby").glob(f"*/{TARGET}/rbconfig.rb"):
        text = rbconfig.read_text()
        if portable(text) != text:
            write_atomic(rbconfig, portable(text).encode())


def configure_ruby(build: RubyBuild) -> None:
    """Unpack, patch and configure Ruby, once. Configure needs the baseruby but not the C
    libraries: it only passes their directories on to the extensions' extconf.rb, which make runs."""
    build_native(build.host_build)
    source_root = build.phases.unpack(build.tarball, build.patches, build.source.root, prepare=skip_bundled_gems)
    if build.phases.done("configure"):
        return
    kept = compiler_cache.configure_cache(build.configure_key(source_root))
    obj = build.build_dir / "obj"
    obj.mkdir(exist_ok=True)
    phases = PhasedBuild(build.build_dir, {**build.environment(), **compiler_cache.configure_site(obj, kept)})
    phases.run("configure", "configure", [str(source_root / "configure"), *build.configure_args()], cwd=obj)
    compiler_cache.keep_configure_results(obj, kept)


def build_ruby(build: RubyBuild) -> Path:
    """Configure Ruby and build the profile's C libraries, then compile and install Ruby into the
    build directory; return the install root."""
    configure_ruby(build)
    for library in build.libraries:
        build_library(library)
    build.phases.run("install", f"make -j{os.cpu_count()} install (compile, link, Asyncify)",
                     ["make", f"-j{os.cpu_count()}", "install", f"DESTDIR={build.install_dir}",
                      f"POSTLINK={POSTLINK}"], cwd=build.build_dir / "obj")
    _name_build_root(build.install_dir)
    return build.install_dir
