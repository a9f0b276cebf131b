// out = x W^T (+ bias) on the CUDA cores, weights read in stored precision (float, bf16, fp8 e4m3 with block
// scales) and float accumulation.
//
// Canonical order: every output element is
//     total = 0; for each 128-column chunk c of K: partial = fma-chain over the chunk's k ascending from 0;
//                                                 total = fma(partial, scale(n, c), total)
//     out = total + bias
// whatever the batch size, the tile the element falls in or the expert group it belongs to (scale = 1 unless
// fp8). So a request's result never depends on its batch: greedy output is batch-invariant in float32 mode.
// The fp8 block (128 columns) is the chunk, so its scale costs one fma per 128 products.
#pragma once
#include "common.cuh"

#define GEMM_BM 64
#define GEMM_BN 64
#define GEMM_BK 32
#define GEMM_CHUNK 128
#define GEMM_THREADS 256

// One 64x64 output tile. Rows p in [row_begin, row_end) of the output; input row of p is
// row_index ? row_index[p] / row_div : p. Weight rows n in [n0, n0 + 64) of N, K columns, row-major.
template <typename TX, typename TW, typename TO>
__device__ __forceinline__ void gemm_tile(const TX* __restrict__ x, long ldx, const int* __restrict__ row_index, int row_div,
                                          int row_begin, int row_end, const TW* __restrict__ w,
                                          const float* __restrict__ scales, int scale_cols, int block_rows,
                                          const float* __restrict__ bias, TO* __restrict__ out, long ldo, int n0, int N, int K) {
    __shared__ __align__(16) float As[GEMM_BK][GEMM_BM + 4];
    __shared__ __align__(16) float Bs[GEMM_BK][GEMM_BN + 4];
    int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    // loader coordinates: 64 rows x 32 k, 8 consecutive k per thread
    int lr = tid >> 2, lk = (tid & 3) * 8;
    int p_load = row_begin + lr;
    bool a_valid = p_load < row_end;
    long a_row = 0;
    if (a_valid) a_row = row_index ? (long)(row_index[p_load] / row_div) : (long)p_load;
    const TX* a_src = x + a_row * ldx;
    int n_load = n0 + lr;
    bool b_valid = n_load < N;
    const TW* b_src = w + (long)(b_valid ? n_load : 0) * K;

    float partial[4][4], total[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) partial[i][j] = total[i][j] = 0.f;

    for (int k0 = 0; k0 < K; k0 += GEMM_BK) {
#pragma unroll
        for (int q = 0; q < 8; q++) {
            int k = k0 + lk + q;
            As[lk + q][lr] = (a_valid && k < K) ? to_f(a_src[k]) : 0.f;
            Bs[lk + q][lr] = (b_valid && k < K) ? to_f(b_src[k]) : 0.f;
        }
        __syncthreads();
#pragma unroll 8
        for (int kk = 0; kk < GEMM_BK; kk++) {
            float4 a4 = *reinterpret_cast<const float4*>(&As[kk][ty * 4]);
            float4 b4 = *reinterpret_cast<const float4*>(&Bs[kk][tx * 4]);
            float a[4] = {a4.x, a4.y, a4.z, a4.w}, b[4] = {b4.x, b4.y, b4.z, b4.w};
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) partial[i][j] = fmaf(a[i], b[j], partial[i][j]);
        }
        __syncthreads();
        int next = k0 + GEMM_BK;
        if (next % GEMM_CHUNK == 0 || next >= K) {
            int c = k0 / GEMM_CHUNK;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                int n = n0 + tx * 4 + j;
                float s = (scales && n < N) ? scales[(long)(n / block_rows) * scale_cols + c] : 1.f;
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    total[i][j] = fmaf(partial[i][j], s, total[i][j]);
                    partial[i][j] = 0.f;
                }
            }
        }
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int p = row_begin + ty * 4 + i;
        if (p >= row_end) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int n = n0 + tx * 4 + j;
            if (n < N) out[(long)p * ldo + n] = from_f<TO>(total[i][j] + (bias ? bias[n] : 0.f));
        }
    }
}

// Plain and batched (blockIdx.z = batch: per-head matrices of MLA's absorbed projections) GEMM.
// grid (ceil(N/64), ceil(M/64), batch).
template <typename TX, typename TW>
__device__ void gemm(const TX* x, long ldx, long x_bstride, const TW* w, long w_bstride, const float* scales, int scale_cols,
                     int block_rows, const float* bias, TX* out, long ldo, long o_bstride, int M, int N, int K) {
    long z = blockIdx.z;
    int row_begin = blockIdx.y * GEMM_BM;
    gemm_tile<TX, TW, TX>(x + z * x_bstride, ldx, nullptr, 1, row_begin, M, w + z * w_bstride, scales, scale_cols,
                          block_rows, bias, out + z * o_bstride, ldo, blockIdx.x * GEMM_BN, N, K);
}

// Grouped GEMM of the routed experts. Tile y covers rows [tile_begin[y], tile_end[y]) of expert tile_expert[y]
// (rows in expert-sorted order); the weights of expert e are at w_ptrs[e] (scales at s_ptrs[e]). Tiles past
// *num_tiles exit, so the grid can be sized for the worst case and the launch captured in a graph.
template <typename TX, typename TW>
__device__ void moe_gemm(const TX* x, long ldx, const int* row_index, int row_div, const long long* w_ptrs,
                         const long long* s_ptrs, int scale_cols, int block_rows, const int* tile_expert,
                         const int* tile_begin, const int* tile_end, const int* num_tiles, TX* out, long ldo, int N, int K) {
    int y = blockIdx.y;
    if (y >= *num_tiles) return;
    int e = tile_expert[y];
    const TW* w = reinterpret_cast<const TW*>(w_ptrs[e]);
    const float* s = s_ptrs ? reinterpret_cast<const float*>(s_ptrs[e]) : nullptr;
    gemm_tile<TX, TW, TX>(x, ldx, row_index, row_div, tile_begin[y], tile_end[y], w, s, scale_cols, block_rows, nullptr,
                          out, ldo, blockIdx.x * GEMM_BN, N, K);
}

// Decode GEMV (bf16 activations, up to MAXM rows): memory-bound, one warp per weight row. Each lane reads 16
// bytes of the row per step (8 bf16 or 16 fp8 weights; fp8 needs K % 16 == 0, else 8 per step), steps unrolled
// by 4 so that several loads are in flight; x is re-read from L1. Input row m is x_rows[m]. Lane partial sums
// are left in acc (gemv_reduce sums them). Not in canonical order (lanes split K), so used only in bf16 mode,
// where cuBLAS already gives up batch invariance. Needs K % 8 == 0 and 16-byte aligned rows of x and w.
template <typename TW, int MAXM>
__device__ __forceinline__ void gemv_partial(const bf16* __restrict__ x, long ldx, const long* x_rows, const TW* __restrict__ w,
                                             const float* __restrict__ scales, int scale_cols, int block_rows, int M, int n,
                                             int K, float* acc) {
    int lane = threadIdx.x & 31;
    const TW* wr = w + (long)n * K;
    const float* sr = scales ? scales + (long)(n / block_rows) * scale_cols : nullptr;
    if constexpr (sizeof(TW) == 1) {
        if (K % 16 == 0) {
#pragma unroll 4
            for (int k = lane * 16; k < K; k += 512) {
                uint4 raw = __ldg(reinterpret_cast<const uint4*>(wr + k));
                const uint8_t* b = reinterpret_cast<const uint8_t*>(&raw);
                float s = sr ? sr[k / GEMM_CHUNK] : 1.f;
                float wf[16];
#pragma unroll
                for (int q = 0; q < 16; q++) wf[q] = to_f(b[q]) * s;
#pragma unroll
                for (int m = 0; m < MAXM; m++) {
                    if (m < M) {
                        const uint4* xp = reinterpret_cast<const uint4*>(x + x_rows[m] * ldx + k);
                        uint4 x0 = __ldg(xp), x1 = __ldg(xp + 1);
                        const bf16* xa = reinterpret_cast<const bf16*>(&x0);
                        const bf16* xb = reinterpret_cast<const bf16*>(&x1);
                        float a = acc[m];
#pragma unroll
                        for (int q = 0; q < 8; q++) a = fmaf(to_f(xa[q]), wf[q], a);
#pragma unroll
                        for (int q = 0; q < 8; q++) a = fmaf(to_f(xb[q]), wf[8 + q], a);
                        acc[m] = a;
                    }
                }
            }
            return;
        }
    }
#pragma unroll 4
    for (int k = lane * 8; k < K; k += 256) {
        float wf[8];
        if constexpr (sizeof(TW) == 1) {
            uint2 raw = __ldg(reinterpret_cast<const uint2*>(wr + k));
            const uint8_t* b = reinterpret_cast<const uint8_t*>(&raw);
            float s = sr ? sr[k / GEMM_CHUNK] : 1.f;
#pragma unroll
            for (int q = 0; q < 8; q++) wf[q] = to_f(b[q]) * s;
        } else {
            uint4 raw = __ldg(reinterpret_cast<const uint4*>(wr + k));
            const bf16* b = reinterpret_cast<const bf16*>(&raw);
#pragma unroll
            for (int q = 0; q < 8; q++) wf[q] = to_f(b[q]);
        }
#pragma unroll
        for (int m = 0; m < MAXM; m++) {
            if (m < M) {
                uint4 xr = __ldg(reinterpret_cast<const uint4*>(x + x_rows[m] * ldx + k));
                const bf16* xb = reinterpret_cast<const bf16*>(&xr);
#pragma unroll
                for (int q = 0; q < 8; q++) acc[m] = fmaf(to_f(xb[q]), wf[q], acc[m]);
            }
        }
    }
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

template <typename TW, int MAXM>
__device__ __forceinline__ void gemv_rows(const bf16* __restrict__ x, long ldx, const long* x_rows, const TW* __restrict__ w,
                                          const float* __restrict__ scales, int scale_cols, int block_rows,
                                          const float* __restrict__ bias, bf16* __restrict__ out, long ldo,
                                          const long* out_rows, int M, int n, int K) {
    float acc[MAXM];
#pragma unroll
    for (int m = 0; m < MAXM; m++) acc[m] = 0.f;
    gemv_partial<TW, MAXM>(x, ldx, x_rows, w, scales, scale_cols, block_rows, M, n, K, acc);
    int lane = threadIdx.x & 31;
#pragma unroll
    for (int m = 0; m < MAXM; m++) {
        float v = warp_sum(acc[m]);
        if (lane == 0 && m < M) out[out_rows[m] * ldo + n] = __float2bfloat16_rn(v + (bias ? bias[n] : 0.f));
    }
}

// SwiGLU's first half in one pass: out[m][n] = silu(x_m . gate_n) * (x_m . up_n), both rounded to bf16 first as
// the unfused linear + linear + silu_mul would store them.
template <typename TW, int MAXM>
__device__ __forceinline__ void gemv_gate_up_rows(const bf16* __restrict__ x, long ldx, const long* x_rows, const TW* __restrict__ wg,
                                                  const TW* __restrict__ wu, const float* __restrict__ sg, const float* __restrict__ su,
                                                  int scale_cols, int block_rows, bf16* __restrict__ out, long ldo,
                                                  const long* out_rows, int M, int n, int K) {
    float g[MAXM], u[MAXM];
#pragma unroll
    for (int m = 0; m < MAXM; m++) g[m] = u[m] = 0.f;
    gemv_partial<TW, MAXM>(x, ldx, x_rows, wg, sg, scale_cols, block_rows, M, n, K, g);
    gemv_partial<TW, MAXM>(x, ldx, x_rows, wu, su, scale_cols, block_rows, M, n, K, u);
    int lane = threadIdx.x & 31;
#pragma unroll
    for (int m = 0; m < MAXM; m++) {
        float a = to_f(__float2bfloat16_rn(warp_sum(g[m]))), b = to_f(__float2bfloat16_rn(warp_sum(u[m])));
        if (lane == 0 && m < M) out[out_rows[m] * ldo + n] = __float2bfloat16_rn(a / (1.f + expf(-a)) * b);
    }
}

template <typename TW>
__device__ void gemv_bf16(const bf16* x, long ldx, const TW* w, const float* scales, int scale_cols, int block_rows,
                          const float* bias, bf16* out, long ldo, int M, int N, int K) {
    int n = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (n >= N) return;
    long rows[8];
#pragma unroll
    for (int m = 0; m < 8; m++) rows[m] = m;
    gemv_rows<TW, 8>(x, ldx, rows, w, scales, scale_cols, block_rows, bias, out, ldo, rows, M, n, K);
}

template <typename TW>
__device__ void gemv_gate_up_bf16(const bf16* x, long ldx, const TW* wg, const TW* wu, const float* sg, const float* su,
                                  int scale_cols, int block_rows, bf16* out, long ldo, int M, int N, int K) {
    int n = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (n >= N) return;
    long rows[8];
#pragma unroll
    for (int m = 0; m < 8; m++) rows[m] = m;
    gemv_gate_up_rows<TW, 8>(x, ldx, rows, wg, wu, sg, su, scale_cols, block_rows, out, ldo, rows, M, n, K);
}

// Grouped GEMV of the routed experts for decode-sized groups: tile y = up to 8 rows of one expert (moe_align
// with tile_rows 8), each warp one weight row, so each active expert's weights are read once per tile.
template <typename TW>
__device__ __forceinline__ int moe_gemv_tile(const int* row_index, int row_div, const int* tile_begin, const int* tile_end, int y,
                                             long* xr, long* orow) {
    int p0 = tile_begin[y], rows = min(8, tile_end[y] - p0);
#pragma unroll
    for (int m = 0; m < 8; m++) {
        int p = p0 + (m < rows ? m : 0);
        xr[m] = row_index ? (long)(row_index[p] / row_div) : (long)p;
        orow[m] = p;
    }
    return rows;
}

template <typename TW>
__device__ void moe_gemv_bf16(const bf16* x, long ldx, const int* row_index, int row_div, const long long* w_ptrs,
                              const long long* s_ptrs, int scale_cols, int block_rows, const int* tile_expert,
                              const int* tile_begin, const int* tile_end, const int* num_tiles, bf16* out, long ldo,
                              int N, int K) {
    int y = blockIdx.y;
    if (y >= *num_tiles) return;
    int n = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (n >= N) return;
    long xr[8], orow[8];
    int rows = moe_gemv_tile<TW>(row_index, row_div, tile_begin, tile_end, y, xr, orow);
    int e = tile_expert[y];
    const TW* w = reinterpret_cast<const TW*>(w_ptrs[e]);
    const float* s = s_ptrs ? reinterpret_cast<const float*>(s_ptrs[e]) : nullptr;
    gemv_rows<TW, 8>(x, ldx, xr, w, s, scale_cols, block_rows, nullptr, out, ldo, orow, rows, n, K);
}

// The experts' gate and up projections and SwiGLU in one launch: out[p] = silu(gate_e x) * (up_e x).
template <typename TW>
__device__ void moe_gemv_gate_up_bf16(const bf16* x, long ldx, const int* row_index, int row_div, const long long* g_ptrs,
                                      const long long* u_ptrs, const long long* gs_ptrs, const long long* us_ptrs, int scale_cols,
                                      int block_rows, const int* tile_expert, const int* tile_begin, const int* tile_end,
                                      const int* num_tiles, bf16* out, long ldo, int N, int K) {
    int y = blockIdx.y;
    if (y >= *num_tiles) return;
    int n = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (n >= N) return;
    long xr[8], orow[8];
    int rows = moe_gemv_tile<TW>(row_index, row_div, tile_begin, tile_end, y, xr, orow);
    int e = tile_expert[y];
    gemv_gate_up_rows<TW, 8>(x, ldx, xr, reinterpret_cast<const TW*>(g_ptrs[e]), reinterpret_cast<const TW*>(u_ptrs[e]),
                             gs_ptrs ? reinterpret_cast<const float*>(gs_ptrs[e]) : nullptr,
                             us_ptrs ? reinterpret_cast<const float*>(us_ptrs[e]) : nullptr, scale_cols, block_rows, out, ldo,
                             orow, rows, n, K);
}

// Tensor-core (WMMA bf16, float accumulation) variant of gemm_tile for bf16 activations: the same tiles, row
// gathers and expert groups, weights widened to bf16 on the way into shared memory with their fp8 block scale
// folded in. Used in bf16 mode for the expert GEMMs of prefill-sized groups and wherever cuBLASLt is not.
#include <mma.h>

template <typename TW>
__device__ __forceinline__ void gemm_tile_tc(const bf16* __restrict__ x, long ldx, const int* __restrict__ row_index, int row_div,
                                             int row_begin, int row_end, const TW* __restrict__ w,
                                             const float* __restrict__ scales, int scale_cols, int block_rows,
                                             const float* __restrict__ bias, bf16* __restrict__ out, long ldo, int n0, int N, int K) {
    using namespace nvcuda;
    constexpr int LDS = GEMM_BK + 8;   // bf16 elements per smem row (16-byte padding against bank conflicts)
    constexpr int LDC = GEMM_BN + 4;
    __shared__ __align__(32) bf16 As[GEMM_BM * LDS];
    __shared__ __align__(32) bf16 Bs[GEMM_BN * LDS];
    __shared__ __align__(32) float Cs[GEMM_BM * LDC];
    int tid = threadIdx.x, warp = tid >> 5;
    int lr = tid >> 2, lk = (tid & 3) * 8;
    int p_load = row_begin + lr;
    bool a_valid = p_load < row_end;
    long a_row = 0;
    if (a_valid) a_row = row_index ? (long)(row_index[p_load] / row_div) : (long)p_load;
    const bf16* a_src = x + a_row * ldx;
    int n_load = n0 + lr;
    bool b_valid = n_load < N;
    const TW* b_src = w + (long)(b_valid ? n_load : 0) * K;
    const float* b_scales = (scales && b_valid) ? scales + (long)(n_load / block_rows) * scale_cols : nullptr;
    // warp w computes rows [16 * (w / 2), +16) and columns [32 * (w % 2), +32): two 16x16 accumulators
    int wm = (warp >> 1) * 16, wn = (warp & 1) * 32;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc0, acc1;
    wmma::fill_fragment(acc0, 0.f);
    wmma::fill_fragment(acc1, 0.f);
    for (int k0 = 0; k0 < K; k0 += GEMM_BK) {
        float s = b_scales ? b_scales[k0 / GEMM_CHUNK] : 1.f;
#pragma unroll
        for (int q = 0; q < 8; q++) {
            int k = k0 + lk + q;
            As[lr * LDS + lk + q] = (a_valid && k < K) ? a_src[k] : __float2bfloat16_rn(0.f);
            Bs[lr * LDS + lk + q] = __float2bfloat16_rn((b_valid && k < K) ? to_f(b_src[k]) * s : 0.f);
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < GEMM_BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
            wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> b0, b1;
            wmma::load_matrix_sync(a, As + wm * LDS + kk, LDS);
            wmma::load_matrix_sync(b0, Bs + wn * LDS + kk, LDS);
            wmma::load_matrix_sync(b1, Bs + (wn + 16) * LDS + kk, LDS);
            wmma::mma_sync(acc0, a, b0, acc0);
            wmma::mma_sync(acc1, a, b1, acc1);
        }
        __syncthreads();
    }
    wmma::store_matrix_sync(Cs + wm * LDC + wn, acc0, LDC, wmma::mem_row_major);
    wmma::store_matrix_sync(Cs + wm * LDC + wn + 16, acc1, LDC, wmma::mem_row_major);
    __syncthreads();
    for (int i = tid; i < GEMM_BM * GEMM_BN; i += GEMM_THREADS) {
        int r = i / GEMM_BN, c = i % GEMM_BN, p = row_begin + r, n = n0 + c;
        if (p < row_end && n < N) out[(long)p * ldo + n] = __float2bfloat16_rn(Cs[r * LDC + c] + (bias ? bias[n] : 0.f));
    }
}

template <typename TW>
__device__ void gemm_tc(const bf16* x, long ldx, long x_bstride, const TW* w, long w_bstride, const float* scales, int scale_cols,
                        int block_rows, const float* bias, bf16* out, long ldo, long o_bstride, int M, int N, int K) {
    long z = blockIdx.z;
    gemm_tile_tc<TW>(x + z * x_bstride, ldx, nullptr, 1, blockIdx.y * GEMM_BM, M, w + z * w_bstride, scales, scale_cols,
                     block_rows, bias, out + z * o_bstride, ldo, blockIdx.x * GEMM_BN, N, K);
}

template <typename TW>
__device__ void moe_gemm_tc(const bf16* x, long ldx, const int* row_index, int row_div, const long long* w_ptrs,
                            const long long* s_ptrs, int scale_cols, int block_rows, const int* tile_expert,
                            const int* tile_begin, const int* tile_end, const int* num_tiles, bf16* out, long ldo, int N, int K) {
    int y = blockIdx.y;
    if (y >= *num_tiles) return;
    int e = tile_expert[y];
    const TW* w = reinterpret_cast<const TW*>(w_ptrs[e]);
    const float* s = s_ptrs ? reinterpret_cast<const float*>(s_ptrs[e]) : nullptr;
    gemm_tile_tc<TW>(x, ldx, row_index, row_div, tile_begin[y], tile_end[y], w, s, scale_cols, block_rows, nullptr, out, ldo,
                     blockIdx.x * GEMM_BN, N, K);
}

// ---- entry points: launched by GemmKernels.java (KernelSignaturesTest checks that the two argument lists agree) ----
#define GEMM_KERNELS(T, S, TW, SW)                                                                                     \
    extern "C" __global__ void __launch_bounds__(GEMM_THREADS) gemm_##S##_##SW(                                        \
        const T* x, long ldx, long x_bstride, const TW* w, long w_bstride, const float* scales, int scale_cols,        \
        int block_rows, const float* bias, T* out, long ldo, long o_bstride, int M, int N, int K) { KILN_ENTRY;        \
        gemm<T, TW>(x, ldx, x_bstride, w, w_bstride, scales, scale_cols, block_rows, bias, out, ldo, o_bstride, M, N, K); \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(GEMM_THREADS) moe_gemm_##S##_##SW(                                    \
        const T* x, long ldx, const int* row_index, int row_div, const long long* w_ptrs, const long long* s_ptrs,     \
        int scale_cols, int block_rows, const int* tile_expert, const int* tile_begin, const int* tile_end,            \
        const int* num_tiles, T* out, long ldo, int N, int K) { KILN_ENTRY;                                            \
        moe_gemm<T, TW>(x, ldx, row_index, row_div, w_ptrs, s_ptrs, scale_cols, block_rows, tile_expert, tile_begin,   \
                        tile_end, num_tiles, out, ldo, N, K);                                                          \
    }
// float32 activations only: bf16 activations take the tensor-core GEMMs (GEMM_TC below)
GEMM_KERNELS(float, f32, float, wf32)
GEMM_KERNELS(float, f32, bf16, wbf16)
GEMM_KERNELS(float, f32, uint8_t, wfp8)

extern "C" __global__ void __launch_bounds__(256) gemv_bf16_wbf16(const bf16* x, long ldx, const bf16* w, const float* scales,
                                                                  int scale_cols, int block_rows, const float* bias, bf16* out,
                                                                  long ldo, int M, int N, int K) { KILN_ENTRY;
    gemv_bf16<bf16>(x, ldx, w, scales, scale_cols, block_rows, bias, out, ldo, M, N, K);
}
extern "C" __global__ void __launch_bounds__(256) gemv_bf16_wfp8(const bf16* x, long ldx, const uint8_t* w, const float* scales,
                                                                 int scale_cols, int block_rows, const float* bias, bf16* out,
                                                                 long ldo, int M, int N, int K) { KILN_ENTRY;
    gemv_bf16<uint8_t>(x, ldx, w, scales, scale_cols, block_rows, bias, out, ldo, M, N, K);
}

#define GEMV_GATE_UP(TW, SW)                                                                                           \
    extern "C" __global__ void __launch_bounds__(256, 2) gemv_gate_up_bf16_##SW(                                       \
        const bf16* x, long ldx, const TW* wg, const TW* wu, const float* sg, const float* su, int scale_cols,         \
        int block_rows, bf16* out, long ldo, int M, int N, int K) { KILN_ENTRY;                                        \
        gemv_gate_up_bf16<TW>(x, ldx, wg, wu, sg, su, scale_cols, block_rows, out, ldo, M, N, K);                      \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(256, 2) moe_gemv_gate_up_bf16_##SW(                                   \
        const bf16* x, long ldx, const int* row_index, int row_div, const long long* g_ptrs, const long long* u_ptrs,  \
        const long long* gs_ptrs, const long long* us_ptrs, int scale_cols, int block_rows, const int* tile_expert,    \
        const int* tile_begin, const int* tile_end, const int* num_tiles, bf16* out, long ldo, int N, int K) { KILN_ENTRY; \
        moe_gemv_gate_up_bf16<TW>(x, ldx, row_index, row_div, g_ptrs, u_ptrs, gs_ptrs, us_ptrs, scale_cols, block_rows, \
                                  tile_expert, tile_begin, tile_end, num_tiles, out, ldo, N, K);                       \
    }
GEMV_GATE_UP(bf16, wbf16)
GEMV_GATE_UP(uint8_t, wfp8)

#define MOE_GEMV(TW, SW)                                                                                               \
    extern "C" __global__ void __launch_bounds__(256, 2) moe_gemv_bf16_##SW(                                           \
        const bf16* x, long ldx, const int* row_index, int row_div, const long long* w_ptrs, const long long* s_ptrs,  \
        int scale_cols, int block_rows, const int* tile_expert, const int* tile_begin, const int* tile_end,            \
        const int* num_tiles, bf16* out, long ldo, int N, int K) { KILN_ENTRY;                                         \
        moe_gemv_bf16<TW>(x, ldx, row_index, row_div, w_ptrs, s_ptrs, scale_cols, block_rows, tile_expert, tile_begin, \
                          tile_end, num_tiles, out, ldo, N, K);                                                        \
    }
MOE_GEMV(bf16, wbf16)
MOE_GEMV(uint8_t, wfp8)

#define GEMM_TC(TW, SW)                                                                                                \
    extern "C" __global__ void __launch_bounds__(GEMM_THREADS) gemm_tc_bf16_##SW(                                      \
        const bf16* x, long ldx, long x_bstride, const TW* w, long w_bstride, const float* scales, int scale_cols,     \
        int block_rows, const float* bias, bf16* out, long ldo, long o_bstride, int M, int N, int K) { KILN_ENTRY;     \
        gemm_tc<TW>(x, ldx, x_bstride, w, w_bstride, scales, scale_cols, block_rows, bias, out, ldo, o_bstride, M, N, K); \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(GEMM_THREADS) moe_gemm_tc_bf16_##SW(                                  \
        const bf16* x, long ldx, const int* row_index, int row_div, const long long* w_ptrs, const long long* s_ptrs,  \
        int scale_cols, int block_rows, const int* tile_expert, const int* tile_begin, const int* tile_end,            \
        const int* num_tiles, bf16* out, long ldo, int N, int K) { KILN_ENTRY;                                         \
        moe_gemm_tc<TW>(x, ldx, row_index, row_div, w_ptrs, s_ptrs, scale_cols, block_rows, tile_expert, tile_begin,   \
                        tile_end, num_tiles, out, ldo, N, K);                                                          \
    }
GEMM_TC(float, wf32)
GEMM_TC(bf16, wbf16)
GEMM_TC(uint8_t, wfp8)
