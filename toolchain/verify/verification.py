"""Verification: the smoke checks every artifact passes before it is published, and Ruby's own
test suites judged against the series' known failures."""
from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import UserError
from ..digests import sha256_file
from ..paths import RUBY_SUPPORT, cache_dir
from ..run.runner import BOX_NO_ENTRY, ENGINE_SETTINGS, WASMTIME_VERSION, Artifact, Mount, RubyWasm
from ..run.workers import worker_pool
from ..steps import say, step, write_atomic
from .known_failures import Plan, Verdict, judge
from .reports import table, write_reports
from .suites import FILE_SUITES, SuiteContext, SuiteRun, TestResult, batches, run_suite

SMOKE_SCRIPT = RUBY_SUPPORT / "smoke.rb"
# The host side of the harness: how a suite's runs are started, granted, bridged and parsed. A
# suite's kept results depend on these as on the Ruby side (RUBY_SUPPORT), or a change to them
# would be hidden by results kept from before it.
HOST_HARNESS = tuple(Path(__file__).parent.parent / module for module in (
    "verify/suites.py", "run/runner.py", "run/bridge.py", "run/workers.py", "run/launcher.py"))
SMOKE_TIMEOUT = 300


@dataclass(frozen=True)
class SmokeReport:
    passed: list[str]
    failed: list[str]
    ruby_version: str
    exit_code: int

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.failed and bool(self.passed)


def parse_smoke_output(stdout: str, exit_code: int) -> SmokeReport:
    passed = [line[3:] for line in stdout.splitlines() if line.startswith("ok ")]
    failed = [line[5:] for line in stdout.splitlines() if line.startswith("FAIL ")]
    version = next((line.split("=", 1)[1] for line in stdout.splitlines()
                    if line.startswith("RUBY_VERSION=")), "")
    return SmokeReport(passed, failed, version, exit_code)


def smoke(artifact: Artifact, features: list[str], scripts: list[Path], report_path: Path) -> SmokeReport:
    """Run the smoke checks inside the artifact's ruby.wasm and write a JSON report. `scripts`
    are further checks (a gem's), each loaded after the base checks with their `check` helper."""
    # Each at a top-level name: Ruby resolves real paths component by component, and a directory
    # granted at /a/b leaves /a itself unresolvable.
    mounts = [Mount(script.parent, f"/smoke{index}", writable=False) for index, script in enumerate(scripts)]
    loads = [f"/smoke{index}/{script.name}" for index, script in enumerate(scripts)]
    with step(f"smoke checks ({len(features)} prelinked features{', ' + str(len(scripts)) + ' scripts' if scripts else ''})"):
        # An app box runs its entry unless RUBY_BOX_NO_ENTRY is set; the checks are its ruby's.
        result = RubyWasm(artifact).capture(["-e", SMOKE_SCRIPT.read_text(), "--", *features, "--load", *loads],
                                            mounts=mounts, timeout=SMOKE_TIMEOUT, env={BOX_NO_ENTRY: "1"})
    report = parse_smoke_output(result.stdout, result.exit_code)
    write_atomic(report_path, json.dumps({**report.__dict__, "ok": report.ok,
                                          "trap": result.trap, "stderr": result.stderr[-4000:]},
                                         indent=2).encode())
    if not report.ok:
        raise UserError(
            f"Smoke checks failed for {artifact.directory.name}: "
            f"{'; '.join(report.failed) or result.trap or 'exit code ' + str(result.exit_code)}. "
            f"stderr: {result.stderr.strip()[-1500:]}  Report: {report_path}"
        )
    return report


# --- test suites: Ruby's own, and a gem's ------------------------------------------------------

@dataclass(frozen=True)
class Verification:
    """What verifying one artifact needs: the plan, the tree its test files come from, and what
    runs them."""
    artifact: Artifact
    plan: Plan
    source: Path  # Ruby's source tree, or the gem's
    host_ruby: Path  # drives bootstraptest
    extensions: tuple[str, ...]  # the linked extensions, which select by_extension test files
    test_libs: tuple[Path, ...] = ()  # on every test file's load path (a gem's test framework)
    key_parts: tuple[str, ...] = ()  # further inputs the result depends on (the test libraries' keys)

    @property
    def directory(self) -> Path:
        return verification_dir(self.artifact.directory.name)

    def suite_key(self, suite: str) -> str:
        """Everything a suite's results depend on: the artifact (its wasm and its tree), the engine
        that runs it, the harness (its Ruby and its host side), and what the plan runs (the suite's
        files, the tests excluded, the endurance programs), but not the known failures, which only
        judge the results."""
        outputs = json.loads(self.artifact.manifest.read_text())["outputs"]
        digest = hashlib.sha256(f"wasmtime {WASMTIME_VERSION} {ENGINE_SETTINGS}\n{suite}\n".encode())
        digest.update(json.dumps(outputs, sort_keys=True).encode())
        endurance = self.plan.endurance.programs if self.plan.endurance else ()
        for path in [*sorted(RUBY_SUPPORT.glob("*.rb")), *HOST_HARNESS, *(p.path for p in endurance)]:
            digest.update(path.name.encode() + b"\0" + sha256_file(path).encode())
        digest.update(json.dumps({
            "files": self.plan.selection(self.extensions, self.source, suite) if suite in FILE_SUITES else [],
            "excluded": self.plan.excluded,
            "load_path": self.plan.load_path if suite == "minitest" else [], "endurance": [[p.small, p.large, p.needs] for p in endurance],
            "memory_growth": self.plan.endurance.memory_growth if self.plan.endurance else 0,
            "inputs": self.key_parts}, sort_keys=True).encode())
        return digest.hexdigest()

    def key(self, suites: list[str], strict: bool) -> str:
        """What a report over these suites depends on: their results, and the plan that judges them."""
        digest = hashlib.sha256(json.dumps([self.suite_key(suite) for suite in suites]).encode())
        digest.update(json.dumps({"known": sorted((*k.key, k.reason) for k in self.plan.known.values()),
                                  "not_run": sorted((e.suite, e.file, e.reason) for e in self.plan.not_run),
                                  "strict": strict}).encode())
        return digest.hexdigest()


def verification_dir(name: str) -> Path:
    """Where the reports of the artifact with this name go."""
    return cache_dir("verification") / name


def is_verified(verification: Verification, suites: list[str], strict: bool) -> bool:
    summary_path = verification.directory / "summary.json"
    if not summary_path.exists() or not verification.artifact.manifest.exists():
        return False
    summary = json.loads(summary_path.read_text())
    return summary.get("ok") is True and summary.get("key") == verification.key(suites, strict)


def _describe(results: list[TestResult], limit: int = 20) -> str:
    lines = [f"  {r.suite} {r.file} {r.name}: {r.outcome}: {(r.message.strip().splitlines() or [''])[0][:160]}"
             for r in results[:limit]]
    more = f"\n  ... and {len(results) - limit} more" if len(results) > limit else ""
    return "\n".join(lines) + more


# --- one suite: run once per key, its results kept for every report that selects it ---------------

def suite_logs(directory: Path, suite: str) -> Path:
    """Where a suite's run on an artifact leaves its logs and scratch files."""
    return directory / "work" / suite


def results_path(artifact_name: str, suite: str) -> Path:
    """Where a suite's results on the artifact with this name are kept."""
    return verification_dir(artifact_name) / "suites" / f"{suite}.json"


def stored_run(verification: Verification, suite: str) -> SuiteRun | None:
    """The suite's results on this artifact, if they were made with today's inputs (its key)."""
    path = results_path(verification.artifact.directory.name, suite)
    if not path.exists() or not verification.artifact.manifest.exists():
        return None
    stored = json.loads(path.read_text())
    if stored["key"] != verification.suite_key(suite):
        return None
    return SuiteRun(suite, [TestResult(**result) for result in stored["results"]], stored["seconds"])


def last_count(verification: Verification, suite: str) -> int | None:
    """How many tests the suite ran the last time it ran on this artifact (whatever its key then)."""
    path = results_path(verification.artifact.directory.name, suite)
    with contextlib.suppress(OSError, ValueError, KeyError):
        return len(json.loads(path.read_text())["results"]) or None
    return None


def suite_run(verification: Verification, suite: str, workers: int) -> SuiteRun:
    """The suite's results: stored ones, or a run in a pool of its own, stored for the next report."""
    run = stored_run(verification, suite)
    if run is not None:
        return run
    plan, work = verification.plan, suite_logs(verification.directory, suite)
    shutil.rmtree(work, ignore_errors=True)  # the logs beside the results are this run's alone
    work.mkdir(parents=True)
    files = plan.selection(verification.extensions, verification.source, suite)
    endurance = plan.endurance.for_extensions(verification.extensions) if plan.endurance else None
    key = verification.suite_key(suite)  # of the artifact as the run starts
    with worker_pool(verification.artifact, workers) as socket:
        context = SuiteContext(socket, verification.source, verification.host_ruby, work, workers,
                               verification.test_libs, tuple(plan.load_path), batches(suite, files),
                               last_count(verification, suite))
        with step(f"{suite} ({workers} workers)"):
            run = run_suite(context, suite, files, plan.excluded, endurance)
    if verification.suite_key(suite) != key:
        raise UserError(f"{verification.artifact.directory.name} was published anew while {suite} ran against it, "
                        f"so its results mix two artifacts and are not kept. Run the suite again (logs: {work}).")
    stored = {"key": key, "seconds": run.seconds, "results": [asdict(result) for result in run.results]}
    write_atomic(results_path(verification.artifact.directory.name, suite), json.dumps(stored).encode())
    return run


def judged(verification: Verification, run: SuiteRun) -> Verdict:
    verdict = judge(run.results, verification.plan)
    say(f"    {run.suite}: {len(run.results)} run, {len(verdict.unexpected)} unexpected, "
        f"{len(verdict.known)} known failures, {len(verdict.fixed)} fixed")
    return verdict


def suite_is_verified(verification: Verification, suite: str) -> bool:
    run = stored_run(verification, suite)
    return run is not None and judge(run.results, verification.plan).ok(strict=False)


def verify_suite(verification: Verification, suite: str, workers: int) -> None:
    """One suite's stage: its results for the current key, and no unexpected failure among them."""
    verdict = judged(verification, suite_run(verification, suite, workers))
    if not verdict.ok(strict=False):
        raise _failed(verification, verdict.unexpected, [], strict=False)


# --- the report over the selected suites ---------------------------------------------------------

def _failed(verification: Verification, unexpected: list[TestResult], fixed: list[TestResult],
            strict: bool) -> UserError:
    out, plan = verification.directory, verification.plan
    problem = f"{len(unexpected)} unexpected failures" + (f" and {len(fixed)} fixed tests (strict)" if strict and fixed else "")
    return UserError(f"Verification of {verification.artifact.directory.name} found {problem}:\n{_describe(unexpected)}\n"
                     f"Reports: {out} (JUnit XML, summary.json; logs in {out / 'work'}/<suite>). Fix the build, or list "
                     f"a failure that WASI cannot support in {plan.path} with its reason.")


def verify_suites(verification: Verification, suites: list[str], strict: bool, workers: int) -> dict:
    """The selected suites' results (each run unless stored for the current key), judged and
    written as one report."""
    artifact, plan, out = verification.artifact, verification.plan, verification.directory
    runs = [(run, judged(verification, run)) for run in (suite_run(verification, s, workers) for s in suites)]
    ok = all(verdict.ok(strict) for _, verdict in runs)
    header = {"artifact": str(artifact.directory), "wasm_sha256": sha256_file(artifact.wasm),
              "key": verification.key(suites, strict), "strict": strict, "ok": ok,
              "plan": str(plan.path), "logs": str(out / "work")}
    summary = write_reports(out, runs, plan, header)
    say(table(summary))
    unexpected = [r for _, v in runs for r in v.unexpected]
    fixed = [r for _, v in runs for r in v.fixed]
    if fixed:
        say(f"fixed (listed as known failures, now passing; remove them from {plan.path}):\n{_describe(fixed)}")
    if not ok:
        raise _failed(verification, unexpected, fixed, strict)
    say(f"verification report: {out / 'summary.json'}")
    return summary
