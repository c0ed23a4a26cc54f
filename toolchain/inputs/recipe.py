"""Recipes are data: one TOML file per component, validated on load.

Every error names the recipe file and the offending field, because the person who
reads it is editing that file.
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import UserError
from ..paths import RECIPES_DIR

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
VERSION_RE = re.compile(r"^\d+(\.\d+){0,3}$")
KINDS = ("toolchain", "ruby", "library", "gem", "comparison")  # comparison: another project's build, measured against
BUILD_SYSTEMS = ("configure", "cmake")

# Allowed fields per table: name -> (python type, required).
TOP_FIELDS = {
    "name": (str, True), "kind": (str, True), "version": (str, True),
    "description": (str, True), "verifiable": (bool, False), "series": (str, False),
    "source": (list, True), "facts": (dict, False), "profiles": (dict, False),
    "build": (dict, False), "deps": (list, False),
    "ruby_configure": (list, False), "libraries": (list, False), "extension": (dict, False),
    "ruby_profile": (str, False), "box": (list, False),
}
# Fields that mean something for some kinds only.
KIND_FIELDS = {
    "series": ("ruby", "comparison"), "profiles": ("ruby",), "box": ("ruby",),
    "build": ("library",), "ruby_configure": ("library",), "deps": ("library", "gem"),
    "libraries": ("gem",), "extension": ("gem",), "ruby_profile": ("gem",),
}
SOURCE_FIELDS = {
    "url": (str, False), "debian": (dict, False), "npm": (dict, False), "sha256": (str, True),
    "platform": (str, False), "note": (str, False), "root": (str, False),
}
DEBIAN_FIELDS = {"package": (str, True), "suite": (str, True), "file": (str, True)}
NPM_FIELDS = {"package": (str, True), "version": (str, True)}
BUILD_FIELDS = {
    "system": (str, True), "script": (str, False), "args": (list, False), "env": (dict, False),
    "make": (list, False),
}
EXTENSION_FIELDS = {"dir": (str, True), "args": (list, False)}
BOX_FIELDS = {"profile": (str, True), "gems": (list, False)}
PROFILE_FIELDS = {"base": (str, False), "extensions": (list, False), "libraries": (list, False),
                  "suites": (list, False), "bundled_gems": (bool, False)}


@dataclass(frozen=True)
class DebianSource:
    package: str
    suite: str
    file: str


@dataclass(frozen=True)
class NpmSource:
    """A package's tarball at the npm registry the machine is configured with."""
    package: str  # e.g. @scope/name
    version: str

    @property
    def tarball(self) -> str:
        return f"{self.package.rsplit('/', 1)[-1]}-{self.version}.tgz"


def url_file_name(url: str) -> str:
    return Path(urlparse(url).path).name


@dataclass(frozen=True)
class Source:
    """One way to obtain one exact file: an upstream URL, a Debian source package or an npm package."""
    sha256: str
    url: str | None = None
    debian: DebianSource | None = None
    npm: NpmSource | None = None
    platform: str | None = None
    note: str = ""
    root: str = ""  # the component's directory inside the unpacked file, when not its top directory

    @property
    def filename(self) -> str:
        if self.debian:
            return self.debian.file
        if self.npm:
            return self.npm.tarball
        assert self.url
        return url_file_name(self.url)


@dataclass(frozen=True)
class BuildSpec:
    """How a C library is configured and built. Strings may name {prefix} (the install prefix),
    {cflags} (the CFLAGS every library gets) and {<dependency>} (a dependency's prefix)."""
    system: str  # configure: a configure script run in the tree, then make; cmake
    script: str = "configure"
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    make: tuple[str, ...] = ("install",)


@dataclass(frozen=True)
class Extension:
    """A gem's C extension: the directory holding its extconf.rb, and the arguments extconf.rb
    gets; {<library>} names a library recipe's install prefix."""
    dir: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Profile:
    """The extensions statically linked into one ruby.wasm, and the C libraries they need."""
    extensions: tuple[str, ...]
    libraries: tuple[str, ...] = ()
    # the suites the nightly verifies it with; None: all of them (toolchain.suites.RUBY_SUITES)
    suites: tuple[str, ...] | None = None
    # whether it has the series' bundled gems and Ruby's commands, as `make install` installs them
    bundled_gems: bool = False


@dataclass(frozen=True)
class BoxSpec:
    """A box the nightly builds of a Ruby series: a profile and the gems prelinked into it."""
    profile: str
    gems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recipe:
    path: Path
    name: str
    kind: str
    version: str
    description: str
    sources: tuple[Source, ...]
    verifiable: bool = True
    series: str = ""
    facts: dict[str, str] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)
    build: BuildSpec | None = None
    deps: tuple[str, ...] = ()
    ruby_configure: tuple[str, ...] = ()  # what CRuby's configure needs to find this library
    libraries: tuple[str, ...] = ()  # C library recipes a gem's extension links
    extension: Extension | None = None
    ruby_profile: str = ""  # the profile of the ruby.wasm a gem is prelinked into
    boxes: tuple[BoxSpec, ...] = ()  # the boxes the nightly builds of a Ruby series

    def sources_for(self, platform: str | None) -> list[Source]:
        return [s for s in self.sources if s.platform in (None, platform)]

    def profile(self, name: str) -> Profile:
        if name not in self.profiles:
            raise UserError(f"Recipe {self.path} has no profile '{name}'. Profiles: {', '.join(self.profiles)}.")
        return self.profiles[name]


def _fail(path: Path, where: str, problem: str, fix: str) -> UserError:
    return UserError(f"Recipe {path}: field '{where}' {problem}. {fix}")


def _check_table(path: Path, table: dict[str, Any], spec: dict, where: str) -> None:
    for key in table:
        if key not in spec:
            raise _fail(path, f"{where}{key}", "is not a known field",
                        f"Known fields here: {', '.join(sorted(spec))}.")
    for key, (kind, required) in spec.items():
        if key not in table:
            if required:
                raise _fail(path, f"{where}{key}", "is missing", "Add it.")
            continue
        if not isinstance(table[key], kind):
            raise _fail(path, f"{where}{key}", f"must be a {kind.__name__}",
                        f"It is a {type(table[key]).__name__}.")


def _parse_source(path: Path, raw: Any, index: int) -> Source:
    where = f"source[{index}]."
    if not isinstance(raw, dict):
        raise _fail(path, f"source[{index}]", "must be a table", "Write it as [[source]].")
    _check_table(path, raw, SOURCE_FIELDS, where)
    if not SHA256_RE.match(raw["sha256"]):
        raise _fail(path, where + "sha256", f"is not 64 lowercase hex digits ({raw['sha256']!r})",
                    "Paste the file's full sha256 digest.")
    if sum(kind in raw for kind in ("url", "debian", "npm")) != 1:
        raise _fail(path, where + "url", "'debian' and 'npm': not exactly one of them is present",
                    "Give exactly one of them.")
    debian = npm = None
    if "debian" in raw:
        _check_table(path, raw["debian"], DEBIAN_FIELDS, where + "debian.")
        debian = DebianSource(**raw["debian"])
    elif "npm" in raw:
        _check_table(path, raw["npm"], NPM_FIELDS, where + "npm.")
        npm = NpmSource(**raw["npm"])
    elif urlparse(raw["url"]).scheme not in ("http", "https", "file"):
        raise _fail(path, where + "url", f"is not an http(s) or file URL ({raw['url']!r})",
                    "Give the full download URL.")
    root = raw.get("root", "")
    if root.startswith("/") or ".." in Path(root).parts:
        raise _fail(path, where + "root", f"must be a relative path inside the file ({root!r})",
                    "Write it as the directory's path inside the unpacked archive.")
    return Source(sha256=raw["sha256"], url=raw.get("url"), debian=debian, npm=npm,
                  platform=raw.get("platform"), note=raw.get("note", ""), root=root)


def _string_list(path: Path, where: str, value: list) -> tuple[str, ...]:
    if not all(isinstance(item, str) for item in value):
        raise _fail(path, where, "must be a list of strings", 'Write it as ["a", "b"].')
    return tuple(value)


def _parse_profiles(path: Path, raw: dict[str, Any]) -> dict[str, Profile]:
    """Profiles are tables; `base` names a profile whose extensions and libraries this one extends."""
    profiles: dict[str, Profile] = {}
    for name, table in raw.items():
        where = f"profiles.{name}"
        if not isinstance(table, dict):
            raise _fail(path, where, "must be a table", f"Write it as [profiles.{name}] with extensions = [...].")
        _check_table(path, table, PROFILE_FIELDS, where + ".")
        base = Profile(())
        if "base" in table:
            if table["base"] not in profiles:
                raise _fail(path, where + ".base", f"names '{table['base']}', which is not defined above it",
                            f"Defined so far: {', '.join(profiles) or 'none'}.")
            base = profiles[table["base"]]
        profiles[name] = Profile(
            base.extensions + _string_list(path, where + ".extensions", table.get("extensions", [])),
            base.libraries + _string_list(path, where + ".libraries", table.get("libraries", [])),
            _string_list(path, where + ".suites", table["suites"]) if "suites" in table else None,
            table.get("bundled_gems", base.bundled_gems))
    return profiles


def _parse_build(path: Path, raw: dict[str, Any]) -> BuildSpec:
    _check_table(path, raw, BUILD_FIELDS, "build.")
    if raw["system"] not in BUILD_SYSTEMS:
        raise _fail(path, "build.system", f"is {raw['system']!r}", f"Use one of: {', '.join(BUILD_SYSTEMS)}.")
    env = raw.get("env", {})
    if not all(isinstance(value, str) for value in env.values()):
        raise _fail(path, "build.env", "must map names to strings", 'Write it as { CFLAGS = "-O2" }.')
    return BuildSpec(system=raw["system"], script=raw.get("script", "configure"),
                     args=_string_list(path, "build.args", raw.get("args", [])),
                     env=tuple(sorted(env.items())),
                     make=_string_list(path, "build.make", raw.get("make", ["install"])))


def _parse_boxes(path: Path, raw: list, profiles: dict[str, Profile]) -> tuple[BoxSpec, ...]:
    boxes = []
    for index, table in enumerate(raw):
        where = f"box[{index}]"
        if not isinstance(table, dict):
            raise _fail(path, where, "must be a table", 'Write it as [[box]] with profile = "full".')
        _check_table(path, table, BOX_FIELDS, where + ".")
        if table["profile"] not in profiles:
            raise _fail(path, where + ".profile", f"names '{table['profile']}', which is not a profile of this recipe",
                        f"Profiles: {', '.join(profiles)}.")
        boxes.append(BoxSpec(table["profile"], _string_list(path, where + ".gems", table.get("gems", []))))
    return tuple(boxes)


def _parse_extension(path: Path, raw: dict[str, Any]) -> Extension:
    _check_table(path, raw, EXTENSION_FIELDS, "extension.")
    return Extension(dir=raw["dir"], args=_string_list(path, "extension.args", raw.get("args", [])))


def _check_kind_fields(path: Path, raw: dict[str, Any]) -> None:
    for name, kinds in KIND_FIELDS.items():
        if name in raw and raw["kind"] not in kinds:
            raise _fail(path, name, f"belongs in {' and '.join(kinds)} recipes, not in a {raw['kind']} recipe",
                        "Remove it, or fix the recipe's kind.")
    if raw["kind"] == "library" and "build" not in raw:
        raise _fail(path, "build", "is missing", "Give a library a [build] table with its build system.")


_LOADED: dict[tuple[Path, str], Recipe] = {}


def load_recipe(path: Path) -> Recipe:
    """The recipe in a file, parsed and checked once per content: planning a product reads its
    recipes many times."""
    try:
        text = path.read_text()
    except UnicodeDecodeError as error:
        raise UserError(f"Recipe {path} is not valid TOML: {error}. Fix the syntax.") from None
    if (path, text) not in _LOADED:
        _LOADED[path, text] = _parse_recipe(path, text)
    return _LOADED[path, text]


def _parse_recipe(path: Path, text: str) -> Recipe:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"Recipe {path} is not valid TOML: {error}. Fix the syntax.") from None
    _check_table(path, raw, TOP_FIELDS, "")
    if raw["kind"] not in KINDS:
        raise _fail(path, "kind", f"is {raw['kind']!r}", f"Use one of: {', '.join(KINDS)}.")
    if not VERSION_RE.match(raw["version"]):
        raise _fail(path, "version", f"is not a dotted version ({raw['version']!r})",
                    "Write it as digits and dots, e.g. 3.3.8.")
    if not raw["source"]:
        raise _fail(path, "source", "is empty", "Give at least one [[source]].")
    _check_kind_fields(path, raw)
    profiles = _parse_profiles(path, raw.get("profiles", {}))
    return Recipe(
        path=path, name=raw["name"], kind=raw["kind"], version=raw["version"],
        description=raw["description"], verifiable=raw.get("verifiable", True),
        series=raw.get("series", ""),
        sources=tuple(_parse_source(path, s, i) for i, s in enumerate(raw["source"])),
        facts={k: str(v) for k, v in raw.get("facts", {}).items()},
        profiles=profiles, boxes=_parse_boxes(path, raw.get("box", []), profiles),
        build=_parse_build(path, raw["build"]) if "build" in raw else None,
        deps=_string_list(path, "deps", raw.get("deps", [])),
        ruby_configure=_string_list(path, "ruby_configure", raw.get("ruby_configure", [])),
        libraries=_string_list(path, "libraries", raw.get("libraries", [])),
        extension=_parse_extension(path, raw["extension"]) if "extension" in raw else None,
        ruby_profile=raw.get("ruby_profile", ""),
    )


def recipe_path(name: str) -> Path:
    return RECIPES_DIR / f"{name}.toml"


def load(name: str) -> Recipe:
    path = recipe_path(name)
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in RECIPES_DIR.glob("*.toml")))
        raise UserError(f"No recipe named '{name}' (looked for {path}). Known recipes: {known}.")
    return load_recipe(path)


def load_kind(name: str, kind: str) -> Recipe:
    recipe = load(name)
    if recipe.kind != kind:
        raise _fail(recipe.path, "kind", f"is {recipe.kind!r}", f"This recipe is used as kind = \"{kind}\".")
    return recipe


def with_deps(names: Iterable[str], kind: str) -> list[Recipe]:
    """The named recipes of one kind and, transitively, those they depend on (deps): each loaded,
    so validated, once."""
    loaded: dict[str, Recipe] = {}
    wanted = list(names)
    while wanted:
        name = wanted.pop()
        if name not in loaded:
            loaded[name] = load_kind(name, kind)
            wanted.extend(loaded[name].deps)
    return list(loaded.values())


def load_all() -> tuple[list[Recipe], list[UserError]]:
    """Every recipe that loads, and the error of each one that does not."""
    loaded, broken = [], []
    for path in sorted(RECIPES_DIR.glob("*.toml")):
        try:
            loaded.append(load_recipe(path))
        except UserError as error:
            broken.append(error)
    return loaded, broken


def names_of_kind(kind: str) -> list[str]:
    """The recipes of one kind, by name, sorted."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml") if load_recipe(p).kind == kind)


def ruby_recipe(series: str) -> Recipe:
    """The recipe for a Ruby series such as '3.3' (file recipes/ruby-3.3.toml)."""
    return load_kind(f"ruby-{series}", "ruby")
