# raise/rescue in one VM, with no C frame between them and with four C-method block frames
# between them (each non-local exit once leaked the C stack between raise and rescue).
n = Integer(ARGV[0])
shallow = 0
n.times do |i|
  begin
    raise ArgumentError, "x#{i & 7}"
  rescue ArgumentError => e
    shallow += e.message.size
  end
end
deep = 0
(n / 4).times do
  begin
    [1].each { [2].each { [3].each { [4].each { |x| raise IndexError, "d" if x == 4 } } } }
  rescue IndexError
    deep += 1
  end
end
c_raised = 0
(n / 4).times { c_raised += 1 if (Integer("z") rescue nil).nil? }
puts "shallow=#{shallow} deep=#{deep} c_raised=#{c_raised}"
