"""Deeply nested data through CRuby's C recursions (inspect, ==, hash, join, Marshal, JSON, YAML,
eval, blocks, callcc) on the real artifact, in a box and under Node, against the native twin:
each case ends as on the twin, with its result, or in a SystemStackError the program rescues,
never in a trap (which would end the process before the case's line)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_box import AS_RUBY, NODE_RUNNER

from toolchain.run.runner import Mount, RubyWasm

pytestmark = pytest.mark.e2e
PROGRAM = Path(__file__).parent / "programs" / "deep_structures.rb"
DEPTHS = ("1000", "10000", "200000")


def outcomes(output: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)


@pytest.fixture(scope="module")
def twin_outcomes(twin) -> dict[str, str]:
    result = subprocess.run([str(twin), str(PROGRAM), *DEPTHS], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return outcomes(result.stdout)


def assert_as_on_the_twin(output: str, twin: dict[str, str]) -> None:
    wasm = outcomes(output)
    assert list(wasm) == list(twin), f"cases after {list(wasm)[-1:]} did not run: a trap\n{output[-2000:]}"
    for case, expected in twin.items():
        assert wasm[case] == expected or "SystemStackError" in (wasm[case], expected), (case, wasm[case], expected)


def test_deep_data_raises_or_completes_as_on_the_twin(artifact, twin_outcomes):
    result = RubyWasm(artifact).capture(["/programs/deep_structures.rb", *DEPTHS], timeout=900,
                                         mounts=[Mount(PROGRAM.parent, "/programs", False)])
    assert not result.trap, result.trap
    assert_as_on_the_twin(result.stdout, twin_outcomes)


def test_deep_data_in_a_box_under_the_runner_and_under_node(box, twin_outcomes):
    script = ["-e", PROGRAM.read_text(), "--", *DEPTHS]
    runner = RubyWasm(box).capture(script, env=AS_RUBY, timeout=900)
    assert not runner.trap, runner.trap
    assert_as_on_the_twin(runner.stdout, twin_outcomes)
    node = subprocess.run(["node", str(NODE_RUNNER), "--env", "RUBY_BOX_NO_ENTRY=1", str(box.wasm), *script],
                          capture_output=True, text=True, timeout=900)
    assert_as_on_the_twin(node.stdout, twin_outcomes)
