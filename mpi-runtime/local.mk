# mpi-runtime: libgpumarket-mpi, the gpumarket-train trainer, their tests and
# benchmarks.
lib_LTLIBRARIES += mpi-runtime/libgpumarket-mpi.la
include_HEADERS += mpi-runtime/gpumarket_mpi.h
noinst_HEADERS += mpi-runtime/gmpi_internal.h
mpi_runtime_libgpumarket_mpi_la_SOURCES = \
	mpi-runtime/gmpi_core.c \
	mpi-runtime/gmpi_allreduce.c \
	mpi-runtime/gmpi_fusion.c
mpi_runtime_libgpumarket_mpi_la_CPPFLAGS = $(AM_CPPFLAGS) $(MPI_CFLAGS) $(HWLOC_CFLAGS) $(OPENSSL_CFLAGS)
mpi_runtime_libgpumarket_mpi_la_LIBADD = $(MPI_LIBS) $(HWLOC_LIBS) $(OPENSSL_LIBS)
mpi_runtime_libgpumarket_mpi_la_LDFLAGS = $(AM_LDFLAGS) -version-info 0:0:0

# MPI test programs run by the .t wrappers through $MPIRUN.
MPI_TEST_LDADD = mpi-runtime/libgpumarket-mpi.la tests/tap/libtap.la $(MPI_LIBS)
MPI_TEST_CPPFLAGS = $(AM_CPPFLAGS) $(MPI_CFLAGS)

check_PROGRAMS += mpi-runtime/test/allreduce-mpi
mpi_runtime_test_allreduce_mpi_SOURCES = mpi-runtime/test/allreduce-mpi.c
mpi_runtime_test_allreduce_mpi_CPPFLAGS = $(MPI_TEST_CPPFLAGS)
mpi_runtime_test_allreduce_mpi_LDADD = $(MPI_TEST_LDADD)

check_PROGRAMS += mpi-runtime/test/fusion-mpi
mpi_runtime_test_fusion_mpi_SOURCES = mpi-runtime/test/fusion-mpi.c
mpi_runtime_test_fusion_mpi_CPPFLAGS = $(MPI_TEST_CPPFLAGS)
mpi_runtime_test_fusion_mpi_LDADD = $(MPI_TEST_LDADD)

UNIT_TESTS += mpi-runtime/test/allreduce.t mpi-runtime/test/fusion.t
EXTRA_DIST += mpi-runtime/test/mpi-tap.sh mpi-runtime/test/allreduce.t mpi-runtime/test/fusion.t
