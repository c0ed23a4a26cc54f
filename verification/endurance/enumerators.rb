# External enumerators, which run on fibers: read to the end, read partly and dropped, zipped,
# and lazy chains.
n = Integer(ARGV[0])
read = 0
(n / 10).times do
  e = [1, 2, 3].each
  loop { read += e.next }
end
dropped = 0
n.times { |i| dropped += [i, 2, 3].each.next }
peeked = 0
(n / 10).times { e = (1..3).each_slice(2); peeked += e.peek.sum + e.next.size }
zipped = (1..(n / 10)).each.zip((1..(n / 10)).each_entry).sum { |a, b| a * b % 7 }
lazy = (1..Float::INFINITY).lazy.map { _1 * 3 }.select(&:even?).first(n / 100).sum
puts "read=#{read} dropped=#{dropped} peeked=#{peeked} zipped=#{zipped} lazy=#{lazy}"
