"""Ruby's bundled gems and commands on the full artifact and its box, as a user reaches them: each
gem the source's gems/bundled_gems names loads at that version, `gem list` lists them, rake runs
a Rakefile, Bundler runs a Gemfile's command, irb reads a line, and what they do matches the
native twin running the same gems' files. Also what those gems need of the system: File::NULL
(the resolver of every gem command's wrapper writes to it) and socket, which WASI lacks (a
library that requires it loads, and a connection fails with a SystemCallError naming the call)."""
from __future__ import annotations

import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from toolchain.compile import bundled, cruby
from toolchain.run.runner import BOX_NO_ENTRY, DEFAULT_PROFILE, Mount, RubyWasm

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def build() -> cruby.RubyBuild:
    return cruby.plan("3.3", DEFAULT_PROFILE, "auto", fetch_missing=False, quiet=True)


@pytest.fixture(scope="module")
def listed_gems(build) -> list[tuple[str, str]]:
    """gems/bundled_gems, read from the Ruby source tarball itself (the unpacked tree's copy is
    emptied for CRuby's make install): every gem line's name and version."""
    with tarfile.open(build.tarball) as archive:
        member = next(m for m in archive if m.name.endswith("/gems/bundled_gems"))
        text = archive.extractfile(member).read().decode()
    gems = [tuple(line.split()[:2]) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert len(gems) >= 10, text
    return gems


@pytest.fixture(scope="module")
def ruby(artifact) -> RubyWasm:
    return RubyWasm(artifact)


def wasm(ruby: RubyWasm, args: list[str], **options) -> str:
    result = ruby.capture(args, timeout=180, **options)
    assert result.exit_code == 0 and not result.trap, result.stdout + result.stderr + str(result.trap)
    return result.stdout


def gem_lib(build: cruby.RubyBuild, name: str, version: str) -> Path:
    return build.source_root / ".bundle" / "gems" / f"{name}-{version}" / "lib"


def test_each_listed_gem_loads_at_its_version_and_gem_list_lists_it(ruby, listed_gems):
    checks = "".join(
        f'gem {name!r}, "= {version}"; require {bundled.smoke_feature(name)!r}; '
        f'puts "{name} #{{Gem.loaded_specs.fetch({name!r}).version}} #{{Gem.loaded_specs[{name!r}].missing_extensions?}}"\n'
        for name, version in listed_gems)
    # test-unit runs the tests it finds at exit, as it does natively, unless told not to
    checks += "Test::Unit::AutoRunner.need_auto_run = false if defined?(Test::Unit::AutoRunner)\n"
    loaded = wasm(ruby, ["-e", checks]).splitlines()
    assert loaded == [f"{name} {version} false" for name, version in listed_gems]
    listing = wasm(ruby, ["-S", "gem", "list"])
    for name, version in listed_gems:
        assert re.search(rf"^{re.escape(name)} \({re.escape(version)}\)$", listing, re.MULTILINE), listing


def test_commands_start_from_path_with_their_gems_versions(ruby, listed_gems):
    versions = dict(listed_gems)
    assert wasm(ruby, ["-S", "rake", "--version"]).strip() == f"rake, version {versions['rake']}"
    assert wasm(ruby, ["-S", "racc", "--version"]).strip() == f"racc version {versions['racc']}"
    assert wasm(ruby, ["-S", "rbs", "--version"]).strip() == f"rbs {versions['rbs']}"
    assert wasm(ruby, ["-S", "bundle", "--version"]).startswith("Bundler version ")
    assert wasm(ruby, ["-S", "gem", "--version"]).strip() == wasm(ruby, ["-e", "print Gem::VERSION"])


RAKEFILE = """
desc "Count the words of the files given"
task :count, [:glob] do |_task, args|
  counts = Dir[args[:glob]].sort.to_h { |path| [File.basename(path), File.read(path).split.size] }
  counts.each { |name, words| puts "#{name}: #{words}" }
end
file "total.txt" => Dir["notes/*.txt"] do |t|
  File.write(t.name, t.prerequisites.sum { |path| File.read(path).split.size }.to_s)
end
task default: ["total.txt"]
"""


def test_rake_runs_a_rakefile_as_on_the_twin(ruby, build, twin, listed_gems, tmp_path):
    """rake -T, a task with arguments, and a file task that writes, in a project directory: the
    wasm through /usr/local/bin/rake, the twin through the same rake's files."""
    rake = gem_lib(build, "rake", dict(listed_gems)["rake"])
    outputs = {}
    for side in ("wasm", "native"):
        project = tmp_path / side
        (project / "notes").mkdir(parents=True)
        (project / "Rakefile").write_text(RAKEFILE)
        for index, text in enumerate(["one two three", "four five", "six"]):
            (project / "notes" / f"{index}.txt").write_text(text)
        if side == "wasm":
            def run(*args: str) -> str:
                return wasm(ruby, ["-C", "/project", "-S", "rake", *args], mounts=[Mount(project, "/project")])
        else:
            def run(*args: str) -> str:
                return subprocess.run([str(twin), "-I", str(rake), str(rake.parent / "exe" / "rake"), *args], cwd=project,
                                      capture_output=True, text=True, timeout=120, check=True).stdout
        outputs[side] = [run("-T"), run("count[notes/*.txt]"), run(), (project / "total.txt").read_text()]
    assert outputs["wasm"] == outputs["native"]
    assert outputs["wasm"][3] == "6"


def test_bundle_exec_runs_a_gemfile_command_with_its_gems(ruby, listed_gems, tmp_path):
    """A project whose Gemfile names bundled gems: Bundler resolves it from what is installed
    (no network), writes Gemfile.lock, and `bundle exec rake` runs with exactly those gems."""
    versions = dict(listed_gems)
    (tmp_path / "Gemfile").write_text(f'source "https://rubygems.org"\ngem "rake", "{versions["rake"]}"\n'
                                      f'gem "rexml", "{versions["rexml"]}"\n')
    (tmp_path / "Rakefile").write_text('task(:show) { require "rexml/document"; '
                                       'puts REXML::Document.new("<a><b>hi</b></a>").root.elements["b"].text; '
                                       'puts Gem.loaded_specs.keys.sort.grep(/\\A(rake|rexml|minitest)\\z/).join(",") }\n')
    output = wasm(ruby, ["-C", "/project", "-S", "bundle", "exec", "rake", "show"],
                  mounts=[Mount(tmp_path, "/project")], env={"HOME": "/project"})
    assert output.splitlines()[-2:] == ["hi", "rake,rexml"]
    lock = (tmp_path / "Gemfile.lock").read_text()
    assert f"rexml ({versions['rexml']})" in lock and f"rake ({versions['rake']})" in lock


def native_extensions(build: cruby.RubyBuild, twin: Path, versions: dict[str, str], tmp_path: Path) -> list[str]:
    """rbs's and racc's extensions built for the twin from the same sources (the twin installs no
    bundled gems): the directories to put first on its load path."""
    directories = []
    for name, extension, feature_dir in (("rbs", "ext/rbs_extension", ""), ("racc", "ext/racc/cparse", "racc")):
        source = build.source_root / ".bundle" / "gems" / f"{name}-{versions[name]}" / extension
        obj = tmp_path / name
        obj.mkdir()
        for command in ([str(twin), str(source / "extconf.rb")], ["make", "-j2"]):
            subprocess.run(command, cwd=obj, capture_output=True, text=True, timeout=300, check=True)
        if feature_dir:  # racc/cparse.so: required as racc/cparse
            (obj / feature_dir).mkdir()
            for built in obj.glob("*.so"):
                built.rename(obj / feature_dir / built.name)
        directories.append(str(obj))
    return directories


def test_bundled_gems_compute_as_on_the_twin(ruby, build, twin, listed_gems, tmp_path):
    """Work done by the gems' Ruby code and their prelinked extensions (racc's parser core, rbs's
    parser), compared with the twin running the same gems' files."""
    program = """
    require "rexml/document"; require "matrix"; require "prime"; require "rbs"; require "racc/parser"
    doc = REXML::Document.new("<r><i n='1'>a</i><i n='2'>b</i></r>")
    p doc.root.elements.to_a("i").map { |e| [e.attributes["n"], e.text] }
    p Matrix[[2, 1], [1, 3]].inverse.to_a, Matrix[[1, 2], [3, 4]].determinant
    p Prime.first(12), 1_000_003.prime?, 360.prime_division
    p RBS::Parser.parse_method_type("(Integer, ?String) -> Array[Symbol]").to_s
    p Racc::Parser::Racc_Runtime_Core_Version_C rescue p :no_c_core
    """
    on_wasm = wasm(ruby, ["-e", program])
    libs = [arg for name, version in listed_gems for arg in ("-I", str(gem_lib(build, name, version)))]
    extensions = [arg for directory in native_extensions(build, twin, dict(listed_gems), tmp_path) for arg in ("-I", directory)]
    native = subprocess.run([str(twin), *extensions, *libs, "-e", program], capture_output=True, text=True, timeout=120)
    assert native.returncode == 0, native.stderr
    assert on_wasm == native.stdout


def test_irb_reads_and_evaluates_lines(ruby, tmp_path):
    stdin = tmp_path / "stdin"
    stdin.write_text("x = [3, 1, 2].sort\nputs x.sum * 7\n")
    output = wasm(ruby, ["-S", "irb", "--noprompt", "--nocolorize"], stdin=stdin)
    assert "42" in output.splitlines(), output


def test_the_null_device_reads_empty_and_swallows_writes_as_on_the_twin(ruby, twin):
    program = 'File.write(File::NULL, "x" * 100_000); p File.read(File::NULL), File.open(File::NULL, "w") { |f| f.stat.chardev? }'
    native = subprocess.run([str(twin), "-e", program], capture_output=True, text=True, timeout=60, check=True)
    assert wasm(ruby, ["-e", program]) == native.stdout == '""\ntrue\n'


def test_network_libraries_load_and_a_connection_fails_with_a_system_call_error(ruby):
    program = """
    require "net/http"; require "net/smtp"; require "net/imap"; require "net/ftp"; require "net/pop"; require "open-uri"
    [-> { Net::HTTP.get(URI("http://127.0.0.1:9/")) }, -> { TCPSocket.new("127.0.0.1", 9) },
     -> { Socket.getaddrinfo("localhost", 80) }, -> { URI.open("http://127.0.0.1:9/") }].each do |connect|
      connect.()
      puts "connected"
    rescue SystemCallError => e
      puts "#{e.class}: #{e.message[/(?:TCPSocket|Socket|Addrinfo)[.]\\w+(?:[(][^)]*[)])?/]}"
    end
    """
    assert wasm(ruby, ["-e", program]).splitlines() == [
        "Errno::ENOSYS: TCPSocket.open", "Errno::ENOSYS: TCPSocket.new", 'Errno::ENOSYS: Socket.getaddrinfo("localhost")',
        "Errno::ENOSYS: TCPSocket.open"]


def test_a_box_of_the_full_profile_has_the_bundled_gems_and_commands(box, listed_gems):
    """The README's box (nokogiri, bcrypt and an app, on the full profile), as the plain ruby it holds."""
    runner, as_ruby = RubyWasm(box), {BOX_NO_ENTRY: "1"}
    versions = dict(listed_gems)
    assert wasm(runner, ["-S", "rake", "--version"], env=as_ruby).strip() == f"rake, version {versions['rake']}"
    checks = "".join(f'gem {name!r}, "= {version}"; puts Gem.loaded_specs.fetch({name!r}).version\n'
                     for name, version in listed_gems)
    assert wasm(runner, ["-e", checks], env=as_ruby).split() == [version for _, version in listed_gems]
    program = 'require "rexml/document"; require "rbs"; puts REXML::Document.new("<a>ok</a>").root.text, RBS::VERSION'
    assert wasm(runner, ["-e", program], env=as_ruby) == f"ok\n{versions['rbs']}\n"
