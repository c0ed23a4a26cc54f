"""The C-library stage: build a library recipe for wasm32-wasi into its own keyed prefix.

A library's key covers its source digest, patches, build spec, the toolchain identity and
its dependencies' keys, so changing any of them rebuilds it and everything that links it.
Libraries are static only: CRuby on WASI has no dlopen, everything is prelinked.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .. import binary_cache
from ..errors import UserError
from ..inputs import fetch, recipe
from ..inputs.providers import Toolchain
from ..inputs.recipe import Recipe, Source
from ..inputs.source import Patch, patches_for, source_inputs
from .phases import KeyedBuild, PhasedBuild, build_environment, dependencies_first

# Libraries are optimized for size: Asyncify roughly doubles the code of every function that may
# unwind, so each byte saved before it counts twice, and -Oz gives 10-20% less code than -Os.
# (CRuby itself gets -O2: see cruby.RUBY_OPTFLAGS.) Every library gets these CFLAGS; a recipe
# that sets its own CFLAGS includes them as {cflags}.
OPTFLAGS = "-Oz"
BASE_CFLAGS = OPTFLAGS
# What every CMake build gets besides the recipe's args; part of each CMake library's key.
# CMake (3.25) has no WASI platform: Generic leaves UNIX unset, though WASI is POSIX-like, and
# then FindIconv never looks in libc (wasi-libc has musl's iconv) and projects skip -lm.
CMAKE_ARGS = ("-G", "Unix Makefiles", "-DCMAKE_SYSTEM_NAME=Generic", "-DCMAKE_SYSTEM_PROCESSOR=wasm32",
              "-DUNIX=1", "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF",
              "-DCMAKE_INSTALL_LIBDIR=lib")


@dataclass(frozen=True)
class LibraryBuild(KeyedBuild):
    recipe: Recipe
    source: Source
    tarball: Path
    toolchain: Toolchain
    patches: tuple[Patch, ...]
    deps: tuple[LibraryBuild, ...]

    @property
    def name(self) -> str:
        return self.recipe.name

    def inputs(self) -> dict:
        spec = self.recipe.build
        assert spec
        return {
            "library": self.name, **source_inputs(self.recipe, self.source, self.patches),
            "toolchain": self.toolchain.identity,
            "build": {"system": spec.system, "script": spec.script, "args": list(spec.args),
                      "env": dict(spec.env), "make": list(spec.make), "cflags": BASE_CFLAGS,
                      **({"cmake": list(CMAKE_ARGS)} if spec.system == "cmake" else {})},
            "deps": {dep.name: dep.key for dep in self.deps},
        }

    @property
    def label(self) -> str:
        return f"lib-{self.name}-{self.recipe.version}"

    @property
    def prefix(self) -> Path:
        return self.build_dir / "prefix"

    def cache_entry(self) -> binary_cache.Entry:
        return binary_cache.Entry(self.label, self.key, self.build_dir, ("prefix",), ".install.done", ("install",))

    def expand(self, template: str, where: str) -> str:
        """Fill {prefix}, {cflags} and {<dependency>} in a recipe string."""
        values = {"prefix": str(self.prefix), "cflags": BASE_CFLAGS,
                  **{dep.name: str(dep.prefix) for dep in self.all_deps()}}
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError) as error:
            raise UserError(f"Recipe {self.recipe.path}: field '{where}' has an unknown placeholder "
                            f"({error}) in {template!r}. Placeholders: "
                            f"{', '.join('{' + k + '}' for k in values)}.") from None

    @property
    def phases(self) -> PhasedBuild:
        env = build_environment(self.toolchain, CFLAGS=BASE_CFLAGS)
        assert self.recipe.build
        for name, value in self.recipe.build.env:
            env[name] = self.expand(value, f"build.env.{name}")
        return PhasedBuild(self.build_dir, env)

    def all_deps(self) -> list[LibraryBuild]:
        """Dependencies, transitively, each once, dependencies before what needs them."""
        return dependencies_first(self.deps, lambda lib: lib.deps)


def plan_library(name: str, toolchain: Toolchain, fetch_missing: bool = True,
                 seen: tuple[str, ...] = ()) -> LibraryBuild | None:
    """Resolve a library and its dependencies; with fetch_missing=False, None if a source is not cached."""
    if name in seen:
        raise UserError(f"Library recipes depend on each other in a cycle: {' -> '.join([*seen, name])}. "
                        "Remove one of the deps.")
    lib = recipe.load_kind(name, "library")
    deps = [plan_library(dep, toolchain, fetch_missing, (*seen, name)) for dep in lib.deps]
    fetched = fetch.resolve(lib, fetch_missing)
    if fetched is None or None in deps:
        return None
    source, tarball = fetched
    return LibraryBuild(lib, source, tarball, toolchain, tuple(patches_for(name)), tuple(deps))


def _cmake_command(lib: LibraryBuild, source_root: Path, obj: Path) -> list[str]:
    chain = lib.toolchain
    return ["cmake", "-S", str(source_root), "-B", str(obj), *CMAKE_ARGS,
            f"-DCMAKE_C_COMPILER={chain.cc}", f"-DCMAKE_AR={chain.ar}", f"-DCMAKE_RANLIB={chain.driver / 'llvm-ranlib'}",
            f"-DCMAKE_INSTALL_PREFIX={lib.prefix}",
            # find_package() looks in the dependencies' prefixes (libxslt finds libxml2 so)
            f"-DCMAKE_PREFIX_PATH={';'.join(str(dep.prefix) for dep in lib.all_deps())}"]


def build_library(lib: LibraryBuild) -> Path:
    """Build the library's dependencies, then the library; return its install prefix."""
    for dep in lib.deps:
        build_library(dep)
    phases = lib.phases
    if phases.done("install") or binary_cache.pull(lib.cache_entry()):
        return lib.prefix
    spec = lib.recipe.build
    assert spec
    args = [lib.expand(arg, "build.args") for arg in spec.args]
    root = phases.unpack(lib.tarball, lib.patches, lib.source.root)
    jobs = f"-j{os.cpu_count()}"
    if spec.system == "configure":
        phases.run("configure", f"configure {lib.name}", [str(root / spec.script), *args], cwd=root)
        phases.run("install", f"make {lib.name} ({', '.join(spec.make)})", ["make", jobs, *spec.make], cwd=root)
    else:
        obj = lib.build_dir / "obj"
        phases.run("configure", f"cmake {lib.name}", [*_cmake_command(lib, root, obj), *args], cwd=obj)
        phases.run("install", f"build and install {lib.name}",
                   ["cmake", "--build", str(obj), jobs, "--target", *spec.make], cwd=obj)
    return lib.prefix
