# Keeps fibers alive, in the shape named by ARGV[0], until memory runs out (the test caps the
# wasm's linear memory). Running out must end in FiberError or NoMemoryError, which this
# program rescues; every value a fiber returned before that must be right.
def nest(depth, &block) = depth.zero? ? block.call : [1].each { nest(depth - 1, &block) }

def check(value, expected)
  raise "wrong answer: #{value.inspect}, expected #{expected.inspect}" unless value == expected
end

SHAPES = {
  "resumed once" => lambda do |kept|
    f = Fiber.new { |x| Fiber.yield x + 1; :done }
    check(f.resume(kept.size), kept.size + 1)
    kept << f
  end,
  "resumed from map" => lambda do |kept|
    fibers = Array.new(100) { |i| Fiber.new { Fiber.yield i; i * 2 } }
    check(fibers.map(&:resume), (0...100).to_a)
    kept.concat(fibers)
  end,
  "switched inside nested blocks" => lambda do |kept|
    nest(10) do
      f = Fiber.new { nest(10) { Fiber.yield :in }; :out }
      check(f.resume, :in)
      kept << f
    end
  end,
  "external enumerators" => lambda do |kept|
    e = (1..3).each
    check(e.next, 1)
    kept << e
  end,
}

kept = []
begin
  SHAPES.fetch(ARGV[0]).call(kept) while true
rescue FiberError, NoMemoryError => e
  puts "#{ARGV[0]}: #{e.class} after #{kept.empty? ? 'no' : 'some'} fibers"
end
