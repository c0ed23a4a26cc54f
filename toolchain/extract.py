"""Safe unpacking of verified archives: nothing may land outside the target directory."""
from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

from .errors import UserError
from .steps import replace_dir


def _strict_filter(member: tarfile.TarInfo, destination: str) -> tarfile.TarInfo:
    """tarfile's 'data' filter, except that an absolute member name is refused, not rewritten."""
    if member.name.startswith("/"):
        raise tarfile.AbsolutePathError(member)
    return tarfile.data_filter(member, destination)


def extract_tar(archive: Path, destination: Path) -> None:
    """Unpack archive into destination atomically, refusing absolute paths, '..' and escaping links."""
    staging = destination.with_name(f".{destination.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter=_strict_filter)
    except tarfile.FilterError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise UserError(
            f"Refused to unpack {archive}: member '{error.tarinfo.name}' would escape the target "
            f"directory ({type(error).__name__}). The archive is unsafe; check where it came from."
        ) from None
    except (tarfile.TarError, EOFError, OSError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise UserError(f"Could not unpack {archive}: {error}.") from None
    replace_dir(staging, destination)


def single_top_dir(directory: Path) -> Path:
    """The one directory a source tarball unpacks to (ruby-3.3.8/, wasi-sdk-25.0-x86_64-linux/)."""
    entries = list(directory.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return directory
