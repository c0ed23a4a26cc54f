"""Stands in for the `ruby` executable: forwards argv and its directory to a wasm worker and
replays the worker's answer (stdout, stderr, exit code).

Kept free of heavy imports (run it with `python3 -S`): test drivers start it once per test.
The caller's directory is granted to the wasm as /work, which also becomes Ruby's cwd.
"""
import base64
import json
import os
import socket
import sys

SOCKET_ENV = "RUBY_WASM_WORKERS"
GUEST_CWD = "/work"


def request(socket_path: str, argv: list, mounts: list, env: dict, timeout: float, bridge: bool = False) -> dict:
    """Send one run request to the worker pool and wait for its answer; with `bridge`, the wasm
    may run child Rubies (toolchain/run/bridge.py)."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(socket_path)
    with client:
        message = {"argv": argv, "mounts": mounts, "env": env, "timeout": timeout, "bridge": bridge}
        client.sendall(json.dumps(message).encode())
        client.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := client.recv(1 << 16):
            chunks.append(chunk)
    if not chunks:
        raise ConnectionError("the wasm worker closed the connection without an answer: it died "
                              "(its stderr, above, says why)")
    answer = json.loads(b"".join(chunks))
    answer["stdout"] = base64.b64decode(answer["stdout"])
    answer["stderr"] = base64.b64decode(answer["stderr"])
    return answer


def main() -> int:
    timeout = float(os.environ.get("RUBY_WASM_TIMEOUT", "120"))
    answer = request(os.environ[SOCKET_ENV], ["-C", GUEST_CWD, *sys.argv[1:]],
                     [[os.getcwd(), GUEST_CWD, True]], {}, timeout)
    sys.stdout.buffer.write(answer["stdout"])
    sys.stderr.buffer.write(answer["stderr"])
    if answer["trap"]:
        sys.stderr.write(f"wasm trap: {answer['trap']}\n")
    return answer["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
