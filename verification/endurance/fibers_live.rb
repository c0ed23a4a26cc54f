# Many live fibers, each resumed first from inside a C method (Array#map) and then again. The
# resuming C frame's locals live only in the fiber machinery while a fiber runs: they must be
# marked by the GC, or the array map is building is freed under it.
rounds = Integer(ARGV[0])
[1, 10, 100, 270, 300, 350, 400, 500, 1000, 2000].each do |n|
  sums = Array.new(rounds) do
    fs = Array.new(n) { |i| Fiber.new { Fiber.yield i; i * 2 } }
    a = fs.map(&:resume)
    b = fs.map(&:resume)
    raise "wrong types #{a.class} #{b.class}" unless a.instance_of?(Array) && b.instance_of?(Array)
    sums = [a.sum, b.sum, a.size, b.size, fs.count(&:alive?)]
    GC.start # each round starts from the same live objects: growth across rounds is a leak
    sums
  end
  puts "n=#{n} #{sums.uniq.inspect}"
end
