"""What a new user does in the first hour, on the real artifact under the real wasmtime, against
the native twin where it has an answer: Timeout without threads, irb and io/console on a terminal
that cannot be put in raw mode, commands that cannot start (and wrong arguments to them), a
script with a syntax error, a program whose handler runs with memory full, a require that loads
a transcoder from a non-ASCII load path, touching a file, an empty path."""
from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from toolchain.run.runner import Mount, RubyWasm

pytestmark = pytest.mark.e2e
PROGRAMS = Path(__file__).parent / "programs"


@pytest.fixture(scope="module")
def ruby(artifact) -> RubyWasm:
    return RubyWasm(artifact)


def wasm(ruby: RubyWasm, code: str, **options) -> str:
    result = ruby.capture(["-e", code], timeout=120, **options)
    assert result.exit_code == 0 and not result.trap, result.stdout + result.stderr + str(result.trap)
    return result.stdout


TIMEOUTS = """
require "timeout"
p Timeout.timeout(1) { 42 }
started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
# on time: not before the deadline, and long before the block would end (or never, for `loop`)
on_time = -> { (0.3..3).cover?(Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) }
begin
  Timeout.timeout(0.3) { loop {} }
rescue Timeout::Error => e
  p [e.class, e.message, on_time.()]
end
started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
begin
  Timeout.timeout(0.3) { sleep 5 }
rescue Timeout::Error
  p [:sleep, on_time.()]
end
class Late < StandardError; end
begin
  Timeout.timeout(0.2, Late, "too late") { Fiber.new { loop {} }.resume }
rescue Late => e
  p [e.class, e.message]
end
p Timeout.timeout(1) { Timeout.timeout(0.2) { :inner } }
p((Timeout.timeout(0.2) { Thread.handle_interrupt(Timeout::ExitException => :never) { sleep 0.4; :deferred } } rescue $!.class))
begin
  Timeout.timeout(0.2) { begin; sleep 1; ensure; puts "ensure ran"; end }
rescue Timeout::Error
  puts "raised after the ensure"
end
"""


def test_timeout_works_without_threads_as_on_the_twin(ruby, twin):
    native = subprocess.run([str(twin), "-e", TIMEOUTS], capture_output=True, text=True, timeout=60)
    assert wasm(ruby, TIMEOUTS) == native.stdout
    assert native.stdout.startswith('42\n[Timeout::Error, "execution expired", true]\n[:sleep, true]\n')


def test_io_console_irb_and_rdoc_load(ruby):
    assert wasm(ruby, 'require "irb"; require "rdoc"; p [IRB::VERSION.class, RDoc::Stats::Normal]') == \
        "[String, RDoc::Stats::Normal]\n"
    assert wasm(ruby, 'require "io/console"; p [$stdout.winsize] rescue p $!.class') == "Errno::ENOTTY\n"


def on_a_terminal(argv: list[str], typed: bytes, seconds: float = 60) -> bytes:
    """Run argv on a pseudo-terminal, typing `typed`; everything it showed."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    os.write(fd, typed)
    shown, deadline = b"", time.monotonic() + seconds
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 1)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    os.waitpid(pid, 0)
    return shown


def test_irb_runs_on_a_terminal_that_cannot_go_raw(artifact):
    runner = [sys.executable, "-m", "toolchain.run", "--artifact", str(artifact.directory)]
    shown = on_a_terminal([*runner, "-e", 'require "irb"; IRB.start'], b"6 * 7\nputs :hello\nexit\n")
    assert b"=> 42" in shown and b"hello" in shown, shown
    command = on_a_terminal([*runner, "-S", "irb"], b"[3, 4].sum * 6\nexit\n")  # /usr/local/bin/irb, from PATH
    assert b"=> 42" in command, command
    raw = on_a_terminal([*runner, "-e", 'require "io/console"; p $stdout.winsize; $stdin.raw { }'], b"")
    assert b"NotImplementedError" in raw and b"WASI cannot change a terminal's mode" in raw, raw


# Every way of starting a command, each answered as code that shells out inside a bare rescue
# sees it: natively for a command that is not installed, on WASI for any command.
PROCESS_STARTS = """
command = ARGV[0]
[-> { system(command) }, -> { `#{command}` }, -> { spawn(command) }, -> { IO.popen(command).read },
 -> { IO.popen([command, "an argument"], "r+") { |io| io.read } }, -> { open("|#{command}").read },
 -> { system(command, exception: true) }, -> { exec(command) }].each do |start|
  p start.()
rescue => e
  p [e.class.superclass, e.message.end_with?(command)]
end
"""


def test_a_command_that_cannot_start_answers_as_a_missing_one_does_on_the_twin(ruby, twin):
    """WASI starts no process: system returns nil and the others raise a SystemCallError naming
    the command, which a bare rescue catches, as natively for a command that is not installed."""
    missing = "no-such-command-here"
    native = subprocess.run([str(twin), "-e", PROCESS_STARTS, missing], capture_output=True, text=True, timeout=60)
    assert native.stdout == "nil\n" + "[SystemCallError, true]\n" * 7, native.stdout + native.stderr
    assert wasm(ruby, f"ARGV.replace([{missing!r}])\n{PROCESS_STARTS}") == native.stdout
    assert wasm(ruby, f"ARGV.replace(['ls'])\n{PROCESS_STARTS}") == native.stdout  # an installed one too


WRONG_PROCESS_ARGUMENTS = """
[-> { exec }, -> { system }, -> { spawn }, -> { system(nil) }, -> { spawn("ls", bogus: 1) },
 -> { IO.popen(1) }, -> { system("ls", exception: 1, out: Object.new) }].each do |start|
  start.()
rescue ArgumentError, TypeError => e
  p [e.class, e.message]
end
"""


def test_starting_a_process_with_wrong_arguments_raises_as_on_the_twin(ruby, twin):
    native = subprocess.run([str(twin), "-e", WRONG_PROCESS_ARGUMENTS], capture_output=True, text=True, timeout=60)
    assert wasm(ruby, WRONG_PROCESS_ARGUMENTS) == native.stdout
    assert native.stdout.count("\n") == 7


FILE_EDGES = """
require "fileutils"
Dir.chdir(ARGV[0])
File.write("old", "x")
File.utime(Time.at(0), Time.at(0), "old")
FileUtils.touch("old")
p((Time.now - File.mtime("old")).abs < 60)
File.utime(Time.at(0), Time.at(0), "old")
File.utime(nil, nil, "old")
p((Time.now - File.atime("old")).abs < 60, (Time.now - File.mtime("old")).abs < 60)
p File.exist?(""), File.directory?(""), File.file?(""), File.readable?("")
[-> { File.open("") }, -> { File.stat("") }, -> { File.read("") }, -> { Dir.mkdir("") },
 -> { Dir.children("") }, -> { File.unlink("") }].each do |call|
  call.()
  p :succeeded
rescue SystemCallError => e
  p e.class
end
"""


def test_touching_a_file_and_an_empty_path_answer_as_on_the_twin(ruby, twin, tmp_path):
    (tmp_path / "native").mkdir()
    (tmp_path / "wasm").mkdir()
    native = subprocess.run([str(twin), "-e", FILE_EDGES, str(tmp_path / "native")],
                            capture_output=True, text=True, timeout=60)
    assert native.returncode == 0, native.stderr
    result = ruby.capture(["-e", FILE_EDGES, "/w"], mounts=[Mount(tmp_path / "wasm", "/w", True)], timeout=120)
    assert (result.stdout, result.exit_code) == (native.stdout, 0), result.stderr
    assert native.stdout == "true\n" * 3 + "false\n" * 4 + "Errno::ENOENT\n" * 6


def test_a_script_with_a_syntax_error_says_what_and_where_as_on_the_twin(ruby, twin, tmp_path):
    (tmp_path / "bad.rb").write_text('puts "hi"\ndef foo(\n  1 +\nend\n')
    native = subprocess.run([str(twin), str(tmp_path / "bad.rb")], capture_output=True, text=True)
    result = ruby.capture(["/app/bad.rb"], mounts=[Mount(tmp_path, "/app", False)], timeout=120)
    assert result.exit_code == native.returncode == 1
    assert result.stderr.replace("/app/", str(tmp_path) + "/") == native.stderr
    assert "syntax error, unexpected integer literal, expecting ')'" in result.stderr


def test_a_handler_runs_while_memory_stays_full(ruby):
    result = ruby.capture(["/programs/handler_without_memory.rb"], mounts=[Mount(PROGRAMS, "/programs", False)],
                          memory_limit=128 << 20, timeout=300)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.startswith("recovered from NoMemoryError with ") and result.stdout.endswith("2000\nafter: 1000\n")


TRANSCODER_FROM_A_NON_ASCII_LOAD_PATH = """
Encoding.default_external = "cp932"
Encoding.default_internal = "utf-8"
$LOAD_PATH.unshift(ARGV[0])
require "json"
require "set"
p JSON.generate([Set[1].size])
"""


def test_a_require_through_a_non_ascii_load_path_loads_its_transcoder_once(ruby, twin, tmp_path):
    """CRuby 3.3.8's own crash (TestRubyOptions#test_cwd_encoding, patches/ruby-3.3/0021), on the
    twin ([BUG] vm_call_cfunc: cfp consistency error) and the wasm (a trap) alike."""
    directory = tmp_path / "\u30c6\u30b9\u30c8"
    directory.mkdir()
    native = subprocess.run([str(twin), "-e", TRANSCODER_FROM_A_NON_ASCII_LOAD_PATH, str(directory)],
                            capture_output=True, text=True, timeout=60)
    assert (native.returncode, native.stdout) == (0, '"[1]"\n'), native.stderr[-2000:]
    result = ruby.capture(["-e", TRANSCODER_FROM_A_NON_ASCII_LOAD_PATH, "/w/\u30c6\u30b9\u30c8"],
                          mounts=[Mount(tmp_path, "/w", False)], timeout=120)
    assert (result.exit_code, result.stdout, result.trap) == (0, '"[1]"\n', None), result.stderr[-2000:]
    # the test itself: a script in that directory requiring its neighbour, RUBYLIB=. and -E cp932:utf-8
    (directory / "a.rb").write_text("require './b'\n")
    (directory / "b.rb").write_text("puts 'ok'\n")
    result = ruby.capture(["-C", "/w/\u30c6\u30b9\u30c8", "-E", "cp932:utf-8", "a.rb"], env={"RUBYLIB": "."},
                          mounts=[Mount(tmp_path, "/w", False)], timeout=120)
    assert (result.exit_code, result.stdout, result.trap) == (0, "ok\n", None), result.stderr[-2000:]
