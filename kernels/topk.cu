// topk.cu: exact top-k over rows of float32 scores, one CTA per row.
//
// Ranking is engine/dsa/topk.c's: each score maps to a 32-bit rank key that
// orders as unsigned integers exactly as the scores rank (NaN is 0, below
// key(-inf); -0 is folded onto +0; negatives have all their bits flipped,
// non-negatives get the sign bit set), and equal keys rank the lower
// position first.
//
// A radix select finds the k-th best key digit by digit, 11, 11 and 10 bits
// from the top: each pass histograms the digit of the keys that match the
// prefix found so far (2048 bins in shared memory) and picks the bin that
// holds the k-th best, counting from the top, and how many of that bin's
// entries (`need`) belong to the k. It stops early once a whole bin is kept
// (its count is exactly `need`). The selection is then every key whose
// masked value is above the prefix, and the first `need` (lowest positions)
// of those equal to it. A final ordered pass over the row, tile by tile
// with a block-wide scan of (above, equal) counts, writes those positions in
// increasing order and stops once all k are written. However many equal
// values sit at the threshold, the result is exact and deterministic: no
// count depends on the order of atomics, and no buffer bounds a bin.
//
// Memory is bounded by shared memory alone: a row of up to kCacheMax scores
// is read from device memory once, its keys kept in shared memory for the
// later passes; a longer row keeps, once the prefix's matching entries fit
// (at most kCacheMax), their keys only, and is read again for the final
// pass. Where they never fit (many equal values near the threshold) each
// pass reads the row again: slower, never wrong. A long row whose positions
// fit two bitmaps in shared memory (up to about 190K scores: a prefill's
// rows) is read twice only: the pass that keeps the prefix's entries (key
// and position) also marks the positions above the prefix in one bitmap,
// the entries at the final threshold go to the other, and the ordered
// output is read off the bitmaps.
//
// Few long rows (decode: one row per layer) would leave most of the GPU
// idle, so where the caller gives the workspace that sl_k_topk_workspace
// asks for, each row is cut into slices over several CTAs and every step is
// a launch of its own (see split_chunk): the same digits, bins and ordered
// output, with the histograms and counts in the workspace.
#include "sightline-kernels.h"

#include <stdint.h>

namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kBins = 2048;
constexpr int kBinsPerThread = kBins / kThreads;
constexpr int kCacheMax = 24576; // keys: 96 KiB of dynamic shared memory, two CTAs per SM
constexpr int kUnroll = 4;       // float4 loads in flight per thread in a row pass
constexpr int kItems = 8;        // consecutive scores per thread in the ordered pass
constexpr unsigned kFull = 0xffffffffu;

struct Shared {
    uint32_t hist[kBins];
    unsigned long long scan[kWarps];
    uint32_t bucket, count, above; // the bin holding the k-th best
    uint32_t collected;            // keys appended to the cache
};

__device__ __forceinline__ uint32_t rank_key(float s)
{
    uint32_t bits = __float_as_uint(s);
    const uint32_t mag = bits & 0x7fffffffu;
    if (mag == 0)
        bits = 0; // -0 ranks as +0
    const uint32_t key = bits ^ ((0u - (bits >> 31)) | 0x80000000u);
    return mag <= 0x7f800000u ? key : 0u; // NaN is 0
}

// Exclusive prefix sum over the block (in thread order); *total gets the
// sum over all threads. Every thread must call it.
__device__ unsigned long long block_exclusive_scan(unsigned long long v, Shared &sh,
                                                   unsigned long long *total)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    unsigned long long x = v;
    for (int off = 1; off < 32; off <<= 1) {
        const unsigned long long y = __shfl_up_sync(kFull, x, off);
        if (lane >= off)
            x += y;
    }
    if (lane == 31)
        sh.scan[warp] = x;
    __syncthreads();
    if (warp == 0) {
        unsigned long long w = lane < kWarps ? sh.scan[lane] : 0;
        for (int off = 1; off < 32; off <<= 1) {
            const unsigned long long y = __shfl_up_sync(kFull, w, off);
            if (lane >= off)
                w += y;
        }
        if (lane < kWarps)
            sh.scan[lane] = w;
    }
    __syncthreads();
    const unsigned long long ex = (warp ? sh.scan[warp - 1] : 0ull) + x - v;
    *total = sh.scan[kWarps - 1];
    __syncthreads();
    return ex;
}

// Counts bin for the lanes where m holds: one shared-memory atomic a lane.
// Lanes on the same bin (a row's scores crowd into the few bins of their
// exponents; ReLU rows onto one value) are left to the hardware, which was
// faster on an H100 than merging them first by ballots or __match_any_sync
// (kernels/topk-notes.md).
__device__ __forceinline__ void hist_add(uint32_t *hist, bool m, uint32_t bin)
{
    if (m)
        atomicAdd(&hist[bin], 1u);
}

// A slot for each lane where m holds, in lane order, from a counter that the
// warp bumps once; meaningless where m does not hold. Warp-uniform: every
// lane must call it.
__device__ __forceinline__ uint32_t warp_append(bool m, uint32_t *counter)
{
    const unsigned ballot = __ballot_sync(kFull, m);
    if (!ballot)
        return 0;
    const int lane = threadIdx.x & 31, leader = __ffs(ballot) - 1;
    uint32_t at = 0;
    if (lane == leader)
        at = atomicAdd(counter, (uint32_t)__popc(ballot));
    return __shfl_sync(kFull, at, leader) + __popc(ballot & ((1u << lane) - 1u));
}

// Calls f(key, position, valid) for every score of the row p[0, n), in no
// particular order, with float4 loads on the 16-byte aligned body. Every
// lane of a warp calls f the same number of times (valid says which calls
// carry a score), so that f may use warp-wide operations.
template <class F>
__device__ __forceinline__ void for_each_score(const float *__restrict__ p, int n, F &&f)
{
    const int tid = threadIdx.x;
    int head = (int)((16 - ((uintptr_t)p & 15)) & 15) / 4;
    head = head < n ? head : n;
    if (tid < 32) {
        const bool valid = tid < head;
        f(valid ? rank_key(p[tid]) : 0u, tid, valid);
    }
    const float4 *v = reinterpret_cast<const float4 *>(p + head);
    const int nv = (n - head) / 4;
    for (int base = 0; base < nv; base += kThreads * kUnroll) {
        float4 x[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; u++) {
            const int i = base + u * kThreads + tid;
            x[u] = i < nv ? __ldg(v + i) : make_float4(0.f, 0.f, 0.f, 0.f);
        }
#pragma unroll
        for (int u = 0; u < kUnroll; u++) {
            const int i = base + u * kThreads + tid;
            const bool valid = i < nv;
            const int pos = head + 4 * i;
            f(rank_key(x[u].x), pos, valid);
            f(rank_key(x[u].y), pos + 1, valid);
            f(rank_key(x[u].z), pos + 2, valid);
            f(rank_key(x[u].w), pos + 3, valid);
        }
    }
    const int done = head + 4 * nv;
    if (tid < 32) {
        const bool valid = tid < n - done;
        f(valid ? rank_key(p[done + tid]) : 0u, done + tid, valid);
    }
}

// The same over keys kept in shared memory, cache[0, n).
template <class F>
__device__ __forceinline__ void for_each_key(const uint32_t *cache, int n, F &&f)
{
    const uint4 *v = reinterpret_cast<const uint4 *>(cache);
    const int nv = (n + 3) / 4;
    for (int base = 0; base < nv; base += kThreads) {
        const int i = base + threadIdx.x;
        const uint4 x = i < nv ? v[i] : make_uint4(0, 0, 0, 0);
        f(x.x, 4 * i, 4 * i < n);
        f(x.y, 4 * i + 1, 4 * i + 1 < n);
        f(x.z, 4 * i + 2, 4 * i + 2 < n);
        f(x.w, 4 * i + 3, 4 * i + 3 < n);
    }
}

// The bin of hist holding the need-th best (counting from the top bin) into
// sh.bucket, its count into sh.count, and the count of the bins above it
// into sh.above. Thread t holds bins from the top down, and an exclusive
// scan gives the count above its first. Every thread must call it; hist may
// be overwritten once it returns.
__device__ void find_bin(const uint32_t *hist, uint32_t need, Shared &sh)
{
    const int tid = threadIdx.x;
    uint32_t h[kBinsPerThread], sum = 0;
#pragma unroll
    for (int j = 0; j < kBinsPerThread; j++) {
        h[j] = hist[kBins - 1 - tid * kBinsPerThread - j];
        sum += h[j];
    }
    unsigned long long total;
    uint32_t above = (uint32_t)block_exclusive_scan(sum, sh, &total);
#pragma unroll
    for (int j = 0; j < kBinsPerThread; j++) {
        if (above < need && above + h[j] >= need) {
            sh.bucket = (uint32_t)(kBins - 1 - tid * kBinsPerThread - j);
            sh.count = h[j];
            sh.above = above;
        }
        above += h[j];
    }
    __syncthreads();
}

// Writes, in increasing position order, the positions whose masked key is
// above prefix and the first `need` of those equal to it; total_above is
// how many are above. Keys come from the cache (the whole row) or the
// scores p[0, n), which are positions pos0 + i; run_above and run_equal
// count those before p[0] (a slice of a row).
template <bool kFromCache>
__device__ void emit(const float *__restrict__ p, const uint32_t *cache, int n, int pos0,
                     uint32_t run_above, uint32_t run_equal, uint32_t mask, uint32_t prefix,
                     uint32_t need, uint32_t total_above, int32_t *out, Shared &sh)
{
    const bool aligned = ((uintptr_t)p & 15) == 0;
    for (int tile = 0; tile < n; tile += kThreads * kItems) {
        const int first = tile + (int)threadIdx.x * kItems;
        uint32_t key[kItems];
        if (first + kItems <= n) {
            if (kFromCache) {
                const uint4 *c = reinterpret_cast<const uint4 *>(cache + first);
#pragma unroll
                for (int j = 0; j < kItems / 4; j++) {
                    const uint4 x = c[j];
                    key[4 * j] = x.x, key[4 * j + 1] = x.y;
                    key[4 * j + 2] = x.z, key[4 * j + 3] = x.w;
                }
            } else if (aligned) {
                const float4 *c = reinterpret_cast<const float4 *>(p + first);
#pragma unroll
                for (int j = 0; j < kItems / 4; j++) {
                    const float4 x = __ldg(c + j);
                    key[4 * j] = rank_key(x.x), key[4 * j + 1] = rank_key(x.y);
                    key[4 * j + 2] = rank_key(x.z), key[4 * j + 3] = rank_key(x.w);
                }
            } else {
#pragma unroll
                for (int j = 0; j < kItems; j++)
                    key[j] = rank_key(p[first + j]);
            }
        } else {
#pragma unroll
            for (int j = 0; j < kItems; j++)
                key[j] = first + j >= n ? 0u
                         : kFromCache   ? cache[first + j]
                                        : rank_key(p[first + j]);
        }
        uint32_t above = 0, equal = 0;
#pragma unroll
        for (int j = 0; j < kItems; j++) {
            const bool valid = first + j < n;
            const uint32_t m = key[j] & mask;
            above += valid && m > prefix;
            equal += valid && m == prefix;
        }
        unsigned long long total;
        const unsigned long long ex =
            block_exclusive_scan(((unsigned long long)equal << 32) | above, sh, &total);
        uint32_t a = run_above + (uint32_t)ex, e = run_equal + (uint32_t)(ex >> 32);
#pragma unroll
        for (int j = 0; j < kItems; j++) {
            if (first + j >= n)
                break;
            const uint32_t m = key[j] & mask;
            if (m > prefix) {
                out[a + (e < need ? e : need)] = pos0 + first + j;
                a++;
            } else if (m == prefix) {
                if (e < need)
                    out[a + e] = pos0 + first + j;
                e++;
            }
        }
        run_above += (uint32_t)total;
        run_equal += (uint32_t)(total >> 32);
        if (run_above >= total_above && run_equal >= need)
            break; // all k written
    }
}

// emit's output read off two bitmaps of the row's positions instead of the
// row: bit i of above (equal) marks position i as above (at) the threshold.
// Thread t takes words [t·per, (t + 1)·per); a scan of their counts gives
// each thread where its positions go.
__device__ void emit_bitmaps(const uint32_t *above_bits, const uint32_t *equal_bits, int words,
                             uint32_t need, int32_t *out, Shared &sh)
{
    const int per = (words + kThreads - 1) / kThreads;
    const int w0 = (int)threadIdx.x * per, w1 = w0 + per < words ? w0 + per : words;
    uint32_t above = 0, equal = 0;
    for (int w = w0; w < w1; w++) {
        above += (uint32_t)__popc(above_bits[w]);
        equal += (uint32_t)__popc(equal_bits[w]);
    }
    unsigned long long total;
    const unsigned long long ex =
        block_exclusive_scan(((unsigned long long)equal << 32) | above, sh, &total);
    uint32_t a = (uint32_t)ex, e = (uint32_t)(ex >> 32);
    for (int w = w0; w < w1; w++) {
        const uint32_t hi = above_bits[w];
        for (uint32_t bits = hi | equal_bits[w]; bits; bits &= bits - 1) {
            const int b = __ffs(bits) - 1, pos = 32 * w + b;
            if (hi >> b & 1u) {
                out[a + (e < need ? e : need)] = pos;
                a++;
            } else {
                if (e < need)
                    out[a + e] = pos;
                e++;
            }
        }
    }
}

// One CTA per row. cache_cap (a multiple of 4, at most kCacheMax) keys of
// dynamic shared memory.
__global__ void __launch_bounds__(kThreads, 2)
    topk_rows(const float *__restrict__ scores, size_t row_stride,
              const int32_t *__restrict__ row_len, int L, int k, int32_t *__restrict__ out,
              int cache_cap, bool bitmaps)
{
    extern __shared__ uint4 dynamic_smem[];
    uint32_t *cache = reinterpret_cast<uint32_t *>(dynamic_smem);
    __shared__ Shared sh;
    const int tid = threadIdx.x;
    const float *p = scores + (size_t)blockIdx.x * row_stride;
    int32_t *o = out + (size_t)blockIdx.x * (size_t)k;
    int n = L;
    if (row_len) {
        const int r = row_len[blockIdx.x];
        n = r < 0 ? 0 : r < L ? r : L;
    }
    if (n <= k) { // everything is selected
        for (int i = tid; i < k; i += kThreads)
            o[i] = i < n ? i : -1;
        return;
    }

    const bool whole_row = n <= cache_cap; // the row's keys live in the cache
    bool candidates = false;               // the prefix's matching keys live in the cache
    int n_candidates = 0;
    // A long row's positions as two bitmaps (above and at the threshold) at
    // the head of the cache, and room after them for pairs of key and
    // position: where the pass that collects the prefix's keys also marks
    // the positions above it, the output comes from the bitmaps, not from
    // a third pass over the row.
    const int words = (n + 31) / 32, bitmap_words = 2 * ((words + 3) / 4 * 4);
    const int pair_cap =
        bitmaps && bitmap_words < cache_cap ? (cache_cap - bitmap_words) / 8 * 4 : 0;
    uint32_t *above_bits = cache, *equal_bits = cache + bitmap_words / 2;
    uint32_t *pair_key = cache + bitmap_words;
    int32_t *pair_pos = reinterpret_cast<int32_t *>(pair_key + pair_cap);
    bool marked = false; // the bitmaps hold the row's selection
    uint32_t prefix = 0, mask = 0, need = (uint32_t)k, count = (uint32_t)n;
    for (int d = 0; d < 3; d++) {
        const int shift = d == 0 ? 21 : d == 1 ? 10 : 0;
        const uint32_t dmask = d < 2 ? 0x7ffu : 0x3ffu;
        const bool mark = !whole_row && !candidates && d > 0 && count <= (uint32_t)pair_cap;
        for (int b = tid; b < kBins; b += kThreads)
            sh.hist[b] = 0;
        for (int b = tid; mark && b < bitmap_words; b += kThreads)
            cache[b] = 0;
        if (tid == 0)
            sh.collected = 0;
        __syncthreads();
        auto add = [&](uint32_t key, int, bool valid) {
            hist_add(sh.hist, valid && (key & mask) == prefix, (key >> shift) & dmask);
        };
        if (d == 0 && whole_row) {
            for_each_score(p, n, [&](uint32_t key, int pos, bool valid) {
                if (valid)
                    cache[pos] = key;
                add(key, pos, valid);
            });
        } else if (d == 0) {
            for_each_score(p, n, add);
        } else if (whole_row) {
            for_each_key(cache, n, add);
        } else if (candidates) {
            for_each_key(marked ? pair_key : cache, n_candidates, add);
        } else if (mark) {
            // Mark the positions above the prefix; keep the keys and
            // positions that match it, and histogram them.
            for_each_score(p, n, [&](uint32_t key, int pos, bool valid) {
                if (valid && (key & mask) > prefix)
                    atomicOr(&above_bits[pos >> 5], 1u << (pos & 31));
                const bool m = valid && (key & mask) == prefix;
                const uint32_t at = warp_append(m, &sh.collected);
                if (m) {
                    pair_key[at] = key;
                    pair_pos[at] = pos;
                }
                hist_add(sh.hist, m, (key >> shift) & dmask);
            });
            candidates = marked = true;
            n_candidates = (int)count;
        } else if (count <= (uint32_t)cache_cap) {
            // Keep the keys that match the prefix, and histogram them.
            for_each_score(p, n, [&](uint32_t key, int, bool valid) {
                const bool m = valid && (key & mask) == prefix;
                const uint32_t at = warp_append(m, &sh.collected);
                if (m)
                    cache[at] = key;
                hist_add(sh.hist, m, (key >> shift) & dmask);
            });
            candidates = true;
            n_candidates = (int)count;
        } else {
            for_each_score(p, n, add);
        }
        __syncthreads();

        find_bin(sh.hist, need, sh);
        prefix |= sh.bucket << shift;
        mask |= dmask << shift;
        need -= sh.above;
        count = sh.count;
        if (count == need)
            break; // the whole bin is kept
    }

    const uint32_t total_above = (uint32_t)k - need;
    if (marked) { // the kept pairs above or at the final threshold to the bitmaps
        for (int i = tid; i < n_candidates; i += kThreads) {
            const uint32_t m = pair_key[i] & mask;
            const int pos = pair_pos[i];
            if (m >= prefix)
                atomicOr(&(m > prefix ? above_bits : equal_bits)[pos >> 5], 1u << (pos & 31));
        }
        __syncthreads();
        emit_bitmaps(above_bits, equal_bits, words, need, o, sh);
    } else if (whole_row)
        emit<true>(p, cache, n, 0, 0, 0, mask, prefix, need, total_above, o, sh);
    else
        emit<false>(p, cache, n, 0, 0, 0, mask, prefix, need, total_above, o, sh);
}


// ---- Few long rows: each row split over several CTAs ----------------------
//
// The same radix select and ordered output, with the row cut into slices
// of `chunk` scores (a multiple of 4096), one CTA per slice, and each step
// a launch: a slice's histogram is added into the row's in the workspace,
// one CTA per row picks the bin, and the output pass counts each slice's
// entries above and at the threshold first, so that every slice knows
// where its positions go. Workspace per row: a RowState, the histogram,
// and two counts per slice.

struct RowState {
    uint32_t prefix, mask, need, count;
    uint32_t done; // 1: the threshold is known; 2: the row keeps everything (n <= k)
    uint32_t pad[3];
};

constexpr int kStateWords = sizeof(RowState) / sizeof(uint32_t);

__device__ __forceinline__ int row_length(const int32_t *row_len, int row, int L)
{
    if (!row_len)
        return L;
    const int r = row_len[row];
    return r < 0 ? 0 : r < L ? r : L;
}

__global__ void split_init(uint32_t *ws, size_t words, const int32_t *row_len, int L, int k)
{
    uint32_t *w = ws + (size_t)blockIdx.x * words;
    for (int b = threadIdx.x; b < kBins; b += blockDim.x)
        w[kStateWords + b] = 0;
    if (threadIdx.x == 0) {
        const int n = row_length(row_len, blockIdx.x, L);
        RowState *st = reinterpret_cast<RowState *>(w);
        st->prefix = 0, st->mask = 0, st->need = (uint32_t)k, st->count = (uint32_t)n;
        st->done = n <= k ? 2u : 0u;
    }
}

__global__ void __launch_bounds__(kThreads, 2)
    split_hist(const float *__restrict__ scores, size_t row_stride, const int32_t *row_len, int L,
               uint32_t *ws, size_t words, int chunk, int shift, uint32_t dmask)
{
    __shared__ Shared sh;
    const int row = blockIdx.y;
    uint32_t *w = ws + (size_t)row * words;
    const RowState st = *reinterpret_cast<const RowState *>(w);
    const int n = row_length(row_len, row, L), lo = (int)blockIdx.x * chunk;
    if (st.done || lo >= n)
        return;
    const int cnt = n - lo < chunk ? n - lo : chunk;
    for (int b = threadIdx.x; b < kBins; b += kThreads)
        sh.hist[b] = 0;
    __syncthreads();
    for_each_score(scores + (size_t)row * row_stride + lo, cnt, [&](uint32_t key, int, bool valid) {
        hist_add(sh.hist, valid && (key & st.mask) == st.prefix, (key >> shift) & dmask);
    });
    __syncthreads();
    for (int b = threadIdx.x; b < kBins; b += kThreads)
        if (sh.hist[b])
            atomicAdd(&w[kStateWords + b], sh.hist[b]);
}

__global__ void __launch_bounds__(kThreads, 2)
    split_pick(uint32_t *ws, size_t words, int shift, uint32_t dmask, int last)
{
    __shared__ Shared sh;
    uint32_t *w = ws + (size_t)blockIdx.x * words;
    RowState *st = reinterpret_cast<RowState *>(w);
    const RowState s = *st;
    if (s.done)
        return;
    find_bin(w + kStateWords, s.need, sh);
    for (int b = threadIdx.x; b < kBins; b += kThreads)
        w[kStateWords + b] = 0;
    if (threadIdx.x == 0) {
        const uint32_t need = s.need - sh.above;
        st->prefix = s.prefix | sh.bucket << shift;
        st->mask = s.mask | dmask << shift;
        st->need = need;
        st->count = sh.count;
        st->done = sh.count == need || last ? 1u : 0u;
    }
}

__global__ void __launch_bounds__(kThreads, 2)
    split_count(const float *__restrict__ scores, size_t row_stride, const int32_t *row_len, int L,
                uint32_t *ws, size_t words, int chunk)
{
    __shared__ Shared sh;
    const int row = blockIdx.y;
    uint32_t *w = ws + (size_t)row * words;
    const RowState st = *reinterpret_cast<const RowState *>(w);
    uint32_t *counts = w + kStateWords + kBins + 2 * blockIdx.x;
    const int n = row_length(row_len, row, L), lo = (int)blockIdx.x * chunk;
    if (st.done == 2)
        return;
    if (lo >= n) {
        if (threadIdx.x == 0)
            counts[0] = counts[1] = 0;
        return;
    }
    const int cnt = n - lo < chunk ? n - lo : chunk;
    uint32_t above = 0, equal = 0;
    for_each_score(scores + (size_t)row * row_stride + lo, cnt, [&](uint32_t key, int, bool valid) {
        const uint32_t m = key & st.mask;
        above += valid && m > st.prefix;
        equal += valid && m == st.prefix;
    });
    unsigned long long total;
    block_exclusive_scan(((unsigned long long)equal << 32) | above, sh, &total);
    if (threadIdx.x == 0)
        counts[0] = (uint32_t)total, counts[1] = (uint32_t)(total >> 32);
}

__global__ void __launch_bounds__(kThreads, 2)
    split_emit(const float *__restrict__ scores, size_t row_stride, const int32_t *row_len, int L,
               int k, int32_t *__restrict__ out, const uint32_t *ws, size_t words, int chunk)
{
    __shared__ Shared sh;
    const int row = blockIdx.y;
    const uint32_t *w = ws + (size_t)row * words;
    const RowState st = *reinterpret_cast<const RowState *>(w);
    const uint32_t *counts = w + kStateWords + kBins;
    int32_t *o = out + (size_t)row * (size_t)k;
    const int n = row_length(row_len, row, L), lo = (int)blockIdx.x * chunk;
    if (st.done == 2) {
        if (blockIdx.x == 0)
            for (int i = threadIdx.x; i < k; i += kThreads)
                o[i] = i < n ? i : -1;
        return;
    }
    if (lo >= n)
        return;
    unsigned long long before = 0, total;
    for (int i = threadIdx.x; i < (int)blockIdx.x; i += kThreads)
        before += ((unsigned long long)counts[2 * i + 1] << 32) | counts[2 * i];
    block_exclusive_scan(before, sh, &total);
    const uint32_t base_above = (uint32_t)total, base_equal = (uint32_t)(total >> 32);
    const uint32_t total_above = (uint32_t)k - st.need;
    if (base_above >= total_above && base_equal >= st.need)
        return; // the slices before this one hold all k
    const int cnt = n - lo < chunk ? n - lo : chunk;
    emit<false>(scores + (size_t)row * row_stride + lo, nullptr, cnt, lo, base_above, base_equal,
                st.mask, st.prefix, st.need, total_above, o, sh);
}

bool g_bitmaps = true; // sl_k_topk_tune_bitmaps

// The slice length for rows × L when too few rows fill the GPU, else 0.
int split_chunk(int rows, int L)
{
    if (rows <= 0 || L < 65536)
        return 0;
    int dev = 0, sms = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
        return 0;
    if (rows >= sms / 2)
        return 0;
    const long long per_row = 2LL * sms / rows > 1 ? 2LL * sms / rows : 1;
    long long chunk = ((L + per_row - 1) / per_row + 4095) / 4096 * 4096;
    chunk = chunk > 8192 ? chunk : 8192;
    return chunk < L ? (int)chunk : 0;
}

size_t split_words(int L, int chunk)
{
    const size_t slices = ((size_t)L + (size_t)chunk - 1) / (size_t)chunk;
    return (size_t)kStateWords + kBins + 2 * slices;
}

__global__ void to_slots(int32_t *idx, size_t n, int k, long long slots_per_row)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        if (idx[i] >= 0)
            idx[i] = (int32_t)(idx[i] + (long long)(i / (size_t)k) * slots_per_row);
}

} // namespace

extern "C" void sl_k_topk_tune_bitmaps(int on)
{
    g_bitmaps = on != 0;
}

extern "C" size_t sl_k_topk_workspace(int rows, int L, int k)
{
    const int chunk = k > 0 ? split_chunk(rows, L) : 0;
    return chunk ? (size_t)rows * split_words(L, chunk) * sizeof(uint32_t) : 0;
}

extern "C" cudaError_t sl_k_topk(const float *scores, size_t row_stride, const int32_t *row_len,
                                 int rows, int L, int k, int32_t *out, void *workspace,
                                 size_t workspace_bytes, cudaStream_t stream)
{
    if (rows < 0 || L < 0 || L > (1 << 30) || k < 0)
        return cudaErrorInvalidValue;
    if (rows == 0 || k == 0)
        return cudaSuccess;
    if (!out || (L > 0 && !scores) || (rows > 1 && row_stride < (size_t)L))
        return cudaErrorInvalidValue;
    const int chunk = split_chunk(rows, L);
    if (chunk && workspace && workspace_bytes >= sl_k_topk_workspace(rows, L, k)) {
        uint32_t *ws = static_cast<uint32_t *>(workspace);
        const size_t words = split_words(L, chunk);
        const dim3 slices((unsigned)((L + chunk - 1) / chunk), (unsigned)rows);
        split_init<<<(unsigned)rows, 256, 0, stream>>>(ws, words, row_len, L, k);
        for (int d = 0; d < 3; d++) {
            const int shift = d == 0 ? 21 : d == 1 ? 10 : 0;
            const uint32_t dmask = d < 2 ? 0x7ffu : 0x3ffu;
            split_hist<<<slices, kThreads, 0, stream>>>(scores, row_stride, row_len, L, ws, words,
                                                        chunk, shift, dmask);
            split_pick<<<(unsigned)rows, kThreads, 0, stream>>>(ws, words, shift, dmask, d == 2);
        }
        split_count<<<slices, kThreads, 0, stream>>>(scores, row_stride, row_len, L, ws, words,
                                                     chunk);
        split_emit<<<slices, kThreads, 0, stream>>>(scores, row_stride, row_len, L, k, out, ws,
                                                    words, chunk);
        return cudaGetLastError();
    }
    const int cache_cap = L < kCacheMax ? (L + 3) / 4 * 4 : kCacheMax;
    const size_t smem = (size_t)(cache_cap ? cache_cap : 4) * sizeof(uint32_t);
    // Above 48 KiB of dynamic shared memory needs the function's limit
    // raised, once per device.
    static int raised[64];
    int dev = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e != cudaSuccess)
        return e;
    if (dev >= 64 || !raised[dev]) {
        e = cudaFuncSetAttribute(topk_rows, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 (int)(kCacheMax * sizeof(uint32_t)));
        if (e != cudaSuccess)
            return e;
        if (dev < 64)
            raised[dev] = 1;
    }
    topk_rows<<<(unsigned)rows, kThreads, smem, stream>>>(scores, row_stride, row_len, L, k, out,
                                                         cache_cap, g_bitmaps);
    return cudaGetLastError();
}

extern "C" cudaError_t sl_k_topk_to_slots(int32_t *idx, int rows, int k, long long slots_per_row,
                                          cudaStream_t stream)
{
    if (rows < 0 || k <= 0 || slots_per_row < 0 ||
        (long long)(rows - 1) * slots_per_row + slots_per_row > 0x7fffffffLL)
        return cudaErrorInvalidValue;
    size_t n = (size_t)rows * (size_t)k;
    if (n == 0)
        return cudaSuccess;
    size_t blocks = (n + 255) / 256;
    to_slots<<<blocks > 65535 ? 65535u : (unsigned)blocks, 256, 0, stream>>>(idx, n, k, slots_per_row);
    return cudaGetLastError();
}
