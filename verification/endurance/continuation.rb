# Continuations: a loop driven by re-entering a continuation, and an early exit from a C-method
# block through one.
require "continuation"
n = Integer(ARGV[0])
k = nil
count = callcc { |c| k = c; 0 }
k.call(count + 1) if count < n
exits = 0
(n / 10).times { exits += callcc { |out| [1, 2, 3].each { |x| out.call(x) if x == 2 }; 0 } }
puts "count=#{count} exits=#{exits}"
