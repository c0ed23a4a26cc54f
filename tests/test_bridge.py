"""The child-process bridge on the real artifact under the real wasmtime: a wasm program asks for
a child Ruby, a worker runs it as a fresh instance, and the child's output and status come back;
Ruby's own harness (assert_separately, assert_in_out_err) and mspec's ruby_exe go through it."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from test_verification import _tree_with

from toolchain.locks import remove_unless_in_use, replace_dir, set_aside_old
from toolchain.paths import RUBY_SUPPORT
from toolchain.run.launcher import request
from toolchain.run.runner import DEFAULT_PROFILE, Artifact, artifact_dir
from toolchain.run.workers import worker_pool
from toolchain.verify import suites

pytestmark = pytest.mark.e2e

PARENT = """
require "/harness/child_bridge"
require "json"
out, err, status = WasiChildBridge.run(ARGV, program: "/usr/local/bin/ruby", env: {"GREETING" => "hi"},
                                       stdin: "from stdin", chdir: "/work", merged: ENV["MERGED"] == "1")
puts JSON.generate(out: out, err: err, exited: status.exited?, code: status.exitstatus,
                   signaled: status.signaled?, termsig: status.termsig, success: status.success?,
                   pid: status.pid, equal_to_i: status == status.to_i)
"""


def _parent(tmp_path: Path, child_argv: list[str], timeout: float = 60, merged: bool = False) -> dict:
    (tmp_path / "parent.rb").write_text(PARENT)
    answer = request(_socket, ["/work/parent.rb", *child_argv],
                     [[str(tmp_path), "/work", True], [str(RUBY_SUPPORT), "/harness", False]],
                     {"MERGED": "1"} if merged else {}, timeout, bridge=True)
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


def test_a_child_is_run_as_the_program_named_and_its_status_reads_as_natively(tmp_path):
    result = _parent(tmp_path, ["no-such-script.rb"])
    assert result["err"].startswith("/usr/local/bin/ruby: No such file or directory -- no-such-script.rb"), result
    assert (result["code"], result["pid"], result["equal_to_i"]) == (1, 42, True)  # 42: every WASI pid


def test_merged_output_keeps_the_order_it_was_written_in(tmp_path):
    child = "3.times { |i| $stdout.print i; $stdout.flush; $stderr.print (i + 65).chr }"
    result = _parent(tmp_path, ["-e", child], merged=True)
    assert (result["out"], result["err"]) == ("0A1B2C", "")


def test_a_child_killed_by_a_signals_default_action_reads_as_that_signal(tmp_path):
    # wasi-libc's default action for a fatal signal prints its name and aborts: natively, SIGTERM
    result = _parent(tmp_path, ["-e", "at_exit { print :cleaned }; raise SignalException, 'TERM'"])
    assert (result["out"], result["exited"], result["signaled"], result["termsig"]) == ("cleaned", False, True, 15)


def test_a_child_that_crashes_reads_as_killed_by_abort(tmp_path):
    # WASI cannot carry an exit status of 126 or more: the runner reports it as a trap
    result = _parent(tmp_path, ["-e", "exit!(200)"])
    assert (result["exited"], result["signaled"], result["termsig"], result["success"]) == (False, True, 6, None)


def test_a_child_the_host_cannot_start_reads_as_a_command_that_could_not_run(tmp_path):
    """wasmtime's WASI passes only UTF-8 environment values (TestRubyOptions#test_rubylib_invalid_encoding
    gives RUBYLIB="\\xFF"): the child is refused with a shell's 127 and the reason, not reported
    as a crash."""
    (tmp_path / "parent.rb").write_text(PARENT.replace('{"GREETING" => "hi"}', '{"RUBYLIB" => "\\xFF"}'))
    answer = request(_socket, ["/work/parent.rb", "-e", ";"],
                     [[str(tmp_path), "/work", True], [str(RUBY_SUPPORT), "/harness", False]], {}, 60, bridge=True)
    result = json.loads(answer["stdout"])
    assert (result["exited"], result["code"], result["signaled"]) == (True, 127, False), result
    assert "is not UTF-8" in result["err"] and "RUBYLIB" in result["err"]


def test_a_child_its_parent_stopped_waiting_for_is_stopped_with_it(tmp_path):
    (tmp_path / "parent.rb").write_text(PARENT)
    started = time.monotonic()
    answer = request(_socket, ["/work/parent.rb", "-e", "loop {}"],
                     [[str(tmp_path), "/work", True], [str(RUBY_SUPPORT), "/harness", False]], {}, 3, bridge=True)
    assert answer["timed_out"]
    follow_up = request(_socket, ["-e", "print 1"], [], {}, 30)  # the worker is free again at once
    assert follow_up["stdout"] == b"1" and time.monotonic() - started < 20


# IO.popen of a Ruby as tests use it: written then read, encodings, an environment and 2>&1, a
# command line with quoting, the status on close, and a command that cannot start.
POPENS = """
ruby = ARGV[0]
results = []
results << IO.popen([ruby, "-e", "print $stdin.read.upcase"], "r+") { |io| io.write "ab"; io.puts "c"; io.close_write; io.read }
results << IO.popen([ruby, "-e", "putc 255"], "r:ascii-8bit") { |io| s = io.read; [io.external_encoding.to_s, s.bytes] }
results << IO.popen([ruby, "-e", "print 'x'"], "r", external_encoding: "shift_jis", internal_encoding: "euc-jp") do |io|
  [io.external_encoding.to_s, io.internal_encoding.to_s, io.read.encoding.to_s]
end
results << IO.popen([{"GREETING" => "hi"}, ruby, "-e", "print ENV['GREETING']; $stdout.flush; warn 'e'"], err: [:child, :out], &:read)
results << IO.popen("#{ruby} -e 'print ARGV.inspect' 'two words' x", &:read)
io = IO.popen([ruby, "-e", "print 1; exit 3"])
results << io.read << io.close << $?.exitstatus
results << (IO.popen(["no-such-command-here"]) rescue $!.class.superclass)
p results
"""


def test_io_popen_of_a_ruby_runs_through_the_bridge_as_natively(context, tmp_path):
    (tmp_path / "popens.rb").write_text(f'require "/harness/child_bridge"\n'
                                        f'WasiChildBridge.serve_popen("/usr/local/bin/ruby")\n{POPENS}')
    answer = request(_socket, ["/work/popens.rb", "/usr/local/bin/ruby"],
                     [[str(tmp_path), "/work", True], [str(RUBY_SUPPORT), "/harness", False]], {}, 60, bridge=True)
    native = subprocess.run([str(context.host_ruby), "-e", POPENS, str(context.host_ruby)],
                            capture_output=True, text=True, timeout=60)
    assert native.stdout.startswith('["ABC\\n", ["ASCII-8BIT", [255]]'), native.stdout + native.stderr
    assert (answer["exit_code"], answer["stdout"].decode()) == (0, native.stdout), answer["stderr"].decode()[-2000:]


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


REPUBLISHED_PARENT = """
require "/harness/child_bridge"
require "set"
File.write("/sync/ready", "")
sleep 0.01 until File.exist?("/sync/go")
require "json"  # after the artifact was published anew under the running parent
require "ostruct"
out, err, status = WasiChildBridge.run(["-e", "require 'uri'; print URI('http://x/y').path"], program: "ruby", env: {},
                                       stdin: "")
print JSON.generate(child: out, err: err[0, 500], ok: status.success?, parent: OpenStruct.new(a: 1).a)
"""


def test_a_run_keeps_its_tree_while_the_artifact_is_published_anew(tmp_path):
    """The fresh-machine failure of ruby/spec's command_line batch (a bridged child's `cannot load
    such file -- bundled_gems`): a run and its children read the artifact's tree by path, and a
    publish that replaced and removed that tree under them took their standard library away."""
    published = tmp_path / "artifacts" / "ruby-3.3-full"
    shutil.copytree(artifact_dir("3.3", DEFAULT_PROFILE), published, symlinks=True)
    staging = published.with_name(".ruby-3.3-full.staging")
    shutil.copytree(published, staging, symlinks=True)
    sync = tmp_path / "sync"
    sync.mkdir()
    (tmp_path / "parent.rb").write_text(REPUBLISHED_PARENT)
    mounts = [[str(tmp_path), "/work", False], [str(sync), "/sync", True], [str(RUBY_SUPPORT), "/harness", False]]
    answers: list[dict] = []
    with worker_pool(Artifact(published), 1) as socket:
        parent = threading.Thread(target=lambda: answers.append(
            request(str(socket), ["/work/parent.rb"], mounts, {}, 120, bridge=True)))
        parent.start()
        deadline = time.monotonic() + 60
        while not (sync / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        replace_dir(staging, published)  # as publishing an artifact does
        (sync / "go").touch()
        parent.join()
    assert answers[0]["exit_code"] == 0, answers[0]["stderr"].decode()[-2000:]
    assert json.loads(answers[0]["stdout"]) == {"child": "/y", "err": "", "ok": True, "parent": 1}
    [replaced] = set_aside_old(published)  # kept while the run read it, free once it ended
    assert remove_unless_in_use(replaced) and not replaced.exists()
