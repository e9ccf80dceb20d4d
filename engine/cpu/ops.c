#include "cpu/ops.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

void sl_rmsnorm(float *out, const float *x, const float *weight, size_t n, float eps)
{
    double ss = 0.0; /* double: the norm is one number per row, accuracy is free */
    for (size_t i = 0; i < n; i++)
        ss += (double)x[i] * (double)x[i];
    float scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    for (size_t i = 0; i < n; i++)
        out[i] = x[i] * scale * weight[i];
}

void sl_rope_inv_freq(float *inv_freq, int rot_dims, float theta)
{
    for (int i = 0; i < rot_dims / 2; i++)
        inv_freq[i] = (float)(1.0 / pow((double)theta, (double)(2 * i) / (double)rot_dims));
}

void sl_rope_interleaved(float *x, int n_heads, int head_dim, int rot_dims, size_t pos,
                         const float *inv_freq)
{
    for (int i = 0; i < rot_dims / 2; i++) {
        float angle = (float)pos * inv_freq[i]; /* float32, as the reference computes it */
        float c = cosf(angle), s = sinf(angle);
        for (int h = 0; h < n_heads; h++) {
            float *p = x + (size_t)h * (size_t)head_dim + 2 * (size_t)i;
            float a = p[0], b = p[1];
            p[0] = a * c - b * s;
            p[1] = a * s + b * c;
        }
    }
}

void sl_softmax(float *x, size_t n)
{
    float max = -INFINITY;
    for (size_t i = 0; i < n; i++)
        max = x[i] > max ? x[i] : max;
    if (max == -INFINITY) { /* nothing to attend to: all zero */
        memset(x, 0, n * sizeof *x);
        return;
    }
    /* sixteen partial sums, so the loop vectorises without reassociating */
    float part[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (size_t j = 0; j < 16; j++) {
            x[i + j] = sl_expf(x[i + j] - max);
            part[j] += x[i + j];
        }
    float sum = 0.0f;
    for (; i < n; i++) {
        x[i] = sl_expf(x[i] - max);
        sum += x[i];
    }
    for (size_t j = 0; j < 16; j++)
        sum += part[j];
    float inv = 1.0f / sum;
    for (i = 0; i < n; i++)
        x[i] *= inv;
}

void sl_swiglu(float *gate, const float *up, size_t n)
{
    for (size_t i = 0; i < n; i++)
        gate[i] = gate[i] / (1.0f + sl_expf(-gate[i])) * up[i];
}

void sl_layernorm(float *x, size_t n, const float *weight, const float *bias, float eps)
{
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++)
        mean += x[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++)
        var += ((double)x[i] - mean) * ((double)x[i] - mean);
    float inv = (float)(1.0 / sqrt(var / (double)n + (double)eps));
    for (size_t i = 0; i < n; i++)
        x[i] = ((float)((double)x[i] - mean)) * inv * weight[i] + bias[i];
}

void sl_rope_neox(float *x, int rot, size_t pos, const float *inv_freq)
{
    int half = rot / 2;
    for (int i = 0; i < half; i++) {
        float angle = (float)pos * inv_freq[i];
        float c = cosf(angle), s = sinf(angle), a = x[i], b = x[i + half];
        x[i] = a * c - b * s;
        x[i + half] = a * s + b * c;
    }
}
