# SystemStackError, again and again, in plain recursion and in recursion through C-method blocks;
# the VM must stay usable after each.
n = Integer(ARGV[0])
def plain(depth) = plain(depth + 1)
def through_blocks(depth) = [depth].each { |d| through_blocks(d + 1) }
plain_errors = 0
block_errors = 0
n.times do
  begin
    plain(0)
  rescue SystemStackError
    plain_errors += 1
  end
  begin
    through_blocks(0)
  rescue SystemStackError
    block_errors += 1
  end
end
after = (1..1000).map { |x| x * x }.sum
puts "plain=#{plain_errors} blocks=#{block_errors} after=#{after}"
