"""Fetching into a content-addressed store: nothing enters it unverified.

A file lives at store/<sha256>/<name> only after its digest matched the recipe.
Downloads stream into partial/, survive interruption (the next run resumes with a
Range request) and are renamed into the store in one step. One process downloads a file at a
time: another that wants the same file waits for it, then takes it from the store.
"""
from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..digests import file_identity, settled, sha256_file
from ..errors import SourceUnavailable, UserError
from ..locks import held
from ..paths import cache_dir
from ..steps import say, write_atomic
from . import debian, npm
from .recipe import Recipe, Source, url_file_name

if TYPE_CHECKING:
    import requests

MIRROR_ENV = "RUBY_WASM_MIRROR"
TIMEOUT = (10, 60)
DOWNLOAD_CHUNK = 1 << 16  # small enough that a dropped connection loses little of the partial file


def store_path(source: Source) -> Path:
    return cache_dir("store") / source.sha256 / source.filename


def partial_path(source: Source) -> Path:
    return cache_dir("partial") / f"{source.sha256}-{source.filename}.part"


def verified_in_store(source: Source) -> Path | None:
    """The stored file, checked again; a stored file that no longer matches is refused, not replaced.
    The hash is skipped while the file is as it was when it last matched (size, mtime, inode in a
    stamp beside it), as git skips unchanged files; a file changed within a second of being
    hashed gets no stamp, so a change that keeps its size and mtime tick is still caught."""
    path = store_path(source)
    if not path.exists():
        return None
    stamp = path.with_name(f".{path.name}.verified")
    if stamp.exists() and stamp.read_text() == file_identity(path.stat()):
        return path
    actual = sha256_file(path)
    if actual != source.sha256:
        raise UserError(
            f"Cached file {path} is corrupt: expected sha256 {source.sha256}, actual {actual}. "
            f"It was left as it is; delete it and run again to download it afresh."
        )
    if settled(path.stat().st_mtime_ns):
        write_atomic(stamp, file_identity(path.stat()).encode())
    return path


def _session() -> requests.Session:
    import requests  # here, not at the top: a no-op doit run downloads nothing
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(total=2, backoff_factor=0.5, status_forcelist=(500, 502, 503, 504),
                  allowed_methods=("GET", "HEAD"))
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


class _Progress:
    """A one-line download meter: redrawn in place on a terminal, every few seconds in a log."""

    def __init__(self, name: str, total: int | None, done: int) -> None:
        self.name, self.total, self.done = name, total, done
        self.started = self.last = time.monotonic()
        self.interactive = sys.stderr.isatty()

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.last >= (0.2 if self.interactive else 5):
            self.last = now
            self._draw(end="\r" if self.interactive else "\n")

    def _draw(self, end: str) -> None:
        rate = self.done / max(time.monotonic() - self.started, 1e-3) / 1e6
        total = f"/{self.total / 1e6:.1f}" if self.total else ""
        percent = f"{100 * self.done / self.total:3.0f}% " if self.total else ""
        print(f"    {self.name} {percent}{self.done / 1e6:.1f}{total} MB {rate:.1f} MB/s",
              end=end, file=sys.stderr, flush=True)

    def finish(self) -> None:
        self._draw(end="\n")


def _download(url: str, partial: Path, name: str) -> None:
    """Fetch url into partial, continuing from what an interrupted run left there."""
    import requests

    have = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with _session().get(url, stream=True, timeout=TIMEOUT, headers=headers) as response:
            if response.status_code == 416:  # the partial file is already complete
                return
            if response.status_code not in (200, 206):
                raise SourceUnavailable(f"HTTP {response.status_code}")
            if response.status_code == 200:
                have = 0
            length = response.headers.get("Content-Length")
            progress = _Progress(name, have + int(length) if length else None, have)
            with partial.open("ab" if have else "wb") as out:
                for chunk in response.iter_content(DOWNLOAD_CHUNK):
                    out.write(chunk)
                    progress.advance(len(chunk))
            progress.finish()
    except requests.RequestException as error:
        raise SourceUnavailable(type(error).__name__ + ": " + str(error)[:200]) from None


def candidate_urls(source: Source) -> Iterable[tuple[str, Callable[[], str]]]:
    """(label, url-getter) pairs in the order tried: upstream, user mirror, then Debian."""
    if source.url:
        yield "upstream", lambda: source.url
        mirror = os.environ.get(MIRROR_ENV)
        if mirror:
            yield "mirror", lambda: mirror.rstrip("/") + "/" + source.filename
    if source.debian:
        yield f"debian:{source.debian.package}", lambda: debian.source_url(source.debian)
    if source.npm:
        yield f"npm:{source.npm.package}", lambda: npm.tarball_url(source.npm)


def fetch_source(source: Source) -> Path:
    """Return the verified file for source, downloading it if the store lacks it."""
    stored = verified_in_store(source)
    if stored:
        return stored
    with held(partial_path(source), f"another download of {source.filename}"):
        return verified_in_store(source) or _download_from_first_answering(source)


def _download_from_first_answering(source: Source) -> Path:
    failures = []
    for label, get_url in candidate_urls(source):
        try:
            return _fetch_url(get_url(), source)
        except SourceUnavailable as error:
            failure = SourceUnavailable(f"{label}: {error}", error.network)
        except UserError as error:
            failure = SourceUnavailable(f"{label}: {error}", network=False)
        failures.append(failure)
        say(f"    {source.filename}: {failure}; trying the next source")
    raise SourceUnavailable("; ".join(map(str, failures)) or "no source listed",
                            network=all(failure.network for failure in failures))


def _fetch_url(url: str, source: Source) -> Path:
    partial = partial_path(source)
    say(f"    fetching {source.filename} from {url}")
    _download(url, partial, source.filename)
    actual = sha256_file(partial)
    if actual != source.sha256:
        partial.unlink()
        raise UserError(
            f"Refused {url}: expected sha256 {source.sha256}, actual {actual}. "
            "Nothing was stored; check the recipe's sha256 or the source."
        )
    return _into_store(partial, source.sha256, source.filename)


def _into_store(partial: Path, sha256: str, name: str) -> Path:
    """Move a whole, checked download into the store, in one step."""
    final = cache_dir("store") / sha256 / name
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, final)
    return final


def fetch_unpinned(url: str) -> tuple[str, Path]:
    """Download a file that no recipe pins yet (a newer version, for `doit outdated --update`) and
    store it under the digest it turns out to have: (sha256, stored file). Whether to pin that
    digest is the caller's decision."""
    name = url_file_name(url)
    partial = cache_dir("partial") / f"unpinned-{hashlib.sha256(url.encode()).hexdigest()[:16]}-{name}.part"
    with held(partial, f"another download of {name}"):
        say(f"    fetching {name} from {url}")
        _download(url, partial, name)
        digest = sha256_file(partial)
        return digest, _into_store(partial, digest, name)


def first_in_store(recipe: Recipe, platform: str | None = None) -> tuple[Source, Path] | None:
    """The first of the recipe's sources already verified in the store; no network."""
    for source in recipe.sources_for(platform):
        stored = verified_in_store(source)
        if stored:
            return source, stored
    return None


def fetch_recipe(recipe: Recipe, platform: str | None = None) -> tuple[Source, Path]:
    """The first of the recipe's sources that is stored or can be fetched, with its verified file."""
    candidates = recipe.sources_for(platform)
    if not candidates:
        raise UserError(f"Recipe {recipe.path} has no [[source]] for platform '{platform}'. "
                        "Add one, or choose another toolchain provider.")
    stored = first_in_store(recipe, platform)
    if stored:
        return stored
    failures: list[tuple[Source, SourceUnavailable]] = []
    for source in candidates:
        try:
            return source, fetch_source(source)
        except SourceUnavailable as error:
            failures.append((source, error))
    tried = " | ".join(f"{source.filename}: {str(error).rstrip('.')}" for source, error in failures)
    if all(error.network for _, error in failures):
        advice = (f"Connect to the network, set {MIRROR_ENV} to a mirror that holds these files, or "
                  "place a file with the pinned sha256 in the cache.")
    else:
        advice = ("Not every failure was the network's: do what the others say (they happened on "
                  "this machine or in the recipe), then run again.")
    raise UserError(f"Could not fetch any source of recipe {recipe.path} ({recipe.name} {recipe.version}). "
                    f"Tried: {tried}. {advice}")


def resolve(recipe: Recipe, fetch_missing: bool, platform: str | None = None) -> tuple[Source, Path] | None:
    """The recipe's verified file: fetched if need be, or with fetch_missing=False only what the
    store holds (None if nothing), for cheap checks that must not touch the network."""
    return fetch_recipe(recipe, platform) if fetch_missing else first_in_store(recipe, platform)
