"""Verification output: JUnit XML per suite, a JSON summary, and a table for the terminal."""
from __future__ import annotations

import json
import re
from collections import Counter
import xml.etree.ElementTree as ET
from pathlib import Path

from ..steps import write_atomic
from .known_failures import CATEGORIES, Plan, Verdict
from .suites import SuiteRun

MESSAGE_LIMIT = 4000
NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # characters XML 1.0 cannot carry


def xml_text(text: str) -> str:
    """Test output may hold control characters (a test's own bytes, the harness's markers): shown
    as \\xNN (\\uNNNN), so that every JUnit reader can parse the report."""
    return NOT_IN_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


def junit_xml(run: SuiteRun, verdict: Verdict, plan: Plan) -> bytes:
    """Known failures appear as skipped (with their reason), so only unexpected ones are red."""
    suite = ET.Element("testsuite", name=run.suite, tests=str(len(run.results)),
                       failures=str(len(verdict.unexpected)), errors="0",
                       skipped=str(len(verdict.known) + len(verdict.skipped)), time=f"{run.seconds:.2f}")
    for result in run.results:
        case = ET.SubElement(suite, "testcase", classname=xml_text(result.file), name=xml_text(result.name),
                             **({"time": f"{result.metrics['seconds']:.2f}"} if "seconds" in result.metrics else {}))
        message = xml_text(result.message[:MESSAGE_LIMIT])
        known = plan.known.get((result.suite, result.file, result.name))
        if result.failed and known:
            ET.SubElement(case, "skipped", message=f"known failure ({known.reason}): {known.why}").text = message
        elif result.failed:
            ET.SubElement(case, "failure", message=result.outcome).text = message
        elif result.outcome == "skipped":
            ET.SubElement(case, "skipped", message=message[:200])
        elif known:
            ET.SubElement(case, "system-out").text = "listed as a known failure but passed (fixed)"
        if result.metrics:
            ET.SubElement(case, "properties").extend(
                ET.Element("property", name=name, value=str(value)) for name, value in result.metrics.items())
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def known_by_reason(verdict: Verdict, plan: Plan) -> dict[str, int]:
    """How many of the suite's known failures fall in each reason category, largest first."""
    counts = Counter(plan.known[(r.suite, r.file, r.name)].reason for r in verdict.known)
    return dict(counts.most_common())


def suite_summary(run: SuiteRun, verdict: Verdict, plan: Plan) -> dict:
    def names(results):
        return [{"file": r.file, "test": r.name, "outcome": r.outcome, "message": r.message[:MESSAGE_LIMIT]}
                for r in results]
    not_run = Counter(entry.reason for entry in plan.not_run if entry.suite == run.suite)
    return {
        "suite": run.suite, "run": len(run.results), "passed": len(verdict.passed),
        "known_failures": len(verdict.known), "known_by_reason": known_by_reason(verdict, plan),
        "not_run_files_by_reason": dict(not_run.most_common()), "unexpected": len(verdict.unexpected),
        "fixed": len(verdict.fixed), "skipped": len(verdict.skipped), "seconds": round(run.seconds, 1),
        "unexpected_tests": names(verdict.unexpected), "fixed_tests": names(verdict.fixed),
        "measured": [{"test": r.name, "outcome": r.outcome, **r.metrics} for r in run.results if r.metrics],
    }


def write_reports(directory: Path, runs: list[tuple[SuiteRun, Verdict]], plan: Plan, header: dict) -> dict:
    for run, verdict in runs:
        write_atomic(directory / f"junit-{run.suite}.xml", junit_xml(run, verdict, plan))
    summary = {**header, "suites": [suite_summary(run, verdict, plan) for run, verdict in runs]}
    write_atomic(directory / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    return summary


def table(summary: dict) -> str:
    """One row per suite; then the known failures by reason category, a column per category
    (and the files the plan does not run, by reason); then one row per measured test (the
    endurance programs' time and memory)."""
    columns = ("suite", "run", "passed", "known_failures", "unexpected", "fixed", "skipped", "seconds")
    titles = ("suite", "run", "passed", "known failures", "unexpected", "fixed", "skipped", "time (s)")
    suites = _aligned([titles] + [tuple(str(s[c]) for c in columns) for s in summary["suites"]])
    reasons = [r for r in CATEGORIES if any(r in s.get("known_by_reason", {}) for s in summary["suites"])]
    if reasons:
        rows = [(s["suite"], *(str(s["known_by_reason"].get(r, "")) for r in reasons),
                 ", ".join(f"{r} {n}" for r, n in s.get("not_run_files_by_reason", {}).items()))
                for s in summary["suites"] if s.get("known_by_reason") or s.get("not_run_files_by_reason")]
        suites += "\n\nknown failures by reason\n" + _aligned([("suite", *reasons, "files not run, by reason"), *rows])
    measured = [m for s in summary["suites"] for m in s.get("measured", [])]
    if not measured:
        return suites
    columns = ("test", "outcome", "iterations", "seconds", "native_seconds", "small_memory_mib", "memory_mib")
    titles = ("program", "outcome", "iterations", "time (s)", "native (s)", "memory at small (MiB)",
              "memory at iterations (MiB)")
    return suites + "\n\n" + _aligned([titles] + [tuple(str(m.get(c, "")) for c in columns) for m in measured])


def _aligned(rows: list[tuple[str, ...]]) -> str:
    """Columns padded to their widest cell, the first left-aligned, a rule under the titles."""
    columns = rows[0]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                       for i, (cell, width) in enumerate(zip(row, widths, strict=True))) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
