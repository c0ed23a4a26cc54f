"""Reproducibility on the minimal profile: built twice, from two build directories at different
absolute paths, by two processes, with the real toolchain; the outputs must be identical.

Both builds live in the shared cache (build/ and repro/build/), so later runs are quick.
"""
from __future__ import annotations

import pytest
from cli import doit

from toolchain.paths import build_root
from toolchain.publish import nightly
from toolchain.run.runner import Artifact, artifact_dir

pytestmark = pytest.mark.e2e
MINIMAL = nightly.Product("profile", "3.3", "minimal")


@pytest.fixture(scope="module")
def two_builds() -> tuple[Artifact, Artifact]:
    result = doit("ruby_wasm", "--profile", "minimal")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return Artifact(artifact_dir("3.3", "minimal")), Artifact(nightly.build_again(MINIMAL, "auto"))


def test_minimal_profile_is_identical_from_two_build_roots(two_builds):
    first, second = two_builds
    second_root, _ = nightly.repro_roots()
    assert second_root.resolve() != build_root() and first.directory != second.directory
    verdict = nightly.reproducibility(MINIMAL, first, second.directory)
    assert verdict == {"reproducible": True, "second_build": str(second.directory), "differences": []}
    assert first.wasm.read_bytes() == second.wasm.read_bytes()


def test_no_build_path_reaches_the_artifact(two_builds):
    first, second = two_builds
    second_root, _ = nightly.repro_roots()
    for artifact, root in [(first, build_root()), (second, second_root.resolve())]:
        assert str(root).encode() not in artifact.wasm.read_bytes()
        rbconfig = next(artifact.root.rglob("rbconfig.rb")).read_text()
        assert str(root) not in rbconfig and "clang" in rbconfig
