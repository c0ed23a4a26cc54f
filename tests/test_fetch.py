"""Fetching against a real HTTP server on loopback, into a private cache."""
import hashlib
import os

import pytest

from toolchain.errors import UserError
from toolchain.inputs import fetch
from toolchain.inputs.recipe import DebianSource, Recipe, Source

PAYLOAD = os.urandom(300_000)
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


def make_recipe(tmp_path, *sources: Source) -> Recipe:
    path = tmp_path / "thing.toml"
    path.write_text("# test recipe\n")
    return Recipe(path=path, name="thing", kind="ruby", version="1.0", description="test",
                  sources=tuple(sources))


def store_files(cache):
    store = cache / "store"
    return sorted(p.relative_to(store) for p in store.rglob("*") if p.is_file()) if store.exists() else []


def test_good_file_is_verified_and_stored(private_cache, file_server, tmp_path):
    file_server.files["thing-1.0.tar.gz"] = PAYLOAD
    source = Source(sha256=DIGEST, url=file_server.url("thing-1.0.tar.gz"))
    chosen, path = fetch.fetch_recipe(make_recipe(tmp_path, source))
    assert chosen == source
    assert path == private_cache / "store" / DIGEST / "thing-1.0.tar.gz"
    assert path.read_bytes() == PAYLOAD


def test_wrong_checksum_is_refused_and_store_left_empty(private_cache, file_server, tmp_path):
    file_server.files["thing-1.0.tar.gz"] = PAYLOAD
    wrong = "0" * 64
    source = Source(sha256=wrong, url=file_server.url("thing-1.0.tar.gz"))
    with pytest.raises(UserError) as error:
        fetch.fetch_recipe(make_recipe(tmp_path, source))
    message = str(error.value)
    assert file_server.url("thing-1.0.tar.gz") in message
    assert f"expected sha256 {wrong}" in message and f"actual {DIGEST}" in message
    assert store_files(private_cache) == []


def test_cut_off_download_resumes_on_next_run(private_cache, file_server, tmp_path):
    file_server.files["thing-1.0.tar.gz"] = PAYLOAD
    file_server.cut_off_once.add("thing-1.0.tar.gz")
    recipe = make_recipe(tmp_path, Source(sha256=DIGEST, url=file_server.url("thing-1.0.tar.gz")))
    with pytest.raises(UserError, match="Could not fetch"):
        fetch.fetch_recipe(recipe)
    partial = private_cache / "partial" / f"{DIGEST}-thing-1.0.tar.gz.part"
    kept = partial.stat().st_size
    assert 0 < kept < len(PAYLOAD)
    assert store_files(private_cache) == []

    _, path = fetch.fetch_recipe(recipe)
    assert path.read_bytes() == PAYLOAD
    assert file_server.requests[-1] == ("thing-1.0.tar.gz", f"bytes={kept}-")
    assert not partial.exists()



def test_404_falls_through_to_next_source(private_cache, file_server, tmp_path):
    other = os.urandom(1000)
    file_server.files["other.tar.gz"] = other
    missing = Source(sha256=DIGEST, url=file_server.url("missing.tar.gz"))
    present = Source(sha256=hashlib.sha256(other).hexdigest(), url=file_server.url("other.tar.gz"))
    chosen, path = fetch.fetch_recipe(make_recipe(tmp_path, missing, present))
    assert chosen == present and path.read_bytes() == other
    assert ("missing.tar.gz", None) in file_server.requests


def test_mirror_prefix_is_tried_after_upstream(private_cache, file_server, tmp_path, monkeypatch):
    file_server.files["mirror/thing-1.0.tar.gz"] = PAYLOAD
    monkeypatch.setenv(fetch.MIRROR_ENV, file_server.url("mirror"))
    source = Source(sha256=DIGEST, url=file_server.url("upstream/thing-1.0.tar.gz"))
    _, path = fetch.fetch_recipe(make_recipe(tmp_path, source))
    assert path.read_bytes() == PAYLOAD
    assert [name for name, _ in file_server.requests] == ["upstream/thing-1.0.tar.gz", "mirror/thing-1.0.tar.gz"]


def test_cached_file_is_used_offline(private_cache, file_server, tmp_path):
    file_server.files["thing-1.0.tar.gz"] = PAYLOAD
    recipe = make_recipe(tmp_path, Source(sha256=DIGEST, url=file_server.url("thing-1.0.tar.gz")))
    fetch.fetch_recipe(recipe)
    offline = make_recipe(tmp_path, Source(sha256=DIGEST, url="http://127.0.0.1:9/thing-1.0.tar.gz"))
    requests_before = len(file_server.requests)
    _, path = fetch.fetch_recipe(offline)
    assert path.read_bytes() == PAYLOAD
    assert len(file_server.requests) == requests_before


def test_corrupted_cached_file_is_refused_and_left_alone(private_cache, file_server, tmp_path):
    file_server.files["thing-1.0.tar.gz"] = PAYLOAD
    recipe = make_recipe(tmp_path, Source(sha256=DIGEST, url=file_server.url("thing-1.0.tar.gz")))
    _, path = fetch.fetch_recipe(recipe)
    corrupted = bytearray(PAYLOAD)
    corrupted[1234] ^= 0x01
    path.write_bytes(bytes(corrupted))
    with pytest.raises(UserError) as error:
        fetch.fetch_recipe(recipe)
    assert str(path) in str(error.value)
    assert f"expected sha256 {DIGEST}" in str(error.value)
    assert f"actual {hashlib.sha256(bytes(corrupted)).hexdigest()}" in str(error.value)
    assert path.read_bytes() == bytes(corrupted)


def test_a_failure_of_apt_names_its_cause_not_the_network(private_cache, tmp_path):
    """apt run for real: a suite the archive does not have is the recipe's problem."""
    source = Source(sha256="0" * 64, debian=DebianSource("zlib", "nosuchsuite", "zlib_1.3.orig.tar.gz"))
    with pytest.raises(UserError) as error:
        fetch.fetch_recipe(make_recipe(tmp_path, source))
    message = str(error.value)
    assert "'http" in message and "nosuchsuite Release' does not have a Release file" in message
    assert "The archive has no such suite: check the recipe's debian.suite" in message
    assert "Connect to the network" not in message and "Not every failure was the network's" in message


def test_only_network_failures_get_network_advice(private_cache, file_server, tmp_path):
    source = Source(sha256=DIGEST, url=file_server.url("missing.tar.gz"))
    with pytest.raises(UserError, match="HTTP 404. Connect to the network, set RUBY_WASM_MIRROR"):
        fetch.fetch_recipe(make_recipe(tmp_path, source))
