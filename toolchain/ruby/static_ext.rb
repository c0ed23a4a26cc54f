# Loaded (-r) into the host Ruby that runs a gem's extconf.rb for the wasm target, before
# CRuby's <arch>-fake.rb (which keeps the $static it finds): mkmf then writes a rule for a
# static archive, $(STATIC_LIB), to prelink into ruby.wasm, since WASI has no dlopen.
$static = true
