# Preloaded (-r) into ruby.wasm before test/runner.rb. It adapts CRuby's test harness to
# what WASI lacks, and nothing else; no test file is touched.
WASI_TEST_SOURCE = ENV.fetch("RUBY_TEST_SOURCE", "/src")  # where the driver grants the source tree

# tool/lib/zombie_hunter.rb asserts after every test that Process.waitall returns nothing.
# WASI has no child processes, so Process.waitall raises Errno::ENOTSUP and every test
# would error in teardown. Marking the file as loaded keeps the harness from installing it.
$LOADED_FEATURES << File.join(WASI_TEST_SOURCE, "tool/lib/zombie_hunter.rb")

# The socket extension cannot exist under WASI (preview 1 has no sockets). test/openssl/utils.rb
# requires it at the top, but uses it only in its SSL server helpers; marking it loaded lets the
# rest of test/openssl (digests, ciphers, keys, X.509, PKCS, ...) run, and each test that needs
# a socket fails with a NameError on Socket or TCPServer, which the plan lists (reason: socket).
$LOADED_FEATURES << File.join(RbConfig::CONFIG["rubylibdir"], "socket.rb")

# Child Rubies: EnvUtil.invoke_ruby (behind assert_in_out_err, assert_separately,
# assert_ruby_status, assert_normal_exit...) spawns `ruby` with pipes; here the child runs
# through the host's bridge as a fresh instance of the same artifact, with the same arguments,
# environment, stdin and working directory, and its output and status come back as spawn's would.
# A caller that talks to the child while it runs (a block, extra descriptors) needs real pipes.
require_relative "child_bridge"
require File.join(WASI_TEST_SOURCE, "tool/lib/envutil")
require File.join(WASI_TEST_SOURCE, "tool/lib/core_assertions")

module EnvUtil
  def invoke_ruby(args, stdin_data = "", capture_stdout = false, capture_stderr = false,
                  encoding: nil, timeout: 10, reprieve: 1, timeout_error: Timeout::Error,
                  stdout_filter: nil, stderr_filter: nil, ios: nil, signal: :TERM,
                  rubybin: EnvUtil.rubybin, precommand: nil, **opt)
    if block_given? || ios || precommand
      raise NotImplementedError, "invoke_ruby with a block, extra descriptors or a precommand talks to " \
                                 "the child while it runs, through pipes, which WASI does not have"
    end
    args = args.kind_of?(String) ? [args] : args.dup
    child_env = LANG_ENVS.to_h { |name| [name, "C"] }
    child_env.update(args.shift) if Hash === args.first
    child_env["RUBYLIB"] = [child_env["RUBYLIB"], RUBYLIB].join(File::PATH_SEPARATOR) if RUBYLIB && child_env["RUBYLIB"]
    env = opt[:unsetenv_others] ? {} : ENV.to_h
    child_env.each { |name, value| value.nil? ? env.delete(name) : env[name] = value }
    merged = capture_stderr == :merge_to_stdout || opt[:err] == [:child, :out]
    stdout, stderr, status = WasiChildBridge.run(args, program: rubybin, env: env, stdin: stdin_data.to_str,
                                                 chdir: opt[:chdir] || Dir.pwd, merged: merged)
    stderr = nil if merged
    stdout = _wasi_deliver(stdout, capture_stdout, opt[:out], STDOUT, encoding)
    stderr = _wasi_deliver(stderr, capture_stderr && capture_stderr != :merge_to_stdout, opt[:err], STDERR, encoding)
    stdout = stdout_filter.call(stdout) if stdout_filter && stdout
    stderr = stderr_filter.call(stderr) if stderr_filter && stderr
    if status.timed_out? && timeout_error
      raise timeout_error, "execution of #{caller_locations(1, 1)[0].label} expired timeout " \
                           "(#{apply_timeout_scale(timeout)} sec)\n#{stdout}#{stderr}"
    end
    [stdout, stderr, status]
  end
  module_function :invoke_ruby

  # Captured output is returned as a pipe would give it; the rest goes where spawn would send it.
  def _wasi_deliver(output, captured, redirect, standard, encoding)
    return nil if output.nil?
    return output.force_encoding(encoding || Encoding.default_external) if captured
    case redirect
    when nil then standard.write(output)
    when IO then redirect.write(output)
    when String then File.binwrite(redirect, output, mode: "ab") unless redirect == File::NULL
    end
    nil
  end
  module_function :_wasi_deliver
end

# A test that runs a child Ruby with system(RbConfig.ruby, ...) or IO.popen gets it through the
# bridge too.
WasiChildBridge.serve_system(*[RbConfig.ruby, EnvUtil.rubybin].uniq)
WasiChildBridge.serve_popen(*[RbConfig.ruby, EnvUtil.rubybin].uniq)

# assert_separately hands the child's result back on an extra pipe (opt[:ios]), except where
# host_os names Windows, where it comes back on the child's stdout. WASI has no pipes either, so
# it takes that branch; nothing else in the call reads host_os.
module WasiSeparately
  def assert_separately(args, file = nil, line = nil, src, **opt)
    caller = caller_locations(1, 1)[0]  # the test's line, as upstream would have taken it
    host_os = RbConfig::CONFIG["host_os"]
    RbConfig::CONFIG["host_os"] = "mingw (wasi: no pipes)"
    super(args, file || caller.path, line || caller.lineno, src, **opt)
  ensure
    RbConfig::CONFIG["host_os"] = host_os
  end
end
Test::Unit::CoreAssertions.prepend(WasiSeparately)

# Several test files run in one wasm, as test-all's own workers run them; each test class's file
# is printed when the class is defined, so the host credits each result to its file.
require File.join(WASI_TEST_SOURCE, "tool/lib/test/unit")

module WasiTestFiles
  MARK = "\x1eRUBY-WASM-CLASS "
  SOURCE = "#{WASI_TEST_SOURCE}/"

  def inherited(subclass)
    super
    defined_in = caller_locations(1, 1)[0]&.path
    return unless subclass.name && defined_in&.start_with?(SOURCE)
    STDOUT.write("\n#{MARK}#{subclass.name} #{defined_in.delete_prefix(SOURCE)}\n")
  end
end
Test::Unit::TestCase.singleton_class.prepend(WasiTestFiles)
