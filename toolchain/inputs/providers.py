"""Toolchain providers: each yields the same wasi-sdk-shaped toolchain and an identity string.

The identity (provider and exact versions) enters every cache key and manifest, so
two builds with different compilers can never share a cache entry.

Builds do not call a provider's tools by path: each toolchain gets a driver directory, put
first on PATH, whose clang adds -ffile-prefix-map for the build root and the SDK (so no host
path reaches an artifact) and whose other entries link to the provider's tools. Build systems
then record plain names (CC=clang), never a path into the cache. When a build sets a compiler
cache (build/compiler_cache.py), that clang runs the mapping one through ccache.
"""
from __future__ import annotations

import functools
import hashlib
import os
import platform
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..locks import once, replace_dir
from ..paths import cache_dir
from ..steps import say, step, write_atomic
from . import recipe
from .extract import extract_tar, single_top_dir
from .fetch import fetch_recipe

PROVIDERS = ("auto", "wasi-sdk", "debian", "path")
DEBIAN_PACKAGES = ("clang-19", "lld-19", "llvm-19", "libclang-rt-19-dev-wasm32", "wasi-libc", "binaryen")
DEBIAN_LLVM_BIN = Path("/usr/lib/llvm-19/bin")
DEBIAN_WASI_INCLUDE = Path("/usr/include/wasm32-wasi")
DEBIAN_WASI_LIB = Path("/usr/lib/wasm32-wasi")
DRIVER_TOOLS = ("llvm-ar", "llvm-ranlib", "llvm-nm", "wasm-ld")
# The driver's clang: the provider's clang with, in __FILE__ and debug info, the build's own
# source tree (paths.SOURCE_ROOT_ENV) named ".", other build directories (paths.BUILD_ROOT_ENV)
# /build and the SDK /sdk. Clang applies the longest matching prefix. The source tree maps to a
# relative name, as Debian builds do, because `#include __FILE__` (Ruby's debug_counter.h) must
# still resolve.
DRIVER_CLANG = """#!/bin/sh
exec '{clang}' ${{RUBY_WASM_BUILD_ROOT:+"-ffile-prefix-map=$RUBY_WASM_BUILD_ROOT=/build"}} \\
    ${{RUBY_WASM_SOURCE_ROOT:+"-ffile-prefix-map=$RUBY_WASM_SOURCE_ROOT=."}} '-ffile-prefix-map={sdk}=/sdk' "$@"
"""
# The driver's clang as builds call it: DRIVER_CLANG itself, or, when the build set CCACHE_DIR,
# DRIVER_CLANG through ccache. ccache names paths under its base directory (the build root)
# relative to the working directory, so a build under another key finds the same entries; the
# source tree and the build root are then also mapped in that spelling, so __FILE__ reads as it
# does without the cache. Not part of the toolchain's identity: the cache must not change a byte,
# and the nightly's second build, which runs without it, proves that.
DRIVER_LAUNCHER = """#!/bin/sh
[ -n "$CCACHE_DIR" ] || exec '{mapped}' "$@"
relative() {{ realpath -m --relative-to=. "$1"; }}
exec ccache '{mapped}' ${{RUBY_WASM_BUILD_ROOT:+"-ffile-prefix-map=$(relative "$RUBY_WASM_BUILD_ROOT")=/build"}} \\
    ${{RUBY_WASM_SOURCE_ROOT:+"-ffile-prefix-map=$(relative "$RUBY_WASM_SOURCE_ROOT")=."}} "$@"
"""


@dataclass(frozen=True)
class Toolchain:
    """A wasi-sdk-shaped directory (bin/clang, bin/llvm-ar, share/wasi-sysroot) plus wasm-opt, and
    the driver directory builds run its tools from."""
    provider: str
    root: Path
    wasm_opt: Path
    identity: str
    driver: Path  # bin directory: clang, clang++, llvm-ar, llvm-ranlib, llvm-nm, wasm-ld, wasm-opt

    @property
    def cc(self) -> Path:
        return self.driver / "clang"

    @property
    def ar(self) -> Path:
        return self.driver / "llvm-ar"

    @property
    def sysroot(self) -> Path:
        return self.root / "share" / "wasi-sysroot"

    def build_env(self) -> dict[str, str]:
        """Variables CRuby's configure and the libraries' build systems read, naming tools found on
        PATH through the driver. configure insists on WASI_SDK_PATH even with CC given."""
        return {"PATH": f"{self.driver}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
                "WASI_SDK_PATH": str(self.root), "CC": "clang", "LD": "clang", "AR": "llvm-ar",
                "RANLIB": "llvm-ranlib", "WASMOPT": "wasm-opt"}


def _driver_identity() -> str:
    return "driver " + hashlib.sha256(DRIVER_CLANG.encode()).hexdigest()[:12]


def _with_driver(provider: str, root: Path, wasm_opt: Path, identity: str) -> Toolchain:
    """The toolchain with its driver directory, written once per SDK and driver version. Named
    after the SDK's real path, so a cache that links to another's toolchains shares its drivers."""
    root = root.resolve()
    identity = f"{identity}; {_driver_identity()}"
    name = hashlib.sha256(f"{root}\0{wasm_opt}\0{identity}\0{DRIVER_LAUNCHER}".encode()).hexdigest()[:16]
    driver = cache_dir("toolchains") / f"driver-{provider}-{name}"
    _prepare_once(driver, lambda: _write_driver(driver, root, wasm_opt, identity))
    return Toolchain(provider, root, wasm_opt, identity, driver)


def _write_driver(driver: Path, root: Path, wasm_opt: Path, identity: str) -> None:
    scripts = {}
    for name in ("clang", "clang++"):
        scripts[f"mapped/{name}"] = DRIVER_CLANG.format(clang=root / "bin" / name, sdk=root)
        scripts[name] = DRIVER_LAUNCHER.format(mapped=driver / "mapped" / name)
    links = {tool: root / "bin" / tool for tool in DRIVER_TOOLS} | {"wasm-opt": wasm_opt}
    _write_driver_dir(driver, scripts, links, identity)


# gcc and cc as native builds call them: through ccache when the build set CCACHE_DIR.
HOST_LAUNCHER = """#!/bin/sh
[ -n "$CCACHE_DIR" ] || exec /usr/bin/{name} "$@"
exec ccache /usr/bin/{name} "$@"
"""


def host_driver() -> Path:
    """The directory, first on a native build's PATH, whose gcc and cc are HOST_LAUNCHER."""
    driver = cache_dir("toolchains") / f"host-driver-{hashlib.sha256(HOST_LAUNCHER.encode()).hexdigest()[:12]}"
    scripts = {name: HOST_LAUNCHER.format(name=name) for name in ("gcc", "cc")}
    _prepare_once(driver, lambda: _write_driver_dir(driver, scripts, {}, "host"))
    return driver


def _write_driver_dir(driver: Path, scripts: dict[str, str], links: dict[str, Path], marker: str) -> None:
    """Write a driver directory whole (scripts by relative path, then links), then its marker."""
    staging = driver.with_name(f".{driver.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, text in scripts.items():
        (staging / name).parent.mkdir(exist_ok=True)
        (staging / name).write_text(text)
        (staging / name).chmod(0o755)
    for name, target in links.items():
        (staging / name).symlink_to(target)
    replace_dir(staging, driver)
    write_atomic(_complete_marker(driver), marker.encode())


def host_platform() -> str:
    machine = platform.machine().lower()
    system = {"darwin": "macos"}.get(platform.system().lower(), platform.system().lower())
    return f"{machine}-{system}"


def _first_line(command: list[str]) -> str:
    try:
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise UserError(f"Could not run {' '.join(command)}: {error}.") from None
    return output.strip().splitlines()[0] if output.strip() else ""


# --- wasi-sdk: the upstream release and binaryen's, downloaded and verified -------------------

def _complete_marker(target: Path) -> Path:
    """Written beside a prepared toolchain directory once it is whole."""
    return target.with_name(target.name + ".complete")


def _prepare_once(target: Path, prepare: Callable[[], None]) -> None:
    """Prepare a toolchain directory unless its marker says it is whole; one process at a time."""
    once(target, f"another preparation of {target.name}", _complete_marker(target).exists, lambda _: prepare())


def _unpacked_release(name: str) -> Path:
    component = recipe.load(name)
    source, archive = fetch_recipe(component, host_platform())
    target = cache_dir("toolchains") / f"{component.name}-{component.version}-{source.sha256[:12]}"
    _prepare_once(target, lambda: _unpack_release(archive, target, source.sha256))
    return single_top_dir(target)


def _unpack_release(archive: Path, target: Path, sha256: str) -> None:
    with step(f"unpack {archive.name}"):
        extract_tar(archive, target)
        write_atomic(_complete_marker(target), sha256.encode())


def _release_identity(name: str) -> str:
    component = recipe.load(name)
    source = component.sources_for(host_platform())[0]
    return f"{component.name} {component.version} (sha256 {source.sha256})"


def wasi_sdk() -> Toolchain:
    root = _unpacked_release("wasi-sdk")
    wasm_opt = _unpacked_release("binaryen") / "bin" / "wasm-opt"
    identity = f"wasi-sdk: {_release_identity('wasi-sdk')}; {_release_identity('binaryen')}"
    return _with_driver("wasi-sdk", root, wasm_opt, identity)


def cached_wasi_sdk_present() -> bool:
    pattern = "wasi-sdk-{}-*.complete".format(recipe.load("wasi-sdk").version)
    return any(cache_dir("toolchains").glob(pattern))


# --- debian: the distribution's clang, lld, compiler-rt, wasi-libc and binaryen --------------

@functools.cache  # asked by every plan; installing packages clears it
def debian_versions() -> dict[str, str | None]:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\t${Version}\t${db:Status-Abbrev}\n", *DEBIAN_PACKAGES],
        capture_output=True, text=True,
    )
    versions: dict[str, str | None] = dict.fromkeys(DEBIAN_PACKAGES)
    for line in result.stdout.splitlines():
        package, version, status = (line.split("\t") + ["", ""])[:3]
        if status.startswith("ii"):
            versions[package] = version
    return versions


def install_debian_packages(missing: list[str], purpose: str) -> None:
    """Install Debian packages `purpose` needs (as root), or say how to."""
    command = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        raise UserError(
            f"{purpose} needs packages that are not installed: {', '.join(missing)}. "
            f"Install them with: sudo {' '.join(command)}  (then run again)."
        )
    with step(f"apt-get install {' '.join(missing)}"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(command, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL, check=False)
            if subprocess.run(command, env=env).returncode != 0:
                raise UserError(f"'{' '.join(command)}' failed; see apt's messages above.")


def _debian_root() -> Path:
    return cache_dir("toolchains") / "debian"


def _write_debian_root(root: Path) -> None:
    """A private wasi-sdk-shaped tree: a clang that always targets wasm32-wasi with a sysroot of
    links to wasi-libc, so the host's glibc headers can never leak into a wasm build."""
    staging = root.with_name(".debian.partial")
    shutil.rmtree(staging, ignore_errors=True)
    sysroot = staging / "share" / "wasi-sysroot"
    (sysroot / "lib").mkdir(parents=True)
    (sysroot / "include").symlink_to(DEBIAN_WASI_INCLUDE)
    (sysroot / "lib" / "wasm32-wasi").symlink_to(DEBIAN_WASI_LIB)
    bin_dir = staging / "bin"
    bin_dir.mkdir()
    final_sysroot = root / "share" / "wasi-sysroot"
    for name in ("clang", "clang++"):
        wrapper = bin_dir / name
        wrapper.write_text(
            "#!/bin/sh\n"
            f'exec {DEBIAN_LLVM_BIN / name} --target=wasm32-wasi --sysroot={final_sysroot} "$@"\n'
        )
        wrapper.chmod(0o755)
    for name in ("llvm-ar", "llvm-ranlib", "llvm-nm", "wasm-ld"):
        (bin_dir / name).symlink_to(DEBIAN_LLVM_BIN / name)
    replace_dir(staging, root)
    write_atomic(_complete_marker(root), b"debian\n")


def debian() -> Toolchain:
    versions = debian_versions()
    missing = [name for name, version in versions.items() if version is None]
    if missing:
        install_debian_packages(missing, "The debian toolchain")
        debian_versions.cache_clear()
        versions = debian_versions()
    root = _debian_root()
    _prepare_once(root, lambda: _write_debian_root(root))
    identity = "debian: " + ", ".join(f"{name}={versions[name]}" for name in DEBIAN_PACKAGES)
    return _with_driver("debian", root, Path("/usr/bin/wasm-opt"), identity)


def cached_debian_present() -> bool:
    return _complete_marker(_debian_root()).exists() and None not in debian_versions().values()


# --- path: an SDK the user already has --------------------------------------------------------

def path() -> Toolchain:
    sdk = os.environ.get("WASI_SDK_PATH")
    if not sdk or not (Path(sdk) / "bin" / "clang").exists():
        raise UserError(
            f"The 'path' toolchain needs WASI_SDK_PATH set to a wasi-sdk directory containing "
            f"bin/clang (it is {sdk!r}). Set it, or choose --toolchain auto."
        )
    wasm_opt = os.environ.get("WASMOPT") or shutil.which("wasm-opt")
    if not wasm_opt:
        raise UserError("The 'path' toolchain needs wasm-opt: set WASMOPT to its path or put it on PATH.")
    root = Path(sdk).resolve()
    identity = (f"path: {root}: {_first_line([str(root / 'bin' / 'clang'), '--version'])}; "
                f"{_first_line([wasm_opt, '--version'])}")
    return _with_driver("path", root, Path(wasm_opt).resolve(), identity)


# --- auto: the first that works, with the reason said out loud --------------------------------

def network_reaches(url: str) -> bool:
    import requests  # here, not at the top: a no-op doit run touches no network

    try:
        requests.head(url, timeout=5, allow_redirects=False)
        return True
    except requests.RequestException:
        return False


def choose_provider() -> tuple[str, str]:
    """(provider, reason) in the documented order: cached, WASI_SDK_PATH, download, debian."""
    if cached_wasi_sdk_present():
        return "wasi-sdk", "a verified wasi-sdk is already in the cache"
    if cached_debian_present():
        return "debian", "the debian toolchain is already prepared in the cache"
    if os.environ.get("WASI_SDK_PATH"):
        return "path", "WASI_SDK_PATH is set"
    urls = [s.url for s in recipe.load("wasi-sdk").sources_for(host_platform()) if s.url]
    if urls and network_reaches(urls[0]):
        return "wasi-sdk", "the wasi-sdk release download answers"
    return "debian", "no cached toolchain, WASI_SDK_PATH unset, and the wasi-sdk download is unreachable"


def check_provider(provider: str) -> None:
    if provider not in PROVIDERS:
        raise UserError(f"Unknown toolchain provider '{provider}'. Choose one of: {', '.join(PROVIDERS)}.")


def resolve(provider: str = "auto", quiet: bool = False) -> Toolchain:
    check_provider(provider)
    if provider == "auto":
        provider, reason = choose_provider()
        if not quiet:
            say(f"toolchain: using '{provider}' because {reason}")
    return {"wasi-sdk": wasi_sdk, "debian": debian, "path": path}[provider]()
