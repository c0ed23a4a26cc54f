"""The child-process bridge: WASI preview 1 cannot start a process, so a wasm program that wants
a child Ruby (a test's assert_separately or EnvUtil.invoke_ruby, mspec's ruby_exe) asks the host.
It writes a request into a directory granted to it; the worker that runs it starts the child as
a fresh instance of the same artifact, with the request's arguments, environment, stdin and
working directory, the parent's directory grants and the parent's per-run timeout, and writes
the child's output and exit status back. The Ruby side is toolchain/ruby/child_bridge.rb.

Files in the granted directory (guest path BRIDGE_GUEST, named to the wasm by $RUBY_WASM_BRIDGE),
one set per child, <id> chosen by the parent:
  <id>.stdin              the child's stdin, written first
  <id>.request            NUL-separated: chdir, argc, args..., then NAME=value env entries;
                          renamed into place when complete
  <id>.stdout, .stderr    the child's output
  <id>.status             "<exit code>\\n<exit|trap|timeout>\\n<trap message>", renamed into place last
The parent removes them once it has read them. Text, not JSON: the parent must not load a
library the test under it may be checking for.
"""
from __future__ import annotations

import contextlib
import queue
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from ..steps import write_atomic
from .runner import TRAP_EXIT_CODE, Artifact, Mount, RubyWasm, RunResult

BRIDGE_GUEST = "/bridge"
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


def parse_request(data: bytes) -> tuple[str, list[str], dict[str, str]]:
    fields = data.decode("utf-8", "surrogateescape").split("\0")
    chdir, argc = fields[0], int(fields[1])
    argv, entries = fields[2:2 + argc], fields[2 + argc:]
    env = dict(entry.split("=", 1) for entry in entries if "=" in entry)
    return chdir, argv, env


def status_text(result: RunResult) -> str:
    how = "timeout" if result.timed_out else "trap" if result.trap else "exit"
    return f"{result.exit_code}\n{how}\n{result.trap or ''}"


def run_child(base: Path, runners: ChildRunners, mounts: list[Mount], timeout: float) -> RunResult:
    chdir, argv, env = parse_request(base.with_suffix(".taken").read_bytes())
    with runners.runner() as runner:
        return runner.run(["-C", chdir, *argv], env=env, mounts=mounts, timeout=timeout,
                          stdin=base.with_suffix(".stdin"), stdout=base.with_suffix(".stdout"),
                          stderr=base.with_suffix(".stderr"))


def serve_child(taken: Path, runners: ChildRunners, mounts: list[Mount], timeout: float) -> None:
    """Run the child and answer; a request the host cannot run still gets an answer, a failed
    one, so that its parent does not wait for ever."""
    base = taken.with_suffix("")
    try:
        result = run_child(base, runners, mounts, timeout)
    except Exception as error:  # noqa: BLE001 - the parent is told, whatever it was
        for output in (".stdout", ".stderr"):
            base.with_suffix(output).touch()
        result = RunResult(TRAP_EXIT_CODE, trap=f"the bridge could not run this child: {error!r}")
    write_atomic(base.with_suffix(".status"), status_text(result).encode("utf-8", "surrogateescape"))
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
