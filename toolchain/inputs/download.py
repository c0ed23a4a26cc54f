"""Downloads that survive interruption: a partial file grows until it is whole, with a Range
request after a dropped connection, from an http(s) server or a file:// directory alike."""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from ..errors import SourceUnavailable

if TYPE_CHECKING:
    import requests

TIMEOUT = (10, 60)
DOWNLOAD_CHUNK = 1 << 14  # small enough that a dropped connection loses little of the partial file


def shown(url: str) -> str:
    """The URL as messages show it: without a user name or password it may carry."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")).geturl() \
        if parts.username or parts.password else url


def session() -> requests.Session:
    """A session that retries GET and HEAD on a server error, twice, with backoff."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    # raise_on_status=False: after the last try the caller sees the server's status, not a RetryError
    retry = Retry(total=2, backoff_factor=0.5, status_forcelist=(500, 502, 503, 504),
                  allowed_methods=("GET", "HEAD"), raise_on_status=False)
    pooled = requests.Session()
    pooled.mount("http://", HTTPAdapter(max_retries=retry))
    pooled.mount("https://", HTTPAdapter(max_retries=retry))
    return pooled


class _Progress:
    """A one-line download meter: redrawn in place on a terminal, every few seconds in a log."""

    def __init__(self, name: str, total: int | None, done: int) -> None:
        self.name, self.total, self.done = name, total, done
        self.started = self.last = time.monotonic()
        self.interactive = sys.stderr.isatty()

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.last >= (0.2 if self.interactive else 5):
            self.last = now
            self._draw(end="\r" if self.interactive else "\n")

    def _draw(self, end: str) -> None:
        rate = self.done / max(time.monotonic() - self.started, 1e-3) / 1e6
        total = f"/{self.total / 1e6:.1f}" if self.total else ""
        percent = f"{100 * self.done / self.total:3.0f}% " if self.total else ""
        print(f"    {self.name} {percent}{self.done / 1e6:.1f}{total} MB {rate:.1f} MB/s",
              end=end, file=sys.stderr, flush=True)

    def finish(self) -> None:
        self._draw(end="\n")


def download(url: str, partial: Path, name: str) -> None:
    """Fetch url (http, https or file) into partial, continuing from what an interrupted run left there."""
    have = partial.stat().st_size if partial.exists() else 0
    if url.startswith("file://"):
        _copy_from(Path(unquote(urlsplit(url).path)), partial, have)
        return
    import requests  # here, not at the top: a no-op doit run downloads nothing

    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with session().get(url, stream=True, timeout=TIMEOUT, headers=headers) as response:
            if response.status_code == 416:  # the partial file is already complete
                return
            if response.status_code not in (200, 206):
                raise SourceUnavailable(f"HTTP {response.status_code}")
            if response.status_code == 200:
                have = 0
            length = response.headers.get("Content-Length")
            progress = _Progress(name, have + int(length) if length else None, have)
            with partial.open("ab" if have else "wb") as out:
                for chunk in response.iter_content(DOWNLOAD_CHUNK):
                    out.write(chunk)
                    progress.advance(len(chunk))
            progress.finish()
    except requests.RequestException as error:
        raise SourceUnavailable(type(error).__name__ + ": " + str(error)[:200]) from None


def _copy_from(path: Path, partial: Path, have: int) -> None:
    try:
        with path.open("rb") as source, partial.open("ab" if have else "wb") as out:
            source.seek(have)
            shutil.copyfileobj(source, out, DOWNLOAD_CHUNK)
    except FileNotFoundError:
        raise SourceUnavailable(f"{path} does not exist") from None
    except OSError as error:
        raise SourceUnavailable(f"{path}: {error.strerror}") from None
