# Smoke checks run inside ruby.wasm. Each exercises a mechanism that CRuby on wasm32-wasi
# implements with Asyncify or emulation, so a broken build fails here first.
# ARGV: the features statically linked into this build.
$failures = 0

def check(name)
  result = yield
  raise "returned #{result.inspect}" unless result
  puts "ok #{name}"
rescue Exception => e
  $failures += 1
  puts "FAIL #{name}: #{e.class}: #{e.message}"
end

check("ruby_version") { puts "RUBY_VERSION=#{RUBY_VERSION}"; RUBY_VERSION =~ /\A\d+\.\d+\.\d+\z/ }

check("fiber_resume_yield") do
  fiber = Fiber.new { |x| y = Fiber.yield(x * 2); Fiber.yield(y + 1); :done }
  [fiber.resume(21), fiber.resume(10), fiber.resume, fiber.alive?] == [42, 11, :done, false]
end

check("many_fibers") do
  fibers = Array.new(200) { |i| Fiber.new { Fiber.yield(i); i * 2 } }
  fibers.map(&:resume).sum == (0...200).sum && fibers.map(&:resume).sum == (0...200).sum * 2
end

check("raise_rescue_ensure_across_frames") do
  log = []
  deep = ->(n) { n.zero? ? raise(ArgumentError, "bottom") : begin deep.(n - 1) ensure log << n end }
  begin
    deep.(50)
  rescue ArgumentError => e
    log << e.message
  end
  log.size == 51 && log.last == "bottom" && log.first == 1
end

check("catch_throw") do
  catch(:found) { 10.times { |i| 10.times { |j| throw :found, [i, j] if i * j == 42 } }; nil } == [6, 7]
end

check("gc_stress_allocations") do
  kept = []
  GC.stress = true
  begin
    300.times { |i| kept << "s#{i}" * 3 << [i, { i => i.to_s }] }
  ensure
    GC.stress = false
  end
  GC.start
  kept.each_slice(2).each_with_index.all? { |(s, a), i| s == "s#{i}" * 3 && a[1][i] == i.to_s }
end

check("exception_in_fiber") do
  Fiber.new { raise "inside" rescue $!.message }.resume == "inside"
end

ARGV.each do |feature|
  check("require #{feature}") { require feature; true }
end

puts "smoke: #{$failures} failed"
exit($failures.zero? ? 0 : 1)
