"""The minitest driver's parser, on output shaped as minitest_wasi.rb and minitest print it."""
from __future__ import annotations

import json

from toolchain.verify.suites import MINITEST_MARK, parse_minitest


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
