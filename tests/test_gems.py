"""Gem extensions end to end: nokogiri (on libxml2, libxslt and zlib) and bcrypt (no outside
library) cross-built with the real toolchain, prelinked into ruby.wasm and run under wasmtime.

The builds are the README's commands (`doit ext:<gem>`, `doit verify_ext:nokogiri`) on the
shared cache, so a warm cache makes this quick; one verification run serves every report test.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cli import assert_did_no_work, assert_task_printed_wasm, doit, run_cli

from toolchain import product
from toolchain.compile import gems, link
from toolchain.errors import UserError
from toolchain.inputs import recipe
from toolchain.run.runner import Artifact, RubyWasm, artifact_path
from toolchain.run.workers import worker_pool
from toolchain.verify import suites
from toolchain.verify.verification import verification_dir

pytestmark = pytest.mark.e2e
HELLO = 'require "nokogiri"; puts Nokogiri::XML("<a><b>hi</b></a>").at("b").text'


@pytest.fixture(scope="session")
def nokogiri_build() -> subprocess.CompletedProcess:
    result = doit("ext:nokogiri")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="session")
def nokogiri(nokogiri_build) -> Artifact:
    return Artifact(artifact_path("ruby-3.3-nokogiri"))


@pytest.fixture(scope="module")
def nokogiri_tests(nokogiri) -> dict:
    """The one run of nokogiri's own tests (its XML, HTML4, XSLT and CSS directories)."""
    result = doit("verify_ext:nokogiri")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(_verification_summary().read_text())


def _verification_summary() -> Path:
    return verification_dir("ruby-3.3-nokogiri") / "summary.json"


def test_ext_task_ends_by_printing_the_artifact_path(nokogiri_build, nokogiri):
    assert_task_printed_wasm(nokogiri_build, "ext:nokogiri", nokogiri)


def test_runner_parses_xml_with_nokogiri(nokogiri):
    result = run_cli(nokogiri, HELLO)
    assert (result.returncode, result.stdout) == (0, "hi\n"), result.stderr


def test_version_info_shows_the_libraries_compiled_in(nokogiri):
    result = RubyWasm(nokogiri).capture(["-e", 'require "nokogiri"; require "json"; '
                                                'puts JSON.generate(Nokogiri::VERSION_INFO)'])
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["libxml"]["source"] == "system"
    assert info["libxml"]["compiled"] == info["libxml"]["loaded"] == recipe.load("libxml2").version
    assert info["libxslt"]["compiled"] == info["libxslt"]["loaded"] == recipe.load("libxslt").version
    assert info["nokogiri"]["version"] == recipe.load("nokogiri").version


def test_smoke_report_covers_the_gem_and_every_feature(nokogiri):
    report = json.loads((nokogiri.directory / "smoke.json").read_text())
    manifest = json.loads(nokogiri.manifest.read_text())
    assert report["ok"] and report["failed"] == []
    assert "nokogiri/nokogiri.so" in manifest["features"] and "openssl" in manifest["features"]
    assert {f"require {feature}" for feature in manifest["features"]} <= set(report["passed"])
    assert {"nokogiri_xslt_transform_with_exslt", "nokogiri_sax_callbacks", "nokogiri_builder",
            "nokogiri_strict_mode_raises_syntax_error", "nokogiri_encoding_round_trip_utf8_latin1",
            "nokogiri_xpath_with_namespaces", "nokogiri_css_selectors"} <= set(report["passed"])


def test_manifest_records_the_gem_its_dependencies_and_libraries(nokogiri):
    inputs = json.loads(nokogiri.manifest.read_text())["inputs"]
    assert set(inputs["gems"]) == {"nokogiri", "racc"}
    assert inputs["gems"]["nokogiri"]["sha256"] in {s.sha256 for s in recipe.load("nokogiri").sources}
    assert set(inputs["libraries"]) == {"zlib", "libxml2", "libxslt"}
    assert inputs["ruby"]["profile"]["name"] == "full"
    site = nokogiri.root / "usr/local/lib/ruby/site_ruby/3.3.0"
    assert (site / "nokogiri.rb").exists() and (site / "racc" / "parser.rb").exists()


def test_second_ext_build_does_no_work(nokogiri_build):
    assert_did_no_work(doit("ext:nokogiri"), "ext:nokogiri")


def test_a_gem_with_no_outside_library_builds_the_same_way():
    result = doit("ext:bcrypt")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    artifact = Artifact(artifact_path("ruby-3.3-bcrypt"))
    report = json.loads((artifact.directory / "smoke.json").read_text())
    assert {"require bcrypt_ext.so", "bcrypt_known_answers", "bcrypt_password_round_trip"} <= set(report["passed"])
    check = RubyWasm(artifact).capture(["-e", 'require "bcrypt"; print BCrypt::Engine.hash_secret('
                                              '"U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.")'])
    assert check.stdout == "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", check.stderr


def test_ext_key_follows_the_gem_its_arguments_and_the_ruby_build(nokogiri, tmp_path):
    planned = product.plan_ext("nokogiri", "3.3", "auto", fetch_missing=False, quiet=True)
    assert planned.key == json.loads(nokogiri.manifest.read_text())["build_key"]
    extension = planned.extension
    spec = dataclasses.replace(extension.spec, args=(*extension.spec.args, "--disable-clean"))
    other_args = dataclasses.replace(extension, gem=dataclasses.replace(
        extension.gem, recipe=dataclasses.replace(extension.gem.recipe, extension=spec)))
    other_ruby = dataclasses.replace(extension, ruby=dataclasses.replace(extension.ruby, profile="default"))
    assert len({extension.key, other_args.key, other_ruby.key}) == 3
    relinked = dataclasses.replace(planned, link=link.LinkBuild(planned.ruby, (other_args,)))
    assert relinked.key != planned.key


def test_unknown_placeholder_in_extconf_args_names_the_recipe_and_field(nokogiri):
    planned = product.plan_ext("nokogiri", "3.3", "auto", fetch_missing=False, quiet=True)
    extension = planned.extension
    spec = dataclasses.replace(extension.spec, args=("--with-xml2-dir={libxml3}",))
    broken = dataclasses.replace(extension, gem=dataclasses.replace(
        extension.gem, recipe=dataclasses.replace(extension.gem.recipe, extension=spec)))
    with pytest.raises(UserError) as error:
        broken.extconf_args()
    assert "'extension.args'" in str(error.value) and "{libxml2}" in str(error.value)
    assert str(extension.gem.recipe.path) in str(error.value)


def test_init_extra_exts_registers_each_feature():
    built = [gems.BuiltExtension(Path("a.a"), "nokogiri/nokogiri.so", "Init_nokogiri", ()),
             gems.BuiltExtension(Path("b.a"), "bcrypt_ext.so", "Init_bcrypt_ext", ())]
    source = link.init_extra_exts_source(built)
    assert 'ruby_init_ext("nokogiri/nokogiri.so", Init_nokogiri);' in source
    assert 'ruby_init_ext("bcrypt_ext.so", Init_bcrypt_ext);' in source
    assert "void Init_extra_exts(void)" in source and "void Init_bcrypt_ext(void);" in source


def _suites(summary: dict) -> dict[str, dict]:
    return {suite["suite"]: suite for suite in summary["suites"]}


def test_nokogiri_test_directories_pass_under_wasmtime(nokogiri_tests):
    minitest = _suites(nokogiri_tests)["minitest"]
    assert nokogiri_tests["ok"] is True
    assert minitest["unexpected"] == 0 and minitest["run"] > 1500
    logs = {p.name for p in (Path(nokogiri_tests["logs"]) / "minitest").glob("*.0.log")}
    for directory in ("xml", "html4", "xslt", "css"):
        assert any(name.startswith(f"test_{directory}_") for name in logs), directory


def test_the_endurance_programs_run_on_the_nokogiri_artifact_too(nokogiri_tests):
    endurance = _suites(nokogiri_tests)["endurance"]
    assert set(_suites(nokogiri_tests)) == {"minitest", "endurance"}
    assert endurance["run"] >= 10 and endurance["unexpected"] == 0
    million = {m["test"]: m for m in endurance["measured"] if m["iterations"] >= 1_000_000}
    assert {"raise_rescue", "break_next_return", "throw_catch"} <= set(million)
    for figures in million.values():
        assert figures["outcome"] == "passed" and figures["memory_mib"] <= figures["small_memory_mib"] + 8


def test_junit_report_agrees_with_the_summary(nokogiri_tests):
    minitest = _suites(nokogiri_tests)["minitest"]
    root = ET.parse(_verification_summary().parent / "junit-minitest.xml").getroot()
    assert int(root.get("tests")) == minitest["run"] == len(root.findall("testcase"))
    assert int(root.get("failures")) == 0


def test_minitest_driver_records_a_test_that_ends_the_wasm_and_runs_the_rest(nokogiri, tmp_path):
    tree = tmp_path / "gem"
    (tree / "test").mkdir(parents=True)
    (tree / "test" / "test_demo.rb").write_text(
        "require 'minitest/autorun'\nclass TestDemo < Minitest::Test\n"
        "  def test_a_pass; assert_equal 1, 1; end\n  def test_b_exit; exit!(3); end\n"
        "  def test_c_fail; assert_equal 1, 2; end\n  def test_d_skip; skip 'not here'; end\nend\n")
    minitest = gems.plan_gem("minitest", fetch_missing=False)
    with worker_pool(nokogiri, 1) as socket:
        context = suites.SuiteContext(socket, tree, Path(sys.executable), tmp_path, 1, (minitest.tree() / "lib",))
        results = {r.name: r for r in suites.run_file(context, suites.run_minitest_once, "test/test_demo.rb", [])}
    assert {name: r.outcome for name, r in results.items()} == {
        "TestDemo#test_a_pass": "passed", "TestDemo#test_b_exit": "error",
        "TestDemo#test_c_fail": "failed", "TestDemo#test_d_skip": "skipped"}
    assert results["TestDemo#test_b_exit"].message == "the wasm exited (3) during this test"
    assert "Expected: 1" in results["TestDemo#test_c_fail"].message
