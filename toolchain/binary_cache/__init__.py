"""A shared, signed binary cache: a build whose key another machine built and pushed is pulled,
checked and used instead of being built again.

On the server (RUBY_WASM_BINARY_CACHE) an entry is two files under `<label>/`:
`<key>.tar.gz`, a deterministic archive of the build's outputs, and `<key>.json`, its index
(every file's sha256, the archive's sha256 and size) signed with ed25519 by a key this machine
trusts (trust.py). Sources live beside them as the download store does (`store/<sha256>/<file>`);
the recipes' pinned sha256 vouches for those. A pull that fails in any way (no entry, no trusted
signature, a digest that differs, a download cut short, a server error) says why in one line and
leaves the build to be done here; the cache directory is as it was but for the partial download,
which the next pull resumes.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..digests import sha256_file
from ..errors import SourceUnavailable, UserError
from ..locks import held, replace_dir
from ..paths import cache_dir
from ..steps import say, write_atomic
from . import remote as remote_
from .archive import Refused, pack, unpack
from .trust import Untrusted, sign, verify

FORMAT = 1


@dataclass(frozen=True)
class Entry:
    """One build's outputs as the binary cache holds them."""
    label: str  # what was built, with its version: lib-zlib-1.3.1, ruby-3.3.8-full, artifact-ruby-3.3-full
    key: str  # the build's key
    directory: Path  # where the outputs live here
    paths: tuple[str, ...]  # the outputs, relative to directory: what is pushed and pulled
    finished: str = ""  # the file (in directory) whose presence says the outputs are whole; none for an artifact
    stamps: tuple[str, ...] = ()  # the phases a pull counts as done
    whole: bool = False  # the directory is nothing but the entry (an artifact): swapped in whole

    @property
    def remote_name(self) -> str:
        return f"{self.label}/{self.key}"

    @property
    def shown(self) -> str:
        return f"{self.label} ({self.key[:16]})"


def _say_refused(entry: Entry, reason: str) -> None:
    say(f"    binary cache: {entry.shown} not used: {reason}; building it here")


def pull(entry: Entry) -> bool:
    """Fill the entry's directory from the binary cache, if one is configured and holds the key
    under a trusted signature; False (with the reason, in one line) to build it here instead."""
    remote = remote_.configured()
    if remote is None or not remote_.reachable(remote):
        return False
    with held(entry.directory, f"another build of {entry.directory.name}"):
        if not entry.whole and is_complete(entry):  # the process waited for pulled or built it
            return True
        try:
            return _pull(remote, entry)
        except (Refused, Untrusted) as reason:
            _say_refused(entry, str(reason))
        except SourceUnavailable as reason:
            _say_refused(entry, f"the server failed ({reason})")
        except (KeyError, TypeError, AttributeError) as missing:
            _say_refused(entry, f"its signed index is malformed ({type(missing).__name__}: {missing})")
    return False


def _partial(entry: Entry) -> Path:
    return cache_dir("partial") / f"binary-{entry.label}-{entry.key[:16]}.tar.gz.part"


def _staging(entry: Entry) -> Path:
    return entry.directory.with_name(f".{entry.directory.name}.pulling")


def _pull(remote: remote_.Remote, entry: Entry) -> bool:
    raw = remote.get(f"{entry.remote_name}.json")
    if raw is None:
        say(f"    binary cache: no {entry.shown}; building it here")
        return False
    try:
        index = json.loads(raw)
    except ValueError:
        raise Refused("its index is not JSON") from None
    signer = verify(index)
    if (index.get("label"), index.get("key"), index.get("format")) != (entry.label, entry.key, FORMAT):
        raise Refused(f"its signed index is for {index.get('label')} {str(index.get('key'))[:16]}")
    if not set(index["paths"]) <= set(index["files"]):
        raise Refused("its index names outputs that its list of files lacks")
    partial = _partial(entry)
    remote.download(f"{entry.remote_name}.tar.gz", partial, f"{entry.label}.tar.gz")
    _check_download(partial, index["archive"])
    staging = _staging(entry)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        unpack(partial, index, staging)
        _install(entry, staging, index, signer)
    except Refused:
        partial.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    partial.unlink()
    say(f"    pulled {entry.shown} from the binary cache ({index['archive']['size'] / 1e6:.1f} MB, signed by {signer})")
    return True


def _check_download(partial: Path, expected: dict) -> None:
    size = partial.stat().st_size
    if size < expected["size"]:
        raise Refused(f"the download stopped at {size:,} of {expected['size']:,} bytes (kept; the next pull resumes it)")
    actual = sha256_file(partial)
    if size > expected["size"] or actual != expected["sha256"]:
        partial.unlink()
        raise Refused(f"its archive's sha256 is {actual}, and the signed index says {expected['sha256']}")


def _install(entry: Entry, staging: Path, index: dict, signer: str) -> None:
    """Move the checked outputs into place, then mark the phases done: a directory that an
    interrupted pull left is never taken for a finished one."""
    record = json.dumps({"key": entry.key, "signer": signer, "archive": index["archive"]["sha256"]}).encode()
    if entry.whole:
        replace_dir(staging, entry.directory)
        write_atomic(pulled_marker(entry), record)
        return
    entry.directory.mkdir(parents=True, exist_ok=True)
    for path in index["paths"]:
        target = entry.directory / path
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        (staging / path).replace(target)
    write_atomic(pulled_marker(entry), record)
    for phase in entry.stamps:
        write_atomic(entry.directory / f".{phase}.done", b"0.0")


def pulled_marker(entry: Entry) -> Path:
    """Who signed what a pull brought: inside a build directory, beside an artifact (whose
    directory a release copies byte for byte)."""
    directory = entry.directory
    return directory.with_name(f".{directory.name}.pulled") if entry.whole else directory / ".pulled"


def was_pulled(entry: Entry) -> bool:
    """Whether the entry's directory holds what a pull of this very key brought."""
    try:
        return entry.directory.is_dir() and json.loads(pulled_marker(entry).read_text()).get("key") == entry.key
    except (OSError, ValueError):
        return False


def is_complete(entry: Entry) -> bool:
    """Whether a build's outputs are whole here, built or pulled: what may be pushed."""
    return (bool(entry.finished) and (entry.directory / entry.finished).exists()) or was_pulled(entry)


def push(remote: remote_.Remote, entry: Entry) -> bool:
    """Upload the entry unless the server holds it under a trusted signature already; True if uploaded.
    The archive goes up first, the index last, so a reader never finds an index without its archive."""
    existing = remote.get(f"{entry.remote_name}.json")
    if existing is not None and _trusted(existing):
        return False
    with held(entry.directory, f"another build of {entry.directory.name}"):
        archive = _partial(entry).with_suffix(".push")
        try:
            index = sign({"format": FORMAT, "label": entry.label, "key": entry.key,
                          **pack(entry.directory, [p for p in entry.paths if (entry.directory / p).exists()], archive)})
            remote.put(f"{entry.remote_name}.tar.gz", archive)
        finally:
            archive.unlink(missing_ok=True)
    index_file = _partial(entry).with_suffix(".json")
    write_atomic(index_file, (json.dumps(index, indent=1, sort_keys=True) + "\n").encode())
    try:
        remote.put(f"{entry.remote_name}.json", index_file)
    finally:
        index_file.unlink(missing_ok=True)
    return True


def _trusted(raw: bytes) -> bool:
    try:
        verify(json.loads(raw))
        return True
    except (ValueError, Untrusted):
        return False


def required_remote() -> remote_.Remote:
    """The configured binary cache, reachable: what pushing needs."""
    remote = remote_.configured()
    if remote is None:
        raise UserError(f"Pushing needs a binary cache: set {remote_.BINARY_CACHE_ENV} to its base URL "
                        "(http(s)://host/path/ of a server that accepts PUT, or file:///shared/dir).")
    if not remote_.reachable(remote):
        raise UserError(f"The binary cache {remote.shown} cannot be reached (see above); nothing was pushed. "
                        "Start the server or fix the URL, then push again.")
    return remote
