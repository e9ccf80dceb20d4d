/* fp8.h: the numerics of DeepSeek's FP8 lightning indexer, simulated in
 * float32: a Hadamard rotation, then e4m3 values with one power-of-two
 * ("ue8m0") scale per vector. */
#ifndef SL_FP8_H
#define SL_FP8_H

#include <stddef.h>

/* The nearest e4m3 (OCP "e4m3fn": 3 mantissa bits, no infinities, largest
 * 448) value to x, ties to even; |x| > 448 saturates to ±448, NaN stays NaN. */
float sl_e4m3_round(float x);

/* x ← e4m3(x / s) · s with s = 2^ceil(log2(max(amax, 1e-4) / 448)), as
 * DeepSeek's act_quant with scale_fmt "ue8m0" over one block of n values.
 * Returns s. */
float sl_fp8_fake_quant(float *x, size_t n);

/* In place: x ← H·x / √n, H the Sylvester Hadamard matrix; n a power of two.
 * Orthonormal, so dot products are kept (up to rounding). */
void sl_hadamard(float *x, size_t n);

#endif
