# mspec-run's formatter inside ruby.wasm (-f /harness/mspec_wasi.rb): one marked line when an
# example starts and one when it ends, so the host knows what passed, what failed and which
# example a trap cut off. Marked fields are base64 (pack "m0"): no library is loaded for them.
# ruby_exe, which runs a child ruby, goes through the child-process bridge; nothing else of
# mspec or of the specs is changed.
require_relative "child_bridge"
# mspec looks for a ruby executable when it loads ruby_exe; the sandbox has none, and the bridge needs none.
RUBY_EXE = "ruby" unless defined?(RUBY_EXE)
require "mspec/helpers/ruby_exe"
require "shellwords"

class WasiMarkedFormatter < BaseFormatter
  MARK = "\x1eRUBY-WASM-SPEC "

  def register
    super
    MSpec.register :load, self
  end

  def load
    @file = MSpec.file
    @seen = Hash.new(0)
  end

  def before(state)
    super
    @name = unique_name(state.description)
    @messages = []
    @skips = MSpec.skips.size
    mark("start", @name)
  end

  def exception(exception_state)
    super
    text = "#{exception_state.message}\n#{exception_state.backtrace}"
    return mark("done", "error", "(load)", "#{exception_state.description}\n#{text}") unless @current_state
    @messages << text
  end

  def after(state = nil)
    outcome = if exception? then failure? ? "failed" : "error"
              elsif MSpec.skips.size > @skips then "skipped"
              else "passed"
              end
    mark("done", outcome, @name, @messages.join("\n"))
    super
  end

  private

  def unique_name(description)
    @seen[description] += 1
    @seen[description] > 1 ? "#{description} ##{@seen[description]}" : description
  end

  def mark(event, *fields)
    file = @file.to_s.delete_prefix("/src/")
    $stdout.write("#{MARK}#{event} #{[file, *fields].map { |field| [field.to_s.b].pack('m0') }.join(' ')}\n")
    $stdout.flush
  end
end

CUSTOM_MSPEC_FORMATTER = WasiMarkedFormatter

# ruby_exe builds a shell command line (ruby_cmd) and reads it through IO.popen; here its parts
# run as a child through the bridge. The redirections ruby_exe's callers use are honoured:
# a trailing `2>&1` merges stderr into the output, `2>/dev/null` or `2> FILE` sends it there,
# and `< FILE` feeds stdin.
module WasiRubyExe
  def self.split(command)
    words = Shellwords.split(command)
    program = words.shift  # RUBY_EXE
    redirects, argv = {}, []
    until words.empty?
      word = words.shift
      case word
      when "2>&1" then redirects[:merge] = true
      when /\A(2>|<)(.*)\z/ then redirects[$1] = $2.empty? ? words.shift : $2
      else argv << word
      end
    end
    [program, argv, redirects]
  end

  def self.run(command)
    program, argv, redirects = split(command)
    stdin = redirects["<"] ? File.binread(redirects["<"]) : ""
    out, err, status = WasiChildBridge.run(argv, program: program, env: ENV.to_h, stdin: stdin,
                                           merged: redirects[:merge])
    if redirects["2>"]
      File.binwrite(redirects["2>"], err, mode: "ab") unless redirects["2>"] == File::NULL
    else
      $stderr.write(err)  # nothing when merged: it is in out, in the order written
    end
    [out.force_encoding(Encoding.default_external), status]
  end
end

# system(*ruby_exe, ...) starts a child ruby, as ruby_exe does: through the bridge.
WasiChildBridge.serve_system(RUBY_EXE)

def ruby_exe(code = :not_given, opts = {})
  return RUBY_EXE.split(" ") if code == :not_given
  raise "ruby_exe(..., dir: dir) is no longer supported, use Dir.chdir" if opts[:dir]

  env = (opts[:env] || {}).to_h { |name, value| [name.to_s, value] }
  saved = env.keys.to_h { |name| [name, ENV[name]] }
  env.each { |name, value| ENV[name] = value }
  if code && !File.exist?(code) && opts.delete(:escape) != false
    script = tmp("rubyexe.rb")
    File.write(script, code)
    code = script
  end
  command = ruby_cmd(code, opts)
  output, status = WasiRubyExe.run(command)
  expected = opts.fetch(:exit_status, 0)
  actual = status.exited? ? status.exitstatus : :"SIG#{Signal.signame(status.termsig)}"
  unless actual == expected
    raise SpecExpectationNotMetError, "Expected exit status is #{expected.inspect} but actual is #{actual.inspect} " \
                                      "for command ruby_exe(#{command.inspect})\nOutput:\n#{output}"
  end
  output
ensure
  saved&.each { |name, value| value.nil? ? ENV.delete(name) : ENV[name] = value }
  File.delete(script) if script && File.exist?(script)
end
