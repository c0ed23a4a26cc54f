module Greeting
  def self.hello(name) = "hello, #{name}"
end
