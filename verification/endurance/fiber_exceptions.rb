# Exceptions raised and rescued inside fibers, and raised out of them into the resumer, with
# fibers abandoned while suspended (their VM jump buffers must be freed with them).
n = Integer(ARGV[0])
inside = 0
escaped = 0
abandoned = 0
n.times do |i|
  f = Fiber.new do
    begin
      [i].each { raise "inner" }
    rescue RuntimeError
      inside += 1
    end
    Fiber.yield :suspended
    raise ArgumentError, "out" if i.even?
    :done
  end
  f.resume
  if i % 3 == 0
    abandoned += 1 # never resumed again
  else
    begin
      f.resume
    rescue ArgumentError
      escaped += 1
    end
  end
end
killed = 0
(n / 4).times do
  f = Fiber.new { [1].each { Fiber.yield 1 }; 2 }
  f.resume
  begin
    f.raise(IOError, "stop")
  rescue IOError
    killed += 1
  end
end
puts "inside=#{inside} escaped=#{escaped} abandoned=#{abandoned} killed=#{killed}"
