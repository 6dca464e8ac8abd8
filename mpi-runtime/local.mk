# mpi-runtime: filled in as its pieces land.
