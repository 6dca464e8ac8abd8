# Manual pages.
dist_man_MANS += doc/gpumarket-sandbox.1
