# Loaded after a CRuby build's GNUmakefile: links ruby again into $(RELINK_OUT) with CRuby's own
# recipe for $(PROGRAM) (the same compiler, flags, libraries and Asyncify POSTLINK), but as a
# target with no prerequisites, so nothing in the CRuby build tree is regenerated or touched.
# Phony, so a file left by an interrupted run is never taken as done. The caller passes
# EXTOBJS, EXTLIBS and EXTLDFLAGS with the extra objects added.
.PHONY: $(RELINK_OUT)
$(RELINK_OUT):
	@$(RM) $@
	$(Q) $(PURIFY) $(CC) $(EXE_LDFLAGS) $(XLDFLAGS) $(MAINOBJ) $(EXTOBJS) $(LIBRUBYARG) $(MAINLIBS) $(EXTLIBS) $(OUTFLAG)$@
	$(Q) $(POSTLINK)
