/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Binding on the project's hwloc XML topologies (two sockets with GPUs and
 * NICs under different PCI bridges, a flat node, an uneven node), with
 * Slurm-style GPU subsets and CPU sets, and every bad input refused. */
#include "config.h"

#include "mpi-runtime/gpumarket_mpi.h"
#include "tests/tap/tap.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct expect {
    int gpu, visible;
    const char *nic;
    const char *cpus;
};

struct row {
    const char *name;
    const char *topology;
    const char *gpu_list;
    int local_size;
    const char *rank_cpus[6];
    struct expect want[6];
};

static const struct row rows[] = {
    { "two sockets, 4 unbound ranks: one GPU each, cores split per socket, NIC under the same socket",
      "two-socket",
      NULL,
      4,
      { 0 },
      { { 0, 0, "mlx5_0", "0-3" },
        { 1, 1, "mlx5_0", "4-7" },
        { 2, 2, "mlx5_1", "8-11" },
        { 3, 3, "mlx5_1", "12-15" } } },
    { "two sockets, rank 0 bound to socket 1: it gets socket 1's GPU and NIC",
      "two-socket",
      NULL,
      2,
      { "8-15", "0-7" },
      { { 2, 2, "mlx5_1", "8-15" }, { 0, 0, "mlx5_0", "0-7" } } },
    { "two sockets, Slurm gave GPUs 1,3",
      "two-socket",
      "1,3",
      2,
      { 0 },
      { { 1, 0, "mlx5_0", "0-7" }, { 3, 1, "mlx5_1", "8-15" } } },
    { "two sockets, GPUs 2,3 for 4 ranks: two ranks per GPU, socket 1's cores split four ways",
      "two-socket",
      "2,3",
      4,
      { 0 },
      { { 2, 0, "mlx5_1", "8-9" },
        { 3, 1, "mlx5_1", "10-11" },
        { 2, 0, "mlx5_1", "12-13" },
        { 3, 1, "mlx5_1", "14-15" } } },
    { "flat node: ties go to the lowest index, NICs alternate",
      "flat",
      NULL,
      4,
      { 0 },
      { { 0, 0, "eth0", "0-1" },
        { 1, 1, "eth1", "2-3" },
        { 2, 2, "eth0", "4-5" },
        { 3, 3, "eth1", "6-7" } } },
    { "flat node, list 3,0: device numbers follow the list order",
      "flat",
      "3,0",
      2,
      { 0 },
      { { 0, 1, "eth0", "0-3" }, { 3, 0, "eth1", "4-7" } } },
    { "flat node, 5 ranks on 4 GPUs: the fifth shares GPU 0",
      "flat",
      NULL,
      5,
      { 0 },
      { { 0, 0, "eth0", "0" },
        { 1, 1, "eth1", "1-2" },
        { 2, 2, "eth0", "3" },
        { 3, 3, "eth1", "4-5" },
        { 0, 0, "eth0", "6-7" } } },
    { "uneven node: the NVIDIA bridge chip is no GPU; socket 0's GPUs first",
      "uneven",
      NULL,
      3,
      { 0 },
      { { 0, 0, "mlx5_0", "0-1" }, { 1, 1, "mlx5_0", "2-3" }, { 2, 2, "mlx5_0", "4-5" } } },
    { "uneven node, both ranks bound to socket 1: one gets its only GPU, the other the nearest unused",
      "uneven",
      NULL,
      2,
      { "6-7", "6-7" },
      { { 3, 3, "mlx5_0", "6-7" }, { 0, 0, "mlx5_0", "0-5" } } },
    { "uneven node, Slurm gave GPU 3 to 3 ranks: they share it and socket 1's two cores",
      "uneven",
      "3",
      3,
      { 0 },
      { { 3, 0, "mlx5_0", "6" }, { 3, 0, "mlx5_0", "7" }, { 3, 0, "mlx5_0", "6" } } },
    { "flat node, no GPU allowed (empty list): cores split over the machine",
      "flat",
      "",
      2,
      { 0 },
      { { -1, -1, "eth0", "0-3" }, { -1, -1, "eth1", "4-7" } } },
};

struct bad {
    const char *name;
    const char *topology;
    const char *gpu_list;
    const char *cpus;
    int local_rank, local_size;
    const char *needle;
};

static const struct bad bads[] = {
    { "a GPU listed twice", "two-socket", "0,0", NULL, 0, 1, "listed twice" },
    { "a GPU that does not exist", "two-socket", "9", NULL, 0, 1, "GPU 9 does not exist" },
    { "a UUID", "two-socket", "GPU-5e1d", NULL, 0, 1, "UUIDs" },
    { "a trailing comma", "two-socket", "1,", NULL, 0, 1, "trailing comma" },
    { "a negative index", "two-socket", "-1", NULL, 0, 1, "gpu_list='-1'" },
    { "garbage after a number", "flat", "1x", NULL, 0, 1, "expected GPU indices" },
    { "a CPU set that is not a list", "flat", NULL, "zz", 0, 1, "not a CPU list" },
    { "a local rank past the local size", "flat", NULL, NULL, 2, 2, "local rank 2" },
    { "a missing topology file", "no-such-file", NULL, NULL, 0, 1, "no-such-file" },
    { "a local size of 0", "flat", NULL, NULL, 0, 0, "local rank 0" },
};

static char path_buf[4096];

static const char *topo(const char *name)
{
    const char *src = getenv("top_srcdir");
    snprintf(path_buf, sizeof path_buf, "%s/mpi-runtime/test/topologies/%s.xml", src ? src : "..",
             name);
    return path_buf;
}

int main(void)
{
    char err[1024];
    plan(TAP_NO_PLAN);
    unsetenv("SLURM_STEP_GPUS");
    unsetenv("SLURM_JOB_GPUS");
    unsetenv("CUDA_VISIBLE_DEVICES");
    unsetenv("GPUMARKET_TOPOLOGY_XML");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct row *r = &rows[i];
        gmpi_binding out[6];
        int rc = gmpi_bind_compute_all(topo(r->topology), r->local_size, r->gpu_list, r->rank_cpus,
                                       out, err, sizeof err);
        int pass = rc == 0;
        if (!pass)
            diag("%s", err);
        for (int k = 0; k < r->local_size && pass; k++) {
            const struct expect *w = &r->want[k];
            if (out[k].gpu != w->gpu || out[k].visible_index != w->visible ||
                strcmp(out[k].nic_name, w->nic) || strcmp(out[k].cpus, w->cpus)) {
                diag(
                    "local rank %d: got GPU %d (device %d) NIC %s cpus %s; want GPU %d (device %d) NIC %s cpus %s",
                    k, out[k].gpu, out[k].visible_index, out[k].nic_name, out[k].cpus, w->gpu,
                    w->visible, w->nic, w->cpus);
                pass = 0;
            }
        }
        ok(pass, "%s", r->name);
        /* The single-rank entry point agrees with the whole-node one. */
        if (pass && !r->rank_cpus[0]) {
            gmpi_binding one;
            int last = r->local_size - 1;
            rc = gmpi_bind_compute(topo(r->topology), last, r->local_size, r->gpu_list, NULL, &one,
                                   err, sizeof err);
            ok(rc == 0 && one.gpu == out[last].gpu && strcmp(one.cpus, out[last].cpus) == 0,
               "%s: gmpi_bind_compute for the last rank agrees", r->topology);
        }
    }

    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        const struct bad *b = &bads[i];
        gmpi_binding out;
        err[0] = 0;
        int rc = gmpi_bind_compute(topo(b->topology), b->local_rank, b->local_size, b->gpu_list,
                                   b->cpus, &out, err, sizeof err);
        if (!ok(rc == GMPI_EINVAL && strstr(err, b->needle) && strncmp(err, "gpumarket", 9) != 0,
                "refused: %s", b->name))
            diag("rc %d: %s", rc, err);
    }

    /* Where the GPU list comes from: Slurm's step, then job, then CUDA. */
    gmpi_binding b;
    setenv("CUDA_VISIBLE_DEVICES", "1", 1);
    ok(gmpi_bind_compute(topo("two-socket"), 0, 1, NULL, NULL, &b, err, sizeof err) == 0 &&
           b.gpu == 1,
       "CUDA_VISIBLE_DEVICES is used without Slurm's variables");
    setenv("SLURM_JOB_GPUS", "2", 1);
    ok(gmpi_bind_compute(topo("two-socket"), 0, 1, NULL, NULL, &b, err, sizeof err) == 0 &&
           b.gpu == 2,
       "SLURM_JOB_GPUS wins over CUDA_VISIBLE_DEVICES");
    setenv("SLURM_STEP_GPUS", "3", 1);
    ok(gmpi_bind_compute(topo("two-socket"), 0, 1, NULL, NULL, &b, err, sizeof err) == 0 &&
           b.gpu == 3,
       "SLURM_STEP_GPUS wins over SLURM_JOB_GPUS");
    ok(gmpi_bind_compute(topo("two-socket"), 0, 1, "0", NULL, &b, err, sizeof err) == 0 &&
           b.gpu == 0,
       "an explicit list wins over the environment");
    setenv("SLURM_STEP_GPUS", "7", 1);
    ok(gmpi_bind_compute(topo("two-socket"), 0, 1, NULL, NULL, &b, err, sizeof err) ==
               GMPI_EINVAL &&
           strstr(err, "SLURM_STEP_GPUS='7'"),
       "a bad Slurm variable is refused by name");
    unsetenv("SLURM_STEP_GPUS");
    unsetenv("SLURM_JOB_GPUS");
    unsetenv("CUDA_VISIBLE_DEVICES");
    setenv("GPUMARKET_TOPOLOGY_XML", topo("uneven"), 1);
    ok(gmpi_bind_compute(NULL, 0, 1, "3", NULL, &b, err, sizeof err) == 0 &&
           strcmp(b.gpu_busid, "0000:91:00.0") == 0,
       "GPUMARKET_TOPOLOGY_XML selects the topology");
    unsetenv("GPUMARKET_TOPOLOGY_XML");

    char line[512];
    gmpi_bind_compute(topo("two-socket"), 1, 4, NULL, NULL, &b, err, sizeof err);
    gmpi_bind_format(&b, 5, 1, line, sizeof line);
    is_str(
        line,
        "rank 5 (local 1): GPU 1 [0000:12:00.0] (device 1), NIC mlx5_0 [0000:21:00.0], 4 core(s) cpus 4-7",
        "the binding report names rank, GPU, NIC and cores");

    /* The real machine loads too (no GPU here is fine). */
    ok(gmpi_bind_compute(NULL, 0, 1, "", NULL, &b, err, sizeof err) == 0 && b.gpu == -1 &&
           b.cores >= 1,
       "this machine's own topology loads");
    /* Applying a binding binds the process; a bad CPU list is refused. */
    gmpi_binding apply;
    memset(&apply, 0, sizeof apply);
    snprintf(apply.cpus, sizeof apply.cpus, "0");
    cpu_set_t before, after;
    sched_getaffinity(0, sizeof before, &before);
    int applied = gmpi_bind_apply(&apply, err, sizeof err);
    sched_getaffinity(0, sizeof after, &after);
    ok(applied == 0 && CPU_COUNT(&after) == 1 && CPU_ISSET(0, &after),
       "gmpi_bind_apply binds to the cores given");
    sched_setaffinity(0, sizeof before, &before);
    snprintf(apply.cpus, sizeof apply.cpus, "x-y");
    ok(gmpi_bind_apply(&apply, err, sizeof err) == GMPI_EINVAL && strstr(err, "'x-y'"),
       "gmpi_bind_apply refuses a malformed CPU list by name");
    done_testing();
    return exit_status();
}
