"""Inputs: recipes, verified downloads, Debian source packages, patches, the lock file and the
wasm toolchains. Nothing here builds; everything here is verified before a build sees it."""
