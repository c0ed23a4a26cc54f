"""Release files: deterministic tarballs, checksums, and the comparison of two builds.

A tarball made here depends only on the files' contents, names and executable bits: entries
sorted, every mtime SOURCE_DATE_EPOCH, owner 0:0 with no names, gzip without a name or time.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

from ..digests import sha256_file
from ..wasm_binary import SECTION_NAMES, leb128, sections

RECORD = "build-record.json"  # a release's record: inputs, outputs, seconds per step, tests, verdicts


def _normalized(info: tarfile.TarInfo, mtime: int) -> tarfile.TarInfo:
    info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 0, 0, "", ""
    if info.isdir():
        info.mode = 0o755
    elif info.isfile():
        info.mode = 0o755 if info.mode & 0o111 else 0o644
    return info


def deterministic_tarball(directory: Path, output: Path, mtime: int) -> None:
    """directory's contents as output (.tar.gz) under a top directory of the same name."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in [directory, *sorted(directory.rglob("*"))]:
            name = directory.name / path.relative_to(directory)
            info = _normalized(tar.gettarinfo(str(path), arcname=name.as_posix()), mtime)
            if info.isfile():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    with output.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped:
        zipped.write(buffer.getvalue())


def sha256sums(directory: Path) -> str:
    """SHA256SUMS text for every regular file below directory (links and directories skipped)."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and not p.is_symlink())
    return "".join(f"{sha256_file(p)}  {p.relative_to(directory).as_posix()}\n" for p in files)


# --- comparing two builds ----------------------------------------------------------------------

def wasm_sections(data: bytes) -> list[tuple[str, str]]:
    """(section name, sha256) for each section of a wasm module, in order; custom sections by name."""
    named = []
    for section_id, start, size in sections(data):
        name = SECTION_NAMES.get(section_id, f"unknown-{section_id}")
        if section_id == 0:
            length, name_start = leb128(data, start)
            name = "custom:" + data[name_start:name_start + length].decode(errors="replace")
        named.append((name, hashlib.sha256(data[start:start + size]).hexdigest()))
    return named


def differing_sections(first: Path, second: Path) -> list[str]:
    """The sections two wasm modules differ in (by position and name); a section present in only
    one of them is listed too."""
    a, b = wasm_sections(first.read_bytes()), wasm_sections(second.read_bytes())
    differing = [name_a for (name_a, hash_a), (name_b, hash_b) in zip(a, b, strict=False)
                 if (name_a, hash_a) != (name_b, hash_b)]
    return differing + [name for name, _ in (a[len(b):] or b[len(a):])]


def compare_trees(first: Path, second: Path) -> list[dict]:
    """Every file that differs between two artifact directories (or exists in one only), with
    its digests, and for wasm files the sections that differ."""
    def files(root: Path) -> dict[str, Path]:
        return {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file() and not p.is_symlink()}
    left, right = files(first), files(second)
    report = []
    for name in sorted(left.keys() | right.keys()):
        a, b = left.get(name), right.get(name)
        digest_a, digest_b = (sha256_file(a) if a else None), (sha256_file(b) if b else None)
        if digest_a == digest_b:
            continue
        entry: dict = {"file": name, "first": digest_a, "second": digest_b}
        if a and b and name.endswith(".wasm"):
            entry["sections"] = differing_sections(a, b)
        report.append(entry)
    return report
