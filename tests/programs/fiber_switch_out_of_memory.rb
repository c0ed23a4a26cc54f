# Takes all free memory in the middle of 20 nested C-method blocks, then switches fibers from
# there, in the role named by ARGV[0]. Saving the locals of so deep a switch needs more memory
# than is left, so the switch must raise NoMemoryError in the fiber that made it and leave
# every fiber as it was: once memory is freed, the same fibers must go on with the right values.
def nest(depth, &block) = depth.zero? ? block.call : [1].each { nest(depth - 1, &block) }

# Holds allocations of halving sizes down to 2 KB, so that no free block of 2 KB is left.
def fill(hogs)
  size = 1 << 20
  while size >= 2048
    begin
      loop { hogs << String.new(capacity: size) }
    rescue NoMemoryError
      size /= 2
    end
  end
end

hogs = []
case ARGV[0]
when "resumer"
  f = Fiber.new { loop { Fiber.yield :ok } }
  p f.resume
  r = nil
  nest(20) do
    fill(hogs)
    r = begin f.resume; rescue NoMemoryError => e; [:failed, e.class]; end
  end
  hogs.clear
  GC.start
  p r
  nest(20) { r = f.resume }
  p r
when "yielder"
  g = Fiber.new do
    nest(20) do
      fill(hogs)
      r = begin Fiber.yield :deep; rescue NoMemoryError => e; [:failed, e.class]; end
      hogs.clear
      GC.start
      Fiber.yield r
      Fiber.yield :deep_again
    end
    :done
  end
  p g.resume, g.resume, g.resume, g.alive?
end
