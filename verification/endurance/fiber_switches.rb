# Millions of switches between two fibers, a generator and its consumer.
n = Integer(ARGV[0])
gen = Fiber.new { i = 0; loop { Fiber.yield i; i += 1 } }
total = 0
n.times { total += gen.resume }
ping = Fiber.new { |x| loop { x = Fiber.yield(x + 1) } }
value = 0
(n / 2).times { value = ping.resume(value) }
puts "total=#{total} value=#{value}"
