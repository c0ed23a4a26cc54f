"""Whether a published artifact's files still match its SHA256SUMS.

Checked each time an artifact is used (doit's up-to-date check, the runner), so it must be
cheap: the size and mtime of every file are recorded when the artifact is published, in a
stamp beside the artifact directory (not inside it: the nightly releases that directory
byte for byte), and only a file whose size or mtime differs from the stamp is hashed again.
A file changed within a second of the check is left out of the stamp (hashed again next time),
as git treats racily clean files: a change in place within the same mtime tick would otherwise
go unseen.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..digests import settled, sha256_file
from ..steps import write_atomic

SUMS = "SHA256SUMS"


def stamp_path(directory: Path) -> Path:
    return directory.with_name(f".{directory.name}.stat.json")


def expected_digests(directory: Path) -> dict[str, str]:
    """The sha256 of each file by relative path, as SHA256SUMS lists them (empty if it is missing)."""
    sums = directory / SUMS
    if not sums.exists():
        return {}
    return {name: digest for digest, name in (line.split("  ", 1) for line in sums.read_text().splitlines())}


def published_files(directory: Path) -> dict[str, Path]:
    """ruby.wasm and every regular file under root/ (SHA256SUMS skips symlinks, and so does this)."""
    files = {"ruby.wasm": directory / "ruby.wasm"} if (directory / "ruby.wasm").exists() else {}
    for path in (directory / "root").rglob("*"):
        if path.is_file() and not path.is_symlink():
            files[path.relative_to(directory).as_posix()] = path
    return files


def _load_stamp(directory: Path) -> dict[str, list[int]]:
    try:
        return json.loads(stamp_path(directory).read_text())
    except (OSError, ValueError):
        return {}


def altered_files(directory: Path) -> list[str]:
    """Files added, missing or changed since SHA256SUMS was written. Records the stamp of an
    intact artifact, so that the next check hashes nothing that did not change."""
    expected, present = expected_digests(directory), published_files(directory)
    altered = set(expected.keys() ^ present.keys())
    stamp, seen = _load_stamp(directory), {}
    for name in expected.keys() & present.keys():
        status = present[name].stat()
        seen[name] = [status.st_size, status.st_mtime_ns]
        if stamp.get(name) != seen[name] and sha256_file(present[name]) != expected[name]:
            altered.add(name)
    lasting = {name: value for name, value in seen.items() if settled(value[1])}
    if not altered and lasting != stamp:
        write_atomic(stamp_path(directory), json.dumps(lasting, sort_keys=True).encode())
    return sorted(altered)
