"""The endurance suite and the native twin, on the real full artifact under the real wasmtime."""
from __future__ import annotations

import platform
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from toolchain.compile import cruby
from toolchain.errors import UserError
from toolchain.product import with_series_endurance
from toolchain.run.runner import DEFAULT_PROFILE, Artifact, Mount, RubyWasm, artifact_dir, main
from toolchain.verify import known_failures, suites
from toolchain.verify.known_failures import load_plan
from toolchain.verify.suites import EndurancePlan, EnduranceProgram
from toolchain.verify.verification import verification_dir

pytestmark = pytest.mark.e2e
MIB = 1 << 20


def test_every_endurance_program_matches_the_native_twin_without_leaking(full_verification):
    endurance = next(s for s in full_verification["suites"] if s["suite"] == "endurance")
    programs = load_plan("ruby-3.3").endurance.programs
    assert endurance["run"] == len(programs) >= 10
    known = {test for suite, _, test in load_plan("ruby-3.3").known if suite == "endurance"}
    assert endurance["unexpected"] == 0 and endurance["known_failures"] == len(known)
    measured = {m["test"]: m for m in endurance["measured"]}
    assert set(measured) == {p.path.stem for p in programs}
    for program in programs:
        figures = measured[program.path.stem]
        assert figures["iterations"] == program.large
        if program.path.stem not in known:
            assert figures["outcome"] == "passed"
            assert 0 < figures["memory_mib"] <= figures["small_memory_mib"] + 8, program.path.name


def test_the_million_iteration_programs_are_in_the_suite():
    large = {p.path.stem: p.large for p in load_plan("ruby-3.3").endurance.programs}
    assert large["raise_rescue"] >= 1_000_000 and large["break_next_return"] >= 1_000_000
    assert large["throw_catch"] >= 1_000_000


def test_junit_report_carries_each_programs_time_and_memory(full_verification):
    root = ET.parse(verification_dir(f"ruby-3.3-{DEFAULT_PROFILE}") / "junit-endurance.xml").getroot()
    for case in root.findall("testcase"):
        properties = {p.get("name"): float(p.get("value")) for p in case.iter("property")}
        assert float(case.get("time")) > 0 and properties["memory_mib"] > 0


def _program(directory: Path, name: str, source: str, small: int, large: int) -> EnduranceProgram:
    path = directory / name
    path.write_text(source)
    return EnduranceProgram(path, small, large)


def test_suite_fails_a_leak_and_an_answer_unlike_the_twins(context, tmp_path):
    plan = EndurancePlan((
        _program(tmp_path, "steady.rb", "n = Integer(ARGV[0]); s = 0; n.times { |i| s += i }; p s", 1_000, 100_000),
        _program(tmp_path, "leaks.rb", "$kept = []; Integer(ARGV[0]).times { $kept << ('x' * 1000) }; p $kept.size",
                 1_000, 50_000),
        _program(tmp_path, "platform.rb", "puts RUBY_PLATFORM", 1, 2),
    ), 8 * MIB)
    results = {r.name: r for r in suites.run_endurance(context, plan)}
    assert results["steady"].outcome == "passed" and results["steady"].metrics["iterations"] == 100_000
    assert results["leaks"].outcome == "failed" and "linear memory grew by" in results["leaks"].message
    assert results["leaks"].metrics["memory_mib"] > results["leaks"].metrics["small_memory_mib"] + 40
    assert results["platform"].outcome == "failed"
    assert "wasm32-wasi" in results["platform"].message and f"{platform.machine()}-linux" in results["platform"].message


def test_native_twin_is_the_baseruby_built_from_the_same_patched_source(full_verification):
    build = cruby.plan("3.3", DEFAULT_PROFILE, "auto", fetch_missing=False, quiet=True)
    twin = build.native
    assert twin.build_dir.parent.name == "native" and twin.patches == build.patches
    described = subprocess.run([str(build.twin), "-e", "print RUBY_VERSION, ' ', RUBY_PLATFORM"],
                               capture_output=True, text=True).stdout
    assert described == f"{build.recipe.version} {platform.machine()}-linux"
    tree = twin.build_dir / "src"
    patched = subprocess.run(["grep", "-rl", "rb_ec_tag_abandon", str(tree)], capture_output=True, text=True).stdout
    assert "eval_intern.h" in patched  # a patch of patches/ruby-3.3 is applied to the twin too
    rbconfig = next(build.install_dir.glob("usr/local/lib/ruby/3.3.0/wasm32-wasi/rbconfig.rb")).read_text()
    assert "--with-baseruby=ruby" in rbconfig and str(twin.build_dir) not in rbconfig


def test_runner_reports_the_wasms_linear_memory(full_verification):
    runner = RubyWasm(Artifact(artifact_dir("3.3", DEFAULT_PROFILE)))
    small = runner.capture(["--disable-gems", "-e", "1"])
    large = runner.capture(["--disable-gems", "-e", "s = 'x' * (64 << 20); p s.size"])
    assert large.stdout.strip() == str(64 * MIB)
    assert large.memory_bytes >= small.memory_bytes + 64 * MIB


@pytest.mark.parametrize("entry, problem", [
    ({"file": "raise_rescue.rb", "small": 10}, "must be { file"),
    ({"file": "raise_rescue.rb", "small": 10, "large": "many"}, "whole numbers"),
    ({"file": "no_such.rb", "small": 1, "large": 2}, "does not exist"),
    ({"file": "raise_rescue.rb", "small": 5, "large": 5}, "less than large"),
])
def test_an_invalid_endurance_entry_names_the_plan_and_the_fix(entry, problem):
    with pytest.raises(UserError, match=problem) as error:
        known_failures.endurance_plan(Path("verification/x.toml"), {"memory_growth_mib": 8, "programs": [entry]})
    assert "verification/x.toml: [endurance] programs[0]" in str(error.value)


def test_a_gems_plan_takes_the_series_endurance_programs_and_their_known_failures():
    series, gem = load_plan("ruby-3.3"), load_plan("gem-nokogiri")
    plan = with_series_endurance(gem, series)
    assert plan.endurance == series.endurance and plan.minitest_files == gem.minitest_files
    assert set(gem.known) | {key for key in series.known if key[0] == "endurance"} == set(plan.known)


PROGRAMS = Path(__file__).parent / "programs"


def run_capped(program: str, argument: str, cap_mib: int):
    runner = RubyWasm(Artifact(artifact_dir("3.3", DEFAULT_PROFILE)))
    return runner.capture([f"/programs/{program}", argument], timeout=300, memory_limit=cap_mib * MIB,
                          mounts=[Mount(PROGRAMS, "/programs", writable=False)])


@pytest.mark.parametrize("shape", ["resumed once", "resumed from map", "switched inside nested blocks",
                                   "external enumerators"])
def test_fibers_that_exhaust_memory_end_in_a_ruby_exception(full_verification, shape):
    """Where memory runs out is a matter of luck, so the program runs under several caps of
    linear memory: each run must end in FiberError or NoMemoryError, rescued by the program or
    reported by Ruby, never in a trap, a fatal exit or a wrong answer. The smallest cap leaves
    room to start: a run takes about 90 MiB before its first fiber, 32 MiB of it the whole-stack
    buffers (patch 0024)."""
    for cap_mib in range(128, 512, 48):
        result = run_capped("fibers_out_of_memory.rb", shape, cap_mib)
        where = f"{shape!r} under a {cap_mib} MiB cap: exit {result.exit_code}, {result.trap or result.stderr[-300:]}"
        assert result.trap is None, where
        rescued = re.fullmatch(f"{shape}: (FiberError|NoMemoryError) after some fibers\n", result.stdout)
        raised = result.exit_code == 1 and re.search(r"\((FiberError|NoMemoryError)\)$", result.stderr.strip())
        assert rescued and result.exit_code == 0 or raised, where


@pytest.mark.parametrize("role, expected", [
    ("resumer", ":ok\n[:failed, NoMemoryError]\n:ok\n"),
    ("yielder", "[:failed, NoMemoryError]\n:deep_again\n:done\nfalse\n"),
])
def test_a_deep_fiber_switch_without_memory_raises_and_the_fibers_go_on(full_verification, role, expected):
    """The switch's saved locals cannot be allocated (patch 0013): a Ruby exception in the fiber
    that switched, every fiber as it was, and the same switch works once memory is freed."""
    for cap_mib in (128, 256):
        result = run_capped("fiber_switch_out_of_memory.rb", role, cap_mib)
        assert (result.trap, result.exit_code, result.stdout) == (None, 0, expected), result.stderr[-300:]


def test_a_start_under_a_cap_too_small_says_so(full_verification):
    """Under a cap the interpreter cannot start in, the run ends with a line saying that it could
    not start or that memory ran out (patch 0025: it exited 1 without a word, or aborted with
    `[BUG] Out of memory`), never silently and never in a trap. Where a start runs out depends on
    the cap to the page, so the sweep steps by 512 KiB."""
    runner = RubyWasm(Artifact(artifact_dir("3.3", DEFAULT_PROFILE)))
    outcomes = set()
    for cap_kib in range(48 << 10, 80 << 10, 512):
        result = runner.capture(["--disable-gems", "-e", "p 1"], timeout=60, memory_limit=cap_kib << 10)
        where = f"under a {cap_kib} KiB cap: exit {result.exit_code}, {result.trap or result.stderr[-300:]!r}"
        assert result.trap is None, where
        started = (result.exit_code, result.stdout) == (0, "1\n")
        said_so = result.exit_code == 1 and re.search(r"(\[FATAL\] failed to (allocate memory|start).*|NoMemoryError\))$",
                                                      result.stderr.strip())
        assert started or said_so, where
        outcomes.add(started)
    assert outcomes == {True, False}  # the sweep crosses the smallest cap it starts in


def test_runner_caps_linear_memory_and_ruby_raises_no_memory_error(full_verification, capfd):
    code = "begin; s = 'x' * (192 << 20); p s.size; rescue NoMemoryError; puts 'NoMemoryError'; end"
    assert main(["--max-memory", "128", "-e", code]) == 0
    assert capfd.readouterr().out == "NoMemoryError\n"
    with pytest.raises(SystemExit) as refused:
        main(["--max-memory", "0", "-e", code])
    assert refused.value.code == 2 and "above 0" in capfd.readouterr().err
