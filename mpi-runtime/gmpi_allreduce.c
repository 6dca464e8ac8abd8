/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libgpumarket-mpi: allreduce algorithms on host buffers (ring, recursive
 * doubling, hierarchical, deterministic) and the choice between them. */
#include "config.h"

#include "mpi-runtime/gmpi_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Point-to-point pieces stay far below INT_MAX bytes. */
#define MAX_MESSAGE ((size_t)1 << 30)
/* Ring pipelining: a block travels as segments so the reduction of one
 * overlaps the transfer of the next.  Segment tags wrap at 32768 (the
 * smallest MPI_TAG_UB allowed); MPI's in-order matching keeps them apart. */
#define RING_SEGMENT ((size_t)256 << 10)
/* Rabenseifner's halving steps exchange and reduce in pieces that stay in
 * a core's cache between their arrival and their reduction (measured at 4
 * ranks on 2 cores: unsegmented, 64 KiB and 1 MiB pieces did no better,
 * and worse at 16 MiB). */
#define RAB_SEGMENT ((size_t)256 << 10)
/* Deterministic mode works on the buffer in pieces to bound scratch memory. */
#define DET_PIECE ((size_t)16 << 20)

void gmpi_block_range(size_t count, int parts, int i, size_t *start, size_t *len)
{
    size_t q = count / (size_t)parts, r = count % (size_t)parts;
    *start = (size_t)i * q + ((size_t)i < r ? (size_t)i : r);
    *len = q + ((size_t)i < r ? 1 : 0);
}

/* The context's scratch buffer, grown to at least bytes; NULL when out of
 * memory.  Only one thread runs an allreduce at a time. */
static char *scratch(gmpi_ctx *ctx, size_t bytes)
{
    if (ctx->scratch_size < bytes) {
        char *p = realloc(ctx->scratch, bytes);
        if (!p)
            return NULL;
        ctx->scratch = p;
        ctx->scratch_size = bytes;
    }
    return ctx->scratch;
}

int gmpi_scratch_reserve(gmpi_ctx *ctx, size_t bytes)
{
    /* Every algorithm's scratch is at most the buffer plus one element per
     * rank. */
    return scratch(ctx, bytes + 16 * (size_t)ctx->size) ? GMPI_OK : GMPI_ENOMEM;
}

static int sendrecv_bytes(const char *sbuf, size_t sbytes, int dest, char *rbuf, size_t rbytes,
                          int src, MPI_Comm comm, char *err, size_t errlen)
{
    size_t off_s = 0, off_r = 0;
    while (off_s < sbytes || off_r < rbytes) {
        size_t ns = sbytes - off_s < MAX_MESSAGE ? sbytes - off_s : MAX_MESSAGE;
        size_t nr = rbytes - off_r < MAX_MESSAGE ? rbytes - off_r : MAX_MESSAGE;
        int rc = MPI_Sendrecv(sbuf + off_s, (int)ns, MPI_BYTE,
                              ns || off_s < sbytes ? dest : MPI_PROC_NULL, 7, rbuf + off_r, (int)nr,
                              MPI_BYTE, nr || off_r < rbytes ? src : MPI_PROC_NULL, 7, comm,
                              MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return gmpi_mpi_fail(err, errlen, rc, "MPI_Sendrecv");
        off_s += ns;
        off_r += nr;
    }
    return GMPI_OK;
}

static int send_bytes(const char *buf, size_t bytes, int dest, MPI_Comm comm, char *err,
                      size_t errlen)
{
    return sendrecv_bytes(buf, bytes, dest, NULL, 0, MPI_PROC_NULL, comm, err, errlen);
}

static int recv_bytes(char *buf, size_t bytes, int src, MPI_Comm comm, char *err, size_t errlen)
{
    return sendrecv_bytes(NULL, 0, MPI_PROC_NULL, buf, bytes, src, comm, err, errlen);
}

/* Ring reduce-scatter: afterwards rank r holds the full reduction of block
 * (r + 1) % p.  scratch holds one block. */
static int ring_reduce_scatter(MPI_Comm comm, char *buf, size_t count, size_t esize,
                               gmpi_dtype dtype, gmpi_op op, char *scratch, char *err,
                               size_t errlen)
{
    int p, r, rc = GMPI_OK;
    MPI_Comm_size(comm, &p);
    MPI_Comm_rank(comm, &r);
    int right = (r + 1) % p, left = (r - 1 + p) % p;
    size_t max_block = count / (size_t)p + 1;
    size_t seg_elems = RING_SEGMENT / esize;
    size_t max_segs = (max_block + seg_elems - 1) / seg_elems + 1;
    MPI_Request *rreq = malloc(2 * max_segs * sizeof *rreq);
    if (!rreq)
        return gmpi_fail(err, errlen, GMPI_ENOMEM, "out of memory for ring requests");
    MPI_Request *sreq = rreq + max_segs;
    for (int s = 0; s < p - 1 && rc == GMPI_OK; s++) {
        size_t sstart, slen, rstart, rlen;
        gmpi_block_range(count, p, (r - s + p) % p, &sstart, &slen);
        gmpi_block_range(count, p, (r - s - 1 + 2 * p) % p, &rstart, &rlen);
        int nrs = 0, nss = 0;
        for (size_t off = 0; off < rlen; off += seg_elems, nrs++) {
            size_t n = rlen - off < seg_elems ? rlen - off : seg_elems;
            int mrc = MPI_Irecv(scratch + off * esize, (int)(n * esize), MPI_BYTE, left,
                                nrs % 32768, comm, &rreq[nrs]);
            if (mrc != MPI_SUCCESS)
                rc = gmpi_mpi_fail(err, errlen, mrc, "MPI_Irecv");
        }
        for (size_t off = 0; off < slen; off += seg_elems, nss++) {
            size_t n = slen - off < seg_elems ? slen - off : seg_elems;
            int mrc = MPI_Isend(buf + (sstart + off) * esize, (int)(n * esize), MPI_BYTE, right,
                                nss % 32768, comm, &sreq[nss]);
            if (mrc != MPI_SUCCESS)
                rc = gmpi_mpi_fail(err, errlen, mrc, "MPI_Isend");
        }
        int j = 0;
        for (size_t off = 0; off < rlen; off += seg_elems, j++) {
            size_t n = rlen - off < seg_elems ? rlen - off : seg_elems;
            int mrc = MPI_Wait(&rreq[j], MPI_STATUS_IGNORE);
            if (mrc != MPI_SUCCESS && rc == GMPI_OK)
                rc = gmpi_mpi_fail(err, errlen, mrc, "MPI_Wait");
            gmpi_reduce_local(buf + (rstart + off) * esize, scratch + off * esize, n, dtype, op);
        }
        int mrc = MPI_Waitall(nss, sreq, MPI_STATUSES_IGNORE);
        if (mrc != MPI_SUCCESS && rc == GMPI_OK)
            rc = gmpi_mpi_fail(err, errlen, mrc, "MPI_Waitall");
    }
    free(rreq);
    return rc;
}

int gmpi_ring_allgather(MPI_Comm comm, char *buf, size_t count, size_t esize, char *err,
                        size_t errlen)
{
    int p, r, rc;
    MPI_Comm_size(comm, &p);
    MPI_Comm_rank(comm, &r);
    int right = (r + 1) % p, left = (r - 1 + p) % p;
    for (int s = 0; s < p - 1; s++) {
        size_t sstart, slen, rstart, rlen;
        gmpi_block_range(count, p, (r + 1 - s + p) % p, &sstart, &slen);
        gmpi_block_range(count, p, (r - s + p) % p, &rstart, &rlen);
        rc = sendrecv_bytes(buf + sstart * esize, slen * esize, right, buf + rstart * esize,
                            rlen * esize, left, comm, err, errlen);
        if (rc)
            return rc;
    }
    return GMPI_OK;
}

static int ring_allreduce(gmpi_ctx *ctx, MPI_Comm comm, char *buf, size_t count, gmpi_dtype dtype,
                          gmpi_op op, char *err, size_t errlen)
{
    int p;
    MPI_Comm_size(comm, &p);
    if (p == 1 || count == 0)
        return GMPI_OK;
    size_t esize = gmpi_dtype_size(dtype);
    char *tmp = scratch(ctx, (count / (size_t)p + 1) * esize);
    if (!tmp)
        return gmpi_fail(err, errlen, GMPI_ENOMEM, "out of memory for the ring scratch buffer");
    int rc = ring_reduce_scatter(comm, buf, count, esize, dtype, op, tmp, err, errlen);
    if (!rc)
        rc = gmpi_ring_allgather(comm, buf, count, esize, err, errlen);
    return rc;
}

/* The largest power of two not above p (p >= 1). */
static int pow2_floor(int p)
{
    int p2 = 1;
    while (p2 * 2 <= p)
        p2 *= 2;
    return p2;
}

/* Non-power-of-two rank counts, for recursive doubling and Rabenseifner:
 * with p2 the largest power of two not above p and rem = p - p2, the first
 * 2 rem ranks pair up and the even one folds its data into the odd one.
 * Sets *newrank to the rank among the p2 survivors, or -1 for a rank that
 * sat out (it gets the result back from fold_out).  tmp holds bytes. */
static int fold_in(MPI_Comm comm, int r, int rem, char *buf, char *tmp, size_t count, size_t bytes,
                   gmpi_dtype dtype, gmpi_op op, int *newrank, char *err, size_t errlen)
{
    int rc = GMPI_OK;
    if (r >= 2 * rem) {
        *newrank = r - rem;
    } else if (r % 2 == 0) {
        rc = send_bytes(buf, bytes, r + 1, comm, err, errlen);
        *newrank = -1;
    } else {
        rc = recv_bytes(tmp, bytes, r - 1, comm, err, errlen);
        if (!rc)
            gmpi_reduce_local(buf, tmp, count, dtype, op);
        *newrank = r / 2;
    }
    return rc;
}

/* The survivors of fold_in hand the result back to their partners. */
static int fold_out(MPI_Comm comm, int r, int rem, char *buf, size_t bytes, char *err,
                    size_t errlen)
{
    if (r >= 2 * rem)
        return GMPI_OK;
    if (r % 2)
        return send_bytes(buf, bytes, r - 1, comm, err, errlen);
    return recv_bytes(buf, bytes, r + 1, comm, err, errlen);
}

/* Recursive doubling for any rank count: with p2 the largest power of two
 * not above p, the first 2*(p - p2) ranks pair up and the even one folds its
 * data into the odd one, the p2 survivors exchange whole buffers log2(p2)
 * times, then the odd ones hand the result back. */
static int rd_allreduce(gmpi_ctx *ctx, MPI_Comm comm, char *buf, size_t count, gmpi_dtype dtype,
                        gmpi_op op, char *err, size_t errlen)
{
    int p, r, rc = GMPI_OK;
    MPI_Comm_size(comm, &p);
    MPI_Comm_rank(comm, &r);
    if (p == 1 || count == 0)
        return GMPI_OK;
    size_t bytes = count * gmpi_dtype_size(dtype);
    char *tmp = scratch(ctx, bytes);
    if (!tmp)
        return gmpi_fail(err, errlen, GMPI_ENOMEM, "out of memory for recursive doubling");
    int p2 = pow2_floor(p);
    int rem = p - p2, newrank;
    rc = fold_in(comm, r, rem, buf, tmp, count, bytes, dtype, op, &newrank, err, errlen);
    if (newrank >= 0)
        for (int mask = 1; mask < p2 && !rc; mask <<= 1) {
            int pn = newrank ^ mask;
            int peer = pn < rem ? pn * 2 + 1 : pn + rem;
            rc = sendrecv_bytes(buf, bytes, peer, tmp, bytes, peer, comm, err, errlen);
            if (!rc)
                gmpi_reduce_local(buf, tmp, count, dtype, op);
        }
    if (!rc)
        rc = fold_out(comm, r, rem, buf, bytes, err, errlen);
    return rc;
}

/* Elements covered by blocks [lo, lo + nb) of count split in parts. */
static void window_range(size_t count, int parts, int lo, int nb, size_t *start, size_t *len)
{
    size_t end, ln;
    gmpi_block_range(count, parts, lo, start, &ln);
    if (lo + nb >= parts)
        end = count;
    else
        gmpi_block_range(count, parts, lo + nb, &end, &ln);
    *len = end - *start;
}

/* Rabenseifner: reduce-scatter by recursive halving, then allgather by
 * recursive doubling, among the p2 ranks left after the same fold-in of
 * extra ranks as recursive doubling.  It moves as few bytes as the ring
 * (each survivor sends 2 (p2 - 1) / p2 of the buffer) in 2 log2(p2) pairwise
 * steps instead of 2 (p - 1): with more ranks than cores every step is a
 * rendezvous that waits for both partners to be scheduled, so fewer steps
 * win.  Survivor n ends the halving owning block n of p2; a window of
 * blocks [lo, lo + nb) is one contiguous run of elements. */
static int rab_allreduce(gmpi_ctx *ctx, MPI_Comm comm, char *buf, size_t count, gmpi_dtype dtype,
                         gmpi_op op, char *err, size_t errlen)
{
    int p, r, rc = GMPI_OK;
    MPI_Comm_size(comm, &p);
    MPI_Comm_rank(comm, &r);
    if (p == 1 || count == 0)
        return GMPI_OK;
    size_t esize = gmpi_dtype_size(dtype), bytes = count * esize;
    int p2 = pow2_floor(p);
    int rem = p - p2, newrank;
    /* The fold-in receives a whole buffer; the halving at most half of it
     * plus one element per block. */
    char *tmp = scratch(ctx, rem ? bytes : (count / 2 + (size_t)p2) * esize);
    if (!tmp)
        return gmpi_fail(err, errlen, GMPI_ENOMEM, "out of memory for the Rabenseifner allreduce");
    rc = fold_in(comm, r, rem, buf, tmp, count, bytes, dtype, op, &newrank, err, errlen);
    if (newrank >= 0 && !rc) {
        int lo = 0, nb = p2;
        for (int mask = p2 / 2; mask >= 1 && !rc; mask >>= 1) {
            int pn = newrank ^ mask;
            int peer = pn < rem ? pn * 2 + 1 : pn + rem;
            nb /= 2;
            int keep = newrank & mask ? lo + nb : lo, give = newrank & mask ? lo : lo + nb;
            size_t kst, kln, gst, gln;
            window_range(count, p2, keep, nb, &kst, &kln);
            window_range(count, p2, give, nb, &gst, &gln);
            size_t seg = RAB_SEGMENT / esize;
            for (size_t off = 0; off < gln || off < kln; off += seg) {
                size_t gn = off < gln ? (gln - off < seg ? gln - off : seg) : 0;
                size_t kn = off < kln ? (kln - off < seg ? kln - off : seg) : 0;
                rc = sendrecv_bytes(buf + (gst + off) * esize, gn * esize, peer, tmp, kn * esize,
                                    peer, comm, err, errlen);
                if (rc)
                    break;
                gmpi_reduce_local(buf + (kst + off) * esize, tmp, kn, dtype, op);
            }
            lo = keep;
        }
        for (int mask = 1; mask < p2 && !rc; mask <<= 1) {
            int pn = newrank ^ mask;
            int peer = pn < rem ? pn * 2 + 1 : pn + rem;
            /* The partner holds the mirror window, on the other side of
             * the bit this step doubles over. */
            int plo = newrank & mask ? lo - nb : lo + nb;
            size_t mst, mln, pst, pln;
            window_range(count, p2, lo, nb, &mst, &mln);
            window_range(count, p2, plo, nb, &pst, &pln);
            rc = sendrecv_bytes(buf + mst * esize, mln * esize, peer, buf + pst * esize,
                                pln * esize, peer, comm, err, errlen);
            lo = lo < plo ? lo : plo;
            nb *= 2;
        }
    }
    if (!rc)
        rc = fold_out(comm, r, rem, buf, bytes, err, errlen);
    return rc;
}

/* Makes every rank's stores to the shared slots visible to the others
 * (MPI's separate-memory rule for shared windows: sync, barrier, sync). */
static int shm_sync(gmpi_ctx *ctx, char *err, size_t errlen)
{
    int rc = MPI_Win_sync(ctx->shm_win);
    if (rc != MPI_SUCCESS)
        return gmpi_mpi_fail(err, errlen, rc, "MPI_Win_sync");
    rc = MPI_Barrier(ctx->comm);
    if (rc != MPI_SUCCESS)
        return gmpi_mpi_fail(err, errlen, rc, "MPI_Barrier");
    rc = MPI_Win_sync(ctx->shm_win);
    if (rc != MPI_SUCCESS)
        return gmpi_mpi_fail(err, errlen, rc, "MPI_Win_sync");
    return GMPI_OK;
}

/* The slot: one piece per rank, in two sets.  A piece is gathered into the
 * slot from memory, reduced block by block from all slots, and scattered
 * out: half the core's L2 holds the piece and what it is copied from, and
 * the two sets of every rank's slots stay within half the shared L3.
 * (Measured on a 2-core machine with 1 MiB L2 and 8 MiB L3: 256 KiB pieces
 * were 1.6x faster than 4 MiB ones.)  GPUMARKET_SHM_PIECE_BYTES overrides. */
static size_t shm_piece_size(const gmpi_ctx *ctx)
{
    if (ctx->shm_piece_req)
        return ctx->shm_piece_req;
    gmpi_caches c;
    size_t piece = (size_t)512 << 10;
    if (gmpi_cache_sizes(&c, NULL, 0) == GMPI_OK && c.l2) {
        piece = c.l2 / 2;
        if (c.l3 && c.l3 / (4 * (size_t)ctx->local_size) < piece)
            piece = c.l3 / (4 * (size_t)ctx->local_size);
    }
    if (piece < ((size_t)32 << 10))
        piece = (size_t)32 << 10;
    if (piece > ((size_t)4 << 20))
        piece = (size_t)4 << 20;
    size_t pow2 = 4096;
    while (pow2 * 2 <= piece)
        pow2 *= 2;
    return pow2;
}

/* Whether this rank can create a shared window at all, tried on a
 * communicator of its own: window creation is collective, so a rank that
 * cannot create one (e.g. OMPI_MCA_osc=pt2pt set on it alone) must not
 * enter the collective creation while the others do. */
static int shm_probe(gmpi_ctx *ctx, size_t bytes)
{
    MPI_Comm self;
    if (MPI_Comm_split(ctx->comm, ctx->rank, 0, &self) != MPI_SUCCESS)
        return 0;
    MPI_Comm_set_errhandler(self, MPI_ERRORS_RETURN);
    char *base;
    MPI_Win w;
    int ok =
        MPI_Win_allocate_shared((MPI_Aint)bytes, 1, MPI_INFO_NULL, self, &base, &w) == MPI_SUCCESS;
    if (ok)
        ok = MPI_Win_free(&w) == MPI_SUCCESS;
    MPI_Comm_free(&self);
    return ok;
}

/* Create the shared window once.  Every rank learns whether every rank got
 * it, so all of them take the same path afterwards: GMPI_OK, or GMPI_EMPI
 * with ctx->shm_state set to unavailable for good (an MPI without a shared
 * window component, e.g. OMPI_MCA_osc=pt2pt, on any rank). */
static int shm_setup(gmpi_ctx *ctx, char *err, size_t errlen)
{
    int p = ctx->size, mine_ok, all_ok = 0;
    /* First agree on the slot size and on whether every rank can create a
     * window, then create it together. */
    size_t slot = shm_piece_size(ctx);
    long long mine[2] = { shm_probe(ctx, 2 * slot), (long long)slot }, agreed[2];
    int arc = MPI_Allreduce(mine, agreed, 2, MPI_LONG_LONG, MPI_MIN, ctx->comm);
    if (arc != MPI_SUCCESS) {
        ctx->shm_state = -1;
        return gmpi_mpi_fail(err, errlen, arc, "MPI_Allreduce");
    }
    if (!agreed[0]) {
        ctx->shm_state = -1;
        return gmpi_fail(
            err, errlen, GMPI_EMPI,
            "allreduce: shared_memory: MPI_Win_allocate_shared fails on %s; use auto or another algorithm",
            mine[0] ? "another rank" : "this rank");
    }
    slot = (size_t)agreed[1];
    char *base, **slots = calloc((size_t)p, sizeof *slots);
    int mrc = MPI_Win_allocate_shared((MPI_Aint)(2 * slot), 1, MPI_INFO_NULL, ctx->comm, &base,
                                      &ctx->shm_win);
    int have_win = mrc == MPI_SUCCESS;
    for (int j = 0; j < p && mrc == MPI_SUCCESS && slots; j++) {
        MPI_Aint sz;
        int du;
        mrc = MPI_Win_shared_query(ctx->shm_win, j, &sz, &du, &slots[j]);
        if (mrc == MPI_SUCCESS && (size_t)sz < 2 * slot)
            mrc = MPI_ERR_SIZE;
    }
    mine_ok = mrc == MPI_SUCCESS && slots;
    arc = MPI_Allreduce(&mine_ok, &all_ok, 1, MPI_INT, MPI_MIN, ctx->comm);
    if (arc == MPI_SUCCESS && all_ok &&
        (arc = MPI_Win_lock_all(MPI_MODE_NOCHECK, ctx->shm_win)) == MPI_SUCCESS) {
        ctx->shm_slots = slots;
        ctx->shm_slot = slot;
        ctx->shm_state = 1;
        return GMPI_OK;
    }
    free(slots);
    if (have_win)
        MPI_Win_free(&ctx->shm_win);
    ctx->shm_state = -1;
    if (mrc != MPI_SUCCESS)
        return gmpi_mpi_fail(err, errlen, mrc, "MPI_Win_allocate_shared");
    if (arc != MPI_SUCCESS)
        return gmpi_mpi_fail(err, errlen, arc, "MPI_Allreduce");
    if (!mine_ok)
        return gmpi_fail(err, errlen, GMPI_ENOMEM, "out of memory for the shared-memory allreduce");
    return gmpi_fail(
        err, errlen, GMPI_EMPI,
        "allreduce: shared_memory: another rank could not create the shared window; use auto or another algorithm");
}

int gmpi_shm_ready(gmpi_ctx *ctx)
{
    if (ctx->size == 1 || ctx->node_count != 1)
        return 0;
    if (ctx->shm_state == 0)
        shm_setup(ctx, NULL, 0);
    return ctx->shm_state > 0;
}

/* All ranks on one node: each copies a piece of its buffer into its slot of
 * a window shared by the node, reduces its block of the piece straight from
 * the others' slots into its own, and copies every reduced block back out.
 * Through MPI's shared-memory transport (without a single-copy mechanism)
 * every byte is copied into a shared buffer and out again at every step of
 * a point-to-point algorithm; here each byte is copied in once and out
 * once, with two barriers per piece.  The slots come in two sets used in
 * turn, so a rank may fill the next piece's slot while others still copy
 * the last piece out: the barrier after the fill is what a reuse of the
 * same set two pieces later waits on.  Chosen automatically, it stands
 * back for Rabenseifner when MPI cannot share a window. */
static int shm_allreduce(gmpi_ctx *ctx, char *buf, size_t count, gmpi_dtype dtype, gmpi_op op,
                         int fallback, char *err, size_t errlen)
{
    int p = ctx->size, rc = GMPI_OK;
    if (p == 1 || count == 0)
        return GMPI_OK;
    if (ctx->node_count != 1)
        return gmpi_fail(
            err, errlen, GMPI_EINVAL,
            "allreduce: shared_memory needs every rank on one node (%d nodes here); use auto",
            ctx->node_count);
    if (ctx->shm_state == 0) {
        rc = shm_setup(ctx, err, errlen);
        if (rc && !fallback)
            return rc;
    }
    if (ctx->shm_state < 0) {
        if (fallback)
            return rab_allreduce(ctx, ctx->comm, buf, count, dtype, op, err, errlen);
        return gmpi_fail(
            err, errlen, GMPI_EMPI,
            "allreduce: shared_memory: this MPI could not create a shared window; use auto or another algorithm");
    }
    struct gmpi_seg one = { buf, count * gmpi_dtype_size(dtype) };
    return gmpi_shm_fused(ctx, &one, 1, one.bytes, dtype, op, err, errlen);
}

/* A position in a list of runs. */
struct seg_cursor {
    const struct gmpi_seg *segs;
    size_t i, off;
};

/* Copy bytes from the runs at the cursor into dst (gather) or from src into
 * the runs (scatter), advancing the cursor. */
static void seg_copy(struct seg_cursor *c, char *dst, const char *src, size_t bytes)
{
    while (bytes) {
        const struct gmpi_seg *s = &c->segs[c->i];
        size_t n = s->bytes - c->off < bytes ? s->bytes - c->off : bytes;
        if (n && dst)
            memcpy(dst, s->p + c->off, n);
        else if (n)
            memcpy(s->p + c->off, src, n);
        dst = dst ? dst + n : NULL;
        src = src ? src + n : NULL;
        bytes -= n;
        c->off += n;
        if (c->off == s->bytes) {
            c->i++;
            c->off = 0;
        }
    }
}

int gmpi_shm_fused(gmpi_ctx *ctx, const struct gmpi_seg *segs, size_t nsegs, size_t bytes,
                   gmpi_dtype dtype, gmpi_op op, char *err, size_t errlen)
{
    int p = ctx->size, r = ctx->rank, rc = GMPI_OK;
    size_t esize = gmpi_dtype_size(dtype), count = bytes / esize, piece = ctx->shm_slot / esize;
    struct seg_cursor in = { segs, 0, 0 }, out = { segs, 0, 0 };
    (void)nsegs;
    for (size_t base = 0; base < count && !rc; base += piece) {
        size_t n = count - base < piece ? count - base : piece, st, ln;
        size_t set = (ctx->shm_phase++ & 1) * ctx->shm_slot;
        char *mine = ctx->shm_slots[r] + set;
        seg_copy(&in, mine, NULL, n * esize);
        if ((rc = shm_sync(ctx, err, errlen)))
            break;
        gmpi_block_range(n, p, r, &st, &ln);
        for (int j = 0; j < p; j++)
            if (j != r)
                gmpi_reduce_local(mine + st * esize, ctx->shm_slots[j] + set + st * esize, ln,
                                  dtype, op);
        if ((rc = shm_sync(ctx, err, errlen)))
            break;
        for (int j = 0; j < p; j++) {
            gmpi_block_range(n, p, j, &st, &ln);
            seg_copy(&out, NULL, ctx->shm_slots[j] + set + st * esize, ln * esize);
        }
    }
    return rc;
}

static int bcast_bytes(char *buf, size_t bytes, MPI_Comm comm, char *err, size_t errlen)
{
    for (size_t off = 0; off < bytes; off += MAX_MESSAGE) {
        size_t n = bytes - off < MAX_MESSAGE ? bytes - off : MAX_MESSAGE;
        int rc = MPI_Bcast(buf + off, (int)n, MPI_BYTE, 0, comm);
        if (rc != MPI_SUCCESS)
            return gmpi_mpi_fail(err, errlen, rc, "MPI_Bcast");
    }
    return GMPI_OK;
}

/* Within each node a ring reduce-scatter and a gather to local rank 0; the
 * node leaders allreduce; each leader broadcasts to its node. */
static int hier_allreduce(gmpi_ctx *ctx, char *buf, size_t count, gmpi_dtype dtype, gmpi_op op,
                          char *err, size_t errlen)
{
    int rc = GMPI_OK, p = ctx->local_size, r = ctx->local_rank;
    size_t esize = gmpi_dtype_size(dtype), bytes = count * esize;
    if (count == 0 || ctx->size == 1)
        return GMPI_OK;
    if (p > 1) {
        char *tmp = scratch(ctx, (count / (size_t)p + 1) * esize);
        int *counts = malloc(2 * (size_t)p * sizeof *counts);
        if (!tmp || !counts) {
            free(counts);
            return gmpi_fail(err, errlen, GMPI_ENOMEM,
                             "out of memory for the hierarchical allreduce");
        }
        rc = ring_reduce_scatter(ctx->node_comm, buf, count, esize, dtype, op, tmp, err, errlen);
        /* Gather each rank's reduced block (r + 1) % p to the leader.  MPI
         * displacements are ints: beyond 2 GiB, block by block instead. */
        int *displs = counts + p;
        size_t myst, myln;
        gmpi_block_range(count, p, (r + 1) % p, &myst, &myln);
        if (!rc && bytes <= (size_t)INT_MAX) {
            for (int i = 0; i < p; i++) {
                size_t st, ln;
                gmpi_block_range(count, p, (i + 1) % p, &st, &ln);
                counts[i] = (int)(ln * esize);
                displs[i] = (int)(st * esize);
            }
            int mrc = MPI_Gatherv(r == 0 ? MPI_IN_PLACE : buf + myst * esize, counts[r], MPI_BYTE,
                                  buf, counts, displs, MPI_BYTE, 0, ctx->node_comm);
            if (mrc != MPI_SUCCESS)
                rc = gmpi_mpi_fail(err, errlen, mrc, "MPI_Gatherv");
        } else if (!rc) {
            for (int i = 1; i < p && !rc; i++) {
                size_t st, ln;
                gmpi_block_range(count, p, (i + 1) % p, &st, &ln);
                if (r == 0)
                    rc = recv_bytes(buf + st * esize, ln * esize, i, ctx->node_comm, err, errlen);
                else if (r == i)
                    rc = send_bytes(buf + st * esize, ln * esize, 0, ctx->node_comm, err, errlen);
            }
        }
        free(counts);
    }
    if (!rc && r == 0 && ctx->node_count > 1) {
        gmpi_algorithm inner =
            bytes <= ctx->small_bytes ? GMPI_ALGO_RECURSIVE_DOUBLING : GMPI_ALGO_RING;
        rc = inner == GMPI_ALGO_RING
                 ? ring_allreduce(ctx, ctx->leader_comm, buf, count, dtype, op, err, errlen)
                 : rd_allreduce(ctx, ctx->leader_comm, buf, count, dtype, op, err, errlen);
    }
    if (p > 1) {
        /* Leaders and members must agree on failure to avoid a hang; an error
         * above already desynchronised MPI, so report it as is. */
        if (!rc)
            rc = bcast_bytes(buf, bytes, ctx->node_comm, err, errlen);
    }
    return rc;
}

/* Deterministic: rank b owns block b of each piece, receives every rank's
 * copy of it and folds them in rank order (((x0 op x1) op x2) ...), then the
 * blocks are gathered everywhere.  The order depends on nothing but the rank
 * count, so results are the same for any algorithm choice, fusion packing
 * or timing. */
static int det_allreduce(gmpi_ctx *ctx, MPI_Comm comm, char *buf, size_t count, gmpi_dtype dtype,
                         gmpi_op op, char *err, size_t errlen)
{
    int p, r, rc = GMPI_OK;
    MPI_Comm_size(comm, &p);
    MPI_Comm_rank(comm, &r);
    if (p == 1 || count == 0)
        return GMPI_OK;
    size_t esize = gmpi_dtype_size(dtype);
    size_t piece = DET_PIECE / esize;
    if (piece > count)
        piece = count;
    char *tmp = scratch(ctx, ((piece / (size_t)p) + 1) * esize * (size_t)p);
    int *v = malloc(6 * (size_t)p * sizeof *v);
    if (!tmp || !v) {
        free(v);
        return gmpi_fail(err, errlen, GMPI_ENOMEM, "out of memory for the deterministic allreduce");
    }
    int *scounts = v, *sdispls = v + p, *rcounts = v + 2 * p, *rdispls = v + 3 * p;
    int *gcounts = v + 4 * p, *gdispls = v + 5 * p;
    for (size_t base = 0; base < count && !rc; base += piece) {
        size_t n = count - base < piece ? count - base : piece;
        char *seg = buf + base * esize;
        size_t mystart, mylen;
        gmpi_block_range(n, p, r, &mystart, &mylen);
        for (int i = 0; i < p; i++) {
            size_t st, ln;
            gmpi_block_range(n, p, i, &st, &ln);
            scounts[i] = (int)(ln * esize);
            sdispls[i] = (int)(st * esize);
            rcounts[i] = (int)(mylen * esize);
            rdispls[i] = (int)((size_t)i * mylen * esize);
            gcounts[i] = scounts[i];
            gdispls[i] = sdispls[i];
        }
        int mrc =
            MPI_Alltoallv(seg, scounts, sdispls, MPI_BYTE, tmp, rcounts, rdispls, MPI_BYTE, comm);
        if (mrc != MPI_SUCCESS) {
            rc = gmpi_mpi_fail(err, errlen, mrc, "MPI_Alltoallv");
            break;
        }
        char *acc = seg + mystart * esize;
        memcpy(acc, tmp, mylen * esize);
        for (int i = 1; i < p; i++)
            gmpi_reduce_local(acc, tmp + (size_t)i * mylen * esize, mylen, dtype, op);
        mrc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, seg, gcounts, gdispls, MPI_BYTE,
                             comm);
        if (mrc != MPI_SUCCESS)
            rc = gmpi_mpi_fail(err, errlen, mrc, "MPI_Allgatherv");
    }
    free(v);
    return rc;
}

gmpi_algorithm gmpi_choose_algorithm(const gmpi_ctx *ctx, size_t bytes)
{
    if (ctx->deterministic)
        return GMPI_ALGO_DETERMINISTIC;
    if (ctx->algorithm != GMPI_ALGO_AUTO)
        return ctx->algorithm;
    if (bytes <= ctx->small_bytes)
        return GMPI_ALGO_RECURSIVE_DOUBLING;
    if (ctx->node_count == 1 && ctx->shm_state >= 0)
        return GMPI_ALGO_SHARED_MEMORY;
    if (ctx->node_count > 1 && ctx->local_size > 1 && ctx->uniform_layout)
        return GMPI_ALGO_HIERARCHICAL;
    /* Rabenseifner measured at least as fast as the ring from 64 KiB to 64
     * MiB on 2, 3 and 4 ranks (doc/mpi-runtime.md); it also stands in on
     * one node when MPI has no shared windows. */
    return GMPI_ALGO_RABENSEIFNER;
}

int gmpi_allreduce_run(gmpi_ctx *ctx, gmpi_algorithm algo, void *buf, size_t count,
                       gmpi_dtype dtype, gmpi_op op, char *err, size_t errlen)
{
    if ((unsigned)dtype > GMPI_INT64)
        return gmpi_fail(
            err, errlen, GMPI_EINVAL,
            "allreduce: type %s is not supported on host buffers; use float, double, int32 or int64 (half and bfloat16 need gmpi_allreduce_cuda)",
            gmpi_dtype_name(dtype));
    if ((unsigned)op >= GMPI_OP_COUNT)
        return gmpi_fail(err, errlen, GMPI_EINVAL, "allreduce: operation %d is not sum, max or min",
                         (int)op);
    if (count > 0 && !buf)
        return gmpi_fail(err, errlen, GMPI_EINVAL, "allreduce: NULL buffer with %zu elements",
                         count);
    if (count > ((size_t)1 << 40))
        return gmpi_fail(err, errlen, GMPI_EINVAL,
                         "allreduce: %zu elements is more than supported (2^40)", count);
    int auto_choice = algo == GMPI_ALGO_AUTO && ctx->algorithm == GMPI_ALGO_AUTO;
    if (algo == GMPI_ALGO_AUTO)
        algo = gmpi_choose_algorithm(ctx, count * gmpi_dtype_size(dtype));
    switch (algo) {
    case GMPI_ALGO_RING:
        return ring_allreduce(ctx, ctx->comm, buf, count, dtype, op, err, errlen);
    case GMPI_ALGO_RECURSIVE_DOUBLING:
        return rd_allreduce(ctx, ctx->comm, buf, count, dtype, op, err, errlen);
    case GMPI_ALGO_HIERARCHICAL:
        return hier_allreduce(ctx, buf, count, dtype, op, err, errlen);
    case GMPI_ALGO_SHARED_MEMORY:
        return shm_allreduce(ctx, buf, count, dtype, op, auto_choice, err, errlen);
    case GMPI_ALGO_RABENSEIFNER:
        return rab_allreduce(ctx, ctx->comm, buf, count, dtype, op, err, errlen);
    case GMPI_ALGO_DETERMINISTIC:
        return det_allreduce(ctx, ctx->comm, buf, count, dtype, op, err, errlen);
    default:
        return gmpi_fail(err, errlen, GMPI_EINVAL, "allreduce: algorithm %d is out of range",
                         (int)algo);
    }
}

int gmpi_allreduce_algo(gmpi_ctx *ctx, gmpi_algorithm algo, void *buf, size_t count,
                        gmpi_dtype dtype, gmpi_op op, char *err, size_t errlen)
{
    if (ctx->fusion)
        return gmpi_fail(
            err, errlen, GMPI_EBUSY,
            "allreduce: the fusion engine owns MPI; use gmpi_enqueue/gmpi_wait or call gmpi_fusion_stop first");
    if ((unsigned)algo >= GMPI_ALGO_COUNT)
        return gmpi_fail(err, errlen, GMPI_EINVAL, "allreduce: algorithm %d is out of range",
                         (int)algo);
    return gmpi_allreduce_run(ctx, algo, buf, count, dtype, op, err, errlen);
}

int gmpi_allreduce(gmpi_ctx *ctx, void *buf, size_t count, gmpi_dtype dtype, gmpi_op op, char *err,
                   size_t errlen)
{
    return gmpi_allreduce_algo(ctx, GMPI_ALGO_AUTO, buf, count, dtype, op, err, errlen);
}
