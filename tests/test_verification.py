"""Ruby's own suites on the real artifact under the real wasmtime: the drivers, their parsers,
the known-failure logic, and one full `doit verify` run that every report test shares."""
from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cli import assert_did_no_work, doit

from toolchain.run.launcher import request
from toolchain.run.runner import DEFAULT_PROFILE
from toolchain.verify import known_failures, reports, suites
from toolchain.verify.known_failures import KnownFailure, Plan, judge
from toolchain.verify.verification import results_path, verification_dir

pytestmark = pytest.mark.e2e
SUMMARY_LINE = re.compile(r"^(\d+) tests, \d+ assertions, (\d+) failures, (\d+) errors, (\d+) skips$", re.M)


def test_full_run_meets_the_bar(full_verification):
    by_suite = {s["suite"]: s for s in full_verification["suites"]}
    assert full_verification["ok"] is True
    assert by_suite["basictest"]["run"] > 800 and by_suite["basictest"]["unexpected"] == 0
    assert by_suite["bootstraptest"]["run"] > 1800 and by_suite["bootstraptest"]["unexpected"] == 0
    # the whole test-all tree and ruby/spec, each with under 5% known failures, and the child-process
    # bridge leaving at most 30 entries of the plan in the process/spawn category
    assert by_suite["test-all"]["run"] >= 16_000 and by_suite["ruby-spec"]["run"] >= 15_000
    for suite in ("test-all", "ruby-spec"):
        assert by_suite[suite]["unexpected"] == 0 and by_suite[suite]["known_failures"] < 0.05 * by_suite[suite]["run"]
    plan = known_failures.load_plan("ruby-3.3")
    assert sum(e.reason == "process/spawn" for e in [*plan.known.values(), *plan.not_run]) <= 30
    files = {r["file"] for r in json.loads(results_path(f"ruby-3.3-{DEFAULT_PROFILE}", "test-all").read_text())["results"]}
    assert len([f for f in files if f.startswith("test/ruby/")]) >= 100
    for extension in ("zlib", "psych", "openssl"):  # the full profile's extensions run their own tests
        assert any(f.startswith(f"test/{extension}/") for f in files), extension


def test_junit_reports_agree_with_the_summary(full_verification):
    for suite in full_verification["suites"]:
        root = ET.parse(verification_dir(f"ruby-3.3-{DEFAULT_PROFILE}") / f"junit-{suite['suite']}.xml").getroot()
        assert int(root.get("tests")) == suite["run"] == len(root.findall("testcase"))
        assert int(root.get("failures")) == suite["unexpected"]
        known = [s for s in root.iter("skipped") if s.get("message", "").startswith("known failure")]
        assert len(known) == suite["known_failures"]


def test_second_verify_does_no_work(full_verification):
    assert_did_no_work(doit("verify"), "verify")


def outcomes(results_file: Path) -> list[tuple[str, str]]:
    return [(r["name"], r["outcome"]) for r in json.loads(results_file.read_text())["results"]]


def test_each_suite_runs_once_for_every_report_that_selects_it(full_verification):
    """verify reports on the suite stages' kept results: a report over fewer suites runs none
    again, and a suite whose results were cleaned runs again, alone."""
    basictest = results_path(f"ruby-3.3-{DEFAULT_PROFILE}", "basictest")
    kept = outcomes(basictest)
    fewer = doit("verify", "--suites", "basictest,endurance")
    said = fewer.stdout + fewer.stderr
    assert fewer.returncode == 0 and "==> basictest" not in said, said[-2000:]
    assert re.search(r"basictest: \d+ run, 0 unexpected", said), said[-2000:]
    cleaned = doit("clean", "suite:ruby-3.3-full-basictest")
    assert cleaned.returncode == 0 and not basictest.exists(), cleaned.stdout + cleaned.stderr
    again = doit("verify", "--suites", "basictest")
    said = again.stdout + again.stderr
    assert again.returncode == 0, said[-2000:]
    assert "==> basictest" in said and "==> test-all" not in said
    assert outcomes(basictest) == kept
    whole = doit("verify")  # the whole report again, from kept results, for the tests after this one
    said = whole.stdout + whole.stderr
    assert whole.returncode == 0 and "==> test-all" not in said, said[-2000:]


def test_test_all_results_match_the_harness_summary(context):
    results = suites.run_file(context, suites.run_test_all_once, "test/ruby/test_flip.rb", [])
    log = (context.workdir / "test_ruby_test_flip.rb.0.log").read_text()
    total, failures, errors, skips = map(int, SUMMARY_LINE.search(log).groups())
    outcomes = [r.outcome for r in results]
    assert (len(results), outcomes.count("failed"), outcomes.count("error"), outcomes.count("skipped")) == \
        (total, failures, errors, skips)
    assert total > 0 and all(r.name.startswith("TestFlip#") for r in results)


def test_test_all_reports_failures_errors_and_skips(context, tmp_path):
    tests = context.workdir / "test" / "demo"
    tests.mkdir(parents=True)
    (tests / "test_demo.rb").write_text(
        "require 'test/unit'\nclass TestDemo < Test::Unit::TestCase\n"
        "  def test_pass; assert_equal 1, 1; end\n  def test_fail; assert_equal 1, 2; end\n"
        "  def test_error; raise 'boom'; end\n  def test_skip; omit 'not here'; end\n"
        "  def test_fork; Process.fork { }; end\nend\n")
    demo = suites.SuiteContext(context.socket, _tree_with(context.source, tests, tmp_path),
                               context.host_ruby, context.workdir, 2)
    results = {r.name: r for r in suites.run_file(demo, suites.run_test_all_once, "test/demo/test_demo.rb", [])}
    assert {name: r.outcome for name, r in results.items()} == {
        "TestDemo#test_pass": "passed", "TestDemo#test_fail": "failed", "TestDemo#test_error": "error",
        "TestDemo#test_skip": "skipped", "TestDemo#test_fork": "error"}
    assert "<1> expected but was" in results["TestDemo#test_fail"].message
    assert results["TestDemo#test_fork"].message.startswith("NotImplementedError")


def _tree_with(source: Path, extra: Path, tmp_path: Path) -> Path:
    """A copy of the harness part of the Ruby source tree plus one more test directory
    (copies, not links: WASI refuses links that leave a granted directory)."""
    tree = tmp_path / "tree"
    (tree / "test").mkdir(parents=True)
    shutil.copytree(source / "tool", tree / "tool")
    shutil.copy(source / "test" / "runner.rb", tree / "test")
    shutil.copytree(extra, tree / "test" / extra.name)
    return tree


def test_basictest_counts_every_check(context):
    results = suites.run_basictest(context)
    assert len(results) > 800 and all(r.outcome == "passed" for r in results)
    assert [r.name for r in results[:2]] == ["#1", "#2"]


def test_known_failure_logic_on_a_real_bootstraptest_run(context):
    results = suites.run_bootstraptest(context, ["test_fork.rb", "test_flip.rb"])
    failing = [r for r in results if r.failed]
    passing = [r for r in results if not r.failed]
    assert failing and passing and {r.file for r in results} == {"test_fork.rb", "test_flip.rb"}
    listed, unlisted = failing[0], failing[1:]
    entries = [KnownFailure("bootstraptest", listed.file, listed.name, "process/spawn", "fork"),
               KnownFailure("bootstraptest", passing[0].file, passing[0].name, "bug", "stale entry")]
    plan = Plan(Path("plan.toml"), [], {e.key: e for e in entries}, {}, {}, [], [])
    verdict = judge(results, plan)
    assert verdict.known == [listed] and verdict.unexpected == unlisted
    assert verdict.fixed == [passing[0]]
    assert verdict.ok(strict=False) == (not unlisted) and not verdict.ok(strict=True)


def test_plan_for_3_3_is_valid_and_every_entry_has_a_reason():
    plan = known_failures.load_plan("ruby-3.3")
    assert len(plan.test_files) >= 40
    for entry in plan.known.values():
        assert entry.reason in known_failures.CATEGORIES and entry.why and not entry.why.startswith("REVIEW")


def test_extension_test_directories_run_only_when_the_extension_is_linked(tmp_path):
    for path in ["test/ruby/test_a.rb", "test/zlib/test_zlib.rb", "test/psych/visitors/test_emitter.rb",
                 "test/psych/test_yaml.rb", "test/psych/helper.rb"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    plan = Plan(Path("plan.toml"), ["test/ruby/test_a.rb"], {}, {},
                {"zlib": ["test/zlib"], "psych": ["test/psych"], "openssl": ["test/openssl"]}, [], [])
    assert plan.selection(("json",), tmp_path) == ["test/ruby/test_a.rb"]
    assert plan.selection(("json", "psych"), tmp_path) == [
        "test/ruby/test_a.rb", "test/psych/test_yaml.rb", "test/psych/visitors/test_emitter.rb"]


def test_worker_reports_a_hung_wasm_as_timed_out(context):
    answer = request(str(context.socket), ["-e", "$stdout.puts :started; $stdout.flush; loop {}"], [], {}, 2)
    assert answer["timed_out"] and answer["exit_code"] == 124 and "timed out" in answer["trap"]
    assert answer["stdout"] == b"started\n"


def test_spec_files_by_extension_and_not_run_entries_shape_the_selection(tmp_path):
    for path in ["spec/ruby/library/set/add_spec.rb", "spec/ruby/library/zlib/crc32_spec.rb",
                 "spec/ruby/library/socket/tcp_spec.rb", "test/ruby/test_a.rb", "test/ruby/test_thread.rb"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    not_run = [known_failures.NotRun("ruby-spec", "spec/ruby/library/socket", "socket", "no sockets"),
               known_failures.NotRun("test-all", "test/ruby/test_thread.rb", "thread", "no threads")]
    plan = Plan(Path("plan.toml"), ["test/ruby"], {}, {}, {"zlib": ["test/zlib", "spec/ruby/library/zlib/crc32_spec.rb"]},
                [], [], spec_files=["spec/ruby/library"], not_run=not_run)
    assert plan.selection((), tmp_path, "ruby-spec") == ["spec/ruby/library/set/add_spec.rb"]
    assert plan.selection(("zlib",), tmp_path, "ruby-spec") == [
        "spec/ruby/library/set/add_spec.rb", "spec/ruby/library/zlib/crc32_spec.rb"]
    assert plan.selection(("zlib",), tmp_path, "test-all") == ["test/ruby/test_a.rb", "test/zlib"]
    assert plan.not_running("test-all", "test/ruby/test_thread.rb").reason == "thread"


def test_the_table_counts_known_failures_by_reason():
    known = KnownFailure("test-all", "test/ruby/test_a.rb", "TestA#test_x", "thread", "threads")
    plan = Plan(Path("plan.toml"), [], {known.key: known}, {}, {}, [], [],
                not_run=[known_failures.NotRun("test-all", "test/ruby/test_b.rb", "fork", "forks")])
    results = [suites.TestResult("test-all", "test/ruby/test_a.rb", "TestA#test_x", "error", "boom"),
               suites.TestResult("test-all", "test/ruby/test_a.rb", "TestA#test_y", "passed")]
    run = suites.SuiteRun("test-all", results, 1.0)
    summary = {"suites": [reports.suite_summary(run, judge(results, plan), plan)]}
    assert summary["suites"][0]["known_by_reason"] == {"thread": 1}
    assert summary["suites"][0]["not_run_files_by_reason"] == {"fork": 1}
    assert re.search(r"^test-all\s+1\s+fork 1$", reports.table(summary), re.M)


def test_junit_report_parses_whatever_a_test_printed():
    message = "expected \x1eRUBY-WASM-SPEC start, got \x00\x07 and \ufffe"
    results = [suites.TestResult("ruby-spec", "spec/ruby/core/a_spec.rb", "A \x1b[31mred\x1b[0m", "failed", message)]
    plan = Plan(Path("plan.toml"), [], {}, {}, {}, [], [])
    root = ET.fromstring(reports.junit_xml(suites.SuiteRun("ruby-spec", results, 1.0), judge(results, plan), plan))
    case = root.find("testcase")
    assert case.get("name") == "A \\x1b[31mred\\x1b[0m"
    assert case.find("failure").text == "expected \\x1eRUBY-WASM-SPEC start, got \\x00\\x07 and \\ufffe"
