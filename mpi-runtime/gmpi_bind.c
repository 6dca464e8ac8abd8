/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libgpumarket-mpi: binding each local rank to the GPU nearest its CPUs
 * (hwloc PCI locality), the NIC nearest that GPU and cores near the GPU,
 * from the real machine or an hwloc XML topology. */
#include "config.h"

#include "mpi-runtime/gmpi_internal.h"

#include <errno.h>
#include <hwloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NICS 64

struct device {
    hwloc_obj_t pci;
    hwloc_const_cpuset_t locality; /* cpuset of the nearest normal ancestor */
    char busid[16];
    char name[32];
};

static void busid(hwloc_obj_t o, char *out, size_t n)
{
    snprintf(out, n, "%04x:%02x:%02x.%01x", o->attr->pcidev.domain, o->attr->pcidev.bus,
             o->attr->pcidev.dev, o->attr->pcidev.func);
}

static int is_gpu(hwloc_obj_t o)
{
    unsigned v = o->attr->pcidev.vendor_id, c = o->attr->pcidev.class_id;
    return (v == 0x10de || v == 0x1002) && (c == 0x0302 || c == 0x0300);
}

static int is_nic(hwloc_obj_t o)
{
    unsigned c = o->attr->pcidev.class_id;
    return c == 0x0200 || c == 0x0207;
}

static void first_osdev_name(hwloc_obj_t o, char *out, size_t n)
{
    out[0] = 0;
    /* Prefer the OpenFabrics name (mlx5_0) over the network one (ib0). */
    for (hwloc_obj_t c = o->io_first_child; c; c = c->next_sibling)
        if (c->type == HWLOC_OBJ_OS_DEVICE && c->name &&
            c->attr->osdev.type == HWLOC_OBJ_OSDEV_OPENFABRICS) {
            snprintf(out, n, "%s", c->name);
            return;
        }
    for (hwloc_obj_t c = o->io_first_child; c; c = c->next_sibling)
        if (c->type == HWLOC_OBJ_OS_DEVICE && c->name) {
            snprintf(out, n, "%s", c->name);
            return;
        }
}

static int cmp_busid(const void *a, const void *b)
{
    return strcmp(((const struct device *)a)->busid, ((const struct device *)b)->busid);
}

/* The GPUs the job may use: an explicit list, else Slurm's, else CUDA's. */
static int allowed_gpus(const char *gpu_list, int ngpus, int *allowed, int *nallowed, char *err,
                        size_t errlen)
{
    const char *source = "gpu_list", *text = gpu_list;
    static const char *const vars[] = { "SLURM_STEP_GPUS", "SLURM_JOB_GPUS",
                                        "CUDA_VISIBLE_DEVICES" };
    for (size_t i = 0; !text && i < 3; i++)
        if ((text = getenv(vars[i])))
            source = vars[i];
    *nallowed = 0;
    if (!text) {
        for (int i = 0; i < ngpus; i++)
            allowed[(*nallowed)++] = i;
        return GMPI_OK;
    }
    const char *p = text;
    while (*p) {
        char *end;
        if (*p < '0' || *p > '9')
            return gmpi_fail(
                err, errlen, GMPI_EINVAL,
                "%s='%s': expected GPU indices like 0,1,3 (UUIDs are not supported); set SLURM_STEP_GPUS or fix %s",
                source, text, source);
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || (*end && *end != ','))
            return gmpi_fail(err, errlen, GMPI_EINVAL, "%s='%s': expected GPU indices like 0,1,3",
                             source, text);
        if (v >= ngpus)
            return gmpi_fail(
                err, errlen, GMPI_EINVAL,
                "%s='%s': GPU %ld does not exist, the topology has %d GPU(s); check the job's GPUs or the topology file",
                source, text, v, ngpus);
        for (int i = 0; i < *nallowed; i++)
            if (allowed[i] == v)
                return gmpi_fail(err, errlen, GMPI_EINVAL, "%s='%s': GPU %ld is listed twice",
                                 source, text, v);
        allowed[(*nallowed)++] = (int)v;
        p = end;
        if (*p == ',') {
            p++;
            if (!*p)
                return gmpi_fail(err, errlen, GMPI_EINVAL, "%s='%s': trailing comma", source, text);
        }
    }
    return GMPI_OK;
}

/* Hops from a to the nearest common ancestor and down to b. */
static int hops(hwloc_obj_t a, hwloc_obj_t b)
{
    int da = 0;
    for (hwloc_obj_t x = a; x; x = x->parent, da++) {
        int db = 0;
        for (hwloc_obj_t y = b; y; y = y->parent, db++)
            if (x == y)
                return da + db;
    }
    return 1 << 20;
}

/* Share of `cpus` inside `near`, compared as fractions a/b without floats. */
static int better_share(hwloc_const_bitmap_t cpus, hwloc_const_bitmap_t near_a,
                        hwloc_const_bitmap_t near_b, int *equal)
{
    hwloc_bitmap_t x = hwloc_bitmap_alloc();
    hwloc_bitmap_and(x, cpus, near_a);
    long long ia = hwloc_bitmap_weight(x), wa = hwloc_bitmap_weight(near_a);
    hwloc_bitmap_and(x, cpus, near_b);
    long long ib = hwloc_bitmap_weight(x), wb = hwloc_bitmap_weight(near_b);
    hwloc_bitmap_free(x);
    if (wa <= 0)
        wa = 1;
    if (wb <= 0)
        wb = 1;
    *equal = ia * wb == ib * wa;
    return ia * wb > ib * wa;
}

static int load_topology(const char *xml, hwloc_topology_t *topo, char *err, size_t errlen)
{
    if (!xml || !*xml)
        xml = getenv("GPUMARKET_TOPOLOGY_XML");
    if (xml && !*xml)
        xml = NULL;
    if (hwloc_topology_init(topo))
        return gmpi_fail(err, errlen, GMPI_ENOMEM, "hwloc_topology_init failed");
    /* PCI devices and OS devices are filtered out by default. */
    hwloc_topology_set_io_types_filter(*topo, HWLOC_TYPE_FILTER_KEEP_ALL);
    /* The Linux backend reads PCI devices from sysfs; the libpciaccess
     * plugin adds nothing here and leaks memory on every load. */
    hwloc_topology_set_components(*topo, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, "pci");
    if (xml && hwloc_topology_set_xml(*topo, xml)) {
        int e = errno;
        hwloc_topology_destroy(*topo);
        return gmpi_fail(err, errlen, GMPI_EINVAL,
                         "topology file %s: %s; give an hwloc XML file (lstopo --of xml)", xml,
                         strerror(e));
    }
    if (hwloc_topology_load(*topo)) {
        int e = errno;
        hwloc_topology_destroy(*topo);
        return gmpi_fail(err, errlen, GMPI_EINVAL, "%s%s: hwloc could not load it: %s",
                         xml ? "topology file " : "this machine's topology", xml ? xml : "",
                         strerror(e));
    }
    return GMPI_OK;
}

int gmpi_bind_compute_all(const char *topology_xml, int local_size, const char *gpu_list,
                          const char *const *rank_cpus, gmpi_binding *out, char *err, size_t errlen)
{
    hwloc_topology_t topo;
    struct device gpus[GMPI_MAX_GPUS], nics[MAX_NICS];
    int ngpus = 0, nnics = 0, rc;
    if (local_size < 1 || local_size > 4096)
        return gmpi_fail(err, errlen, GMPI_EINVAL, "binding: local size %d is not from 1 to 4096",
                         local_size);
    if ((rc = load_topology(topology_xml, &topo, err, errlen)))
        return rc;
    for (hwloc_obj_t o = hwloc_get_next_pcidev(topo, NULL); o; o = hwloc_get_next_pcidev(topo, o)) {
        struct device *d = NULL;
        if (is_gpu(o) && ngpus < GMPI_MAX_GPUS)
            d = &gpus[ngpus++];
        else if (is_nic(o) && nnics < MAX_NICS)
            d = &nics[nnics++];
        if (!d)
            continue;
        d->pci = o;
        d->locality = hwloc_get_non_io_ancestor_obj(topo, o)->cpuset;
        busid(o, d->busid, sizeof d->busid);
        first_osdev_name(o, d->name, sizeof d->name);
    }
    qsort(gpus, (size_t)ngpus, sizeof gpus[0], cmp_busid);
    qsort(nics, (size_t)nnics, sizeof nics[0], cmp_busid);

    int allowed[GMPI_MAX_GPUS], nallowed;
    int *gpu_of = calloc((size_t)local_size, sizeof *gpu_of);
    hwloc_bitmap_t *cpus = calloc((size_t)local_size, sizeof *cpus);
    if (!gpu_of || !cpus) {
        rc = gmpi_fail(err, errlen, GMPI_ENOMEM, "binding: out of memory");
        goto out;
    }
    if ((rc = allowed_gpus(gpu_list, ngpus, allowed, &nallowed, err, errlen)))
        goto out;
    hwloc_const_cpuset_t machine = hwloc_topology_get_topology_cpuset(topo);
    for (int r = 0; r < local_size; r++) {
        cpus[r] = hwloc_bitmap_alloc();
        if (rank_cpus && rank_cpus[r] && *rank_cpus[r]) {
            if (hwloc_bitmap_list_sscanf(cpus[r], rank_cpus[r]) || hwloc_bitmap_iszero(cpus[r])) {
                rc = gmpi_fail(err, errlen, GMPI_EINVAL,
                               "binding: local rank %d's CPU set '%s' is not a CPU list like 0-3,8",
                               r, rank_cpus[r]);
                goto out;
            }
            hwloc_bitmap_and(cpus[r], cpus[r], machine);
            if (hwloc_bitmap_iszero(cpus[r]))
                hwloc_bitmap_copy(cpus[r], machine);
        } else {
            hwloc_bitmap_copy(cpus[r], machine);
        }
    }

    /* GPUs: each rank in order takes the least-used allowed GPU, then the
     * one holding the largest share of its CPUs, then the lowest index. */
    int use[GMPI_MAX_GPUS] = { 0 };
    for (int r = 0; r < local_size; r++) {
        int best = -1;
        for (int i = 0; i < nallowed; i++) {
            int g = allowed[i], eq;
            if (best < 0 || use[g] < use[best]) {
                best = g;
                continue;
            }
            if (use[g] > use[best])
                continue;
            if (better_share(cpus[r], gpus[g].locality, gpus[best].locality, &eq))
                best = g;
            else if (eq && g < best)
                best = g;
        }
        gpu_of[r] = best;
        if (best >= 0)
            use[best]++;
    }

    /* Cores: the ranks whose GPUs share one locality split its cores in
     * equal contiguous runs, in rank order.  Without a GPU: the machine. */
    int nic_use[MAX_NICS] = { 0 };
    for (int r = 0; r < local_size; r++) {
        gmpi_binding *b = &out[r];
        memset(b, 0, sizeof *b);
        b->gpu = gpu_of[r];
        b->visible_index = -1;
        hwloc_const_cpuset_t near = b->gpu >= 0 ? gpus[b->gpu].locality : machine;
        int group = 0, pos = 0;
        for (int q = 0; q < local_size; q++) {
            hwloc_const_cpuset_t nq = gpu_of[q] >= 0 ? gpus[gpu_of[q]].locality : machine;
            if (hwloc_bitmap_isequal(nq, near)) {
                if (q < r)
                    pos++;
                group++;
            }
        }
        int ncores = hwloc_get_nbobjs_inside_cpuset_by_type(topo, near, HWLOC_OBJ_CORE);
        hwloc_bitmap_t mine = hwloc_bitmap_alloc();
        if (ncores <= 0) {
            hwloc_bitmap_copy(mine, near);
        } else if (group <= ncores) {
            int first = pos * ncores / group, last = (pos + 1) * ncores / group;
            for (int c = first; c < last; c++)
                hwloc_bitmap_or(
                    mine, mine,
                    hwloc_get_obj_inside_cpuset_by_type(topo, near, HWLOC_OBJ_CORE, (unsigned)c)
                        ->cpuset);
            b->cores = last - first;
        } else {
            /* More ranks than cores: they share, one core each. */
            hwloc_bitmap_copy(mine, hwloc_get_obj_inside_cpuset_by_type(topo, near, HWLOC_OBJ_CORE,
                                                                        (unsigned)(pos % ncores))
                                        ->cpuset);
            b->cores = 1;
        }
        hwloc_bitmap_list_snprintf(b->cpus, sizeof b->cpus, mine);
        if (b->gpu >= 0) {
            snprintf(b->gpu_busid, sizeof b->gpu_busid, "%s", gpus[b->gpu].busid);
            for (int i = 0; i < nallowed; i++)
                if (allowed[i] == b->gpu)
                    b->visible_index = i;
        }
        /* NIC: fewest PCI hops from the GPU (or most of the rank's cores
         * near it without a GPU), then least used, then lowest bus id. */
        int best = -1, best_hops = 0;
        for (int i = 0; i < nnics; i++) {
            int h;
            if (b->gpu >= 0) {
                h = hops(gpus[b->gpu].pci, nics[i].pci);
            } else {
                hwloc_bitmap_t x = hwloc_bitmap_alloc();
                hwloc_bitmap_and(x, mine, nics[i].locality);
                h = -hwloc_bitmap_weight(x);
                hwloc_bitmap_free(x);
            }
            if (best < 0 || h < best_hops || (h == best_hops && nic_use[i] < nic_use[best])) {
                best = i;
                best_hops = h;
            }
        }
        if (best >= 0) {
            nic_use[best]++;
            snprintf(b->nic_busid, sizeof b->nic_busid, "%s", nics[best].busid);
            snprintf(b->nic_name, sizeof b->nic_name, "%s", nics[best].name);
        }
        hwloc_bitmap_free(mine);
    }
    rc = GMPI_OK;
out:
    if (cpus)
        for (int r = 0; r < local_size; r++)
            hwloc_bitmap_free(cpus[r]);
    free(cpus);
    free(gpu_of);
    hwloc_topology_destroy(topo);
    return rc;
}

int gmpi_bind_compute(const char *topology_xml, int local_rank, int local_size,
                      const char *gpu_list, const char *rank_cpus, gmpi_binding *out, char *err,
                      size_t errlen)
{
    if (local_rank < 0 || local_rank >= local_size)
        return gmpi_fail(err, errlen, GMPI_EINVAL,
                         "binding: local rank %d is not below the local size %d", local_rank,
                         local_size);
    gmpi_binding *all = calloc((size_t)local_size, sizeof *all);
    const char **cpus = calloc((size_t)local_size, sizeof *cpus);
    if (!all || !cpus) {
        free(all);
        free(cpus);
        return gmpi_fail(err, errlen, GMPI_ENOMEM, "binding: out of memory");
    }
    /* Only this rank's CPU set is known: the others are taken as the
     * whole machine, so ties fall to the lowest index as for every rank. */
    cpus[local_rank] = rank_cpus;
    int rc = gmpi_bind_compute_all(topology_xml, local_size, gpu_list, cpus, all, err, errlen);
    if (!rc)
        *out = all[local_rank];
    free(all);
    free(cpus);
    return rc;
}

int gmpi_bind_node(gmpi_ctx *ctx, const char *topology_xml, const char *gpu_list, gmpi_binding *out,
                   char *err, size_t errlen)
{
    char mine[256] = "";
    hwloc_topology_t topo;
    int rc;
    if (ctx->fusion)
        return gmpi_fail(err, errlen, GMPI_EBUSY, "gmpi_bind_node: stop the fusion engine first");
    /* This rank's current CPU binding, as the launcher set it. */
    if (!load_topology(NULL, &topo, NULL, 0)) {
        hwloc_bitmap_t set = hwloc_bitmap_alloc();
        if (!hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_PROCESS))
            hwloc_bitmap_list_snprintf(mine, sizeof mine, set);
        hwloc_bitmap_free(set);
        hwloc_topology_destroy(topo);
    }
    /* With an XML topology the real machine's CPU numbers mean nothing. */
    if ((topology_xml && *topology_xml) || getenv("GPUMARKET_TOPOLOGY_XML"))
        mine[0] = 0;
    size_t n = (size_t)ctx->local_size;
    char *all = calloc(n, sizeof mine);
    const char **ptrs = calloc(n, sizeof *ptrs);
    gmpi_binding *res = calloc(n, sizeof *res);
    if (!all || !ptrs || !res) {
        free(all);
        free(ptrs);
        free(res);
        return gmpi_fail(err, errlen, GMPI_ENOMEM, "binding: out of memory");
    }
    int mrc = MPI_Allgather(mine, (int)sizeof mine, MPI_CHAR, all, (int)sizeof mine, MPI_CHAR,
                            ctx->node_comm);
    if (mrc != MPI_SUCCESS) {
        rc = gmpi_mpi_fail(err, errlen, mrc, "MPI_Allgather (binding)");
    } else {
        for (size_t i = 0; i < n; i++) {
            all[i * sizeof mine + sizeof mine - 1] = 0;
            ptrs[i] = all + i * sizeof mine;
        }
        rc = gmpi_bind_compute_all(topology_xml, ctx->local_size, gpu_list, ptrs, res, err, errlen);
        if (!rc)
            *out = res[ctx->local_rank];
    }
    free(all);
    free(ptrs);
    free(res);
    return rc;
}

int gmpi_bind_apply(const gmpi_binding *b, char *err, size_t errlen)
{
    hwloc_topology_t topo;
    int rc;
    if (hwloc_topology_init(&topo))
        return gmpi_fail(err, errlen, GMPI_ENOMEM, "hwloc_topology_init failed");
    hwloc_topology_set_components(topo, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, "pci");
    if (hwloc_topology_load(topo)) {
        hwloc_topology_destroy(topo);
        return gmpi_fail(err, errlen, GMPI_EINVAL, "cannot load this machine's topology");
    }
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (hwloc_bitmap_list_sscanf(set, b->cpus) || hwloc_bitmap_iszero(set)) {
        rc = gmpi_fail(err, errlen, GMPI_EINVAL, "binding: CPU list '%s' is empty or malformed",
                       b->cpus);
    } else if (hwloc_set_cpubind(topo, set, HWLOC_CPUBIND_PROCESS)) {
        rc = gmpi_fail(err, errlen, GMPI_EINVAL,
                       "binding to CPUs %s failed: %s (a topology file from another machine?)",
                       b->cpus, strerror(errno));
    } else {
        rc = GMPI_OK;
    }
    hwloc_bitmap_free(set);
    hwloc_topology_destroy(topo);
    return rc;
}

int gmpi_bind_format(const gmpi_binding *b, int rank, int local_rank, char *buf, size_t buflen)
{
    char gpu[48], nic[64];
    if (b->gpu >= 0)
        snprintf(gpu, sizeof gpu, "GPU %d [%s] (device %d)", b->gpu, b->gpu_busid,
                 b->visible_index);
    else
        snprintf(gpu, sizeof gpu, "no GPU");
    if (b->nic_busid[0])
        snprintf(nic, sizeof nic, "NIC %s [%s]", b->nic_name[0] ? b->nic_name : "?", b->nic_busid);
    else
        snprintf(nic, sizeof nic, "no NIC");
    return snprintf(buf, buflen, "rank %d (local %d): %s, %s, %d core(s) cpus %s", rank, local_rank,
                    gpu, nic, b->cores, b->cpus);
}

/* The data-cache sizes of the first core, from hwloc: the shared-memory
 * allreduce and the fused path size their pieces from them. */
int gmpi_cache_sizes(gmpi_caches *out, char *err, size_t errlen)
{
    hwloc_topology_t topo;
    memset(out, 0, sizeof *out);
    if (hwloc_topology_init(&topo))
        return gmpi_fail(err, errlen, GMPI_ENOMEM, "hwloc_topology_init failed");
    if (hwloc_topology_load(topo)) {
        int e = errno;
        hwloc_topology_destroy(topo);
        return gmpi_fail(err, errlen, GMPI_EINVAL,
                         "hwloc could not load this machine's topology: %s", strerror(e));
    }
    static const hwloc_obj_type_t types[3] = { HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L2CACHE,
                                               HWLOC_OBJ_L3CACHE };
    size_t *sizes[3] = { &out->l1d, &out->l2, &out->l3 };
    for (int i = 0; i < 3; i++) {
        hwloc_obj_t o = hwloc_get_obj_by_type(topo, types[i], 0);
        if (!o || !o->attr)
            continue;
        *sizes[i] = (size_t)o->attr->cache.size;
        if (i == 2 && o->cpuset)
            out->l3_pus = hwloc_bitmap_weight(o->cpuset);
    }
    hwloc_topology_destroy(topo);
    return GMPI_OK;
}
