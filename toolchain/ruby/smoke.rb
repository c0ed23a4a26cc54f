# Smoke checks run inside ruby.wasm. Each exercises a mechanism that CRuby on wasm32-wasi
# implements with Asyncify or emulation, so a broken build fails here first.
# ARGV: the features statically linked into this build, then --load and the paths of further
# check scripts (a gem's), which use the same `check` helper.
FEATURES = ARGV.take_while { |arg| arg != "--load" }
SCRIPTS = ARGV.drop(FEATURES.size + 1)
$failures = 0

def check(name)
  result = yield
  raise "returned #{result.inspect}" unless result
  puts "ok #{name}"
rescue Exception => e
  $failures += 1
  puts "FAIL #{name}: #{e.class}: #{e.message}"
end

check("ruby_version") { puts "RUBY_VERSION=#{RUBY_VERSION}"; RUBY_VERSION =~ /\A\d+\.\d+\.\d+\z/ }

check("fiber_resume_yield") do
  fiber = Fiber.new { |x| y = Fiber.yield(x * 2); Fiber.yield(y + 1); :done }
  [fiber.resume(21), fiber.resume(10), fiber.resume, fiber.alive?] == [42, 11, :done, false]
end

check("many_fibers") do
  fibers = Array.new(200) { |i| Fiber.new { Fiber.yield(i); i * 2 } }
  fibers.map(&:resume).sum == (0...200).sum && fibers.map(&:resume).sum == (0...200).sum * 2
end

check("raise_rescue_ensure_across_frames") do
  log = []
  deep = ->(n) { n.zero? ? raise(ArgumentError, "bottom") : begin deep.(n - 1) ensure log << n end }
  begin
    deep.(50)
  rescue ArgumentError => e
    log << e.message
  end
  log.size == 51 && log.last == "bottom" && log.first == 1
end

check("catch_throw") do
  catch(:found) { 10.times { |i| 10.times { |j| throw :found, [i, j] if i * j == 42 } }; nil } == [6, 7]
end

check("gc_stress_allocations") do
  kept = []
  GC.stress = true
  begin
    300.times { |i| kept << "s#{i}" * 3 << [i, { i => i.to_s }] }
  ensure
    GC.stress = false
  end
  GC.start
  kept.each_slice(2).each_with_index.all? { |(s, a), i| s == "s#{i}" * 3 && a[1][i] == i.to_s }
end

check("exception_in_fiber") do
  Fiber.new { raise "inside" rescue $!.message }.resume == "inside"
end

FEATURES.each do |feature|
  check("require #{feature}") { require feature; true }
end

# The extensions built on outside C libraries get checks that go through those libraries.
if FEATURES.include?("zlib")
  check("zlib_deflate_inflate") do
    data = "wasm " * 1000 + (0..255).map(&:chr).join
    packed = Zlib::Deflate.deflate(data, Zlib::BEST_COMPRESSION)
    packed.bytesize < data.bytesize / 5 && Zlib::Inflate.inflate(packed) == data &&
      Zlib.crc32(data) == Zlib.crc32(Zlib::Inflate.inflate(packed))
  end
  check("zlib_gzip_round_trip") do
    require "stringio"
    data = "line\n" * 500
    Zlib.gunzip(Zlib.gzip(data)) == data &&
      Zlib::GzipReader.new(StringIO.new(Zlib.gzip(data, level: 1))).each_line.count == 500
  end
end

if FEATURES.include?("psych")
  check("yaml_round_trip_with_aliases") do
    shared = { "name" => "x", "list" => [1, 2.5, nil, true, "s"] }
    text = Psych.dump({ "a" => shared, "b" => shared })
    loaded = Psych.load(text, aliases: true)
    text.include?("&1") && loaded == { "a" => shared, "b" => shared } && loaded["a"].equal?(loaded["b"])
  end
  check("yaml_safe_load_refuses_aliases_and_objects") do
    refused = [["a: &x 1\nb: *x\n", Psych::BadAlias],
               ["--- !ruby/object:Object {}\n", Psych::DisallowedClass]]
    refused.all? do |text, error|
      Psych.safe_load(text)
      false
    rescue error
      true
    end && Psych.safe_load("k: [1, two]") == { "k" => [1, "two"] }
  end
end

if FEATURES.include?("openssl")
  check("openssl_digest_and_hmac") do
    OpenSSL::Digest::SHA256.hexdigest("abc") ==
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" &&
      OpenSSL::HMAC.hexdigest("SHA256", "key", "The quick brown fox jumps over the lazy dog") ==
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
  end
  check("openssl_aes_256_gcm") do
    key, iv = OpenSSL::Random.random_bytes(32), OpenSSL::Random.random_bytes(12)
    cipher = OpenSSL::Cipher.new("aes-256-gcm").encrypt
    cipher.key, cipher.iv, cipher.auth_data = key, iv, "header"
    sealed = cipher.update("secret message") + cipher.final
    tag = cipher.auth_tag
    decipher = OpenSSL::Cipher.new("aes-256-gcm").decrypt
    decipher.key, decipher.iv, decipher.auth_tag, decipher.auth_data = key, iv, tag, "header"
    plain = decipher.update(sealed) + decipher.final
    tampered = OpenSSL::Cipher.new("aes-256-gcm").decrypt
    tampered.key, tampered.iv, tampered.auth_tag, tampered.auth_data = key, iv, tag, "HEADER"
    refused = begin
      tampered.update(sealed) + tampered.final
      false
    rescue OpenSSL::Cipher::CipherError
      true
    end
    plain == "secret message" && sealed != "secret message" && refused
  end
  check("openssl_random_bytes") do
    a, b = OpenSSL::Random.random_bytes(32), OpenSSL::Random.random_bytes(32)
    a.bytesize == 32 && a != b
  end
  check("openssl_self_signed_certificate") do
    key = OpenSSL::PKey::EC.generate("prime256v1")
    name = OpenSSL::X509::Name.parse("/CN=ruby.wasm smoke")
    cert = OpenSSL::X509::Certificate.new
    cert.version, cert.serial, cert.subject, cert.issuer = 2, 1, name, name
    cert.public_key = key
    cert.not_before, cert.not_after = Time.now - 60, Time.now + 3600
    cert.sign(key, OpenSSL::Digest.new("SHA256"))
    parsed = OpenSSL::X509::Certificate.new(cert.to_pem)
    store = OpenSSL::X509::Store.new
    store.add_cert(parsed)
    other = OpenSSL::PKey::EC.generate("prime256v1")
    parsed.subject.to_s == "/CN=ruby.wasm smoke" && parsed.verify(key) && !parsed.verify(other) &&
      store.verify(parsed)
  end
end

SCRIPTS.each { |script| load script }

puts "smoke: #{$failures} failed"
exit($failures.zero? ? 0 : 1)
