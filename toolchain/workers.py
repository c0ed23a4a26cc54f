"""Long-lived wasm workers: compiled once, instantiated per request, one process per core.

Test drivers run thousands of tiny Ruby programs. Starting Python, loading wasmtime and
deserializing the module for each would dominate; instead a pool of pre-forked workers
accepts requests on a Unix socket, and `launcher.py` (a client with no heavy imports)
stands in for the `ruby` executable.

Protocol: the client sends one JSON object and shuts down its write side; the worker
answers with one JSON object. Request: {"argv", "cwd", "env"}. Response: {"exit_code",
"stdout", "stderr", "trap"} with the streams base64-encoded.
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

SOCKET_ENV = "RUBY_WASM_WORKERS"
LAUNCHER = Path(__file__).with_name("launcher.py")


def read_message(connection: socket.socket) -> dict:
    chunks = []
    while chunk := connection.recv(1 << 16):
        chunks.append(chunk)
    return json.loads(b"".join(chunks) or b"{}")


def _answer(runner: RubyWasm, request: dict, timeout: float) -> dict:
    cwd = Path(request["cwd"])
    result = runner.capture(["-C", str(cwd), *request["argv"]], env=request.get("env", {}),
                            mounts=[Mount(cwd, str(cwd))], timeout=timeout)
    return {
        "exit_code": result.exit_code,
        "stdout": base64.b64encode(result.stdout.encode()).decode(),
        "stderr": base64.b64encode(result.stderr.encode()).decode(),
        "trap": result.trap,
    }


def _serve(listener: socket.socket, artifact: Artifact, timeout: float) -> None:
    runner = RubyWasm(artifact)
    while True:
        connection, _ = listener.accept()
        with connection:
            answer = _answer(runner, read_message(connection), timeout)
            connection.sendall(json.dumps(answer).encode())


@contextlib.contextmanager
def worker_pool(artifact: Artifact, workers: int, timeout: float) -> Iterator[Path]:
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
                    _serve(listener, artifact, timeout)
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
