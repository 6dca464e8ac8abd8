/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gpumarket-train's model on the CPU: data generation, per-sample forward
 * and backward passes, SGD update. */
#include "config.h"

#include "mpi-runtime/train_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Uniform in [-1, 1) from 53 random bits. */
static double uniform(uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t h = mix(mix(mix(seed) ^ a) ^ b);
    return (double)(h >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

void dataset_sample(uint64_t seed, uint64_t index, double *x, int *label)
{
    for (int j = 0; j < TRAIN_INPUTS; j++)
        x[j] = uniform(seed, 2 * index + 1, (uint64_t)j);
    /* The teacher: a fixed random linear map; the label is its argmax. */
    int best = 0;
    double bestv = -INFINITY;
    for (int c = 0; c < TRAIN_CLASSES; c++) {
        double v = 0;
        for (int j = 0; j < TRAIN_INPUTS; j++)
            v += uniform(seed ^ 0x7EAC4E5ull, (uint64_t)c, (uint64_t)j) * x[j];
        if (v > bestv) {
            bestv = v;
            best = c;
        }
    }
    *label = best;
}

int model_init(struct model *m, uint32_t hidden, uint64_t seed)
{
    m->hidden = hidden;
    m->nparams =
        (size_t)hidden * TRAIN_INPUTS + hidden + (size_t)TRAIN_CLASSES * hidden + TRAIN_CLASSES;
    m->w = calloc(m->nparams, sizeof *m->w);
    m->mom = calloc(m->nparams, sizeof *m->mom);
    if (!m->w || !m->mom) {
        model_free(m);
        return -1;
    }
    double a1 = 1.0 / sqrt((double)TRAIN_INPUTS), a2 = 1.0 / sqrt((double)hidden);
    size_t w1 = (size_t)hidden * TRAIN_INPUTS, b1 = w1 + hidden;
    for (size_t i = 0; i < m->nparams; i++) {
        double u = uniform(seed ^ 0x1417ull, 0, i);
        if (i < w1)
            m->w[i] = u * a1;
        else if (i >= b1 && i < b1 + (size_t)TRAIN_CLASSES * hidden)
            m->w[i] = u * a2;
        else
            m->w[i] = 0;
    }
    return 0;
}

void model_free(struct model *m)
{
    free(m->w);
    free(m->mom);
    m->w = m->mom = NULL;
}

/* Per-sample gradient into g[0..nparams], loss into g[nparams]. */
static void sample_gradient(const struct model *m, const double *x, int label, double *h, double *g)
{
    uint32_t H = m->hidden;
    const double *W1 = m->w, *b1 = W1 + (size_t)H * TRAIN_INPUTS, *W2 = b1 + H,
                 *b2 = W2 + (size_t)TRAIN_CLASSES * H;
    double *gW1 = g, *gb1 = gW1 + (size_t)H * TRAIN_INPUTS, *gW2 = gb1 + H,
           *gb2 = gW2 + (size_t)TRAIN_CLASSES * H;
    double z[TRAIN_CLASSES], zmax = -INFINITY, sum = 0;
    for (uint32_t k = 0; k < H; k++) {
        double a = b1[k];
        for (int j = 0; j < TRAIN_INPUTS; j++)
            a += W1[(size_t)k * TRAIN_INPUTS + j] * x[j];
        h[k] = tanh(a);
    }
    for (int c = 0; c < TRAIN_CLASSES; c++) {
        double v = b2[c];
        for (uint32_t k = 0; k < H; k++)
            v += W2[(size_t)c * H + k] * h[k];
        z[c] = v;
        if (v > zmax)
            zmax = v;
    }
    for (int c = 0; c < TRAIN_CLASSES; c++) {
        z[c] = exp(z[c] - zmax);
        sum += z[c];
    }
    g[m->nparams] = -(log(z[label] / sum));
    double dz[TRAIN_CLASSES];
    for (int c = 0; c < TRAIN_CLASSES; c++) {
        dz[c] = z[c] / sum - (c == label ? 1.0 : 0.0);
        gb2[c] = dz[c];
        for (uint32_t k = 0; k < H; k++)
            gW2[(size_t)c * H + k] = dz[c] * h[k];
    }
    for (uint32_t k = 0; k < H; k++) {
        double dh = 0;
        for (int c = 0; c < TRAIN_CLASSES; c++)
            dh += W2[(size_t)c * H + k] * dz[c];
        double da = dh * (1 - h[k] * h[k]);
        gb1[k] = da;
        for (int j = 0; j < TRAIN_INPUTS; j++)
            gW1[(size_t)k * TRAIN_INPUTS + j] = da * x[j];
    }
}

/* Sum this rank's share of the batch (samples rank, rank+size, ...) into
 * exactly one of out_real (doubles) or out_fixed (64-bit fixed point, whose
 * sums do not depend on the order of addition). */
static int accumulate_gradients(const struct model *m, uint64_t seed, uint64_t step, uint32_t batch,
                                int rank, int size, double *out_real, int64_t *out_fixed)
{
    double *g = malloc((m->nparams + 1) * sizeof *g), *h = malloc(m->hidden * sizeof *h);
    double x[TRAIN_INPUTS];
    int label;
    if (!g || !h) {
        free(g);
        free(h);
        return 1;
    }
    for (uint32_t j = (uint32_t)rank; j < batch; j += (uint32_t)size) {
        dataset_sample(seed, step * batch + j, x, &label);
        sample_gradient(m, x, label, h, g);
        for (size_t i = 0; i <= m->nparams; i++) {
            if (out_real) {
                out_real[i] += g[i];
                continue;
            }
            double v = g[i];
            v = v > TRAIN_FIXED_CLIP    ? TRAIN_FIXED_CLIP
                : v < -TRAIN_FIXED_CLIP ? -TRAIN_FIXED_CLIP
                                        : v;
            out_fixed[i] += (int64_t)llrint(v * TRAIN_FIXED_SCALE);
        }
    }
    free(g);
    free(h);
    return 0;
}

int model_gradients(const struct model *m, uint64_t seed, uint64_t step, uint32_t batch, int rank,
                    int size, double *out)
{
    return accumulate_gradients(m, seed, step, batch, rank, size, out, NULL);
}

int model_gradients_fixed(const struct model *m, uint64_t seed, uint64_t step, uint32_t batch,
                          int rank, int size, int64_t *out)
{
    return accumulate_gradients(m, seed, step, batch, rank, size, NULL, out);
}

void model_update(struct model *m, const double *grad_sum, uint32_t batch, double lr,
                  double momentum)
{
    for (size_t i = 0; i < m->nparams; i++) {
        m->mom[i] = momentum * m->mom[i] + grad_sum[i] / batch;
        m->w[i] -= lr * m->mom[i];
    }
}
