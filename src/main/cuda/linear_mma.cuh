// Dense linear layers of 2 to 64 rows on the tensor cores (bf16 activations; bf16 or fp8 weights).
//
// gemv2 (one warp per weight row, every product an FMA on the CUDA cores) is bandwidth-bound at one row, but at 8
// rows it issues 8 x loads, widenings and FMA chains per weight load and falls to a third of the bandwidth; the
// next path (cuBLASLt, or for fp8 weights a dequantised bf16 copy of the whole matrix) is built for prefill sizes.
// Here each warp runs moe_mma's loop (moe_mma.cuh: weights streamed from global memory straight into mma.sync
// fragments, x through L1) over one eighth of K for 16 output columns, and the CTA's 8 warps add their partial
// tiles in shared memory in warp order (deterministic):
//
//   CTA c: output columns [16c, 16c + 16)            warp w: K slice [w * Kw, (w + 1) * Kw), Kw whole chunks
//   smem red[w][m-tile][stream][fragment reg][lane]  then warp v sums the 8 slices of (m-tile, stream pair) v, v + 8, ...
//
// A grid of N / 16 CTAs of 8 warps keeps ~16 warps' loads in flight per SM for N of 4,096 and more.
// Needs K % (8 * E) == 0 (64 bf16 or 128 fp8 weights: moe_mma's chunk), 16-byte aligned rows of x and W, fp8
// block scales of 128 columns.
#pragma once
#include "common.cuh"
#include "moe_mma.cuh"

#define LMMA_WARPS 8

// out[m][n] = x[m] . W[n] (+ bias[n]), or with GATE_UP out[m][n] = silu(x[m] . G[n]) * (x[m] . U[n]) (both rounded
// to bf16 first, as the unfused linear + linear + silu_mul). Streams: 2 (one matrix) or 4 (gate 0-1, up 2-3) of 8
// rows each. grid ceil(N / 16), LMMA_WARPS * 32 threads, dynamic shared memory linear_mma_smem(mt, S).
template <typename TW, bool GATE_UP>
__device__ void linear_mma(const bf16* x, long ldx, const TW* w, const TW* wu, const float* sw, const float* su, int scale_cols,
                           int block_rows, const float* bias, bf16* out, long ldo, int M, int N, int K) {
    constexpr int S = GATE_UP ? 4 : 2;
    constexpr int CHUNK = 8 * MmaUnit<TW>::E;  // moe_mma_warp's K per iteration
    extern __shared__ float red[];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    const int n0 = blockIdx.x * 16;
    const int chunks = K / CHUNK, per = (chunks + LMMA_WARPS - 1) / LMMA_WARPS;
    const int k0 = min(warp * per, chunks) * CHUNK, k1 = min((warp + 1) * per, chunks) * CHUNK;
    const bf16* xrow[MMA_MT][2];
#pragma unroll
    for (int mi = 0; mi < MMA_MT; mi++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int r = mi * 16 + h * 8 + g;
            xrow[mi][h] = x + (long)(r < M ? r : 0) * ldx + k0;  // rows past M repeat row 0; their results are dropped
        }
    const int mt = (M + 15) >> 4;
    const TW* ws[S];
    const float* ss[S];
#pragma unroll
    for (int s = 0; s < S; s++) {
        const int n = min(n0 + (s & 1) * 8 + g, N - 1);  // columns past N read the last row; not stored
        const TW* base = GATE_UP && s >= 2 ? wu : w;
        const float* sc = GATE_UP && s >= 2 ? su : sw;
        ws[s] = base + (long)n * K + k0;
        ss[s] = sc ? sc + (long)(n / block_rows) * scale_cols + k0 / 128 : nullptr;
    }
    float acc[MMA_MT][S][4];
    moe_mma_warp<TW, S>(xrow, mt, ws, ss, k1 - k0, acc);
#pragma unroll
    for (int mi = 0; mi < MMA_MT; mi++) {
        if (mi >= mt) continue;
#pragma unroll
        for (int s = 0; s < S; s++)
#pragma unroll
            for (int i = 0; i < 4; i++) red[(((warp * mt + mi) * S + s) * 4 + i) * 32 + lane] = acc[mi][s][i];
    }
    __syncthreads();
    // (m-tile, column stream) pairs over the warps; with GATE_UP a pair is gate stream s and up stream s + 2
    constexpr int OUT_S = GATE_UP ? 2 : S;
    for (int p = warp; p < mt * OUT_S; p += LMMA_WARPS) {
        const int mi = p / OUT_S, s = p % OUT_S;
        float v[2][4];
#pragma unroll
        for (int t = 0; t < (GATE_UP ? 2 : 1); t++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                float a = 0.f;
                for (int u = 0; u < LMMA_WARPS; u++) a += red[(((u * mt + mi) * S + s + 2 * t) * 4 + i) * 32 + lane];
                v[t][i] = a;
            }
        const int n = n0 + s * 8 + 2 * q;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int r = mi * 16 + h * 8 + g;
            if (r >= M) continue;
            float o[2];
#pragma unroll
            for (int c = 0; c < 2; c++) {
                if constexpr (GATE_UP) {
                    const float a = to_f(__float2bfloat16_rn(v[0][2 * h + c])), b = to_f(__float2bfloat16_rn(v[1][2 * h + c]));
                    o[c] = a / (1.f + expf(-a)) * b;
                } else {
                    o[c] = v[0][2 * h + c] + (bias && n + c < N ? bias[n + c] : 0.f);
                }
            }
            bf16* dst = out + (long)r * ldo + n;
            if (n + 1 < N && (ldo & 1) == 0) {  // an odd ldo leaves every other row's pairs 2-byte aligned
                *reinterpret_cast<uint32_t*>(dst) = pack_bf16x2(o[0], o[1]);
            } else {
                if (n < N) dst[0] = __float2bfloat16_rn(o[0]);
                if (n + 1 < N) dst[1] = __float2bfloat16_rn(o[1]);
            }
        }
    }
}

// ---- entry points: launched by LinearMmaKernels.java (KernelSignaturesTest checks that the two argument lists agree) ----
#define LINEAR_MMA(TW, SW)                                                                                             \
    extern "C" __global__ void __launch_bounds__(LMMA_WARPS * 32) linear_mma_bf16_##SW(                                \
        const bf16* x, long ldx, const TW* w, const float* scales, int scale_cols, int block_rows, const float* bias,  \
        bf16* out, long ldo, int M, int N, int K) { KILN_ENTRY;                                                        \
        linear_mma<TW, false>(x, ldx, w, nullptr, scales, nullptr, scale_cols, block_rows, bias, out, ldo, M, N, K);   \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(LMMA_WARPS * 32) linear_mma_gate_up_bf16_##SW(                        \
        const bf16* x, long ldx, const TW* wg, const TW* wu, const float* sg, const float* su, int scale_cols,         \
        int block_rows, bf16* out, long ldo, int M, int N, int K) { KILN_ENTRY;                                        \
        linear_mma<TW, true>(x, ldx, wg, wu, sg, su, scale_cols, block_rows, nullptr, out, ldo, M, N, K);              \
    }
LINEAR_MMA(bf16, wbf16)
LINEAR_MMA(uint8_t, wfp8)
