"""The binary cache's server: any base URL that answers GET and PUT (nginx with WebDAV, an
object store behind HTTP), or a file:// directory shared between machines.

An unreachable server costs one probe per run (a few seconds at most): the first process that
finds it down leaves a note for the run in the cache, and every stage after it, in any doit
worker of the same run, builds locally without asking again.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import SourceUnavailable, UserError
from ..inputs.download import download, session, shown
from ..locks import held
from ..paths import cache_root
from ..steps import say, write_atomic

BINARY_CACHE_ENV = "RUBY_WASM_BINARY_CACHE"
PROBE_TIMEOUT = (3, 5)
PUT_TIMEOUT = (10, 300)
# One run: set when dodo.py imports the toolchain, so the workers doit -n forks share it.
RUN = f"{os.getpid()}-{time.time_ns()}"


@dataclass(frozen=True)
class Remote:
    base: str  # without a trailing slash

    @property
    def shown(self) -> str:
        return shown(self.base)

    @property
    def is_local(self) -> bool:
        return self.base.startswith("file://")

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"

    def _local(self, path: str) -> Path:
        return Path(unquote(urlsplit(self.url(path)).path))

    def get(self, path: str) -> bytes | None:
        """A small file's bytes, or None when the server has no such file; SourceUnavailable when
        the server fails or cannot be reached."""
        if self.is_local:
            local = self._local(path)
            return local.read_bytes() if local.exists() else None
        import requests

        try:
            response = session().get(self.url(path), timeout=PROBE_TIMEOUT)
        except requests.RequestException as error:
            raise SourceUnavailable(f"{type(error).__name__}: {str(error)[:160]}") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise SourceUnavailable(f"HTTP {response.status_code}")
        return response.content

    def download(self, path: str, partial: Path, name: str) -> None:
        """Into partial, resuming what an interrupted pull left there."""
        download(self.url(path), partial, name)

    def has(self, path: str) -> bool:
        """Whether the server holds the file; SourceUnavailable when it fails or cannot be reached."""
        if self.is_local:
            return self._local(path).exists()
        import requests

        try:
            status = session().head(self.url(path), timeout=PROBE_TIMEOUT).status_code
        except requests.RequestException as error:
            raise SourceUnavailable(f"{type(error).__name__}: {str(error)[:160]}") from None
        if status not in (200, 404):
            raise SourceUnavailable(f"HTTP {status}")
        return status == 200

    def put(self, path: str, source: Path) -> None:
        """Upload a file whole: a reader sees the old file or the new one, never half of it (nginx's
        WebDAV PUT writes a temporary file and renames it; a directory gets the same here)."""
        if self.is_local:
            target = self._local(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            os.close(fd)
            shutil.copyfile(source, temporary)
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)
            return
        import requests

        try:
            with source.open("rb") as body:
                response = requests.put(self.url(path), data=body, timeout=PUT_TIMEOUT)
        except requests.RequestException as error:
            raise UserError(f"The upload of {path} to the binary cache {self.shown} failed ({type(error).__name__}). "
                            "What was pushed before it is whole; push again to go on.") from None
        if response.status_code not in (200, 201, 204):
            raise UserError(f"The binary cache refused the upload of {path}: HTTP {response.status_code} from "
                            f"{shown(self.url(path))}. The server must accept PUT (nginx: dav_methods PUT; "
                            "create_full_put_path on) from this machine.")


def configured() -> Remote | None:
    """The binary cache RUBY_WASM_BINARY_CACHE names, or None when it names none."""
    value = os.environ.get(BINARY_CACHE_ENV, "").strip()
    if not value:
        return None
    if urlsplit(value).scheme not in ("http", "https", "file"):
        raise UserError(f"{BINARY_CACHE_ENV}='{shown(value)}' is not a URL this toolchain reads: give an http://, "
                        "https:// or file:/// base URL (a directory of the server that accepts GET and PUT).")
    return Remote(value.rstrip("/"))


def _note() -> Path:
    return cache_root() / ".binary-cache-unreachable.json"


@functools.cache
def reachable(remote: Remote) -> bool:
    """Whether the server answers at all (any HTTP status will do), asked once per run: the doit
    workers of one run wait for the first one's answer."""
    with held(_note(), "another process asking the binary cache"):
        return _reachable(remote)


def _reachable(remote: Remote) -> bool:
    try:
        noted = json.loads(_note().read_text())
    except (OSError, ValueError):
        noted = {}
    if noted.get("run") == RUN and noted.get("base") == remote.shown:
        return False
    if remote.is_local:
        problem = None if remote._local("").is_dir() else "the directory does not exist"
    else:
        problem = _probe(remote)
    if problem is None:
        return True
    say(f"    binary cache {remote.shown} is unreachable ({problem}); this run builds everything here")
    write_atomic(_note(), json.dumps({"run": RUN, "base": remote.shown, "problem": problem}).encode())
    return False


def _probe(remote: Remote) -> str | None:
    import requests

    try:
        requests.head(remote.url(""), timeout=PROBE_TIMEOUT, allow_redirects=False)
    except requests.RequestException as error:
        return f"{type(error).__name__}: {str(error)[:160]}"
    return None
