// Collectives of tensor-parallel ranks that share one GPU (virtual ranks, kiln.backend.cuda.VirtualRanks) and the
// column placement after NCCL's all-gather. Every rank's tensor is passed by value (pointer, leading dimension), up
// to TP_MAX_RANKS of them, so a launch needs no pointer table in device memory and is captured into a CUDA graph
// with its arguments.
#pragma once

#define TP_MAX_RANKS 8

// One row per block: out of every rank r < n, element (row, c) becomes ((x_0 + x_1) + x_2) + ... in float, rounded
// once to T. Every rank's tensor is read before any is written (each thread owns its columns), so the inputs may be
// the outputs, and every rank ends with the same bits.
template <typename T>
__device__ __forceinline__ void tp_sum_row(int n, int cols, T* const* p, const long* ld) {
    long row = blockIdx.x;
    for (int c = blockIdx.y * blockDim.x + threadIdx.x; c < cols; c += gridDim.y * blockDim.x) {
        float s = to_f(p[0][row * ld[0] + c]);
        for (int r = 1; r < n; r++) s += to_f(p[r][row * ld[r] + c]);
        T v = from_f<T>(s);
        for (int r = 0; r < n; r++) p[r][row * ld[r] + c] = v;
    }
}

// One row per block: part r (w_r columns) lands at the columns after parts 0..r-1 of out's row.
template <typename T>
__device__ __forceinline__ void tp_gather_row(int n, T* out, long ldo, const T* const* p, const long* ld, const int* w) {
    long row = blockIdx.x;
    int at = 0;
    for (int r = 0; r < n; r++) {
        for (int c = threadIdx.x; c < w[r]; c += blockDim.x) out[row * ldo + at + c] = p[r][row * ld[r] + c];
        at += w[r];
    }
}

#define COLLECTIVE_KERNELS(T, S)                                                                                       \
    extern "C" __global__ void tp_sum_##S(int n, int cols, T* p0, long ld0, T* p1, long ld1, T* p2, long ld2, T* p3,   \
                                          long ld3, T* p4, long ld4, T* p5, long ld5, T* p6, long ld6, T* p7,          \
                                          long ld7) { KILN_ENTRY;                                                      \
        T* p[TP_MAX_RANKS] = {p0, p1, p2, p3, p4, p5, p6, p7};                                                         \
        long ld[TP_MAX_RANKS] = {ld0, ld1, ld2, ld3, ld4, ld5, ld6, ld7};                                              \
        tp_sum_row<T>(n, cols, p, ld);                                                                                 \
    }                                                                                                                  \
    extern "C" __global__ void tp_gather_cols_##S(int n, T* out, long ldo, const T* p0, long ld0, int w0,              \
                                                  const T* p1, long ld1, int w1, const T* p2, long ld2, int w2,        \
                                                  const T* p3, long ld3, int w3, const T* p4, long ld4, int w4,        \
                                                  const T* p5, long ld5, int w5, const T* p6, long ld6, int w6,        \
                                                  const T* p7, long ld7, int w7) { KILN_ENTRY;                         \
        const T* p[TP_MAX_RANKS] = {p0, p1, p2, p3, p4, p5, p6, p7};                                                   \
        long ld[TP_MAX_RANKS] = {ld0, ld1, ld2, ld3, ld4, ld5, ld6, ld7};                                              \
        int w[TP_MAX_RANKS] = {w0, w1, w2, w3, w4, w5, w6, w7};                                                        \
        tp_gather_row<T>(n, out, ldo, p, ld, w);                                                                       \
    }

COLLECTIVE_KERNELS(float, f32)
COLLECTIVE_KERNELS(bf16, bf16)
