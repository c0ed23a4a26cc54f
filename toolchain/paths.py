"""Where things live: the project tree and the relocatable cache."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RECIPES_DIR = PROJECT_ROOT / "recipes"
PATCHES_DIR = PROJECT_ROOT / "patches"
CACHE_ENV = "RUBY_WASM_CACHE"


def cache_root() -> Path:
    """The cache directory; RUBY_WASM_CACHE moves it (CI keeps it outside the checkout)."""
    return Path(os.environ.get(CACHE_ENV) or PROJECT_ROOT / "cache").resolve()


def cache_dir(*parts: str) -> Path:
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
