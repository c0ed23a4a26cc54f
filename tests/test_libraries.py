"""The C-library stage: real builds with the wasm toolchain, keys that follow every input."""
from __future__ import annotations

import dataclasses
import subprocess

import pytest

from toolchain.compile import cruby
from toolchain.compile.libraries import LibraryBuild, build_library, plan_library
from toolchain.errors import UserError
from toolchain.inputs import providers
from toolchain.inputs.source import Patch

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def toolchain() -> providers.Toolchain:
    return providers.resolve("auto", quiet=True)


@pytest.fixture(scope="module")
def zlib(toolchain) -> LibraryBuild:
    lib = plan_library("zlib", toolchain)
    assert lib is not None
    return lib


def archive_members(toolchain: providers.Toolchain, archive) -> list[bytes]:
    """The first bytes of every object in a static archive, read with the toolchain's llvm-ar."""
    names = subprocess.run([str(toolchain.ar), "t", str(archive)], capture_output=True, text=True,
                           check=True).stdout.split()
    return [subprocess.run([str(toolchain.ar), "p", str(archive), name], capture_output=True,
                           check=True).stdout[:4] for name in names]


def test_zlib_builds_as_a_static_wasm_archive(zlib, toolchain):
    prefix = build_library(zlib)
    assert (prefix / "include" / "zlib.h").exists()
    heads = archive_members(toolchain, prefix / "lib" / "libz.a")
    assert len(heads) >= 10 and set(heads) == {b"\0asm"}


def test_a_built_library_is_not_built_again(zlib):
    archive = build_library(zlib) / "lib" / "libz.a"
    before = archive.stat().st_mtime_ns
    build_library(zlib)
    assert archive.stat().st_mtime_ns == before


def with_build(lib: LibraryBuild, **changes) -> LibraryBuild:
    return dataclasses.replace(lib, recipe=dataclasses.replace(lib.recipe, build=dataclasses.replace(
        lib.recipe.build, **changes)))


def test_library_key_follows_build_spec_patches_toolchain_and_deps(zlib, tmp_path):
    patch = tmp_path / "0001-fix.patch"
    patch.write_text("--- a/x\n+++ b/x\n")
    changed = [
        with_build(zlib, args=(*zlib.recipe.build.args, "--zprefix")),
        with_build(zlib, env=(("CHOST", "wasm32"),)),
        dataclasses.replace(zlib, patches=(Patch(patch),)),
        dataclasses.replace(zlib, toolchain=dataclasses.replace(zlib.toolchain, identity="other clang")),
    ]
    keys = {zlib.key} | {lib.key for lib in changed}
    assert len(keys) == 1 + len(changed)
    patch.write_text("--- a/x\n+++ b/x\n@@ -1 +1 @@\n")  # one line of the patch changes
    assert dataclasses.replace(zlib, patches=(Patch(patch),)).key not in keys
    dependent = dataclasses.replace(zlib, deps=(zlib,))
    assert dataclasses.replace(zlib, deps=(changed[0],)).key != dependent.key


def test_unknown_placeholder_names_the_recipe_and_field(zlib):
    broken = with_build(zlib, args=("--prefix={prefx}",))
    with pytest.raises(UserError) as error:
        build_library(broken)
    assert str(zlib.recipe.path) in str(error.value)
    assert "'build.args'" in str(error.value) and "{prefix}" in str(error.value)


def test_full_profile_hands_each_library_prefix_to_configure(toolchain):
    build = cruby.plan("3.3", "full", "auto", quiet=True)
    args = build.configure_args()
    for lib in build.libraries:
        flag = {"zlib": "--with-zlib-dir", "libyaml": "--with-libyaml-dir", "openssl": "--with-openssl-dir"}[lib.name]
        assert f"{flag}={lib.prefix}" in args
    assert build.inputs()["libraries"]["openssl"]["key"] == build.libraries[2].key
    default = cruby.plan("3.3", "default", "auto", quiet=True)
    assert default.libraries == () and not any("--with-zlib-dir" in a for a in default.configure_args())


