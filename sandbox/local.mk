# SPDX-License-Identifier: GPL-2.0-or-later
# gpumarket-sandbox: the throwaway real Slurm cluster (installed, and runnable
# from the build tree, where it uses the plugins just built).
bin_SCRIPTS += sandbox/gpumarket-sandbox
CLEANFILES += sandbox/gpumarket-sandbox
EXTRA_DIST += sandbox/gpumarket-sandbox.in

sandbox/gpumarket-sandbox: $(srcdir)/sandbox/gpumarket-sandbox.in Makefile
	$(AM_V_GEN)$(MKDIR_P) sandbox && \
	$(SED) -e 's|@abs_top_builddir[@]|$(abs_top_builddir)|g' \
	       -e 's|@slurmplugindir[@]|$(slurmplugindir)|g' \
	       -e 's|@SLURM_SYSTEM_PLUGINDIR[@]|$(SLURM_SYSTEM_PLUGINDIR)|g' \
	       -e 's|@SLURMCTLD[@]|$(SLURMCTLD)|g' \
	       -e 's|@SLURMD[@]|$(SLURMD)|g' \
	       -e 's|@MUNGED[@]|$(MUNGED)|g' \
	       -e 's|@PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g' \
	       $(srcdir)/sandbox/gpumarket-sandbox.in >$@.tmp && \
	chmod +x $@.tmp && mv $@.tmp $@

# Manual page (kept with the others in doc/).
dist_man_MANS += doc/gpumarket-sandbox.1
