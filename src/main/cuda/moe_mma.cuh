// Grouped expert GEMM on the tensor cores for batches of more than 8 tokens (bf16 activations; bf16 or fp8 weights).
//
// The old paths read each active expert's weights once per 8 rows (grouped GEMV) or ran WMMA tiles with scalar
// loads through shared memory; at 64 tokens of V2-Lite (6 rows per expert) that was 1.39 ms per layer for 1.1 GB
// of weights. Here a tile is up to 64 rows of one expert (moe_align with tile_rows 64, so an expert of a decode
// batch is one tile and its weights are read once), and each warp streams 8-row groups of weights straight from
// global memory into mma.sync m16n8k16 fragments, 16 bytes per lane per load, several loads in flight, no shared
// memory and no barriers. The x rows (gathered by expert order on the device) come through L1.
//
// Fragment trick: a dot product does not care about the order of k, so within each 16-wide mma step the logical k
// of the fragment layout is mapped to the k a lane loaded itself: lane (g = lane / 4, q = lane % 4) loads 16 bytes
// of weight row g at k = base + q * E (E = 8 bf16 or 16 fp8 weights) and the same columns of its two x rows
// (g, g + 8); mma j of that unit uses weights/x [4j, 4j + 4) of the lane's E, the first pair as the fragment's
// k = 2q, 2q + 1 and the second as 2q + 8, 2q + 9. A and B use the same map, so the product is exact.
// fp8 weights are widened to bf16 with their block scale folded in (as moe_gemm_tc does).
#pragma once
#include "common.cuh"
#include "mla_decode.cuh"

#define MMA_WARPS 4
#define MMA_MT 4         // 16-row m-tiles per tile: 64 rows
#define MMA_U 2          // 16-byte loads per lane and weight stream in flight per iteration

// volatile: the load stays under its bounds check (gemv2 guards loads past K; a pure asm could be speculated)
__device__ __forceinline__ uint4 ldg_stream16(const void* p) {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];\n" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
}

__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x (low 16 bits) = lo
    return *reinterpret_cast<uint32_t*>(&v);
}

// 4 e4m3 codes (byte 0 first) times s -> two bf16x2 words: (w0, w1) and (w2, w3)
__device__ __forceinline__ void fp8x4_to_bf16(uint32_t w, float s, uint32_t& lo, uint32_t& hi) {
    __half2_raw h0 = __nv_cvt_fp8x2_to_halfraw2((__nv_fp8x2_storage_t)(w & 0xffffu), __NV_E4M3);
    __half2_raw h1 = __nv_cvt_fp8x2_to_halfraw2((__nv_fp8x2_storage_t)(w >> 16), __NV_E4M3);
    float2 f0 = __half22float2(__half2(h0)), f1 = __half22float2(__half2(h1));
    lo = pack_bf16x2(f0.x * s, f0.y * s);
    hi = pack_bf16x2(f1.x * s, f1.y * s);
}

template <typename TW> struct MmaUnit;
template <> struct MmaUnit<bf16> {
    static constexpr int E = 8;  // weights per 16-byte load
    __device__ __forceinline__ static void widen(uint4 raw, float, uint32_t (&b)[4]) {
        b[0] = raw.x; b[1] = raw.y; b[2] = raw.z; b[3] = raw.w;
    }
};
template <> struct MmaUnit<uint8_t> {
    static constexpr int E = 16;
    __device__ __forceinline__ static void widen(uint4 raw, float s, uint32_t (&b)[8]) {
        fp8x4_to_bf16(raw.x, s, b[0], b[1]);
        fp8x4_to_bf16(raw.y, s, b[2], b[3]);
        fp8x4_to_bf16(raw.z, s, b[4], b[5]);
        fp8x4_to_bf16(raw.w, s, b[6], b[7]);
    }
};

// One warp: S streams of 8 weight rows (row g of stream s is ws[s]), all rows of the tile (mt m-tiles of 16),
// the whole K. acc[mi][s][0..3] is the m16n8 fragment of m-tile mi and stream s.
template <typename TW, int S>
__device__ __forceinline__ void moe_mma_warp(const bf16* const (&xrow)[MMA_MT][2], int mt, const TW* const (&ws)[S],
                                             const float* const (&ss)[S], int K, float (&acc)[MMA_MT][S][4]) {
    constexpr int E = MmaUnit<TW>::E, J = E / 4, STEP = 4 * E;
    const int q = threadIdx.x & 3;
#pragma unroll
    for (int mi = 0; mi < MMA_MT; mi++)
#pragma unroll
        for (int s = 0; s < S; s++) acc[mi][s][0] = acc[mi][s][1] = acc[mi][s][2] = acc[mi][s][3] = 0.f;
    for (int k0 = 0; k0 < K; k0 += STEP * MMA_U) {
        uint4 raw[MMA_U][S];
#pragma unroll
        for (int u = 0; u < MMA_U; u++)
#pragma unroll
            for (int s = 0; s < S; s++) raw[u][s] = ldg_stream16(ws[s] + k0 + u * STEP + q * E);
#pragma unroll
        for (int u = 0; u < MMA_U; u++) {
            const int k = k0 + u * STEP + q * E;
            uint32_t b[S][E / 2];
#pragma unroll
            for (int s = 0; s < S; s++) MmaUnit<TW>::widen(raw[u][s], ss[s] ? ss[s][k / 128] : 1.f, b[s]);
#pragma unroll
            for (int mi = 0; mi < MMA_MT; mi++) {
                if (mi < mt) {
                    uint32_t a0[E / 2], a1[E / 2];  // rows g and g + 8 of m-tile mi, this lane's E columns
#pragma unroll
                    for (int v = 0; v < E / 8; v++) {
                        uint4 r0 = __ldg(reinterpret_cast<const uint4*>(xrow[mi][0] + k) + v);
                        uint4 r1 = __ldg(reinterpret_cast<const uint4*>(xrow[mi][1] + k) + v);
                        a0[4 * v] = r0.x; a0[4 * v + 1] = r0.y; a0[4 * v + 2] = r0.z; a0[4 * v + 3] = r0.w;
                        a1[4 * v] = r1.x; a1[4 * v + 1] = r1.y; a1[4 * v + 2] = r1.z; a1[4 * v + 3] = r1.w;
                    }
#pragma unroll
                    for (int j = 0; j < J; j++)
#pragma unroll
                        for (int s = 0; s < S; s++)
                            mma_bf16_16816(acc[mi][s][0], acc[mi][s][1], acc[mi][s][2], acc[mi][s][3], a0[2 * j], a1[2 * j],
                                           a0[2 * j + 1], a1[2 * j + 1], b[s][2 * j], b[s][2 * j + 1]);
                }
            }
        }
    }
}

// Tile bookkeeping shared by both kernels: the tile's rows, their x row pointers (rows past the tile repeat its
// first row; their results are dropped) and the count of live m-tiles.
__device__ __forceinline__ int moe_mma_rows(const bf16* x, long ldx, const int* row_index, int row_div, int p0, int rows,
                                            const bf16* (&xrow)[MMA_MT][2]) {
    const int g = (threadIdx.x & 31) >> 2;
#pragma unroll
    for (int mi = 0; mi < MMA_MT; mi++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int r = mi * 16 + h * 8 + g;
            int p = p0 + (r < rows ? r : 0);
            long xr = row_index ? (long)(row_index[p] / row_div) : (long)p;
            xrow[mi][h] = x + xr * ldx;
        }
    return (rows + 15) >> 4;
}

// out[p][n] = x_p . W_e[n] for the rows p of each tile (expert e). Warp: 16 output columns (2 streams of 8).
// grid (ceil(N / 64), max tiles), 128 threads. Needs K % (8 * E) == 0, 16-byte aligned rows of x and W.
template <typename TW>
__device__ void moe_mma(const bf16* x, long ldx, const int* row_index, int row_div, const long long* w_ptrs,
                        const long long* s_ptrs, int scale_cols, int block_rows, const int* tile_expert, const int* tile_begin,
                        const int* tile_end, const int* num_tiles, bf16* out, long ldo, int N, int K) {
    constexpr int S = 2;
    const int y = blockIdx.y;
    if (y >= *num_tiles) return;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    const int nw = (blockIdx.x * MMA_WARPS + warp) * 8 * S;
    if (nw >= N) return;
    const int e = tile_expert[y], p0 = tile_begin[y], rows = tile_end[y] - p0;
    const TW* w = reinterpret_cast<const TW*>(w_ptrs[e]);
    const float* sc = s_ptrs ? reinterpret_cast<const float*>(s_ptrs[e]) : nullptr;
    const bf16* xrow[MMA_MT][2];
    const int mt = moe_mma_rows(x, ldx, row_index, row_div, p0, rows, xrow);
    const TW* ws[S];
    const float* ss[S];
#pragma unroll
    for (int s = 0; s < S; s++) {
        int n = min(nw + s * 8 + g, N - 1);  // groups past N read the last row; not stored
        ws[s] = w + (long)n * K;
        ss[s] = sc ? sc + (long)(n / block_rows) * scale_cols : nullptr;
    }
    float acc[MMA_MT][S][4];
    moe_mma_warp<TW, S>(xrow, mt, ws, ss, K, acc);
#pragma unroll
    for (int mi = 0; mi < MMA_MT; mi++) {
        if (mi >= mt) continue;
#pragma unroll
        for (int s = 0; s < S; s++) {
            int n = nw + s * 8 + 2 * q;
#pragma unroll
            for (int h = 0; h < 2; h++) {
                int r = mi * 16 + h * 8 + g;
                if (r >= rows) continue;
                bf16* o = out + (long)(p0 + r) * ldo + n;
                if (n + 1 < N) {
                    *reinterpret_cast<uint32_t*>(o) = pack_bf16x2(acc[mi][s][2 * h], acc[mi][s][2 * h + 1]);
                } else if (n < N) {
                    o[0] = __float2bfloat16_rn(acc[mi][s][2 * h]);
                }
            }
        }
    }
}

// SwiGLU's first half: out[p][n] = silu(x_p . G_e[n]) * (x_p . U_e[n]), both rounded to bf16 first (as the
// unfused linear + linear + silu_mul). Warp: 16 output columns (streams 0-1 gate, 2-3 up). Same grid and limits.
template <typename TW>
__device__ void moe_mma_gate_up(const bf16* x, long ldx, const int* row_index, int row_div, const long long* g_ptrs,
                                const long long* u_ptrs, const long long* gs_ptrs, const long long* us_ptrs, int scale_cols,
                                int block_rows, const int* tile_expert, const int* tile_begin, const int* tile_end,
                                const int* num_tiles, bf16* out, long ldo, int N, int K) {
    constexpr int S = 4;
    const int y = blockIdx.y;
    if (y >= *num_tiles) return;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    const int nw = (blockIdx.x * MMA_WARPS + warp) * 16;
    if (nw >= N) return;
    const int e = tile_expert[y], p0 = tile_begin[y], rows = tile_end[y] - p0;
    const bf16* xrow[MMA_MT][2];
    const int mt = moe_mma_rows(x, ldx, row_index, row_div, p0, rows, xrow);
    const TW* ws[S];
    const float* ss[S];
#pragma unroll
    for (int s = 0; s < S; s++) {
        int n = min(nw + (s & 1) * 8 + g, N - 1);
        const TW* base = reinterpret_cast<const TW*>(s < 2 ? g_ptrs[e] : u_ptrs[e]);
        const long long* sp = s < 2 ? gs_ptrs : us_ptrs;
        ws[s] = base + (long)n * K;
        ss[s] = sp ? reinterpret_cast<const float*>(sp[e]) + (long)(n / block_rows) * scale_cols : nullptr;
    }
    float acc[MMA_MT][S][4];
    moe_mma_warp<TW, S>(xrow, mt, ws, ss, K, acc);
#pragma unroll
    for (int mi = 0; mi < MMA_MT; mi++) {
        if (mi >= mt) continue;
#pragma unroll
        for (int s = 0; s < 2; s++) {
            int n = nw + s * 8 + 2 * q;
#pragma unroll
            for (int h = 0; h < 2; h++) {
                int r = mi * 16 + h * 8 + g;
                if (r >= rows) continue;
                float v[2];
#pragma unroll
                for (int c = 0; c < 2; c++) {
                    float a = to_f(__float2bfloat16_rn(acc[mi][s][2 * h + c]));
                    float b = to_f(__float2bfloat16_rn(acc[mi][s + 2][2 * h + c]));
                    v[c] = a / (1.f + expf(-a)) * b;
                }
                bf16* o = out + (long)(p0 + r) * ldo + n;
                if (n + 1 < N) {
                    *reinterpret_cast<uint32_t*>(o) = pack_bf16x2(v[0], v[1]);
                } else if (n < N) {
                    o[0] = __float2bfloat16_rn(v[0]);
                }
            }
        }
    }
}

// ---- entry points: launched by MoeMmaKernels.java (KernelSignaturesTest checks that the two argument lists agree) ----
// Grouped expert GEMM on the tensor cores for more than 8 tokens (moe_mma.cuh); tiles from moe_align with tile_rows 64.
#define MOE_MMA(TW, SW)                                                                                                \
    extern "C" __global__ void __launch_bounds__(MMA_WARPS * 32) moe_mma_bf16_##SW(                                    \
        const bf16* x, long ldx, const int* row_index, int row_div, const long long* w_ptrs, const long long* s_ptrs,  \
        int scale_cols, int block_rows, const int* tile_expert, const int* tile_begin, const int* tile_end,            \
        const int* num_tiles, bf16* out, long ldo, int N, int K) { KILN_ENTRY;                                         \
        moe_mma<TW>(x, ldx, row_index, row_div, w_ptrs, s_ptrs, scale_cols, block_rows, tile_expert, tile_begin,       \
                    tile_end, num_tiles, out, ldo, N, K);                                                              \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(MMA_WARPS * 32) moe_mma_gate_up_bf16_##SW(                            \
        const bf16* x, long ldx, const int* row_index, int row_div, const long long* g_ptrs, const long long* u_ptrs,  \
        const long long* gs_ptrs, const long long* us_ptrs, int scale_cols, int block_rows, const int* tile_expert,    \
        const int* tile_begin, const int* tile_end, const int* num_tiles, bf16* out, long ldo, int N, int K) { KILN_ENTRY; \
        moe_mma_gate_up<TW>(x, ldx, row_index, row_div, g_ptrs, u_ptrs, gs_ptrs, us_ptrs, scale_cols, block_rows,      \
                            tile_expert, tile_begin, tile_end, num_tiles, out, ldo, N, K);                             \
    }
MOE_MMA(bf16, wbf16)
MOE_MMA(uint8_t, wfp8)
