"""Running ruby.wasm under wasmtime: the ruby-wasm command, and the long-lived workers (with a
launcher standing in for the ruby executable) that the test suites run through."""
