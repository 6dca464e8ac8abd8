# slurm-plugin: filled in as its pieces land.
include slurm-plugin/policy/local.mk
