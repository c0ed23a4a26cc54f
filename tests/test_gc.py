"""doit gc against a cache holding the real inputs: what the current recipes need survives."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli import doit

from toolchain import gc
from toolchain.compile import cruby
from toolchain.inputs import lock
from toolchain.locks import held
from toolchain.paths import CACHE_ENV, cache_root
from toolchain.run.runner import DEFAULT_PROFILE, compiled_path

pytestmark = pytest.mark.e2e
STALE_KEY = "0" * 16


@pytest.fixture
def cache(full_verification, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache whose downloads and toolchains are the shared cache's (linked, so gc can
    only ever unlink them), with nothing built yet."""
    shared, private = cache_root(), tmp_path / "cache"
    (private / "store").mkdir(parents=True)
    for entry in (shared / "store").iterdir():
        (private / "store" / entry.name).symlink_to(entry)
    (private / "toolchains").symlink_to(shared / "toolchains")
    monkeypatch.setenv(CACHE_ENV, str(private))
    return private


def made(path: Path, size: int = 1000) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "file").write_bytes(b"x" * size)
    return path


def file_made(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * 100)
    return path


def release(cache: Path, date: str, digest: str) -> None:
    record = {"inputs": {"recipes": {"zlib": {"sources": [{"sha256": digest}]}}}}
    file_made(cache / "releases" / f"nightly-{date}" / "build-record.json").write_text(json.dumps(record))


def test_gc_removes_what_nothing_needs_and_keeps_what_the_current_recipes_need(cache: Path, capfd):
    ruby = cruby.plan("3.3", DEFAULT_PROFILE, "auto", fetch_missing=False, quiet=True)
    assert ruby is not None
    needed = [made(b.build_dir) for b in (ruby, ruby.native, *ruby.libraries)]
    needed.append(file_made(compiled_path("a" * 64)))
    file_made(cache / "artifacts" / "ruby-3.3-full" / "manifest.json").write_text(
        json.dumps({"outputs": {"ruby.wasm": {"sha256": "a" * 64}}}))
    for date, digest in [("2026-01-01", "c" * 64), *[(f"2026-02-0{day}", "d" * 64) for day in (1, 2, 3)]]:
        release(cache, date, digest)
    needed.append(made(cache / "store" / ("d" * 64)))  # named by a kept release
    stale = [
        made(cache / "build" / f"{ruby.label}-{STALE_KEY}"),
        made(cache / "build" / f".gc-{ruby.label}-{'1' * 16}"),  # set aside by an interrupted gc
        made(cache / "repro" / "build" / f"{ruby.label}-{STALE_KEY}"),
        made(cache / "native" / f"{ruby.native.label}-{STALE_KEY}"),
        file_made(compiled_path("b" * 64)),
        made(cache / "store" / ("c" * 64)),  # named only by a release older than the last three
        file_made(cache / "partial" / f"{'e' * 64}-zlib.tar.gz.part"),
    ]
    in_use = made(cache / "build" / f"lib-zlib-{STALE_KEY}")
    pinned = [path for path in (cache / "store" / digest for digest in gc.sha256s_in(lock.read_lock()))
              if path.is_symlink()]
    assert pinned  # the full build's downloads, at least

    with held(in_use, "a build"):
        listed = {g.path for g in gc.collect(dry_run=True)}
        unpinned = listed - {*stale, in_use}  # downloads in the shared store that the lock does not name
        assert {*stale, in_use} <= listed
        assert all(path.is_symlink() and path.parent == cache / "store" for path in unpinned)
        assert all(path.exists() for path in [*needed, *stale, in_use])
        shared = [path.resolve() for path in unpinned]
        removed = gc.collect(dry_run=False)

    assert {g.path for g in removed} == {*stale, *unpinned}
    assert not any(item.path.exists() or item.path.is_symlink() for item in removed)
    assert all(path.exists() for path in [*needed, in_use])
    assert all(path.exists() for path in pinned)
    assert all(path.is_dir() for path in shared)  # only the links went, not the shared store's entries
    err = capfd.readouterr().err
    assert f"in use, kept: build/{in_use.name}" in err and f"removed: native/{ruby.native.label}-{STALE_KEY}" in err
    assert "gc: freed " in err and f"in {len(removed)} entries" in err


def test_doit_gc_dry_run_lists_and_removes_nothing(cache: Path):
    stale = made(cache / "build" / f"ruby-3.3.8-full-{STALE_KEY}", size=3 * 1024 * 1024)
    result = doit("gc", "--dry-run")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"would remove: build/{stale.name}  3.0 MB" in result.stderr and stale.exists()
