# throw/catch: directly, and across C-method blocks (each throw once leaked a VM jump buffer).
n = Integer(ARGV[0])
direct = 0
n.times { |i| direct += catch(:t) { throw :t, i & 3 } }
across = 0
(n / 2).times { |i| across += catch(:t) { [1, 2].each { |x| [x].each { throw :t, x + (i & 1) } } } }
tagged = 0
(n / 4).times do
  tag = Object.new
  tagged += catch(tag) { catch(:inner) { throw tag, 2 }; 0 }
end
puts "direct=#{direct} across=#{across} tagged=#{tagged}"
