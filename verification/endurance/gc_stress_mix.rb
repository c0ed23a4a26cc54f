# GC.stress with fibers, C-method blocks and exceptions interleaved: every allocation collects.
n = Integer(ARGV[0])
GC.stress = true
results = []
n.times do |i|
  fs = Array.new(3) { |k| Fiber.new { Fiber.yield [k, i].map { _1 + 1 }; "s#{k}" } }
  first = fs.map(&:resume)
  second = fs.map(&:resume)
  caught = begin
    [i].each { raise "x#{i}" }
  rescue => e
    e.message
  end
  results << [first.flatten.sum, second.join, caught].hash
end
GC.stress = false
puts "runs=#{results.size} distinct=#{results.uniq.size}"
