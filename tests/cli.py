"""The project's own commands as end-to-end tests run them: doit tasks and the runner CLI."""
from __future__ import annotations

import subprocess
import sys

from toolchain.paths import PROJECT_ROOT
from toolchain.run import Artifact


def doit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "doit", *args], cwd=PROJECT_ROOT, capture_output=True, text=True)


def run_cli(artifact: Artifact, script: str) -> subprocess.CompletedProcess:
    """`python -m toolchain.run --artifact DIR -e SCRIPT`, as a user would type it."""
    return subprocess.run([sys.executable, "-m", "toolchain.run", "--artifact", str(artifact.directory),
                           "-e", script], capture_output=True, text=True)


def assert_task_printed_wasm(result: subprocess.CompletedProcess, task: str, artifact: Artifact) -> None:
    """A build task that did work ends by printing the artifact's wasm; either way the wasm is there."""
    lines = (result.stdout + result.stderr).strip().splitlines()
    if f"-- {task}" not in lines[0]:
        assert lines[-1] == f"ruby.wasm: {artifact.wasm}"
    assert artifact.wasm.read_bytes()[:4] == b"\0asm"
