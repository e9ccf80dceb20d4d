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
// the default for the FP8 cache and for CTAs of few blocks; the BF16 cache's
// longer runs take variant 3, warp-specialised, further down):
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
// The 128 accumulators of an m64n256 wgmma: its operand list and operands.
#define SL_D128 "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15," \
                "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31," \
                "%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47," \
                "%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63," \
                "%64,%65,%66,%67,%68,%69,%70,%71,%72,%73,%74,%75,%76,%77,%78,%79," \
                "%80,%81,%82,%83,%84,%85,%86,%87,%88,%89,%90,%91,%92,%93,%94,%95," \
                "%96,%97,%98,%99,%100,%101,%102,%103,%104,%105,%106,%107,%108,%109,%110,%111," \
                "%112,%113,%114,%115,%116,%117,%118,%119,%120,%121,%122,%123,%124,%125,%126,%127}"
#define SL_D128_OUT SL_F8(0), SL_F8(8), SL_F8(16), SL_F8(24), SL_F8(32), SL_F8(40), SL_F8(48), \
                    SL_F8(56), SL_F8(64), SL_F8(72), SL_F8(80), SL_F8(88), SL_F8(96), SL_F8(104), \
                    SL_F8(112), SL_F8(120)

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
                 SL_D128 ","
                 " %128, %129, p, 1, 1, 0, 1;\n}\n"
                 : SL_D128_OUT
                 : "l"(a), "l"(b), "r"(1));
}

// d[64 × 256] += A[64 × 16] · B[16 × 256]: A from registers (each warp's 16
// rows as mma.sync's A fragment), B N-major in shared memory.
__device__ __forceinline__ void wgmma_pv_rs(float (&d)[128], const uint32_t (&a)[4], uint64_t b)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %133, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 "
                 SL_D128 ","
                 " {%128,%129,%130,%131}, %132, p, 1, 1, 1;\n}\n"
                 : SL_D128_OUT
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1));
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

#undef SL_D128_OUT
#undef SL_D128
#undef SL_F8

// The CTA's out (and lse) rows from warpgroup wg's share of O: value
// columns 256·wg … 256·wg + 255 of this thread's two rows, with each row's
// running max (base 2) and its whole sum l; a split's normalised part to
// the workspace instead.
__device__ __forceinline__ void store_rows(const Params &p, const SparseMlaWork &work, const int (&row)[2],
                                           int wg, const float (&o)[128], const float (&m_run)[2],
                                           const float (&l)[2])
{
    const int tq = threadIdx.x & 3;
    const size_t rows = (size_t)p.T * p.H;
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int h = work.h0 + row[i];
        if (h >= p.H)
            continue;
        const float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
        const float lse = l[i] > 0.0f ? (m_run[i] + log2f(l[i])) * 0.69314718055994531f : -INFINITY;
        const size_t out_row = (size_t)work.t * p.H + h;
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
            float *dst = p.o_part + ((size_t)work.split * rows + out_row) * D_V + col;
#pragma unroll
            for (int j = 0; j < 32; j++)
                *reinterpret_cast<float2 *>(dst + 8 * j) =
                    make_float2(o[4 * j + 2 * i] * inv, o[4 * j + 2 * i + 1] * inv);
            if (wg == 0 && tq == 0)
                p.lse_part[(size_t)work.split * rows + out_row] = lse;
        }
    }
}

// Each row's sum l over both warpgroups' shares (through s_sum [2][HB], with
// sync the barrier between the two), then store_rows.
template <class Sync>
__device__ __forceinline__ void finish_rows(const Params &p, const SparseMlaWork &work, const int (&row)[2],
                                            int wg, const float (&o)[128], const float (&m_run)[2],
                                            float (&l_run)[2], float *s_sum, Sync sync)
{
#pragma unroll
    for (int i = 0; i < 2; i++) {
        l_run[i] += __shfl_xor_sync(0xffffffffu, l_run[i], 1);
        l_run[i] += __shfl_xor_sync(0xffffffffu, l_run[i], 2);
        if ((threadIdx.x & 3) == 0)
            s_sum[wg * HB + row[i]] = l_run[i];
    }
    sync();
#pragma unroll
    for (int i = 0; i < 2; i++)
        l_run[i] = s_sum[row[i]] + s_sum[HB + row[i]];
    store_rows(p, work, row, wg, o, m_run, l_run);
}

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

    finish_rows(p, work, row, wg, o, m_run, l_run, s_sum, [] { __syncthreads(); });
}

// ---- variant 3: warp-specialised, as FlashMLA's Hopper prefill ---------------
//
// Three warpgroups. The producer (warpgroup 2, few registers) gathers the
// CTA's blocks into two tiles by cp.async: tile 0 takes the even blocks of a
// round, tile 1 the odd ones. Each tile is filled in two halves, L (column
// blocks 0-3: value columns 0-255) and R (column blocks 4-8: value columns
// 256-511 and the rope), which mbarriers mark full and empty. Consumer w (0
// or 1) scores the block of tile w: S = Q·Kᵀ, the online softmax, then
// O += P·V for its own block from registers and for the other consumer's
// block from shared memory, always over value columns 256w … 256w + 255, so
// each consumer holds half of O. The two swap their row maxima once a round;
// consumer 0 goes ahead with its own product before consumer 1's max is
// known and rescales afterwards.
//
// What keeps the tensor cores fed: each half is released by the last
// product that reads it, and the producer refills the halves in the order
// they are released (L0 after consumer 0's own product, R1 after consumer
// 1's, then R0 and L1 after the products of the other's block). Each
// consumer scores the half that comes back first first: consumer 0 L then
// R, consumer 1 R then L. Consumer 0 issues the next block's scores as soon
// as its second product is issued, so the tensor cores have its next work
// queued while that product runs. P of consumer 0's block goes into tile 0's
// rope columns (only that block's scores read them); consumer 1's P has its
// own buffer, so that R1 is free as soon as consumer 1's own product is done.
namespace ws {

constexpr int THREADS = 384;
constexpr int CONSUMER_REGS = 224, PRODUCER_REGS = 56;
// setmaxnreg moves registers within the CTA's allocation at launch (168 a
// thread at 384 threads): a consumer asking for more than the producer gave
// back waits for ever.
static_assert(2 * CONSUMER_REGS + PRODUCER_REGS == 3 * (65536 / THREADS / 8 * 8),
              "registers taken and given back must balance");
enum NamedBarrier { MAX0 = 1, MAX1, P0_READY, P1_READY, SUMS };

struct Bars {
    uint64_t full_l[2], full_r[2], empty_l[2], empty_r[2];
};

// Q, the two tiles, consumer 1's P, the barriers, each tile's valid
// positions, and the consumers' row maxima and sums.
constexpr size_t smem_bytes()
{
    return 1024 + 3 * (size_t)TILE + P_BYTES + sizeof(Bars) + 2 * BK * sizeof(int) +
           4 * HB * sizeof(float);
}
static_assert(smem_bytes() <= 232448, "more shared memory than a Hopper CTA has");

// The producer thread's rows of block b: g + 16j (j < 4), g its group of 8
// threads; -1 where invalid or past the CTA's blocks.
__device__ __forceinline__ void block_rows(const Params &p, const SparseMlaWork &work, int b, int g,
                                           int (&id)[4])
{
#pragma unroll
    for (int j = 0; j < 4; j++)
        id[j] = sparse_mla_index(p, work, b, g + 16 * j);
}

// Column blocks [CB0, CB1) of the thread's rows into the tile at dst: chunk
// q (of 8) of each, so that a group reads 128 contiguous bytes of a row at a
// time; zeros where invalid.
template <int CB0, int CB1>
__device__ __forceinline__ void copy_half(const Params &p, uint32_t dst, const int (&id)[4], int g, int q)
{
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const int r = g + 16 * j;
        const uint8_t *src = p.kv + (size_t)(id[j] < 0 ? 0 : id[j]) * (D_QK * 2) + q * 16;
#pragma unroll
        for (int cb = CB0; cb < CB1; cb++)
            cp_async16(dst + tile_at(r, 8 * cb + q), src + cb * 128, id[j] >= 0);
    }
}

// Tile w's valid positions (threads q == 0 of each group), then an arrival
// that releases them with the copies' own.
__device__ __forceinline__ void publish_valid(int *valid, const int (&id)[4], int g, int q, uint32_t full)
{
    if (q == 0)
#pragma unroll
        for (int j = 0; j < 4; j++)
            valid[g + 16 * j] = id[j] >= 0;
    mbar_arrive_on_copies(full);
    mbar_arrive(full);
}

// The producer, thread pt of 128: a round's two blocks, each half once its
// last reader of the round before has released it. Each round's indices are
// loaded a round ahead.
__device__ __forceinline__ void produce(const Params &p, const SparseMlaWork &work, uint32_t k0, Bars *bars,
                                        int *s_valid, int pt)
{
    const int g = pt >> 3, q = pt & 7;
    const uint32_t k1 = k0 + TILE;
    int id0[4], id1[4];
    block_rows(p, work, work.b_begin, g, id0);
    block_rows(p, work, work.b_begin + 1, g, id1);
    for (int b = work.b_begin, round = 0; b < work.b_end; b += 2, round++) {
        const bool has1 = b + 1 < work.b_end, wait = round > 0;
        const uint32_t parity = (round + 1) & 1; // the round before's phase
        int next0[4], next1[4];
        block_rows(p, work, b + 2, g, next0);
        block_rows(p, work, b + 3, g, next1);
        if (wait)
            mbar_wait(smem_addr(&bars->empty_l[0]), parity);
        copy_half<0, 4>(p, k0, id0, g, q);
        mbar_arrive_on_copies(smem_addr(&bars->full_l[0]));
        if (has1) {
            if (wait)
                mbar_wait(smem_addr(&bars->empty_r[1]), parity);
            copy_half<4, 9>(p, k1, id1, g, q);
            mbar_arrive_on_copies(smem_addr(&bars->full_r[1]));
        }
        if (wait)
            mbar_wait(smem_addr(&bars->empty_r[0]), parity);
        copy_half<4, 9>(p, k0, id0, g, q);
        publish_valid(s_valid, id0, g, q, smem_addr(&bars->full_r[0]));
        if (has1) {
            if (wait)
                mbar_wait(smem_addr(&bars->empty_l[1]), parity);
            copy_half<0, 4>(p, k1, id1, g, q);
            publish_valid(s_valid + BK, id1, g, q, smem_addr(&bars->full_l[1]));
        }
#pragma unroll
        for (int j = 0; j < 4; j++) {
            id0[j] = next0[j];
            id1[j] = next1[j];
        }
    }
    cp_async_wait_all();
}

// S (+)= Q·Kᵀ over column blocks [CB0, CB1) of the tile at kv, once the
// half is full; committed as one group. FIRST: S = rather than +=.
template <int CB0, int CB1, bool FIRST>
__device__ __forceinline__ void qk_half(float (&s)[32], uint32_t q0, uint32_t kv, uint32_t full,
                                        uint32_t phase)
{
    mbar_wait(full, phase);
    fence_proxy_async();
    wgmma_fence();
#pragma unroll
    for (int cb = CB0; cb < CB1; cb++)
#pragma unroll
        for (int k = 0; k < 4; k++) {
            const uint32_t at = cb * COLUMN_BLOCK + k * 32;
            wgmma_qk(s, sw128_desc(q0 + at, 16), sw128_desc(kv + at, 16), !(FIRST && cb == CB0 && k == 0));
        }
    wgmma_commit();
}

// Invalid positions to -inf; bmax, the block's max of the thread's rows in
// base 2 (the scores stay unscaled: exp_rows scales them in its fma).
// s[4j + 2i + e]: row i, position 8j + 2tq + e.
__device__ __forceinline__ void mask_scores(float (&s)[32], float (&bmax)[2], const int *valid, float scale_log2)
{
    const int tq = threadIdx.x & 3;
    bmax[0] = bmax[1] = -INFINITY;
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
            const bool ok = valid[8 * j + 2 * tq + e] != 0;
#pragma unroll
            for (int i = 0; i < 2; i++) {
                float &x = s[4 * j + 2 * i + e];
                x = ok ? x : -INFINITY;
                bmax[i] = fmaxf(bmax[i], x);
            }
        }
#pragma unroll
    for (int i = 0; i < 2; i++) {
        bmax[i] = fmaxf(bmax[i], __shfl_xor_sync(0xffffffffu, bmax[i], 1));
        bmax[i] = fmaxf(bmax[i], __shfl_xor_sync(0xffffffffu, bmax[i], 2));
        bmax[i] *= scale_log2; // the scale is positive: the max stays the max
    }
}

// 2^x, denormal results flushed to zero: one MUFU.EX2 (exp2f adds the
// instructions that keep denormals, which a probability below 2^-126 of a
// row's largest never needs).
__device__ __forceinline__ float exp2_ftz(float x)
{
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// P = exp2(S·scale - m) in place (one fma and one MUFU a score), with the
// thread's share of each row's sum.
__device__ __forceinline__ void exp_rows(float (&s)[32], const float (&m_use)[2], float scale_log2,
                                         float (&rsum)[2])
{
    rsum[0] = rsum[1] = 0.0f;
#pragma unroll
    for (int n = 0; n < 32; n++) {
        s[n] = exp2_ftz(fmaf(s[n], scale_log2, -m_use[(n >> 1) & 1]));
        rsum[(n >> 1) & 1] += s[n];
    }
}

// P · f (f per row) as bf16 pairs: a[n] holds s[2n], s[2n + 1], which makes
// a[4kk … 4kk + 3] the A fragment of k-step kk (positions 16kk …).
__device__ __forceinline__ void pack_p(const float (&s)[32], const float (&f)[2], uint32_t (&a)[16])
{
#pragma unroll
    for (int n = 0; n < 16; n++) {
        __nv_bfloat162 v = __floats2bfloat162_rn(s[2 * n] * f[n & 1], s[2 * n + 1] * f[n & 1]);
        a[n] = *reinterpret_cast<uint32_t *>(&v);
    }
}

// P [head][position] into 64 rows of 128 bytes (K-major, swizzled).
__device__ __forceinline__ void store_p(uint8_t *s_p, const uint32_t (&a)[16], const int (&row)[2])
{
    const int tq = threadIdx.x & 3;
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int i = 0; i < 2; i++) {
            const int r = row[i];
            *reinterpret_cast<uint32_t *>(s_p + r * 128 + ((j ^ (r & 7)) << 4) + 4 * tq) = a[2 * j + i];
        }
}

// O += P·V over one block, issued and committed, not waited for: P from
// registers or from shared memory (p_smem), V the 256 value columns whose
// first column block is at v.
__device__ __forceinline__ void pv_from_regs(float (&o)[128], const uint32_t (&a)[16], uint32_t v)
{
    fence_regs(o);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        const uint32_t ak[4] = {a[4 * kk], a[4 * kk + 1], a[4 * kk + 2], a[4 * kk + 3]};
        wgmma_pv_rs(o, ak, sw128_desc(v + kk * 16 * 128, COLUMN_BLOCK));
    }
    wgmma_commit();
}

__device__ __forceinline__ void pv_from_smem(float (&o)[128], uint32_t p_smem, uint32_t v)
{
    fence_regs(o);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < 4; kk++)
        wgmma_pv(o, sw128_desc(p_smem + kk * 32, 16), sw128_desc(v + kk * 16 * 128, COLUMN_BLOCK));
    wgmma_commit();
}

__device__ __forceinline__ void scale_o(float (&o)[128], const float (&f)[2])
{
#pragma unroll
    for (int n = 0; n < 128; n++)
        o[n] *= f[(n >> 1) & 1];
}

} // namespace ws

__global__ void __launch_bounds__(ws::THREADS, 1) sparse_mla_ws(const Params p)
{
    using namespace ws;
    extern __shared__ uint8_t smem_raw[];
    uint8_t *smem = smem_raw + ((1024 - (smem_addr(smem_raw) & 1023)) & 1023);
    uint8_t *s_q = smem, *s_k = smem + TILE; // tile w at s_k + w·TILE
    uint8_t *s_p1 = smem + 3 * TILE;          // consumer 1's P
    Bars *bars = reinterpret_cast<Bars *>(s_p1 + P_BYTES);
    int *s_valid = reinterpret_cast<int *>(bars + 1);           // [2][BK]
    float *s_max = reinterpret_cast<float *>(s_valid + 2 * BK); // [2][HB], each consumer's
    float *s_sum = s_max + 2 * HB;                              // [2][HB]
    // the warpgroup through a shuffle: ptxas then knows it is warp-uniform and
    // does not serialise the wgmmas in each role's branch (C7518)
    const int tid = threadIdx.x, wg = __shfl_sync(0xffffffffu, tid >> 7, 0);
    const SparseMlaWork work = sparse_mla_work(p, HB);
    if (tid == 0)
        for (int w = 0; w < 2; w++) {
            mbar_init(smem_addr(&bars->full_l[w]), w == 0 ? 128 : 256); // copies (and s_valid)
            mbar_init(smem_addr(&bars->full_r[w]), w == 0 ? 256 : 128);
            mbar_init(smem_addr(&bars->empty_l[w]), 128);
            mbar_init(smem_addr(&bars->empty_r[w]), 128);
        }
    sparse_mla_load_q(p, work, HB, smem_addr(s_q), tile_at, tid, ws::THREADS);
    cp_async_commit();
    cp_async_wait_all();
    fence_proxy_async();
    __syncthreads();
    const uint32_t q0 = smem_addr(s_q), k0 = smem_addr(s_k), k1 = k0 + TILE;
    if (wg == 2) {
        regs_give<PRODUCER_REGS>();
        produce(p, work, k0, bars, s_valid, tid - 256);
        return;
    }
    regs_take<CONSUMER_REGS>();

    const int warp = (tid >> 5) & 3, g = (tid & 31) >> 2, tq = tid & 3;
    const int row[2] = {16 * warp + g, 16 * warp + g + 8};
    float o[128];
#pragma unroll
    for (int n = 0; n < 128; n++)
        o[n] = 0.0f;
    float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.0f, 0.0f};
    const float one[2] = {1.0f, 1.0f};
    uint32_t a[16];
    float s[32], bmax[2], m_use[2], f[2], rsum[2];
    const uint32_t full_l0 = smem_addr(&bars->full_l[0]), full_r0 = smem_addr(&bars->full_r[0]);

    if (wg == 0 && work.b_begin < work.b_end) { // the first block's scores
        wgmma_fence();
        qk_half<0, 4, true>(s, q0, k0, full_l0, 0);
        qk_half<4, 9, false>(s, q0, k0, full_r0, 0);
        wgmma_wait<0>();
        fence_regs(s);
    }
    for (int b = work.b_begin, round = 0; b < work.b_end; b += 2, round++) {
        const bool has1 = b + 1 < work.b_end; // consumer 1 has a block this round
        const uint32_t phase = round & 1;
        if (wg == 0) {
            mask_scores(s, bmax, s_valid, p.scale_log2);
#pragma unroll
            for (int i = 0; i < 2; i++) {
                const float m_new = fmaxf(m_run[i], bmax[i]);
                m_use[i] = m_new == -INFINITY ? 0.0f : m_new;
                f[i] = exp2_ftz(m_run[i] - m_use[i]);
                m_run[i] = m_new;
                if (tq == 0)
                    s_max[row[i]] = m_new;
            }
            named_arrive(MAX0, 256);
            exp_rows(s, m_use, p.scale_log2, rsum);
#pragma unroll
            for (int i = 0; i < 2; i++)
                l_run[i] = l_run[i] * f[i] + rsum[i];
            scale_o(o, f);
            pack_p(s, one, a);
            pv_from_regs(o, a, k0);
            wgmma_wait<0>();
            fence_regs(o);
            mbar_arrive(smem_addr(&bars->empty_l[0]));
            // consumer 1's max covers both blocks: P0 and O to it
            named_sync(MAX1, 256);
#pragma unroll
            for (int i = 0; i < 2; i++) {
                const float m1 = s_max[HB + row[i]];
                f[i] = m1 == -INFINITY ? 1.0f : exp2_ftz(m_run[i] - m1);
                m_run[i] = m1;
                l_run[i] *= f[i];
            }
            pack_p(s, f, a);
            store_p(s_k + 8 * COLUMN_BLOCK, a, row);
            fence_proxy_async();
            named_arrive(P0_READY, 256);
            scale_o(o, f);
            named_sync(P1_READY, 256);
            // Each branch issues its own product: ptxas then knows which
            // group a wait retires (one issued under `if` before the branches
            // made it serialise every wgmma, C7511).
            if (b + 2 < work.b_end) { // has1 too; the next block's scores under the product
                pv_from_smem(o, smem_addr(s_p1), k1);
                qk_half<0, 4, true>(s, q0, k0, full_l0, phase ^ 1);
                wgmma_wait<1>();
                fence_regs(o);
                mbar_arrive(smem_addr(&bars->empty_l[1]));
                qk_half<4, 9, false>(s, q0, k0, full_r0, phase ^ 1);
                wgmma_wait<0>();
                fence_regs(s);
            } else if (has1) {
                pv_from_smem(o, smem_addr(s_p1), k1);
                wgmma_wait<0>();
                fence_regs(o);
                mbar_arrive(smem_addr(&bars->empty_l[1]));
            }
        } else {
            bmax[0] = bmax[1] = -INFINITY;
            if (has1) {
                wgmma_fence();
                qk_half<4, 9, true>(s, q0, k1, smem_addr(&bars->full_r[1]), phase);
                qk_half<0, 4, false>(s, q0, k1, smem_addr(&bars->full_l[1]), phase);
                wgmma_wait<0>();
                fence_regs(s);
                mask_scores(s, bmax, s_valid + BK, p.scale_log2);
            }
            named_sync(MAX0, 256);
#pragma unroll
            for (int i = 0; i < 2; i++) {
                const float m_new = fmaxf(fmaxf(m_run[i], s_max[row[i]]), bmax[i]);
                m_use[i] = m_new == -INFINITY ? 0.0f : m_new;
                f[i] = exp2_ftz(m_run[i] - m_use[i]);
                m_run[i] = m_new;
                if (tq == 0)
                    s_max[HB + row[i]] = m_new;
                l_run[i] *= f[i];
            }
            named_arrive(MAX1, 256);
            scale_o(o, f);
            if (has1) {
                exp_rows(s, m_use, p.scale_log2, rsum);
#pragma unroll
                for (int i = 0; i < 2; i++)
                    l_run[i] += rsum[i];
                pack_p(s, one, a);
                pv_from_regs(o, a, k1 + 4 * COLUMN_BLOCK);
                store_p(s_p1, a, row);
                fence_proxy_async();
            }
            named_arrive(P1_READY, 256);
            named_sync(P0_READY, 256);
            pv_from_smem(o, k0 + 8 * COLUMN_BLOCK, k0 + 4 * COLUMN_BLOCK);
            if (has1) {
                wgmma_wait<1>();
                mbar_arrive(smem_addr(&bars->empty_r[1]));
            }
            wgmma_wait<0>();
            fence_regs(o);
            mbar_arrive(smem_addr(&bars->empty_r[0]));
        }
    }

    finish_rows(p, work, row, wg, o, m_run, l_run, s_sum, [] { named_sync(ws::SUMS, 256); });
}

} // namespace

cudaError_t sl_sparse_mla_wgmma(const SparseMlaParams &p, int variant, bool fp8, unsigned grid,
                                cudaStream_t stream)
{
    if (variant == 3 && !fp8) {
        cudaError_t e = cudaFuncSetAttribute(sparse_mla_ws, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             (int)ws::smem_bytes());
        if (e != cudaSuccess)
            return e;
        sparse_mla_ws<<<grid, ws::THREADS, ws::smem_bytes(), stream>>>(p);
        return cudaGetLastError();
    }
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
