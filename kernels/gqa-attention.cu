// gqa-attention.cu: causal grouped-query flash attention over a BF16 KV cache
// (the llama family), dense or over each row's selected positions (DSA), and
// the oracle's per-position attention mass summed over heads.
//
// Query head h reads KV head g = h / G (G = H / Hkv). The G heads of a KV
// head over consecutive rows are "packed rows" pm = t·G + (h − g·G), so that
// one tile of packed rows shares every key and value it reads: a CTA (4
// warps, 128 threads) takes one KV head and a tile of packed rows (sparse:
// the heads of one row t only, padded to 16, since rows select different
// positions). Per block of 64 positions, K and V are copied into shared
// memory (cp.async, double-buffered, zero-filled where a position is out of
// range or not selected; 16-byte chunks XOR-swizzled by row so that
// ldmatrix hits 8 bank groups), then:
//   WM = 4 (prefill): warp w owns WR = 16·MT packed rows (MT = 2 m16
//       tiles at head dim 64, 1 at 128) and all 64 positions of the block;
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

#include "mma-ptx.cuh"

constexpr int BK = 64;       // positions per block
constexpr int THREADS = 128; // 4 warps
constexpr int WARPS = THREADS / 32;
constexpr int MAX_SPLITS = 128;
constexpr int MAX_WR = 32; // rows a warp: 16 · MT, MT ≤ 2

enum Mode { ATTN, LSE, MASS };

template <int DH>
constexpr size_t smem_bytes()
{
    return (size_t)4 * BK * DH * 2            // K and V, two buffers each
           + 2 * BK * sizeof(int)             // positions of the two blocks
           + 2 * WARPS * MAX_WR * sizeof(float); // row maxima and sums
}

struct Params {
    const __nv_bfloat16 *q, *k, *v;
    const int32_t *indices;
    int n, first_pos, H, Hkv, G, topk;
    const int32_t *pos_dev; // non-NULL: first_pos read here, the split length made to fit it
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

// Byte offset of 16-byte chunk c of row r in a tile of rows of DH bf16.
template <int DH>
__device__ __forceinline__ uint32_t swz(int r, int c)
{
    return (uint32_t)(r * DH * 2 + ((c ^ (r & 7)) << 4));
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

template <int DH, int WM, int MT, bool SPARSE, int MODE>
__global__ void __launch_bounds__(THREADS) gqa_attention(const Params p)
{
    constexpr int WN = WARPS / WM; // warps sharing a warp's rows
    constexpr int WR = 16 * MT;    // rows a warp
    constexpr int KW = BK / WN;    // positions of a block a warp
    constexpr int NT = KW / 8;     // n8 tiles of S a warp
    constexpr int KS = KW / 16;    // k16 steps of P V
    constexpr int DT = DH / 8;     // n8 tiles of O
    constexpr int DK = DH / 16;    // k16 steps of Q Kᵀ
    constexpr int CH = DH / 8;     // 16-byte chunks of a row
    constexpr int TILE = BK * DH * 2;
    constexpr int R2 = 2 * MT;     // rows a thread: row(x) = 16 (x / 2) + g + 8 (x % 2)
    static_assert(WM * WN == WARPS && NT % 2 == 0 && KS >= 1 && WR <= MAX_WR, "tiling");
    static_assert((size_t)WARPS * WR * DH * sizeof(float) <= 4 * (size_t)TILE, "s_o fits in K and V");

    extern __shared__ __align__(128) uint8_t smem[];
    uint8_t *s_k = smem;                                         // [2][BK] rows
    uint8_t *s_v = smem + 2 * TILE;                              // [2][BK] rows
    int *s_pos = reinterpret_cast<int *>(smem + 4 * TILE);       // [2][BK]
    float *s_m = reinterpret_cast<float *>(s_pos + 2 * BK);      // [WARPS][WR]
    float *s_l = s_m + WARPS * MAX_WR;                           // [WARPS][WR]
    float *s_o = reinterpret_cast<float *>(smem);                // [WARPS][WR][DH], after the loop

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp / WN, wn = warp % WN;
    const int g = lane >> 2, tq = lane & 3;

    // A decode step replayed as a graph reads its position on the device.
    const int first_pos = p.pos_dev ? __ldg(p.pos_dev) : p.first_pos;
    int bid = blockIdx.x;
    const int split = bid % p.splits;
    bid /= p.splits;
    const int kvh = bid % p.Hkv;
    bid /= p.Hkv;
    const int tile = SPARSE ? bid : p.mtiles - 1 - bid; // dense: the longest tiles first
    const int pm0 = tile * WM * WR;

    // The CTA's last visible position and its blocks.
    int lim_cta, nb, t_sparse = 0;
    if (SPARSE) {
        t_sparse = pm0 / p.rows_per_t;
        lim_cta = first_pos + t_sparse;
        nb = (p.topk + BK - 1) / BK;
    } else {
        const int pm_last = min(pm0 + WM * WR, p.n * p.rows_per_t) - 1;
        lim_cta = first_pos + pm_last / p.rows_per_t;
        nb = lim_cta / BK + 1;
    }
    // With pos_dev the splits are as many as the longest context takes, and
    // those past this one's blocks give empty partials, which combine skips.
    const int bps = p.pos_dev ? (nb + p.splits - 1) / p.splits : p.bps;
    const int b_begin = split * bps;
    const int b_end = min(nb, b_begin + bps);

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

    // This thread's rows: packed rows pm0 + WR wm + row(x).
    int tr[R2], hr[R2], lim[R2];
    bool vr[R2];
    uint32_t qa[MT][DK][4];
#pragma unroll
    for (int x = 0; x < R2; x++) {
        vr[x] = row_of(p, kvh, pm0 + WR * wm + 16 * (x >> 1) + g + 8 * (x & 1), tr[x], hr[x]);
        lim[x] = vr[x] ? first_pos + tr[x] : -1;
    }
#pragma unroll
    for (int mi = 0; mi < MT; mi++) {
        const int x0 = 2 * mi, x1 = 2 * mi + 1;
        const uint32_t *q0 = reinterpret_cast<const uint32_t *>(p.q + ((size_t)tr[x0] * p.H + hr[x0]) * DH);
        const uint32_t *q1 = reinterpret_cast<const uint32_t *>(p.q + ((size_t)tr[x1] * p.H + hr[x1]) * DH);
#pragma unroll
        for (int kk = 0; kk < DK; kk++) {
            qa[mi][kk][0] = vr[x0] ? __ldg(q0 + kk * 8 + tq) : 0u;
            qa[mi][kk][1] = vr[x1] ? __ldg(q1 + kk * 8 + tq) : 0u;
            qa[mi][kk][2] = vr[x0] ? __ldg(q0 + kk * 8 + 4 + tq) : 0u;
            qa[mi][kk][3] = vr[x1] ? __ldg(q1 + kk * 8 + 4 + tq) : 0u;
        }
    }
    float lse_in[R2];
#pragma unroll
    for (int x = 0; x < R2; x++)
        lse_in[x] = MODE == MASS && vr[x] ? p.lse[(size_t)tr[x] * p.H + hr[x]] : 0.0f;

    float o[MT][DT][4];
#pragma unroll
    for (int mi = 0; mi < MT; mi++)
#pragma unroll
        for (int n = 0; n < DT; n++)
            o[mi][n][0] = o[mi][n][1] = o[mi][n][2] = o[mi][n][3] = 0.0f;
    float m_run[R2], l_run[R2];
#pragma unroll
    for (int x = 0; x < R2; x++)
        m_run[x] = -INFINITY, l_run[x] = 0.0f;
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

        // ---- S = Q Kᵀ: WR rows × KW positions a warp
        float s[MT][NT][4];
#pragma unroll
        for (int mi = 0; mi < MT; mi++)
#pragma unroll
            for (int n = 0; n < NT; n++)
                s[mi][n][0] = s[mi][n][1] = s[mi][n][2] = s[mi][n][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < DK; kk++) {
#pragma unroll
            for (int n2 = 0; n2 < NT / 2; n2++) {
                uint32_t kb[4];
                ldsm_x4(kb0 + swz<DH>(wn * KW + 16 * n2 + b_row, kk * 2 + b_half), kb);
#pragma unroll
                for (int mi = 0; mi < MT; mi++) {
                    mma_bf16(s[mi][2 * n2], qa[mi][kk], kb[0], kb[1]);
                    mma_bf16(s[mi][2 * n2 + 1], qa[mi][kk], kb[2], kb[3]);
                }
            }
        }

        // ---- mask (invalid: −inf), scale to base 2
        float bmax[R2];
#pragma unroll
        for (int x = 0; x < R2; x++)
            bmax[x] = -INFINITY;
#pragma unroll
        for (int n = 0; n < NT; n++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                // dense: the position itself (past lim_cta it is past every row's lim)
                const int col = wn * KW + n * 8 + 2 * tq + e;
                const int ps = SPARSE ? pos[col] : b * BK + col;
#pragma unroll
                for (int x = 0; x < R2; x++) {
                    float &y = s[x >> 1][n][2 * (x & 1) + e];
                    y = ps >= 0 && ps <= lim[x] ? y * p.scale_log2 : -INFINITY;
                    bmax[x] = fmaxf(bmax[x], y);
                    if (MODE == MASS && ps >= 0 && ps <= lim[x])
                        atomicAdd(p.mass + (size_t)tr[x] * p.mass_stride + ps, exp2f(y - lse_in[x]));
                }
            }
        if (MODE != MASS) {
            // ---- online softmax (base 2)
            float alpha[R2], m_use[R2], rsum[R2];
#pragma unroll
            for (int x = 0; x < R2; x++) {
                bmax[x] = fmaxf(bmax[x], __shfl_xor_sync(0xffffffffu, bmax[x], 1));
                bmax[x] = fmaxf(bmax[x], __shfl_xor_sync(0xffffffffu, bmax[x], 2));
                const float m_new = fmaxf(m_run[x], bmax[x]);
                m_use[x] = m_new == -INFINITY ? 0.0f : m_new;
                alpha[x] = exp2f(m_run[x] - m_use[x]);
                m_run[x] = m_new;
                rsum[x] = 0.0f;
            }
#pragma unroll
            for (int mi = 0; mi < MT; mi++)
#pragma unroll
                for (int n = 0; n < NT; n++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int x = 2 * mi + (e >> 1);
                        s[mi][n][e] = exp2f(s[mi][n][e] - m_use[x]);
                        rsum[x] += s[mi][n][e];
                    }
#pragma unroll
            for (int x = 0; x < R2; x++)
                l_run[x] = l_run[x] * alpha[x] + rsum[x];
            if (MODE == ATTN) {
#pragma unroll
                for (int mi = 0; mi < MT; mi++)
#pragma unroll
                    for (int n = 0; n < DT; n++) {
                        o[mi][n][0] *= alpha[2 * mi];
                        o[mi][n][1] *= alpha[2 * mi];
                        o[mi][n][2] *= alpha[2 * mi + 1];
                        o[mi][n][3] *= alpha[2 * mi + 1];
                    }
                // ---- O += P V: P from the S accumulators (the C layout of
                // two n8 tiles is the A layout of one k16 step)
#pragma unroll
                for (int j = 0; j < KS; j++) {
                    uint32_t a[MT][4];
#pragma unroll
                    for (int mi = 0; mi < MT; mi++) {
                        a[mi][0] = pack_bf16(s[mi][2 * j][0], s[mi][2 * j][1]);
                        a[mi][1] = pack_bf16(s[mi][2 * j][2], s[mi][2 * j][3]);
                        a[mi][2] = pack_bf16(s[mi][2 * j + 1][0], s[mi][2 * j + 1][1]);
                        a[mi][3] = pack_bf16(s[mi][2 * j + 1][2], s[mi][2 * j + 1][3]);
                    }
#pragma unroll
                    for (int n2 = 0; n2 < DT / 2; n2++) {
                        uint32_t vv[4];
                        ldsm_x4_t(vb0 + swz<DH>(wn * KW + 16 * j + v_row, n2 * 2 + v_half), vv);
#pragma unroll
                        for (int mi = 0; mi < MT; mi++) {
                            mma_bf16(o[mi][2 * n2], a[mi], vv[0], vv[1]);
                            mma_bf16(o[mi][2 * n2 + 1], a[mi], vv[2], vv[3]);
                        }
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
        for (int x = 0; x < R2; x++) {
            l_run[x] += __shfl_xor_sync(0xffffffffu, l_run[x], 1);
            l_run[x] += __shfl_xor_sync(0xffffffffu, l_run[x], 2);
        }
        __syncthreads(); // K and V are free for s_o
        if (tq == 0) {
#pragma unroll
            for (int x = 0; x < R2; x++) {
                const int r = 16 * (x >> 1) + g + 8 * (x & 1);
                s_m[warp * MAX_WR + r] = m_run[x];
                s_l[warp * MAX_WR + r] = l_run[x];
            }
        }
        __syncthreads();
        // The merged max and sum of row r of warp row wr.
        auto merged = [&](int wr, int r, float &M, float &L) {
            M = -INFINITY, L = 0.0f;
#pragma unroll
            for (int w = 0; w < WN; w++)
                M = fmaxf(M, s_m[(wr * WN + w) * MAX_WR + r]);
#pragma unroll
            for (int w = 0; w < WN; w++) {
                const float mw = s_m[(wr * WN + w) * MAX_WR + r];
                if (mw != -INFINITY)
                    L += s_l[(wr * WN + w) * MAX_WR + r] * exp2f(mw - M);
            }
        };
        if (MODE == ATTN) {
#pragma unroll
            for (int x = 0; x < R2; x++) {
                const int r = 16 * (x >> 1) + g + 8 * (x & 1);
                float M, L;
                merged(wm, r, M, L);
                const float f = m_run[x] != -INFINITY && L > 0.0f ? exp2f(m_run[x] - M) / L : 0.0f;
                float *dst = s_o + (warp * WR + r) * DH + 2 * tq;
                const int mi = x >> 1, i = x & 1;
#pragma unroll
                for (int n = 0; n < DT; n++)
                    *reinterpret_cast<float2 *>(dst + n * 8) =
                        make_float2(o[mi][n][2 * i] * f, o[mi][n][2 * i + 1] * f);
            }
            __syncthreads();
        }
        const size_t rows = (size_t)p.n * p.H;
        for (int u = tid; u < WM * WR * (DH / 2); u += THREADS) {
            const int r = u / (DH / 2), d = (u - r * (DH / 2)) * 2;
            const int wr = r / WR, rr = r % WR;
            int t, h;
            if (!row_of(p, kvh, pm0 + r, t, h))
                continue;
            const size_t row = (size_t)t * p.H + h;
            if (MODE == ATTN) {
                float2 acc = make_float2(0.0f, 0.0f);
#pragma unroll
                for (int w = 0; w < WN; w++) {
                    const float2 y = *reinterpret_cast<const float2 *>(s_o + ((wr * WN + w) * WR + rr) * DH + d);
                    acc.x += y.x, acc.y += y.y;
                }
                if (p.splits == 1)
                    *reinterpret_cast<__nv_bfloat162 *>(p.out + row * DH + d) = __floats2bfloat162_rn(acc.x, acc.y);
                else
                    *reinterpret_cast<float2 *>(p.o_part + ((size_t)split * rows + row) * DH + d) = acc;
            }
            if (d == 0) {
                float M, L;
                merged(wr, rr, M, L);
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

// m16 tiles a warp in prefill (4 warps of their own rows): two at head dim
// 64 (each K and V fragment read from shared memory serves 32 rows, at half
// the occupancy), unless tuned to one; one at 128, where two would not fit
// in registers.
int tune_prefill_mt = 0;
int prefill_mt(int dh) { return dh == 64 && tune_prefill_mt != 1 ? 2 : 1; }

struct Plan {
    int wm, mt, rows_per_t, mtiles, nb_max, splits, bps; // tiles of 16·wm·mt packed rows
};

constexpr int MAX_DEVICES = 64;

// Split-KV aims at this many CTAs an SM (sl_k_gqa_tune; 0: the default).
// One: the combine kernel reads the splits one after another, so that more
// splits cost more there than they save (H100, kernels/README.md).
int tune_ctas_per_sm = 0;
constexpr int DEFAULT_CTAS_PER_SM = 1;

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
Plan plan(bool sparse, int n, int first_pos, int topk, int H, int Hkv, int Dh, size_t per_split, size_t max_bytes)
{
    Plan pl;
    const int G = H / Hkv;
    if (sparse) {
        pl.wm = 1;
        pl.mt = 1;
        pl.rows_per_t = (G + 15) / 16 * 16;
        pl.mtiles = n * (pl.rows_per_t / 16);
        pl.nb_max = (topk + BK - 1) / BK;
    } else {
        pl.wm = (long long)n * G >= 64 ? 4 : 1;
        pl.rows_per_t = G;
        pl.mt = pl.wm == 4 ? prefill_mt(Dh) : 1;
        const int tile_rows = 16 * pl.wm * pl.mt;
        pl.mtiles = (int)(((long long)n * G + tile_rows - 1) / tile_rows);
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

template <int DH, int WM, int MT, bool SPARSE, int MODE>
cudaError_t run(const Params &p, unsigned grid, cudaStream_t stream)
{
    void (*kernel)(Params) = gqa_attention<DH, WM, MT, SPARSE, MODE>;
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
cudaError_t dispatch_wm(const Params &p, bool sparse, int wm, int mt, unsigned grid, cudaStream_t stream)
{
    if (sparse)
        return MODE == ATTN ? run<DH, 1, 1, true, ATTN>(p, grid, stream) : cudaErrorInvalidValue;
    if (wm == 1)
        return run<DH, 1, 1, false, MODE>(p, grid, stream);
    if (DH == 64 && mt == 2)
        return run<DH, 4, DH == 64 ? 2 : 1, false, MODE>(p, grid, stream);
    return run<DH, 4, 1, false, MODE>(p, grid, stream);
}

template <int MODE>
cudaError_t dispatch(const Params &p, int Dh, bool sparse, const Plan &pl, unsigned grid, cudaStream_t stream)
{
    return Dh == 64 ? dispatch_wm<64, MODE>(p, sparse, pl.wm, pl.mt, grid, stream)
                    : dispatch_wm<128, MODE>(p, sparse, pl.wm, pl.mt, grid, stream);
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
    p.pos_dev = nullptr;
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
// pos_dev: one dense row whose position is read on the device, first_pos
// then the last it may take (the plan is made for that).
cudaError_t attention(bool sparse, const sl_bf16 *q, const sl_bf16 *k, const sl_bf16 *v, const int32_t *indices,
                      int n, int topk, int first_pos, int H, int Hkv, int Dh, float scale, sl_bf16 *out,
                      void *workspace, size_t workspace_bytes, cudaStream_t stream,
                      const int32_t *pos_dev = nullptr)
{
    if (bad_shape(n, first_pos, H, Hkv, Dh, scale) || topk < 0 || !q || !out || !k || !v ||
        (sparse && n > 0 && topk > 0 && !indices) || !aligned16(k) || !aligned16(v) || ((uintptr_t)q & 3))
        return cudaErrorInvalidValue;
    if (n == 0)
        return cudaSuccess;
    const Plan pl = plan(sparse, n, first_pos, topk, H, Hkv, Dh, split_bytes(n, H, Dh, true),
                         workspace ? workspace_bytes : 0);
    const long long grid = (long long)pl.mtiles * Hkv * pl.splits;
    if (grid > 0x7fffffffLL)
        return cudaErrorInvalidValue;
    Params p = base_params(q, k, v, n, first_pos, H, Hkv, scale, pl);
    p.indices = indices;
    p.pos_dev = pos_dev;
    p.topk = sparse ? topk : 0;
    p.out = reinterpret_cast<__nv_bfloat16 *>(out);
    const size_t rows = (size_t)n * H;
    if (pl.splits > 1) {
        p.o_part = static_cast<float *>(workspace);
        p.lse_part = p.o_part + (size_t)pl.splits * rows * Dh;
    }
    cudaError_t e = dispatch<ATTN>(p, Dh, sparse, pl, (unsigned)grid, stream);
    if (e != cudaSuccess || pl.splits == 1)
        return e;
    combine<<<(unsigned)rows, Dh, 0, stream>>>(p.o_part, p.lse_part, pl.splits, rows, Dh, p.out, nullptr);
    return cudaGetLastError();
}

size_t align256(size_t x) { return (x + 255) / 256 * 256; }

} // namespace

extern "C" void sl_k_gqa_tune(int ctas_per_sm, int prefill_mtiles)
{
    tune_ctas_per_sm = ctas_per_sm > 0 ? ctas_per_sm : 0;
    tune_prefill_mt = prefill_mtiles == 1 || prefill_mtiles == 2 ? prefill_mtiles : 0;
}

extern "C" size_t sl_k_gqa_attention_workspace(int n, int first_pos, int H, int Hkv, int Dh)
{
    if (n <= 0 || bad_shape(n, first_pos, H, Hkv, Dh, 1.0f))
        return 0;
    const Plan pl = plan(false, n, first_pos, 0, H, Hkv, Dh, split_bytes(n, H, Dh, true), SIZE_MAX);
    return pl.splits > 1 ? (size_t)pl.splits * split_bytes(n, H, Dh, true) : 0;
}

extern "C" size_t sl_k_gqa_sparse_attention_workspace(int n, int topk, int H, int Hkv, int Dh)
{
    if (n <= 0 || topk <= 0 || bad_shape(n, 0, H, Hkv, Dh, 1.0f))
        return 0;
    const Plan pl = plan(true, n, 0, topk, H, Hkv, Dh, split_bytes(n, H, Dh, true), SIZE_MAX);
    return pl.splits > 1 ? (size_t)pl.splits * split_bytes(n, H, Dh, true) : 0;
}

extern "C" cudaError_t sl_k_gqa_attention(const sl_bf16 *q, const sl_bf16 *k_cache, const sl_bf16 *v_cache, int n,
                                          int first_pos, int H, int Hkv, int Dh, float scale, sl_bf16 *out,
                                          void *workspace, size_t workspace_bytes, cudaStream_t s)
{
    return attention(false, q, k_cache, v_cache, nullptr, n, 0, first_pos, H, Hkv, Dh, scale, out, workspace,
                     workspace_bytes, s);
}

extern "C" cudaError_t sl_k_gqa_decode_attention_at(const sl_bf16 *q, const sl_bf16 *k_cache,
                                                   const sl_bf16 *v_cache, const int32_t *pos, int max_pos,
                                                   int H, int Hkv, int Dh, float scale, sl_bf16 *out,
                                                   void *workspace, size_t workspace_bytes, cudaStream_t s)
{
    if (!pos || max_pos < 1)
        return cudaErrorInvalidValue;
    return attention(false, q, k_cache, v_cache, nullptr, 1, 0, max_pos - 1, H, Hkv, Dh, scale, out, workspace,
                     workspace_bytes, s, pos);
}

extern "C" cudaError_t sl_k_gqa_sparse_attention(const sl_bf16 *q, const sl_bf16 *k_cache, const sl_bf16 *v_cache,
                                                 const int32_t *indices, int n, int topk, int first_pos, int H,
                                                 int Hkv, int Dh, float scale, sl_bf16 *out, void *workspace,
                                                 size_t workspace_bytes, cudaStream_t s)
{
    return attention(true, q, k_cache, v_cache, indices, n, topk, first_pos, H, Hkv, Dh, scale, out, workspace,
                     workspace_bytes, s);
}

extern "C" cudaError_t sl_k_gqa_sparse_attention_at(const sl_bf16 *q, const sl_bf16 *k_cache,
                                                    const sl_bf16 *v_cache, const int32_t *indices,
                                                    int topk, const int32_t *pos, int H, int Hkv,
                                                    int Dh, float scale, sl_bf16 *out,
                                                    void *workspace, size_t workspace_bytes,
                                                    cudaStream_t s)
{
    if (!pos)
        return cudaErrorInvalidValue;
    return attention(true, q, k_cache, v_cache, indices, 1, topk, 0, H, Hkv, Dh, scale, out,
                     workspace, workspace_bytes, s, pos);
}

extern "C" size_t sl_k_gqa_head_mass_workspace(int n, int first_pos, int H, int Hkv, int Dh)
{
    if (n <= 0 || bad_shape(n, first_pos, H, Hkv, Dh, 1.0f))
        return 0;
    const size_t lse = align256((size_t)n * H * sizeof(float));
    const Plan pl = plan(false, n, first_pos, 0, H, Hkv, Dh, split_bytes(n, H, Dh, false), SIZE_MAX);
    return lse + (pl.splits > 1 ? (size_t)pl.splits * split_bytes(n, H, Dh, false) : 0);
}

namespace {

// The two passes of the oracle's mass; pos_dev: one row whose position is
// read on the device, first_pos then the last it may take.
cudaError_t head_mass(const sl_bf16 *q, const sl_bf16 *k_cache, int n, int first_pos, int H, int Hkv,
                      int Dh, float scale, float *mass, void *workspace, size_t workspace_bytes,
                      cudaStream_t s, const int32_t *pos_dev)
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
    const Plan pl = plan(false, n, first_pos, 0, H, Hkv, Dh, split_bytes(n, H, Dh, false), workspace_bytes - lse_bytes);
    Params p = base_params(q, k_cache, k_cache, n, first_pos, H, Hkv, scale, pl);
    p.pos_dev = pos_dev;
    p.lse = static_cast<float *>(workspace);
    if (pl.splits > 1)
        p.lse_part = reinterpret_cast<float *>(static_cast<uint8_t *>(workspace) + lse_bytes);
    const long long grid = (long long)pl.mtiles * Hkv * pl.splits;
    if (grid > 0x7fffffffLL)
        return cudaErrorInvalidValue;
    e = dispatch<LSE>(p, Dh, false, pl, (unsigned)grid, s);
    if (e != cudaSuccess)
        return e;
    if (pl.splits > 1) {
        combine<<<(unsigned)rows, Dh, 0, s>>>(nullptr, p.lse_part, pl.splits, rows, Dh, nullptr, p.lse);
        if ((e = cudaGetLastError()) != cudaSuccess)
            return e;
    }
    // Pass 2: Σ_h 2^(s_h − lse_h) into mass, over as many splits as pay (no workspace).
    const Plan pm = plan(false, n, first_pos, 0, H, Hkv, Dh, 0, SIZE_MAX);
    Params p2 = base_params(q, k_cache, k_cache, n, first_pos, H, Hkv, scale, pm);
    p2.pos_dev = pos_dev;
    p2.lse = p.lse;
    p2.mass = mass;
    p2.mass_stride = stride;
    return dispatch<MASS>(p2, Dh, false, pm, (unsigned)((long long)pm.mtiles * Hkv * pm.splits), s);
}

} // namespace

extern "C" cudaError_t sl_k_gqa_head_mass(const sl_bf16 *q, const sl_bf16 *k_cache, int n, int first_pos, int H,
                                          int Hkv, int Dh, float scale, float *mass, void *workspace,
                                          size_t workspace_bytes, cudaStream_t s)
{
    return head_mass(q, k_cache, n, first_pos, H, Hkv, Dh, scale, mass, workspace, workspace_bytes, s,
                     nullptr);
}

extern "C" cudaError_t sl_k_gqa_head_mass_at(const sl_bf16 *q, const sl_bf16 *k_cache, const int32_t *pos,
                                             int max_pos, int H, int Hkv, int Dh, float scale, float *mass,
                                             void *workspace, size_t workspace_bytes, cudaStream_t s)
{
    if (!pos || max_pos < 1)
        return cudaErrorInvalidValue;
    return head_mass(q, k_cache, 1, max_pos - 1, H, Hkv, Dh, scale, mass, workspace, workspace_bytes, s,
                     pos);
}
