// indexer-wgmma.cu: the lightning indexer's FP8 scores on Hopper's wgmma
// (sm_90a), for H = 64 heads of D = 128:
//   scores[t, s] = kscale[s] · Σ_h w[t,h] · ReLU(q8[t,h,:] · k8[s,:])
// for s in [ks[t], ke[t]), -inf elsewhere in [0, L). indexer.cu chooses this
// kernel on sm_90 devices and keeps its mma.sync kernel for everything else.
//
// As a GEMM per query row: M = keys, N = the 64 heads (128 for two rows a
// step), K = D = 128 e4m3. A CTA is two warpgroups; each owns 64·MT keys,
// whose A fragments it loads into registers once (16 registers per 64 keys)
// and keeps for every row of its group of 64 query rows. The rows' q
// ([64 heads][128 bytes], K-major, 128-byte swizzle) and head weights stream
// through a ring of shared-memory stages by cp.async, several steps ahead;
// wgmma m64nNk32 reads q from there as its B operand (e4m3 x e4m3 into f32,
// as QGMMA). Each warpgroup keeps two accumulator sets: it issues the next
// step's wgmma, then folds ReLU and the head weights of the previous step
// into one sum per key while the tensor cores run; the quad of lanes that
// holds a key's columns completes its sums by a transpose (quad_sum_own),
// each lane writing one key's score. What a step does not need (the list of
// active steps, the rows' key ranges, addresses) is worked out once a CTA:
// the kernel is bound by the instructions it issues (kernels/README.md).
//
// Products of e4m3 values are exact in f32 and the sums are f32, as in the
// mma.sync kernel; only the order of the sums differs.
#include "sightline-kernels.h"

#include <math.h>
#include <type_traits>

namespace {

constexpr int kHeads = 64, kDim = 128;       // the one shape this kernel takes
constexpr int kWarpgroups = 2, kThreads = kWarpgroups * 128;
constexpr int kRowsPerCta = 64;
constexpr int kQBytes = kHeads * kDim;       // one row's q: 8 KiB of e4m3

struct Params {
    const uint8_t *q;        // [rows, 64, 128] e4m3
    const float *w;          // [rows, 64]
    const uint8_t *k;        // [L, 128] e4m3
    const float *k_scale;    // [L]
    const int32_t *ks, *ke;  // [rows]
    int rows, L;
    float *scores;
    size_t stride;
};

// ---- PTX -------------------------------------------------------------------

#include "mma-ptx.cuh"
#include "wgmma-ptx.cuh"

__device__ __forceinline__ void cp_async4(uint32_t dst, const void *src, bool valid)
{
    int n = valid ? 4 : 0;
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(src), "r"(n)
                 : "memory");
}

template <int N> __device__ __forceinline__ void cp_async_wait()
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// The q rows' descriptor: K-major, 128-byte swizzle.
__device__ __forceinline__ uint64_t q_desc(uint32_t addr) { return sw128_desc(addr, 16); }

#define SL_F8(i) "+f"(d[i + 0]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), \
                 "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), "+f"(d[i + 7])

// d[64 x N] (+)= A[64 x 32] · B[32 x N]: A e4m3 in registers, B e4m3 in
// shared memory (descriptor), f32 accumulators; accumulate = 0 overwrites.
__device__ __forceinline__ void wgmma_n64(float (&d)[32], const uint32_t (&a)[4], uint64_t b,
                                          int accumulate)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3 "
                 "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,"
                 "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31},"
                 "{%32,%33,%34,%35}, %36, p, 1, 1;\n}\n"
                 : SL_F8(0), SL_F8(8), SL_F8(16), SL_F8(24)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(accumulate));
}

__device__ __forceinline__ void wgmma_n128(float (&d)[64], const uint32_t (&a)[4], uint64_t b,
                                           int accumulate)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 "
                 "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,"
                 "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,"
                 "%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,"
                 "%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63},"
                 "{%64,%65,%66,%67}, %68, p, 1, 1;\n}\n"
                 : SL_F8(0), SL_F8(8), SL_F8(16), SL_F8(24), SL_F8(32), SL_F8(40), SL_F8(48),
                   SL_F8(56)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(accumulate));
}

#undef SL_F8

template <int NR>
__device__ __forceinline__ void wgmma_step(float (&d)[32 * NR], const uint32_t (&a)[4], uint64_t b,
                                           int accumulate)
{
    if constexpr (NR == 1)
        wgmma_n64(d, a, b, accumulate);
    else
        wgmma_n128(d, a, b, accumulate);
}

// The four lanes of a quad hold partial sums of the same 2·MT keys (value k
// of each lane: key k of the lane's rows). Returns the quad's whole sum of
// value t, the lane's place in its quad, in two exchanges: across lanes
// t ^ 2 each lane keeps half the values and hands the other half over, then
// across t ^ 1 the same with the half kept. With MT = 1 the two values are
// summed whole across t ^ 2 first, and lanes t and t ^ 2 end with the same.
template <int MT> __device__ __forceinline__ float quad_sum_own(const float (&v)[2 * MT], int t)
{
    float keep0, keep1;
    if constexpr (MT == 2) {
        const bool high = t & 2;
        keep0 = (high ? v[2] : v[0]) + __shfl_xor_sync(0xffffffffu, high ? v[0] : v[2], 2);
        keep1 = (high ? v[3] : v[1]) + __shfl_xor_sync(0xffffffffu, high ? v[1] : v[3], 2);
    } else {
        keep0 = v[0] + __shfl_xor_sync(0xffffffffu, v[0], 2);
        keep1 = v[1] + __shfl_xor_sync(0xffffffffu, v[1], 2);
    }
    const bool odd = t & 1;
    return (odd ? keep1 : keep0) + __shfl_xor_sync(0xffffffffu, odd ? keep0 : keep1, 1);
}

// ---- the kernel --------------------------------------------------------------

// MT: m64 tiles of keys per warpgroup (2: 256 keys a CTA; 1: 128).
// NR: query rows per step (N = 64·NR).
template <int MT, int NR> struct Tiling {
    static constexpr int kTileKeys = kWarpgroups * 64 * MT;
    static constexpr int kStages = NR == 1 ? 6 : 4;   // ring of steps in shared memory
    static constexpr int kAhead = kStages - 2;         // steps loaded ahead of the one computed
    static constexpr int kStageQ = NR * kQBytes;
    // + the active steps in order and each row's key range
    static constexpr size_t kSmem =
        (size_t)kStages * NR * (kQBytes + kHeads * 4) + kRowsPerCta * (4 + 8) + 1024;
};

template <int MT, int NR>
__global__ void __launch_bounds__(kThreads, MT * NR == 1 ? 2 : 1)
    indexer_wgmma_kernel(const Params p)
{
    using T = Tiling<MT, NR>;
    extern __shared__ uint8_t smem_raw[];
    // The swizzle is a function of address bits 4-9: stages start 1024-aligned.
    uint8_t *smem = smem_raw + ((1024 - (smem_addr(smem_raw) & 1023)) & 1023);
    float *w_smem = reinterpret_cast<float *>(smem + T::kStages * T::kStageQ);
    int *s_steps = reinterpret_cast<int *>(w_smem + T::kStages * NR * kHeads); // [64]
    int2 *s_range = reinterpret_cast<int2 *>(s_steps + kRowsPerCta);          // [64]: lo, hi

    const int tid = threadIdx.x, wg = tid / 128, warp = (tid % 128) / 32, lane = tid % 32;
    const int g = lane / 4, t = lane % 4;
    const int tile0 = blockIdx.x * T::kTileKeys, tile_end = min(tile0 + T::kTileKeys, p.L);
    const int key0 = tile0 + wg * 64 * MT + 16 * warp + g; // + 64·mt + 8·r
    const int row0 = blockIdx.y * kRowsPerCta;
    const int nrows = min(kRowsPerCta, p.rows - row0);
    const int nsteps = (nrows + NR - 1) / NR;

    auto row_range = [&](int row, int &lo, int &hi) {
        lo = max(__ldg(p.ks + row), 0);
        hi = min(__ldg(p.ke + row), p.L);
    };
    // Steps (NR rows each) with keys in this tile: bit i for step i, the
    // same in every warp. Only these run; the others get -inf here.
    auto step_active = [&](int i) {
        bool any = false;
        for (int n = 0; n < NR && i < nsteps && i * NR + n < nrows; n++) {
            int lo, hi;
            row_range(row0 + i * NR + n, lo, hi);
            any |= lo < hi && lo < tile_end && hi > tile0;
        }
        return any;
    };
    const uint64_t active = __ballot_sync(0xffffffffu, step_active(lane)) |
                            (uint64_t)__ballot_sync(0xffffffffu, step_active(lane + 32)) << 32;
    const uint64_t steps = nsteps == 64 ? ~0ull : (1ull << nsteps) - 1;
    for (uint64_t idle = steps & ~active; idle; idle &= idle - 1) { // -inf for the others
        const int i = __ffsll((long long)idle) - 1;
        for (int n = 0; n < NR && i * NR + n < nrows; n++) {
            float *out = p.scores + (size_t)(row0 + i * NR + n) * p.stride;
            for (int s = tile0 + tid; s < tile_end; s += kThreads)
                out[s] = -INFINITY;
        }
    }
    const int nact = __popcll(active);
    if (nact == 0)
        return;
    // The active steps in order, and the rows' key ranges, once: the
    // pipeline reads them from shared memory (after issue's first barrier).
    if (tid < kRowsPerCta) {
        if (active >> tid & 1)
            s_steps[__popcll(active & ((1ull << tid) - 1))] = tid;
        if (tid < nrows) {
            int lo, hi;
            row_range(row0 + tid, lo, hi);
            s_range[tid] = make_int2(lo, hi);
        }
    }

    // Each thread's chunks of a step's q rows: their place in a stage and in
    // the step's rows, the same for every step.
    constexpr int kChunks = NR * kQBytes / 16 / kThreads;
    uint32_t chunk_dst[kChunks];
    int chunk_src[kChunks];
#pragma unroll
    for (int x = 0; x < kChunks; x++) {
        const int c = tid + x * kThreads; // 16-byte chunk of the step
        const int n = c / (kQBytes / 16), h = (c / 8) % kHeads, ch = c % 8;
        chunk_dst[x] = (n * kHeads + h) * 128 + ((ch ^ (h & 7)) * 16);
        chunk_src[x] = c * 16; // from the step's first row
    }

    // The j-th active step's q rows and weights into stage j % kStages
    // (zeros past the rows). i: the step, read off the list by the caller.
    auto load_next = [&](int j, int i) {
        if (j < nact) {
            const int st = j % T::kStages;
            const uint32_t dst = smem_addr(smem + st * T::kStageQ);
            const uint8_t *q = p.q + (size_t)(row0 + i * NR) * kQBytes;
#pragma unroll
            for (int x = 0; x < kChunks; x++) {
                // NR == 1: the step's one row always exists
                const bool ok = NR == 1 || i * NR + chunk_src[x] / kQBytes < nrows;
                cp_async16(dst + chunk_dst[x], ok ? q + chunk_src[x] : p.q, ok);
            }
            if (tid < NR * kHeads) {
                int n = tid / kHeads;
                bool ok = i * NR + n < nrows;
                size_t at = (size_t)(row0 + i * NR + n) * kHeads + tid % kHeads;
                cp_async4(smem_addr(w_smem + st * NR * kHeads + tid), p.w + (ok ? at : 0), ok);
            }
        }
        cp_async_commit(); // one group a step, empty or not, for the counts below
    };
    // the prologue's steps straight off the mask (the list is not yet read)
    uint64_t first = active;
#pragma unroll
    for (int j = 0; j < T::kAhead; j++) {
        load_next(j, first ? __ffsll((long long)first) - 1 : 0);
        first &= first - 1;
    }

    // A fragments (as mma m16n8k32's): lane (g, t) of warp w holds, for
    // k-step s, bytes 32s + 4t.. and 32s + 16 + 4t.. of keys 16w + g and
    // 16w + g + 8 of each m64 tile. Keys past L are zeros.
    uint32_t a[MT][4][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            int s = key0 + 64 * mt + 8 * r;
            bool ok = s < p.L;
            const uint32_t *src =
                reinterpret_cast<const uint32_t *>(p.k + (size_t)(ok ? s : 0) * kDim);
#pragma unroll
            for (int ks = 0; ks < 4; ks++) {
                a[mt][ks][r] = ok ? __ldg(src + 8 * ks + t) : 0u;
                a[mt][ks][2 + r] = ok ? __ldg(src + 8 * ks + 4 + t) : 0u;
            }
        }
    // The one key whose score this lane writes (quad_sum_own): value t of
    // its quad's 2·MT, key0 + 64·mt + 8·r for t = 2·mt + r; with MT = 1,
    // lanes t = 2, 3 hold the same sums as 0, 1 and write nothing.
    const int own_key = key0 + 64 * (MT == 2 ? t >> 1 : 0) + 8 * (t & 1);
    const bool own_key_ok = (MT == 2 || t < 2) && own_key < p.L;
    const float own_kscale = own_key_ok ? __ldg(p.k_scale + own_key) : 0.0f;

    float acc0[MT][32 * NR], acc1[MT][32 * NR];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int j = 0; j < 32 * NR; j++)
            acc0[mt][j] = acc1[mt][j] = 0.0f;

    // The j-th active step: wait for its stage, start loading step j + kAhead
    // into the stage of step j - 2 (whose wgmma every warpgroup retired
    // before this barrier), then issue the wgmma into acc.
    auto issue = [&](float (&acc)[MT][32 * NR], int j) {
        cp_async_wait<T::kAhead - 1>();
        fence_proxy_async();
        __syncthreads();
        const int ahead = j + T::kAhead;
        load_next(ahead, ahead < nact ? s_steps[ahead] : 0);
        uint64_t desc = q_desc(smem_addr(smem + (j % T::kStages) * T::kStageQ));
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
            fence_regs(acc[mt]);
        wgmma_fence();
#pragma unroll
        for (int ks = 0; ks < 4; ks++)
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
                wgmma_step<NR>(acc[mt], a[mt][ks], desc + 2 * ks, ks > 0); // +32 bytes
        wgmma_commit();
        return s_steps[j];
    };

    // Step i (the j-th active) from acc, once its wgmma retired: ReLU, the
    // head weights and the head sum, one score per key of each row.
    auto finish = [&](float (&acc)[MT][32 * NR], int i, int j) {
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
            fence_regs(acc[mt]);
        const float *ws = w_smem + (j % T::kStages) * NR * kHeads;
#pragma unroll
        for (int n = 0; n < NR; n++) {
            if (i * NR + n >= nrows)
                break;
            const int row = row0 + i * NR + n;
            const int2 range = s_range[i * NR + n];
            const int lo = range.x, hi = range.y;
            // two sums a key and row, the products of even and odd heads, so
            // that no two fmas in a row wait on each other
            float sum[2 * MT][2];
#pragma unroll
            for (int k = 0; k < 2 * MT; k++)
                sum[k][0] = sum[k][1] = 0.0f;
#pragma unroll
            for (int jj = 0; jj < 8; jj++) {
                float2 wv = *reinterpret_cast<const float2 *>(ws + n * kHeads + 8 * jj + 2 * t);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    const float *c = &acc[mt][32 * n + 4 * jj];
                    // one max and one fma a product: the epilogue's whole cost
                    sum[2 * mt][0] = fmaf(wv.x, fmaxf(c[0], 0.0f), sum[2 * mt][0]);
                    sum[2 * mt][1] = fmaf(wv.y, fmaxf(c[1], 0.0f), sum[2 * mt][1]);
                    sum[2 * mt + 1][0] = fmaf(wv.x, fmaxf(c[2], 0.0f), sum[2 * mt + 1][0]);
                    sum[2 * mt + 1][1] = fmaf(wv.y, fmaxf(c[3], 0.0f), sum[2 * mt + 1][1]);
                }
            }
            float v[2 * MT];
#pragma unroll
            for (int k = 0; k < 2 * MT; k++)
                v[k] = sum[k][0] + sum[k][1];
            const float total = quad_sum_own<MT>(v, t);
            if (own_key_ok)
                p.scores[(size_t)row * p.stride + own_key] =
                    own_key >= lo && own_key < hi ? total * own_kscale : -INFINITY;
        }
    };

    // Two accumulator sets in turn, the pipeline free of branches between a
    // wgmma and its wait (ptxas serializes wgmma otherwise): issue j into
    // one set, retire j - 1 from the other and finish it.
    int prev = issue(acc0, 0), j = 1;
    for (; j + 1 < nact; j += 2) {
        int cur = issue(acc1, j);
        wgmma_wait<1>();
        finish(acc0, prev, j - 1);
        prev = issue(acc0, j + 1);
        wgmma_wait<1>();
        finish(acc1, cur, j);
    }
    if (j < nact) {
        int cur = issue(acc1, j);
        wgmma_wait<1>();
        finish(acc0, prev, j - 1);
        wgmma_wait<0>();
        finish(acc1, cur, j);
    } else {
        wgmma_wait<0>();
        finish(acc0, prev, j - 1);
    }
    cp_async_wait<0>();
}

template <int MT, int NR> cudaError_t launch(const Params &p, cudaStream_t stream)
{
    using T = Tiling<MT, NR>;
    static bool attr_set = false; // a race here only repeats the call
    if (!attr_set) {
        cudaError_t e = cudaFuncSetAttribute(indexer_wgmma_kernel<MT, NR>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             (int)T::kSmem);
        if (e != cudaSuccess)
            return e;
        attr_set = true;
    }
    dim3 grid((unsigned)((p.L + T::kTileKeys - 1) / T::kTileKeys),
              (unsigned)((p.rows + kRowsPerCta - 1) / kRowsPerCta));
    indexer_wgmma_kernel<MT, NR><<<grid, kThreads, T::kSmem, stream>>>(p);
    return cudaGetLastError();
}

} // namespace

// Called by indexer.cu's sl_k_indexer_fp8 once the sizes are checked and the
// device is sm_90: H = 64, D = 128, rows and L > 0, q 16-byte aligned.
// variant 1: 256 keys a CTA, one row a step; 2: 128 keys, two rows a step;
// 3: 128 keys, one row a step.
cudaError_t sl_indexer_fp8_wgmma(const uint8_t *q, const float *w, const uint8_t *k,
                                 const float *k_scale, const int32_t *ks, const int32_t *ke,
                                 int rows, int L, float *scores, size_t score_stride,
                                 int variant, cudaStream_t stream)
{
    Params p{q, w, k, k_scale, ks, ke, rows, L, scores, score_stride};
    switch (variant) {
    case 2:
        return launch<1, 2>(p, stream);
    case 3:
        return launch<1, 1>(p, stream);
    default:
        return launch<2, 1>(p, stream);
    }
}
