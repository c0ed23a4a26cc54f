"""The box stage: one pre-initialized module holding ruby, the standard library, gems' Ruby files
and an app, that needs no directory granted and starts in milliseconds.

1. pack: the standard library, the gems' Ruby files (in site_ruby) and the app (at /app) into a
   file system image (image.py);
2. compile, with CRuby's own compiler and flags (make/box.mk): the read-only VFS that serves
   the image (csrc/box_vfs.c), the box's entry points (csrc/box_entry.c), the generated data (the
   image by #embed, the preload, the entry, the seed), and the CRuby files the box patches change
   (patches/ruby-<series>-box/: ruby.c's start-up split in two, cont.c's fiber pool allocated on
   first use), compiled from patched copies, so their objects take the place of CRuby's own;
3. link: CRuby's own link recipe (make/relink.mk) with those objects and the gems' extension
   archives, without crt1 and with every WASI call the VFS answers wrapped; Asyncify;
4. preinitialize: Wizer runs `wizer.initialize` (Ruby's start-up, RubyGems, the app's leading
   requires) with no directory and no environment, and writes the module with that memory.
"""
from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..inputs.extract import extract_tar
from ..digests import sha256_file
from ..inputs.source import Patch, apply_patch, patch_inputs, patches_for
from ..locks import once
from ..paths import cache_dir
from ..steps import say, write_atomic
from ..wasm_binary import DATA_SECTION, leb128, sections
from . import image
from .bundled import BundledInstall
from .cruby import RubyBuild
from .gems import SITE_RUBY, BuiltExtension, ExtensionBuild, GemSource
from .link import init_extra_exts_source, relink_command
from .makevars import MAKE_FRAGMENTS
from .phases import KeyedBuild, PhasedBuild, build_environment

C_SOURCES = Path(__file__).with_name("csrc")
BOX_MK = MAKE_FRAGMENTS / "box.mk"
APP_DIR = "app"  # where an app appears in the box
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Every WASI call of wasi-libc's that touches a path or a descriptor, which the VFS answers for
# its own descriptors, and the clock and random source, deterministic while initializing.
WRAPPED_WASI_CALLS = (
    "path_open", "path_filestat_get", "path_readlink", "path_create_directory", "path_remove_directory",
    "path_unlink_file", "path_filestat_set_times", "path_symlink", "path_rename", "path_link",
    "fd_close", "fd_read", "fd_pread", "fd_seek", "fd_tell", "fd_filestat_get", "fd_fdstat_get", "fd_readdir",
    "fd_write", "fd_pwrite", "fd_allocate", "fd_filestat_set_size", "fd_filestat_set_times", "fd_sync",
    "fd_datasync", "fd_advise", "fd_fdstat_set_flags", "fd_renumber", "poll_oneoff", "random_get", "clock_time_get",
)
# Where malloc and the emulated mmap get memory, while initializing (see csrc/box_entry.c).
WRAPPED_LIBC_CALLS = ("mmap", "munmap", "sbrk")
LINK_FLAGS = ("-nostartfiles", *(f"-Wl,--wrap=__wasi_{call}" for call in WRAPPED_WASI_CALLS),
              *(f"-Wl,--wrap={call}" for call in WRAPPED_LIBC_CALLS))
WIZER_FLAGS = ("--allow-wasi", "--inherit-stdio=true", "--wasm-reference-types=true",
               "--init-func", "wizer.initialize")
# A require of a literal path, alone on its line: what an entry's leading requires are.
REQUIRE_RE = re.compile(r"""^\s*(require|require_relative)\s*\(?\s*(["'])([^"'#\\]+)\2\s*\)?\s*(#.*)?$""")


@dataclass(frozen=True)
class App:
    """A directory packed at /app, and the script in it that a run of the box runs."""
    directory: Path
    entry: str  # relative to directory

    @property
    def guest_entry(self) -> str:
        return f"/{APP_DIR}/{self.entry}"

    def preload(self) -> str:
        """Ruby that requires what the entry requires before anything else it does: its leading
        lines of literal `require`s (comments and blank lines between them), so that loading them
        into the snapshot changes nothing the entry could observe."""
        requires = []
        for line in (self.directory / self.entry).read_text(errors="replace").splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            match = REQUIRE_RE.match(line)
            if not match:
                break
            kind, _, feature = match.group(1, 2, 3)
            if kind == "require_relative":
                feature = str(Path(self.guest_entry).parent / feature)
            requires.append(f"require {feature!r}")
        return "\n".join(requires)


@dataclass(frozen=True)
class Wizer:
    """The verified Wizer package, unpacked once per digest into the cache."""
    tarball: Path
    sha256: str

    @property
    def binary(self) -> Path:
        directory = cache_dir("toolchains") / f"wizer-{self.sha256[:16]}"
        once(directory, f"another unpacking of {self.tarball.name}", (directory / "wizer").exists,
             lambda lock: _unpack_binary(self.tarball, directory))
        return directory / "wizer"


def _unpack_binary(tarball: Path, directory: Path) -> None:
    extract_tar(tarball, directory.with_name(directory.name + ".unpacked"))
    unpacked = directory.with_name(directory.name + ".unpacked") / "package"
    shutil.rmtree(directory, ignore_errors=True)
    unpacked.rename(directory)
    shutil.rmtree(unpacked.parent, ignore_errors=True)


@dataclass(frozen=True)
class BoxBuild(KeyedBuild):
    """One box: a Ruby build, gems (their extensions prelinked, their Ruby files packed), an app."""
    name: str
    ruby: RubyBuild
    gems: tuple[GemSource, ...]  # the gems named and their run-time dependencies
    extensions: tuple[ExtensionBuild, ...]  # the named gems' and the bundled gems'
    app: App | None
    wizer: Wizer
    bundled: BundledInstall | None = None  # the series' bundled gems and commands, for a profile that has them

    def inputs(self) -> dict:
        return {
            "ruby": self.ruby.key,
            "extensions": {ext.name: ext.key for ext in self.extensions},
            "gems": {gem.name: gem.key for gem in self.gems},
            **({"bundled_gems": self.bundled.key} if self.bundled else {}),
            "app": None if self.app is None else {"entry": self.app.entry, "files": image.tree_digest(self.app.directory)},
            "sources": {path.name: sha256_file(path) for path in sorted(C_SOURCES.glob("*.c"))},
            "box_mk": sha256_file(BOX_MK), "image": sha256_file(Path(image.__file__)),
            "patches": patch_inputs(self.patches), "link_flags": list(LINK_FLAGS),
            "wizer": {"sha256": self.wizer.sha256, "flags": list(WIZER_FLAGS)},
        }

    @property
    def label(self) -> str:
        return f"box-{self.name}"

    @property
    def patches(self) -> list[Patch]:
        return patches_for(f"ruby-{self.ruby.recipe.series}-box")

    @property
    def wasm(self) -> Path:
        return self.build_dir / "box.wasm"

    @property
    def phases(self) -> PhasedBuild:
        return PhasedBuild(self.build_dir, build_environment(self.ruby.toolchain))

    def trees(self) -> list[tuple[Path, str]]:
        """(host directory, path in the box) of everything packed, in order."""
        site = SITE_RUBY.format(abi=self.ruby.abi)
        return [self.ruby.stdlib, *(self.bundled.trees() if self.bundled else ()),
                *[(gem.tree() / "lib", site) for gem in self.gems],
                *([(self.app.directory, APP_DIR)] if self.app else [])]


def default_name(series: str, profile: str, gems: Sequence[str], app: App | None) -> str:
    return "-".join([f"ruby-{series}-{profile}", *gems, *([app.directory.name] if app else []), "box"])


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise UserError(f"--name {name!r}: a box's name is its artifact directory's and file's name. Use letters, "
                        "digits, '.', '_' and '-', starting with a letter or digit.")
    return name


def check_app(directory: str, entry: str) -> App | None:
    """The --app/--entry pair, checked: both or neither, the entry a file inside the directory."""
    if not directory and not entry:
        return None
    if not directory or not entry:
        raise UserError("--app and --entry go together: --app DIR names the directory packed at /app, --entry FILE "
                        "the script in it that the box runs (e.g. --app ./myapp --entry main.rb).")
    root = Path(directory).resolve()
    if not root.is_dir():
        raise UserError(f"--app {directory}: {root} is not a directory. Name the app's directory.")
    if not (root / entry).resolve().is_file() or not (root / entry).resolve().is_relative_to(root):
        raise UserError(f"--entry {entry}: there is no file {root / entry} inside the app directory {root}. Name the "
                        "entry script by its path relative to --app.")
    links = [path for path in root.rglob("*") if path.is_symlink()]
    if links:
        raise UserError(f"--app {directory}: {links[0]} is a symbolic link ({len(links)} in all). A box's file system "
                        "holds files and directories only: copy the linked files into the app instead.")
    return App(root, (root / entry).resolve().relative_to(root).as_posix())


def _data_source(box: BoxBuild) -> str:
    """C source of the box's data: the image (by #embed), the preload, the entry and the seed."""
    def c_bytes(data: bytes) -> str:
        return "{ " + ", ".join(str(b) for b in data) + " }"
    preload = (box.app.preload() if box.app else "").encode() + b"\0"
    entry = (box.app.guest_entry if box.app else "").encode() + b"\0"
    return (f"/* Generated by the ruby-wasm toolchain for the box {box.name}. */\n"
            "#include <stdint.h>\n"
            "__attribute__((aligned(16))) const uint8_t rb_box_image[] = {\n#embed \"image.bin\"\n};\n"
            f"const char rb_box_preload[] = {c_bytes(preload)};\n"
            f"const char rb_box_entry[] = {c_bytes(entry)};\n"
            f"const uint8_t rb_box_seed[32] = {c_bytes(bytes.fromhex(box.key))};\n")


def _stage_tree(box: BoxBuild, tree: Path) -> None:
    shutil.rmtree(tree, ignore_errors=True)
    for host, guest in box.trees():
        shutil.copytree(host, tree / guest, symlinks=True, dirs_exist_ok=True)


def _write_sources(box: BoxBuild, extensions: Sequence[BuiltExtension]) -> list[Path]:
    """The C sources of the box, in its build directory: the image and the generated data, the
    project's own, and the CRuby files the box patches change, patched."""
    sources = box.build_dir / "src"
    shutil.rmtree(sources, ignore_errors=True)
    sources.mkdir(parents=True)
    tree = box.build_dir / "tree"
    _stage_tree(box, tree)
    epoch = int((box.ruby.build_dir / "source-date-epoch").read_text())
    write_atomic(sources / "image.bin", image.pack(tree, epoch * 10**9))
    write_atomic(sources / "box_data.c", _data_source(box).encode())
    write_atomic(sources / "init_extra_exts.c", init_extra_exts_source(extensions).encode())
    for source in C_SOURCES.glob("*.c"):
        shutil.copy2(source, sources / source.name)
    for patch in box.patches:
        for name in patched_files(patch):
            shutil.copy2(box.ruby.source_root / name, sources / name)
        apply_patch(patch, sources)
    return sorted(sources.glob("*.c"))


def patched_files(patch: Patch) -> list[str]:
    """The CRuby files a box patch changes: each is compiled from a patched copy in the box."""
    return [line[len("+++ b/"):].split()[0] for line in patch.path.read_text().splitlines() if line.startswith("+++ b/")]


def active_data(wasm: Path) -> tuple[int, int]:
    """(bytes of active data segments, bytes of memory they span) of a module's data section:
    wasmtime maps the memory copy-on-write only when the data fills at least half the span (or
    the span is under 16 MiB); otherwise it copies the data into every instance."""
    module, size, low, high = wasm.read_bytes(), 0, None, 0
    for section_id, start, _ in sections(module):
        if section_id != DATA_SECTION:
            continue
        count, cursor = leb128(module, start)
        for _ in range(count):
            flags, cursor = leb128(module, cursor)
            offset = None
            if flags == 0:  # active, memory 0: i32.const offset, end
                offset, cursor = leb128(module, cursor + 1, signed=True)
                cursor += 1
            length, cursor = leb128(module, cursor)
            if offset is not None and length:
                size += length
                low, high = min(offset, offset if low is None else low), max(high, offset + length)
            cursor += length
    return size, high - (low or 0)


def build_box(box: BoxBuild, extensions: Sequence[BuiltExtension]) -> Path:
    """Pack, compile, link and pre-initialize the box, once; return the box's path."""
    phases = box.phases
    obj = box.ruby.build_dir / "obj"
    if not phases.done("compile"):
        phases.share_source(box.ruby.phases)
        sources = _write_sources(box, extensions)
        phases.run("compile", f"compile the box {box.name}'s VFS, entry, image and ruby.c",
                   ["make", "-f", "GNUmakefile", "-f", str(BOX_MK), f"BOX_DIR={box.build_dir}",
                    f"BOX_SOURCES={' '.join(map(str, sources))}",
                    f"BOX_CFLAGS=-I{box.build_dir / 'src'} -Wno-c23-extensions", "box-objects"], cwd=obj)
    objects = sorted(box.build_dir.glob("*.o"))
    linked = box.build_dir / "linked.wasm"
    phases.run("link", f"link the box {box.name} (link, Asyncify)",
               relink_command(box.ruby, linked, objects, extensions, ldflags=" ".join(LINK_FLAGS)), cwd=obj)
    phases.run("preinitialize", f"pre-initialize the box {box.name} (Wizer: start-up, RubyGems, the app's requires)",
               [str(box.wizer.binary), *WIZER_FLAGS, "-o", str(box.wasm), str(linked)], cwd=box.build_dir)
    data, span = active_data(box.wasm)
    say(f"    snapshot: {data / 2**20:.1f} MiB of data spanning {span / 2**20:.1f} MiB of memory: "
        + ("wasmtime maps it copy-on-write" if span < 2 * data else
           "too sparse for copy-on-write, so every instance copies it (a slower start); see csrc/box_entry.c"))
    return box.wasm
