// gqa-attention.cu: causal grouped-query flash attention over a BF16 KV cache
// (the llama family), dense or over each row's selected positions (DSA), and
// the oracle's per-position attention mass summed over heads.
//
// Query head h reads KV head g = h / G (G = H / Hkv). The G heads of a KV
// head over consecutive rows are "packed rows" pm = t·G + (h − g·G), so that
// one tile of packed rows shares every key and value it reads: a CTA (4
// warps, 128 threads) takes one KV head and 16·WM packed rows (sparse: the
// heads of one row t only, padded to 16, since rows select different
// positions). Per block of 64 positions, K and V are copied into shared
// memory (cp.async, double-buffered, zero-filled where a position is out of
// range or not selected; 16-byte chunks XOR-swizzled by row so that
// ldmatrix hits 8 bank groups), then:
//   WM = 4 (prefill): warp w owns packed rows 16w … 16w+15 and all 64
//       positions of the block;
//   WM = 1 (decode, sparse): the 4 warps share 16 packed rows, warp w takes
//       positions 16w … 16w+15 of the block, and the warps' results are
//       merged at the end.
// S = Q Kᵀ and O += P V run on mma.sync m16n8k16 (bf16, fp32 accumulators,
// Q in registers, K by ldmatrix, V by ldmatrix.trans, P straight from the S
// accumulators), with the online softmax in base 2. Where the tiles would
// not fill the GPU (decode), the key range is split across CTAs (split-KV)
// whose normalised partial outputs and lse go to the workspace; a second
// kernel combines them.
#include "sightline-kernels.h"

#include <cuda_bf16.h>

#include <math.h>
#include <stdint.h>

namespace {

constexpr int BK = 64;       // positions per block
constexpr int THREADS = 128; // 4 warps
constexpr int WARPS = THREADS / 32;
constexpr int MAX_SPLITS = 128;

enum Mode { ATTN, LSE, MASS };

template <int DH>
constexpr size_t smem_bytes()
{
    return (size_t)4 * BK * DH * 2            // K and V, two buffers each
           + 2 * BK * sizeof(int)             // positions of the two blocks
           + 2 * WARPS * 16 * sizeof(float);  // row maxima and sums
}

struct Params {
    const __nv_bfloat16 *q, *k, *v;
    const int32_t *indices;
    int n, first_pos, H, Hkv, G, topk;
    int rows_per_t; // packed rows a query row: G, or G rounded up to 16 (sparse)
    int mtiles;     // tiles of packed rows a KV head
    int splits, bps;
    float scale_log2; // softmax scale · log2(e)
    __nv_bfloat16 *out;
    float *o_part;   // splits × n·H × DH (normalised partial outputs), ATTN with splits
    float *lse_part; // splits × n·H (base 2), with splits
    float *lse;      // n·H base-2 lse (LSE without splits; read by MASS)
    float *mass;     // MASS: [n][mass_stride]
    size_t mass_stride;
};

__device__ __forceinline__ uint32_t smem_addr(const void *p)
{
    return (uint32_t)__cvta_generic_to_shared(p);
}

// Byte offset of 16-byte chunk c of row r in a tile of rows of DH bf16.
template <int DH>
__device__ __forceinline__ uint32_t swz(int r, int c)
{
    return (uint32_t)(r * DH * 2 + ((c ^ (r & 7)) << 4));
}

__device__ __forceinline__ void cp_async16(uint32_t dst, const void *src, bool valid)
{
    int n = valid ? 16 : 0; // 0: fill the 16 bytes with zeros, read nothing
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(n)
                 : "memory");
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_all;\n" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait_1() { asm volatile("cp.async.wait_group 1;\n" ::: "memory"); }

__device__ __forceinline__ void ldsm_x4(uint32_t addr, uint32_t (&r)[4])
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

__device__ __forceinline__ void ldsm_x4_t(uint32_t addr, uint32_t (&r)[4])
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi)
{
    __nv_bfloat162 b = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&b);
}

// The query row t and head h of packed row pm; false for padding.
__device__ __forceinline__ bool row_of(const Params &p, int kvh, int pm, int &t, int &h)
{
    t = pm / p.rows_per_t;
    const int hh = pm - t * p.rows_per_t;
    h = kvh * p.G + hh;
    return t < p.n && hh < p.G;
}

template <int DH, int WM, bool SPARSE, int MODE>
__global__ void __launch_bounds__(THREADS) gqa_attention(const Params p)
{
    constexpr int WN = WARPS / WM; // warps sharing a tile of 16 rows
    constexpr int KW = BK / WN;    // positions of a block a warp
    constexpr int NT = KW / 8;     // n8 tiles of S a warp
    constexpr int KS = KW / 16;    // k16 steps of P V
    constexpr int DT = DH / 8;     // n8 tiles of O
    constexpr int DK = DH / 16;    // k16 steps of Q Kᵀ
    constexpr int CH = DH / 8;     // 16-byte chunks of a row
    constexpr int TILE = BK * DH * 2;
    static_assert(WM * WN == WARPS && NT % 2 == 0 && KS >= 1, "tiling");

    extern __shared__ __align__(128) uint8_t smem[];
    uint8_t *s_k = smem;                                         // [2][BK] rows
    uint8_t *s_v = smem + 2 * TILE;                              // [2][BK] rows
    int *s_pos = reinterpret_cast<int *>(smem + 4 * TILE);       // [2][BK]
    float *s_m = reinterpret_cast<float *>(s_pos + 2 * BK);      // [WARPS][16]
    float *s_l = s_m + WARPS * 16;                               // [WARPS][16]
    float *s_o = reinterpret_cast<float *>(smem);                // [WARPS][16][DH], after the loop

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp / WN, wn = warp % WN;
    const int g = lane >> 2, tq = lane & 3;

    int bid = blockIdx.x;
    const int split = bid % p.splits;
    bid /= p.splits;
    const int kvh = bid % p.Hkv;
    bid /= p.Hkv;
    const int tile = SPARSE ? bid : p.mtiles - 1 - bid; // dense: the longest tiles first
    const int pm0 = tile * 16 * WM;

    // The CTA's last visible position and its blocks.
    int lim_cta, nb, t_sparse = 0;
    if (SPARSE) {
        t_sparse = pm0 / p.rows_per_t;
        lim_cta = p.first_pos + t_sparse;
        nb = (p.topk + BK - 1) / BK;
    } else {
        const int pm_last = min(pm0 + 16 * WM, p.n * p.rows_per_t) - 1;
        lim_cta = p.first_pos + pm_last / p.rows_per_t;
        nb = lim_cta / BK + 1;
    }
    const int b_begin = split * p.bps;
    const int b_end = min(nb, b_begin + p.bps);

    // Copies block b's keys and values into buffer buf (one commit group).
    auto load = [&](int b, int buf) {
        const int base = b * BK;
        const uint32_t k0 = smem_addr(s_k + buf * TILE), v0 = smem_addr(s_v + buf * TILE);
        for (int i = tid; i < BK * CH; i += THREADS) {
            const int r = i / CH, c = i - r * CH;
            int pos;
            if (SPARSE) {
                const int j = base + r;
                pos = j < p.topk ? __ldg(p.indices + (size_t)t_sparse * p.topk + j) : -1;
            } else {
                pos = base + r;
            }
            if (pos < 0 || pos > lim_cta)
                pos = -1;
            if (c == 0)
                s_pos[buf * BK + r] = pos;
            const size_t off = ((size_t)(pos < 0 ? 0 : pos) * p.Hkv + kvh) * DH + c * 8;
            cp_async16(k0 + swz<DH>(r, c), p.k + off, pos >= 0);
            if (MODE == ATTN)
                cp_async16(v0 + swz<DH>(r, c), p.v + off, pos >= 0);
        }
        cp_async_commit();
    };

    // This thread's two rows: packed rows pm0 + 16 wm + g (+ 8).
    int tr[2], hr[2], lim[2];
    bool vr[2];
    uint32_t qa[DK][4];
#pragma unroll
    for (int i = 0; i < 2; i++) {
        vr[i] = row_of(p, kvh, pm0 + 16 * wm + g + 8 * i, tr[i], hr[i]);
        lim[i] = vr[i] ? p.first_pos + tr[i] : -1;
    }
    {
        const uint32_t *q0 = reinterpret_cast<const uint32_t *>(p.q + ((size_t)tr[0] * p.H + hr[0]) * DH);
        const uint32_t *q1 = reinterpret_cast<const uint32_t *>(p.q + ((size_t)tr[1] * p.H + hr[1]) * DH);
#pragma unroll
        for (int kk = 0; kk < DK; kk++) {
            qa[kk][0] = vr[0] ? __ldg(q0 + kk * 8 + tq) : 0u;
            qa[kk][1] = vr[1] ? __ldg(q1 + kk * 8 + tq) : 0u;
            qa[kk][2] = vr[0] ? __ldg(q0 + kk * 8 + 4 + tq) : 0u;
            qa[kk][3] = vr[1] ? __ldg(q1 + kk * 8 + 4 + tq) : 0u;
        }
    }
    float lse_in[2] = {0.0f, 0.0f};
    if (MODE == MASS) {
#pragma unroll
        for (int i = 0; i < 2; i++)
            lse_in[i] = vr[i] ? p.lse[(size_t)tr[i] * p.H + hr[i]] : 0.0f;
    }

    float o[DT][4];
#pragma unroll
    for (int n = 0; n < DT; n++)
        o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.0f, 0.0f};
    const int b_row = (lane & 7) + ((lane >> 4) << 3), b_half = (lane >> 3) & 1;
    const int v_row = (lane & 7) + (((lane >> 3) & 1) << 3), v_half = lane >> 4;

    if (b_begin < b_end)
        load(b_begin, 0);
    for (int b = b_begin, it = 0; b < b_end; b++, it++) {
        const int buf = it & 1;
        if (b + 1 < b_end) {
            load(b + 1, buf ^ 1);
            cp_async_wait_1();
        } else {
            cp_async_wait_all();
        }
        __syncthreads();
        const uint32_t kb0 = smem_addr(s_k + buf * TILE), vb0 = smem_addr(s_v + buf * TILE);
        const int *pos = s_pos + buf * BK;

        // ---- S = Q Kᵀ: 16 rows × KW positions a warp
        float s[NT][4];
#pragma unroll
        for (int n = 0; n < NT; n++)
            s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < DK; kk++) {
#pragma unroll
            for (int n2 = 0; n2 < NT / 2; n2++) {
                uint32_t kb[4];
                ldsm_x4(kb0 + swz<DH>(wn * KW + 16 * n2 + b_row, kk * 2 + b_half), kb);
                mma_bf16(s[2 * n2], qa[kk], kb[0], kb[1]);
                mma_bf16(s[2 * n2 + 1], qa[kk], kb[2], kb[3]);
            }
        }

        // ---- mask (invalid: −inf), scale to base 2
        float bmax[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int n = 0; n < NT; n++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                // dense: the position itself (past lim_cta it is past every row's lim)
                const int col = wn * KW + n * 8 + 2 * tq + e;
                const int ps = SPARSE ? pos[col] : b * BK + col;
#pragma unroll
                for (int i = 0; i < 2; i++) {
                    float &x = s[n][2 * i + e];
                    x = ps >= 0 && ps <= lim[i] ? x * p.scale_log2 : -INFINITY;
                    bmax[i] = fmaxf(bmax[i], x);
                    if (MODE == MASS && ps >= 0 && ps <= lim[i])
                        atomicAdd(p.mass + (size_t)tr[i] * p.mass_stride + ps, exp2f(x - lse_in[i]));
                }
            }
        if (MODE != MASS) {
#pragma unroll
            for (int i = 0; i < 2; i++) {
                bmax[i] = fmaxf(bmax[i], __shfl_xor_sync(0xffffffffu, bmax[i], 1));
                bmax[i] = fmaxf(bmax[i], __shfl_xor_sync(0xffffffffu, bmax[i], 2));
            }
            // ---- online softmax (base 2)
            float alpha[2], m_use[2], rsum[2] = {0.0f, 0.0f};
#pragma unroll
            for (int i = 0; i < 2; i++) {
                const float m_new = fmaxf(m_run[i], bmax[i]);
                m_use[i] = m_new == -INFINITY ? 0.0f : m_new;
                alpha[i] = exp2f(m_run[i] - m_use[i]);
                m_run[i] = m_new;
            }
#pragma unroll
            for (int n = 0; n < NT; n++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    s[n][e] = exp2f(s[n][e] - m_use[e >> 1]);
                    rsum[e >> 1] += s[n][e];
                }
#pragma unroll
            for (int i = 0; i < 2; i++)
                l_run[i] = l_run[i] * alpha[i] + rsum[i];
            if (MODE == ATTN) {
#pragma unroll
                for (int n = 0; n < DT; n++) {
                    o[n][0] *= alpha[0];
                    o[n][1] *= alpha[0];
                    o[n][2] *= alpha[1];
                    o[n][3] *= alpha[1];
                }
                // ---- O += P V: P from the S accumulators (the C layout of
                // two n8 tiles is the A layout of one k16 step)
#pragma unroll
                for (int j = 0; j < KS; j++) {
                    uint32_t a[4];
                    a[0] = pack_bf16(s[2 * j][0], s[2 * j][1]);
                    a[1] = pack_bf16(s[2 * j][2], s[2 * j][3]);
                    a[2] = pack_bf16(s[2 * j + 1][0], s[2 * j + 1][1]);
                    a[3] = pack_bf16(s[2 * j + 1][2], s[2 * j + 1][3]);
#pragma unroll
                    for (int n2 = 0; n2 < DT / 2; n2++) {
                        uint32_t vv[4];
                        ldsm_x4_t(vb0 + swz<DH>(wn * KW + 16 * j + v_row, n2 * 2 + v_half), vv);
                        mma_bf16(o[2 * n2], a, vv[0], vv[1]);
                        mma_bf16(o[2 * n2 + 1], a, vv[2], vv[3]);
                    }
                }
            }
        }
        __syncthreads(); // the buffer is reloaded two blocks on
    }
    cp_async_wait_all();
    if constexpr (MODE != MASS) {

        // ---- merge the warps that shared rows, normalise, write
    #pragma unroll
        for (int i = 0; i < 2; i++) {
            l_run[i] += __shfl_xor_sync(0xffffffffu, l_run[i], 1);
            l_run[i] += __shfl_xor_sync(0xffffffffu, l_run[i], 2);
        }
        __syncthreads(); // K and V are free for s_o
        if (tq == 0) {
    #pragma unroll
            for (int i = 0; i < 2; i++) {
                s_m[warp * 16 + g + 8 * i] = m_run[i];
                s_l[warp * 16 + g + 8 * i] = l_run[i];
            }
        }
        __syncthreads();
        if (MODE == ATTN) {
    #pragma unroll
            for (int i = 0; i < 2; i++) {
                const int r = g + 8 * i;
                float M = -INFINITY, L = 0.0f;
    #pragma unroll
                for (int w = 0; w < WN; w++)
                    M = fmaxf(M, s_m[(wm * WN + w) * 16 + r]);
    #pragma unroll
                for (int w = 0; w < WN; w++) {
                    const float mw = s_m[(wm * WN + w) * 16 + r];
                    if (mw != -INFINITY)
                        L += s_l[(wm * WN + w) * 16 + r] * exp2f(mw - M);
                }
                const float f = m_run[i] != -INFINITY && L > 0.0f ? exp2f(m_run[i] - M) / L : 0.0f;
                float *dst = s_o + (warp * 16 + r) * DH + 2 * tq;
    #pragma unroll
                for (int n = 0; n < DT; n++)
                    *reinterpret_cast<float2 *>(dst + n * 8) = make_float2(o[n][2 * i] * f, o[n][2 * i + 1] * f);
            }
            __syncthreads();
        }
        const size_t rows = (size_t)p.n * p.H;
        for (int u = tid; u < WM * 16 * (DH / 2); u += THREADS) {
            const int r = u / (DH / 2), d = (u - r * (DH / 2)) * 2;
            const int rw = r / 16, rr = r % 16;
            int t, h;
            if (!row_of(p, kvh, pm0 + r, t, h))
                continue;
            const size_t row = (size_t)t * p.H + h;
            if (MODE == ATTN) {
                float2 acc = make_float2(0.0f, 0.0f);
    #pragma unroll
                for (int w = 0; w < WN; w++) {
                    const float2 x = *reinterpret_cast<const float2 *>(s_o + ((rw * WN + w) * 16 + rr) * DH + d);
                    acc.x += x.x, acc.y += x.y;
                }
                if (p.splits == 1)
                    *reinterpret_cast<__nv_bfloat162 *>(p.out + row * DH + d) = __floats2bfloat162_rn(acc.x, acc.y);
                else
                    *reinterpret_cast<float2 *>(p.o_part + ((size_t)split * rows + row) * DH + d) = acc;
            }
            if (d == 0) {
                float M = -INFINITY, L = 0.0f;
    #pragma unroll
                for (int w = 0; w < WN; w++)
                    M = fmaxf(M, s_m[(rw * WN + w) * 16 + rr]);
    #pragma unroll
                for (int w = 0; w < WN; w++) {
                    const float mw = s_m[(rw * WN + w) * 16 + rr];
                    if (mw != -INFINITY)
                        L += s_l[(rw * WN + w) * 16 + rr] * exp2f(mw - M);
                }
                const float lse = L > 0.0f ? M + log2f(L) : -INFINITY;
                if (p.splits > 1)
                    p.lse_part[(size_t)split * rows + row] = lse;
                else if (p.lse)
                    p.lse[row] = lse;
            }
        }
    }
}

// One CTA of DH threads per (row, head): out = Σ_s 2^(lse_s − lse) · o_s;
// o_part NULL: the lse only.
__global__ void __launch_bounds__(128) combine(const float *o_part, const float *lse_part, int splits,
                                               size_t rows, int dh, __nv_bfloat16 *out, float *lse)
{
    const size_t row = blockIdx.x;
    const int d = threadIdx.x;
    float mx = -INFINITY;
    for (int s = 0; s < splits; s++)
        mx = fmaxf(mx, lse_part[s * rows + row]);
    float acc = 0.0f, sum = 0.0f;
    if (mx != -INFINITY) {
        for (int s = 0; s < splits; s++) {
            const float w = exp2f(lse_part[s * rows + row] - mx);
            if (w == 0.0f)
                continue;
            sum += w;
            if (o_part)
                acc += w * o_part[(s * rows + row) * dh + d];
        }
    }
    if (o_part)
        out[row * dh + d] = __float2bfloat16_rn(sum > 0.0f ? acc / sum : 0.0f);
    if (lse && d == 0)
        lse[row] = sum > 0.0f ? mx + log2f(sum) : -INFINITY;
}

struct Plan {
    int wm, rows_per_t, mtiles, nb_max, splits, bps;
};

constexpr int MAX_DEVICES = 64;

// Split-KV aims at this many CTAs an SM (sl_k_gqa_tune; 0: the default).
int tune_ctas_per_sm = 0;
constexpr int DEFAULT_CTAS_PER_SM = 2;

int current_device()
{
    int dev = 0;
    return cudaGetDevice(&dev) == cudaSuccess && dev >= 0 && dev < MAX_DEVICES ? dev : 0;
}

// The current device's SM count, asked once per device (the launchers run
// once a layer in decode, where host time counts).
int sm_count()
{
    static int cached[MAX_DEVICES];
    const int dev = current_device();
    int sms = cached[dev];
    if (sms <= 0) {
        if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || sms <= 0)
            sms = 132;
        cached[dev] = sms;
    }
    return sms;
}

// Tiles, and splits of the key range so that few tiles still fill the GPU;
// per_split: workspace bytes a split needs, capped by max_bytes.
Plan plan(bool sparse, int n, int first_pos, int topk, int H, int Hkv, size_t per_split, size_t max_bytes)
{
    Plan pl;
    const int G = H / Hkv;
    if (sparse) {
        pl.wm = 1;
        pl.rows_per_t = (G + 15) / 16 * 16;
        pl.mtiles = n * (pl.rows_per_t / 16);
        pl.nb_max = (topk + BK - 1) / BK;
    } else {
        pl.wm = (long long)n * G >= 64 ? 4 : 1;
        pl.rows_per_t = G;
        pl.mtiles = (int)(((long long)n * G + 16 * pl.wm - 1) / (16 * pl.wm));
        pl.nb_max = (first_pos + n - 1) / BK + 1;
    }
    pl.splits = 1;
    const int sms = sm_count();
    const long long ctas = (long long)pl.mtiles * Hkv;
    if (pl.nb_max > 1 && ctas > 0 && ctas < sms) {
        const int per_sm = tune_ctas_per_sm > 0 ? tune_ctas_per_sm : DEFAULT_CTAS_PER_SM;
        long long want = ((long long)per_sm * sms + ctas - 1) / ctas;
        if (want > pl.nb_max)
            want = pl.nb_max;
        if (want > MAX_SPLITS)
            want = MAX_SPLITS;
        if (per_split > 0 && (size_t)want > max_bytes / per_split)
            want = (long long)(max_bytes / per_split);
        pl.splits = want > 1 ? (int)want : 1;
    }
    pl.bps = pl.nb_max > 0 ? (pl.nb_max + pl.splits - 1) / pl.splits : 1;
    if (pl.nb_max > 0)
        pl.splits = (pl.nb_max + pl.bps - 1) / pl.bps;
    return pl;
}

size_t split_bytes(int n, int H, int Dh, bool with_o)
{
    return (size_t)n * (size_t)H * ((with_o ? (size_t)Dh : 0) + 1) * sizeof(float);
}

template <int DH, int WM, bool SPARSE, int MODE>
cudaError_t run(const Params &p, unsigned grid, cudaStream_t stream)
{
    void (*kernel)(Params) = gqa_attention<DH, WM, SPARSE, MODE>;
    const size_t smem = smem_bytes<DH>();
    static bool smem_set[MAX_DEVICES]; // once per device (a repeated set is harmless)
    const int dev = current_device();
    if (!smem_set[dev]) {
        cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (e != cudaSuccess)
            return e;
        smem_set[dev] = true;
    }
    kernel<<<grid, THREADS, smem, stream>>>(p);
    return cudaGetLastError();
}

template <int DH, int MODE>
cudaError_t dispatch_wm(const Params &p, bool sparse, int wm, unsigned grid, cudaStream_t stream)
{
    if (sparse)
        return MODE == ATTN ? run<DH, 1, true, ATTN>(p, grid, stream) : cudaErrorInvalidValue;
    return wm == 4 ? run<DH, 4, false, MODE>(p, grid, stream) : run<DH, 1, false, MODE>(p, grid, stream);
}

template <int MODE>
cudaError_t dispatch(const Params &p, int Dh, bool sparse, int wm, unsigned grid, cudaStream_t stream)
{
    return Dh == 64 ? dispatch_wm<64, MODE>(p, sparse, wm, grid, stream)
                    : dispatch_wm<128, MODE>(p, sparse, wm, grid, stream);
}

bool bad_shape(int n, int first_pos, int H, int Hkv, int Dh, float scale)
{
    return n < 0 || first_pos < 0 || H <= 0 || Hkv <= 0 || H % Hkv != 0 || (Dh != 64 && Dh != 128) ||
           !(scale > 0.0f) || (long long)first_pos + n > 0x7fffffffLL || (long long)n * H > 0x7fffffffLL ||
           (long long)n * ((H / Hkv + 15) / 16 * 16) > 0x7fffffffLL;
}

bool aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

Params base_params(const sl_bf16 *q, const sl_bf16 *k, const sl_bf16 *v, int n, int first_pos, int H, int Hkv,
                   float scale, const Plan &pl)
{
    Params p;
    p.q = reinterpret_cast<const __nv_bfloat16 *>(q);
    p.k = reinterpret_cast<const __nv_bfloat16 *>(k);
    p.v = reinterpret_cast<const __nv_bfloat16 *>(v);
    p.indices = nullptr;
    p.n = n, p.first_pos = first_pos, p.H = H, p.Hkv = Hkv, p.G = H / Hkv, p.topk = 0;
    p.rows_per_t = pl.rows_per_t, p.mtiles = pl.mtiles;
    p.splits = pl.splits, p.bps = pl.bps;
    p.scale_log2 = scale * 1.4426950408889634f;
    p.out = nullptr;
    p.o_part = p.lse_part = p.lse = p.mass = nullptr;
    p.mass_stride = 0;
    return p;
}

// The attention kernel, then the combine where split.
cudaError_t attention(bool sparse, const sl_bf16 *q, const sl_bf16 *k, const sl_bf16 *v, const int32_t *indices,
                      int n, int topk, int first_pos, int H, int Hkv, int Dh, float scale, sl_bf16 *out,
                      void *workspace, size_t workspace_bytes, cudaStream_t stream)
{
    if (bad_shape(n, first_pos, H, Hkv, Dh, scale) || topk < 0 || !q || !out || !k || !v ||
        (sparse && n > 0 && topk > 0 && !indices) || !aligned16(k) || !aligned16(v) || ((uintptr_t)q & 3))
        return cudaErrorInvalidValue;
    if (n == 0)
        return cudaSuccess;
    const Plan pl = plan(sparse, n, first_pos, topk, H, Hkv, split_bytes(n, H, Dh, true),
                         workspace ? workspace_bytes : 0);
    const long long grid = (long long)pl.mtiles * Hkv * pl.splits;
    if (grid > 0x7fffffffLL)
        return cudaErrorInvalidValue;
    Params p = base_params(q, k, v, n, first_pos, H, Hkv, scale, pl);
    p.indices = indices;
    p.topk = sparse ? topk : 0;
    p.out = reinterpret_cast<__nv_bfloat16 *>(out);
    const size_t rows = (size_t)n * H;
    if (pl.splits > 1) {
        p.o_part = static_cast<float *>(workspace);
        p.lse_part = p.o_part + (size_t)pl.splits * rows * Dh;
    }
    cudaError_t e = dispatch<ATTN>(p, Dh, sparse, pl.wm, (unsigned)grid, stream);
    if (e != cudaSuccess || pl.splits == 1)
        return e;
    combine<<<(unsigned)rows, Dh, 0, stream>>>(p.o_part, p.lse_part, pl.splits, rows, Dh, p.out, nullptr);
    return cudaGetLastError();
}

size_t align256(size_t x) { return (x + 255) / 256 * 256; }

} // namespace

extern "C" void sl_k_gqa_tune(int ctas_per_sm)
{
    tune_ctas_per_sm = ctas_per_sm > 0 ? ctas_per_sm : 0;
}

extern "C" size_t sl_k_gqa_attention_workspace(int n, int first_pos, int H, int Hkv, int Dh)
{
    if (n <= 0 || bad_shape(n, first_pos, H, Hkv, Dh, 1.0f))
        return 0;
    const Plan pl = plan(false, n, first_pos, 0, H, Hkv, split_bytes(n, H, Dh, true), SIZE_MAX);
    return pl.splits > 1 ? (size_t)pl.splits * split_bytes(n, H, Dh, true) : 0;
}

extern "C" size_t sl_k_gqa_sparse_attention_workspace(int n, int topk, int H, int Hkv, int Dh)
{
    if (n <= 0 || topk <= 0 || bad_shape(n, 0, H, Hkv, Dh, 1.0f))
        return 0;
    const Plan pl = plan(true, n, 0, topk, H, Hkv, split_bytes(n, H, Dh, true), SIZE_MAX);
    return pl.splits > 1 ? (size_t)pl.splits * split_bytes(n, H, Dh, true) : 0;
}

extern "C" cudaError_t sl_k_gqa_attention(const sl_bf16 *q, const sl_bf16 *k_cache, const sl_bf16 *v_cache, int n,
                                          int first_pos, int H, int Hkv, int Dh, float scale, sl_bf16 *out,
                                          void *workspace, size_t workspace_bytes, cudaStream_t s)
{
    return attention(false, q, k_cache, v_cache, nullptr, n, 0, first_pos, H, Hkv, Dh, scale, out, workspace,
                     workspace_bytes, s);
}

extern "C" cudaError_t sl_k_gqa_sparse_attention(const sl_bf16 *q, const sl_bf16 *k_cache, const sl_bf16 *v_cache,
                                                 const int32_t *indices, int n, int topk, int first_pos, int H,
                                                 int Hkv, int Dh, float scale, sl_bf16 *out, void *workspace,
                                                 size_t workspace_bytes, cudaStream_t s)
{
    return attention(true, q, k_cache, v_cache, indices, n, topk, first_pos, H, Hkv, Dh, scale, out, workspace,
                     workspace_bytes, s);
}

extern "C" size_t sl_k_gqa_head_mass_workspace(int n, int first_pos, int H, int Hkv, int Dh)
{
    if (n <= 0 || bad_shape(n, first_pos, H, Hkv, Dh, 1.0f))
        return 0;
    const size_t lse = align256((size_t)n * H * sizeof(float));
    const Plan pl = plan(false, n, first_pos, 0, H, Hkv, split_bytes(n, H, Dh, false), SIZE_MAX);
    return lse + (pl.splits > 1 ? (size_t)pl.splits * split_bytes(n, H, Dh, false) : 0);
}

extern "C" cudaError_t sl_k_gqa_head_mass(const sl_bf16 *q, const sl_bf16 *k_cache, int n, int first_pos, int H,
                                          int Hkv, int Dh, float scale, float *mass, void *workspace,
                                          size_t workspace_bytes, cudaStream_t s)
{
    if (bad_shape(n, first_pos, H, Hkv, Dh, scale) || !q || !k_cache || !mass || !aligned16(k_cache) ||
        ((uintptr_t)q & 3))
        return cudaErrorInvalidValue;
    if (n == 0)
        return cudaSuccess;
    const size_t rows = (size_t)n * H, lse_bytes = align256(rows * sizeof(float));
    if (!workspace || workspace_bytes < lse_bytes || ((uintptr_t)workspace & 15))
        return cudaErrorInvalidValue;
    const size_t stride = (size_t)first_pos + n;
    cudaError_t e = cudaMemsetAsync(mass, 0, (size_t)n * stride * sizeof(float), s);
    if (e != cudaSuccess)
        return e;
    // Pass 1: each (row, head)'s lse, split where it pays.
    const Plan pl = plan(false, n, first_pos, 0, H, Hkv, split_bytes(n, H, Dh, false), workspace_bytes - lse_bytes);
    Params p = base_params(q, k_cache, k_cache, n, first_pos, H, Hkv, scale, pl);
    p.lse = static_cast<float *>(workspace);
    if (pl.splits > 1)
        p.lse_part = reinterpret_cast<float *>(static_cast<uint8_t *>(workspace) + lse_bytes);
    const long long grid = (long long)pl.mtiles * Hkv * pl.splits;
    if (grid > 0x7fffffffLL)
        return cudaErrorInvalidValue;
    e = dispatch<LSE>(p, Dh, false, pl.wm, (unsigned)grid, s);
    if (e != cudaSuccess)
        return e;
    if (pl.splits > 1) {
        combine<<<(unsigned)rows, Dh, 0, s>>>(nullptr, p.lse_part, pl.splits, rows, Dh, nullptr, p.lse);
        if ((e = cudaGetLastError()) != cudaSuccess)
            return e;
    }
    // Pass 2: Σ_h 2^(s_h − lse_h) into mass, over as many splits as pay (no workspace).
    const Plan pm = plan(false, n, first_pos, 0, H, Hkv, 0, SIZE_MAX);
    Params p2 = base_params(q, k_cache, k_cache, n, first_pos, H, Hkv, scale, pm);
    p2.lse = p.lse;
    p2.mass = mass;
    p2.mass_stride = stride;
    return dispatch<MASS>(p2, Dh, false, pm.wm, (unsigned)((long long)pm.mtiles * Hkv * pm.splits), s);
}
