"""The gem stage: a gem's verified source tree, and its C extension cross-built for wasm32-wasi.

An extension is built the way CRuby builds its own for a cross target: the host Ruby runs the
gem's extconf.rb with CRuby's `<arch>-fake.rb` from the base Ruby build loaded first, so mkmf
sees the wasm target's rbconfig, headers and libruby; `$static` set before it makes mkmf write
a static archive instead of a shared object. The link stage prelinks that archive into
ruby.wasm. Nothing here is specific to one gem: the recipe's [extension] table says where
extconf.rb is and what arguments it gets.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from .. import binary_cache
from ..errors import UserError
from ..paths import RUBY_SUPPORT
from ..inputs import fetch, recipe
from ..digests import sha256_file
from ..inputs.recipe import Recipe, Source
from ..inputs.source import Patch, patches_for, source_inputs
from ..steps import write_atomic
from .cruby import TARGET, RubyBuild, build_ruby
from .libraries import LibraryBuild, build_library, plan_library
from .makevars import make_variables
from .phases import KeyedBuild, PhasedBuild, build_environment, dependencies_first

# Loaded (-r) before CRuby's fake.rb, which keeps the $static it finds.
STATIC_EXT = RUBY_SUPPORT / "static_ext.rb"
# Given to every extconf.rb: the host's pkg-config knows nothing of wasm libraries, and whether
# a host has one must not change the build; recipes name library directories instead.
EXTCONF_FLAGS = ("--without-pkg-config",)
# Where a gem's Ruby files go in the artifact's tree: on Ruby's default load path.
SITE_RUBY = "usr/local/lib/ruby/site_ruby/{abi}"


@dataclass(frozen=True)
class GemSource(KeyedBuild):
    """A gem's unpacked, patched source tree, and the gems whose Ruby files it needs at run time."""
    recipe: Recipe
    source: Source
    archive: Path
    patches: tuple[Patch, ...]
    deps: tuple[GemSource, ...]

    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def version(self) -> str:
        return self.recipe.version

    @property
    def extension(self) -> recipe.Extension | None:
        return self.recipe.extension

    @property
    def library_names(self) -> tuple[str, ...]:
        return self.recipe.libraries

    @property
    def origin(self) -> str:
        """Where the gem is declared, for messages: its recipe."""
        return f"Recipe {self.recipe.path}"

    def inputs(self) -> dict:
        return {"gem": self.name, "root": self.source.root,
                **source_inputs(self.recipe, self.source, self.patches)}

    @property
    def label(self) -> str:
        return f"gem-{self.name}-{self.recipe.version}"

    def tree(self) -> Path:
        """The gem's source tree, unpacked and patched on first use."""
        return PhasedBuild(self.build_dir, {}).unpack(self.archive, self.patches, self.source.root)

    def with_deps(self) -> list[GemSource]:
        """This gem and its run-time dependencies, transitively, each once, dependencies first."""
        return dependencies_first([self], lambda gem: gem.deps)


def plan_gem(name: str, fetch_missing: bool = True, seen: tuple[str, ...] = ()) -> GemSource | None:
    """Resolve a gem recipe and its dependencies; with fetch_missing=False, None if a source is
    not cached."""
    if name in seen:
        raise UserError(f"Gem recipes depend on each other in a cycle: {' -> '.join([*seen, name])}. "
                        "Remove one of the deps.")
    gem = recipe.load_kind(name, "gem")
    deps = [plan_gem(dep, fetch_missing, (*seen, name)) for dep in gem.deps]
    fetched = fetch.resolve(gem, fetch_missing)
    if fetched is None or None in deps:
        return None
    source, archive = fetched
    return GemSource(gem, source, archive, tuple(patches_for(name)), tuple(deps))  # type: ignore[arg-type]


@dataclass(frozen=True)
class BuiltExtension:
    """What the link stage needs from one built extension."""
    archive: Path
    feature: str  # what `require` names, e.g. nokogiri/nokogiri.so
    init: str  # its Init_ function
    libs: tuple[str, ...]  # linker arguments for the libraries it uses, in link order


class ExtensionSource(Protocol):
    """What an extension build needs of a gem: a recipe's (GemSource) or a Ruby series' bundled
    gem's (bundled.BundledGemSource)."""
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def extension(self) -> recipe.Extension | None: ...
    @property
    def library_names(self) -> tuple[str, ...]: ...
    @property
    def origin(self) -> str: ...
    @property
    def key(self) -> str: ...
    def tree(self) -> Path: ...


@dataclass(frozen=True)
class ExtensionBuild(KeyedBuild):
    """A gem's C extension compiled against one Ruby build and the gem's C libraries."""
    gem: ExtensionSource
    ruby: RubyBuild
    libraries: tuple[LibraryBuild, ...]

    @property
    def name(self) -> str:
        return self.gem.name

    @property
    def spec(self) -> recipe.Extension:
        assert self.gem.extension
        return self.gem.extension

    def all_libraries(self) -> list[LibraryBuild]:
        """The gem's libraries and theirs, each once, dependencies first."""
        return dependencies_first(self.libraries, lambda lib: lib.deps)

    def extconf_args(self) -> list[str]:
        prefixes = {lib.name: str(lib.prefix) for lib in self.all_libraries()}
        expanded = []
        for arg in self.spec.args:
            try:
                expanded.append(arg.format(**prefixes))
            except (KeyError, IndexError, ValueError) as error:
                raise UserError(
                    f"{self.gem.origin}: field 'extension.args' has an unknown placeholder "
                    f"({error}) in {arg!r}. Placeholders name the gem's libraries: "
                    f"{', '.join('{' + k + '}' for k in prefixes) or 'none (add libraries = [...])'}.") from None
        return expanded

    def inputs(self) -> dict:
        return {"gem": self.gem.key, "ruby": self.ruby.key,
                "extension": {"dir": self.spec.dir, "args": list(self.spec.args)},
                "libraries": {lib.name: lib.key for lib in self.libraries},
                "static_ext": sha256_file(STATIC_EXT), "extconf_flags": list(EXTCONF_FLAGS)}

    @property
    def label(self) -> str:
        return f"ext-{self.name}-{self.gem.version}"

    @property
    def obj(self) -> Path:
        return self.build_dir / "obj"

    @property
    def phases(self) -> PhasedBuild:
        return PhasedBuild(self.build_dir, build_environment(self.ruby.toolchain))

    @property
    def record(self) -> Path:
        """What the link needs of the built extension (a BuiltExtension), written after make."""
        return self.build_dir / "built-extension.json"

    def built(self) -> BuiltExtension | None:
        """The built extension, as its record says; None until make has run here or a pull brought it."""
        if not self.phases.done("make"):
            return None
        if not self.record.exists():  # built before extensions were recorded
            return _recorded(self) if (self.obj / "Makefile").exists() else None
        fields = json.loads(self.record.read_text())
        return BuiltExtension(self.build_dir / fields["archive"], fields["feature"], fields["init"],
                              tuple(fields["libs"]))

    def cache_entry(self) -> binary_cache.Entry:
        """The extension's static archive and its record; the record names the archive."""
        built = self.built()
        archive = (built.archive.relative_to(self.build_dir).as_posix(),) if built else ()
        return binary_cache.Entry(self.label, self.key, self.build_dir, (self.record.name, *archive),
                                  self.record.name, ("extconf", "make"))


def plan_extension(gem: ExtensionSource, ruby: RubyBuild, fetch_missing: bool = True) -> ExtensionBuild | None:
    if gem.extension is None:
        raise UserError(f"{gem.origin} has no [extension] table: gem '{gem.name}' has no "
                        "C extension to build. Add [extension] with dir = \"ext/<name>\".")
    libraries = [plan_library(name, ruby.toolchain, fetch_missing) for name in gem.library_names]
    if None in libraries:
        return None
    return ExtensionBuild(gem, ruby, tuple(libraries))  # type: ignore[arg-type]


def _link_arguments(values: dict[str, str]) -> tuple[str, ...]:
    """The -L and -l arguments of an extension's Makefile, without libruby (the link has it)."""
    words = " ".join([values["LIBPATH"], values["LOCAL_LIBS"], values["LIBS"]]).split()
    return tuple(w for w in words if w.startswith(("-L", "-l")) and w != f"-l{values['RUBY_SO_NAME']}-static")


def build_extension(ext: ExtensionBuild) -> BuiltExtension:
    """Build the gem's libraries, run its extconf.rb for the wasm target, and make its static archive
    (against Ruby's objects, so Ruby is built here first); or pull all that from the binary cache."""
    built = ext.built()
    if built is None and binary_cache.pull(ext.cache_entry()):
        built = ext.built()
    if built:
        return built
    build_ruby(ext.ruby)
    for library in ext.libraries:
        build_library(library)
    source = ext.gem.tree() / ext.spec.dir
    if not (source / "extconf.rb").exists():
        raise UserError(f"{ext.gem.origin}: extension.dir '{ext.spec.dir}' has no extconf.rb "
                        f"(looked in {source}). Set it to the directory that holds extconf.rb.")
    fake = ext.ruby.build_dir / "obj" / f"{TARGET}-fake.rb"
    phases = ext.phases
    # As CRuby's own cross build runs extmk.rb: without RubyGems (which would load the host's
    # rbconfig first) and with the target's lib/ (its mkmf).
    phases.run("extconf", f"extconf.rb of {ext.name} for {TARGET}",
               [str(ext.ruby.baseruby.path), "--disable=gems", "-I", str(ext.ruby.source_root / "lib"),
                "-r", str(STATIC_EXT), "-r", str(fake), str(source / "extconf.rb"), *EXTCONF_FLAGS,
                *ext.extconf_args()],
               cwd=ext.obj)
    static_lib = make_variables(ext.obj, ["STATIC_LIB"])["STATIC_LIB"]
    phases.run("make", f"make {ext.name} ({static_lib})", ["make", f"-j{os.cpu_count()}", static_lib], cwd=ext.obj)
    return _recorded(ext)


def _recorded(ext: ExtensionBuild) -> BuiltExtension:
    """What make built, read from the extension's Makefile, and recorded beside it: the link reads
    the record, which a pull from the binary cache brings without the Makefile."""
    values = make_variables(ext.obj, ["STATIC_LIB", "TARGET", "target_prefix", "LIBPATH", "LOCAL_LIBS",
                                      "LIBS", "RUBY_SO_NAME"])
    feature = "/".join(filter(None, [values["target_prefix"].strip("/"), values["TARGET"]])) + ".so"
    built = BuiltExtension(ext.obj / values["STATIC_LIB"], feature, f"Init_{values['TARGET']}",
                           _link_arguments(values))
    record = {**asdict(built), "archive": built.archive.relative_to(ext.build_dir).as_posix()}
    write_atomic(ext.record, json.dumps(record, indent=1, sort_keys=True).encode())
    return built
