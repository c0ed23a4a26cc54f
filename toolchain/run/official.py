"""The official npm build a series is measured against (recipes/official-<series>.toml): its wasm
files, taken from the verified package, and a way to run a program on its reactor build.

The official `ruby+stdlib.wasm` is a reactor, not a command: it is driven through its exports
(`_initialize`, `ruby-init`, then `rb-eval-string-protect` with the program's source), its
JavaScript imports refused, with the runner's engine settings (epoch time-outs, a 2 MiB stack).
"""
from __future__ import annotations

import struct
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from ..errors import UserError
from ..inputs import fetch, recipe
from ..paths import RECIPES_DIR, cache_dir
from ..steps import write_atomic
from .runner import compiled_module, make_engine

RUBY_WASM = "ruby.wasm"  # the interpreter alone
RUBY_STDLIB_WASM = "ruby+stdlib.wasm"  # the reactor with the standard library packed in
TIMEOUT = 900.0


def comparison(series: str) -> recipe.Recipe | None:
    """The official build pinned for the series, if one is."""
    name = f"official-{series}"
    return recipe.load_kind(name, "comparison") if (RECIPES_DIR / f"{name}.toml").exists() else None


def package_name(series: str) -> str:
    pinned = _pinned(series)
    npm = pinned.sources[0].npm
    assert npm is not None, f"{pinned.path}: the official build comes from npm"
    return f"{npm.package}@{npm.version}"


def official_wasm(series: str, name: str) -> Path:
    """dist/<name> of the series' official package, fetched and verified as every input is, and
    kept beside the store once extracted."""
    pinned = _pinned(series)
    source, tarball = fetch.fetch_recipe(pinned)
    wasm = cache_dir("comparison") / f"{source.sha256[:16]}-{name}"
    if not wasm.exists():
        with tarfile.open(tarball) as archive:
            member = archive.extractfile(f"{source.root}/dist/{name}")
            if member is None:
                raise UserError(f"{pinned.path}: the package has no dist/{name}; pin a package that has.")
            write_atomic(wasm, member.read())
    return wasm


def _pinned(series: str) -> recipe.Recipe:
    pinned = comparison(series)
    if pinned is None:
        raise UserError(f"No official build is pinned for Ruby {series}: add recipes/official-{series}.toml "
                        "(kind = \"comparison\", the npm package and its sha256), as recipes/official-3.3.toml.")
    return pinned


@dataclass
class Outcome:
    stdout: str
    failure: str | None  # a trap, a Ruby exception, a time-out
    seconds: float
    memory_bytes: int


class OfficialRuby:
    """The official reactor build: instantiated afresh per program, its JavaScript imports refused."""

    def __init__(self, wasm: Path) -> None:
        self.engine = make_engine()
        self.module = compiled_module(self.engine, wasm)

    def _linker(self, handles: dict[int, int]) -> wasmtime.Linker:
        linker = wasmtime.Linker(self.engine)
        linker.define_wasi()
        for imported in self.module.imports:
            if imported.module == "wasi_snapshot_preview1":
                continue
            linker.define_func(imported.module, imported.name, imported.type,
                               self._host_function(imported.name, handles))
        return linker

    @staticmethod
    def _host_function(name: str, handles: dict[int, int]) -> Callable:
        if name.startswith("resource_new_"):
            def new(value: int) -> int:
                handles[len(handles) + 1] = value
                return len(handles)
            return new
        if name.startswith("resource_get_"):
            return lambda handle: handles[handle]
        if name.startswith("resource_drop_"):
            return lambda handle: None

        def refused(*args):
            raise RuntimeError(f"JavaScript import {name} is not available here")
        return refused

    def run(self, source: str, timeout: float = TIMEOUT) -> Outcome:
        store = wasmtime.Store(self.engine)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "stdout"
            wasi = wasmtime.WasiConfig()
            wasi.stdout_file = str(out)
            wasi.stderr_file = str(Path(tmp) / "stderr")
            store.set_wasi(wasi)
            instance = self._linker({}).instantiate(store, self.module)
            # wit-bindgen's export names carry their signature: "ruby-init: func(args: ...) -> ()"
            exports = {name.split(":")[0]: export for name, export in instance.exports(store).items()}
            memory = exports["memory"]
            started = time.monotonic()
            # a reactor never exits, so nothing flushes $stdout unless the program does
            failure = with_deadline(self.engine, store, timeout,
                                    lambda: self._eval(store, exports, memory, f"{source}\n$stdout.flush"))
            seconds = time.monotonic() - started
            return Outcome(out.read_text(errors="replace"), failure, seconds, memory.data_len(store))

    def _eval(self, store, exports, memory, source: str) -> str | None:
        exports["_initialize"](store)
        args = [self._string(store, exports, memory, arg) for arg in ("ruby.wasm", "-EUTF-8", "-e_=0")]
        table = exports["cabi_realloc"](store, 0, 0, 4, 8 * len(args))
        memory.write(store, b"".join(struct.pack("<II", ptr, size) for ptr, size in args), table)
        exports["ruby-init"](store, table, len(args))
        ret = exports["rb-eval-string-protect"](store, *self._string(store, exports, memory, source))
        _, state = struct.unpack("<Ii", memory.read(store, ret, ret + 8))
        return f"Ruby exception (tag state {state})" if state else None

    @staticmethod
    def _string(store, exports, memory, text: str) -> tuple[int, int]:
        data = text.encode()
        pointer = exports["cabi_realloc"](store, 0, 0, 1, len(data))
        memory.write(store, data, pointer)
        return pointer, len(data)


def with_deadline(engine: wasmtime.Engine, store: wasmtime.Store, timeout: float,
                  call: Callable[[], str | None]) -> str | None:
    """Run call with the runner's time-out; a trap or time-out is returned as the failure."""
    store.set_epoch_deadline(1)
    finished = threading.Event()
    threading.Thread(target=lambda: finished.wait(timeout) or engine.increment_epoch(), daemon=True).start()
    try:
        return call()
    except wasmtime.Trap as trap:
        return f"trap: {trap.message.splitlines()[0]}"
    finally:
        finished.set()
