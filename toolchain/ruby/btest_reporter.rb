# Loaded (-r) into the host Ruby that drives CRuby's bootstraptest/runner.rb: records each
# assertion's outcome as JSON in $BTEST_REPORT, leaving the runner itself untouched.
require "json"

module BTestReporter
  RESULTS = []
  LOCK = Mutex.new

  def show_error(msg, additional_message)
    @btest_failure = msg.to_s.gsub(/\e\[[\d;]*m/, "")
    super
  end

  def call
    super
  ensure
    entry = { id: id, file: File.basename(path), line: lineno, failure: @btest_failure }
    LOCK.synchronize { RESULTS << entry }
  end
end

TracePoint.new(:end) do |tp|
  if tp.self.is_a?(Class) && tp.self.name == "Assertion" && !(tp.self < BTestReporter)
    tp.self.prepend(BTestReporter)
    tp.disable
  end
end.enable

at_exit do
  File.write(ENV.fetch("BTEST_REPORT"), JSON.generate(BTestReporter::RESULTS))
end
