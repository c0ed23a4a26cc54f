"""The child-process bridge: WASI preview 1 cannot start a process, so a wasm program that wants
a child Ruby (a test's assert_separately or EnvUtil.invoke_ruby, mspec's ruby_exe) asks the host.
It writes a request into a directory granted to it; the worker that runs it starts the child as
a fresh instance of the same artifact, with the request's arguments, environment, stdin and
working directory, the parent's directory grants and the parent's per-run timeout, and writes
the child's output and exit status back. The Ruby side is toolchain/ruby/child_bridge.rb.

Files in the granted directory (guest path BRIDGE_GUEST, named to the wasm by $RUBY_WASM_BRIDGE),
one set per child, <id> chosen by the parent:
  <id>.stdin              the child's stdin, written first
  <id>.request            NUL-separated: chdir, the program (the child's argv[0]), "separate" or
                          "merged" (stderr into stdout, in the order written: 2>&1), argc,
                          args..., then NAME=value env entries; renamed into place when complete
  <id>.stdout, .stderr    the child's output (.stderr empty when merged)
  <id>.status             "<exit code>\\n<exit|trap|timeout|signal>\\n<trap message, or the
                          signal's name>", renamed into place last
The parent removes them once it has read them. Text, not JSON: the parent must not load a
library the test under it may be checking for.
"""
from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..steps import write_atomic
from .runner import TRAP_EXIT_CODE, Artifact, Mount, RubyWasm, RunResult

BRIDGE_GUEST = "/bridge"
CANNOT_START_EXIT_CODE = 127  # a shell's status for a command that could not be run
BRIDGE_ENV = "RUBY_WASM_BRIDGE"
POLL_SECONDS = 0.005


class ChildRunners:
    """Runners for children, each on an engine of its own: a timeout interrupts every store of
    its engine, and a child's must not stop its parent, nor a parent's its child."""

    def __init__(self, artifact: Artifact) -> None:
        self.artifact = artifact
        self.idle: queue.SimpleQueue[RubyWasm] = queue.SimpleQueue()
        self.busy: dict[int, RubyWasm] = {}  # by id(): runners are not hashable

    @contextlib.contextmanager
    def runner(self) -> Iterator[RubyWasm]:
        try:
            runner = self.idle.get_nowait()
        except queue.Empty:
            runner = RubyWasm(self.artifact, allow_modified=True)  # the parent's run checked the files
        self.busy[id(runner)] = runner
        try:
            yield runner
        finally:
            del self.busy[id(runner)]
            self.idle.put(runner)

    def interrupt_all(self) -> None:
        for runner in list(self.busy.values()):
            runner.engine.increment_epoch()


@dataclass(frozen=True)
class ChildRequest:
    chdir: str
    program: str
    merged: bool
    argv: list[str]
    env: dict[str, str]


def parse_request(data: bytes) -> ChildRequest:
    fields = data.decode("utf-8", "surrogateescape").split("\0")
    chdir, program, streams, argc = fields[0], fields[1], fields[2], int(fields[3])
    argv, entries = fields[4:4 + argc], fields[4 + argc:]
    env = dict(entry.split("=", 1) for entry in entries if "=" in entry)
    return ChildRequest(chdir, program, streams == "merged", argv, env)


# A signal's default action under WASI: wasi-libc prints this, with strsignal's text, then aborts
# (a trap). The child died of that signal, as natively; its parent is told so. (strsignal's texts
# are the same in glibc and in the musl code wasi-libc takes them from.)
SIGNAL_DEATH = re.compile(r"^Program recieved (?:termination|fatal) signal: (.+)$", re.M)
SIGNALS_BY_TEXT = {signal.strsignal(number): number.name.removeprefix("SIG") for number in signal.Signals
                   if signal.strsignal(number)}


SIGNAL_TAIL = 4096  # wasi-libc's line is among the last bytes a dying child writes


def last_bytes(path: Path, size: int = SIGNAL_TAIL) -> bytes:
    with path.open("rb") as file:
        file.seek(max(0, file.seek(0, os.SEEK_END) - size))
        return file.read()


def status_text(result: RunResult, error_output: Callable[[], bytes]) -> str:
    """The status file's text; error_output (the end of what the child wrote to stderr) is read
    only for a trap, to tell a signal's death from a crash."""
    if result.trap and not result.timed_out:
        deaths = SIGNAL_DEATH.findall(error_output().decode(errors="replace"))
        if deaths and deaths[-1] in SIGNALS_BY_TEXT:
            return f"{result.exit_code}\nsignal\n{SIGNALS_BY_TEXT[deaths[-1]]}"
    how = "timeout" if result.timed_out else "trap" if result.trap else "exit"
    return f"{result.exit_code}\n{how}\n{result.trap or ''}"


def run_child(base: Path, runners: ChildRunners, mounts: list[Mount], timeout: float) -> RunResult:
    request = parse_request(base.with_suffix(".taken").read_bytes())
    stdout = base.with_suffix(".stdout")
    stderr = stdout if request.merged else base.with_suffix(".stderr")
    if request.merged:
        base.with_suffix(".stderr").touch()
    with runners.runner() as runner:
        return runner.run(["-C", request.chdir, *request.argv], env=request.env, mounts=mounts, timeout=timeout,
                          stdin=base.with_suffix(".stdin"), stdout=stdout, stderr=stderr, program=request.program)


def serve_child(taken: Path, runners: ChildRunners, mounts: list[Mount], timeout: float) -> None:
    """Run the child and answer; a request the host cannot run still gets an answer, a failed
    one, so that its parent does not wait for ever: one the runner refuses (an environment value
    wasmtime cannot pass) as a command that could not start (exit 127, the reason on its stderr),
    anything else as a crash."""
    base = taken.with_suffix("")
    try:
        result = run_child(base, runners, mounts, timeout)
    except UserError as refused:
        base.with_suffix(".stdout").touch()
        base.with_suffix(".stderr").write_text(f"ruby: {refused}\n")
        result = RunResult(CANNOT_START_EXIT_CODE)
    except Exception as error:  # noqa: BLE001 - the parent is told, whatever it was
        for output in (".stdout", ".stderr"):
            base.with_suffix(output).touch()
        result = RunResult(TRAP_EXIT_CODE, trap=f"the bridge could not run this child: {error!r}")
    def error_output() -> bytes:  # stderr, or stdout when merged into it
        return last_bytes(base.with_suffix(".stderr")) or last_bytes(base.with_suffix(".stdout"))
    write_atomic(base.with_suffix(".status"), status_text(result, error_output).encode("utf-8", "surrogateescape"))
    taken.unlink()


def _watch(directory: Path, runners: ChildRunners, mounts: list[Mount], timeout: float,
           parent_done: threading.Event) -> None:
    children: list[threading.Thread] = []
    while not parent_done.wait(POLL_SECONDS):
        for request in directory.glob("*.request"):
            taken = request.with_suffix(".taken")
            request.rename(taken)
            child = threading.Thread(target=serve_child, args=(taken, runners, mounts, timeout), daemon=True)
            child.start()
            children.append(child)
    runners.interrupt_all()  # a child its parent no longer waits for
    for child in children:
        child.join()


@contextlib.contextmanager
def child_bridge(runners: ChildRunners, mounts: list[Mount], timeout: float) -> Iterator[Mount]:
    """Serve the parent's child requests while it runs; yields the directory to grant it. The
    children see the parent's directories and the bridge (a child's own children are served too)."""
    with tempfile.TemporaryDirectory(prefix="ruby-wasm-bridge-") as directory:
        mount = Mount(Path(directory), BRIDGE_GUEST, True)
        parent_done = threading.Event()
        watcher = threading.Thread(target=_watch, args=(Path(directory), runners, [*mounts, mount], timeout,
                                                        parent_done), daemon=True)
        watcher.start()
        try:
            yield mount
        finally:
            parent_done.set()
            watcher.join()
