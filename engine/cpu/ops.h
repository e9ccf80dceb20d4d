/* ops.h: the element-wise and row operations of a transformer, on the CPU. */
#ifndef SL_OPS_H
#define SL_OPS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* out = x / sqrt(mean(x²) + eps) * weight (n floats; out may equal x). */
void sl_rmsnorm(float *out, const float *x, const float *weight, size_t n, float eps);

/* inv_freq[i] = theta^(-2i/rot_dims) for i < rot_dims/2. */
void sl_rope_inv_freq(float *inv_freq, int rot_dims, float theta);

/* Rotary embedding with interleaved pairs (x[2i], x[2i+1]), as GGUF llama
 * weights expect: rotates every head of x (n_heads × head_dim) at position
 * pos by angle pos·inv_freq[i] for pair i < rot_dims/2. */
void sl_rope_interleaved(float *x, int n_heads, int head_dim, int rot_dims, size_t pos,
                         const float *inv_freq);

/* In place: LayerNorm with weight and bias (statistics in double). */
void sl_layernorm(float *x, size_t n, const float *weight, const float *bias, float eps);
/* Rotary embedding with NeoX pairing (x[i], x[i + rot/2]) on the first rot
 * dims of one vector, at position pos. */
void sl_rope_neox(float *x, int rot, size_t pos, const float *inv_freq);
/* In place: x = softmax(x) over n floats; -inf entries get 0. */
void sl_softmax(float *x, size_t n);

/* gate = silu(gate) · up, n floats. */
void sl_swiglu(float *gate, const float *up, size_t n);

/* e^x for float x, vectorisable (inline, no calls), relative error below
 * 2e-7 where the result is a normal float; 0 for x below about -87.3. */
static inline float sl_expf(float x)
{
    /* e^x = 2^n · e^r with n = round(x/ln2), |r| ≤ ln2/2; e^r by a degree-6
     * polynomial (Taylor; error < 2e-8 on that interval); 2^n built in the
     * exponent bits. */
    if (x < -87.3f)
        return 0.0f;
    if (x > 88.3f)
        x = 88.3f;
    float n = nearbyintf(x * 1.44269504088896341f);
    float r = x - n * 0.693145751953125f - n * 1.428606765330187e-06f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}


#endif
