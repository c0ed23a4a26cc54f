# Loaded after a build's own Makefile: `make -f Makefile -f print.mk print-VAR...` prints each
# variable's expanded value on a line of its own, without running anything else.
print-%: ; $(info $($*)) @:
