"""Running a ruby.wasm artifact under wasmtime, granting it only the directories it needs.

Compiling ruby.wasm with Cranelift takes ~15 s; the compiled module is cached on disk,
keyed by the wasm's sha256, the wasmtime version and the engine settings, so only the
first run pays for it.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import os
import shutil
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import wasmtime
from wasmtime import _bindings

from ..digests import file_identity, settled, sha256_file
from ..errors import UserError
from ..locks import in_use
from ..paths import artifact_root, cache_dir
from ..publish.integrity import altered_files, expected_digests
from ..steps import say, write_atomic

T = TypeVar("T")

def installed_version(module: object, distribution: str) -> str:
    """The installed version of a module's distribution, from its dist-info directory beside it:
    importlib.metadata scans every path entry and costs a start-up's worth of time (55 ms)."""
    site = Path(module.__file__).parent.parent  # type: ignore[attr-defined]
    found = sorted(site.glob(f"{distribution}-*.dist-info"))
    if len(found) == 1:
        return found[0].name[len(distribution) + 1:-len(".dist-info")]
    from importlib.metadata import version
    return version(distribution)


WASMTIME_VERSION = installed_version(wasmtime, "wasmtime")
# The engine's call stack for wasm frames. Deep recursion in C (inspect, ==, Marshal of deep data)
# keeps most of its locals in wasm locals, so each level costs this stack far more than the linear
# stack Ruby's own check measures: 64 MiB keeps that check's SystemStackError (at the 4 MiB
# machine stack limit or the VM stack's last frame) ahead of the engine's trap. wasmtime refuses
# a max_wasm_stack above its async stack size, which wasmtime-py does not expose; it is set
# through the C API. wasmtime runs wasm on the calling thread's native stack, so each run gets a
# thread with room for it.
MAX_WASM_STACK = 64 << 20
NATIVE_STACK = MAX_WASM_STACK + (16 << 20)
ENGINE_SETTINGS = f"epoch-interruption-stack{MAX_WASM_STACK}"  # part of the compiled-module key
TRAP_EXIT_CODE = 134
TIMEOUT_EXIT_CODE = 124
INVALID_EXIT_CODE = 126
NO_DEADLINE = 2**62
BOX_NO_ENTRY = "RUBY_BOX_NO_ENTRY"  # set, an app box runs as the plain ruby it holds (csrc/box_entry.c)


@dataclass(frozen=True)
class Artifact:
    """A built ruby.wasm with the filesystem tree it expects to see at /."""
    directory: Path

    @property
    def wasm(self) -> Path:
        return self.directory / "ruby.wasm"

    @property
    def root(self) -> Path:
        return self.directory / "root"

    @property
    def manifest(self) -> Path:
        return self.directory / "manifest.json"

    @property
    def has_tree(self) -> bool:
        """False for a box: its files are inside the module."""
        return self.root.is_dir()


@dataclass(frozen=True)
class LooseModule(Artifact):
    """A module run as a file of its own (a box copied anywhere): no tree, no manifest."""
    path: Path = Path()

    @property
    def wasm(self) -> Path:
        return self.path

    @property
    def has_tree(self) -> bool:
        return False


def module_digest(wasm: Path) -> str:
    """The module's sha256, remembered by its size, mtime and inode once the file has settled, so
    that a box run as a file is hashed once, not on every start."""
    status = wasm.stat()
    identity = file_identity(status)
    memo = cache_dir("compiled", "digests") / hashlib.sha256(f"{wasm.resolve()} {identity}".encode()).hexdigest()
    if memo.exists():
        return memo.read_text()
    digest = sha256_file(wasm)
    if settled(status.st_mtime_ns):
        write_atomic(memo, digest.encode())
    return digest


@dataclass(frozen=True)
class Mount:
    host: Path
    guest: str
    writable: bool = True

    @classmethod
    def parse(cls, spec: str) -> Mount:
        """HOST[::GUEST], as wasmtime's CLI spells it; GUEST defaults to HOST's absolute path."""
        host, _, guest = spec.partition("::")
        host_path = Path(host).resolve()
        if not host_path.is_dir():
            raise UserError(f"--dir {spec}: {host_path} is not a directory. Name an existing directory.")
        return cls(host_path, guest or str(host_path))


GUEST_DEV = "/dev"
# Where an artifact has Ruby's commands (gem, bundle, rake, irb, ...): what `ruby -S` searches,
# unless the caller's environment names a PATH.
GUEST_PATH = "/usr/local/bin"


@functools.cache
def _say_no_devices() -> None:
    """Once per process: why the wasm has no /dev/null."""
    print("note: the wasm gets no /dev/null: making its device node needs root (CAP_MKNOD), and writes "
          "to File::NULL fail", file=sys.stderr)


def guest_devices(mounts: Sequence[Mount], outputs: contextlib.ExitStack) -> list[Mount]:
    """A /dev holding a null device, unless a mount already is /dev: File::NULL is where Ruby's
    libraries send what they discard (RubyGems' resolver does, in every gem command's wrapper),
    and WASI has no devices. It is a directory of the run's own with a real character device,
    since a preopened directory can hold nothing else that reads empty and swallows writes.
    Making a device node needs CAP_MKNOD: without it the guest has no /dev/null, as before."""
    if any(mount.guest.rstrip("/") == GUEST_DEV for mount in mounts):
        return []
    directory = Path(outputs.enter_context(tempfile.TemporaryDirectory(prefix="ruby-wasm-dev-")))
    try:
        os.mknod(directory / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        _say_no_devices()
        return []
    os.chmod(directory / "null", 0o666)  # mknod's mode is masked by the umask
    return [Mount(directory, GUEST_DEV)]


@dataclass
class RunResult:
    exit_code: int
    stdout: str | bytes = ""
    stderr: str | bytes = ""
    trap: str | None = None
    timed_out: bool = False
    memory_bytes: int = 0  # linear memory at the end, which is its peak: wasm memory never shrinks


def make_engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    config.epoch_interruption = True  # lets a timeout stop a wasm that never returns
    _bindings.wasmtime_config_async_stack_size_set(config.ptr(), MAX_WASM_STACK)
    config.max_wasm_stack = MAX_WASM_STACK
    return wasmtime.Engine(config)


_STACK_SIZE = threading.Lock()  # threading.stack_size is process-wide: set, start, restore


def on_wasm_stack(call: Callable[[], T]) -> T:
    """call() on a thread whose native stack holds MAX_WASM_STACK of wasm frames; its result or
    its exception."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:  # noqa: BLE001 - handed to the caller as it was
            outcome["error"] = error
    with _STACK_SIZE:
        previous = threading.stack_size(NATIVE_STACK)
        try:
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
        finally:
            threading.stack_size(previous)
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def compiled_path(digest: str) -> Path:
    """Where the module compiled from the wasm with this sha256 is cached, for this wasmtime."""
    return cache_dir("compiled") / f"{digest}-wasmtime{WASMTIME_VERSION}-{ENGINE_SETTINGS}.cwasm"


def compiled_module(engine: wasmtime.Engine, wasm: Path, digest: str | None = None) -> wasmtime.Module:
    """Deserialize the cached compiled module, compiling and caching it on first use. `digest` is
    the wasm's sha256 when already known (hashing a 30 MB box costs a start-up's worth of time)."""
    cached = compiled_path(digest or sha256_file(wasm))
    if cached.exists():
        return wasmtime.Module.deserialize_file(engine, str(cached))
    say(f"compiling {wasm.name} for this machine (once per wasm and wasmtime version)...")
    module = wasmtime.Module.from_file(engine, str(wasm))
    write_atomic(cached, module.serialize())
    return module


def refuse_altered(artifact: Artifact) -> None:
    """A published artifact (one with a manifest) runs only as it was published."""
    if not artifact.manifest.exists():
        return  # an artifact being assembled, smoke-checked before its manifest is written
    altered = altered_files(artifact.directory)
    if altered:
        shown = ", ".join(altered[:5]) + (f" and {len(altered) - 5} more" if len(altered) > 5 else "")
        raise UserError(f"{artifact.directory}: {len(altered)} file(s) changed since it was published, which "
                        f"no longer match its SHA256SUMS: {shown}. Publish it again (doit ruby_wasm, or the doit "
                        "task that built it), or run it as it is with --allow-modified.")


@dataclass
class RubyWasm:
    """A compiled artifact, ready to be instantiated once per run."""
    artifact: Artifact
    engine: wasmtime.Engine = field(default_factory=make_engine)
    allow_modified: bool = False  # run files that no longer match the artifact's SHA256SUMS

    def __post_init__(self) -> None:
        if not self.artifact.wasm.exists():
            raise UserError(f"No {self.artifact.wasm.name} in {self.artifact.wasm.parent}. Build it first: doit ruby_wasm.")
        digest = None
        if isinstance(self.artifact, LooseModule):
            digest = module_digest(self.artifact.wasm)
        elif not self.allow_modified:
            refuse_altered(self.artifact)  # so the SHA256SUMS digest is the file's
            digest = expected_digests(self.artifact.directory).get(self.artifact.wasm.name)
        linker = wasmtime.Linker(self.engine)
        linker.define_wasi()
        self.pre = linker.instantiate_pre(compiled_module(self.engine, self.artifact.wasm, digest))

    def _wasi(self, argv: Sequence[str], env: Mapping[str, str], mounts: Sequence[Mount],
              stdout: Path | None, stderr: Path | None, stdin: Path | None, program: str,
              outputs: contextlib.ExitStack) -> wasmtime.WasiConfig:
        wasi = wasmtime.WasiConfig()
        wasi.argv = [program, *utf8_only("argument", argv)]
        wasi.env = [(name, utf8_only(f"environment variable {name}'s value", [value])[0]) for name, value in env.items()]
        if stdin:
            wasi.stdin_file = str(stdin)
        elif not stdout:  # an interactive run reads our stdin; captured runs get an empty one
            wasi.inherit_stdin()
        if stdout and stderr == stdout:  # one file, written in the order the program writes (2>&1)
            merged = outputs.enter_context(stdout.open("wb"))
            wasi.stdout_custom = merged.write
            wasi.stderr_custom = merged.write
        else:
            if stdout:
                wasi.stdout_file = str(stdout)
            else:
                wasi.inherit_stdout()
            if stderr:
                wasi.stderr_file = str(stderr)
            else:
                wasi.inherit_stderr()
        # Ruby's load path is compiled in as /usr/local/lib/ruby: the artifact's tree is the guest's /.
        if self.artifact.has_tree:
            wasi.preopen_dir(str(self.artifact.root), "/", False)
        for mount in [*mounts, *guest_devices(mounts, outputs)]:
            wasi.preopen_dir(str(mount.host), mount.guest, mount.writable)
        return wasi

    def run(self, argv: Sequence[str], env: Mapping[str, str] | None = None,
            mounts: Sequence[Mount] = (), stdout: Path | None = None, stderr: Path | None = None,
            timeout: float | None = None, memory_limit: int | None = None, stdin: Path | None = None,
            program: str = "ruby") -> RunResult:
        """Run ruby with argv (`program` is its argv[0]); stdin comes from the given file (or ours,
        or nothing when output is captured), stdout/stderr go to the given files or to ours (both
        to one file if they are the same path, in the order written). memory_limit caps linear
        memory, in bytes: past it memory.grow fails, and Ruby raises NoMemoryError. The artifact's
        tree stays whole while it runs, though the artifact be published anew (locks.in_use). The
        guest gets PATH=/usr/local/bin unless env names one, and a /dev with a null device."""
        with contextlib.ExitStack() as outputs:
            if self.artifact.has_tree:
                outputs.enter_context(in_use(self.artifact.directory))
            store = wasmtime.Store(self.engine)
            if memory_limit is not None:
                store.set_limits(memory_size=memory_limit)
            store.set_wasi(self._wasi(argv, {"PATH": GUEST_PATH, **(env or {})}, mounts, stdout, stderr, stdin, program,
                                      outputs))
            store.set_epoch_deadline(1 if timeout is not None else NO_DEADLINE)
            finished = threading.Event()
            if timeout is not None:
                threading.Thread(target=self._interrupt_after, args=(timeout, finished), daemon=True).start()
            try:
                exports = self.pre.instantiate(store).exports(store)
                result = on_wasm_stack(lambda: self._start(store, exports["_start"], timeout))
            finally:
                finished.set()
        memory = exports["memory"]
        assert isinstance(memory, wasmtime.Memory)
        result.memory_bytes = memory.data_len(store)
        return result

    @staticmethod
    def _start(store: wasmtime.Store, start, timeout: float | None) -> RunResult:
        try:
            start(store)
            return RunResult(0)
        except wasmtime.ExitTrap as exit_:
            return RunResult(exit_.code)
        except wasmtime.WasmtimeError as error:
            # WASI preview 1 carries exit statuses 0..125 only; wasmtime refuses `exit(126..255)`
            # with an error that does not say which status it was.
            if "invalid exit status" not in str(error):
                raise
            return RunResult(INVALID_EXIT_CODE, trap="exited with a status of 126 or more, which WASI "
                             "preview 1 cannot carry (wasmtime refuses it)")
        except wasmtime.Trap as trap:
            if trap.trap_code == wasmtime.TrapCode.INTERRUPT:
                return RunResult(TIMEOUT_EXIT_CODE, timed_out=True, trap=f"timed out after {timeout}s")
            frames = "\n".join(f"  {f.func_name or '?'} (func {f.func_index})" for f in trap.frames)
            return RunResult(TRAP_EXIT_CODE, trap=f"{trap.message}\n{frames}")

    def _interrupt_after(self, timeout: float, finished: threading.Event) -> None:
        if not finished.wait(timeout):
            self.engine.increment_epoch()

    def capture(self, argv: Sequence[str], binary: bool = False, **options) -> RunResult:
        """Run and return stdout and stderr, as text unless binary is set."""
        with tempfile.TemporaryDirectory() as tmp:
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            result = self.run(argv, stdout=out, stderr=err, **options)
            if binary:
                result.stdout, result.stderr = out.read_bytes(), err.read_bytes()
            else:
                result.stdout = out.read_text(errors="replace")
                result.stderr = err.read_text(errors="replace")
            return result


# What `doit ruby_wasm` builds and the runner runs when no profile is named: the one most
# Ruby code needs (zlib, YAML, OpenSSL).
DEFAULT_PROFILE = "full"


def artifact_path(name: str) -> Path:
    return artifact_root() / name


def artifact_dir(series: str, profile: str) -> Path:
    return artifact_path(f"ruby-{series}-{profile}")


RUNNER_OPTIONS = ("--artifact", "--ruby", "--profile", "--dir", "--env", "--max-memory")
RUNNER_FLAGS = ("--allow-modified",)


def split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Runner options come first; everything from the first other token (or after --) is Ruby's."""
    ours: list[str] = []
    rest = list(argv)
    while rest:
        token = rest[0]
        if token == "--":
            return ours, rest[1:]
        if token.split("=", 1)[0] not in RUNNER_OPTIONS + RUNNER_FLAGS:
            break
        ours.append(rest.pop(0))
        if token not in RUNNER_FLAGS and "=" not in token and rest:
            ours.append(rest.pop(0))
    return ours, rest


def parse_env(specs: Sequence[str]) -> dict[str, str]:
    env = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        if not sep or not key:
            raise UserError(f"--env {spec!r} is not KEY=VALUE. Write it as --env NAME=value.")
        env[key] = value
    return env


def utf8_only(what: str, strings: Sequence[str]) -> list[str]:
    """The strings, each checked to be UTF-8: wasmtime's WASI carries no other argument or
    environment value (a host string of other bytes arrives with surrogate escapes)."""
    for string in strings:
        try:
            string.encode("utf-8")
        except UnicodeEncodeError:
            shown = string.encode("utf-8", "surrogateescape")
            raise UserError(f"The {what} {shown!r} is not UTF-8, and wasmtime's WASI passes only UTF-8 arguments "
                            "and environment values to a wasm program. Give it as UTF-8.") from None
    return list(strings)


def terminal_env(given: Mapping[str, str]) -> dict[str, str]:
    """What a run on the user's terminal is told of it, unless --env says otherwise: the terminal
    a WASI program sees cannot be switched to raw mode (it stays the host's, line by line and
    echoed), which is what TERM=dumb means to reline and irb; and its size, which it cannot ask."""
    if not sys.stdin.isatty():
        return {}
    size = shutil.get_terminal_size()
    defaults = {"TERM": "dumb", "LINES": str(size.lines), "COLUMNS": str(size.columns)}
    return {name: value for name, value in defaults.items() if name not in given}


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of MiB above 0")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    ours, ruby_args = split_argv(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="ruby-wasm", usage="ruby-wasm [--artifact DIR | --ruby 3.3 --profile default | MODULE.wasm] "
        "[--dir HOST[::GUEST]]... [--env K=V]... [--max-memory MIB] [--allow-modified] [--] RUBY_ARGS...",
        description="Run a built ruby.wasm under wasmtime.")
    parser.add_argument("--artifact", type=Path, help="artifact directory (default: from --ruby/--profile)")
    parser.add_argument("--ruby", default="3.3", help="Ruby series of the default artifact")
    parser.add_argument("--profile", default=DEFAULT_PROFILE, help="profile of the default artifact")
    parser.add_argument("--dir", action="append", default=[], help="grant a host directory to the wasm")
    parser.add_argument("--env", action="append", default=[], help="set an environment variable")
    parser.add_argument("--max-memory", type=positive_int, metavar="MIB",
                        help="cap the wasm's linear memory: past it Ruby raises NoMemoryError")
    parser.add_argument("--allow-modified", action="store_true",
                        help="run the artifact even if its files no longer match its SHA256SUMS")
    options = parser.parse_args(ours)
    if options.artifact is None and ruby_args and ruby_args[0].endswith(".wasm") and Path(ruby_args[0]).is_file():
        artifact: Artifact = LooseModule(Path(ruby_args[0]).parent, Path(ruby_args.pop(0)))
    else:
        artifact = Artifact(options.artifact or artifact_dir(options.ruby, options.profile))
    try:
        runner = RubyWasm(artifact, allow_modified=options.allow_modified)
        env = parse_env(options.env)
        result = runner.run(ruby_args, env={**terminal_env(env), **env},
                            mounts=[Mount.parse(spec) for spec in options.dir],
                            memory_limit=None if options.max_memory is None else options.max_memory << 20)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if result.trap:
        print(f"wasm trap: {result.trap}", file=sys.stderr)
    return result.exit_code

