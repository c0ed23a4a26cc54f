"""A cold machine with a warm binary cache beside a cold machine without one.

    python benchmarks/binary_cache.py [--profile full] [--jobs 2] [--from-source]

Starts Debian's nginx (WebDAV) on loopback with a scratch document root, makes a scratch signing
key, pushes the profile's artifact and what it is made of from the current cache (building it
first if need be), then times `doit -n JOBS ruby_wasm` in an empty cache directory that pulls
everything from the server. With --from-source it also times the same command in an empty cache
with no binary cache (about 13 minutes on 2 cores). Each cold run's ruby.wasm is compared with
the pushed one's sha256.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the nginx the tests run, with the same configuration

from nginx import Nginx  # noqa: E402

from toolchain.binary_cache import trust  # noqa: E402
from toolchain.binary_cache.remote import BINARY_CACHE_ENV  # noqa: E402
from toolchain.digests import sha256_file  # noqa: E402
from toolchain.paths import CACHE_ENV, PROJECT_ROOT, cache_root  # noqa: E402


def doit(env: dict[str, str], *args: str) -> float:
    """Run doit with env added; its wall time. Its output is shown only if it fails."""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "doit", *args], cwd=PROJECT_ROOT, env={**os.environ, **env},
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"doit {' '.join(args)} failed:\n{result.stdout[-2000:]}{result.stderr[-4000:]}")
    return time.monotonic() - started


def cold_build(options: argparse.Namespace, env: dict[str, str]) -> tuple[float, str]:
    """`doit -n JOBS ruby_wasm` in an empty cache directory: its wall time and its ruby.wasm's sha256."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as cache:
        seconds = doit({**env, CACHE_ENV: cache}, "-n", str(options.jobs), "ruby_wasm", "--profile", options.profile)
        return seconds, sha256_file(Path(cache) / "artifacts" / f"ruby-3.3-{options.profile}" / "ruby.wasm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="full")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--from-source", action="store_true", help="also time a cold build without the binary cache")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as scratch:
        server = Nginx(Path(scratch) / "nginx").start()
        try:
            key = trust.generate("benchmark-1", Path(scratch) / "signing-key")
            env = {BINARY_CACHE_ENV: f"{server.url}/cache", trust.SIGNING_KEY_ENV: str(Path(scratch) / "signing-key"),
                   trust.TRUSTED_KEYS_ENV: key.line}
            doit({}, "ruby_wasm", "--profile", options.profile)
            pushed = sha256_file(cache_root() / "artifacts" / f"ruby-3.3-{options.profile}" / "ruby.wasm")
            push_seconds = doit(env, "push", "--product", f"ruby-3.3-{options.profile}")
            pulled_seconds, pulled = cold_build(options, {k: v for k, v in env.items() if k != trust.SIGNING_KEY_ENV})
        finally:
            server.stop()
    rows = [("push (the product and what it is made of)", push_seconds, pushed)]
    rows.append(("cold cache, warm binary cache", pulled_seconds, pulled))
    if options.from_source:
        rows.append(("cold cache, no binary cache (from source)", *cold_build(options, {})))
    print(f"doit -n {options.jobs} ruby_wasm --profile {options.profile} on an empty cache directory ({os.cpu_count()} cores)")
    for title, seconds, digest in rows:
        print(f"  {title:<44}{seconds:8.1f} s   ruby.wasm {digest[:16]}  {'same' if digest == pushed else 'DIFFERS'}")


if __name__ == "__main__":
    main()
