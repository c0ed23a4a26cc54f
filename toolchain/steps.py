"""Named, timed steps whose commands log to disk; failures show the log's tail and its path."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import UserError

HEARTBEAT_SECONDS = 20
TAIL_LINES = 40
GUARD = Path(__file__).with_name("guard.py")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Timer:
    elapsed: float = 0.0


@contextlib.contextmanager
def step(name: str) -> Iterator[Timer]:
    say(f"==> {name}")
    timer, started = Timer(), time.monotonic()
    yield timer
    timer.elapsed = time.monotonic() - started
    say(f"    {name}: done in {timer.elapsed:.1f}s")


def log_tail(log: Path, lines: int = TAIL_LINES) -> str:
    text = log.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def run_guarded(command: Sequence[str], hold: Sequence[int] = (), **options: Any) -> subprocess.CompletedProcess:
    """Run command as subprocess.run(command, **options) would, but in a process group of its
    own under guard.py, which stops the whole group when this process dies, however it dies, or
    when this call is interrupted. `hold` are descriptors (locks) the command keeps open.
    (The kernel ties the guard's parent-death signal to the thread that started it, and this call
    returns only when the command has ended, so that thread outlives it.)"""
    environment = os.environ if options.get("env") is None else options["env"]
    lc_ctype = f"={environment['LC_CTYPE']}" if "LC_CTYPE" in environment else "-"
    guarded = [sys.executable, "-I", "-S", str(GUARD), str(os.getpid()), lc_ctype, *command]
    with subprocess.Popen(guarded, process_group=0, pass_fds=tuple(hold), **options) as process:
        try:
            stdout, stderr = process.communicate()
        except BaseException:
            process.terminate()  # the guard stops the command's group, then itself
            process.wait()
            raise
    return subprocess.CompletedProcess(list(command), process.returncode, stdout, stderr)


def run_logged(
    name: str,
    command: Sequence[str],
    log: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    hold: Sequence[int] = (),
) -> None:
    """Run one build command with all output in `log`, printing elapsed time while it runs;
    `hold` are descriptors (locks) the command keeps open for as long as it runs."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    finished = threading.Event()

    def heartbeat() -> None:
        while not finished.wait(HEARTBEAT_SECONDS):
            say(f"    {name}: {time.monotonic() - started:.0f}s (log: {log})")

    threading.Thread(target=heartbeat, daemon=True).start()
    with log.open("w") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        try:
            result = run_guarded(command, hold, cwd=cwd, env=dict(env) if env else None,
                                 stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            finished.set()
    if result.returncode != 0:
        raise UserError(
            f"Step '{name}' failed with exit code {result.returncode} after "
            f"{time.monotonic() - started:.0f}s. Last lines of its log:\n{log_tail(log)}\n"
            f"Full log: {log}"
        )


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write via a temporary file in the same directory and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)  # mkstemp's 0600 would make shared artifacts unreadable to others
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
