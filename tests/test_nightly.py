"""Reproducibility on the minimal profile: built twice, from two build directories at different
absolute paths, by two processes, with the real toolchain, the first through the compiler cache
and the second without it; the outputs must be identical.

Both builds live in the shared cache (build/ and repro/build/), and the verdict of the
reproduce:ruby-3.3-minimal stage is kept for the build key, so later runs are quick.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli import doit

from toolchain.paths import build_root
from toolchain import pipeline
from toolchain.publish import reproduce
from toolchain.run.runner import Artifact, artifact_dir

pytestmark = pytest.mark.e2e
MINIMAL = pipeline.Profile("3.3", "minimal")


@pytest.fixture(scope="module")
def two_builds() -> tuple[Artifact, Artifact]:
    result = doit("reproduce:ruby-3.3-minimal")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    verdict = reproduce.kept_verdict(MINIMAL)
    assert verdict is not None and verdict["reproducible"] and verdict["differences"] == [], verdict
    return Artifact(artifact_dir("3.3", "minimal")), Artifact(Path(verdict["second_build"]))


def test_minimal_profile_is_identical_from_two_build_roots(two_builds):
    first, second = two_builds
    second_root, _ = reproduce.repro_roots()
    assert second_root.resolve() != build_root() and first.directory != second.directory
    assert reproduce.reproducibility(first, second.directory)["differences"] == []
    assert first.wasm.read_bytes() == second.wasm.read_bytes()


def test_no_build_path_reaches_the_artifact(two_builds):
    first, second = two_builds
    second_root, _ = reproduce.repro_roots()
    for artifact, root in [(first, build_root()), (second, second_root.resolve())]:
        assert str(root).encode() not in artifact.wasm.read_bytes()
        rbconfig = next(artifact.root.rglob("rbconfig.rb")).read_text()
        assert str(root) not in rbconfig and "clang" in rbconfig


def test_no_host_program_reaches_rbconfig(two_builds):
    """configure records optional programs it finds on the build machine (Graphviz's dot, which
    ./dev installs for the report, doxygen, rustc, nroff) in rbconfig.rb; the artifact must be
    the same whether the machine has them or not, so each is recorded as absent."""
    first, _ = two_builds
    assert shutil.which("dot"), "./dev installs graphviz: without dot this test proves nothing"
    rbconfig = next(first.root.rglob("rbconfig.rb")).read_text()
    for line in ('CONFIG["DOT"] = ""', 'CONFIG["DOXYGEN"] = ""', 'CONFIG["RUSTC"] = "no"', 'CONFIG["MANTYPE"] = "man"'):
        assert line in rbconfig, line
