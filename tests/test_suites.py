"""The minitest driver's parser, on output shaped as minitest_wasi.rb and minitest print it."""
from __future__ import annotations

import json
import re

from toolchain.verify.suites import MINITEST_MARK, batches, only, parse_minitest, parse_test_all


def marked(**event: str) -> str:
    return MINITEST_MARK + json.dumps(event)


def test_markers_after_progress_dots_are_read():
    output = "\n".join([
        "Run options: --seed 0", marked(start="T#test_a"),
        "." + marked(test="T#test_a", outcome="passed", message=""), marked(start="T#test_b"),
        "F" + marked(test="T#test_b", outcome="failed", message="Expected 1, got 2"),
        "2 runs, 2 assertions, 1 failures, 0 errors, 0 skips"])
    results = parse_minitest("test/test_t.rb", output, 1, None)
    assert [(r.name, r.outcome, r.message) for r in results] == [
        ("T#test_a", "passed", ""), ("T#test_b", "failed", "Expected 1, got 2")]


def test_the_test_a_trap_interrupted_is_an_error():
    output = marked(start="T#test_a") + "\n" + marked(start="T#test_b")
    results = parse_minitest("test/test_t.rb", output.replace(marked(start="T#test_b"), "." + marked(
        test="T#test_a", outcome="passed", message="") + "\n" + marked(start="T#test_b")), 1, "unreachable")
    assert [(r.name, r.outcome) for r in results] == [("T#test_a", "passed"), ("T#test_b", "error")]
    assert results[1].message == "interrupted: unreachable"


def test_a_file_in_which_no_test_started_fails_even_with_exit_code_0():
    results = parse_minitest("test/test_t.rb", "0 runs, 0 assertions\n", 0, None)
    assert [(r.name, r.outcome) for r in results] == [("(load)", "error")]
    assert "no test ran (exit code 0)" in results[0].message


def test_a_test_that_prints_without_a_newline_still_finishes():
    # from test/rubygems/test_gem_installer.rb: the test's own dashes run into its progress line
    output = ("[ 64/121] TestGemInstaller#test_install_extension_flat" + "-" * 78 + "\n = 0.07 s\n"
              "[ 65/121] TestGemInstaller#test_install_force = 0.05 s\n[ 66/121] TestGemInstaller#test_hang\n")
    results = parse_test_all("test/rubygems/test_gem_installer.rb", output, 0, "unreachable")
    assert [(r.name, r.outcome) for r in results] == [
        ("TestGemInstaller#test_install_extension_flat", "passed"), ("TestGemInstaller#test_install_force", "passed"),
        ("TestGemInstaller#test_hang", "error")]


def test_names_with_spaces_and_a_leak_report_after_the_time_are_read():
    # test/prism/fuzzer_test.rb names its tests with spaces; a leak check may follow the time
    output = ('[1/3] Prism::FuzzerTest#"test_fuzzer_incomplete escaped string" = 0.00 s\n'
              '[2/3] TestGemGemcutterUtilities#test_api_key = 0.03 sEnvironment variable changed: "HOME"\n'
              '[3/3] Prism::FuzzerTest#"test_fuzzer_a b" = 0.01 s\n'
              '  1) Failure:\nPrism::FuzzerTest#"test_fuzzer_a b" [/src/test/prism/fuzzer_test.rb:9]:\nExpected 1\n\n'
              "Finished tests in 0.1s\n")
    results = parse_test_all("test/prism/fuzzer_test.rb", output, 1, None)
    assert [(r.name, r.outcome) for r in results] == [
        ('Prism::FuzzerTest#"test_fuzzer_incomplete escaped string"', "passed"),
        ("TestGemGemcutterUtilities#test_api_key", "passed"), ('Prism::FuzzerTest#"test_fuzzer_a b"', "failed")]
    assert results[2].message == "Expected 1"


def test_a_batch_credits_each_test_to_the_file_that_defined_its_class():
    output = ("\n\x1eRUBY-WASM-CLASS TestA test/ruby/test_a.rb\n\n\x1eRUBY-WASM-CLASS TestB test/ruby/test_b.rb\n"
              "\n\x1eRUBY-WASM-CLASS TestA test/ruby/test_c.rb\n"  # reopened elsewhere: the first file keeps it
              "[1/4] TestA#test_x = 0.01 s\n[2/4] TestB#test_y = 0.01 s\n[3/4] TestC#test_z = 0.01 s\n"
              "[4/4] TestB::Nested#test_n = 0.01 s\n")  # a class made with Class.new: its outer class's file
    results = parse_test_all("test/ruby/test_a.rb+2", output, 0, None)
    assert [(r.file, r.name) for r in results] == [
        ("test/ruby/test_a.rb", "TestA#test_x"), ("test/ruby/test_b.rb", "TestB#test_y"),
        ("test/ruby/test_a.rb+2", "TestC#test_z"), ("test/ruby/test_b.rb", "TestB::Nested#test_n")]


def test_test_all_runs_up_to_ten_files_of_one_directory_at_once_and_ruby_spec_a_directory():
    files = [f"test/ruby/test_{n:02}.rb" for n in range(12)] + ["test/json/json_test.rb"]
    assert {unit: len(listed) for unit, listed in batches("test-all", files).items()} == {
        "test/ruby/test_00.rb+9": 10, "test/ruby/test_10.rb+1": 2, "test/json/json_test.rb": 1}
    specs = ["spec/ruby/core/array/each_spec.rb", "spec/ruby/core/array/map_spec.rb", "spec/ruby/language/if_spec.rb"]
    assert batches("ruby-spec", specs) == {"spec/ruby/core/array": specs[:2], "spec/ruby/language": specs[2:]}


def test_a_crashed_test_is_excluded_by_its_unquoted_name():
    def ruby_matches(pattern: str, name: str) -> bool:  # Ruby's \z is Python's \Z
        return bool(re.search(pattern.replace("\\z", "\\Z"), name))
    assert ruby_matches(only('TestAst#"test_ranges:test/a.rb"'), "TestAst#test_ranges:test/a.rb")
    assert not ruby_matches(only("TestA#test_b"), "TestA#test_bc")
