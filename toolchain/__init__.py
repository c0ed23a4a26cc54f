"""Build orchestration for CRuby on wasm32-wasi: recipes in, verified ruby.wasm out."""
