// wgmma-ptx.cuh: the PTX the wgmma kernels (sm_90a) share: the proxy fence
// between cp.async writes and the tensor cores' reads, wgmma's fence, commit
// and wait, and shared-memory matrix descriptors. Included inside each kernel
// file's anonymous namespace, after mma-ptx.cuh.
#ifndef SL_WGMMA_PTX_CUH
#define SL_WGMMA_PTX_CUH

// cp.async and st.shared write through the generic proxy; wgmma reads
// through the async one.
__device__ __forceinline__ void fence_proxy_async()
{
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

__device__ __forceinline__ void wgmma_fence()
{
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}

__device__ __forceinline__ void wgmma_commit()
{
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}

template <int N> __device__ __forceinline__ void wgmma_wait()
{
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

// Pins accumulator registers in place around the asynchronous wgmma: the
// compiler may not move their reads or writes across this point.
template <int N> __device__ __forceinline__ void fence_regs(float (&r)[N])
{
#pragma unroll
    for (int i = 0; i < N; i++)
        asm volatile("" : "+f"(r[i])::"memory");
}

// Shared-memory matrix descriptor of a tile with 128-byte swizzle (16-byte
// chunk c of row r at r·128 + ((c ^ r % 8) · 16), 1024-aligned): groups of 8
// rows 1024 bytes apart (the stride field). K-major, the leading field is
// unused (pass 16); MN-major, it is the distance between blocks of 64
// MN-values (128 bytes wide).
__device__ __forceinline__ uint64_t sw128_desc(uint32_t addr, uint32_t leading_bytes)
{
    return (uint64_t)((addr & 0x3ffff) >> 4) | ((uint64_t)(leading_bytes >> 4) << 16) |
           ((uint64_t)(1024 >> 4) << 32) | (1ull << 62);
}

#endif
