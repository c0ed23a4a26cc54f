"""Where things live: the project tree and the relocatable cache."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RECIPES_DIR = PROJECT_ROOT / "recipes"
PATCHES_DIR = PROJECT_ROOT / "patches"
RUBY_SUPPORT = Path(__file__).with_name("ruby")  # Ruby scripts the builds and the test harness load
CACHE_ENV = "RUBY_WASM_CACHE"


def cache_root() -> Path:
    """The cache directory; RUBY_WASM_CACHE moves it (CI keeps it outside the checkout)."""
    return Path(os.environ.get(CACHE_ENV) or PROJECT_ROOT / "cache").resolve()


def cache_dir(*parts: str) -> Path:
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


BUILD_ROOT_ENV = "RUBY_WASM_BUILD_ROOT"
SOURCE_ROOT_ENV = "RUBY_WASM_SOURCE_ROOT"  # set by each build to its unpacked source tree
ARTIFACT_ROOT_ENV = "RUBY_WASM_ARTIFACT_ROOT"


def build_root() -> Path:
    """Where keyed build directories live: cache/build unless RUBY_WASM_BUILD_ROOT moves them (the
    nightly's reproducibility check builds a second time under another root). Compilers map it
    to /build, so no artifact depends on it."""
    path = Path(os.environ.get(BUILD_ROOT_ENV) or cache_root() / "build").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifact_root() -> Path:
    """Where published artifacts live: cache/artifacts unless RUBY_WASM_ARTIFACT_ROOT moves them
    (the reproducibility build publishes apart from the first)."""
    path = Path(os.environ.get(ARTIFACT_ROOT_ENV) or cache_root() / "artifacts").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def portable(text: str) -> str:
    """text with the build root named /build, as the compilers name it in the code: for what is
    recorded about a build (keys, manifests, rbconfig.rb), which must not depend on where it ran."""
    return text.replace(str(build_root()), "/build")
