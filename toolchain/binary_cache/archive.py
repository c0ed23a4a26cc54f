"""An entry's archive: a deterministic .tar.gz of a build's outputs, and its checked unpacking.

Deterministic: members in sorted order, mtime 0, owner root, modes 0644 or 0755, a gzip header
without time or name, so every machine that built a key packs the same bytes and two pushes of
one key are harmless. Relocatable: a text file that names the cache (a pkg-config file, libtool's
.la) names it by a token in the archive, which unpacking replaces with this machine's cache, so a
pull works wherever RUBY_WASM_CACHE points. Unpacking checks every member against the signed
index (its sha256, nothing missing, nothing added, no path outside the target).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from ..digests import sha256_file
from ..paths import build_root, cache_root

BUILD_ROOT_TOKEN = b"@RUBY_WASM_BUILD_ROOT@"
CACHE_TOKEN = b"@RUBY_WASM_CACHE@"
COMPRESSION = 6


class Refused(Exception):
    """An entry that does not match its signed index: it is not used."""


def _roots() -> list[tuple[bytes, bytes]]:
    """(local path, token), the build root first: it usually lies inside the cache."""
    return [(str(build_root()).encode(), BUILD_ROOT_TOKEN), (str(cache_root()).encode(), CACHE_TOKEN)]


def _tokenized(data: bytes) -> bytes | None:
    """A text file's bytes with the local roots as tokens; None when it names neither (or is binary)."""
    if b"\0" in data or not any(root in data for root, _ in _roots()):
        return None
    for root, token in _roots():
        data = data.replace(root, token)
    return data


def _localized(data: bytes) -> bytes:
    for root, token in _roots():
        data = data.replace(token, root)
    return data


def _walk(directory: Path, paths: Sequence[str]) -> Iterator[str]:
    """Every file, link and directory under the given paths, as sorted relative names."""
    names = []
    for path in paths:
        top = directory / path
        names.append(path)
        if top.is_dir() and not top.is_symlink():
            names += [item.relative_to(directory).as_posix() for item in top.rglob("*")]
    yield from sorted(set(names))


def _info(name: str, kind: bytes, mode: int = 0o644, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, link
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    return info


def pack(directory: Path, paths: Sequence[str], archive: Path) -> dict:
    """Write directory's paths to archive; return what the index records of them: each file's
    sha256 (as archived), the files relocated, the archive's sha256 and size."""
    files: dict[str, str] = {}
    relocated: list[str] = []
    with archive.open("wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=COMPRESSION, mtime=0, filename="") as compressed, \
            tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in _walk(directory, paths):
            path = directory / name
            if path.is_symlink():
                target = os.readlink(path)
                local = _tokenized(target.encode())
                tar.addfile(_info(name, tarfile.SYMTYPE, 0o777, link=(local or target.encode()).decode()))
                files[name] = "symlink:" + (local or target.encode()).decode()
            elif path.is_dir():
                tar.addfile(_info(name, tarfile.DIRTYPE, 0o755))
                files[name] = "dir"
            else:
                data = path.read_bytes()
                local = _tokenized(data)
                if local is not None:
                    data = local
                    relocated.append(name)
                mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
                tar.addfile(_info(name, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))
                files[name] = hashlib.sha256(data).hexdigest()
    return {"paths": sorted(paths), "files": files, "relocated": relocated,
            "archive": {"sha256": sha256_file(archive), "size": archive.stat().st_size}}


def _checked_name(name: str) -> str:
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise Refused(f"its archive holds a path outside the entry: {name!r}")
    return pure.as_posix()


def unpack(archive: Path, index: dict, target: Path) -> None:
    """Unpack archive into the new directory target, each member checked against the index."""
    expected: dict[str, str] = index["files"]
    relocated = set(index.get("relocated", ()))
    seen = set()
    target.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = _checked_name(member.name)
                if name not in expected:
                    raise Refused(f"its archive holds {name}, which the signed index does not list")
                seen.add(name)
                _extract(tar, member, name, expected[name], name in relocated, target)
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as error:
        raise Refused(f"its archive does not unpack ({type(error).__name__}: {error})") from None
    missing = sorted(set(expected) - seen)
    if missing:
        raise Refused(f"its archive lacks {len(missing)} files of the signed index ({missing[0]}, ...)")


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, name: str, digest: str, relocate: bool,
             target: Path) -> None:
    path = target / name
    if member.isdir() != (digest == "dir"):
        raise Refused(f"its archive holds {name} as another kind of file than the signed index says")
    if member.isdir():
        path.mkdir(parents=True, exist_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.parent.resolve().is_relative_to(target.resolve()):
        raise Refused(f"its archive writes {name} through a link that leads outside the entry")
    if member.issym():
        if digest != "symlink:" + member.linkname:
            raise Refused(f"its link {name} does not point where the signed index says")
        link = _localized(member.linkname.encode()).decode()
        os.symlink(link, path)
        return
    stream = tar.extractfile(member) if member.isfile() else None
    if stream is None:
        raise Refused(f"its archive holds {name} as neither a file, a directory nor a link")
    data = stream.read()
    if hashlib.sha256(data).hexdigest() != digest:
        raise Refused(f"{name} does not match its sha256 in the signed index")
    path.write_bytes(_localized(data) if relocate else data)
    path.chmod(0o755 if member.mode & 0o111 else 0o644)
