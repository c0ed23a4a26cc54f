# Smoke checks for ruby.wasm with bcrypt prelinked, loaded by smoke.rb after its base checks
# (`check` is its helper). Both go through the C extension's crypt_blowfish.
require "bcrypt"

check("bcrypt_known_answers") do
  # OpenWall's crypt_blowfish test vectors, as in the gem's own spec
  [["U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"],
   ["U*U*U", "$2a$05$XXXXXXXXXXXXXXXXXXXXXO", "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a"]]
    .all? { |secret, salt, hash| BCrypt::Engine.hash_secret(secret, salt) == hash }
end

check("bcrypt_password_round_trip") do
  stored = BCrypt::Password.create("correct horse battery staple", cost: 4).to_s
  password = BCrypt::Password.new(stored)
  password.cost == 4 && stored.start_with?("$2a$04$") && password == "correct horse battery staple" &&
    !(password == "Tr0ub4dor&3")
end
