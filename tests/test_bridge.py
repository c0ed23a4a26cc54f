"""The child-process bridge on the real artifact under the real wasmtime: a wasm program asks for
a child Ruby, a worker runs it as a fresh instance, and the child's output and status come back;
Ruby's own harness (assert_separately, assert_in_out_err) and mspec's ruby_exe go through it."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from test_verification import _tree_with

from toolchain.paths import RUBY_SUPPORT
from toolchain.run.launcher import request
from toolchain.verify import suites

pytestmark = pytest.mark.e2e

PARENT = """
require "/harness/child_bridge"
require "json"
out, err, status = WasiChildBridge.run(ARGV, env: {"GREETING" => "hi"}, stdin: "from stdin", chdir: "/work")
puts JSON.generate(out: out, err: err, exited: status.exited?, code: status.exitstatus,
                   signaled: status.signaled?, termsig: status.termsig, success: status.success?)
"""


def _parent(tmp_path: Path, child_argv: list[str], timeout: float = 60) -> dict:
    (tmp_path / "parent.rb").write_text(PARENT)
    answer = request(_socket, ["/work/parent.rb", *child_argv],
                     [[str(tmp_path), "/work", True], [str(RUBY_SUPPORT), "/harness", False]], {}, timeout, bridge=True)
    assert answer["exit_code"] == 0, answer["stderr"].decode()[-2000:]
    return json.loads(answer["stdout"])


@pytest.fixture(autouse=True)
def _pool(context):
    global _socket
    _socket = str(context.socket)


def test_a_child_gets_its_arguments_stdin_environment_and_directory(tmp_path):
    (tmp_path / "here.txt").write_text("a file in the child's directory")
    child = ("print STDIN.read, ' ', ENV['GREETING'], ' ', ARGV.inspect, ' ', File.read('here.txt'); "
             "warn 'to stderr'; exit 3")
    result = _parent(tmp_path, ["-e", child, "one", "two words"])
    assert result["out"] == 'from stdin hi ["one", "two words"] a file in the child\'s directory'
    assert result["err"] == "to stderr\n"
    assert (result["exited"], result["code"], result["success"], result["signaled"]) == (True, 3, False, False)


def test_a_child_shares_the_parents_directories_and_leaves_no_request_behind(tmp_path):
    result = _parent(tmp_path, ["-e", "File.write('/work/made-by-child', 'x'); print Dir.children('/bridge').sort"])
    assert (tmp_path / "made-by-child").read_text() == "x"
    # the child sees its own request's files only while it runs; the parent removes them
    assert re.fullmatch(r'\["[0-9a-f]+-1\.(stdin|stdout|stderr|taken)"(, "[0-9a-f]+-1\.\w+")*\]', result["out"])


def test_a_child_that_crashes_reads_as_killed_by_abort(tmp_path):
    # WASI cannot carry an exit status of 126 or more: the runner reports it as a trap
    result = _parent(tmp_path, ["-e", "exit!(200)"])
    assert (result["exited"], result["signaled"], result["termsig"], result["success"]) == (False, True, 6, None)


def test_a_child_its_parent_stopped_waiting_for_is_stopped_with_it(tmp_path):
    (tmp_path / "parent.rb").write_text(PARENT)
    started = time.monotonic()
    answer = request(_socket, ["/work/parent.rb", "-e", "loop {}"],
                     [[str(tmp_path), "/work", True], [str(RUBY_SUPPORT), "/harness", False]], {}, 3, bridge=True)
    assert answer["timed_out"]
    follow_up = request(_socket, ["-e", "print 1"], [], {}, 30)  # the worker is free again at once
    assert follow_up["stdout"] == b"1" and time.monotonic() - started < 20


def test_ruby_harness_child_assertions_pass_and_fail_through_the_bridge(context, tmp_path):
    tests = tmp_path / "src" / "test" / "bridge"
    tests.mkdir(parents=True)
    (tests / "test_children.rb").write_text("""require 'test/unit'
class TestChildren < Test::Unit::TestCase
  def test_in_out_err; assert_in_out_err(%w[-e] + ['puts 1 + 1; warn "w"'], "", ["2"], ["w"]); end
  def test_separately; assert_separately([], "assert_equal(3, 1 + 2)"); end
  def test_separately_failing; assert_separately([], "assert_equal(4, 1 + 2)"); end
  def test_status; assert_ruby_status(["-e", "exit 1"]); end
  def test_stdin_and_env
    out, _, status = EnvUtil.invoke_ruby([{"X" => "y"}, "-e", "print STDIN.read.upcase, ENV['X']"], "abc", true)
    assert_equal(["ABCy", true], [out, status.success?])
  end
end
""")
    demo = suites.SuiteContext(context.socket, _tree_with(context.source, tests, tmp_path),
                               context.host_ruby, context.workdir, 2)
    results = {r.name: r for r in suites.run_file(demo, suites.run_test_all_once, "test/bridge/test_children.rb", [])}
    assert {name: r.outcome for name, r in results.items()} == {
        "TestChildren#test_in_out_err": "passed", "TestChildren#test_separately": "passed",
        "TestChildren#test_separately_failing": "failed", "TestChildren#test_status": "failed",
        "TestChildren#test_stdin_and_env": "passed"}
    assert "<4> expected but was\n<3>" in results["TestChildren#test_separately_failing"].message


def test_ruby_spec_examples_match_mspecs_own_count_and_ruby_exe_runs_children(context):
    batch = "spec/ruby/command_line"
    files = sorted(p.relative_to(context.source).as_posix() for p in (context.source / batch).glob("dash_[ev]_spec.rb"))
    specs = suites.SuiteContext(context.socket, context.source, context.host_ruby, context.workdir, 2,
                                batches={batch: files})
    results = suites.run_file(specs, suites.run_mspec_once, batch, [])
    log = (context.workdir / f"{batch.replace('/', '_')}.0.log").read_text()
    files_run, examples, failures, errors = map(int, re.search(
        r"^(\d+) files?, (\d+) examples?, \d+ expectations?, (\d+) failures?, (\d+) errors?", log, re.M).groups())
    outcomes = [r.outcome for r in results]
    assert (files_run, examples, outcomes.count("failed"), outcomes.count("error")) == (len(files), len(results), failures, errors)
    assert examples > 5 and outcomes.count("passed") == examples  # every example of -e and -v runs a child ruby
    assert {r.file for r in results} == set(files)
