"""The signed binary cache against a real server: Debian's nginx with WebDAV PUT, on loopback.

The pushing machine is the shared cache (the one the other tests build in); each pulling machine
is an empty cache directory of a test's own. A refused entry must be built here, with the same
bytes as the one that was pushed (the builds are reproducible), and leave nothing behind.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli import Background
from nginx import Nginx, free_port

from toolchain import binary_cache
from toolchain.binary_cache import archive, trust
from toolchain.binary_cache.remote import BINARY_CACHE_ENV, Remote
from toolchain.compile.libraries import LibraryBuild, plan_library
from toolchain.inputs import providers
from toolchain.paths import CACHE_ENV, PROJECT_ROOT, cache_root


def doit_in(cache: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`doit ARGS` on the cache directory given, with the environment given."""
    return subprocess.run([sys.executable, "-m", "doit", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          env={**os.environ, CACHE_ENV: str(cache), **env})


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """Two signing keys made with `doit cache-key generate`: the team's (trusted) and a stranger's."""
    made = {}
    directory = tmp_path_factory.mktemp("keys")
    for name in ("team-1", "stranger-1"):
        result = doit_in(directory / "cache", "cache-key", "generate", "--name", name, "--out", str(directory / name))
        assert result.returncode == 0, result.stdout + result.stderr
        public = result.stdout.strip().splitlines()[-1].strip()
        assert public.startswith(f"{name}:") and oct((directory / name).stat().st_mode)[-3:] == "600"
        assert (directory / name).read_text().split(":")[1].strip() not in result.stdout + result.stderr
        made[name] = (directory / name, public)
    return made


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Nginx:
    nginx = Nginx(tmp_path_factory.mktemp("nginx")).start()
    yield nginx
    nginx.stop()


def team_env(keys, url: str) -> dict[str, str]:
    return {BINARY_CACHE_ENV: url, trust.SIGNING_KEY_ENV: str(keys["team-1"][0]),
            trust.TRUSTED_KEYS_ENV: keys["team-1"][1]}


# --- a cold machine pulls the whole artifact ------------------------------------------------------

@pytest.mark.e2e
def test_a_cold_cache_pulls_the_full_artifact_byte_identical(server, keys, tmp_path):
    env = team_env(keys, f"{server.url}/team")
    built = doit_in(cache_root(), "ruby_wasm")
    assert built.returncode == 0, built.stdout + built.stderr[-3000:]
    pushed = doit_in(cache_root(), "push", "--product", "ruby-3.3-full", **env)
    assert pushed.returncode == 0 and "pushed: artifact-ruby-3.3-full" in pushed.stderr, pushed.stdout + pushed.stderr
    assert keys["team-1"][0].read_text().split(":")[1].strip() not in pushed.stdout + pushed.stderr

    cold = tmp_path / "cold"
    started = time.monotonic()
    pulled = doit_in(cold, "-n", "2", "ruby_wasm", **env)
    print(f"cold cache, warm binary cache: doit -n 2 ruby_wasm took {time.monotonic() - started:.1f} s")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr[-3000:]
    assert "pulled artifact-ruby-3.3-full" in pulled.stderr
    assert not list((cold / "build").glob("*/logs")) and not list((cold / "native").glob("*/logs")), \
        "a stage was built here although the binary cache held it:\n" + pulled.stderr
    assert tree(cold / "artifacts" / "ruby-3.3-full") == tree(cache_root() / "artifacts" / "ruby-3.3-full")

    again = doit_in(cold, "push", "--product", "ruby-3.3-full", **env)  # same bytes: nothing to upload
    assert again.returncode == 0 and "0 entries uploaded" in again.stderr, again.stderr


@pytest.mark.e2e
def test_a_gem_artifact_comes_with_its_extension_and_link(server, keys, tmp_path):
    """nokogiri's stages on a cold cache: its C libraries, its extension (whose record names the
    libraries' archives, relocated into the cold cache) and its link are pulled, not built."""
    env = team_env(keys, f"{server.url}/gems")
    built = doit_in(cache_root(), "artifact:ruby-3.3-nokogiri")
    assert built.returncode == 0, built.stdout + built.stderr[-3000:]
    pushed = doit_in(cache_root(), "push", "--product", "ruby-3.3-nokogiri", **env)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr

    cold = tmp_path / "cold"
    pulled = doit_in(cold, "-n", "2", "artifact:ruby-3.3-nokogiri", **env)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr[-3000:]
    for label in ("lib-libxml2", "lib-libxslt", "ext-nokogiri", "link-ruby-3.3.8-full-nokogiri", "artifact-ruby-3.3-nokogiri"):
        assert f"pulled {label}" in pulled.stderr, label + "\n" + pulled.stderr
    assert not list((cold / "build").glob("*/logs")), pulled.stderr
    record = json.loads(next((cold / "build").glob("ext-nokogiri-*/built-extension.json")).read_text())
    library_paths = [Path(arg[2:]) for arg in record["libs"] if arg.startswith("-L/")]
    assert library_paths and all(path.is_relative_to(cold) for path in library_paths), record
    assert all(path.is_dir() for path in library_paths if path.parent.parent.name.startswith("lib-")), record
    linked = next((cold / "build").glob("link-*/ruby.wasm"))
    assert linked.read_bytes() == (cache_root() / "build" / linked.parent.name / "ruby.wasm").read_bytes()
    assert tree(cold / "artifacts" / "ruby-3.3-nokogiri") == tree(cache_root() / "artifacts" / "ruby-3.3-nokogiri")


def tree(directory: Path) -> dict[str, str]:
    return {path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(directory.rglob("*")) if path.is_file()}


# --- refusals: each built here instead, with the same bytes -------------------------------------

@pytest.fixture(scope="module")
def zlib() -> LibraryBuild:
    """zlib, built in the shared cache: the smallest entry, so refusals cost a short build."""
    from toolchain.compile.libraries import build_library

    lib = plan_library("zlib", providers.resolve("auto", quiet=True))
    build_library(lib)
    return lib


def push_zlib(zlib: LibraryBuild, keys, monkeypatch, url: str) -> binary_cache.Entry:
    """Push zlib's entry to url, signed by the team; return the directory of its files on the server."""
    monkeypatch.setenv(trust.SIGNING_KEY_ENV, str(keys["team-1"][0]))
    monkeypatch.setenv(trust.TRUSTED_KEYS_ENV, keys["team-1"][1])
    assert binary_cache.push(Remote(url), zlib.cache_entry())
    return zlib.cache_entry()


def cold_cache_with_zlib_source(tmp_path: Path, zlib: LibraryBuild) -> Path:
    """An empty cache that holds zlib's source only, as if fetched: the test needs no network."""
    cache = tmp_path / "cold"
    stored = cache / "store" / zlib.source.sha256 / zlib.source.filename
    stored.parent.mkdir(parents=True)
    shutil.copy(zlib.tarball, stored)
    return cache


def server_files(server: Nginx, path: str, entry: binary_cache.Entry) -> tuple[Path, Path]:
    directory = server.root / path / entry.label
    return directory / f"{entry.key}.json", directory / f"{entry.key}.tar.gz"


def resign(index_file: Path, key_file: Path, change=lambda index: None) -> None:
    index = json.loads(index_file.read_text())
    change(index)
    os.environ[trust.SIGNING_KEY_ENV], previous = str(key_file), os.environ.get(trust.SIGNING_KEY_ENV, "")
    try:
        index_file.write_text(json.dumps(trust.sign(index)))
    finally:
        os.environ[trust.SIGNING_KEY_ENV] = previous


def tamper_archive(index_file: Path, archive_file: Path, keys) -> None:
    data = bytearray(archive_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive_file.write_bytes(bytes(data))


def tamper_index(index_file: Path, archive_file: Path, keys) -> None:
    """A file's digest changed in the index, its signature left as it was."""
    index = json.loads(index_file.read_text())
    index["files"]["prefix/include/zlib.h"] = "0" * 64
    index_file.write_text(json.dumps(index))


def strip_signature(index_file: Path, archive_file: Path, keys) -> None:
    index = json.loads(index_file.read_text())
    del index["signature"]
    index_file.write_text(json.dumps(index))


def sign_as_stranger(index_file: Path, archive_file: Path, keys) -> None:
    resign(index_file, keys["stranger-1"][0])


def add_a_file(index_file: Path, archive_file: Path, keys) -> None:
    """A signer's archive with a file its index does not list (re-signed, so only the list can tell)."""
    resign(index_file, keys["team-1"][0], lambda index: index["files"].pop("prefix/include/zlib.h"))


@pytest.mark.parametrize("tamper, reason", [
    (tamper_archive, "its archive's sha256 is"),
    (tamper_index, "its signature does not match its contents under 'team-1''s key"),
    (strip_signature, "the entry is not signed"),
    (sign_as_stranger, "it is signed by 'stranger-1', which is not a trusted key here"),
    (add_a_file, "which the signed index does not list"),
])
def test_a_refused_entry_is_built_here_and_leaves_the_cache_as_it_was(server, keys, zlib, tmp_path, monkeypatch,
                                                                       tamper, reason):
    path = f"refused-{tamper.__name__}"
    entry = push_zlib(zlib, keys, monkeypatch, f"{server.url}/{path}")
    tamper(*server_files(server, path, entry), keys)
    cold = cold_cache_with_zlib_source(tmp_path, zlib)

    result = doit_in(cold, "lib:zlib", **team_env(keys, f"{server.url}/{path}"))

    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    refusals = [line for line in result.stderr.splitlines() if "not used:" in line]
    assert len(refusals) == 1 and reason in refusals[0] and refusals[0].endswith("building it here"), result.stderr
    built = cold / "build" / zlib.build_dir.name
    assert (built / "logs" / "install.log").exists() and not (built / ".pulled").exists()
    assert (built / "prefix" / "lib" / "libz.a").read_bytes() == (zlib.prefix / "lib" / "libz.a").read_bytes()
    assert not list((cold / "build").glob(".*.pulling")) and not list((cold / "partial").glob("binary-*"))


def test_a_trusted_entry_is_pulled_and_relocated_into_another_cache(server, keys, zlib, tmp_path, monkeypatch):
    entry = push_zlib(zlib, keys, monkeypatch, f"{server.url}/trusted")
    cold = cold_cache_with_zlib_source(tmp_path, zlib)
    result = doit_in(cold, "lib:zlib", **team_env(keys, f"{server.url}/trusted"))
    assert result.returncode == 0 and "pulled lib-zlib-1.3.1" in result.stderr, result.stderr
    pulled = cold / "build" / entry.directory.name
    assert not (pulled / "logs").exists() and (pulled / ".install.done").exists()
    assert (pulled / "prefix" / "lib" / "libz.a").read_bytes() == (zlib.prefix / "lib" / "libz.a").read_bytes()
    pkgconfig = (pulled / "prefix" / "lib" / "pkgconfig" / "zlib.pc").read_text()
    assert f"prefix={pulled / 'prefix'}" in pkgconfig and str(cache_root()) not in pkgconfig


def test_a_shared_directory_serves_as_a_binary_cache(keys, zlib, tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    push_zlib(zlib, keys, monkeypatch, shared.as_uri())
    cold = cold_cache_with_zlib_source(tmp_path, zlib)
    result = doit_in(cold, "lib:zlib", **team_env(keys, shared.as_uri()))
    assert result.returncode == 0 and "pulled lib-zlib-1.3.1" in result.stderr, result.stderr


PUSH_ZLIB = """
import sys, tempfile
from pathlib import Path
from toolchain import binary_cache
from toolchain.binary_cache import archive
from toolchain.binary_cache.remote import Remote
from toolchain.compile.libraries import plan_library
from toolchain.inputs import providers
entry = plan_library("zlib", providers.resolve("auto", quiet=True)).cache_entry()
print(binary_cache.push(Remote(sys.argv[1]), entry))
with tempfile.TemporaryDirectory() as scratch:
    print(archive.pack(entry.directory, entry.paths, Path(scratch) / "a.tar.gz")["archive"]["sha256"])
"""


def test_two_machines_push_the_same_bytes_for_a_key_at_once(server, keys, zlib, tmp_path, monkeypatch):
    """zlib built again in another cache directory, without the binary cache, packs to the same
    archive; both caches push it at the same moment, and the entry on the server is whole and
    trusted, whichever push wrote it."""
    cold = cold_cache_with_zlib_source(tmp_path, zlib)
    assert doit_in(cold, "lib:zlib").returncode == 0
    url = f"{server.url}/concurrent"
    env = {trust.SIGNING_KEY_ENV: str(keys["team-1"][0]), trust.TRUSTED_KEYS_ENV: keys["team-1"][1]}
    pushes = [subprocess.Popen([sys.executable, "-c", PUSH_ZLIB, url], cwd=PROJECT_ROOT, text=True,
                               stdout=subprocess.PIPE, env={**os.environ, **env, CACHE_ENV: str(cache)})
              for cache in (cache_root(), cold)]
    printed = [push.communicate()[0].split() for push in pushes]
    assert "True" in [uploaded for uploaded, _ in printed], printed  # the later may find the entry there
    index_file, archive_file = server_files(server, "concurrent", zlib.cache_entry())
    index = json.loads(index_file.read_text())
    assert {packed for _, packed in printed} == {index["archive"]["sha256"]}  # one archive, whoever won
    assert hashlib.sha256(archive_file.read_bytes()).hexdigest() == index["archive"]["sha256"]
    monkeypatch.setenv(trust.TRUSTED_KEYS_ENV, keys["team-1"][1])
    assert trust.verify(index) == "team-1"


# --- the server goes away ---------------------------------------------------------------------

def test_a_server_stopped_mid_download_falls_back_and_a_later_pull_resumes(keys, zlib, tmp_path, monkeypatch):
    nginx = Nginx(tmp_path / "nginx", slow_rate="4k").start()
    try:
        entry = push_zlib(zlib, keys, monkeypatch, nginx.url)
        cold = cold_cache_with_zlib_source(tmp_path, zlib)
        env = {CACHE_ENV: str(cold), **team_env(keys, f"{nginx.url}/slow")}
        run = Background("import sys; from doit.doit_cmd import DoitMain; sys.exit(DoitMain().run(['lib:zlib']))",
                         env=env)
        partial = cold / "partial" / f"binary-{entry.label}-{entry.key[:16]}.tar.gz.part"
        deadline = time.monotonic() + 30
        while not (partial.exists() and partial.stat().st_size > 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        nginx.stop()
        assert run.finish(120) == 0, run.output
        refusals = [line for line in run.lines if "not used:" in line]
        assert len(refusals) == 1 and "the server failed" in refusals[0], run.output
        built = cold / "build" / entry.directory.name
        assert (built / "logs" / "install.log").exists() and not list((cold / "build").glob(".*.pulling"))
        kept = partial.stat().st_size
        assert 0 < kept < json.loads(server_files(nginx, "", entry)[0].read_text())["archive"]["size"]

        shutil.rmtree(built)  # the next run pulls again, and resumes where the download stopped
        nginx.start()
        result = doit_in(cold, "lib:zlib", **team_env(keys, f"{nginx.url}/slow"))
        assert result.returncode == 0 and "pulled lib-zlib-1.3.1" in result.stderr, result.stderr
        ranged = [line for line in nginx.requests() if f"{entry.key}.tar.gz" in line and '" 206 ' in line]
        assert ranged, nginx.requests()
    finally:
        nginx.stop()


def test_a_failing_server_is_retried_then_built_here(server, keys, zlib, tmp_path):
    cold = cold_cache_with_zlib_source(tmp_path, zlib)
    result = doit_in(cold, "lib:zlib", **team_env(keys, f"{server.url}/failing"))
    assert result.returncode == 0, result.stderr[-3000:]
    refusals = [line for line in result.stderr.splitlines() if "not used:" in line]
    assert len(refusals) == 1 and "the server failed" in refusals[0] and "500" in refusals[0], result.stderr
    assert (cold / "build" / zlib.build_dir.name / "logs" / "install.log").exists()
    index = f"GET /failing/{zlib.cache_entry().remote_name}.json"
    assert len([line for line in server.requests() if index in line]) == 3  # the request and two retries


def test_an_unreachable_cache_is_asked_once_per_run(keys, zlib, tmp_path):
    cold = cold_cache_with_zlib_source(tmp_path, zlib)
    libyaml = plan_library("libyaml", providers.resolve("auto", quiet=True))
    stored = cold / "store" / libyaml.source.sha256 / libyaml.source.filename
    stored.parent.mkdir(parents=True)
    shutil.copy(libyaml.tarball, stored)
    result = doit_in(cold, "-n", "2", "lib:zlib", "lib:libyaml", **team_env(keys, f"http://127.0.0.1:{free_port()}/cache"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("unreachable") == 1, result.stderr


def test_push_without_a_key_or_a_cache_says_what_to_do(tmp_path, keys):
    result = doit_in(tmp_path / "cache", "cache-key")
    assert result.returncode != 0 and "not understood (no command)" in result.stdout + result.stderr
    result = doit_in(tmp_path / "cache", "push")
    assert result.returncode != 0 and f"set {BINARY_CACHE_ENV}" in result.stdout + result.stderr
    result = doit_in(tmp_path / "cache", "push", **{BINARY_CACHE_ENV: "ftp://example/cache"})
    assert "is not a URL this toolchain reads" in result.stdout + result.stderr
    shared = tmp_path / "shared"
    shared.mkdir()
    result = doit_in(tmp_path / "cache", "push", **{BINARY_CACHE_ENV: shared.as_uri(),
                                                    trust.SIGNING_KEY_ENV: str(tmp_path / "no-key")})
    assert result.returncode != 0 and "Pushing needs a signing key" in result.stdout + result.stderr
    broken = tmp_path / "broken-key"
    broken.write_text("team-1:c2VjcmV0\n")
    result = doit_in(tmp_path / "cache", "push", **{BINARY_CACHE_ENV: shared.as_uri(), trust.SIGNING_KEY_ENV: str(broken)})
    assert "is not a key" in result.stdout + result.stderr and "c2VjcmV0" not in result.stdout + result.stderr
    assert not list(shared.iterdir())


# --- the archive ------------------------------------------------------------------------------

def test_archives_are_the_same_bytes_wherever_the_cache_is(tmp_path, monkeypatch):
    digests = set()
    for place in ("one", "two/deeper"):
        cache = tmp_path / place / "cache"
        monkeypatch.setenv(CACHE_ENV, str(cache))
        build = cache / "build" / "lib-x-1-0123456789abcdef"
        (build / "prefix" / "lib" / "pkgconfig").mkdir(parents=True)
        (build / "prefix" / "lib" / "pkgconfig" / "x.pc").write_text(f"prefix={build}/prefix\n")
        (build / "prefix" / "lib" / "libx.a").write_bytes(b"!<arch>\n\0code")
        (build / "prefix" / "bin").mkdir()
        (build / "prefix" / "bin" / "x-config").write_text("#!/bin/sh\n")
        (build / "prefix" / "bin" / "x-config").chmod(0o755)
        (build / "prefix" / "lib" / "libx.so").symlink_to("libx.a")
        index = archive.pack(build, ["prefix"], tmp_path / f"{place.replace('/', '-')}.tar.gz")
        assert index["relocated"] == ["prefix/lib/pkgconfig/x.pc"]
        digests.add(index["archive"]["sha256"])
        target = tmp_path / place / "unpacked"
        archive.unpack(tmp_path / f"{place.replace('/', '-')}.tar.gz", index, target)
        assert (target / "prefix" / "lib" / "pkgconfig" / "x.pc").read_text() == f"prefix={build}/prefix\n"
        assert os.access(target / "prefix" / "bin" / "x-config", os.X_OK)
        assert os.readlink(target / "prefix" / "lib" / "libx.so") == "libx.a"
    assert len(digests) == 1


def test_an_archive_that_escapes_its_directory_is_refused(tmp_path):
    import io
    import tarfile

    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../outside")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(archive.Refused, match="outside the entry"):
        archive.unpack(evil, {"files": {"../outside": hashlib.sha256(b"hi").hexdigest()}}, tmp_path / "target")
    assert not (tmp_path / "outside").exists()


def test_a_signature_covers_key_label_and_every_digest(keys, monkeypatch):
    monkeypatch.setenv(trust.SIGNING_KEY_ENV, str(keys["team-1"][0]))
    monkeypatch.setenv(trust.TRUSTED_KEYS_ENV, keys["team-1"][1])
    signed = trust.sign({"format": 1, "label": "lib-x-1", "key": "a" * 64, "files": {"f": "b" * 64}})
    assert trust.verify(signed) == "team-1"
    for field, value in (("key", "c" * 64), ("label", "lib-y-1"), ("files", {"f": "d" * 64})):
        with pytest.raises(trust.Untrusted, match="does not match"):
            trust.verify({**signed, field: value})
    assert base64.b64decode(signed["signature"]["ed25519"])  # a real signature, not a placeholder
