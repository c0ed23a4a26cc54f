"""Pinned inputs that age (doit outdated): does each source still list the pinned file, and what
does it offer now; with --update NAME, the offered file fetched, verified and pinned for review.

A Debian source is asked through apt, in the private apt state (debian.indexed_files): is the
pinned file in the suite's signed index, and if not, does the archive's pool still serve it? A
stable update moves the index on while the pool keeps the old file for a while, not for ever.
An upstream URL is asked with a HEAD request and a short timeout; no answer is a status, not an
error. What newer version an upstream host offers is not asked: every host says it differently.

Nothing here changes a pin unless --update names the recipe; then the recipe moves to the upstream
version of what its Debian source offers, each source's new file is fetched and verified (a Debian
file against the index's sha256; an upstream file against the Debian file, where the recipe pinned
the two as one file), the recipe and the lock are rewritten, and every change is printed.
"""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import SourceUnavailable, UserError
from ..steps import write_atomic
from . import debian, fetch, lock, npm, recipe
from .recipe import VERSION_RE, DebianSource, Recipe, Source

UPSTREAM_TIMEOUT = 5
# <package>_<version>.orig.tar.<ext>, <package>_<version>.dsc, <package>_<version>_<arch>.deb
DEBIAN_FILE_RE = re.compile(r"^[^_]+_(?P<version>[^_]+?)(?P<kind>\.orig\.tar\.\w+|\.dsc|_[^_]+\.deb)$")
BINNMU_RE = re.compile(r"\+b\d+$")  # a binary-only rebuild of the same source version


@dataclass(frozen=True)
class Finding:
    """One row of the table: what one source says about its pinned file."""
    recipe: str
    source: str  # "upstream", "debian <suite>"
    pinned: str
    offered: str
    status: str
    unlisted: bool = False  # a Debian index no longer lists the pinned file

    @property
    def cells(self) -> tuple[str, str, str, str]:
        return f"{self.recipe} ({self.source})", self.pinned, self.offered, self.status


def debian_version(file: str) -> tuple[str, str]:
    """(version, kind) of a Debian file name: kind is '.orig', '.dsc' or '.deb'."""
    match = DEBIAN_FILE_RE.match(file)
    if not match:
        return "", ""
    kind = match["kind"]
    return match["version"], ".orig" if kind.startswith(".orig") else kind[-4:]


def upstream_version(version: str) -> str:
    """The upstream version within a Debian one: 3.5.9 of 3.5.9-1, 1.3.1 of 1.3.dfsg+really1.3.1
    (a repack that went back to 1.3.1)."""
    match = re.match(r"\d+(?:\.\d+)*", version.rsplit("really", 1)[-1])
    return match.group() if match else ""


def offered_file(files: dict[str, debian.IndexedFile], kind: str) -> str:
    """The index's file of the pinned file's kind: the orig tarball, or for a .deb the .dsc of the
    source it is built from."""
    wanted = ".dsc" if kind == ".deb" else kind
    return next((name for name in sorted(files) if debian_version(name)[1] == wanted), "")


def _head(url: str) -> int | str:
    """The HTTP status a HEAD request gets, or the kind of error if no answer comes in time."""
    import requests  # here, not at the top: importing it costs every doit run

    try:
        return requests.head(url, timeout=UPSTREAM_TIMEOUT, allow_redirects=True).status_code
    except requests.RequestException as error:
        return type(error).__name__


def _pool_status(source: DebianSource) -> str:
    answer = _head(debian.pool_url(debian.machine_archive().uri, source.package, source.file))
    if isinstance(answer, str):
        return f"the pool did not answer ({answer})"
    return "the pool still serves it" if answer == 200 else f"the pool no longer serves it (HTTP {answer})"


def check_debian(name: str, source: DebianSource, files: dict[str, debian.IndexedFile]) -> Finding:
    pinned, kind = debian_version(source.file)
    offered = debian_version(offered_file(files, kind))[0] or "-"
    where = f"debian {source.suite}"
    if source.file in files:
        return Finding(name, where, pinned, offered, f"listed by {source.suite}'s index")
    if kind == ".deb" and BINNMU_RE.sub("", pinned) == offered:
        return Finding(name, where, pinned, offered, f"built from the source {source.suite}'s index lists")
    return Finding(name, where, pinned, offered, f"not in {source.suite}'s index any more; {_pool_status(source)}",
                   unlisted=True)


def check_upstream(name: str, version: str, source: Source) -> Finding:
    """Whether the pinned URL (an npm package's: at the configured registry) still serves the file."""
    where = " ".join(filter(None, ["npm" if source.npm else "upstream", source.platform]))
    try:
        answer = _head(npm.tarball_url(source.npm) if source.npm else source.url)  # type: ignore[arg-type]
    except SourceUnavailable as error:
        answer = str(error)
    if isinstance(answer, str):
        return Finding(name, where, version, "-", f"unreachable ({answer})")
    if answer == 200:
        return Finding(name, where, version, "-", "answers (HTTP 200)")
    return Finding(name, where, version, "-", f"HTTP {answer}: the pinned URL does not serve the file")


def findings() -> tuple[list[Finding], list[UserError]]:
    """Every pinned input's row, recipe by recipe, and the recipes that do not load."""
    recipes, broken = recipe.load_all()
    indexes: dict[tuple[str, str], dict[str, debian.IndexedFile] | Exception] = {}
    with ThreadPoolExecutor(8) as pool:
        upstream = {source: pool.submit(check_upstream, loaded.path.stem, loaded.version, source)
                    for loaded in recipes for source in loaded.sources if not source.debian}
        # apt serves one caller at a time: the Debian sources are asked in turn, meanwhile
        rows = [_debian_row(loaded.path.stem, source, indexes) if source.debian else upstream[source].result()
                for loaded in recipes for source in loaded.sources]
    return rows, broken


def _debian_row(name: str, source: Source,
                indexes: dict[tuple[str, str], dict[str, debian.IndexedFile] | Exception]) -> Finding:
    """What the suite's index says of the source, asking apt once per suite and package."""
    assert source.debian
    key = (source.debian.suite, source.debian.package)
    if key not in indexes:
        try:
            indexes[key] = debian.indexed_files(*key)
        except (UserError, SourceUnavailable) as error:
            indexes[key] = error
    files = indexes[key]
    if isinstance(files, Exception):
        return Finding(name, f"debian {key[0]}", debian_version(source.debian.file)[0], "-", f"apt failed: {files}")
    return check_debian(name, source.debian, files)


def table(rows: list[Finding]) -> str:
    lines = [("input", "pinned", "offered", "status"), *(row.cells for row in rows)]
    widths = [max(len(line[column]) for line in lines) for column in range(3)]
    return "\n".join("  ".join([*(cell.ljust(width) for cell, width in zip(line, widths)), line[3]]) for line in lines)


def report() -> str:
    """The table, and a line per recipe whose pinned file a source no longer lists."""
    rows, broken = findings()
    lines = [table(rows), *(f"warning: {error}" for error in broken)]
    for row in rows:
        if row.unlisted:
            lines.append(f"{row.recipe}: {row.source} no longer lists the pinned file; `doit outdated --update "
                         f"{row.recipe}` pins what it offers ({row.offered}) for review.")
    return "\n".join(lines)


# --- --update NAME ------------------------------------------------------------------------------

@dataclass(frozen=True)
class NewPin:
    """One source of a recipe moved to a newer file: what changes in the recipe's text."""
    index: int
    old: Source
    new: Source

    def changes(self) -> list[tuple[str, str, str]]:
        """(field, old value, new value) for each field that changes."""
        fields = [("sha256", self.old.sha256, self.new.sha256)]
        if self.old.url:
            fields.append(("url", self.old.url, self.new.url or ""))
        else:
            assert self.old.debian and self.new.debian
            fields.append(("debian.file", self.old.debian.file, self.new.debian.file))
        return [(f"source[{self.index}].{field}", old, new) for field, old, new in fields if old != new]


def _newer_debian_pin(name: str, index: int, source: Source) -> tuple[NewPin, str] | None:
    """The source moved to the orig tarball its suite's index lists now, fetched and verified against
    the index's sha256, and that file's upstream version; None if the index still lists the pinned file."""
    assert source.debian
    files = debian.indexed_files(source.debian.suite, source.debian.package)
    if not check_debian(name, source.debian, files).unlisted:
        return None
    offered = offered_file(files, ".orig")
    if debian_version(source.debian.file)[1] != ".orig" or not offered:
        raise UserError(f"Recipe {recipe.recipe_path(name)}: source[{index}] pins {source.debian.file!r}, which is not "
                        f"an orig tarball the index offers a newer one of, so --update cannot tell which file "
                        "replaces it. Update it by hand.")
    new = replace(source, sha256=files[offered].sha256, debian=replace(source.debian, file=offered))
    try:
        fetch.fetch_source(new)
    except SourceUnavailable as error:
        raise _not_fetched(name, index, files[offered].url, error) from None
    return NewPin(index, source, new), upstream_version(debian_version(offered)[0])


def _not_fetched(name: str, index: int, url: str, error: SourceUnavailable) -> UserError:
    return UserError(f"--update {name}: source[{index}]'s new file {url} could not be fetched ({error}), so it "
                     "cannot be pinned. Nothing was changed. Run again where it is reachable, or remove that "
                     "source from the recipe.")


def _newer_url_pin(name: str, index: int, source: Source, old_version: str, version: str,
                   debian_pins: list[NewPin]) -> NewPin:
    """The source's URL with the new version, fetched; where the recipe pinned it as the same file
    as a Debian source, the new file must be the same as that source's new one too."""
    assert source.url
    url = re.sub(rf"(?<![\d.]){re.escape(old_version)}(?!\.?\d)", version, source.url)
    if url == source.url:
        raise UserError(f"Recipe {recipe.recipe_path(name)}: source[{index}].url does not name version "
                        f"{old_version}, so --update cannot tell the new one. Update it by hand.")
    try:
        digest, _ = fetch.fetch_unpinned(url)
    except SourceUnavailable as error:
        raise _not_fetched(name, index, url, error) from None
    twins = [pin for pin in debian_pins if pin.old.sha256 == source.sha256]
    if any(pin.new.sha256 != digest for pin in twins):
        raise UserError(f"--update {name}: {url} (sha256 {digest}) differs from {twins[0].new.filename}, though the "
                        f"recipe pins source[{index}] and source[{twins[0].index}] as the same file. Nothing was "
                        "changed; compare the two files before pinning either.")
    return NewPin(index, source, replace(source, url=url, sha256=digest))


def _rewritten(text: str, path: Path, old_version: str, version: str, pins: list[NewPin]) -> str:
    """The recipe's text with the new version and pins, everything else (comments, layout) kept."""
    text, count = re.subn(rf'^(version\s*=\s*"){re.escape(old_version)}"', rf'\g<1>{version}"', text,
                          count=1, flags=re.MULTILINE)
    if count != 1:
        raise UserError(f"Recipe {path}: no line 'version = \"{old_version}\"', so --update cannot rewrite it. "
                        "Update it by hand.")
    blocks = re.split(r"(?m)^(?=\[)", text)  # the top fields, then one block per table header
    sources = [i for i, block in enumerate(blocks) if block.startswith("[[source]]")]
    for pin in pins:
        block = blocks[sources[pin.index]]
        for field, old, new in pin.changes():
            if block.count(f'"{old}"') != 1:
                raise UserError(f"Recipe {path}: cannot find {field} = {old!r} once in its [[source]] block, so "
                                "--update cannot rewrite it. Update it by hand.")
            block = block.replace(f'"{old}"', f'"{new}"')
        blocks[sources[pin.index]] = block
    return "".join(blocks)


def _write_recipe(loaded: Recipe, version: str, pins: list[NewPin]) -> None:
    """Write the new recipe in one step, once it loads with exactly the new version and pins."""
    candidate = loaded.path.with_name(f".{loaded.path.name}.new")
    candidate.write_text(_rewritten(loaded.path.read_text(), loaded.path, loaded.version, version, pins))
    try:
        expected = list(loaded.sources)
        for pin in pins:
            expected[pin.index] = pin.new
        rewritten = recipe.load_recipe(candidate)
        if rewritten.version != version or list(rewritten.sources) != expected:
            raise UserError(f"Recipe {loaded.path}: --update could not rewrite it as intended. Update it by hand.")
        candidate.replace(loaded.path)
    finally:
        candidate.unlink(missing_ok=True)


def _one_version(name: str, versions: set[str]) -> str:
    if len(versions) != 1 or not VERSION_RE.match(version := next(iter(versions))):
        raise UserError(f"--update {name}: its Debian sources offer upstream versions {sorted(versions)}; one "
                        "dotted version is needed. Update the recipe by hand.")
    return version


def update(name: str) -> list[str]:
    """Pin recipe NAME to the upstream version its Debian sources offer now, in the recipe and the
    lock; return each change (none when every source is current)."""
    loaded = recipe.load(name)
    offers = [offer for index, source in enumerate(loaded.sources)
              if source.debian and (offer := _newer_debian_pin(name, index, source))]
    if not offers:
        return []
    version = _one_version(name, {offered for _, offered in offers})
    debian_pins = [pin for pin, _ in offers]
    url_pins = [_newer_url_pin(name, index, source, loaded.version, version, debian_pins)
                for index, source in enumerate(loaded.sources) if source.url]
    pins = sorted(debian_pins + url_pins, key=lambda pin: pin.index)
    original = loaded.path.read_bytes()
    _write_recipe(loaded, version, pins)
    try:
        locked = lock.record_recipe(name)
    except BaseException:
        write_atomic(loaded.path, original)  # the recipe and the lock change together or not at all
        raise
    return [f"{loaded.path}: version: {loaded.version} -> {version}",
            *(f"{loaded.path}: {field}: {old} -> {new}" for pin in pins for field, old, new in pin.changes()),
            *(f"{lock.LOCK_FILE}: {line}" for line in locked)]
