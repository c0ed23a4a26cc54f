"""The host Ruby that CRuby's cross build runs its generators and extconf.rb files with."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError
from .steps import step

DEBIAN_RUBY = Path("/usr/bin/ruby")


@dataclass(frozen=True)
class BaseRuby:
    path: Path
    version: str
    description: str  # `ruby -v`, which enters the build key


def _probe(ruby: Path) -> BaseRuby | None:
    try:
        result = subprocess.run(
            [str(ruby), "--disable-gems", "-e", "print RUBY_VERSION, \"\\n\", RUBY_DESCRIPTION"],
            capture_output=True, text=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    version, description = result.stdout.split("\n", 1)
    return BaseRuby(ruby, version, description)


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def find_baseruby(minimum: str) -> BaseRuby:
    """The host ruby if it is at least `minimum`, else Debian's ruby (installed when we are root)."""
    host = shutil.which("ruby")
    found = _probe(Path(host)) if host else None
    if found and _version_tuple(found.version) >= _version_tuple(minimum):
        return found
    if os.geteuid() != 0:
        raise UserError(
            f"Building needs a host Ruby >= {minimum} as baseruby (found: "
            f"{found.version if found else 'none'}). Install one, e.g. "
            "'sudo apt-get install -y ruby', then run again."
        )
    with step("apt-get install ruby (baseruby)"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "ruby"],
                       env=env, stdout=subprocess.DEVNULL, check=False)
    found = _probe(DEBIAN_RUBY)
    if not found or _version_tuple(found.version) < _version_tuple(minimum):
        raise UserError(f"Debian's ruby ({found.version if found else 'not installed'}) is older "
                        f"than the baseruby this Ruby needs ({minimum}). Install a newer host Ruby.")
    return found
