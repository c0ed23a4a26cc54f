"""File digests, and when a file's size and mtime may stand for its digest: shared by the stages
and by the runner, which must start without importing the download machinery."""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def settled(mtime_ns: int) -> bool:
    """Whether a file last changed long enough ago (a second) that a later change in place must
    move its mtime: only then may a stamp of its size and mtime stand for its hash."""
    return time.time_ns() - mtime_ns > 1_000_000_000


def file_identity(status: os.stat_result) -> str:
    """Size, mtime and inode: what, once the file has settled, stands for its digest."""
    return f"{status.st_size} {status.st_mtime_ns} {status.st_ino}"
