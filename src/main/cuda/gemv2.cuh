// Decode GEMV, second version (bf16 activations, up to 8 rows; bf16 or fp8 weights): one warp per weight row (or
// per gate/up row pair), the row streamed with 16-byte loads of which L per lane and stream are issued before any
// is used (a whole 2,048-wide bf16 row per warp at M = 1: 4 KB in flight per stream). The first version (gemm.cuh)
// issues 4 loads per lane and runs gate and up one after the other, at 128 registers with spills in its MoE
// variants, far from the bandwidth (docs/cuda.md). MAXM is a template (1 or 8): a batch of one keeps the
// register count low enough for 3-4 blocks per SM. Weights bypass L1 (ld.global.nc.L1::no_allocate); x is read
// through L1 by every warp of the block.
//
// Needs K % 8 == 0 (bf16) / K % 16 == 0 (fp8), 16-byte aligned rows of x and W (ldx % 8 == 0). Not in canonical
// order (lanes split K): bf16 mode only, as the first version.
#pragma once
#include "common.cuh"
#include "moe_mma.cuh"
#include "attention.cuh"

#define GEMV2_WARPS 8

template <typename TW> struct GemvUnit;
template <> struct GemvUnit<bf16> {
    static constexpr int E = 8;
    __device__ __forceinline__ static void widen(uint4 raw, float (&f)[8]) {
        const __nv_bfloat162* p = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float2 v = __bfloat1622float2(p[i]);
            f[2 * i] = v.x;
            f[2 * i + 1] = v.y;
        }
    }
};
// fp8: the values as stored; gemv2_dot applies the block scale to each load's partial sum (16 weights share a
// 128-wide scale block), which saves a multiply per weight.
template <> struct GemvUnit<uint8_t> {
    static constexpr int E = 16;
    __device__ __forceinline__ static void widen(uint4 raw, float (&f)[16]) {
        const uint32_t* w = reinterpret_cast<const uint32_t*>(&raw);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            __half2_raw h0 = __nv_cvt_fp8x2_to_halfraw2((__nv_fp8x2_storage_t)(w[i] & 0xffffu), __NV_E4M3);
            __half2_raw h1 = __nv_cvt_fp8x2_to_halfraw2((__nv_fp8x2_storage_t)(w[i] >> 16), __NV_E4M3);
            float2 f0 = __half22float2(__half2(h0)), f1 = __half22float2(__half2(h1));
            f[4 * i] = f0.x;
            f[4 * i + 1] = f0.y;
            f[4 * i + 2] = f1.x;
            f[4 * i + 3] = f1.y;
        }
    }
};

// Prefetching before pdl_wait pays only for blocks resident while the previous kernel runs: grids of about one
// wave (8 blocks of 256 threads per SM on 132 SMs). A larger grid's (LM head) later blocks would prefetch into
// an L2 the first wave's prefetches already fill, and evict lines before their own loads use them. (Loads into
// registers before the wait, gemv2_dot's WAIT, have no such cost: a later block's loads are simply its loads.)
__device__ __forceinline__ bool gemv2_one_wave() { return gridDim.x * gridDim.y <= 1024; }

// Elements of a row one pass of gemv2_dot loads (L 16-byte loads per lane and stream).
template <typename TW, int MAXM> __host__ __device__ constexpr int gemv2_chunk() { return 32 * GemvUnit<TW>::E * (MAXM == 1 ? 8 : 4); }

// Lane partial sums of x_m . w_s for the NS weight rows w[s] (fp8 block scales of the row at sr[s], or null).
// WAIT: the caller has only triggered; the first pass's weight loads go out before pdl_wait (the weights are no
// earlier kernel's output), so a block resident while its predecessor runs streams them meanwhile (the whole row
// for bf16 rows of up to 2,048 at M = 1), and after the wait only x is read.
template <typename TW, int MAXM, int NS, bool WAIT = false>
__device__ __forceinline__ void gemv2_dot(const bf16* __restrict__ x, long ldx, const long (&xr)[MAXM], int M,
                                          const TW* const (&w)[NS], const float* const (&sr)[NS], int K, float (&acc)[NS][MAXM]) {
    constexpr int E = GemvUnit<TW>::E;
    constexpr int L = MAXM == 1 ? 8 : 4;
    constexpr bool SCALED = E == 16;  // fp8
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int s = 0; s < NS; s++)
#pragma unroll
        for (int m = 0; m < MAXM; m++) acc[s][m] = 0.f;
    uint4 wv[L][NS];
    auto load = [&](int k0) {
#pragma unroll
        for (int l = 0; l < L; l++) {
            const int k = k0 + l * 32 * E;
#pragma unroll
            for (int s = 0; s < NS; s++) wv[l][s] = k < K ? ldg_stream16(w[s] + k) : make_uint4(0u, 0u, 0u, 0u);
        }
    };
    int k0 = lane * E;
    load(k0);
    if constexpr (WAIT) pdl_wait();
    while (true) {
#pragma unroll
        for (int l = 0; l < L; l++) {
            const int k = k0 + l * 32 * E;
            if (k < K) {
                float wf[NS][E], sc[NS];
#pragma unroll
                for (int s = 0; s < NS; s++) {
                    GemvUnit<TW>::widen(wv[l][s], wf[s]);
                    sc[s] = sr[s] ? sr[s][k / 128] : 1.f;
                }
#pragma unroll
                for (int m = 0; m < MAXM; m++) {
                    if (m < M) {
                        const uint4* xp = reinterpret_cast<const uint4*>(x + xr[m] * ldx + k);
                        float part[NS];
#pragma unroll
                        for (int s = 0; s < NS; s++) part[s] = SCALED ? 0.f : acc[s][m];
#pragma unroll
                        for (int v = 0; v < E / 8; v++) {
                            uint4 xv = __ldg(xp + v);
                            float xf[8];
                            GemvUnit<bf16>::widen(xv, xf);
#pragma unroll
                            for (int s = 0; s < NS; s++) {
                                float a = part[s];
#pragma unroll
                                for (int i = 0; i < 8; i++) a = fmaf(xf[i], wf[s][8 * v + i], a);
                                part[s] = a;
                            }
                        }
#pragma unroll
                        for (int s = 0; s < NS; s++) acc[s][m] = SCALED ? fmaf(part[s], sc[s], acc[s][m]) : part[s];
                    }
                }
            }
        }
        k0 += 32 * E * L;
        if (k0 >= K) break;
        load(k0);
    }
}

// Rows per warp of the plain GEMVs: two at M = 1, so that a lane has twice the loads in flight (R1's fp8 matrices
// gain most, the block scale applied per load); one at M <= 8, where the registers for eight rows' sums leave no
// room. A grid-stride version that launched only the resident blocks and pulled each warp's next stretch of its
// rows into L2 ahead was slower on every V2-Lite and R1 matrix (docs/cuda.md).
template <int MAXM> struct GemvRows { static constexpr int NS = MAXM == 1 ? 2 : 1; };

// Rows n0 .. n0 + NS - 1 of W (block scales or null) against rows xr[m] of x, m < M: out[orow[m]][n] = x[xr[m]] . W[n]
// (+ bias[n]). Shared by the plain GEMVs and the grouped down projection, whose entry points only trigger: the
// first pass of weights goes out before the wait (gemv2_dot's WAIT).
template <typename TW, int MAXM>
__device__ __forceinline__ void gemv2_rows(const bf16* x, long ldx, const long (&xr)[MAXM], const long (&orow)[MAXM], int M, const TW* w,
                                           const float* scales, int scale_cols, int block_rows, const float* bias, bf16* out, long ldo,
                                           int N, int K, int n0) {
    constexpr int NS = GemvRows<MAXM>::NS;
    const TW* ws[NS];
    const float* ss[NS];
#pragma unroll
    for (int s = 0; s < NS; s++) {
        const int n = min(n0 + s, N - 1);  // a missing last row reads its neighbour and is not stored
        ws[s] = w + (long)n * K;
        ss[s] = scales ? scales + (long)(n / block_rows) * scale_cols : nullptr;
    }
    float acc[NS][MAXM];
    gemv2_dot<TW, MAXM, NS, true>(x, ldx, xr, M, ws, ss, K, acc);
#pragma unroll
    for (int s = 0; s < NS; s++) {
        const int n = n0 + s;
        const float b = bias && n < N ? bias[n] : 0.f;
#pragma unroll
        for (int m = 0; m < MAXM; m++) {
            if (m < M) {
                float v = warp_sum(acc[s][m]);
                if ((threadIdx.x & 31) == 0 && n < N) out[orow[m] * ldo + n] = __float2bfloat16_rn(v + b);
            }
        }
    }
}

// The part of a weight row past gemv2_dot's first pass, pulled into L2 before the wait for the previous kernel.
template <typename TW, int MAXM>
__device__ __forceinline__ void gemv2_prefetch_rest(const TW* row, int K) {
    constexpr int C = gemv2_chunk<TW, MAXM>();
    if (K > C && gemv2_one_wave()) prefetch_l2(row + C, (long)(K - C) * sizeof(TW));
}

// Rows n0 .. n0 + NS - 1 of one matrix for this warp, x's rows 0 .. M - 1. The weight rows' first pass is loaded
// and the rest prefetched before the wait for the previous kernel (the entry point only triggered).
template <typename TW, int MAXM>
__device__ __forceinline__ void gemv2_row(const bf16* x, long ldx, const TW* w, const float* scales, int scale_cols, int block_rows,
                                          const float* bias, bf16* out, long ldo, int M, int N, int K, int n0) {
    constexpr int NS = GemvRows<MAXM>::NS;
    if (n0 >= N) return;  // writes nothing: needs no wait
#pragma unroll
    for (int s = 0; s < NS; s++)
        if (n0 + s < N) gemv2_prefetch_rest<TW, MAXM>(w + (long)(n0 + s) * K, K);
    long xr[MAXM];
#pragma unroll
    for (int m = 0; m < MAXM; m++) xr[m] = m;
    gemv2_rows<TW, MAXM>(x, ldx, xr, xr, M, w, scales, scale_cols, block_rows, bias, out, ldo, N, K, n0);
}

// out[z][m][n] = x[z][m] . W[z][n] (+ bias[n]); z = blockIdx.y (MLA's per-head matrices), NS rows per warp.
// grid (ceil(N / (8 NS)), batches), 256 threads.
template <typename TW, int MAXM>
__device__ void gemv2(const bf16* x, long ldx, long x_bstride, const TW* w, long w_bstride, const float* scales, int scale_cols,
                      int block_rows, const float* bias, bf16* out, long ldo, long o_bstride, int M, int N, int K) {
    const long z = blockIdx.y;
    constexpr int NS = GemvRows<MAXM>::NS;
    gemv2_row<TW, MAXM>(x + z * x_bstride, ldx, w + z * w_bstride, scales, scale_cols, block_rows, bias, out + z * o_bstride, ldo, M, N,
                        K, (blockIdx.x * GEMV2_WARPS + (threadIdx.x >> 5)) * NS);
}

// Few rows and long ones (a MoE router: R1's 256 x 7,168, V2-Lite's 64 x 2,048): gemv2 would run 16 or 4 blocks.
// Here S warps share a row, each over K / S columns (a multiple of 128 for fp8's block scales), and the slice sums
// are added in slice order through shared memory. grid (ceil(N / (8 / S))), 256 threads.
template <typename TW, int MAXM>
__device__ void gemv2_splitk(const bf16* x, long ldx, const TW* w, const float* scales, int scale_cols, int block_rows,
                             const float* bias, bf16* out, long ldo, int M, int N, int K, int S) {
    __shared__ float part[GEMV2_WARPS][MAXM];
    const int warp = threadIdx.x >> 5, n = blockIdx.x * (GEMV2_WARPS / S) + warp / S, slice = warp % S, ks = K / S, kb = slice * ks;
    long xr[MAXM];
#pragma unroll
    for (int m = 0; m < MAXM; m++) xr[m] = m;
    float acc[1][MAXM];
    if (n < N) {
        gemv2_prefetch_rest<TW, MAXM>(w + (long)n * K + kb, ks);
        const TW* ws[1] = {w + (long)n * K + kb};
        const float* ss[1] = {scales ? scales + (long)(n / block_rows) * scale_cols + kb / 128 : nullptr};
        gemv2_dot<TW, MAXM, 1, true>(x + kb, ldx, xr, M, ws, ss, ks, acc);
    } else {
        pdl_wait();  // its slice sum (0) goes through shared memory to a thread that writes
    }
#pragma unroll
    for (int m = 0; m < MAXM; m++) {
        float v = n < N && m < M ? warp_sum(acc[0][m]) : 0.f;
        if ((threadIdx.x & 31) == 0) part[warp][m] = v;
    }
    __syncthreads();
    if (n < N && slice == 0 && (threadIdx.x & 31) < M) {
        const int m = threadIdx.x & 31;
        float v = bias ? bias[n] : 0.f, sum = 0.f;
        for (int i = 0; i < S; i++) sum += part[warp + i][m];
        out[m * ldo + n] = __float2bfloat16_rn(sum + v);
    }
}

// Two matrices of the same input in one launch (MLA's q / q_a and kv_a projections): blocks [0, ceil(NA / (8 NS)))
// take A's rows, the rest B's. One launch's fixed cost instead of two.
template <typename TW, int MAXM>
__device__ void gemv2_pair(const bf16* x, long ldx, const TW* wa, const float* sa, int sca, int bra, bf16* oa, long ldoa, int na,
                           const TW* wb, const float* sb, int scb, int brb, bf16* ob, long ldob, int nb, int M, int K) {
    constexpr int NS = GemvRows<MAXM>::NS, PER_BLOCK = GEMV2_WARPS * NS;
    const int blocks_a = (na + PER_BLOCK - 1) / PER_BLOCK;
    const int warp = threadIdx.x >> 5;
    if ((int)blockIdx.x < blocks_a)
        gemv2_row<TW, MAXM>(x, ldx, wa, sa, sca, bra, nullptr, oa, ldoa, M, na, K, (blockIdx.x * GEMV2_WARPS + warp) * NS);
    else
        gemv2_row<TW, MAXM>(x, ldx, wb, sb, scb, brb, nullptr, ob, ldob, M, nb, K, ((blockIdx.x - blocks_a) * GEMV2_WARPS + warp) * NS);
}

// silu(x . gate_n) * (x . up_n) per row, gate and up rounded to bf16 first (as linear + linear + silu_mul).
template <int MAXM>
__device__ __forceinline__ void gemv2_store_swiglu(const float (&acc)[2][MAXM], int M, bf16* out, long ldo, const long (&orow)[MAXM],
                                                   int n) {
#pragma unroll
    for (int m = 0; m < MAXM; m++) {
        if (m < M) {
            float a = to_f(__float2bfloat16_rn(warp_sum(acc[0][m]))), b = to_f(__float2bfloat16_rn(warp_sum(acc[1][m])));
            if ((threadIdx.x & 31) == 0) out[orow[m] * ldo + n] = __float2bfloat16_rn(a / (1.f + expf(-a)) * b);
        }
    }
}

template <typename TW, int MAXM>
__device__ void gemv2_gate_up(const bf16* x, long ldx, const TW* wg, const TW* wu, const float* sg, const float* su, int scale_cols,
                              int block_rows, bf16* out, long ldo, int M, int N, int K) {
    const int n = blockIdx.x * GEMV2_WARPS + (threadIdx.x >> 5);
    if (n >= N) return;  // writes nothing: needs no wait (the entry point only triggered)
    gemv2_prefetch_rest<TW, MAXM>(wg + (long)n * K, K);
    gemv2_prefetch_rest<TW, MAXM>(wu + (long)n * K, K);
    long xr[MAXM];
#pragma unroll
    for (int m = 0; m < MAXM; m++) xr[m] = m;
    const TW* ws[2] = {wg + (long)n * K, wu + (long)n * K};
    const long so = (long)(n / block_rows) * scale_cols;
    const float* ss[2] = {sg ? sg + so : nullptr, su ? su + so : nullptr};
    float acc[2][MAXM];
    gemv2_dot<TW, MAXM, 2, true>(x, ldx, xr, M, ws, ss, K, acc);
    gemv2_store_swiglu<MAXM>(acc, M, out, ldo, xr, n);
}

// Grouped GEMV of the routed experts: tile y = up to 8 rows of one expert (moe_align, tile_rows 8); input row of
// sorted position p is row_index ? row_index[p] / row_div : p, output row p. grid (ceil(N / 8), max tiles).
template <int MAXM>
__device__ __forceinline__ int moe_gemv2_tile(const int* row_index, int row_div, const int* tile_begin, const int* tile_end, int y,
                                              long (&xr)[MAXM], long (&orow)[MAXM]) {
    const int p0 = tile_begin[y], rows = min(MAXM, tile_end[y] - p0);
#pragma unroll
    for (int m = 0; m < MAXM; m++) {
        int p = p0 + (m < rows ? m : 0);
        xr[m] = row_index ? (long)(row_index[p] / row_div) : (long)p;
        orow[m] = p;
    }
    return rows;
}

// The down projection: the entry point only triggered, and the kernel before it (the gate/up projection) triggers
// only after its own wait, so the routing that kernel read is complete: the tile, the rows and the first pass of the
// expert's weights are read before the wait, which then covers only x (the gate/up output).
template <typename TW, int MAXM>
__device__ void moe_gemv2(const bf16* x, long ldx, const int* row_index, int row_div, const long long* w_ptrs, const long long* s_ptrs,
                          int scale_cols, int block_rows, const int* tile_expert, const int* tile_begin, const int* tile_end,
                          const int* num_tiles, bf16* out, long ldo, int N, int K) {
    constexpr int NS = GemvRows<MAXM>::NS;
    const int y = blockIdx.y;
    if (y >= *num_tiles) return;
    const int n0 = (blockIdx.x * GEMV2_WARPS + (threadIdx.x >> 5)) * NS;
    if (n0 >= N) return;
    long xr[MAXM], orow[MAXM];
    const int rows = moe_gemv2_tile<MAXM>(row_index, row_div, tile_begin, tile_end, y, xr, orow);
    const int e = tile_expert[y];
    gemv2_rows<TW, MAXM>(x, ldx, xr, orow, rows, reinterpret_cast<const TW*>(w_ptrs[e]),
                          s_ptrs ? reinterpret_cast<const float*>(s_ptrs[e]) : nullptr, scale_cols, block_rows, nullptr, out, ldo, N, K, n0);
}

template <typename TW, int MAXM>
__device__ void moe_gemv2_gate_up(const bf16* x, long ldx, const int* row_index, int row_div, const long long* g_ptrs,
                                  const long long* u_ptrs, const long long* gs_ptrs, const long long* us_ptrs, int scale_cols,
                                  int block_rows, const int* tile_expert, const int* tile_begin, const int* tile_end,
                                  const int* num_tiles, bf16* out, long ldo, int N, int K) {
    const int y = blockIdx.y;
    if (y >= *num_tiles) return;
    const int n = blockIdx.x * GEMV2_WARPS + (threadIdx.x >> 5);
    if (n >= N) return;
    long xr[MAXM], orow[MAXM];
    const int rows = moe_gemv2_tile<MAXM>(row_index, row_div, tile_begin, tile_end, y, xr, orow);
    const int e = tile_expert[y];
    const TW* ws[2] = {reinterpret_cast<const TW*>(g_ptrs[e]) + (long)n * K, reinterpret_cast<const TW*>(u_ptrs[e]) + (long)n * K};
    const long so = (long)(n / block_rows) * scale_cols;
    const float* ss[2] = {gs_ptrs ? reinterpret_cast<const float*>(gs_ptrs[e]) + so : nullptr,
                          us_ptrs ? reinterpret_cast<const float*>(us_ptrs[e]) + so : nullptr};
    float acc[2][MAXM];
    gemv2_dot<TW, MAXM, 2>(x, ldx, xr, rows, ws, ss, K, acc);
    gemv2_store_swiglu<MAXM>(acc, rows, out, ldo, orow, n);
}

// Per-head matrices with short rows (MLA's absorbed W_UK: K = 128, W_UV: K = 512): out[z][m][n] = x[z][m] . W[z][n],
// z = blockIdx.y. gemv2 gives a row a whole warp, so at K = 128 half the lanes idle and every lane has one load in
// flight (R1's W_UK: 8,192 blocks, 21 us for 17 MB). Here a row takes G = min(32, K / 8) lanes and LPR 16-byte
// loads per lane, and a warp takes PASSES rows per lane group, so that each lane has 8 loads in flight.
// grid (ceil(N / gemv_heads_rows(K)), heads), 256 threads.
template <int K> struct GemvHeads {
    static constexpr int G = K / 8 < 32 ? K / 8 : 32, LPR = K / (8 * G), GROUPS = 32 / G, PASSES = 8 / LPR;
    static constexpr int ROWS_PER_WARP = GROUPS * PASSES, ROWS_PER_BLOCK = GEMV2_WARPS * ROWS_PER_WARP;
    static_assert(K % 8 == 0 && 32 % G == 0 && LPR <= 8 && 8 % LPR == 0, "gemv_heads: K of 8..2048 values, a power of two");
};

// MLA decode's split partial results (mla_decode.cuh) for gemv_heads to merge itself: x is then each head's
// merged row (one token), rounded to bf16 as attention_combine rounds it, so the result is the same as combine +
// gemv_heads, one launch and one round trip fewer.
struct HeadsMerge {
    const int* token_visible;
    int max_splits, split_min;
    const float* partial_acc;
    const float* partial_ml;
};

// bx, z: this block's row block and head (-1: blockIdx.x and blockIdx.y), for launches that give blocks other roles too.
template <int K, int MAXM, bool MERGE = false>
__device__ void gemv_heads(const bf16* x, long ldx, long x_bstride, const bf16* w, long w_bstride, bf16* out, long ldo, long o_bstride,
                           int M, int N, HeadsMerge merge = {}, int bx = -1, long z = -1) {
    using H = GemvHeads<K>;
    static_assert(!MERGE || MAXM == 1, "gemv_heads: the merge takes one token");
    if (bx < 0) {
        bx = blockIdx.x;
        z = blockIdx.y;
    }
    const int lane = threadIdx.x & 31, group = lane / H::G, gl = lane % H::G;
    const int row0 = (bx * GEMV2_WARPS + (threadIdx.x >> 5)) * H::ROWS_PER_WARP;
    x += z * x_bstride;
    w += z * w_bstride;
    out += z * o_bstride;
    // the weights are no earlier kernel's output: their loads go out before the wait
    uint4 wv[8];
#pragma unroll
    for (int j = 0; j < 8; j++) {
        const int row = row0 + (j / H::LPR) * H::GROUPS + group, k = ((j % H::LPR) * H::G + gl) * 8;
        wv[j] = row < N ? ldg_stream16(w + (long)row * K + k) : make_uint4(0u, 0u, 0u, 0u);
    }
    // the batch description is copied before the step's first kernel: the split count is known before the wait
    // (read after it, it is a DRAM round trip ahead of the merge)
    const int splits = MERGE ? att_splits(merge.token_visible[0], merge.max_splits, merge.split_min) : 1;
    pdl_wait();
    if constexpr (MERGE) {
        __shared__ float weight[ATT_MAX_SPLITS];
        __shared__ __align__(16) bf16 merged[K];
        if (splits > 1) {  // else the attention kernel wrote x itself
            const long base = z * merge.max_splits;
            if (threadIdx.x < 32) att_merge_weights(merge.partial_ml, base, splits, weight);
            __syncthreads();
            for (int d = threadIdx.x; d < K; d += blockDim.x)
                merged[d] = __float2bfloat16_rn(att_merge_column(merge.partial_acc, base, splits, K, d, weight));
            __syncthreads();
            x = merged;
        }
    }
    if (row0 >= N) return;
    float acc[H::PASSES][MAXM];
#pragma unroll
    for (int p = 0; p < H::PASSES; p++)
#pragma unroll
        for (int m = 0; m < MAXM; m++) acc[p][m] = 0.f;
#pragma unroll
    for (int j = 0; j < 8; j++) {
        const int k = ((j % H::LPR) * H::G + gl) * 8;
        float wf[8];
        GemvUnit<bf16>::widen(wv[j], wf);
#pragma unroll
        for (int m = 0; m < MAXM; m++) {
            if (m < M) {
                float xf[8];
                const uint4* xp = reinterpret_cast<const uint4*>(x + m * ldx + k);
                GemvUnit<bf16>::widen(MERGE ? *xp : __ldg(xp), xf);  // merged rows live in shared memory
                float a = acc[j / H::LPR][m];
#pragma unroll
                for (int i = 0; i < 8; i++) a = fmaf(xf[i], wf[i], a);
                acc[j / H::LPR][m] = a;
            }
        }
    }
#pragma unroll
    for (int p = 0; p < H::PASSES; p++) {
        const int row = row0 + p * H::GROUPS + group;
#pragma unroll
        for (int m = 0; m < MAXM; m++) {
            if (m < M) {
                float v = acc[p][m];
#pragma unroll
                for (int o = H::G / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
                if (gl == 0 && row < N) out[m * ldo + row] = __float2bfloat16_rn(v);
            }
        }
    }
}

// ---- entry points: launched by Gemv2Kernels.java (KernelSignaturesTest checks that the two argument lists agree) ----
// The grouped expert GEMVs (gemv2.cuh). The gate/up projection triggers its dependents only after its own wait, so
// the down projection after it may read the routing (then complete) and issue its first weight loads before its
// wait (moe_gemv2).
// table_experts > 0 (at most MOE_TABLE_MAX): gate/up copies the experts' pointer tables into shared memory before
// its wait. They are no kernel's output, and read after the wait they are one more DRAM round trip (the step
// streams each layer's weights past them) between the routing and the first weight load. That pays for one token;
// at batch 8 the thousands of blocks each copying the tables cost more than it saves (docs/cuda.md), so one token only.
#define MOE_TABLE_MAX 256
#define MOE_GEMV2(TW, SW, MAXM, SM)                                                                                    \
    extern "C" __global__ void __launch_bounds__(GEMV2_WARPS * 32) moe_gemv2_bf16_##SW##_##SM(                         \
        const bf16* x, long ldx, const int* row_index, int row_div, const long long* w_ptrs, const long long* s_ptrs,  \
        int scale_cols, int block_rows, const int* tile_expert, const int* tile_begin, const int* tile_end,            \
        const int* num_tiles, bf16* out, long ldo, int N, int K) {                                                     \
        pdl_trigger();                                                                                                 \
        moe_gemv2<TW, MAXM>(x, ldx, row_index, row_div, w_ptrs, s_ptrs, scale_cols, block_rows, tile_expert,          \
                            tile_begin, tile_end, num_tiles, out, ldo, N, K);                                          \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(GEMV2_WARPS * 32) moe_gemv2_gate_up_bf16_##SW##_##SM(                 \
        const bf16* x, long ldx, const int* row_index, int row_div, const long long* g_ptrs, const long long* u_ptrs,  \
        const long long* gs_ptrs, const long long* us_ptrs, int scale_cols, int block_rows, const int* tile_expert,    \
        const int* tile_begin, const int* tile_end, const int* num_tiles, bf16* out, long ldo, int N, int K,           \
        int table_experts) {                                                                                           \
        __shared__ long long tables[4][MOE_TABLE_MAX];                                                                 \
        if (table_experts > 0) {                                                                                       \
            for (int i = threadIdx.x; i < table_experts; i += blockDim.x) {                                            \
                tables[0][i] = g_ptrs[i];                                                                              \
                tables[1][i] = u_ptrs[i];                                                                              \
                if (gs_ptrs) tables[2][i] = gs_ptrs[i];                                                                \
                if (us_ptrs) tables[3][i] = us_ptrs[i];                                                                \
            }                                                                                                          \
            __syncthreads();                                                                                           \
            g_ptrs = tables[0];                                                                                        \
            u_ptrs = tables[1];                                                                                        \
            if (gs_ptrs) gs_ptrs = tables[2];                                                                          \
            if (us_ptrs) us_ptrs = tables[3];                                                                          \
        }                                                                                                              \
        pdl_wait();                                                                                                    \
        pdl_trigger();                                                                                                 \
        moe_gemv2_gate_up<TW, MAXM>(x, ldx, row_index, row_div, g_ptrs, u_ptrs, gs_ptrs, us_ptrs, scale_cols,          \
                                    block_rows, tile_expert, tile_begin, tile_end, num_tiles, out, ldo, N, K);         \
    }

// Decode GEMV, second version (gemv2.cuh): _m1 for one row, _m8 for up to 8.
#define GEMV2(TW, SW, MAXM, SM)                                                                                        \
    extern "C" __global__ void __launch_bounds__(GEMV2_WARPS * 32) gemv2_bf16_##SW##_##SM(                             \
        const bf16* x, long ldx, long x_bstride, const TW* w, long w_bstride, const float* scales, int scale_cols,     \
        int block_rows, const float* bias, bf16* out, long ldo, long o_bstride, int M, int N, int K) { pdl_trigger();  \
        gemv2<TW, MAXM>(x, ldx, x_bstride, w, w_bstride, scales, scale_cols, block_rows, bias, out, ldo, o_bstride, M, N, K); \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(GEMV2_WARPS * 32) gemv2_splitk_bf16_##SW##_##SM(                      \
        const bf16* x, long ldx, const TW* w, const float* scales, int scale_cols, int block_rows, const float* bias,  \
        bf16* out, long ldo, int M, int N, int K, int S) { pdl_trigger();                                              \
        gemv2_splitk<TW, MAXM>(x, ldx, w, scales, scale_cols, block_rows, bias, out, ldo, M, N, K, S);                 \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(GEMV2_WARPS * 32) gemv2_pair_bf16_##SW##_##SM(                        \
        const bf16* x, long ldx, const TW* wa, const float* sa, int sca, int bra, bf16* oa, long ldoa, int na,         \
        const TW* wb, const float* sb, int scb, int brb, bf16* ob, long ldob, int nb, int M, int K) { pdl_trigger();   \
        gemv2_pair<TW, MAXM>(x, ldx, wa, sa, sca, bra, oa, ldoa, na, wb, sb, scb, brb, ob, ldob, nb, M, K);            \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(GEMV2_WARPS * 32) gemv2_gate_up_bf16_##SW##_##SM(                     \
        const bf16* x, long ldx, const TW* wg, const TW* wu, const float* sg, const float* su, int scale_cols,         \
        int block_rows, bf16* out, long ldo, int M, int N, int K) { pdl_trigger();                                     \
        gemv2_gate_up<TW, MAXM>(x, ldx, wg, wu, sg, su, scale_cols, block_rows, out, ldo, M, N, K);                    \
    }                                                                                                                  \
    MOE_GEMV2(TW, SW, MAXM, SM)

GEMV2(bf16, wbf16, 1, m1)
GEMV2(bf16, wbf16, 8, m8)
GEMV2(uint8_t, wfp8, 1, m1)
GEMV2(uint8_t, wfp8, 8, m8)

// MLA's per-head matrices with short rows (gemv2.cuh, gemv_heads): K = 128 (W_UK) and 512 (W_UV), 1 or up to 8 rows.
#define GEMV_HEADS(K, MAXM, SM)                                                                                        \
    extern "C" __global__ void __launch_bounds__(GEMV2_WARPS * 32) gemv_heads_bf16_k##K##_##SM(                        \
        const bf16* x, long ldx, long x_bstride, const bf16* w, long w_bstride, bf16* out, long ldo, long o_bstride,   \
        int M, int N) { pdl_trigger();                                                                                 \
        gemv_heads<K, MAXM>(x, ldx, x_bstride, w, w_bstride, out, ldo, o_bstride, M, N);                               \
    }
GEMV_HEADS(128, 1, m1)
GEMV_HEADS(128, 8, m8)
GEMV_HEADS(512, 1, m1)
GEMV_HEADS(512, 8, m8)
// W_UV of one decode token straight from MLA decode's split results (gemv2.cuh, HeadsMerge)
extern "C" __global__ void __launch_bounds__(GEMV2_WARPS * 32) gemv_heads_merge_bf16_k512_m1(
    const bf16* x, long x_bstride, const bf16* w, long w_bstride, bf16* out, long o_bstride, int N, const int* token_visible,
    int max_splits, int split_min, const float* partial_acc, const float* partial_ml) { pdl_trigger();
    gemv_heads<512, 1, true>(x, 0, x_bstride, w, w_bstride, out, 0, o_bstride, 1, N,
                             HeadsMerge{token_visible, max_splits, split_min, partial_acc, partial_ml});
}
