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
  # one with spawn options, goes on to the original Kernel#system, which raises
  # NotImplementedError on WASI. Kernel#system is redefined in place, not prepended to: a module
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
end
