"""Verification: the smoke checks every artifact must pass before it is published."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError
from .run import Artifact, RubyWasm
from .steps import step, write_atomic

SMOKE_SCRIPT = Path(__file__).with_name("ruby") / "smoke.rb"
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


def smoke(artifact: Artifact, features: list[str], report_path: Path) -> SmokeReport:
    """Run the smoke checks inside the artifact's ruby.wasm and write a JSON report."""
    with step(f"smoke checks ({len(features)} prelinked features)"):
        result = RubyWasm(artifact).capture(["-e", SMOKE_SCRIPT.read_text(), "--", *features],
                                            timeout=SMOKE_TIMEOUT)
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
