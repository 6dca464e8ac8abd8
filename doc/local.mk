# SPDX-License-Identifier: GPL-2.0-or-later
# Manual pages.
dist_man_MANS += doc/gpumarket-sandbox.1
dist_man_MANS += doc/spank_gpumarket.8
