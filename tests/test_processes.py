"""Many processes on one cache, and build commands that die with the process that started them:
real processes, real apt, real make of the zlib recipe."""
from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cli import Background, doit

from toolchain.inputs import recipe
from toolchain.paths import BUILD_ROOT_ENV
from toolchain.steps import run_guarded

FETCH = """
import sys
from toolchain.inputs import fetch
from toolchain.inputs.recipe import Source
print(fetch.fetch_source(Source(sha256=sys.argv[1], url=sys.argv[2])))
"""
FETCH_DEBIAN_SOURCE = """
import sys
from toolchain.inputs import fetch, recipe
print(fetch.fetch_source(next(s for s in recipe.load(sys.argv[1]).sources if s.debian)))
"""
BUILD_ZLIB = """
from toolchain.compile import libraries
from toolchain.inputs import providers
print(libraries.build_library(libraries.plan_library("zlib", providers.resolve("auto", quiet=True))))
"""


def stopped_while(first: Background, second_code: str, *args: str, waits_for: str,
                  env: dict[str, str] | None = None) -> Background:
    """Start a second process while the first is stopped (SIGSTOP) holding a lock, see the second
    say that it waits for the first, then let the first go on."""
    os.kill(first.pid, signal.SIGSTOP)
    try:
        second = Background(second_code, *args, env=env)
        assert second.wait_for(f"waiting for {waits_for}").rstrip().endswith(f"(pid {first.pid})")
    finally:
        os.kill(first.pid, signal.SIGCONT)
    return second


def test_two_concurrent_fetches_of_one_file_download_it_once(private_cache, file_server):
    payload = os.urandom(2_000_000)
    digest = hashlib.sha256(payload).hexdigest()
    file_server.files["thing-1.0.tar.gz"] = payload
    file_server.held_back["thing-1.0.tar.gz"] = answer = threading.Event()
    url = file_server.url("thing-1.0.tar.gz")
    first = Background(FETCH, digest, url)
    first.wait_for("fetching thing-1.0.tar.gz")
    second = Background(FETCH, digest, url)
    assert second.wait_for("waiting for another download of thing-1.0.tar.gz").rstrip().endswith(
        f"(pid {first.pid})")
    answer.set()
    assert (first.finish(), second.finish()) == (0, 0), first.output + second.output
    stored = private_cache / "store" / digest / "thing-1.0.tar.gz"
    assert first.lines[-1].strip() == second.lines[-1].strip() == str(stored)
    assert stored.read_bytes() == payload
    assert [name for name, _ in file_server.requests] == ["thing-1.0.tar.gz"]  # one download


def test_two_runs_on_an_empty_cache_share_the_private_apt_state(private_cache):
    """Two runs that need Debian sources of one suite: once both ran apt-get update into the same
    state and one failed. Now one updates, the other waits and uses the same lists."""
    first = Background(FETCH_DEBIAN_SOURCE, "zlib")
    first.wait_for("updating apt's lists for trixie")
    second = stopped_while(first, FETCH_DEBIAN_SOURCE, "libyaml", waits_for="another use of the apt state for trixie")
    assert (first.finish(), second.finish()) == (0, 0), first.output + second.output
    assert (first.output + second.output).count("updating apt's lists") == 1
    for name, run in (("zlib", first), ("libyaml", second)):
        source = next(s for s in recipe.load(name).sources if s.debian)
        assert run.lines[-1].strip() == str(private_cache / "store" / source.sha256 / source.filename)


def test_two_concurrent_cold_builds_of_a_library_build_it_once(tmp_path):
    env = {BUILD_ROOT_ENV: str(tmp_path / "build")}
    first = Background(BUILD_ZLIB, env=env)
    first.wait_for("==> configure zlib")
    second = stopped_while(first, BUILD_ZLIB, env=env, waits_for="another build of lib-zlib-1.3.1-")
    assert (first.finish(), second.finish()) == (0, 0), first.output + second.output
    both = first.output + second.output
    for step in ("==> unpack and patch", "==> configure zlib", "==> make zlib"):
        assert both.count(step) == 1, both
    prefix = Path(first.lines[-1].strip())
    assert second.lines[-1].strip() == str(prefix) and (prefix / "lib" / "libz.a").exists()
    assert len(list((tmp_path / "build").glob("lib-zlib-*"))) == 1


def descendants(pid: int) -> set[int]:
    """Every process below pid, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it exited while we looked
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def running(pids: set[int]) -> set[int]:
    """Those of pids that still run (a zombie has exited: it only waits to be reaped)."""
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def program(pid: int) -> str:
    """The name of the program a process runs (argv[0]'s last part)."""
    try:
        return Path(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")).name
    except OSError:
        return ""  # it exited


def installed_files(prefix: Path, build_root: Path) -> dict[str, bytes]:
    """Every file a library installed, with its build root named /build, as the compilers name it
    (pkg-config's file records the prefix)."""
    return {path.relative_to(prefix).as_posix(): path.read_bytes().replace(bytes(build_root), b"/build")
            for path in sorted(prefix.rglob("*")) if path.is_file()}


def test_killing_the_orchestrator_mid_build_stops_its_commands_and_the_rerun_builds_the_same_bytes(tmp_path):
    killed_root = {BUILD_ROOT_ENV: str(tmp_path / "killed")}
    run = Background(BUILD_ZLIB, env=killed_root)
    run.wait_for("==> make zlib")
    deadline = time.monotonic() + 30
    while not any(program(pid) == "clang" for pid in running(descendants(run.pid))) \
            and time.monotonic() < deadline:
        time.sleep(0.05)  # until make has compilers running
    commands = running(descendants(run.pid))
    assert len(commands) >= 3, commands  # the guard, make, and what make runs
    run.process.send_signal(signal.SIGKILL)
    assert run.finish() == -signal.SIGKILL
    deadline = time.monotonic() + 15
    while running(commands) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running(commands) == set()

    rerun = Background(BUILD_ZLIB, env=killed_root)
    assert rerun.finish() == 0, rerun.output
    assert "==> make zlib" in rerun.output and "==> configure zlib" not in rerun.output  # resumed at make
    reference = Background(BUILD_ZLIB, env={BUILD_ROOT_ENV: str(tmp_path / "reference")})
    assert reference.finish() == 0, reference.output
    rebuilt, uninterrupted = Path(rerun.lines[-1].strip()), Path(reference.lines[-1].strip())
    assert rebuilt.parent.name == uninterrupted.parent.name  # the same key
    assert installed_files(rebuilt, tmp_path / "killed") == installed_files(uninterrupted, tmp_path / "reference")


ESCAPING_PHASE = """
import sys
from pathlib import Path
from toolchain.compile.phases import PhasedBuild
directory = Path(sys.argv[1])
PhasedBuild(directory, {"PATH": "/usr/bin:/bin"}).run(
    "escape", "a command that leaves its process group",
    ["sh", "-c", "[ -e ran ] && exit 0; touch ran; exec setsid sleep 120"], cwd=directory)
print("phase done")
"""


def test_a_command_that_outlives_its_run_keeps_the_build_directory_locked(tmp_path):
    """The guard cannot stop what leaves its process group (setsid); the lock it holds can keep a
    rerun out of the tree until it ends."""
    directory = tmp_path / "build" / "demo-0123456789abcdef"
    first = Background(ESCAPING_PHASE, str(directory))
    first.wait_for("==> a command that leaves its process group")
    deadline = time.monotonic() + 30
    while not (survivors := {pid for pid in running(descendants(first.pid)) if program(pid) == "sleep"}) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert survivors, first.output
        first.process.send_signal(signal.SIGKILL)
        first.finish()
        rerun = Background(ESCAPING_PHASE, str(directory))
        waiting = rerun.wait_for("waiting for another build of demo-0123456789abcdef")
        assert f"(pid {first.pid}, which has exited; a command it started still runs)" in waiting
    finally:
        for pid in survivors:
            os.kill(pid, signal.SIGKILL)
    assert rerun.finish() == 0, rerun.output
    assert rerun.lines[-1] == "phase done\n"


def test_a_guarded_command_gets_exactly_the_environment_it_is_given(tmp_path):
    for env in ({"ONLY": "this"}, {"LC_ALL": "C", "TZ": "UTC"}, {"LC_CTYPE": "C"}):
        result = run_guarded(["env"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
        assert result.returncode == 0
        assert dict(line.split("=", 1) for line in result.stdout.splitlines()) == env


def test_concurrent_doit_runs_on_an_empty_cache_share_its_toolchain_and_database(private_cache):
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda _: doit("toolchain"), range(4)))
    outputs = "".join(run.stdout + run.stderr for run in runs)
    assert [run.returncode for run in runs] == [0] * 4, outputs
    assert len({line for line in outputs.splitlines() if line.startswith("debian: ")}) == 1
    assert "Traceback" not in outputs
    assert len(list((private_cache / "toolchains").glob("driver-*.complete"))) == 1
    assert not list((private_cache / "toolchains").glob(".*.partial"))
    with sqlite3.connect(private_cache / "doit.sqlite3") as database:
        assert database.execute("select task_id from doit").fetchall() == [("toolchain",)]


WORKER_POOL = """
import sys, time
from pathlib import Path
from toolchain.run.runner import Artifact
from toolchain.run.workers import worker_pool
with worker_pool(Artifact(Path(sys.argv[1])), 2):
    print("pool up", flush=True)
    time.sleep(600)
"""


def test_killing_a_process_running_suites_stops_its_wasm_workers(artifact):
    run = Background(WORKER_POOL, str(artifact.directory))
    run.wait_for("pool up", timeout=300)
    workers = [int(pid) for pid in subprocess.run(["pgrep", "-P", str(run.pid)], capture_output=True,
                                                  text=True).stdout.split()]
    assert len(workers) == 2
    run.process.send_signal(signal.SIGKILL)
    run.finish()
    deadline = time.monotonic() + 10
    while any(map(alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in workers if alive(pid)], "workers outlived their pool"


def alive(pid: int) -> bool:
    """Running, or stopped but not yet ended (a zombie waiting to be reaped has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
