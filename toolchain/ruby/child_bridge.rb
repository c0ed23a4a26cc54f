# The guest side of the child-process bridge (toolchain/run/bridge.py): WASI cannot start a
# process, so a child Ruby runs as a fresh instance of this same artifact, started by the host
# worker from a request written into the directory $RUBY_WASM_BRIDGE names. It loads no library:
# the test running above it may be checking what is loaded.
module WasiChildBridge
  DIRECTORY = ENV["RUBY_WASM_BRIDGE"]
  POLL_SECONDS = 0.002
  OUTPUT_FILES = %w[stdin part request stdout stderr status].freeze

  # What a Process::Status says of a finished child (CRuby cannot make one for a process it did
  # not wait for). A trap is the wasm's abort and a time-out the kill that ends an overdue child,
  # so they read as those signals, which is what the harnesses check for; a child that died of a
  # signal's default action (the host saw wasi-libc say so) reads as that signal.
  class Status
    SIGNALS = { "trap" => Signal.list.fetch("ABRT"), "timeout" => Signal.list.fetch("KILL") }.freeze
    # Every WASI instance's pid is wasi-libc's 42: the child's own $$.
    PID = 42
    attr_reader :pid, :exitstatus, :termsig, :detail

    def initialize(exit_code, how, detail)
      @pid, @detail = PID, detail
      @termsig = how == "signal" ? Signal.list.fetch(detail) : SIGNALS[how]
      @exitstatus = exit_code unless @termsig
      @timed_out = how == "timeout"
    end

    # As Process::Status#==: the same status, or its integer form.
    def ==(other) = other.equal?(self) || to_i == other

    def exited? = @termsig.nil?
    def signaled? = !exited?
    def success? = exited? ? @exitstatus.zero? : nil
    def stopped? = false
    def stopsig = nil
    def coredump? = false
    def timed_out? = @timed_out
    def to_i = exited? ? @exitstatus << 8 : @termsig

    def to_s
      return "pid #{@pid} exit #{@exitstatus}" if exited?
      "pid #{@pid} SIG#{Signal.signame(@termsig)} (signal #{@termsig}) #{@detail}".rstrip
    end

    def inspect = "#<Process::Status: #{self}>"
  end

  @children = 0

  # $? and Process.last_status give the last child's status natively; WASI never sets them, so
  # here they read the last bridged child's. $? stays read-only: an assignment from anywhere but
  # the bridge is undone and raises NameError, as for the real $?.
  @status = nil
  $wasi_child_status = nil
  alias $? $wasi_child_status
  trace_var(:$wasi_child_status) do |value|
    next if value.equal?(@status)
    $wasi_child_status = @status
    raise NameError, "$? is a read-only variable"
  end
  Process.singleton_class.define_method(:last_status) { $wasi_child_status }

  def self.available? = !DIRECTORY.nil?

  # Runs `program *argv` (program: the Ruby the caller named, the child's argv[0]) as a child with
  # this environment (the whole of it), stdin and working directory; returns its stdout, its
  # stderr (binary strings; with merged, stderr is in stdout in the order written, as 2>&1) and
  # its Status.
  def self.run(argv, program:, env:, stdin: "", chdir: Dir.pwd, merged: false)
    raise NotImplementedError, "no child-process bridge here (RUBY_WASM_BRIDGE is unset)" unless available?
    @children += 1
    id = "#{Random.urandom(6).unpack1('H*')}-#{@children}"  # not rand: the test may have seeded it
    base = File.join(DIRECTORY, id)
    File.binwrite("#{base}.stdin", stdin)
    fields = [chdir, program, merged ? "merged" : "separate", argv.size.to_s, *argv,
              *env.map { |name, value| "#{name}=#{value}" }]
    File.binwrite("#{base}.part", fields.map { |field| field.to_s.b }.join("\0".b))
    File.rename("#{base}.part", "#{base}.request")
    sleep POLL_SECONDS until File.exist?("#{base}.status")
    code, how, detail = File.binread("#{base}.status").split("\n", 3)
    $wasi_child_status = @status = Status.new(Integer(code), how, detail)
    [File.binread("#{base}.stdout"), File.binread("#{base}.stderr"), @status]
  ensure
    OUTPUT_FILES.each { |extension| File.unlink("#{base}.#{extension}") if base && File.exist?("#{base}.#{extension}") }
  end

  # Makes Kernel#system run `system(ruby, *args)`, for `ruby` one of `rubies`, as a child through
  # the bridge (an environment hash first is applied, nil unsetting): its output written to this
  # process's own, its success returned (or raised, with exception: true). Any other command, or
  # one with spawn options, goes on to the original Kernel#system, which returns nil on WASI (no
  # command can start). Kernel#system is redefined in place, not prepended to: a module
  # prepended to Kernel would show in every ancestors list and empty Kernel's own method table.
  def self.serve_system(*rubies)
    return if Kernel.private_method_defined?(:__wasi_unbridged_system)
    Kernel.module_eval do
      alias_method :__wasi_unbridged_system, :system
      define_method(:system) do |*command, exception: false, **options|
        env, (ruby, *args) = command.first.is_a?(Hash) ? [command.first, command.drop(1)] : [{}, command]
        unless rubies.include?(ruby) && options.empty?
          return __wasi_unbridged_system(*command, exception: exception, **options)
        end
        out, err, status = WasiChildBridge.run(args, program: ruby, env: ENV.to_h.merge(env).compact, stdin: "")
        $stdout.write(out)
        $stderr.write(err)
        raise RuntimeError, "Command failed with #{status}: #{[ruby, *args].join(' ')}" if exception && !status.success?
        status.success?
      end
      private :system, :__wasi_unbridged_system
    end
  end

  # Makes IO.popen of `ruby` (one of `rubies`: an argument list, or a command line starting with
  # it) run the child through the bridge. The child runs to completion once the caller first
  # reads, or closes its write end or the pipe: what was written before is its stdin (none for a
  # read-only pipe), and its output is read back through a File opened with the pipe's mode and
  # encodings. A caller that waits for the child's output before it writes (or selects on the
  # pipe) needs a real pipe; its tests stay known failures. Any other command, or a spawn option
  # besides chdir, err: [:child, :out] and unsetenv_others, goes on to the original IO.popen,
  # which raises Errno::ENOSYS on WASI (no command can start).
  def self.serve_popen(*rubies)
    return if IO.singleton_class.private_method_defined?(:__wasi_unbridged_popen)
    IO.singleton_class.class_eval do
      alias_method :__wasi_unbridged_popen, :popen
      private :__wasi_unbridged_popen
      define_method(:popen) do |*arguments, **options, &block|
        pipe = DeferredPipe.open(rubies, arguments, options)
        return __wasi_unbridged_popen(*arguments, **options, &block) unless pipe
        return pipe unless block
        begin
          block.call(pipe)
        ensure
          pipe.close unless pipe.closed?
        end
      end
    end
  end

  # A child Ruby behind IO.popen that runs when it must (see serve_popen).
  class DeferredPipe
    ENCODING_OPTIONS = %i[external_encoding internal_encoding encoding binmode textmode].freeze
    SPAWN_OPTIONS = %i[chdir err unsetenv_others].freeze

    # The pipe, or nil when the command is not a bridged Ruby or asks for what it cannot do.
    def self.open(rubies, arguments, options)
      arguments = arguments.dup
      env = arguments.first.is_a?(Hash) ? arguments.shift : {}
      command, mode = arguments
      mode = options.fetch(:mode, mode || "r")
      merged = options[:err] == [:child, :out]
      unsupported = options.keys - ENCODING_OPTIONS - SPAWN_OPTIONS - [:mode]
      return nil unless mode.is_a?(String) && unsupported.empty?
      return nil unless options[:err].nil? || merged
      argv = command.is_a?(String) ? command_words(command) : command.dup
      env = argv.shift.merge(env) if argv.is_a?(Array) && argv.first.is_a?(Hash)
      return nil unless argv.is_a?(Array) && rubies.include?(argv.first) && argv.drop(1).all?(String)
      new(argv.first, argv.drop(1), env, mode, options, merged)
    end

    # A command line's words, for the quoting the tests use: '...', "..." and backslashes. Not
    # Shellwords (as mspec_wasi.rb uses): this file loads no library into the test above it.
    def self.command_words(line)
      words = line.scan(/(?:[^\s'"\\]+|'[^']*'|"(?:[^"\\]|\\.)*"|\\.)+/).map do |word|
        word.gsub(/'([^']*)'|"((?:[^"\\]|\\.)*)"|\\(.)/) { $1 || $2&.gsub(/\\(.)/, '\\1') || $3 }
      end
      words if line.match?(/\A[^|&;<>()$`*?\[\]{}~]*\z/)  # no shell syntax beyond quoting
    end

    def initialize(ruby, args, env, mode, options, merged)
      @ruby, @args, @merged = ruby, args, merged
      @env = (options[:unsetenv_others] ? {} : ENV.to_h).merge(env.transform_keys(&:to_s)).compact
      @chdir = options[:chdir]&.to_s || Dir.pwd
      @writable = mode.include?("+") || mode.start_with?("w")
      @readable = !mode.start_with?("w") || mode.include?("+")
      @read_mode = "r#{mode[/b/]}#{mode[/:.*/]}"
      @read_options = options.slice(*ENCODING_OPTIONS)
      @input = "".b
      @output = nil
      @closed = false
    end

    def pid = Status::PID
    def closed? = @closed

    def write(*strings)
      raise IOError, "not opened for writing" unless @writable && @output.nil?
      strings.sum { |string| @input << string.to_s.b; string.to_s.bytesize }
    end

    def <<(string) = write(string).then { self }
    def print(*strings) = write(*strings).then { nil }
    def puts(*lines)
      lines = [""] if lines.empty?
      write(lines.flatten.map { |line| line.to_s.end_with?("\n") ? line.to_s : "#{line}\n" }.join)
      nil
    end

    def flush = self

    # Binary reading of the output, as the pipe's binmode would give (its input is bytes anyway).
    def binmode
      @read_mode = "rb#{@read_mode[/:.*/]}" unless @output
      @output&.binmode
      self
    end

    def binmode? = @read_mode.include?("b")
    def sync = true
    def sync=(value); end

    def close_write
      raise IOError, "closing non-duplex IO for writing" unless @writable
      output
      nil
    end

    def close_read
      output.close
      nil
    end

    def close
      return nil if @closed
      output.close unless output.closed?
      @closed = true
      nil
    end

    def method_missing(name, *arguments, **options, &block)
      return super unless @readable && output.respond_to?(name)
      raise IOError, "closed stream" if @closed
      output.public_send(name, *arguments, **options, &block)
    end

    def respond_to_missing?(name, include_private = false) = (@readable && File.method_defined?(name)) || super

    private

    # The child's output, once it has run: its stdout (and stderr, when merged) as a File to read
    # from. What the pipe does not carry goes where an inheriting child's would: its stderr to
    # ours, and a write-only pipe's stdout to ours.
    def output
      return @output if @output
      stdout, stderr, = WasiChildBridge.run(@args, program: @ruby, env: @env, stdin: @input, chdir: @chdir,
                                            merged: @merged)
      $stderr.write(stderr) unless @merged || stderr.empty?
      $stdout.write(stdout) unless @readable
      path = File.join(DIRECTORY, "popen-#{Random.urandom(6).unpack1('H*')}.stdout")
      File.binwrite(path, @readable ? stdout : "")
      @output = File.open(path, @read_mode, **@read_options)
      File.unlink(path)
      @output
    end
  end
end
