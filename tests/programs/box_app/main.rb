# The app of the test box (tests/test_box.py): its leading requires are loaded into the snapshot.
require "nokogiri"
require "bcrypt"
require_relative "lib/greeting"

puts Greeting.hello(ARGV.first || "nobody")
puts Nokogiri::XML("<a><b>packed</b></a>").at("b").text
password = BCrypt::Password.create("secret", cost: 4)
puts BCrypt::Password.new(password.to_s) == "secret"
puts "#{$0} #{__FILE__} #{ARGV.inspect}"
puts $LOADED_FEATURES.count { |feature| feature.end_with?("/app/lib/greeting.rb") }
