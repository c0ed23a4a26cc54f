"""Locks on shared cache state, so that many processes can use one cache at once.

Each lock is an flock(2) on a small file beside what it guards (`.<name>.lock`), held for the
span that must not interleave: one download, one use of the private apt state, one phase of a
keyed build, one artifact's assembly, one toolchain's preparation. The kernel releases it when
every process holding it has exited, however they exited, so a lock is never left stale.

fcntl rather than the filelock package: an flock belongs to an open file, which a child process
inherits, so a build phase hands its lock to the command it runs (`held(...)` yields the file
descriptor for that) and a command that outlives the process that started it still holds the
directory. The lock file records the holder's pid, for the message of a process that waits.
"""
from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from .steps import say


def _lock_file(guarded: Path) -> Path:
    return guarded.with_name(f".{guarded.name}.lock")


def _holder(fd: int) -> str:
    """Who holds the lock, as its file records it: 'pid N', and whether that process has gone."""
    recorded = os.pread(fd, 32, 0).decode(errors="replace").strip()
    if not recorded.isdigit():
        return "another process"
    try:
        os.kill(int(recorded), 0)
    except ProcessLookupError:
        return f"pid {recorded}, which has exited; a command it started still runs"
    except PermissionError:
        pass  # it runs as another user
    return f"pid {recorded}"


@contextlib.contextmanager
def _opened(guarded: Path) -> Iterator[int]:
    """The descriptor of `guarded`'s lock file (created if need be), closed, and so unlocked, after."""
    path = _lock_file(guarded)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        yield fd
    finally:
        os.close(fd)


def _locked_at_once(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


@contextlib.contextmanager
def held(guarded: Path, what: str) -> Iterator[int]:
    """Hold the exclusive lock on `guarded` (a path that need not exist yet); yield its file
    descriptor. If another process holds it, say `waiting for <what> (pid N)` and wait."""
    with _opened(guarded) as fd:
        if not _locked_at_once(fd):
            say(f"    waiting for {what} ({_holder(fd)})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield fd


@contextlib.contextmanager
def held_if_free(guarded: Path) -> Iterator[bool]:
    """Hold the lock on `guarded` if no other process does: yield True, or False without waiting."""
    with _opened(guarded) as fd:
        yield _locked_at_once(fd)


def once(guarded: Path, what: str, done: Callable[[], bool], work: Callable[[int], None]) -> None:
    """Do `work` (given the lock's descriptor) under the lock on `guarded` unless done() says it is
    done. done() is asked again once the lock is held: the process waited for may have done it."""
    if done():
        return
    with held(guarded, what) as lock:
        if not done():
            work(lock)


# --- directories in use --------------------------------------------------------------------------
# A run of ruby.wasm grants the wasm its artifact's tree by path, opened when the run starts; a
# publish that replaced and removed that tree meanwhile would leave the run (and every child run
# it starts) with a directory whose files are gone: `cannot load such file` halfway through. So a
# run holds a shared flock on the artifact directory itself (the lock follows the directory when
# it is renamed aside), and a replaced directory is removed only when no run holds it; else it
# stays set aside (`.<name>.old-<n>`) for the next replace or `doit gc`.

SET_ASIDE_OLD = ".old-"


@contextlib.contextmanager
def in_use(directory: Path) -> Iterator[None]:
    """Hold a shared lock on the directory (which must exist) while the caller reads from it."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def remove_unless_in_use(directory: Path) -> bool:
    """Remove the directory unless something holds it (in_use); whether it was removed."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return True
    try:
        if not _locked_at_once(fd):
            return False
        shutil.rmtree(directory, ignore_errors=True)
        return True
    finally:
        os.close(fd)


def set_aside_old(final: Path) -> list[Path]:
    """The directories replace_dir set aside for `final`."""
    return sorted(final.parent.glob(f".{final.name}{SET_ASIDE_OLD}*"))


def replace_dir(staging: Path, final: Path) -> None:
    """Swap a fully built directory into place. The old one is removed after the swap, unless a
    run still reads from it: then it is set aside until one that finds it free removes it."""
    for old in set_aside_old(final):
        remove_unless_in_use(old)
    if final.exists():
        old = next(candidate for candidate in (final.with_name(f".{final.name}{SET_ASIDE_OLD}{n}")
                                               for n in itertools.count()) if not candidate.exists())
        final.rename(old)
        staging.rename(final)
        remove_unless_in_use(old)
    else:
        staging.rename(final)
