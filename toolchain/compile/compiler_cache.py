"""The compiler cache, for CRuby's builds: what running the compiler found out, kept across keys.

A change to one CRuby C file makes a new build key, so a new build directory, a new configure and
a new `make`. Two caches make that rebuild cost the one file:
- compiles go through Debian's ccache (cache/ccache/), keyed by what the compiler sees. Its base
  directory is the build root (the native builds': cache/native), so a build under another key
  spells every path the same way (see providers.DRIVER_LAUNCHER). ccache keeps the directory
  under its size limit by itself;
- configure's test results go to autoconf's own cache file (cache/configure/), named through
  CONFIG_SITE, so configure's arguments and rbconfig.rb do not change. It is keyed by the
  configure script and every input of the build but the patches, so a patch to configure, the
  toolchain or a flag starts afresh.
Neither enters a build key or a manifest: they must not change a byte, and the nightly's second
build, which runs with RUBY_WASM_COMPILER_CACHE=off, proves they do not.
"""
from __future__ import annotations

import os
import shlex
import subprocess
from collections import Counter
from pathlib import Path

from ..inputs.providers import install_debian_packages
from ..paths import cache_dir
from ..steps import write_atomic

COMPILER_CACHE_ENV = "RUBY_WASM_COMPILER_CACHE"  # "off": compile everything
CCACHE = Path("/usr/bin/ccache")
MAX_SIZE = "4G"


def enabled() -> bool:
    return os.environ.get(COMPILER_CACHE_ENV, "on") != "off"


def ensure_installed() -> None:
    if enabled() and not CCACHE.exists():
        install_debian_packages(["ccache"], f"The compiler cache (set {COMPILER_CACHE_ENV}=off to build without it)")


def counters() -> Counter[str]:
    """ccache's statistics counters for this cache directory (hits, misses, uncacheable calls)."""
    env = {**os.environ, "CCACHE_DIR": str(cache_dir("ccache"))}
    stats = subprocess.run([str(CCACHE), "--print-stats"], env=env, capture_output=True, text=True, check=True).stdout
    return Counter({name: int(value) for name, value in (line.split("\t") for line in stats.splitlines())
                    if value.isdigit()})


def hits(counts: Counter[str]) -> int:
    return counts["direct_cache_hit"] + counts["preprocessed_cache_hit"]


def environment(base_dir: Path, compiler_identity: str) -> dict[str, str]:
    """The variables that make a build's compiles go through ccache, or none when it is off.
    The compiler is identified by the toolchain's identity, not by the driver script's mtime,
    and only this configuration is read, so a user's ccache.conf cannot change what is cached.
    Without ccache installed (the native builds install it), compiles run directly."""
    if not enabled() or not CCACHE.exists():
        return {}
    directory = cache_dir("ccache")
    return {"CCACHE_DIR": str(directory), "CCACHE_CONFIGPATH": str(directory / "ccache.conf"),
            "CCACHE_BASEDIR": str(base_dir), "CCACHE_COMPILERCHECK": f"string:{compiler_identity}",
            "CCACHE_MAXSIZE": MAX_SIZE}


def configure_cache(key: str) -> Path | None:
    """Where configure results are kept for this configure key; None when the cache is off."""
    return cache_dir("configure") / f"{key}.cache" if enabled() else None


def configure_site(build_dir: Path, kept: Path | None) -> dict[str, str]:
    """The environment that makes configure read and update a cache file in build_dir, seeded
    from the kept one; none when the cache is off."""
    if kept is None:
        return {}
    local = build_dir / "config.cache"
    if kept.exists() and not local.exists():
        write_atomic(local, kept.read_bytes())
    site = build_dir / "config.site"
    write_atomic(site, f"cache_file={shlex.quote(str(local))}\n".encode())
    return {"CONFIG_SITE": str(site)}


def keep_configure_results(build_dir: Path, kept: Path | None) -> None:
    """Keep what configure found out, for the next configure with the same key. Results naming
    this build's directory are left out: another build has another directory."""
    local = build_dir / "config.cache"
    if kept is not None and local.exists():
        lines = [line for line in local.read_text().splitlines(keepends=True) if str(build_dir) not in line]
        write_atomic(kept, "".join(lines).encode())
