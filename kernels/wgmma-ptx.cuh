// wgmma-ptx.cuh: the PTX the wgmma kernels (sm_90a) share: the proxy fence
// between cp.async writes and the tensor cores' reads, wgmma's fence, commit
// and wait, shared-memory matrix descriptors, and for warp-specialised
// kernels mbarriers, named barriers and register shares. Included inside
// each kernel file's anonymous namespace, after mma-ptx.cuh.
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

// ---- warp specialisation: mbarriers, named barriers, register shares ----

// An mbarrier in shared memory that completes a phase after `count` arrivals.
__device__ __forceinline__ void mbar_init(uint32_t bar, unsigned count)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}

// Arrives (release: this thread's earlier shared-memory writes are seen by
// whoever waits the phase out).
__device__ __forceinline__ void mbar_arrive(uint32_t bar)
{
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}

// Arrives once every cp.async this thread issued before has landed; the
// arrival is one of the count the barrier was made with.
__device__ __forceinline__ void mbar_arrive_on_copies(uint32_t bar)
{
    asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}

// Waits (acquire) until the phase of the given parity has completed.
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity)
{
    asm volatile("{\n.reg .pred done;\nwait_%=:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
                 "@!done bra wait_%=;\n}\n" ::"r"(bar),
                 "r"(parity)
                 : "memory");
}

// Named barrier `id` (not 0, which __syncthreads uses) over `threads`
// threads: sync waits for all of them, arrive counts itself and goes on.
__device__ __forceinline__ void named_sync(int id, int threads)
{
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

__device__ __forceinline__ void named_arrive(int id, int threads)
{
    asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// A warpgroup's registers a thread: a producer gives some back, consumers
// take them (all four warps of the warpgroup execute it).
template <int N> __device__ __forceinline__ void regs_take()
{
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}

template <int N> __device__ __forceinline__ void regs_give()
{
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}

#endif
