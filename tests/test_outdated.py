"""doit outdated: real apt against the real archive; a loopback server stands in for upstream
where a test needs an upstream file to exist or not."""
from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import pytest
from cli import doit

from toolchain.inputs import fetch, recipe
from toolchain.inputs.lock import LOCK_FILE
from toolchain.paths import RECIPES_DIR

ZLIB = recipe.load("zlib")
ZLIB_DEBIAN = ZLIB.sources[1]


def table_rows(output: str) -> dict[str, tuple[str, str, str]]:
    """input -> (pinned, offered, status), from the printed table."""
    rows = [re.split(r"\s{2,}", line.strip(), maxsplit=3) for line in output.splitlines()]
    return {row[0]: (row[1], row[2], row[3]) for row in rows if len(row) == 4}


def test_outdated_reports_openssl_3_5_7_no_longer_indexed_with_3_5_9_offered():
    pinned_files = {path: path.read_bytes() for path in [*RECIPES_DIR.glob("*.toml"), LOCK_FILE]}
    started = time.monotonic()
    result = doit("outdated")
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 90  # unreachable upstreams time out quickly
    rows = table_rows(result.stdout)
    pinned, offered, status = rows["openssl (debian trixie)"]
    assert (pinned, offered) == ("3.5.7", "3.5.9")
    assert status == "not in trixie's index any more; the pool still serves it"
    assert rows["zlib (debian trixie)"][2] == "listed by trixie's index"
    assert rows["minitest (debian trixie)"][2] == "built from the source trixie's index lists"
    assert rows["openssl (upstream)"][0] == "3.5.7" and rows["openssl (upstream)"][2]  # a status, not a crash
    assert "openssl: debian trixie no longer lists the pinned file; `doit outdated --update openssl` pins what it " \
           "offers (3.5.9) for review." in result.stdout
    assert {path: path.read_bytes() for path in pinned_files} == pinned_files  # never changes a pin by itself


def age_zlib(checkout: Path, upstream_url: str, same_file: bool) -> Path:
    """Make the checkout's zlib recipe pin 1.3, a version trixie's index no longer lists, with its
    upstream source on the loopback server; `same_file` pins both sources as one file."""
    path = checkout / "recipes" / "zlib.toml"
    old_upstream_sha, old_debian_sha = ("1" * 64, "1" * 64) if same_file else ("1" * 64, "2" * 64)
    text = (path.read_text().replace('version = "1.3.1"', 'version = "1.3"')
            .replace(ZLIB.sources[0].url, upstream_url).replace(ZLIB.sources[0].sha256, old_upstream_sha)
            .replace(ZLIB_DEBIAN.debian.file, "zlib_1.3.orig.tar.gz").replace(ZLIB_DEBIAN.sha256, old_debian_sha))
    path.write_text(text)
    return path


@pytest.mark.parametrize("same_file", [False, True])
def test_update_pins_what_debian_offers_in_the_recipe_and_the_lock(checkout, file_server, same_file):
    debian_file = fetch.fetch_source(ZLIB_DEBIAN).read_bytes()
    upstream_file = debian_file if same_file else b"zlib 1.3.1, as upstream serves it\n"
    file_server.files["zlib-1.3.1.tar.gz"] = upstream_file
    path = age_zlib(checkout, file_server.url("zlib-1.3.tar.gz"), same_file)
    comments = [line for line in path.read_text().splitlines() if line.startswith("#")]
    lock_file = checkout / "ruby-wasm.lock"
    locked = json.loads(lock_file.read_text())["inputs"]

    result = doit("outdated", "--update", "zlib", checkout=checkout)
    assert result.returncode == 0, result.stdout + result.stderr
    upstream_sha = hashlib.sha256(upstream_file).hexdigest()
    for change in ["version: 1.3 -> 1.3.1",
                   f"source[0].url: {file_server.url('zlib-1.3.tar.gz')} -> {file_server.url('zlib-1.3.1.tar.gz')}",
                   f"source[0].sha256: {'1' * 64} -> {upstream_sha}",
                   f"source[1].debian.file: zlib_1.3.orig.tar.gz -> {ZLIB_DEBIAN.debian.file}",
                   f"source[1].sha256: {'1' * 64 if same_file else '2' * 64} -> {ZLIB_DEBIAN.sha256}"]:
        assert f"{path}: {change}\n" in result.stdout
    assert f"{lock_file}: recipes.zlib.sources.0.sha256: {ZLIB.sources[0].sha256} in the lock, {upstream_sha} now" \
        in result.stdout

    updated = recipe.load_recipe(path)
    assert updated.version == "1.3.1" and updated.sources[1] == ZLIB_DEBIAN  # what the real recipe pins
    assert (updated.sources[0].url, updated.sources[0].sha256) == (file_server.url("zlib-1.3.1.tar.gz"), upstream_sha)
    assert [line for line in path.read_text().splitlines() if line.startswith("#")] == comments
    now_locked = json.loads(lock_file.read_text())["inputs"]
    assert now_locked["recipes"]["zlib"] == {"version": "1.3.1", "sources": [
        {"url": file_server.url("zlib-1.3.1.tar.gz"), "sha256": upstream_sha},
        {"debian": f"zlib trixie {ZLIB_DEBIAN.debian.file}", "sha256": ZLIB_DEBIAN.sha256}]}
    assert {**now_locked, "recipes": {**now_locked["recipes"], "zlib": None}} == \
        {**locked, "recipes": {**locked["recipes"], "zlib": None}}  # nothing else moved
    assert [name for name, _ in file_server.requests] == ["zlib-1.3.1.tar.gz"]


@pytest.mark.parametrize("serves, same_file, refusal", [
    (None, False, "could not be fetched (HTTP 404), so it cannot be pinned. Nothing was changed."),
    (b"not the file Debian has\n", True, "differs from zlib_1.3.dfsg+really1.3.1.orig.tar.gz, though the recipe "
                                         "pins source[0] and source[1] as the same file. Nothing was changed;"),
])
def test_update_changes_nothing_when_a_new_file_cannot_be_pinned(checkout, file_server, serves, same_file, refusal):
    if serves:
        file_server.files["zlib-1.3.1.tar.gz"] = serves
    path = age_zlib(checkout, file_server.url("zlib-1.3.tar.gz"), same_file)
    before = {file: file.read_bytes() for file in (path, checkout / "ruby-wasm.lock")}
    result = doit("outdated", "--update", "zlib", checkout=checkout)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert any(refusal in line and line.startswith("--update zlib: ") for line in output.splitlines()), output
    assert {file: file.read_bytes() for file in before} == before
