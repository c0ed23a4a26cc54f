# Preloaded (-r) into ruby.wasm before a gem's minitest test file. A reporter writes each test's
# start and result to stdout as one line of JSON after a marker, flushed at once: the driver then
# knows which test a trap interrupted, and never parses minitest's human-readable output.
# Nothing about how the tests run is changed, except that the driver sets MT_CPU=0: WASI has no
# threads for minitest's parallel executor. A test class marked parallelize_me! would then be
# queued and never run, so it is refused here instead of being dropped without a word.
require "json"
require "minitest"

module Minitest
  class WasiReporter < AbstractReporter
    MARK = "\u001eRUBY-WASM-TEST "

    def prerecord(klass, name)
      emit("start" => "#{klass}##{name}")
    end

    def record(result)
      emit("test" => "#{result.klass}##{result.name}", "outcome" => outcome(result),
           "message" => result.failures.map { |failure| describe(failure) }.join("\n"))
    end

    private

    def outcome(result)
      return "skipped" if result.skipped?
      return "error" if result.error?
      result.passed? ? "passed" : "failed"
    end

    def describe(failure)
      error = failure.respond_to?(:error) ? failure.error : failure
      ["#{error.class}: #{error.message}", *Array(error.backtrace).first(8)].join("\n")
    end

    def emit(data)
      $stdout.print(MARK, JSON.generate(data), "\n")
      $stdout.flush
    end
  end

  class Parallel::Executor
    def <<(job)
      raise NotImplementedError, "#{job.first} runs its tests in parallel threads, which WASI lacks"
    end
  end

  def self.plugin_wasi_init(_options)
    reporter << WasiReporter.new
  end

  extensions << "wasi"
end
