"""Long-lived wasm workers: compiled once, instantiated per request, one process per core.

Test drivers run thousands of small Ruby programs. Starting Python, loading wasmtime and
deserializing the module for each would dominate; instead a pool of pre-forked workers
accepts requests on a Unix socket. `launcher.py` (a client with no heavy imports) stands
in for the `ruby` executable, and in-process drivers call `launcher.request` directly.

Protocol: the client sends one JSON object and shuts down its write side; the worker
answers with one JSON object. Request: {"argv", "mounts": [[host, guest, writable]],
"env", "timeout"}. Answer: {"exit_code", "stdout", "stderr" (base64), "trap", "timed_out"}.
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .run import Artifact, Mount, RubyWasm

LAUNCHER = Path(__file__).with_name("launcher.py")


def _read_request(connection: socket.socket) -> dict:
    chunks = []
    while chunk := connection.recv(1 << 16):
        chunks.append(chunk)
    return json.loads(b"".join(chunks))


def _answer(runner: RubyWasm, message: dict) -> dict:
    mounts = [Mount(Path(host), guest, writable) for host, guest, writable in message["mounts"]]
    result = runner.capture(message["argv"], env=message["env"], mounts=mounts,
                            timeout=message["timeout"], binary=True)
    return {
        "exit_code": result.exit_code,
        "stdout": base64.b64encode(result.stdout).decode(),
        "stderr": base64.b64encode(result.stderr).decode(),
        "trap": result.trap,
        "timed_out": result.timed_out,
    }


def _serve(listener: socket.socket, artifact: Artifact) -> None:
    runner = RubyWasm(artifact)
    while True:
        connection, _ = listener.accept()
        with connection:
            connection.sendall(json.dumps(_answer(runner, _read_request(connection))).encode())


@contextlib.contextmanager
def worker_pool(artifact: Artifact, workers: int) -> Iterator[Path]:
    """Start `workers` forked servers sharing one listening socket; yield the socket's path."""
    RubyWasm(artifact)  # compile (or load) the module once, before forking, so workers only load it
    with tempfile.TemporaryDirectory(prefix="ruby-wasm-workers-") as directory:
        path = Path(directory) / "socket"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.listen(128)
        children = []
        for _ in range(workers):
            pid = os.fork()
            if pid == 0:
                try:
                    _serve(listener, artifact)
                finally:
                    os._exit(1)
            children.append(pid)
        listener.close()
        try:
            yield path
        finally:
            for pid in children:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
