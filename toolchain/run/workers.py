"""Long-lived wasm workers: compiled once, instantiated per request, one process per core.

Test drivers run thousands of small Ruby programs. Starting Python, loading wasmtime and
deserializing the module for each would dominate; instead a pool of worker processes
accepts requests on one shared Unix socket. Workers are started fresh rather than forked:
wasmtime's WASI runs on a tokio runtime whose threads a forked child does not inherit, and
a child forked after the parent ran any wasm panicked joining them. `launcher.py` (a client
with no heavy imports) stands in for the `ruby` executable, and in-process drivers call
`launcher.request` directly.

Protocol: the client sends one JSON object and shuts down its write side; the worker
answers with one JSON object. Request: {"argv", "mounts": [[host, guest, writable]],
"env", "timeout", "bridge"}; with "bridge" true, the wasm may ask for child Rubies (bridge.py).
Answer: {"exit_code", "stdout", "stderr" (base64), "trap", "timed_out", "memory_bytes" (linear
memory at the end), "seconds" (instantiation and run)}.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ..guard import die_with
from .bridge import BRIDGE_ENV, ChildRunners, child_bridge
from .runner import Artifact, Mount, RubyWasm, RunResult

LAUNCHER = Path(__file__).with_name("launcher.py")


def _read_request(connection: socket.socket) -> dict:
    chunks = []
    while chunk := connection.recv(1 << 16):
        chunks.append(chunk)
    return json.loads(b"".join(chunks))


def _run(runner: RubyWasm, children: ChildRunners, message: dict) -> RunResult:
    mounts = [Mount(Path(host), guest, writable) for host, guest, writable in message["mounts"]]
    if not message.get("bridge"):
        return runner.capture(message["argv"], env=message["env"], mounts=mounts,
                              timeout=message["timeout"], binary=True)
    with child_bridge(children, mounts, message["timeout"]) as bridge:
        return runner.capture(message["argv"], env={**message["env"], BRIDGE_ENV: bridge.guest},
                              mounts=[*mounts, bridge], timeout=message["timeout"], binary=True)


def _answer(runner: RubyWasm, children: ChildRunners, message: dict) -> dict:
    started = time.monotonic()
    result = _run(runner, children, message)
    return {
        "exit_code": result.exit_code,
        "stdout": base64.b64encode(result.stdout).decode(),
        "stderr": base64.b64encode(result.stderr).decode(),
        "trap": result.trap,
        "timed_out": result.timed_out,
        "memory_bytes": result.memory_bytes,
        "seconds": round(time.monotonic() - started, 3),
    }


def _serve(listener: socket.socket, artifact: Artifact) -> None:
    runner, children = RubyWasm(artifact), ChildRunners(artifact)
    while True:
        connection, _ = listener.accept()
        with connection:
            connection.sendall(json.dumps(_answer(runner, children, _read_request(connection))).encode())


def _start_worker(listener: socket.socket, artifact: Artifact) -> subprocess.Popen:
    fd = listener.fileno()
    command = [sys.executable, "-m", "toolchain.run.workers", "--fd", str(fd), "--parent", str(os.getpid()),
               str(artifact.directory)]
    return subprocess.Popen(command, pass_fds=[fd], stdin=subprocess.DEVNULL)


@contextlib.contextmanager
def worker_pool(artifact: Artifact, workers: int) -> Iterator[Path]:
    """Start `workers` servers sharing one listening socket; yield the socket's path."""
    RubyWasm(artifact)  # compile (or load) the module once, so workers only load it
    with tempfile.TemporaryDirectory(prefix="ruby-wasm-workers-") as directory:
        path = Path(directory) / "socket"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(str(path))
            listener.listen(128)
            children = [_start_worker(listener, artifact) for _ in range(workers)]
        try:
            yield path
        finally:
            for child in children:
                child.terminate()
                child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve wasm run requests on an inherited socket.")
    parser.add_argument("--fd", type=int, required=True, help="listening socket's file descriptor")
    parser.add_argument("--parent", type=int, required=True, help="the pool's process, which this one dies with")
    parser.add_argument("artifact", type=Path)
    options = parser.parse_args()
    # A worker dies with the process that started its pool, however that one dies (a killed
    # `doit verify`), as guarded build commands do; the pool is started by, and lives in, one
    # thread of that process, which the kernel ties the signal to.
    die_with(options.parent)
    _serve(socket.socket(fileno=options.fd), Artifact(options.artifact))


if __name__ == "__main__":
    main()
