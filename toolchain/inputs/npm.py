"""npm packages as sources: a package's tarball, at the registry the machine's npm is configured
with (`npm config get registry`), so no registry's address is written anywhere in the project."""
from __future__ import annotations

import functools
import subprocess

from ..errors import SourceUnavailable
from .recipe import NpmSource


@functools.cache
def registry() -> str:
    try:
        result = subprocess.run(["npm", "config", "get", "registry"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SourceUnavailable(f"npm could not say its registry ({error}); install npm (apt-get install npm)",
                                network=False) from None
    if result.returncode != 0 or not result.stdout.strip().startswith(("http://", "https://")):
        raise SourceUnavailable(f"`npm config get registry` failed: {result.stderr.strip()[-300:]}", network=False)
    return result.stdout.strip().rstrip("/")


def tarball_url(source: NpmSource) -> str:
    """Where the registry serves the package's tarball: <registry>/<package>/-/<name>-<version>.tgz."""
    return f"{registry()}/{source.package}/-/{source.tarball}"
