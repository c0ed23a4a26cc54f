"""A Ruby series' bundled gems, as `make install` installs them, for the profiles that ask for them.

Which gems, at which versions, is the source's own gems/bundled_gems. Their files come from the
same pinned source: CRuby's release tarball and Debian's orig tarball both carry every bundled
gem unpacked in .bundle/gems/ (Debian's drops only the gems/*.gem archives), with its complete
specification in .bundle/specifications/ or beside it. So the gems are verified by the Ruby
source's sha256, and need no input of their own.

- The index: each listed gem, and the extconf.rb files its specification declares, read from the
  tarball once per source digest (planning needs them: each extension is a build of its own).
- The extensions: built for wasm32-wasi like a recipe gem's (gems.ExtensionBuild) and prelinked
  into the profile's ruby.wasm (link.py) and its boxes.
- The install: the gems' files, specifications and command wrappers (toolchain/ruby/
  install_bundled_gems.rb, run by the baseruby) and the commands CRuby's `make install` wrote
  (gem, bundle, irb, ...), in a tree laid out as the wasm's /.
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
import tomllib
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ..digests import sha256_file
from ..errors import UserError
from ..inputs.recipe import Extension
from ..paths import RUBY_SUPPORT, cache_dir
from ..verify.known_failures import PLANS_DIR
from ..steps import write_atomic
from .baseruby import build_native
from .cruby import PREFIX, TARGET, RubyBuild
from .phases import KeyedBuild, PhasedBuild

INSTALL_SCRIPT = RUBY_SUPPORT / "install_bundled_gems.rb"
# socket for WASI: where the socket extension lives elsewhere (lib/ruby/<abi>/<arch>/), so the
# libraries that require it load (net-smtp, net-imap, ..., RubyGems' commands).
SOCKET = RUBY_SUPPORT / "wasi_socket.rb"
SMOKE_REQUIRES = PLANS_DIR / "bundled-gems.toml"
LISTING = "gems/bundled_gems"
INDEX_FORMAT = 2  # of the index kept per source digest; a new one is read when it changes
BUNDLE = ".bundle"
BIN_DIR = f"{PREFIX}/bin"
# A generated specification's extensions line: `s.extensions = ["ext/debug/extconf.rb".freeze]`.
EXTENSIONS_RE = re.compile(r'^\s*s\.extensions\s*=\s*\[(.*)\]\s*$', re.MULTILINE)
QUOTED_RE = re.compile(r'"([^"]+)"')


@dataclass(frozen=True)
class BundledGem:
    """One gem gems/bundled_gems names: its complete specification's path in the source, and the
    extconf.rb files that specification declares."""
    name: str
    version: str
    spec: str
    extconfs: tuple[str, ...] = ()

    @property
    def full_name(self) -> str:
        return f"{self.name}-{self.version}"


def listed(ruby: RubyBuild) -> tuple[BundledGem, ...]:
    """The series' bundled gems, as its source lists them."""
    return _index(ruby.source.sha256, ruby.tarball)


@functools.cache
def _index(sha256: str, tarball: Path) -> tuple[BundledGem, ...]:
    """The index of a source: read from the tarball once per digest, kept in the cache, and read
    from there once per process."""
    index = cache_dir("bundled-gems") / f"{sha256}.v{INDEX_FORMAT}.json"
    if not index.exists():
        write_atomic(index, json.dumps([gem.__dict__ for gem in _read_index(tarball)], indent=1).encode())
    return tuple(BundledGem(entry["name"], entry["version"], entry["spec"], tuple(entry["extconfs"]))
                 for entry in json.loads(index.read_text()))


def _read_index(tarball: Path) -> list[BundledGem]:
    """gems/bundled_gems and the specifications of the gems it names, in one pass over the tarball."""
    texts: dict[str, str] = {}
    with tarfile.open(tarball) as archive:
        for member in archive:
            parts = member.name.split("/", 1)
            if len(parts) == 2 and member.isfile() and (parts[1] == LISTING or parts[1].endswith(".gemspec")
                                                         and parts[1].startswith(BUNDLE + "/")):
                handle = archive.extractfile(member)
                texts[parts[1]] = handle.read().decode("utf-8", "replace") if handle else ""
    if LISTING not in texts:
        raise UserError(f"{tarball.name} has no {LISTING}: it is not a CRuby source tarball the series' bundled gems "
                        "can be installed from. Check the ruby recipe's sources.")
    gems = []
    for name, version in _listing(texts[LISTING]):
        full_name = f"{name}-{version}"
        # The generated, complete specification (the one a .gem carries), never a gem's own
        # gemspec, which may run git to list its files.
        spec = next((path for path in (f"{BUNDLE}/specifications/{full_name}.gemspec",
                                       f"{BUNDLE}/gems/{full_name}/{full_name}.gemspec") if path in texts), None)
        if spec is None:
            raise UserError(f"{tarball.name}: {LISTING} names {full_name}, and the tarball carries no specification "
                            f"of it in {BUNDLE}/specifications or {BUNDLE}/gems/{full_name}. The source is incomplete; "
                            "check the ruby recipe's sources.")
        declared = EXTENSIONS_RE.search(texts[spec])
        gems.append(BundledGem(name, version, spec, tuple(QUOTED_RE.findall(declared.group(1))) if declared else ()))
    return gems


def _listing(text: str) -> list[tuple[str, str]]:
    """(name, version) of each gem line: `name version repository [revision]`, # comments."""
    return [(fields[0], fields[1]) for fields in (line.split() for line in text.splitlines())
            if len(fields) >= 2 and not fields[0].startswith("#")]


@dataclass(frozen=True)
class BundledGemSource:
    """A bundled gem's tree in the Ruby source, as a gem extension build sees a gem: one per
    extconf.rb its specification declares. Not a build of its own: the tree is the Ruby build's."""
    ruby: RubyBuild
    gem: BundledGem
    extconf: str

    @property
    def name(self) -> str:
        return self.gem.name

    @property
    def version(self) -> str:
        return self.gem.version

    @property
    def extension(self) -> Extension:
        return Extension(str(Path(self.extconf).parent))

    @property
    def library_names(self) -> tuple[str, ...]:
        return ()

    @property
    def origin(self) -> str:
        return f"bundled gem {self.gem.full_name} of {self.ruby.source.filename}"

    @functools.cached_property
    def key(self) -> str:
        inputs = {"bundled_gem": self.gem.full_name, "extconf": self.extconf, "source": self.ruby.source.sha256}
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()

    def tree(self) -> Path:
        return self.ruby.source_root / BUNDLE / "gems" / self.gem.full_name


def sources_with_extensions(ruby: RubyBuild) -> tuple[BundledGemSource, ...]:
    return tuple(BundledGemSource(ruby, gem, extconf) for gem in listed(ruby) for extconf in gem.extconfs)


@dataclass(frozen=True)
class BundledInstall(KeyedBuild):
    """The bundled gems and Ruby's commands, installed into a tree laid out as the wasm's /."""
    ruby: RubyBuild
    prelinked: tuple[str, ...]  # the gems whose extensions ruby.wasm has prelinked

    def inputs(self) -> dict:
        return {"ruby": self.ruby.key, "gems": [gem.__dict__ for gem in listed(self.ruby)],
                "script": sha256_file(INSTALL_SCRIPT), "prelinked": list(self.prelinked),
                "socket": sha256_file(SOCKET), "smoke_features": smoke_features(),
                "extensions_dir": self.extensions_dir}

    @property
    def label(self) -> str:
        return f"bundled-gems-{self.ruby.recipe.version}"

    @property
    def tree(self) -> Path:
        return self.build_dir / "root"

    @property
    def gem_dir(self) -> str:
        return f"{PREFIX}/lib/ruby/gems/{self.ruby.abi}"

    @property
    def extensions_dir(self) -> str:
        """Where RubyGems looks for a gem's built extensions in the wasm: Gem::Platform.local and
        Gem.extension_api_version there, the ABI marked -static since CRuby is linked statically."""
        return f"{self.gem_dir}/extensions/{TARGET}/{self.ruby.abi}-static"

    @property
    def phases(self) -> PhasedBuild:
        return PhasedBuild(self.build_dir, {})

    def trees(self) -> tuple[tuple[Path, str], ...]:
        """(host directory, its path in the wasm's tree) of what the install adds."""
        return ((self.tree, ""),)


def install(bundled: BundledInstall) -> Path:
    """Install the bundled gems and the commands, once; return the tree."""
    ruby, gems = bundled.ruby, listed(bundled.ruby)
    phases = bundled.phases
    if phases.done("install"):
        return bundled.tree
    baseruby = build_native(ruby.host_build)  # here already, unless Ruby's install tree was pulled
    listing = bundled.build_dir / "bundled_gems"
    bundled.build_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(listing, "".join(f"{gem.name} {gem.version} {gem.spec}\n" for gem in gems).encode())
    shutil.rmtree(bundled.tree, ignore_errors=True)
    _copy_commands(ruby, bundled.tree / BIN_DIR.lstrip("/"))
    socket = bundled.tree / PREFIX.lstrip("/") / "lib" / "ruby" / ruby.abi / TARGET / "socket.rb"
    socket.parent.mkdir(parents=True)
    shutil.copy2(SOCKET, socket)
    phases.run("install", f"install {len(gems)} bundled gems of Ruby {ruby.recipe.version}",
               [str(baseruby), str(INSTALL_SCRIPT), str(listing),
                str(ruby.source_root), str(bundled.tree), bundled.gem_dir, BIN_DIR,
                bundled.extensions_dir, ",".join(bundled.prelinked)], cwd=bundled.build_dir)
    return bundled.tree


def _copy_commands(ruby: RubyBuild, destination: Path) -> None:
    """The commands `make install` wrote beside ruby (gem, bundle, irb, erb, rdoc, ri, ...): Ruby
    scripts that start the wasm's ruby. The wasm itself is the artifact's ruby.wasm."""
    destination.mkdir(parents=True)
    for command in sorted((ruby.install_dir / BIN_DIR.lstrip("/")).iterdir()):
        if command.name != "ruby":
            shutil.copy2(command, destination / command.name)


def smoke_script(bundled: BundledInstall) -> Path:
    """Checks that every gem the source lists is installed at its version, activates, loads (its
    main file, named after it as RubyGems names it: net-smtp's is net/smtp) and has its
    extensions, with the smoke checks' `check` helper. Written beside the install."""
    lines = ["# Generated by the ruby-wasm toolchain from gems/bundled_gems.\n"]
    for gem in listed(bundled.ruby):
        lines.append(
            f'check("bundled gem {gem.full_name}") do\n'
            f'  gem {gem.name!r}, "= {gem.version}"\n'
            f'  spec = Gem.loaded_specs.fetch({gem.name!r})\n'
            f'  require {smoke_feature(gem.name)!r}\n'
            f'  spec.version.to_s == {gem.version!r} && !spec.missing_extensions?\n'
            "end\n")
    script = bundled.build_dir / "bundled-gems-smoke.rb"
    write_atomic(script, "".join(lines).encode())
    return script


def smoke_feature(name: str) -> str:
    """The file a bundled gem's smoke check requires: the one named after the gem, as RubyGems
    names it (net-smtp's is net/smtp), unless verification/bundled-gems.toml names another."""
    return smoke_features().get(name, name.replace("-", "/"))


def smoke_features() -> dict[str, str]:
    """The file each bundled gem's smoke check requires where it is not the one named after it
    (verification/bundled-gems.toml)."""
    table = tomllib.loads(SMOKE_REQUIRES.read_text()).get("require", {})
    return {name: entry["feature"] for name, entry in table.items()}
