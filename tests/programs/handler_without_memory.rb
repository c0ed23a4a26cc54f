# Small objects fill memory to the last heap page; the handler needs new ones while they are
# still referenced.
keep = []
begin
  loop { keep << [keep.size] }
rescue NoMemoryError => e
  report = "recovered from #{e.class} with #{keep.size} objects held"
  lines = Array.new(2000) { |i| "line #{i}: #{report}" }
  $stdout.puts report, lines.size
  $stdout.flush
end
keep = nil
GC.start
puts "after: #{Array.new(1000) { "y" * 1000 }.size}"
