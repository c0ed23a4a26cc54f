"""The lock file (ruby-wasm.lock, committed): every input of every artifact, pinned.

It records each recipe's sources (URL or Debian package and file, with sha256), each patch's
sha256, the toolchain identity resolved on this machine (provider and exact versions, Debian
package versions where used) and the Python dependency versions. `doit lock` rewrites it
deliberately; the nightly refuses to run while what this checkout and machine resolve to
differs from it, and names each difference.
"""
from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path

from ..errors import UserError
from ..paths import PATCHES_DIR, PROJECT_ROOT, RECIPES_DIR
from ..steps import write_atomic
from . import providers, recipe
from .recipe import Recipe, Source

LOCK_FILE = PROJECT_ROOT / "ruby-wasm.lock"
PYTHON_DEPENDENCIES = ("cryptography", "doit", "requests", "wasmtime", "pytest")


def _source_entry(source: Source) -> dict:
    if source.url:
        where = {"url": source.url}
    elif source.npm:
        where = {"npm": f"{source.npm.package}@{source.npm.version}"}
    else:
        where = {"debian": f"{source.debian.package} {source.debian.suite} {source.debian.file}"}  # type: ignore[union-attr]
    return {**where, "sha256": source.sha256, **({"root": source.root} if source.root else {})}


def _recipe_entry(loaded: Recipe) -> dict:
    return {"version": loaded.version, "sources": [_source_entry(s) for s in loaded.sources]}


def resolved_inputs(provider: str = "auto") -> dict:
    """Every input as this checkout and machine resolve it."""
    recipes = {path.stem: _recipe_entry(recipe.load_recipe(path)) for path in sorted(RECIPES_DIR.glob("*.toml"))}
    patches = {path.relative_to(PATCHES_DIR).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
               for path in sorted(PATCHES_DIR.glob("*/*.patch"))}
    toolchain = providers.resolve(provider, quiet=True)
    return {"recipes": recipes, "patches": patches,
            "toolchain": {"provider": toolchain.provider, "identity": toolchain.identity},
            "python": {name: version(name) for name in PYTHON_DEPENDENCIES}}


def lock_text(inputs: dict) -> str:
    return json.dumps({"format": 1, "inputs": inputs}, indent=2, sort_keys=True) + "\n"


def lock_digest(inputs: dict) -> str:
    return hashlib.sha256(lock_text(inputs).encode()).hexdigest()


def _flatten(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flatten(item, f"{prefix}{key}.").items()}
    if isinstance(value, list):
        return {k: v for index, item in enumerate(value) for k, v in _flatten(item, f"{prefix}{index}.").items()}
    return {prefix.rstrip("."): value}


def differences(locked: dict, current: dict) -> list[str]:
    """One line per input that differs: what the lock says and what resolves now."""
    old, new = _flatten(locked), _flatten(current)
    lines = []
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) != new.get(key):
            lines.append(f"{key}: {old.get(key, '(absent)')!s} in the lock, {new.get(key, '(absent)')!s} now")
    return lines


def read_lock(path: Path = LOCK_FILE) -> dict:
    if not path.exists():
        raise UserError(f"No lock file at {path}. Create it with `doit lock` and commit it.")
    try:
        return json.loads(path.read_text())["inputs"]
    except (json.JSONDecodeError, KeyError) as error:
        raise UserError(f"Lock file {path} is not valid ({error}). Recreate it with `doit lock`.") from None


def check_lock(provider: str = "auto", path: Path = LOCK_FILE) -> dict:
    """The resolved inputs, if they match the lock; otherwise a UserError naming each difference."""
    current = resolved_inputs(provider)
    changed = differences(read_lock(path), current)
    if changed:
        shown = "\n  ".join(changed[:30]) + (f"\n  ... and {len(changed) - 30} more" if len(changed) > 30 else "")
        raise UserError(f"The inputs differ from the lock file {path}:\n  {shown}\nIf these changes are "
                        "intended, update the lock with `doit lock` and commit it; otherwise undo them.")
    return current


def write_lock(provider: str = "auto", path: Path = LOCK_FILE) -> list[str]:
    """Write the lock from the resolved inputs; return what changed."""
    current = resolved_inputs(provider)
    changed = differences(read_lock(path), current) if path.exists() else ["(new lock file)"]
    write_atomic(path, lock_text(current).encode())
    return changed


def record_recipe(name: str, path: Path = LOCK_FILE) -> list[str]:
    """Pin one recipe in the lock as it is now, every other input as it was locked; return what changed."""
    locked = read_lock(path)
    updated = {**locked, "recipes": {**locked["recipes"], name: _recipe_entry(recipe.load(name))}}
    write_atomic(path, lock_text(updated).encode())
    return differences(locked, updated)
