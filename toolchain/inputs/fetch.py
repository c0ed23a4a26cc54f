"""Fetching into a content-addressed store: nothing enters it unverified.

A file lives at store/<sha256>/<name> only after its digest matched the recipe.
Downloads stream into partial/, survive interruption (the next run resumes with a
Range request) and are renamed into the store in one step. One process downloads a file at a
time: another that wants the same file waits for it, then takes it from the store.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from ..digests import file_identity, settled, sha256_file
from ..errors import SourceUnavailable, UserError
from ..locks import held
from ..paths import cache_dir
from ..steps import say, write_atomic
from ..binary_cache import remote as binary_cache_remote
from . import debian, npm
from .download import download, shown
from .recipe import Recipe, Source, url_file_name

MIRROR_ENV = "RUBY_WASM_MIRROR"
STORE = "store"  # in the cache, and on a binary cache's server: <sha256>/<file name>


def stored_name(source: Source) -> str:
    """Where the store keeps a source, relative to the cache: also its path on a binary cache's server."""
    return f"{STORE}/{source.sha256}/{source.filename}"


def store_path(source: Source) -> Path:
    return cache_dir(STORE) / source.sha256 / source.filename


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
    say(f"    fetching {source.filename} from {shown(url)}")
    download(url, partial, source.filename)
    actual = sha256_file(partial)
    if actual != source.sha256:
        partial.unlink()
        raise UserError(
            f"Refused {shown(url)}: expected sha256 {source.sha256}, actual {actual}. "
            "Nothing was stored; check the recipe's sha256 or the source."
        )
    return _into_store(partial, source.sha256, source.filename)


def _into_store(partial: Path, sha256: str, name: str) -> Path:
    """Move a whole, checked download into the store, in one step."""
    final = cache_dir(STORE) / sha256 / name
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
        say(f"    fetching {name} from {shown(url)}")
        download(url, partial, name)
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
    stored = first_in_store(recipe, platform) or _from_binary_cache(candidates)
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


def _from_binary_cache(candidates: list[Source]) -> tuple[Source, Path] | None:
    """The first of the sources the binary cache holds, if one is configured: asked before any
    other server, so a machine that pulls builds takes the very source they were built from
    (a build's key names its source). The pinned sha256 vouches for the file."""
    remote = binary_cache_remote.configured()
    if remote is None or not binary_cache_remote.reachable(remote):
        return None
    for source in candidates:
        path = stored_name(source)
        try:
            if not remote.has(path):
                continue  # the next source, then the other servers
            with held(partial_path(source), f"another download of {source.filename}"):
                if not verified_in_store(source):
                    _fetch_url(remote.url(path), source)
            return source, store_path(source)
        except SourceUnavailable as failure:
            say(f"    binary cache: {source.filename}: {failure}; trying the other servers")
        except UserError as refused:  # there, but not the pinned file
            say(f"    binary cache: {refused}")
    return None


def resolve(recipe: Recipe, fetch_missing: bool, platform: str | None = None) -> tuple[Source, Path] | None:
    """The recipe's verified file: fetched if need be, or with fetch_missing=False only what the
    store holds (None if nothing), for cheap checks that must not touch the network."""
    return fetch_recipe(recipe, platform) if fetch_missing else first_in_store(recipe, platform)
