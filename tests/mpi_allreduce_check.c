/* SPDX-License-Identifier: GPL-2.0-or-later */
/* An Open MPI program for the sandbox tests: every rank contributes known
 * vectors, checks the MPI_Allreduce results itself and reports where it ran. */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define COUNT 4099 /* prime: not divisible by any rank count */

int main(int argc, char **argv)
{
    int rank, size, len;
    char host[MPI_MAX_PROCESSOR_NAME];

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Get_processor_name(host, &len);

    int64_t *in = malloc(COUNT * sizeof *in), *out = malloc(COUNT * sizeof *out);
    double *din = malloc(COUNT * sizeof *din), *dout = malloc(COUNT * sizeof *dout);
    if (!in || !out || !din || !dout) {
        fprintf(stderr, "rank %d: out of memory\n", rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (int i = 0; i < COUNT; i++) {
        in[i] = (int64_t)(rank + 1) * (i + 1);
        din[i] = (double)(rank + 1) * 0.5; /* exact in binary */
    }
    MPI_Allreduce(in, out, COUNT, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(din, dout, COUNT, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);

    /* sum over ranks of (r+1) = size(size+1)/2 */
    int64_t ranksum = (int64_t)size * (size + 1) / 2;
    int bad = 0;
    for (int i = 0; i < COUNT; i++) {
        if (out[i] != ranksum * (i + 1) || dout[i] != (double)ranksum * 0.5)
            bad++;
    }
    const char *node = getenv("SLURMD_NODENAME");
    printf("rank %d of %d on %s node %s: allreduce %s (sum of ranks %lld)\n", rank, size, host,
           node ? node : "-", bad ? "WRONG" : "ok", (long long)ranksum);
    free(in);
    free(out);
    free(din);
    free(dout);
    MPI_Finalize();
    return bad ? 1 : 0;
}
