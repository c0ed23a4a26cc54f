"""Publishing: an artifact is a build's output assembled with its manifest and SHA256SUMS and
checked on use; releases are deterministic tarballs; the nightly proves them bit-identical."""
