"""Named, timed steps whose commands log to disk; failures show the log's tail and its path."""
from __future__ import annotations

import contextlib
import os
import re
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


def duration(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds < 90 else f"{seconds / 60:.0f} min"


class Progress:
    """Work done of a known number of units (a suite's runs), and the items they yield (tests),
    said every HEARTBEAT_SECONDS while it lasts: how many, how fast, and about how long is left.
    The time left is reckoned from the share of units done, averaged with the share of items done
    when their total is expected (the last run's count): runs differ in size, and so do tests."""

    def __init__(self, name: str, units: int, expected_items: int | None = None, item: str = "tests") -> None:
        self.name, self.units, self.expected, self.item = name, units, expected_items, item
        self.units_done = self.items_done = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._finished = threading.Event()

    def __enter__(self) -> Progress:
        threading.Thread(target=self._heartbeat, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._finished.set()

    def advance(self, items: int) -> None:
        with self._lock:
            self.units_done += 1
            self.items_done += items

    def line(self) -> str:
        with self._lock:
            done, items = self.units_done, self.items_done
        elapsed = time.monotonic() - self.started
        of = f" of ~{self.expected:,}" if self.expected else ""
        text = (f"    {self.name}: {items:,}{of} {self.item} ({done:,} of {self.units:,} runs), "
                f"{items / elapsed:.0f} {self.item}/s")
        share = done / self.units if self.units else 0.0
        if self.expected:
            share = (share + min(items / self.expected, 1.0)) / 2
        if not 0 < share < 1:
            return text + f", {duration(elapsed)} so far"
        return text + f", about {duration(elapsed * (1 - share) / share)} left"

    def _heartbeat(self) -> None:
        while not self._finished.wait(HEARTBEAT_SECONDS):
            say(self.line())


# A compiler run as build logs show it: CRuby's and automake's quiet lines, CMake's, or the command.
COMPILE_LINE = re.compile(rb"^(?:compiling \S|\s*CC(?:LD)?\s+\S+\.l?o\s*$|\[\s*\d+%\] Building C|\S*(?:clang|gcc|cc)\S* (?:.* )?-c )", re.M)


class CompileCount:
    """How many files a build step has compiled so far, read from its log as it grows, and how
    many the same step compiled when it last finished (kept in `record`), which is its total."""

    def __init__(self, log: Path, record: Path | None) -> None:
        self.log, self.record, self.offset, self.count = log, record, 0, 0

    def update(self) -> int:
        with contextlib.suppress(OSError), self.log.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
            whole = data[:data.rfind(b"\n") + 1]  # a line still being written is counted next time
            self.offset += len(whole)
            self.count += len(COMPILE_LINE.findall(whole))
        return self.count

    def expected(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int(self.record.read_text()) if self.record else None
        return None

    def describe(self) -> str:
        count, total = self.update(), self.expected()
        if not count:
            return ""
        return f", compiled {count:,} of {total:,} files" if total and count <= total else f", compiled {count:,} files"

    def remember(self) -> None:
        if self.record and self.update():
            write_atomic(self.record, str(self.count).encode())


def run_logged(
    name: str,
    command: Sequence[str],
    log: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    hold: Sequence[int] = (),
    compile_record: Path | None = None,
) -> None:
    """Run one build command with all output in `log`, printing elapsed time (and files compiled,
    of the total the step's last finished run compiled, kept in `compile_record`) while it runs;
    `hold` are descriptors (locks) the command keeps open for as long as it runs."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    finished = threading.Event()
    compiles = CompileCount(log, compile_record)

    def heartbeat() -> None:
        while not finished.wait(HEARTBEAT_SECONDS):
            say(f"    {name}: {time.monotonic() - started:.0f}s{compiles.describe()} (log: {log})")

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
    compiles.remember()


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
