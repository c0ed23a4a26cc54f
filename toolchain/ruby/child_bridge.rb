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
  # so they read as those signals, which is what the harnesses check for.
  class Status
    SIGNALS = { "trap" => Signal.list.fetch("ABRT"), "timeout" => Signal.list.fetch("KILL") }.freeze
    attr_reader :pid, :exitstatus, :termsig, :detail

    def initialize(pid, exit_code, how, detail)
      @pid, @detail = pid, detail
      @termsig = SIGNALS[how]
      @exitstatus = exit_code unless @termsig
      @timed_out = how == "timeout"
    end

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

  # Runs `ruby *argv` as a child with this environment (the whole of it), stdin and working
  # directory; returns its stdout, its stderr (binary strings) and its Status.
  def self.run(argv, env:, stdin: "", chdir: Dir.pwd)
    raise NotImplementedError, "no child-process bridge here (RUBY_WASM_BRIDGE is unset)" unless available?
    @children += 1
    id = "#{Random.urandom(6).unpack1('H*')}-#{@children}"  # not rand: the test may have seeded it
    base = File.join(DIRECTORY, id)
    File.binwrite("#{base}.stdin", stdin)
    fields = [chdir, argv.size.to_s, *argv, *env.map { |name, value| "#{name}=#{value}" }]
    File.binwrite("#{base}.part", fields.map { |field| field.to_s.b }.join("\0".b))
    File.rename("#{base}.part", "#{base}.request")
    sleep POLL_SECONDS until File.exist?("#{base}.status")
    code, how, detail = File.binread("#{base}.status").split("\n", 3)
    $wasi_child_status = @status = Status.new(@children, Integer(code), how, detail)
    [File.binread("#{base}.stdout"), File.binread("#{base}.stderr"), @status]
  ensure
    OUTPUT_FILES.each { |extension| File.unlink("#{base}.#{extension}") if base && File.exist?("#{base}.#{extension}") }
  end
end
