# Loaded after a CRuby build's GNUmakefile: compiles a box's C sources (BOX_SOURCES, each to
# BOX_DIR/<name>.o) with CRuby's own compiler, flags and include paths, so that they see
# Ruby's headers, generated ones included, exactly as CRuby's own objects did. Touches nothing
# in the build tree; phony, so an object left by an interrupted run is never taken as done.
BOX_OBJECTS = $(patsubst %.c,$(BOX_DIR)/%.o,$(notdir $(BOX_SOURCES)))
.PHONY: box-objects $(BOX_OBJECTS)
box-objects: $(BOX_OBJECTS)
$(BOX_OBJECTS): $(BOX_DIR)/%.o:
	$(Q) $(CC) $(CFLAGS) $(XCFLAGS) $(CPPFLAGS) -I$(srcdir) $(BOX_CFLAGS) $(COUTFLAG)$@ -c $(filter %/$*.c,$(BOX_SOURCES))
