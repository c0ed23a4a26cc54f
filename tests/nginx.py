"""Debian's nginx as a binary cache's server, as a team would run one: WebDAV PUT into a document
root, started on a loopback port with a configuration of its own, stopped when the test is done.
`/slow/` serves the same root at a limited rate, so a test can stop the server mid-download;
`/failing/` answers every request with an internal server error."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

CONFIG = """
user root;
worker_processes 1;
daemon off;
pid {state}/nginx.pid;
error_log {state}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {state}/access.log;
    client_body_temp_path {state}/body;
    client_max_body_size 0;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }}
        location /slow/ {{
            alias {root}/;
            limit_rate {slow_rate};
        }}
        location /failing/ {{
            return 500;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Nginx:
    """One nginx master on 127.0.0.1, serving `root`."""

    def __init__(self, state: Path, slow_rate: str = "256k") -> None:
        self.state, self.root, self.port = state, state / "www", free_port()
        self.root.mkdir(parents=True, exist_ok=True)
        (state / "body").mkdir(exist_ok=True)
        self.config = state / "nginx.conf"
        self.config.write_text(CONFIG.format(state=state, root=self.root, port=self.port, slow_rate=slow_rate))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise RuntimeError("nginx is not installed: `./dev test` installs it (apt-get install nginx-light)")
        self.process = subprocess.Popen([nginx, "-c", str(self.config), "-e", str(self.state / "error.log")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.process.stderr.read().decode()}"
                                   f"{(self.state / 'error.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not listen within 10 s")

    def stop(self) -> None:
        """Stop at once, master and workers, as a crash would: the connections it serves drop."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def requests(self) -> list[str]:
        """The access log's lines: method, path, status, bytes sent."""
        log = self.state / "access.log"
        return log.read_text().splitlines() if log.exists() else []
