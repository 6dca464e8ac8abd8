# SPDX-License-Identifier: GPL-2.0-or-later
# slurm-plugin: the two Slurm adapters, the SPANK plugin and the select plugin.
# Both reach into the libraries (market/, settlement/, common/), never into
# each other.
include slurm-plugin/spank/local.mk
include slurm-plugin/select/local.mk
