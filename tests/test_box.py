"""Boxes end to end: one pre-initialized module with ruby, the standard library, nokogiri and
bcrypt (their extensions prelinked) and an app, built by `doit box` with the real toolchain and
Wizer, run with no directory granted under the project's runner and under Node's node:wasi.

One box serves every test (the README's command, on the shared cache); a program that is not the
app runs with RUBY_BOX_NO_ENTRY=1, which makes an app box the plain ruby it holds.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli import assert_did_no_work, doit
from conftest import BOX_ARGS

from toolchain.compile import box as box_module
from toolchain.compile import image
from toolchain.run.runner import BOX_NO_ENTRY, Artifact, Mount, RubyWasm, artifact_dir

pytestmark = pytest.mark.e2e
APP = Path(__file__).parent / "programs" / "box_app"
NODE_RUNNER = Path(__file__).parent.parent / "toolchain" / "run" / "node_runner.mjs"
AS_RUBY = {BOX_NO_ENTRY: "1"}


@pytest.fixture(scope="session")
def runner(box) -> RubyWasm:
    return RubyWasm(box)


def ruby(runner: RubyWasm, code: str, env: dict | None = None, **options) -> str:
    result = runner.capture(["-e", code], env={**AS_RUBY, **(env or {})}, **options)
    assert result.exit_code == 0 and not result.trap, result.stdout + result.stderr + str(result.trap)
    return result.stdout


def expected_app_output(name: str, *args: str) -> str:
    return (f"hello, {name}\npacked\ntrue\n/app/main.rb /app/main.rb {list(args)!r}\n1\n").replace("'", '"')


def test_the_box_is_one_file_and_its_manifest_names_what_it_holds(box):
    assert sorted(path.name for path in box.directory.iterdir()) == ["SHA256SUMS", "manifest.json", "ruby.wasm",
                                                                     "smoke.json"]
    manifest = json.loads(box.manifest.read_text())
    assert manifest["inputs"]["box"] == {"gems": ["nokogiri", "bcrypt"], "entry": "/app/main.rb"}
    assert {"nokogiri/nokogiri.so", "bcrypt_ext.so"} <= set(manifest["features"])
    assert json.loads((box.directory / "smoke.json").read_text())["ok"]


def test_the_app_runs_with_its_gems_and_no_directory_granted(box):
    result = subprocess.run([sys.executable, "-m", "toolchain.run", str(box.wasm), "world", "--flag"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected_app_output("world", "world", "--flag")


def test_the_app_runs_under_node_too(box):
    result = subprocess.run(["node", str(NODE_RUNNER), str(box.wasm), "node"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected_app_output("node", "node")


def test_plain_ruby_under_node_reads_a_granted_directory_and_exits_with_the_status(box, tmp_path):
    (tmp_path / "in.txt").write_text("from the host")
    result = subprocess.run(["node", str(NODE_RUNNER), "--dir", f"{tmp_path}::/work", "--env", "RUBY_BOX_NO_ENTRY=1",
                             str(box.wasm), "-e", 'print File.read("/work/in.txt"); exit 7'],
                            capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (7, "from the host")


def test_packed_files_are_readable_and_not_writable(runner):
    code = """
    puts File.read("/app/lib/greeting.rb").lines.first
    puts File.size("/usr/local/lib/ruby/3.3.0/set.rb") > 0
    [-> { File.write("/app/main.rb", "x") }, -> { File.open("/app/main.rb", "r+") },
     -> { File.open("/app/new.rb", "w") }, -> { File.delete("/app/main.rb") },
     -> { Dir.mkdir("/app/dir") }, -> { File.rename("/app/main.rb", "/app/moved.rb") }].each do |change|
      change.call
      puts "changed!"
    rescue SystemCallError => error
      puts error.class
    end
    """
    assert ruby(runner, code).splitlines() == ["module Greeting", "true", *["Errno::EROFS"] * 6]


def test_a_granted_directory_is_writable_and_the_host_sees_it(runner, tmp_path):
    out = ruby(runner, 'File.write("/work/out.txt", "written"); puts File.read("/work/out.txt"); '
                       'puts Dir.children("/work")', mounts=[Mount(tmp_path, "/work")])
    assert out.split() == ["written", "out.txt"]
    assert (tmp_path / "out.txt").read_text() == "written"


def test_nothing_else_on_the_host_is_visible(runner):
    code = """
    p Dir.children("/").sort
    p ["/etc/passwd", "/tmp", "/root", "/proc/self", "/usr/bin", "/app/../../etc/passwd"].map { |path| File.exist?(path) }
    p File.expand_path("/app/../..")
    begin
      File.read("/etc/hostname")
    rescue SystemCallError => error
      p error.class
    end
    """
    assert ruby(runner, code).splitlines() == ['["app", "usr"]', "[false, false, false, false, false, false]", '"/"',
                                               "Errno::ENOENT"]


def test_the_packed_tree_lists_as_the_unpacked_artifact_does(runner):
    """Directory listing, stat and reading through the VFS give what the unpacked artifact's real
    directory gives for the same standard library."""
    code = ('files = Dir.glob("/usr/local/lib/ruby/3.3.0/**/*", File::FNM_DOTMATCH).sort; '
            'puts files.size, files.sum { |f| File.file?(f) ? File.size(f) : 0 }, '
            'files.select { |f| File.directory?(f) }.size, File.read(files.grep(/\\.rb\\z/).last).bytesize')
    unpacked = RubyWasm(Artifact(artifact_dir("3.3", "full")))
    expected = unpacked.capture(["-e", code])
    assert expected.exit_code == 0, expected.stderr
    assert ruby(runner, code) == expected.stdout


def test_argv_env_and_random_come_from_the_run_not_the_snapshot(runner):
    code = 'p ARGV, ENV["GREETING"], ENV.keys.sort, rand, Random.new_seed, Time.now.to_i, $stdout.tty?'
    first = runner.capture(["-e", code, "a", "b"], env={**AS_RUBY, "GREETING": "hi"})
    second = runner.capture(["-e", code, "c"], env={**AS_RUBY, "GREETING": "ho"})
    assert first.exit_code == 0 and second.exit_code == 0, first.stderr + second.stderr
    one, two = first.stdout.splitlines(), second.stdout.splitlines()
    # PATH is the runner's, as for every run (where Ruby's commands are)
    assert (one[0], one[1], one[2]) == ('["a", "b"]', '"hi"', '["GREETING", "PATH", "RUBY_BOX_NO_ENTRY"]')
    assert (two[0], two[1]) == ('["c"]', '"ho"')
    assert one[3] != two[3] and one[4] != two[4]  # rand and a new seed differ from run to run
    assert abs(int(one[5]) - time.time()) < 120  # the host's clock, not the build's
    assert one[6] == "false"


HASHES_AND_TABLES = """
p ["a".hash, :"a dynamic #{1}".hash, 1.hash, 1.0.hash]
# what start-up hashed with the snapshot's seed is found again under this run's
interned = $LOADED_FEATURES.first
p [Symbol.all_symbols.all? { |s| s.to_s.to_sym.equal?(s) }, (-interned.dup).equal?(interned),
   Gem::Specification.find_by_name("json").name, RbConfig::CONFIG["ruby_version"], require("set")]
"""


def test_each_run_hashes_with_a_seed_of_its_own(runner):
    """No hash flooding protection is lost by starting from a snapshot: two runs of one box hash
    "a" differently, as two ruby processes do, and every table start-up built still finds its
    entries (symbols, frozen strings, RubyGems' specifications)."""
    first, second = (runner.capture(["-e", HASHES_AND_TABLES], env=AS_RUBY, timeout=120) for _ in range(2))
    assert first.exit_code == 0 and second.exit_code == 0, first.stderr + second.stderr
    hashes_one, hashes_two = first.stdout.splitlines()[0], second.stdout.splitlines()[0]
    assert hashes_one != hashes_two
    assert first.stdout.splitlines()[1] == second.stdout.splitlines()[1] == '[true, true, "json", "3.3.0", false]'


def test_io_select_answers_for_a_packed_file(runner):
    code = ('f = File.open("/usr/local/lib/ruby/3.3.0/set.rb"); r, w, = IO.select([f], [f], [], 0); '
            'p [r.include?(f), w.include?(f), f.wait_readable(0).equal?(f), f.read(7)]')
    assert ruby(runner, code) == '[true, true, true, "# froze"]\n'


def test_load_path_options_and_rubylib_come_first_as_in_a_fresh_ruby(runner, tmp_path):
    code = "puts $LOAD_PATH.first(3)"
    env = {**AS_RUBY, "RUBYLIB": "/from/rubylib"}
    box = runner.capture(["-I", "/from/option", "-e", code], env=env)
    unpacked = RubyWasm(Artifact(artifact_dir("3.3", "full"))).capture(["-I", "/from/option", "-e", code], env=env)
    assert box.stdout == unpacked.stdout == "/from/option\n/from/rubylib\n/usr/local/lib/ruby/site_ruby/3.3.0\n"


def test_the_box_starts_with_rubygems_and_the_apps_requires_loaded(runner):
    out = ruby(runner, 'p defined?(Gem), defined?(Nokogiri), defined?(BCrypt), $LOADED_FEATURES.size > 100')
    assert out.split() == ['"constant"', '"constant"', '"constant"', "true"]


def test_fibers_start_in_a_box_whose_pool_was_left_for_the_run(runner):
    code = "f = Fiber.new { |x| Fiber.yield x * 2; :done }; p f.resume(21), f.resume, [1, 2, 3].each.next"
    assert ruby(runner, code).split() == ["42", ":done", "1"]


def test_the_snapshot_is_dense_enough_for_wasmtime_to_map_it_copy_on_write(box):
    """Ruby's start-up heap sits next to the static data, not above the 14 MB of the shape tree's
    map: else every instance copies the data (csrc/box_entry.c)."""
    data, span = box_module.active_data(box.wasm)
    assert data > 10 << 20 and span < 2 * data, (data, span)


def test_a_second_box_build_does_no_work(box_build):
    assert_did_no_work(doit(*BOX_ARGS), "box")


def test_box_options_are_checked_before_any_work():
    missing_entry = doit("box", "--app", str(APP))
    assert missing_entry.returncode != 0 and "--app and --entry go together" in missing_entry.stderr + missing_entry.stdout
    no_file = doit("box", "--app", str(APP), "--entry", "nope.rb")
    assert "--entry nope.rb: there is no file" in no_file.stderr + no_file.stdout
    bad_name = doit("box", "--name", "../x")
    assert "a box's name is its artifact directory's" in bad_name.stderr + bad_name.stdout


def test_the_image_packs_a_tree_deterministically_and_refuses_links(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.rb").write_text("z")
    (tmp_path / "a.rb").write_text("a")
    first = image.pack(tmp_path, 10**18)
    (tmp_path / "a.rb").touch()
    assert image.pack(tmp_path, 10**18) == first
    (tmp_path / "link").symlink_to(tmp_path / "a.rb")
    with pytest.raises(ValueError, match="symbolic link"):
        image.pack(tmp_path, 10**18)
