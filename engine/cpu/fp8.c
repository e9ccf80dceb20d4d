#include "cpu/fp8.h"

#include <math.h>

float sl_e4m3_round(float x)
{
    if (isnan(x))
        return x;
    float a = fabsf(x);
    if (a >= 448.0f)
        return copysignf(448.0f, x);
    /* the spacing of e4m3 values near a: 2^(e-3) for normals (e ≥ -6), and
     * the subnormal spacing 2^-9 below 2^-6 */
    int e = a > 0.0f ? ilogbf(a) : -6;
    float step = ldexpf(1.0f, (e < -6 ? -6 : e) - 3);
    float r = nearbyintf(a / step) * step; /* ties to even in the default rounding mode */
    return copysignf(r > 448.0f ? 448.0f : r, x);
}

float sl_fp8_fake_quant(float *x, size_t n)
{
    float amax = 1e-4f;
    for (size_t i = 0; i < n; i++)
        amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
    int e; /* ceil(log2(amax / 448)) exactly: frexp gives amax/448 = m·2^e, m in [½, 1) */
    float m = frexpf(amax / 448.0f, &e);
    float s = ldexpf(1.0f, m == 0.5f ? e - 1 : e);
    for (size_t i = 0; i < n; i++)
        x[i] = sl_e4m3_round(x[i] / s) * s;
    return s;
}

void sl_hadamard(float *x, size_t n)
{
    for (size_t h = 1; h < n; h *= 2)
        for (size_t i = 0; i < n; i += 2 * h)
            for (size_t j = i; j < i + h; j++) {
                float a = x[j], b = x[j + h];
                x[j] = a + b;
                x[j + h] = a - b;
            }
    float scale = 1.0f / sqrtf((float)n);
    for (size_t i = 0; i < n; i++)
        x[i] *= scale;
}
