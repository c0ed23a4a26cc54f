"""Shared fixtures: a private cache per test, and a real HTTP server on loopback."""
from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cli import doit

from toolchain.binary_cache import trust
from toolchain.binary_cache.remote import BINARY_CACHE_ENV
from toolchain.compile import cruby
from toolchain.paths import CACHE_ENV, PROJECT_ROOT
from toolchain.run.runner import DEFAULT_PROFILE, Artifact, artifact_dir, artifact_path
from toolchain.run.workers import worker_pool
from toolchain.verify import suites
from toolchain.verify.verification import verification_dir


@pytest.fixture(autouse=True, scope="session")
def no_binary_cache() -> None:
    """Tests build what they test: a binary cache set in the caller's environment would hand them
    its builds instead (the binary cache's own tests name their server and keys themselves)."""
    for name in (BINARY_CACHE_ENV, trust.SIGNING_KEY_ENV, trust.TRUSTED_KEYS_ENV):
        os.environ.pop(name, None)


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the toolchain at an empty cache so a test cannot touch the shared one."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    return cache


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of this checkout, without its cache and virtualenv, for a test to break: the project's
    commands run in it (tests/cli.py, `checkout=`) import its toolchain package and read its recipes."""
    copy = tmp_path / "checkout"
    shutil.copytree(PROJECT_ROOT, copy, ignore=shutil.ignore_patterns(
        ".git", ".venv", "cache", "__pycache__", "*.egg-info", ".pytest_cache"))
    return copy


@dataclass
class FileServer:
    """Serves files from a dict with Range support; can cut a response off half way, once, and
    hold a response back until the test lets it go."""
    files: dict[str, bytes] = field(default_factory=dict)
    cut_off_once: set[str] = field(default_factory=set)
    held_back: dict[str, threading.Event] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    port: int = 0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


def _handler(server: FileServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            name = self.path.lstrip("/")
            server.requests.append((name, self.headers.get("Range")))
            if name in server.held_back:
                server.held_back[name].wait(timeout=120)
            if name not in server.files:
                self.send_error(404)
                return
            body, start = server.files[name], 0
            if self.headers.get("Range"):
                start = int(self.headers["Range"].split("=")[1].rstrip("-"))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            if name in server.cut_off_once:
                server.cut_off_once.discard(name)
                self.wfile.write(body[start:start + (len(body) - start) // 2])
                self.wfile.flush()
                self.connection.shutdown(2)  # the connection drops mid-body
                return
            self.wfile.write(body[start:])
    return Handler


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    state = FileServer()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def default_build() -> subprocess.CompletedProcess:
    """`doit ruby_wasm` as a user types it: the default profile's artifact, built if need be."""
    result = doit("ruby_wasm")
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="session")
def artifact(default_build) -> Artifact:
    return Artifact(artifact_dir("3.3", DEFAULT_PROFILE))


@pytest.fixture(scope="session")
def twin(artifact) -> Path:
    """The native twin of the default artifact (CRuby for this host, same source and patches),
    built if need be: what a wasm run is compared with."""
    result = doit("twin:3.3")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return cruby.plan("3.3", DEFAULT_PROFILE, "auto", fetch_missing=False, quiet=True).twin


BOX_APP = Path(__file__).parent / "programs" / "box_app"
BOX_NAME = "test-app-box"
BOX_ARGS = ("box", "--name", BOX_NAME, "--gems", "nokogiri,bcrypt", "--app", str(BOX_APP), "--entry", "main.rb")


@pytest.fixture(scope="session")
def box_build() -> subprocess.CompletedProcess:
    """The README's box: ruby, the standard library, nokogiri, bcrypt and an app in one module."""
    result = doit(*BOX_ARGS)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="session")
def box(box_build) -> Artifact:
    return Artifact(artifact_path(BOX_NAME))


@pytest.fixture(scope="session")
def full_verification() -> dict:
    """The one full verification run that every test needing one shares (the artifact is built
    first if needed)."""
    result = doit("verify")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads((verification_dir(f"ruby-3.3-{DEFAULT_PROFILE}") / "summary.json").read_text())


@pytest.fixture(scope="session")
def context(full_verification, tmp_path_factory) -> Iterator[suites.SuiteContext]:
    """A worker pool on the verified full artifact, with the source tree and the native twin."""
    build = cruby.plan("3.3", DEFAULT_PROFILE, "auto", fetch_missing=False, quiet=True)
    with worker_pool(Artifact(artifact_dir("3.3", DEFAULT_PROFILE)), 2) as socket:
        yield suites.SuiteContext(socket, build.source_root, build.twin,
                                  tmp_path_factory.mktemp("suites"), 2)
