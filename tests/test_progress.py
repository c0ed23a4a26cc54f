"""What long steps say while they run: a build step's files compiled (of the total its last
finished run compiled), and a suite's tests done of the expected total, with a rate and the time left."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from toolchain import steps
from toolchain.compile import cruby
from toolchain.run.runner import DEFAULT_PROFILE
from toolchain.steps import CompileCount, Progress, run_logged

SOURCES = {"one.c": "int one(void) { return 1; }\n", "two.c": "int two(void) { return 2; }\n",
           "three.c": "int three(void) { return 3; }\n"}


@pytest.fixture
def fast_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(steps, "HEARTBEAT_SECONDS", 0.2)


def compile_slowly(directory: Path) -> list[str]:
    """A build that compiles three C files with the host's compiler, a pause between them, and
    prints each command as make does."""
    for name, text in SOURCES.items():
        (directory / name).write_text(text)
    script = "; ".join(f"echo cc -O2 -c {name} && cc -O2 -c {name} && sleep 0.5" for name in SOURCES)
    return ["sh", "-c", script]


def test_a_build_step_says_files_compiled_of_the_last_runs_total(tmp_path, fast_heartbeat, capfd):
    record = tmp_path / "counts" / "hello.make"
    run_logged("make", compile_slowly(tmp_path), tmp_path / "first.log", cwd=tmp_path, compile_record=record)
    first = capfd.readouterr().err
    assert re.search(r"make: \ds, compiled [123] files \(log: ", first), first
    assert record.read_text() == "3" and len(list(tmp_path.glob("*.o"))) == 3

    run_logged("make", compile_slowly(tmp_path), tmp_path / "second.log", cwd=tmp_path, compile_record=record)
    second = capfd.readouterr().err
    assert re.search(r"compiled [123] of 3 files", second), second


def test_a_failed_step_leaves_the_last_total_alone(tmp_path, fast_heartbeat):
    record = tmp_path / "counts" / "hello.make"
    run_logged("make", compile_slowly(tmp_path), tmp_path / "first.log", cwd=tmp_path, compile_record=record)
    with pytest.raises(steps.UserError):
        run_logged("make", ["sh", "-c", "echo cc -c one.c && cc -c one.c && false"], tmp_path / "second.log",
                   cwd=tmp_path, compile_record=record)
    assert record.read_text() == "3"


@pytest.mark.e2e
def test_the_count_in_cruby_s_build_log_is_the_objects_it_made(artifact):
    build = cruby.plan("3.3", DEFAULT_PROFILE, "auto", fetch_missing=False, quiet=True)
    assert build is not None
    objects = list((build.build_dir / "obj").rglob("*.o"))
    assert len(objects) > 150
    assert CompileCount(build.build_dir / "logs" / "install.log", None).update() == len(objects)


def test_a_suite_says_tests_done_of_the_expected_total_with_a_rate_and_the_time_left(fast_heartbeat, capfd):
    with Progress("test-all", units=4, expected_items=400) as progress:
        for _ in range(2):
            time.sleep(0.15)
            progress.advance(100)
        time.sleep(0.3)
        line = progress.line()
    said = capfd.readouterr().err
    assert re.fullmatch(r"    test-all: 200 of ~400 tests \(2 of 4 runs\), \d+ tests/s, about \ds left", line), line
    assert "test-all: 200 of ~400 tests (2 of 4 runs)" in said


def test_a_suite_run_for_the_first_time_reckons_from_its_runs(fast_heartbeat):
    progress = Progress("minitest", units=10)
    assert progress.line().endswith("so far")
    progress.advance(7)
    assert re.fullmatch(r"    minitest: 7 tests \(1 of 10 runs\), \d+ tests/s, about \d+s left", progress.line())
