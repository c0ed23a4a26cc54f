"""Proposes plan entries for the unlisted failures of the last verification run's suites.

    python -m toolchain.verify.triage [--ruby 3.3] [--profile full | --artifact ruby-3.3-nokogiri] > proposals.toml

Each failure is classified by what its message or source shows (a child process, a thread,
a Ractor...). A file that does not load, or where most of many tests fail, is proposed as a
[[not_run]] entry under its commonest reason; other failures as [[known_failure]] entries.
Entries it cannot classify get reason "bug" and a why that says it is not diagnosed yet and
quotes the failure. Nothing is written for you.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter

from ..run.runner import DEFAULT_PROFILE
from .known_failures import load_plan
from .suites import TestResult
from .verification import verification_dir

NOT_RUN_SHARE = 0.5
NOT_RUN_MIN_FAILURES = 10

# A failure no rule explains: a bug until someone diagnoses it (every proposal is reviewed first).
UNDIAGNOSED = "Not diagnosed yet; it fails with:"
# (pattern over message, reason category, why) — first match wins.
RULES = [
    (r"^test/-ext-/|cannot load such file -- -test-/", "omitted",
     "Needs a C extension from ext/-test-, which only CRuby's own test build compiles; no artifact links it."),
    (r"cannot load such file -- io/console|Could not find 'io-console'", "omitted",
     "Needs io/console, which the minimal profile does not build (default and full do)."),
    (r"cannot load such file -- fiddle", "omitted", "Needs fiddle, which no profile builds: libffi has no WASI port."),
    (r"(?i)ractor", "ractor", "Ractors need native threads, which CRuby on wasm32-wasi does not have."),
    (r"Thread|initialize\(\) function is unimplemented|start\(\) function is unimplemented|"
     r"undefined method `join' for nil", "thread", "Creates a Thread; CRuby on wasm32-wasi has no threads."),
    (r"\bfork\b|daemon", "fork", "fork() (and Process.daemon, which forks) is not available under WASI."),
    (r"mkmf", "shell", "mkmf runs a C compiler as a child process, which WASI cannot start; the artifact ships no C headers."),
    (r"Gem::Ext::BuildError|Gem::InstallError: \w+ failed|cargo", "shell",
     "Builds a gem's native extension by running ruby, make, rake or cargo through Open3's pipes; WASI cannot."),
    (r"Process\.kill|Signal|trap\(|in `kill'", "signal", "Sends or traps a signal; WASI has no signals."),
    (r"Socket|socket|TCPServer|WEBrick", "socket", "Uses sockets, which WASI preview 1 does not offer."),
    (r"in `wait(all|pid|2)?'|Process\.wait", "process/spawn",
     "Waits for child processes (Process.wait*); the bridge runs children to completion, and WASI has no wait."),
    (r"invoke_ruby with a block", "process/spawn",
     "Talks to a child Ruby while it runs (invoke_ruby with a block or extra descriptors); the bridge has no pipes."),
    (r"in `(system|spawn|popen|``|exec|capture[23e]*|popen[23e]*)'|string contains null byte", "shell",
     "Runs a command through system, spawn, IO.popen, Open3 or backticks, which WASI cannot start; the bridge "
     "serves child Rubies asked for through EnvUtil.invoke_ruby and ruby_exe only."),
    (r"in `pipe'|with_pipe", "wasm-limit", "IO.pipe needs pipe(), which WASI does not provide (Errno::ENOTSUP)."),
    (r"in `(chmod|chown|lchmod|lchown|fchmod)'|apply2files|world-readable", "wasm-limit",
     "Changes a file's mode or owner; WASI preview 1 has neither (Errno::ENOTSUP)."),
    (r"symlink|readlink|in `link'", "wasm-limit",
     "Makes a link; WASI refuses symlinks with absolute targets and hard links (Errno::EPERM)."),
    (r"flock", "wasm-limit", "File#flock: WASI has no file locks (Errno::EINVAL)."),
    (r"groups\(\) function|getpw|getgr|getlogin|Etc\.", "wasm-limit", "Reads users or groups, which WASI has none of."),
    (r"\breopen\b", "io-reopen", "IO#reopen needs dup2, which WASI does not support."),
    (r"\.dup\b|fileno|in `(dup|dup2|for_fd)'", "wasm-limit", "Duplicating file descriptors (dup) is not supported by WASI."),
    (r"memory_status|undefined method `split' for nil|find_executable", "wasm-limit",
     "Reads the process's memory status from /proc (or looks for executables on PATH), which WASI does not provide."),
    (r"compact", "wasm-limit", "GC compaction is not implemented for wasm32-wasi."),
    (r"pipe_open", "shell", "Opens a pipe to a shell command (IO.popen, open(\"|cmd\")); WASI cannot start it."),
    (r"mkfifo", "wasm-limit", "Makes a FIFO, which WASI preview 1 cannot."),
    (r"find HOME|HOME environment", "wasm-limit", "Expands ~ without HOME, which the sandbox does not set."),
    (r"getpgid|getpriority|setpriority|PRIO_|getsid|setsid|egid|euid|dev_major|dev_minor", "wasm-limit",
     "Reads process or device attributes (groups, priorities, device numbers) that WASI does not model."),
    (r"File::EXCL|@ rb_sysopen - .*\n|Errno::EEXIST", "wasm-limit",
     "Opens a file with flags (O_EXCL, O_CREAT with a mode) that WASI's open refuses (Errno::EINVAL)."),
    (r"/dev/|/etc/", "wasm-limit", "Opens a file under /dev or /etc, which the WASI sandbox does not have."),
    (r"(?i)rlimit", "wasm-limit", "Resource limits (getrlimit/setrlimit) do not exist under WASI."),
    (r"read_nonblock|nonblock", "wasm-limit", "Non-blocking reads set O_NONBLOCK, which WASI refuses on stdin and files (Errno::EBADF)."),
    (r"umask|executable|grpowned|owned\?|readable\?|writable\?|world_|sticky|setuid|setgid", "wasm-limit",
     "Checks file permissions, owners or modes, which WASI preview 1 does not model (every file reads as the sandbox's)."),
]


def classify(message: str, file: str = "") -> tuple[str, str]:
    """The reason category and why, from the failure's message (and backtrace) or its file."""
    for pattern, reason, why in RULES:
        if re.search(pattern, f"{file}\n{message}", re.M):
            return reason, why
    first = (message.strip().splitlines() or ["(no message)"])[0][:150]
    return "bug", f"{UNDIAGNOSED} {first}"


def toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def toml_entry(table: str, fields: dict[str, str]) -> str:
    return "\n".join([f"[[{table}]]", *(f"{name} = {toml_string(value)}" for name, value in fields.items()), ""])


def is_hopeless(results: list[TestResult], failing: list[TestResult]) -> bool:
    """A file that does not load, or where most tests fail, is proposed whole as not run."""
    return any(r.name == "(load)" for r in failing) or (
        len(failing) >= NOT_RUN_MIN_FAILURES and len(failing) >= NOT_RUN_SHARE * len(results))


def widest_directory(file: str, reason: str, hopeless: dict[str, tuple[str, str]], files: set[str]) -> str:
    """The widest directory above `file` (below the suite's own root) all of whose files are
    hopeless for the same reason, or the file itself."""
    parts = file.split("/")
    lowest = 2 if file.startswith("test/") else 3  # test/<lib>, spec/ruby/<part>
    chosen = file
    for depth in range(len(parts) - 1, lowest - 1, -1):
        directory = "/".join(parts[:depth])
        if any(f.startswith(directory + "/") and hopeless.get(f, ("",))[0] != reason for f in files):
            break
        chosen = directory
    return chosen


def proposals(results: list[TestResult], known: set[tuple[str, str, str]]) -> str:
    """[[not_run]] entries for hopeless files (under their commonest reason; a directory whose
    files are all hopeless for one reason is one entry), [[known_failure]] entries for the other
    unlisted failures."""
    by_file: dict[tuple[str, str], list[TestResult]] = {}
    for result in results:
        by_file.setdefault((result.suite, result.file), []).append(result)
    hopeless: dict[str, dict[str, tuple[str, str]]] = {}
    entries = []
    for (suite, file), file_results in by_file.items():
        failing = [r for r in file_results if r.failed and (r.suite, r.file, r.name) not in known]
        if failing and is_hopeless(file_results, failing):
            (reason, why), _ = Counter(classify(r.message, r.file) for r in failing).most_common(1)[0]
            hopeless.setdefault(suite, {})[file] = (reason, why)
            continue
        for result in failing:
            reason, why = classify(result.message, result.file)
            entries.append(toml_entry("known_failure", {"suite": suite, "file": file, "test": result.name,
                                                        "reason": reason, "why": why}))
    not_run: dict[tuple[str, str], tuple[str, str]] = {}
    for suite, files in hopeless.items():
        ran = {file for s, file in by_file if s == suite}
        for file, (reason, why) in files.items():
            not_run.setdefault((suite, widest_directory(file, reason, files, ran)), (reason, why))
    not_run = {(suite, path): entry for (suite, path), entry in not_run.items()  # the widest entry covers the rest
               if not any(s == suite and path.startswith(other + "/") for s, other in not_run)}
    return "\n".join([toml_entry("not_run", {"suite": suite, "file": file, "reason": reason, "why": why})
                      for (suite, file), (reason, why) in sorted(not_run.items())] + entries)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ruby", default="3.3")
    parser.add_argument("--profile", default=DEFAULT_PROFILE)
    parser.add_argument("--artifact", help="an artifact's name (e.g. ruby-3.3-nokogiri), instead of --ruby/--profile")
    parser.add_argument("--plan", help="the verification plan whose entries are already listed (default: the series')")
    options = parser.parse_args()
    name = options.artifact or f"ruby-{options.ruby}-{options.profile}"
    stored = sorted((verification_dir(name) / "suites").glob("*.json"))
    if not stored:
        print(f"error: no suite results in {verification_dir(name) / 'suites'}; run `doit verify` (or "
              "verify_ext:<gem>) first.", file=sys.stderr)
        return 2
    plan = load_plan(options.plan or f"ruby-{options.ruby}")
    results = [TestResult(**r) for path in stored for r in json.loads(path.read_text())["results"]]
    sys.stdout.write(proposals(results, set(plan.known)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
