# retry and ensure around exceptions that leave C-method blocks.
n = Integer(ARGV[0])
retries = 0
(n / 2).times do
  tries = 0
  begin
    tries += 1
    [1].each { raise "again" } if tries < 3
  rescue RuntimeError
    retries += 1
    retry
  end
end
ensured = 0
(n / 2).times do |i|
  begin
    [i].each do |x|
      begin
        raise KeyError, "k" if x.odd?
      ensure
        ensured += 1
      end
    end
  rescue KeyError
    ensured += 10
  end
end
puts "retries=#{retries} ensured=#{ensured}"
