# Preloaded (-r) into ruby.wasm before test/runner.rb. It adapts CRuby's test harness to
# what WASI lacks, and nothing else; no test file is touched.
#
# tool/lib/zombie_hunter.rb asserts after every test that Process.waitall returns nothing.
# WASI has no child processes, so Process.waitall raises Errno::ENOTSUP and every test
# would error in teardown. Marking the file as loaded keeps the harness from installing it.
$LOADED_FEATURES << File.join(ENV.fetch("RUBY_TEST_SOURCE", "/src"), "tool/lib/zombie_hunter.rb")

# The socket extension cannot exist under WASI (preview 1 has no sockets). test/openssl/utils.rb
# requires it at the top, but uses it only in its SSL server helpers; marking it loaded lets the
# rest of test/openssl (digests, ciphers, keys, X.509, PKCS, ...) run, and each test that needs
# a socket fails with a NameError on Socket or TCPServer, which the plan lists (reason: socket).
$LOADED_FEATURES << File.join(RbConfig::CONFIG["rubylibdir"], "socket.rb")
