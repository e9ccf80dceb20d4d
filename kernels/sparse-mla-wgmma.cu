// sparse-mla-wgmma.cu: sparse-mla.cu's kernel on Hopper's wgmma (sm_90a),
// for the BF16 cache and DeepSeek's FP8 one. sparse-mla.cu chooses it on
// sm_90 devices and keeps its mma.sync kernel for other GPUs.
//
// One CTA takes 64 heads of one row (a range of its topk blocks when split),
// two warpgroups. Q and each block of 64 selected cache rows live in shared
// memory as nine column blocks of [64 rows][64 values] (128-byte rows,
// 128-byte swizzle: the layout wgmma reads); BF16 rows are gathered into it
// by cp.async, two blocks in flight; FP8 entries are gathered raw and
// dequantised into it; invalid indices read as zeros. Per block (variant 2,
// the default):
//   QK: warpgroup 0 computes S = Q·Kᵀ for all 64 heads and positions (36
//       wgmma m64n64k16, both operands in shared memory), runs the online
//       softmax (base 2), writes P (bf16) to shared memory and leaves each
//       row's rescaling there for warpgroup 1;
//   PV: warpgroup w accumulates O for all 64 heads and value columns
//       256w … 256w+255 from all of P (4 wgmma m64n256k16; V is the cache
//       block itself, read N-major), 128 float32 registers a thread.
// Each value tile read thus serves 64 heads, and the tensor cores read both
// operands from shared memory without ldmatrix: about 225 KB of shared-memory
// reads a block against the mma.sync kernel's 600. Partial results of a split
// go to the workspace as there, and sparse-mla.cu's combine adds them.
#include "sightline-kernels.h"
#include "sparse-mla-common.cuh"

#include <cuda_bf16.h>

#include <math.h>

namespace {

#include "wgmma-ptx.cuh"

constexpr int D_QK = 576, D_V = 512;
constexpr int HB = 64;                     // heads per CTA
constexpr int BK = 64;                     // positions per block
static_assert(BK == 64, "sparse_mla_index counts blocks of 64");
constexpr int THREADS = 256;               // two warpgroups
constexpr int COLUMN_BLOCK = 64 * 128;     // 64 rows of 64 values
constexpr int TILE = 9 * COLUMN_BLOCK;     // 64 rows of 576 values: 73,728 bytes
constexpr int P_BYTES = HB * BK * 2;
constexpr int FP8_ROW = SPARSE_MLA_FP8_ROW;
constexpr int RAW_BYTES = BK * FP8_ROW; // a block of raw FP8 entries: 41 KiB, 1024-aligned
// Q, two tiles (BF16: one being read, one being gathered) or one tile and the
// raw FP8 entries (FP8: dequantised into the tile), P, indices, row stats.
constexpr size_t smem_bytes(bool fp8)
{
    return 1024 /* alignment */ + 2 * (size_t)TILE + (fp8 ? RAW_BYTES : TILE) + P_BYTES +
           3 * BK * sizeof(int) + 2 * 2 * HB * sizeof(float);
}
static_assert(smem_bytes(false) <= 232448, "more shared memory than a Hopper CTA has");

using Params = SparseMlaParams;

// Byte offset of 16-byte chunk c (of 72) of row r in a tile.
__device__ __forceinline__ uint32_t tile_at(int r, int c)
{
    return (uint32_t)((c >> 3) * COLUMN_BLOCK + r * 128 + (((c & 7) ^ (r & 7)) << 4));
}

#define SL_F8(i) "+f"(d[i + 0]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), \
                 "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), "+f"(d[i + 7])

// d[64 × 32] (+)= A[64 × 16] · B[16 × 32], both K-major in shared memory.
__device__ __forceinline__ void wgmma_qk(float (&d)[16], uint64_t a, uint64_t b, int accumulate)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 "
                 "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15},"
                 " %16, %17, p, 1, 1, 0, 0;\n}\n"
                 : SL_F8(0), SL_F8(8)
                 : "l"(a), "l"(b), "r"(accumulate));
}

// d[64 × 256] += A[64 × 16] · B[16 × 256]: A K-major, B N-major (transposed).
__device__ __forceinline__ void wgmma_pv(float (&d)[128], uint64_t a, uint64_t b)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 "
                 "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,"
                 "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,"
                 "%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,"
                 "%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63,"
                 "%64,%65,%66,%67,%68,%69,%70,%71,%72,%73,%74,%75,%76,%77,%78,%79,"
                 "%80,%81,%82,%83,%84,%85,%86,%87,%88,%89,%90,%91,%92,%93,%94,%95,"
                 "%96,%97,%98,%99,%100,%101,%102,%103,%104,%105,%106,%107,%108,%109,%110,%111,"
                 "%112,%113,%114,%115,%116,%117,%118,%119,%120,%121,%122,%123,%124,%125,%126,%127},"
                 " %128, %129, p, 1, 1, 0, 1;\n}\n"
                 : SL_F8(0), SL_F8(8), SL_F8(16), SL_F8(24), SL_F8(32), SL_F8(40), SL_F8(48),
                   SL_F8(56), SL_F8(64), SL_F8(72), SL_F8(80), SL_F8(88), SL_F8(96), SL_F8(104),
                   SL_F8(112), SL_F8(120)
                 : "l"(a), "l"(b), "r"(1));
}

// The same at N = 64.
__device__ __forceinline__ void wgmma_qk(float (&d)[32], uint64_t a, uint64_t b, int accumulate)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
                 "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,"
                 "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31},"
                 " %32, %33, p, 1, 1, 0, 0;\n}\n"
                 : SL_F8(0), SL_F8(8), SL_F8(16), SL_F8(24)
                 : "l"(a), "l"(b), "r"(accumulate));
}

#undef SL_F8

// ---- the kernel --------------------------------------------------------------

// VARIANT 1: each warpgroup scores half of a block's positions (m64n32) and
// the two swap row maxima. 2: warpgroup 0 scores all 64 (m64n64, a third
// fewer shared-memory reads of Q and K) and hands the other its rows'
// rescaling; 8% faster (kernels/README.md). FP8: the cache in DeepSeek's
// 656-byte entries, gathered raw and dequantised into the one tile.
template <int VARIANT, bool FP8>
__global__ void __launch_bounds__(THREADS, 1) sparse_mla_wgmma(const Params p)
{
    constexpr bool SPLIT_QK = VARIANT == 1;
    constexpr int NQ = SPLIT_QK ? 32 : 64; // positions a scoring warpgroup takes
    extern __shared__ uint8_t smem_raw[];
    // The swizzle is a function of address bits 4-9: tiles start 1024-aligned.
    uint8_t *smem = smem_raw + ((1024 - (smem_addr(smem_raw) & 1023)) & 1023);
    uint8_t *s_q = smem, *s_kv = smem + TILE;
    uint8_t *s_raw = s_kv + (FP8 ? 1 : 2) * TILE;
    uint8_t *s_p = s_raw + (FP8 ? RAW_BYTES : 0);
    int *s_idx = reinterpret_cast<int *>(s_p + P_BYTES);      // [3][BK]
    float *s_max = reinterpret_cast<float *>(s_idx + 3 * BK); // [2][HB]
    float *s_sum = s_max + 2 * HB;                            // [2][HB]

    const int tid = threadIdx.x, wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31;
    const int g = lane >> 2, tq = lane & 3;
    const bool scores = SPLIT_QK || wg == 0; // this warpgroup computes S
    const SparseMlaWork work = sparse_mla_work(p, HB);
    const int t = work.t, split = work.split, h0 = work.h0;
    const int b_begin = work.b_begin, b_end = work.b_end;
    // Index of position tid of block b, -1 where invalid (tid < BK only).
    auto load_index = [&](int b) { return sparse_mla_index(p, work, b, tid); };
    // The cache rows of the block whose indices are in slot, into tile buf
    // (FP8: the raw entries; one commit group); invalid positions read as zeros.
    auto gather = [&](int slot, int buf) {
        const int *ids = s_idx + slot * BK;
        sparse_mla_gather<FP8>(p, ids, smem_addr(FP8 ? s_raw : s_kv + buf * TILE), tile_at, tid,
                               THREADS);
    };

    int next_idx =
        sparse_mla_prologue(p, work, HB, s_idx, smem_addr(s_q), tile_at, gather, tid, THREADS);

    // This thread's two rows (heads of the CTA) in every accumulator.
    const int row[2] = {16 * warp + g, 16 * warp + g + 8};
    float o[128];
#pragma unroll
    for (int i = 0; i < 128; i++)
        o[i] = 0.0f;
    float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.0f, 0.0f};
    const uint32_t q0 = smem_addr(s_q), p0 = smem_addr(s_p);

    for (int b = b_begin, it = 0; b < b_end; b++, it++) {
        const int slot = it % 3, nslot = (it + 1) % 3;
        // The indices of block b + 1 (loaded one step ago) go to their slot,
        // whose last readers (block b - 2) are all past the barrier below.
        if (tid < BK) {
            s_idx[nslot * BK + tid] = next_idx;
            next_idx = load_index(b + 2);
        }
        cp_async_wait_all();
        fence_proxy_async();
        const int any = __syncthreads_or(tid < BK && s_idx[slot * BK + tid] >= 0);
        // BF16: tile (it + 1) & 1 was last read by block b - 1's wgmma, retired
        // by every warpgroup before the barrier above. FP8: so was the one
        // tile, which the raw entries now fill, and the next block's raw
        // entries come in once these are read.
        if (FP8 && any) {
            sparse_mla_dequant(s_raw, smem_addr(s_kv), tile_at, tid, THREADS);
            fence_proxy_async();
            __syncthreads();
        }
        if (b + 1 < b_end)
            gather(nslot, FP8 ? 0 : (it + 1) & 1);
        if (!any)
            continue;
        const uint32_t kv0 = smem_addr(s_kv + (FP8 ? 0 : (it & 1) * TILE));

        // ---- S = Q Kᵀ: 64 heads × positions pos0 … pos0 + NQ - 1
        float alpha[2];
        if (scores) {
            const int pos0 = SPLIT_QK ? 32 * wg : 0;
            float s[NQ / 2];
#pragma unroll
            for (int i = 0; i < NQ / 2; i++)
                s[i] = 0.0f;
            fence_regs(s);
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < D_QK / 16; kk++) {
                const uint32_t at = (kk >> 2) * COLUMN_BLOCK + (kk & 3) * 32;
                wgmma_qk(s, sw128_desc(q0 + at, 16), sw128_desc(kv0 + pos0 * 128 + at, 16), kk > 0);
            }
            wgmma_commit();
            wgmma_wait<0>();
            fence_regs(s);

            // ---- online softmax (base 2) over the block.
            // s[4j + 2i + e]: row[i], position pos0 + 8j + 2tq + e.
            const int *ids = s_idx + slot * BK;
            float bmax[2] = {-INFINITY, -INFINITY};
#pragma unroll
            for (int j = 0; j < NQ / 8; j++)
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    const bool valid = ids[pos0 + 8 * j + 2 * tq + e] >= 0;
#pragma unroll
                    for (int i = 0; i < 2; i++) {
                        float &x = s[4 * j + 2 * i + e];
                        x = valid ? x * p.scale_log2 : -INFINITY;
                        bmax[i] = fmaxf(bmax[i], x);
                    }
                }
#pragma unroll
            for (int i = 0; i < 2; i++) {
                bmax[i] = fmaxf(bmax[i], __shfl_xor_sync(0xffffffffu, bmax[i], 1));
                bmax[i] = fmaxf(bmax[i], __shfl_xor_sync(0xffffffffu, bmax[i], 2));
            }
            if constexpr (SPLIT_QK) { // both halves' maxima, through shared memory
#pragma unroll
                for (int i = 0; i < 2; i++)
                    if (tq == 0)
                        s_max[wg * HB + row[i]] = bmax[i];
                __syncthreads();
#pragma unroll
                for (int i = 0; i < 2; i++)
                    bmax[i] = fmaxf(s_max[row[i]], s_max[HB + row[i]]);
            }
            float m_use[2];
#pragma unroll
            for (int i = 0; i < 2; i++) {
                float m_new = fmaxf(m_run[i], bmax[i]);
                m_use[i] = m_new == -INFINITY ? 0.0f : m_new;
                alpha[i] = exp2f(m_run[i] - m_use[i]);
                m_run[i] = m_new;
            }
            float rsum[2] = {0.0f, 0.0f};
#pragma unroll
            for (int j = 0; j < NQ / 8; j++)
#pragma unroll
                for (int i = 0; i < 2; i++) {
                    float p_a = exp2f(s[4 * j + 2 * i] - m_use[i]);
                    float p_b = exp2f(s[4 * j + 2 * i + 1] - m_use[i]);
                    rsum[i] += p_a + p_b;
                    // P [head][position], K-major with the tiles' swizzle
                    const int r = row[i], chunk = pos0 / 8 + j;
                    *reinterpret_cast<__nv_bfloat162 *>(s_p + r * 128 + ((chunk ^ (r & 7)) << 4) +
                                                        4 * tq) = __floats2bfloat162_rn(p_a, p_b);
                }
#pragma unroll
            for (int i = 0; i < 2; i++) {
                l_run[i] = l_run[i] * alpha[i] + rsum[i];
                if (!SPLIT_QK && tq == 0)
                    s_max[row[i]] = alpha[i]; // the other warpgroup's rescaling
            }
            fence_proxy_async();
        }
        __syncthreads();
        if (!scores)
#pragma unroll
            for (int i = 0; i < 2; i++)
                alpha[i] = s_max[row[i]];
#pragma unroll
        for (int j = 0; j < 32; j++) {
            o[4 * j + 0] *= alpha[0];
            o[4 * j + 1] *= alpha[0];
            o[4 * j + 2] *= alpha[1];
            o[4 * j + 3] *= alpha[1];
        }

        // ---- O += P V: 64 heads × value columns 256·wg … 256·wg + 255
        fence_regs(o);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++)
            wgmma_pv(o, sw128_desc(p0 + kk * 32, 16),
                     sw128_desc(kv0 + 4 * wg * COLUMN_BLOCK + kk * 16 * 128, COLUMN_BLOCK));
        wgmma_commit();
        wgmma_wait<0>();
        fence_regs(o);
    }
    cp_async_wait_all();

    // ---- the row sums of both warpgroups, then out and lse
#pragma unroll
    for (int i = 0; i < 2; i++) {
        l_run[i] += __shfl_xor_sync(0xffffffffu, l_run[i], 1);
        l_run[i] += __shfl_xor_sync(0xffffffffu, l_run[i], 2);
        if (tq == 0)
            s_sum[wg * HB + row[i]] = l_run[i];
    }
    __syncthreads();
    const size_t rows = (size_t)p.T * p.H;
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int h = h0 + row[i];
        if (h >= p.H)
            continue;
        const float l = s_sum[row[i]] + s_sum[HB + row[i]];
        const float inv = l > 0.0f ? 1.0f / l : 0.0f;
        const float lse = l > 0.0f ? (m_run[i] + log2f(l)) * 0.69314718055994531f : -INFINITY;
        const size_t out_row = (size_t)t * p.H + h;
        const int col = 256 * wg + 2 * tq;
        if (p.splits == 1) {
            __nv_bfloat16 *dst = p.out + out_row * D_V + col;
#pragma unroll
            for (int j = 0; j < 32; j++)
                *reinterpret_cast<__nv_bfloat162 *>(dst + 8 * j) =
                    __floats2bfloat162_rn(o[4 * j + 2 * i] * inv, o[4 * j + 2 * i + 1] * inv);
            if (wg == 0 && tq == 0)
                p.lse[out_row] = lse;
        } else {
            float *dst = p.o_part + ((size_t)split * rows + out_row) * D_V + col;
#pragma unroll
            for (int j = 0; j < 32; j++)
                *reinterpret_cast<float2 *>(dst + 8 * j) =
                    make_float2(o[4 * j + 2 * i] * inv, o[4 * j + 2 * i + 1] * inv);
            if (wg == 0 && tq == 0)
                p.lse_part[(size_t)split * rows + out_row] = lse;
        }
    }
}

} // namespace

cudaError_t sl_sparse_mla_wgmma(const SparseMlaParams &p, int variant, bool fp8, unsigned grid,
                                cudaStream_t stream)
{
    void (*kernel)(Params) = variant == 1 ? (fp8 ? sparse_mla_wgmma<1, true> : sparse_mla_wgmma<1, false>)
                                          : (fp8 ? sparse_mla_wgmma<2, true> : sparse_mla_wgmma<2, false>);
    const size_t smem = smem_bytes(fp8);
    // set on every call: the attribute belongs to the current device
    cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         (int)smem);
    if (e != cudaSuccess)
        return e;
    kernel<<<grid, THREADS, smem, stream>>>(p);
    return cudaGetLastError();
}
