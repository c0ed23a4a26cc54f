"""Proposes known-failure entries for the unexpected failures of the last verification run.

    python -m toolchain.verify.triage [--ruby 3.3] [--profile full | --artifact ruby-3.3-nokogiri] > proposals.toml

Each failure is classified by what its message or source shows (a child process, a thread,
a Ractor...). Entries it cannot classify get reason "bug" and a why starting with REVIEW:
they must be investigated before they are added to the plan. Nothing is written for you.
"""
from __future__ import annotations

import argparse
import json
import re
import sys

from ..run.runner import DEFAULT_PROFILE
from .verification import verification_dir

# (pattern over message, reason category, why) — first match wins.
RULES = [
    (r"Ractor", "ractor", "Ractors need native threads, which CRuby on wasm32-wasi does not have."),
    (r"Thread|initialize\(\) function is unimplemented|start\(\) function is unimplemented|"
     r"undefined method `join' for nil", "thread", "Creates a Thread; CRuby on wasm32-wasi has no threads."),
    (r"\bfork\b", "process/spawn", "fork() is not available under WASI."),
    (r"invoke_ruby|assert_separately|assert_in_out_err|^Errno::ENOTSUP: Not supported$", "process/spawn",
     "Runs a child Ruby (assert_separately / EnvUtil.invoke_ruby); WASI cannot start processes (Errno::ENOTSUP)."),
    (r"in ``'", "process/spawn", "Runs a shell command with backticks; WASI cannot start processes."),
    (r"in `pipe'", "wasm-limit", "IO.pipe needs pipe(), which WASI does not provide (Errno::ENOTSUP)."),
    (r"Process\.kill|Signal|trap\(", "signal", "Sends or traps a signal; WASI has no signals."),
    (r"Socket|socket", "socket", "Uses sockets, which WASI preview 1 does not offer."),
    (r"\breopen\b", "io-reopen", "IO#reopen needs dup2, which WASI does not support."),
    (r"\.dup\b|fileno", "wasm-limit", "Duplicating file descriptors (dup) is not supported by WASI."),
    (r"memory_status|undefined method `split' for nil", "wasm-limit",
     "The memory-leak check reads the process's memory status from /proc, which WASI does not provide."),
    (r"compact", "wasm-limit", "GC compaction is not implemented for wasm32-wasi."),
    (r"/dev/null", "wasm-limit", "There is no /dev/null inside the WASI sandbox."),
]


def classify(message: str) -> tuple[str, str]:
    for pattern, reason, why in RULES:
        if re.search(pattern, message, re.M):
            return reason, why
    first = (message.strip().splitlines() or ["(no message)"])[0][:150]
    return "bug", f"REVIEW: {first}"


def toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def proposals(summary: dict) -> str:
    entries = []
    for suite in summary["suites"]:
        for test in suite["unexpected_tests"]:
            reason, why = classify(test["message"])
            entries.append("\n".join([
                "[[known_failure]]", f"suite = {toml_string(suite['suite'])}",
                f"file = {toml_string(test['file'])}", f"test = {toml_string(test['test'])}",
                f"reason = {toml_string(reason)}", f"why = {toml_string(why)}", ""]))
    return "\n".join(entries)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ruby", default="3.3")
    parser.add_argument("--profile", default=DEFAULT_PROFILE)
    parser.add_argument("--artifact", help="an artifact's name (e.g. ruby-3.3-nokogiri), instead of --ruby/--profile")
    options = parser.parse_args()
    name = options.artifact or f"ruby-{options.ruby}-{options.profile}"
    summary_path = verification_dir(name) / "summary.json"
    if not summary_path.exists():
        print(f"error: no verification summary at {summary_path}; run `doit verify` (or verify_ext:<gem>) "
              "first.", file=sys.stderr)
        return 2
    sys.stdout.write(proposals(json.loads(summary_path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
