"""Builds: keyed build directories whose phases leave stamps (phases), the compiler cache, the
C libraries, the native twin, CRuby for wasm32-wasi, gem extensions and the links that prelink them."""
