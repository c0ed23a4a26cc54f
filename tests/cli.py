"""The project's own commands as end-to-end tests run them: doit tasks, the runner CLI, and
toolchain code in a process of its own, in the foreground or in the background."""
from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from toolchain.paths import PROJECT_ROOT
from toolchain.run.runner import Artifact


def doit(*args: str, checkout: Path = PROJECT_ROOT) -> subprocess.CompletedProcess:
    """`python -m doit ARGS` in a checkout (this one unless given), whose toolchain package it imports."""
    return subprocess.run([sys.executable, "-m", "doit", *args], cwd=checkout, capture_output=True, text=True)


def run_cli(artifact: Artifact, script: str) -> subprocess.CompletedProcess:
    """`python -m toolchain.run --artifact DIR -e SCRIPT`, as a user would type it."""
    return subprocess.run([sys.executable, "-m", "toolchain.run", "--artifact", str(artifact.directory),
                           "-e", script], capture_output=True, text=True)


def task_marks(result: subprocess.CompletedProcess) -> dict[str, str]:
    """What doit said of each task: '--' (up to date) or '.' (ran), by task name."""
    return {line[3:]: line[:2].strip() for line in result.stdout.splitlines() if line[:3] in ("-- ", ".  ")}


def assert_did_no_work(result: subprocess.CompletedProcess, task: str) -> None:
    """The product task and every stage before it were up to date; the product came last."""
    marks = task_marks(result)
    assert result.returncode == 0 and list(marks)[-1] == task, result.stdout + result.stderr[-2000:]
    assert set(marks.values()) == {"--"}, result.stdout


def assert_task_printed_wasm(result: subprocess.CompletedProcess, task: str, artifact: Artifact) -> None:
    """A product task that ran ends by printing the artifact's wasm; either way the wasm is there."""
    if task_marks(result).get(task) == ".":
        assert (result.stdout + result.stderr).strip().splitlines()[-1] == f"ruby.wasm: {artifact.wasm}"
    assert artifact.wasm.read_bytes()[:4] == b"\0asm"


class Background:
    """`python -c CODE ARGS` run in the background, its output (stderr and stdout) read as it comes,
    so that a test can act when the process has reached a given point."""

    def __init__(self, code: str, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", code, *args], cwd=PROJECT_ROOT,
                                        env={**os.environ, **(env or {})}, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: list[str] = []
        self._unread: queue.Queue[str | None] = queue.Queue()
        self._ended = False
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout
        for line in self.process.stdout:
            self._unread.put(line)
        self._unread.put(None)

    def _next_line(self, deadline: float) -> str | None:
        try:
            line = None if self._ended else self._unread.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            raise AssertionError(f"no output from pid {self.pid} in time; so far:\n{self.output}") from None
        if line is None:
            self._ended = True
        else:
            self.lines.append(line)
        return line

    def wait_for(self, text: str, timeout: float = 60) -> str:
        """The first line, read from now on, that contains text; fails if the output ends first."""
        deadline = time.monotonic() + timeout
        while (line := self._next_line(deadline)) is not None:
            if text in line:
                return line
        raise AssertionError(f"the process ended without printing {text!r}:\n{self.output}")

    def finish(self, timeout: float = 300) -> int:
        """Wait for the process to end and read the rest of its output; its exit code."""
        deadline = time.monotonic() + timeout
        self.process.wait(timeout)
        while self._next_line(deadline) is not None:
            pass
        return self.process.returncode

    @property
    def output(self) -> str:
        return "".join(self.lines)
