// Shared helpers for Kiln's kernels: element types, conversions, block reductions.
// Activations are float or bf16 (the backend's precision); weights are float, bf16 or fp8 e4m3.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <stdint.h>

typedef __nv_bfloat16 bf16;

// Programmatic dependent launch (Hopper): the host launches every kernel with programmatic stream serialization
// (Kernels.java), so a kernel's blocks may be resident while its predecessor still runs. Each entry point starts
// with KILN_ENTRY: let the next kernel be scheduled now (its blocks wait in turn), then wait until every earlier
// grid has finished and its writes are visible. Without the launch attribute both instructions are no-ops.
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
#define KILN_ENTRY \
    do {           \
        pdl_trigger(); \
        pdl_wait();    \
    } while (0)

// Pulls [p, p + bytes) into L2, one 128-byte line per lane and step (a warp's share of a weight row): used before
// pdl_wait for data no earlier kernel writes, so the DRAM reads start while the predecessor finishes.
__device__ __forceinline__ void prefetch_l2(const void* p, long bytes) {
    const char* c = static_cast<const char*>(p);
    for (long o = (threadIdx.x & 31) * 128L; o < bytes; o += 32 * 128L) asm volatile("prefetch.global.L2 [%0];" ::"l"(c + o));
}

__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(bf16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_f(uint8_t v) {
    // e4m3 "fn" (DeepSeek's checkpoints): through the hardware conversion to half, exact.
    __half_raw h = __nv_cvt_fp8_to_halfraw((__nv_fp8_storage_t)v, __NV_E4M3);
    return __half2float(__half(h));
}

// float to e4m3 "fn", rounded to nearest even and saturated at +-448 (the hardware conversion)
__device__ __forceinline__ uint8_t to_e4m3(float v) { return (uint8_t)__nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3); }

template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ bf16 from_f<bf16>(float v) { return __float2bfloat16_rn(v); }

// Sum over a block whose size is a multiple of 32 (at most 1024). The order is fixed by the thread layout, so a
// row's result never depends on the launch it is part of. `scratch` holds 32 floats; returns the sum to all threads.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float t = 0.f;
    if (warp == 0) {
        t = lane < warps ? scratch[lane] : 0.f;
        for (int o = 16; o > 0; o >>= 1) t += __shfl_xor_sync(0xffffffffu, t, o);
        if (lane == 0) scratch[0] = t;
    }
    __syncthreads();
    return scratch[0];
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float t = lane < warps ? scratch[lane] : -INFINITY;
        for (int o = 16; o > 0; o >>= 1) t = fmaxf(t, __shfl_xor_sync(0xffffffffu, t, o));
        if (lane == 0) scratch[0] = t;
    }
    __syncthreads();
    return scratch[0];
}
