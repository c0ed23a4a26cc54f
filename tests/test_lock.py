"""The lock file and the cache keys: every input is pinned, and a change to one input changes
the keys of exactly the artifacts that depend on it."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from toolchain import pipeline
from toolchain.errors import UserError
from toolchain.inputs import lock, providers, recipe, source
from toolchain.paths import PATCHES_DIR, RECIPES_DIR

LIBXML2_PATCH = "libxml2/0001-wasi-no-dup-for-compressed-stdio.patch"


def product_keys() -> dict[str, str]:
    """Every nightly artifact's build key, from the inputs as they resolve now."""
    pipeline.forget_plans()  # the test changed the recipes or patches since the last plan
    return {item.name: item.plan().key for item in pipeline.products("3.3")}


def _private_copy(tree: Path, attribute: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                  *modules: object) -> Path:
    """A copy of a checked-in tree that the named modules read instead, for the test to edit."""
    copy = tmp_path / tree.name
    shutil.copytree(tree, copy)
    for module in modules:
        monkeypatch.setattr(module, attribute, copy)
    return copy


@pytest.fixture(autouse=True)
def plans_made_here_stay_here():
    """The plans these tests make from edited copies are forgotten after each, so that a later test
    in the same process does not plan from them."""
    yield
    pipeline.forget_plans()


@pytest.fixture
def patches_copy(tmp_path, monkeypatch) -> Path:
    return _private_copy(PATCHES_DIR, "PATCHES_DIR", tmp_path, monkeypatch, source, lock)


@pytest.fixture
def recipes_copy(tmp_path, monkeypatch) -> Path:
    return _private_copy(RECIPES_DIR, "RECIPES_DIR", tmp_path, monkeypatch, recipe, lock)


def test_committed_lock_pins_what_this_checkout_resolves():
    """Recipes, patches, toolchain or Python dependencies changed without `doit lock` fail here."""
    assert lock.differences(lock.read_lock(), lock.resolved_inputs()) == []
    locked = lock.read_lock()
    assert locked["recipes"]["openssl"]["sources"][1]["sha256"] == recipe.load("openssl").sources[1].sha256
    assert locked["toolchain"]["identity"] == providers.resolve("auto", quiet=True).identity
    assert set(locked["python"]) == set(lock.PYTHON_DEPENDENCIES) and LIBXML2_PATCH in locked["patches"]


def test_one_line_patch_change_changes_the_dependent_keys_and_the_lock_check_only(patches_copy, tmp_path):
    before = product_keys()
    patch = patches_copy / LIBXML2_PATCH
    lines = patch.read_text().splitlines(keepends=True)
    patch.write_text("".join([lines[0].replace("WASI has no dup()", "WASI lacks dup()"), *lines[1:]]))
    after = product_keys()
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"ruby-3.3-nokogiri", "ruby-3.3-full-nokogiri-bcrypt-box"}  # only nokogiri links libxml2
    differences = lock.differences(lock.read_lock(), lock.resolved_inputs())
    assert len(differences) == 1 and differences[0].startswith(f"patches.{LIBXML2_PATCH}: ")
    with pytest.raises(UserError, match="doit lock") as error:
        lock.check_lock()
    assert LIBXML2_PATCH in str(error.value)


def test_configure_flag_change_rebuilds_what_links_that_library(recipes_copy):
    before = product_keys()
    zlib = recipes_copy / "zlib.toml"
    zlib.write_text(zlib.read_text().replace('args = ["--static", "--prefix={prefix}"]',
                                             'args = ["--static", "--prefix={prefix}", "--zprefix"]'))
    after = product_keys()
    changed = {name for name in before if before[name] != after[name]}
    # zlib is in the full profile, which nokogiri, bcrypt and the boxes are built on, and under libxml2
    assert changed == {"ruby-3.3-full", "ruby-3.3-nokogiri", "ruby-3.3-bcrypt", "ruby-3.3-full-box",
                       "ruby-3.3-full-nokogiri-bcrypt-box"}


def test_toolchain_identity_change_rebuilds_everything(monkeypatch):
    before = product_keys()
    real = providers.resolve

    def other_compiler(provider: str = "auto", quiet: bool = False) -> providers.Toolchain:
        return dataclasses.replace(real(provider, quiet), identity="debian: clang-19=1:19.1.8-1")
    monkeypatch.setattr(providers, "resolve", other_compiler)
    after = product_keys()
    assert all(before[name] != after[name] for name in before)


def test_lock_differences_name_each_changed_input():
    locked = {"recipes": {"zlib": {"sources": [{"sha256": "a"}]}}, "python": {"doit": "0.37.0"}}
    current = {"recipes": {"zlib": {"sources": [{"sha256": "b"}]}}, "python": {"doit": "0.37.0", "new": "1"}}
    assert lock.differences(locked, current) == [
        "python.new: (absent) in the lock, 1 now", "recipes.zlib.sources.0.sha256: a in the lock, b now"]


def test_a_missing_or_broken_lock_says_how_to_make_one(tmp_path):
    with pytest.raises(UserError, match="doit lock"):
        lock.read_lock(tmp_path / "none.lock")
    broken = tmp_path / "broken.lock"
    broken.write_text(json.dumps({"format": 1}))
    with pytest.raises(UserError, match="doit lock"):
        lock.read_lock(broken)
