"""Test suites run against an artifact under wasmtime: Ruby's own basictest, bootstraptest
(driven by CRuby's runner.rb on the host Ruby) and test-all (the source tree's own harness,
inside the wasm); the endurance suite (long runs in one VM, compared with the native twin); and
a gem's minitest files. Each driver returns one result per test.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..paths import RUBY_SUPPORT
from ..run.launcher import SOCKET_ENV, request
from ..run.workers import LAUNCHER
from ..steps import Progress

BTEST_REPORTER = RUBY_SUPPORT / "btest_reporter.rb"
BTEST_TIMEOUT = 120.0
TEST_FILE_TIMEOUT = 180.0
MAX_CRASH_RERUNS = 10
INTERRUPTED, EXITED = "interrupted: ", "the wasm exited "  # how a cut-off test's message begins
TEST_ALL_BATCH = 10  # test-all files of one directory per wasm run
QUOTED_METHOD = re.compile(r'#"(.*)"\Z')  # the harness quotes a method name that is not an identifier
UNSAFE_IN_NAME = re.compile(r"[^\w.+-]")  # in a log's name
ENDURANCE_TIMEOUT = 900.0
SUITES = ("basictest", "bootstraptest", "test-all", "ruby-spec", "endurance", "minitest")
RUBY_SUITES = ("basictest", "bootstraptest", "test-all", "ruby-spec", "endurance")  # run by `doit verify`
FILE_SUITES = ("test-all", "ruby-spec", "minitest")  # the suites that run the plan's files


@dataclass(frozen=True)
class TestResult:
    suite: str
    file: str
    name: str
    outcome: str  # passed, failed, error or skipped
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)  # measured figures (the endurance suite's)

    @property
    def failed(self) -> bool:
        return self.outcome in ("failed", "error")


@dataclass(frozen=True)
class SuiteRun:
    suite: str
    results: list[TestResult]
    seconds: float


@dataclass(frozen=True)
class SuiteContext:
    """What every driver needs: the worker pool, the Ruby source tree, a host Ruby, a scratch dir."""
    socket: Path
    source: Path
    host_ruby: Path  # the native twin
    workdir: Path
    workers: int
    test_libs: tuple[Path, ...] = ()  # put on the load path of every test file (a gem's minitest)
    load_path: tuple[str, ...] = ()  # directories of the source tree on that load path too
    # the files of each wasm run, by the run's name, for the suites that run several files at once
    batches: dict[str, list[str]] = field(default_factory=dict)
    expected_tests: int | None = None  # how many the suite ran last time on this artifact, for the progress line


# --- basictest ------------------------------------------------------------------------------

BASICTEST_FAILURE = re.compile(r"^not ok (\S+) (\d+) -- (.*)$", re.M)
BASICTEST_END = re.compile(r"^(?:end of test\(test: (\d+)\)|not ok/test: (\d+) failed \d+)$", re.M)


def parse_basictest(output: str, exit_code: int, trap: str | None) -> list[TestResult]:
    """basictest numbers its checks and prints only the failures and a closing count."""
    failures = {int(n): f"{what} -- {where}" for what, n, where in BASICTEST_FAILURE.findall(output)}
    end = BASICTEST_END.search(output)
    if not end:
        detail = trap or f"exit code {exit_code}"
        return [TestResult("basictest", "test.rb", "(run)", "error", f"did not finish: {detail}")]
    total = int(end.group(1) or end.group(2))
    return [TestResult("basictest", "test.rb", f"#{n}", "failed" if n in failures else "passed",
                       failures.get(n, "")) for n in range(1, total + 1)]


def run_basictest(context: SuiteContext) -> list[TestResult]:
    scratch = Path(tempfile.mkdtemp(dir=context.workdir))
    shutil.copy(context.source / "basictest" / "test.rb", scratch)  # it writes files beside itself
    answer = request(str(context.socket), ["-C", "/work", "--disable-gems", "test.rb", "--tty=no"],
                     [[str(scratch), "/work", True]], {}, BTEST_TIMEOUT)
    return parse_basictest(answer["stdout"].decode(errors="replace"), answer["exit_code"], answer["trap"])


# --- bootstraptest --------------------------------------------------------------------------

def parse_btest_report(entries: list[dict]) -> list[TestResult]:
    """One result per assertion, named file:line (file:line#k for the k-th at the same line)."""
    seen: Counter[tuple[str, int]] = Counter()
    results = []
    for entry in sorted(entries, key=lambda e: e["id"]):
        key = (entry["file"], entry["line"])
        seen[key] += 1
        name = f"{entry['file']}:{entry['line']}" + (f"#{seen[key]}" if seen[key] > 1 else "")
        failure = entry.get("failure")
        results.append(TestResult("bootstraptest", entry["file"], name,
                                  "failed" if failure else "passed", failure or ""))
    return results


def run_bootstraptest(context: SuiteContext, files: list[str] | None = None) -> list[TestResult]:
    paths = [context.source / "bootstraptest" / f for f in files] if files else \
        sorted((context.source / "bootstraptest").glob("test_*.rb"))
    report = context.workdir / "bootstraptest.json"
    log = context.workdir / "bootstraptest.log"
    launcher = f"{sys.executable} -S {LAUNCHER} --disable-gems"
    env = {**os.environ, SOCKET_ENV: str(context.socket), "BTEST_REPORT": str(report),
           "RUBY_WASM_TIMEOUT": str(BTEST_TIMEOUT)}
    command = [str(context.host_ruby), "-r", str(BTEST_REPORTER),
               str(context.source / "bootstraptest" / "runner.rb"), f"--ruby={launcher}",
               f"-j{context.workers}", "--tty=no", "--color=never", *map(str, paths)]
    with log.open("w") as out:
        subprocess.run(command, env=env, cwd=context.workdir, stdout=out, stderr=subprocess.STDOUT)
    if not report.exists():
        raise UserError(f"bootstraptest's runner ended without a report; see {log}.")
    return parse_btest_report(json.loads(report.read_text()))


# --- test-all -------------------------------------------------------------------------------

# A test's name: Class#method, or Class#"method" when the method's name has spaces (defined with
# define_method). Its time may be followed by what a leak check printed, on the same line.
TEST_NAME = r'\S+#(?:"[^\n]*?"|\S+?)'
PROGRESS = re.compile(rf"^\[\s*\d+/\d+\] ({TEST_NAME})(?= = [\d.]+ s|$)", re.M)
DONE = re.compile(r" = [\d.]+ s")
PROBLEM = re.compile(rf"^\s*\d+\) (Failure|Error|Skipped):\n({TEST_NAME})(?: \[[^\n]*\])?:\n(.*?)"
                     r"(?=^\s*\d+\) (?:Failure|Error|Skipped):|^Finished tests|\Z)", re.M | re.S)
OUTCOMES = {"Failure": "failed", "Error": "error", "Skipped": "skipped"}
CLASS_MARK = re.compile(r"^\x1eRUBY-WASM-CLASS (\S+) (\S+)$", re.M)  # written by wasi_harness.rb
HARNESS_RAN_NOTHING = re.compile(r"^0 tests, 0 assertions, 0 failures, 0 errors, 0 skips$", re.M)
OUTPUT_AFTER_NAME = re.compile(r"-{5,}.*")  # no method name has a run of dashes


def parse_test_all(unit: str, output: str, exit_code: int, trap: str | None) -> list[TestResult]:
    """Results from the harness's verbose output (-v --show-skip); a test that started and never
    finished is the one a trap or time-out interrupted. Each test is credited to the file that
    defined its class (the harness adaptation prints it), else to the run's `unit`."""
    class_files = dict(reversed(CLASS_MARK.findall(output)))  # a class's first definition names its file
    started: dict[str, bool] = {}
    matches = list(PROGRESS.finditer(output))
    for match, following in zip(matches, [*matches[1:], None]):
        name = OUTPUT_AFTER_NAME.sub("", match.group(1))  # what a test printed on its progress line
        # the time follows the test's own output, which may have no newline of its own
        done = bool(DONE.search(output, match.end(1), following.start() if following else len(output)))
        started[name] = started.get(name, False) or done
    problems: dict[str, tuple[str, str]] = {}
    for kind, name, text in PROBLEM.findall(output):
        if problems.get(name, ("skipped",))[0] != "error":  # keep the worst of several reports
            problems[name] = (OUTCOMES[kind], text.strip())
    interrupted = interruption(trap, exit_code)
    results = []
    for name, finished in started.items():
        outcome, message = problems.get(name, ("passed", "") if finished else ("error", interrupted))
        results.append(TestResult("test-all", defining_file(name.split("#")[0], class_files, unit), name, outcome, message))
    if not started and not HARNESS_RAN_NOTHING.search(output):  # a helper, or every test omitted here
        results.append(TestResult("test-all", unit, "(load)", "error",
                                  trap or f"no test ran (exit code {exit_code}): {output.strip()[:800]}"))
    return results


def defining_file(class_name: str, class_files: dict[str, str], unit: str) -> str:
    """The file that defined the class, or the class it is nested in (a class made with
    Class.new gets its name after it is defined); else the run's unit."""
    parts = class_name.split("::")
    return next((class_files[name] for name in ("::".join(parts[:n]) for n in range(len(parts), 0, -1))
                 if name in class_files), unit)


def interruption(trap: str | None, exit_code: int) -> str:
    """The message of the test a trap or an exit cut off; interrupted_test finds it by this."""
    return f"{INTERRUPTED}{trap}" if trap else f"{EXITED}({exit_code}) during this test"


def interrupted_test(results: list[TestResult]) -> str | None:
    return next((r.name for r in results if r.message.startswith((INTERRUPTED, EXITED))), None)


def batch_timeout(files: int) -> float:
    """A run's time limit: a file's, and a minute more for each further file in the batch."""
    return TEST_FILE_TIMEOUT + 60.0 * (files - 1)


def _run_file_in_wasm(context: SuiteContext, file: str, argv: list[str], env: dict[str, str],
                      attempt: int, timeout: float = TEST_FILE_TIMEOUT) -> tuple[str, dict]:
    """One wasm run of a test file, with the source tree at /src, the harness files at /harness,
    each test library at /testlib<n> and a scratch /tmp, which is also HOME (a native run has a
    home); the output is logged. (Top-level names: a directory granted at /a/b would leave /a
    unresolvable to Ruby's realpath.)"""
    scratch = Path(tempfile.mkdtemp(dir=context.workdir))
    mounts = [[str(context.source), "/src", False], [str(RUBY_SUPPORT), "/harness", False],
              [str(scratch), "/tmp", True],
              *[[str(lib), f"/testlib{n}", False] for n, lib in enumerate(context.test_libs)]]
    answer = request(str(context.socket), argv, mounts, {"TMPDIR": "/tmp", "HOME": "/tmp", **env}, timeout, bridge=True)
    output = answer["stdout"].decode(errors="replace") + answer["stderr"].decode(errors="replace")
    log = context.workdir / f"{UNSAFE_IN_NAME.sub('_', file)}.{attempt}.log"
    log.write_text(output + (f"\nwasm trap: {answer['trap']}\n" if answer["trap"] else ""))
    shutil.rmtree(scratch, ignore_errors=True)
    return output, answer


def run_test_all_once(context: SuiteContext, unit: str, excluded: list[str], attempt: int) -> list[TestResult]:
    """One run of a batch of test-all files (or of `unit` itself, a file) with CRuby's own
    harness, which loads them all into one process as its own workers do; `excluded` are regexps
    of test names (Class#method) not to run."""
    files = context.batches.get(unit, [unit])
    # From the scratch directory, as test-all runs natively from its build directory, not from /.
    argv = ["-C/tmp", "-r/harness/wasi_harness.rb", "/src/test/runner.rb", "-v", "--tty=no", "--show-skip",
            "--test-order=sorted", *[f"-n!/{pattern}/" for pattern in excluded], *[f"/src/{file}" for file in files]]
    env = {"RUBY_TEST_SOURCE": "/src", "GEM_TEST_TMPDIR": "/tmp/rubygems"}  # RubyGems' tests: not under /src
    output, answer = _run_file_in_wasm(context, unit, argv, env, attempt, batch_timeout(len(files)))
    return parse_test_all(unit, output, answer["exit_code"], answer["trap"])


# --- a gem's minitest tests ------------------------------------------------------------------

MINITEST_MARK = "\x1eRUBY-WASM-TEST "


def parse_minitest(file: str, output: str, exit_code: int, trap: str | None) -> list[TestResult]:
    """Results from the lines toolchain/ruby/minitest_wasi.rb writes; a test that started and never
    reported a result is the one a trap or exit interrupted. A marker may follow other output on
    its line (minitest's progress dots); a file in which no test started is a failure."""
    started: list[str] = []
    finished: dict[str, TestResult] = {}
    for line in output.split("\n"):  # not splitlines(): it also splits at the marker's \x1e
        _, marked, payload = line.partition(MINITEST_MARK)
        if not marked:
            continue
        event = json.loads(payload)
        if "start" in event:
            started.append(event["start"])
        else:
            finished[event["test"]] = TestResult("minitest", file, event["test"], event["outcome"], event["message"])
    interrupted = interruption(trap, exit_code)
    results = [finished.get(name) or TestResult("minitest", file, name, "error", interrupted)
               for name in dict.fromkeys(started)]
    if not started:
        results.append(TestResult("minitest", file, "(load)", "error",
                                  trap or f"no test ran (exit code {exit_code}): {output.strip()[-800:]}"))
    return results


def run_minitest_once(context: SuiteContext, file: str, excluded: list[str], attempt: int) -> list[TestResult]:
    """One run of a gem's test file under minitest, in a fixed order (seed 0), from the gem's root
    directory as its Rakefile runs them (tests open fixtures by relative path)."""
    exclusion = ["-e", f"/{'|'.join(f'(?:{pattern})' for pattern in excluded)}/"] if excluded else []
    argv = [*[f"-I/testlib{n}" for n in range(len(context.test_libs))],
            *[f"-I/src/{directory}" for directory in context.load_path], "-C/src", "-r/harness/minitest_wasi.rb",
            f"/src/{file}", "--seed", "0", *exclusion]
    # No parallel executor threads: WASI has none (minitest_wasi.rb refuses parallel test classes).
    output, answer = _run_file_in_wasm(context, file, argv, {"MT_CPU": "0"}, attempt)
    return parse_minitest(file, output, answer["exit_code"], answer["trap"])


# --- ruby/spec, with the tree's own mspec ---------------------------------------------------------

SPEC_MARK = "\x1eRUBY-WASM-SPEC "
SPEC_DIR = "spec/ruby"
MSPEC_NOTHING_TO_RUN = re.compile(r"^\d+ files?, 0 examples, 0 expectations, 0 failures, 0 errors", re.M)


def batches(suite: str, files: list[str]) -> dict[str, list[str]]:
    """The files of each wasm run, by the run's name. ruby/spec runs a directory of spec files at
    once (core/array, language, ...); test-all up to TEST_ALL_BATCH files of one directory, named
    after the first (a batch of one is the file itself). One file per run would spend more time
    starting Ruby than running tests."""
    if suite not in ("test-all", "ruby-spec"):
        return {}  # a gem's minitest files, one per run
    by_directory: dict[str, list[str]] = {}
    for file in files:
        by_directory.setdefault(file.rsplit("/", 1)[0], []).append(file)
    if suite == "ruby-spec":
        return by_directory
    chunks = [listed[i:i + TEST_ALL_BATCH] for listed in by_directory.values()
              for i in range(0, len(listed), TEST_ALL_BATCH)]
    return {chunk[0] if len(chunk) == 1 else f"{chunk[0]}+{len(chunk) - 1}": chunk for chunk in chunks}


def _decoded(fields: list[str]) -> list[str]:
    return [base64.b64decode(field).decode(errors="replace") for field in fields]


def parse_mspec(batch: str, output: str, exit_code: int, trap: str | None) -> list[TestResult]:
    """Results from the lines toolchain/ruby/mspec_wasi.rb writes: one when an example starts,
    one when it ends; an example that started and never ended is the one a trap or exit cut off."""
    started: list[tuple[str, str]] = []
    finished: dict[tuple[str, str], TestResult] = {}
    for line in output.split("\n"):
        _, marked, payload = line.partition(SPEC_MARK)
        if not marked:
            continue
        event, *fields = payload.split(" ")
        if event == "start":
            file, name = _decoded(fields)
            started.append((file, name))
        else:
            file, outcome, name, message = _decoded(fields)
            finished[(file, name)] = TestResult("ruby-spec", file, name, outcome, message)
    interrupted = interruption(trap, exit_code)
    results = [finished.pop(key, None) or TestResult("ruby-spec", *key, "error", interrupted)
               for key in dict.fromkeys(started)]
    results += finished.values()  # a file that failed to load: no example started
    if not results and MSPEC_NOTHING_TO_RUN.search(output):
        return []  # every example guarded off for this platform or version
    if not results:
        results.append(TestResult("ruby-spec", batch, "(load)", "error",
                                  trap or f"no example ran (exit code {exit_code}): {output.strip()[-800:]}"))
    return results


def run_mspec_once(context: SuiteContext, batch: str, excluded: list[str], attempt: int) -> list[TestResult]:
    """One run of a directory of specs with mspec-run, its config the tree's default.mspec."""
    exclusion = [argument for pattern in excluded for argument in ("-P", pattern)]
    argv = ["-C/tmp", "/src/spec/mspec/bin/mspec-run", "-B", f"/src/{SPEC_DIR}/default.mspec", "-f", "/harness/mspec_wasi.rb",
            *exclusion, *[f"/src/{file}" for file in context.batches[batch]]]
    env = {"MSPEC_RUNNER": "1", "SPEC_TEMP_DIR": "/tmp/rubyspec_temp"}
    output, answer = _run_file_in_wasm(context, batch, argv, env, attempt)
    return parse_mspec(batch, output, answer["exit_code"], answer["trap"])


# --- endurance: long runs in one VM, judged against the native twin ---------------------------

@dataclass(frozen=True)
class EnduranceProgram:
    path: Path  # takes its iteration count as ARGV[0] and prints what it computed
    small: int
    large: int
    needs: str = ""  # an extension the program requires; it runs only where that is linked


@dataclass(frozen=True)
class EndurancePlan:
    programs: tuple[EnduranceProgram, ...]
    memory_growth: int  # bytes the wasm's linear memory may grow by from the small to the large count

    def for_extensions(self, extensions: tuple[str, ...]) -> EndurancePlan:
        return EndurancePlan(tuple(p for p in self.programs if not p.needs or p.needs in extensions),
                             self.memory_growth)


@dataclass(frozen=True)
class ProgramRun:
    stdout: str
    stderr: str
    exit_code: int
    trap: str | None
    memory_bytes: int  # the wasm's linear memory at the end (0 for the native twin)
    seconds: float


def run_program_in_wasm(context: SuiteContext, program: EnduranceProgram, count: int) -> ProgramRun:
    answer = request(str(context.socket), [f"/endurance/{program.path.name}", str(count)],
                     [[str(program.path.parent), "/endurance", False]], {}, ENDURANCE_TIMEOUT)
    return ProgramRun(answer["stdout"].decode(errors="replace"), answer["stderr"].decode(errors="replace"),
                      answer["exit_code"], answer["trap"], answer["memory_bytes"], answer["seconds"])


def run_program_natively(context: SuiteContext, program: EnduranceProgram, count: int) -> ProgramRun:
    started = time.monotonic()
    try:
        done = subprocess.run([str(context.host_ruby), str(program.path), str(count)], capture_output=True,
                              text=True, timeout=ENDURANCE_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return ProgramRun("", "", -1, f"timed out after {ENDURANCE_TIMEOUT:.0f}s", 0, ENDURANCE_TIMEOUT)
    return ProgramRun(done.stdout, done.stderr, done.returncode, None, 0, time.monotonic() - started)


def endurance_problem(program: EnduranceProgram, runs: dict[int, tuple[ProgramRun, ProgramRun]],
                      memory_growth: int) -> str | None:
    """Why the program fails, or None: a trap, output or exit status unlike the native twin's at
    either count, or linear memory that grows with the count beyond the plan's bound."""
    for count, (wasm, native) in runs.items():
        if native.trap or native.exit_code != 0:
            return f"the native twin itself failed at {count}: {native.trap or native.stderr.strip()[-600:]}"
        if wasm.trap:
            return f"ruby.wasm trapped at {count}: {wasm.trap.strip()[:600]}"
        if (wasm.stdout, wasm.exit_code) != (native.stdout, native.exit_code):
            return (f"at {count}, ruby.wasm printed {wasm.stdout.strip()[:300]!r} (exit {wasm.exit_code}, "
                    f"stderr {wasm.stderr.strip()[-300:]!r}); the native twin printed "
                    f"{native.stdout.strip()[:300]!r} (exit {native.exit_code})")
    growth = runs[program.large][0].memory_bytes - runs[program.small][0].memory_bytes
    if growth > memory_growth:
        return (f"linear memory grew by {growth / 2**20:.1f} MiB from {program.small} to {program.large} "
                f"iterations (bound {memory_growth / 2**20:.0f} MiB): it leaks")
    return None


def run_endurance_program(context: SuiteContext, program: EnduranceProgram, memory_growth: int) -> TestResult:
    runs = {count: (run_program_in_wasm(context, program, count), run_program_natively(context, program, count))
            for count in (program.small, program.large)}
    problem = endurance_problem(program, runs, memory_growth)
    (small, _), (large, native) = runs[program.small], runs[program.large]
    metrics = {"iterations": program.large, "seconds": large.seconds, "native_seconds": round(native.seconds, 3),
               "memory_mib": round(large.memory_bytes / 2**20, 1), "small_memory_mib": round(small.memory_bytes / 2**20, 1)}
    return TestResult("endurance", program.path.name, program.path.stem, "failed" if problem else "passed",
                      problem or "", metrics)


def run_endurance(context: SuiteContext, plan: EndurancePlan | None) -> list[TestResult]:
    if plan is None:
        raise UserError("The endurance suite needs an [endurance] table in the verification plan.")
    with ThreadPoolExecutor(context.workers) as pool:
        return list(pool.map(lambda program: run_endurance_program(context, program, plan.memory_growth),
                             plan.programs))


# --- running files until every test has run --------------------------------------------------

RunOnce = Callable[[SuiteContext, str, list[str], int], list[TestResult]]


def only(name: str) -> str:
    """A regexp matching this test's name alone, as the harnesses match names (unquoted)."""
    return "\\A" + re.escape(QUOTED_METHOD.sub(r"#\1", name)) + "\\z"


def run_file(context: SuiteContext, run_once: RunOnce, file: str, excluded: list[str]) -> list[TestResult]:
    """Run one file inside the wasm. A trap ends the whole run, so the test it interrupted is
    recorded and the file runs again without it, until the rest completes."""
    crashed: list[TestResult] = []
    while True:
        results = run_once(context, file, excluded + [only(r.name) for r in crashed], len(crashed))
        victim = interrupted_test(results)
        if victim is None or len(crashed) >= MAX_CRASH_RERUNS:
            return crashed + results
        crashed += [r for r in results if r.name == victim]


def run_files(context: SuiteContext, suite: str, run_once: RunOnce, files: list[str],
              excluded: dict[str, list[str]]) -> list[TestResult]:
    """Run the files, each alone or, when the context batches them, a batch at a time; the
    excluded tests of a batch's files apply to the batch. Progress is said as runs finish."""
    missing = [f for f in files if not (context.source / f).exists()]
    if missing:
        raise UserError(f"Test files not in {context.source}: {', '.join(missing)}. "
                        "Fix the file list in the verification plan.")
    units = context.batches or {file: [file] for file in files}
    unit_excluded = {unit: [p for file in listed for p in excluded.get(file, [])] for unit, listed in units.items()}
    with Progress(suite, len(units), context.expected_tests) as progress, ThreadPoolExecutor(context.workers) as pool:
        def run_unit(unit: str) -> list[TestResult]:
            results = run_file(context, run_once, unit, unit_excluded[unit])
            progress.advance(len(results))
            return results
        return [result for results in pool.map(run_unit, units) for result in results]


def run_suite(context: SuiteContext, suite: str, files: list[str], excluded: dict[str, list[str]],
              endurance: EndurancePlan | None = None) -> SuiteRun:
    """Run one suite; `files` and `excluded` (regexps of test names, by file) are for the suites
    that run test files (test-all, minitest), `endurance` for the endurance suite."""
    started = time.monotonic()
    if suite == "basictest":
        results = run_basictest(context)
    elif suite == "bootstraptest":
        results = run_bootstraptest(context)
    elif suite == "test-all":
        results = run_files(context, suite, run_test_all_once, files, excluded)
    elif suite == "ruby-spec":
        results = run_files(context, suite, run_mspec_once, files, excluded)
    elif suite == "minitest":
        results = run_files(context, suite, run_minitest_once, files, excluded)
    elif suite == "endurance":
        results = run_endurance(context, endurance)
    else:
        raise UserError(f"Unknown suite '{suite}'. Suites: {', '.join(SUITES)}.")
    return SuiteRun(suite, results, time.monotonic() - started)
