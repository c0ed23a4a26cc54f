"""Debian's archive as a source of pinned inputs, found through the machine's own apt configuration.

The archive's address is never written here: it is read from the machine's apt sources,
so the same code works behind any mirror the machine is set up with.

apt runs with a private state per suite (cache/apt/<suite>/), one process at a time (its lock is
held by apt too). Its lists are updated once a run: a run that waited for another's update uses it.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ..errors import SourceUnavailable, UserError
from ..locks import held
from ..paths import cache_dir
from ..steps import run_guarded, say, write_atomic
from .recipe import DebianSource

APT_ETC = Path("/etc/apt")
OS_RELEASE = Path("/etc/os-release")
PRINT_URI_RE = re.compile(r"^'(?P<url>[^']+)' (?P<file>\S+) (?P<size>\d+) (?P<hash>\S+)$")
# The reasons apt gives when the network or the archive failed it, not this machine (an HTTP
# status: "404  Not Found"); its "Failed to fetch" precedes local reasons too ("Failed to stat").
APT_NETWORK_RE = re.compile(r"Could not resolve|Temporary failure resolving|Could not connect|Unable to connect|"
                            r"Connection (?:failed|timed out|refused)|Network is unreachable|No route to host|"
                            r"\b[45]\d\d\s+[A-Z]")
# What apt says when the recipe names what the archive does not have, and what to do then.
APT_RECIPE_PROBLEMS = (
    ("does not have a Release file", "The archive has no such suite: check the recipe's debian.suite."),
    ("Unable to find a source package", "The suite's index has no such source package: check the recipe's "
                                        "debian.package and debian.suite."),
)
RUN_STARTED = time.time()  # apt lists updated since then are fresh enough for this run


@dataclass(frozen=True)
class IndexedFile:
    """One file of a source package, as the suite's signed index lists it."""
    url: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ArchiveEntry:
    uri: str
    signed_by: str | None


def _codename() -> str:
    for line in OS_RELEASE.read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip('"')
    return ""


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas, current = [], {}
    for line in text.splitlines() + [""]:
        if not line.strip():
            if current:
                stanzas.append(current)
            current = {}
        elif not line.startswith("#") and ":" in line and not line[0].isspace():
            key, value = line.split(":", 1)
            current[key.strip().lower()] = value.strip()
    return stanzas


def _one_line_entries(text: str) -> list[tuple[list[str], str, str, str | None]]:
    """Parse `deb [opts] uri suite comps...` lines into (types, uri, suite, signed-by)."""
    entries = []
    for line in text.splitlines():
        words = shlex.split(line.split("#", 1)[0])
        if len(words) < 3 or words[0] not in ("deb", "deb-src"):
            continue
        kind, rest, signed_by = words[0], words[1:], None
        if rest[0].startswith("["):
            end = next((i for i, word in enumerate(rest) if word.endswith("]")), len(rest) - 1)
            options, rest = rest[: end + 1], rest[end + 1:]
            for option in " ".join(options).strip("[]").split():
                if option.startswith("signed-by="):
                    signed_by = option.split("=", 1)[1]
        if len(rest) >= 2:
            entries.append(([kind], rest[0], rest[1], signed_by))
    return entries


def machine_archive() -> ArchiveEntry:
    """The machine's main Debian archive: the `deb` entry for the release's own codename."""
    codename = _codename()
    candidates: list[tuple[list[str], str, str, str | None]] = []
    for path in sorted((APT_ETC / "sources.list.d").glob("*.sources")):
        for stanza in _deb822_stanzas(path.read_text()):
            if stanza.get("enabled", "yes").lower() == "no":
                continue
            for uri in stanza.get("uris", "").split():
                for suite in stanza.get("suites", "").split():
                    candidates.append((stanza.get("types", "").split(), uri, suite,
                                       stanza.get("signed-by")))
    for path in [APT_ETC / "sources.list", *sorted((APT_ETC / "sources.list.d").glob("*.list"))]:
        if path.exists():
            candidates.extend(_one_line_entries(path.read_text()))
    for types, uri, suite, signed_by in candidates:
        if "deb" in types and suite == codename:
            return ArchiveEntry(uri=uri, signed_by=signed_by)
    raise UserError(
        f"Could not find the machine's Debian archive in {APT_ETC}/sources.list or "
        f"{APT_ETC}/sources.list.d (looked for a 'deb' entry for suite '{codename}'). "
        "The Debian source path needs apt configured for a Debian release; use the upstream "
        "sources instead, or set RUBY_WASM_MIRROR to a mirror that holds the files."
    )


def deb_src_config(suite: str) -> str:
    archive = machine_archive()
    lines = ["Types: deb-src", f"URIs: {archive.uri}", f"Suites: {suite}", "Components: main"]
    if archive.signed_by:
        lines.append(f"Signed-By: {archive.signed_by}")
    return "\n".join(lines) + "\n"


def _apt_options(state: Path) -> list[str]:
    return [
        "-o", f"Dir::Etc::SourceList={state / 'deb-src.sources'}",
        "-o", "Dir::Etc::SourceParts=/dev/null",
        "-o", f"Dir::State::Lists={state / 'lists'}",
        "-o", f"Dir::Cache={state / 'cache'}",
        "-o", "Debug::NoLocking=1",
        "-o", "APT::Sandbox::User=root",
    ]


def _apt(state: Path, lock: int, *args: str) -> str:
    """Run apt-get on the private state, holding its lock; a failure names its real cause."""
    if not shutil.which("apt-get"):
        raise UserError("The Debian source path needs apt-get, which is not on PATH.")
    result = run_guarded(["apt-get", "-q", *_apt_options(state), *args], hold=[lock],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    said = f"{result.stdout}\n{result.stderr}"
    # apt-get update exits 0 when an index could not be downloaded, and warns
    if result.returncode == 0 and "Some index files failed to download" not in said:
        return result.stdout
    messages = result.stderr.strip()[-800:].rstrip(".")
    failed = f"apt-get {' '.join(args)} failed (exit {result.returncode}): {messages}"
    for symptom, cause in APT_RECIPE_PROBLEMS:
        if symptom in said:
            raise UserError(f"{failed}. {cause}")
    if APT_NETWORK_RE.search(said):
        raise SourceUnavailable(failed)
    raise UserError(f"{failed}. This went wrong in the private apt state {state}, not on the network: "
                    f"remove {state} and run again.")


def pool_url(archive_uri: str, package: str, file: str) -> str:
    """Where Debian's archive keeps a source package's file: pool/main/<prefix>/<package>/<file>,
    the prefix being the package's first letter, or its first four for lib* packages."""
    prefix = package[:4] if package.startswith("lib") else package[0]
    return f"{archive_uri.rstrip('/')}/pool/main/{prefix}/{package}/{quote(file)}"


def _lists_fresh(state: Path) -> bool:
    stamp = state / "updated"
    return stamp.exists() and float(stamp.read_text()) >= RUN_STARTED


def _update_lists(state: Path, suite: str, lock: int) -> None:
    """Update the suite's lists unless this run, or one that ran meanwhile, already did."""
    config = deb_src_config(suite).encode()
    sources = state / "deb-src.sources"
    if sources.exists() and sources.read_bytes() == config and _lists_fresh(state):
        return
    (state / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (state / "cache").mkdir(exist_ok=True)
    write_atomic(sources, config)
    say(f"    updating apt's lists for {suite} (in {state})")
    _apt(state, lock, "update")
    write_atomic(state / "updated", str(time.time()).encode())


def indexed_files(suite: str, package: str) -> dict[str, IndexedFile]:
    """The source package's files as the suite's deb-src index lists them now, by file name."""
    state = cache_dir("apt", suite)
    with held(state, f"another use of the apt state for {suite}") as lock:
        _update_lists(state, suite, lock)
        listing = _apt(state, lock, "--print-uris", "source", package)
    files = {}
    for match in filter(None, map(PRINT_URI_RE.match, map(str.strip, listing.splitlines()))):
        algorithm, _, digest = match["hash"].partition(":")
        files[match["file"]] = IndexedFile(match["url"], int(match["size"]), digest if algorithm == "SHA256" else "")
    return files


def source_url(source: DebianSource) -> str:
    """Ask apt, with a deb-src list for the recipe's suite, where the recipe's file lives. A stable
    update can move the suite's index to a newer version while the archive's pool still holds the
    pinned file, so a file the index no longer lists is looked for at its pool path; the pinned
    sha256 decides either way."""
    files = indexed_files(source.suite, source.package)
    if source.file in files:
        return files[source.file].url
    say(f"    {source.file}: not in {source.suite}'s index now (it lists "
        f"{', '.join(sorted(f for f in files if '.orig.' in f)) or 'no orig tarball'}); trying the pool path")
    return pool_url(machine_archive().uri, source.package, source.file)
