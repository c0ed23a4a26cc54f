"""Runs one command so that it, and everything it starts, dies with the process that asked for it.

Usage: python -I -S guard.py PARENT_PID LC_CTYPE COMMAND [ARGS...]   (steps.run_guarded starts it)

It is started as the leader of a new process group, which the command and its children join.
When the parent dies, however it dies (SIGKILL included), the kernel sends this process SIGTERM
(prctl PR_SET_PDEATHSIG); a SIGTERM, SIGINT or SIGHUP from anyone else does the same. It then
stops the whole group: SIGTERM first, so that make deletes the target it was writing, then,
after a grace period, SIGKILL. It imports nothing from the toolchain package and runs with
`-I -S`, so it starts in milliseconds and is not swayed by the build's environment, which it
passes on whole: the command gets exactly the environment, directory, files and descriptors given
to the guard. (Python's start-up sets LC_CTYPE in a C locale, PEP 538, so the caller passes the
variable as "=<value>", or "-" when it is unset, and the guard puts it back.)
"""
import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
GRACE_SECONDS = 5
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def die_with(parent: int) -> None:
    """Ask the kernel for SIGTERM when the parent dies; if it died before we asked, stop now."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        sys.exit(f"guard: prctl(PR_SET_PDEATHSIG) failed: {os.strerror(ctypes.get_errno())}")
    if os.getppid() != parent:
        sys.exit("guard: the process that started this command has already exited")


def restore_lc_ctype(given: str) -> None:
    if given == "-":
        os.environ.pop("LC_CTYPE", None)
    else:
        os.environ["LC_CTYPE"] = given.removeprefix("=")


def command_running(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return False


def stop_group(pid: int | None) -> None:
    """Stop every process of this group, this one last; `pid` is the command's, once started."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    os.killpg(0, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while pid is not None and command_running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(0, signal.SIGKILL)


def main() -> int:
    parent, lc_ctype, command = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    restore_lc_ctype(lc_ctype)
    started: list[int] = []
    # Set before the command starts, so that no moment leaves it unguarded.
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda *_: stop_group(started[0] if started else None))
    die_with(parent)
    # close_fds=False: the descriptors the parent passed on (a build directory's lock) reach the
    # command; everything this interpreter opened itself is close-on-exec anyway.
    try:
        child = subprocess.Popen(command, close_fds=False)
    except OSError as error:
        print(f"guard: cannot run {command[0]}: {error}", file=sys.stderr)
        return 127
    started.append(child.pid)
    code = child.wait()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
