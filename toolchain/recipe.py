"""Recipes are data: one TOML file per component, validated on load.

Every error names the recipe file and the offending field, because the person who
reads it is editing that file.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .errors import UserError
from .paths import RECIPES_DIR

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
VERSION_RE = re.compile(r"^\d+(\.\d+){0,3}$")
KINDS = ("toolchain", "ruby")

# Allowed fields per table: name -> (python type, required).
TOP_FIELDS = {
    "name": (str, True), "kind": (str, True), "version": (str, True),
    "description": (str, True), "verifiable": (bool, False), "series": (str, False),
    "source": (list, True), "facts": (dict, False), "profiles": (dict, False),
    "baseruby": (str, False),
}
SOURCE_FIELDS = {
    "url": (str, False), "debian": (dict, False), "sha256": (str, True),
    "platform": (str, False), "note": (str, False),
}
DEBIAN_FIELDS = {"package": (str, True), "suite": (str, True), "file": (str, True)}


@dataclass(frozen=True)
class DebianSource:
    package: str
    suite: str
    file: str


@dataclass(frozen=True)
class Source:
    """One way to obtain one exact file: an upstream URL or a Debian source package."""
    sha256: str
    url: str | None = None
    debian: DebianSource | None = None
    platform: str | None = None
    note: str = ""

    @property
    def filename(self) -> str:
        if self.debian:
            return self.debian.file
        assert self.url
        return Path(urlparse(self.url).path).name


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
    profiles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    baseruby: str = ""  # oldest host Ruby that can drive this version's cross build

    def sources_for(self, platform: str | None) -> list[Source]:
        return [s for s in self.sources if s.platform in (None, platform)]


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
    if ("url" in raw) == ("debian" in raw):
        raise _fail(path, where + "url", "and 'debian' are both present or both absent",
                    "Give exactly one of them.")
    debian = None
    if "debian" in raw:
        _check_table(path, raw["debian"], DEBIAN_FIELDS, where + "debian.")
        debian = DebianSource(**raw["debian"])
    elif urlparse(raw["url"]).scheme not in ("http", "https", "file"):
        raise _fail(path, where + "url", f"is not an http(s) or file URL ({raw['url']!r})",
                    "Give the full download URL.")
    return Source(sha256=raw["sha256"], url=raw.get("url"), debian=debian,
                  platform=raw.get("platform"), note=raw.get("note", ""))


def _parse_profiles(path: Path, raw: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    profiles = {}
    for name, exts in raw.items():
        if not isinstance(exts, list) or not all(isinstance(e, str) for e in exts):
            raise _fail(path, f"profiles.{name}", "must be a list of extension names",
                        'Write it as name = ["json", "stringio"].')
        profiles[name] = tuple(exts)
    return profiles


def load_recipe(path: Path) -> Recipe:
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"Recipe {path} is not valid TOML: {error}. Fix the syntax.") from None
    _check_table(path, raw, TOP_FIELDS, "")
    if raw["kind"] not in KINDS:
        raise _fail(path, "kind", f"is {raw['kind']!r}", f"Use one of: {', '.join(KINDS)}.")
    if not VERSION_RE.match(raw["version"]):
        raise _fail(path, "version", f"is not a dotted version ({raw['version']!r})",
                    "Write it as digits and dots, e.g. 3.3.8.")
    if raw.get("baseruby") and not VERSION_RE.match(raw["baseruby"]):
        raise _fail(path, "baseruby", f"is not a dotted version ({raw['baseruby']!r})",
                    "Write the oldest usable host Ruby version, e.g. 3.0.")
    if not raw["source"]:
        raise _fail(path, "source", "is empty", "Give at least one [[source]].")
    return Recipe(
        path=path, name=raw["name"], kind=raw["kind"], version=raw["version"],
        description=raw["description"], verifiable=raw.get("verifiable", True),
        series=raw.get("series", ""),
        sources=tuple(_parse_source(path, s, i) for i, s in enumerate(raw["source"])),
        facts={k: str(v) for k, v in raw.get("facts", {}).items()},
        profiles=_parse_profiles(path, raw.get("profiles", {})),
        baseruby=raw.get("baseruby", ""),
    )


def recipe_path(name: str) -> Path:
    return RECIPES_DIR / f"{name}.toml"


def load(name: str) -> Recipe:
    path = recipe_path(name)
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in RECIPES_DIR.glob("*.toml")))
        raise UserError(f"No recipe named '{name}' (looked for {path}). Known recipes: {known}.")
    return load_recipe(path)


def ruby_recipe(series: str) -> Recipe:
    """The recipe for a Ruby series such as '3.3' (file recipes/ruby-3.3.toml)."""
    recipe = load(f"ruby-{series}")
    if recipe.kind != "ruby":
        raise _fail(recipe.path, "kind", f"is {recipe.kind!r}", "A Ruby recipe needs kind = \"ruby\".")
    return recipe
