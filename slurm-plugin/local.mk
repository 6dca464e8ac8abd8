# slurm-plugin: filled in as its pieces land.
