"""Safe unpacking of verified archives: nothing may land outside the target directory.

Besides tarballs, two package formats carry their files inside a tarball of their own: a
`.gem` (a tar whose `data.tar.gz` holds the gem's tree) and a `.deb` (an `ar` archive whose
`data.tar.*` holds the installed files). Both are unpacked to that payload.
"""
from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

from ..errors import UserError
from ..locks import replace_dir

AR_MAGIC = b"!<arch>\n"
AR_HEADER = 60


def _strict_filter(member: tarfile.TarInfo, destination: str) -> tarfile.TarInfo:
    """tarfile's 'data' filter, except that an absolute member name is refused, not rewritten."""
    if member.name.startswith("/"):
        raise tarfile.AbsolutePathError(member)
    return tarfile.data_filter(member, destination)


def _ar_member(archive: Path, prefix: str) -> bytes:
    """The first member of an `ar` archive whose name starts with prefix."""
    data = archive.read_bytes()
    if not data.startswith(AR_MAGIC):
        raise tarfile.ReadError("not an ar archive")
    offset = len(AR_MAGIC)
    while offset + AR_HEADER <= len(data):
        header = data[offset:offset + AR_HEADER]
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
        start = offset + AR_HEADER
        if name.startswith(prefix):
            return data[start:start + size]
        offset = start + size + (size % 2)  # members are padded to an even length
    raise tarfile.ReadError(f"no member named {prefix}* in the ar archive")


PACKAGE_SUFFIXES = (".gem", ".deb")


def is_package(archive: Path) -> bool:
    """A .gem or .deb: its payload has no top directory of its own."""
    return archive.name.endswith(PACKAGE_SUFFIXES)


def _payload(archive: Path) -> tarfile.TarFile:
    """The tarball that holds an archive's files."""
    if archive.name.endswith(".gem"):
        with tarfile.open(archive) as gem:
            member = gem.extractfile("data.tar.gz")
            if member is None:
                raise tarfile.ReadError("no data.tar.gz in the gem")
            return tarfile.open(fileobj=io.BytesIO(member.read()))
    if archive.name.endswith(".deb"):
        return tarfile.open(fileobj=io.BytesIO(_ar_member(archive, "data.tar")))
    return tarfile.open(archive)


def extract_tar(archive: Path, destination: Path) -> None:
    """Unpack archive into destination atomically, refusing absolute paths, '..' and escaping links."""
    staging = destination.with_name(f".{destination.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with _payload(archive) as tar:
            tar.extractall(staging, filter=_strict_filter)
    except tarfile.FilterError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise UserError(
            f"Refused to unpack {archive}: member '{error.tarinfo.name}' would escape the target "
            f"directory ({type(error).__name__}). The archive is unsafe; check where it came from."
        ) from None
    except (tarfile.TarError, EOFError, OSError, ValueError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise UserError(f"Could not unpack {archive}: {error}.") from None
    replace_dir(staging, destination)


def newest_mtime(archive: Path) -> int:
    """The newest modification time among an archive's members: a time fixed by the input itself,
    used as SOURCE_DATE_EPOCH for what is built from it."""
    with _payload(archive) as tar:
        return max((member.mtime for member in tar.getmembers()), default=0)


def single_top_dir(directory: Path) -> Path:
    """The one directory a source tarball unpacks to (ruby-3.3.8/, wasi-sdk-25.0-x86_64-linux/)."""
    entries = list(directory.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return directory
