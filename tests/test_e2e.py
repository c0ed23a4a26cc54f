"""End to end: the real toolchain builds the default artifact (the full profile: CRuby plus
zlib, LibYAML and OpenSSL), and the real wasm runs under wasmtime.

The build is the README's own command (`doit ruby_wasm`) and uses the shared cache
(RUBY_WASM_CACHE), so a warm cache makes this quick; a cold one builds once (~8 min).
"""
from __future__ import annotations

import json
import shutil

import pytest
from cli import assert_did_no_work, assert_task_printed_wasm, doit, run_cli, task_marks

from toolchain.compile import cruby
from toolchain.errors import UserError
from toolchain import digests, product
from toolchain.inputs import recipe, source
from toolchain.run.runner import DEFAULT_PROFILE, Mount, RubyWasm

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def ruby(artifact) -> RubyWasm:
    return RubyWasm(artifact)


def test_build_ends_by_printing_the_wasm_path(default_build, artifact):
    assert_task_printed_wasm(default_build, "ruby_wasm", artifact)


def test_runner_prints_ruby_version(artifact):
    result = run_cli(artifact, "puts RUBY_VERSION")
    assert (result.returncode, result.stdout) == (0, "3.3.8\n"), result.stderr


def test_second_build_does_no_work(default_build):
    assert_did_no_work(doit("ruby_wasm"), "ruby_wasm")


def test_an_edited_file_is_refused_by_the_runner_and_the_artifact_published_again(default_build, artifact):
    edited = artifact.root / "usr/local/lib/ruby/3.3.0/set.rb"
    original = edited.read_bytes()
    edited.write_bytes(original + b"raise 'edited after publishing'\n")
    try:
        refused = run_cli(artifact, "require 'set'")
        assert refused.returncode == 2 and "root/usr/local/lib/ruby/3.3.0/set.rb" in refused.stderr
        rebuilt = doit("ruby_wasm")
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert task_marks(rebuilt)[f"artifact:ruby-3.3-{DEFAULT_PROFILE}"] == "."
        assert task_marks(rebuilt)[f"make:3.3-{DEFAULT_PROFILE}"] == "--"
        assert edited.read_bytes() == original
    finally:  # the artifact is shared by the tests after this one
        edited.write_bytes(original)
    assert run_cli(artifact, "require 'set'; p Set[1, 1].size").stdout == "1\n"
    assert_did_no_work(doit("ruby_wasm"), "ruby_wasm")


def test_smoke_report_covers_every_linked_feature(artifact):
    report = json.loads((artifact.directory / "smoke.json").read_text())
    manifest = json.loads(artifact.manifest.read_text())
    assert report["ok"] and report["failed"] == [] and report["ruby_version"] == "3.3.8"
    assert {"fiber_resume_yield", "raise_rescue_ensure_across_frames", "gc_stress_allocations",
            "catch_throw"} <= set(report["passed"])
    assert {"json/ext/parser", "ripper", "stringio", "continuation"} <= set(manifest["features"])
    assert {f"require {feature}" for feature in manifest["features"]} <= set(report["passed"])
    assert {"zlib_gzip_round_trip", "yaml_safe_load_refuses_aliases_and_objects", "openssl_aes_256_gcm",
            "openssl_self_signed_certificate"} <= set(report["passed"])


def test_c_libraries_linked_in_are_the_recipe_versions(ruby):
    script = ('require "zlib"; require "psych"; require "openssl"; '
              'puts Zlib.zlib_version, Psych::LIBYAML_VERSION, OpenSSL::OPENSSL_LIBRARY_VERSION')
    result = ruby.capture(["-e", script])
    assert result.exit_code == 0, result.stderr
    expected = [recipe.load(name).version for name in ("zlib", "libyaml", "openssl")]
    zlib, libyaml, openssl = result.stdout.splitlines()
    assert [zlib, libyaml, openssl.split()[1]] == expected and openssl.startswith("OpenSSL ")


def test_manifest_records_inputs_and_outputs(artifact):
    manifest = json.loads(artifact.manifest.read_text())
    ruby_recipe = recipe.ruby_recipe("3.3")
    assert manifest["inputs"]["ruby"]["sha256"] in {s.sha256 for s in ruby_recipe.sources}
    assert manifest["inputs"]["toolchain"].split(":")[0] in ("debian", "wasi-sdk", "path")
    assert "--host=wasm32-unknown-wasi" in manifest["inputs"]["configure_args"]
    assert manifest["outputs"]["ruby.wasm"]["sha256"] == digests.sha256_file(artifact.wasm)
    sums = dict(line.split("  ")[::-1] for line in (artifact.directory / "SHA256SUMS").read_text().splitlines())
    assert sums["ruby.wasm"] == manifest["outputs"]["ruby.wasm"]["sha256"]


def test_exit_code_stdio_and_env_pass_through(ruby):
    result = ruby.capture(["-e", "STDOUT.puts ENV['GREETING']; STDERR.puts ARGV.inspect; exit 3",
                           "a", "b"], env={"GREETING": "hello"})
    assert (result.exit_code, result.stdout, result.stderr) == (3, "hello\n", '["a", "b"]\n')


def test_wasm_sees_granted_directories_only(ruby, tmp_path):
    granted = tmp_path / "granted"
    granted.mkdir()
    (granted / "script.rb").write_text("puts File.read('/work/data.txt').upcase\n")
    (granted / "data.txt").write_text("inside\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret\n")
    result = ruby.capture(["/work/script.rb"], mounts=[Mount(granted, "/work")])
    assert (result.exit_code, result.stdout) == (0, "INSIDE\n"), result.stderr
    denied = ruby.capture(["-e", f"File.read({str(secret)!r})"], mounts=[Mount(granted, "/work")])
    assert denied.exit_code != 0 and "host secret" not in denied.stdout + denied.stderr
    assert "Errno::" in denied.stderr


def test_timeout_stops_a_hung_wasm(ruby):
    result = ruby.capture(["-e", "loop {}"], timeout=3)
    assert result.timed_out and result.exit_code == 124


def test_flipped_byte_in_cached_source_is_refused(artifact, private_cache):
    manifest = json.loads(artifact.manifest.read_text())
    digest, name = manifest["inputs"]["ruby"]["sha256"], manifest["inputs"]["ruby"]["file"]
    shared_cache = artifact.directory.parent.parent
    copy = private_cache / "store" / digest / name
    copy.parent.mkdir(parents=True)
    shutil.copyfile(shared_cache / "store" / digest / name, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(UserError) as error:
        cruby.plan("3.3", "default", "debian")
    assert f"expected sha256 {digest}" in str(error.value) and str(copy) in str(error.value)
    assert copy.read_bytes() == bytes(data)  # refused, and left as it was


def test_build_key_follows_patches_profile_and_toolchain(artifact, tmp_path, monkeypatch):
    def key(profile: str = DEFAULT_PROFILE) -> str:
        return product.plan_ruby_artifact("3.3", profile, "auto", fetch_missing=False, quiet=True).key

    published = json.loads(artifact.manifest.read_text())["build_key"]
    assert key() == published
    assert key("minimal") != published
    patches = tmp_path / "patches"
    (patches / "ruby-3.3").mkdir(parents=True)
    patch = patches / "ruby-3.3" / "0001-comment.patch"
    patch.write_text("--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-x\n+y\n")
    monkeypatch.setattr(source, "PATCHES_DIR", patches)
    with_patch = key()
    patch.write_text(patch.read_text().replace("+y", "+z"))
    assert len({published, with_patch, key()}) == 3


def test_deep_block_nesting_fits_the_wasm_stack(ruby):
    nested = "def d(n) = n.zero? ? [1].each { throw :end } : [1].map { d(n - 1) }; catch(:end) { d(400) }; puts :ok"
    result = ruby.capture(["--disable-gems", "-e", nested])
    assert (result.exit_code, result.stdout, result.trap) == (0, "ok\n", None)
