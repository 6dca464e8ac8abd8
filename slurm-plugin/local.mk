# slurm-plugin: the SPANK plugin, the market policy engine (and, later, the
# select plugin).
include slurm-plugin/policy/local.mk
include slurm-plugin/spank/local.mk
include slurm-plugin/select/local.mk
