# Leaving a C method's block early: break, next, and return from the method around the block.
n = Integer(ARGV[0])
broke = 0
n.times { |i| broke += [i, 1].each { |x| break x * 2 } }
nexted = 0
(n / 2).times { nexted += [1, 2, 3].map { |x| next 0 if x == 2; x }.sum }
def first_even(list) = list.each { |x| return x if x.even? } && nil
returned = 0
(n / 2).times { |i| returned += first_even([1, 3, i * 2]) }
found = 0
(n / 4).times { |i| found += (1..10).find { |x| x > i % 10 } }
puts "broke=#{broke} nexted=#{nexted} returned=#{returned} found=#{found}"
