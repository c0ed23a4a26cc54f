"""Configure's kept results (compiler_cache.configure_site): a real autoconf configure, run twice."""
from __future__ import annotations

import subprocess

import pytest

from toolchain.compile import compiler_cache
from toolchain.compile.baseruby import host_environment
from toolchain.compile.libraries import plan_library
from toolchain.inputs import providers

pytestmark = pytest.mark.e2e


def test_a_second_configure_reads_the_kept_results_and_finds_the_same(tmp_path):
    # libxml2's tarball carries an autoconf configure (the recipe builds it with CMake); run natively
    lib = plan_library("libxml2", providers.resolve("auto", quiet=True))
    assert lib is not None
    source = lib.phases.unpack(lib.tarball, lib.patches, lib.source.root)
    kept = tmp_path / "kept.cache"
    runs = []
    for name in ("first", "second"):
        obj = tmp_path / name
        obj.mkdir()
        env = {**host_environment(), **compiler_cache.configure_site(obj, kept)}
        result = subprocess.run([str(source / "configure"), "--without-python", "--without-lzma"], cwd=obj, env=env,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        compiler_cache.keep_configure_results(obj, kept)
        runs.append((result.stdout, (obj / "config.h").read_text()))
    (first_log, first_header), (second_log, second_header) = runs
    # a run repeats a few checks from its own results; the second takes nearly every one from the first
    cached = [log.count("(cached)") for log in (first_log, second_log)]
    assert cached[1] > cached[0] + 100 and cached[1] > second_log.count("checking ") / 2, cached
    assert first_header == second_header
    assert str(tmp_path / "first") not in kept.read_text()
