# Deeply nested data through CRuby's C recursions: each case at each depth prints its result or
# SystemStackError, one line each, and the process goes on to the next. A trap ends the process,
# so the lines it did not print are the cases that trapped.
#   ruby deep_structures.rb DEPTH...
require "json"
require "yaml"
require "continuation"

def nested_array(depth) = (a = []; depth.times { a = [a] }; a)
def nested_hash(depth) = (h = {}; depth.times { h = { k: h } }; h)
def nested_struct(depth) = (s = nil; depth.times { s = Struct.new(:x).new(s) }; s)

CASES = {
  "Array#inspect" => ->(d) { nested_array(d).inspect.size },
  "Array#==" => ->(d) { nested_array(d) == nested_array(d) },
  "Array#eql?" => ->(d) { nested_array(d).eql?(nested_array(d)) },
  "Array#hash" => ->(d) { nested_array(d).hash.class },
  "Array#<=>" => ->(d) { nested_array(d) <=> nested_array(d) },
  "Array#join" => ->(d) { nested_array(d).join.size },
  "Array#flatten" => ->(d) { nested_array(d).flatten.size },
  "Array as a Hash key" => ->(d) { { nested_array(d) => 1 }.size },
  "Hash#inspect" => ->(d) { nested_hash(d).inspect.size },
  "Hash#==" => ->(d) { nested_hash(d) == nested_hash(d) },
  "Hash#hash" => ->(d) { nested_hash(d).hash.class },
  "Struct#inspect" => ->(d) { nested_struct(d).inspect.size },
  "Marshal round trip" => ->(d) { Marshal.load(Marshal.dump(nested_array(d))).flatten.size },
  "Marshal.load of a crafted string" => ->(d) { Marshal.load("\x04\b" + "[\x06" * d + "[\x00").flatten.size },
  "JSON.generate" => ->(d) { JSON.generate(nested_array(d), max_nesting: false).size },
  "JSON.parse" => ->(d) { JSON.parse("[" * d + "]" * d, max_nesting: false).flatten.size },
  "YAML.dump" => ->(d) { YAML.dump(nested_array(d)).size },
  "eval of a nested literal" => ->(d) { eval("[" * d + "]" * d).flatten.size },
  "recursion through blocks" => ->(d) { f = ->(n) { n.zero? ? 0 : [1].map { f.(n - 1) }.first }; f.(d) },
  "callcc inside nested blocks" => ->(d) { f = ->(n) { n.zero? ? callcc { |c| c.call(7) } : [1].map { f.(n - 1) }.first }; f.(d) },
}

ARGV.map { |depth| Integer(depth) }.each do |depth|
  CASES.each do |name, run|
    outcome = begin
      run.(depth).inspect
    rescue SystemStackError
      "SystemStackError"
    rescue SyntaxError => e # the parser's own limit on nesting
      "SyntaxError: #{e.message[/nesting too deep/] || e.message.lines.first}"
    end
    puts "#{name} #{depth}: #{outcome}"
    $stdout.flush
  end
end
