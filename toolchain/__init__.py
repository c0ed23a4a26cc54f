"""Build orchestration for CRuby on wasm32-wasi: recipes in, verified ruby.wasm out.

The subpackages are the stages, in the order data flows through them:

    inputs/   recipes, verified downloads, Debian sources, patches, the lock, the toolchains
    build/    keyed build directories: C libraries, the native twin, CRuby, gem extensions, links
    publish/  artifacts (ruby.wasm, its tree, manifest, SHA256SUMS), releases, the nightly
    verify/   Ruby's own tests and the endurance programs, judged against known failures
    run/      ruby.wasm under wasmtime: the ruby-wasm command and the test workers

Beside them: what every stage shares (errors, paths, steps, guard, locks), and the pipeline
that wires the stages (product: one build step per product; graph and tasks: doit's tasks;
gc: what the cache may drop).
"""
