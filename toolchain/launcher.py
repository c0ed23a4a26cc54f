"""Stands in for the `ruby` executable: forwards argv and cwd to a wasm worker, replays its output.

Kept free of heavy imports (run it with `python3 -S`): test drivers start it once per test.
"""
import base64
import json
import os
import socket
import sys


def main() -> int:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(os.environ["RUBY_WASM_WORKERS"])
    env = {k[len("RUBY_WASM_ENV_"):]: v for k, v in os.environ.items() if k.startswith("RUBY_WASM_ENV_")}
    client.sendall(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "env": env}).encode())
    client.shutdown(socket.SHUT_WR)
    chunks = []
    while chunk := client.recv(1 << 16):
        chunks.append(chunk)
    answer = json.loads(b"".join(chunks))
    sys.stdout.buffer.write(base64.b64decode(answer["stdout"]))
    sys.stderr.buffer.write(base64.b64decode(answer["stderr"]))
    if answer["trap"]:
        sys.stderr.write(f"wasm trap: {answer['trap']}\n")
    return answer["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
