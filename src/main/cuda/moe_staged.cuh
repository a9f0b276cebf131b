// Grouped expert GEMM for prefill-sized batches (bf16 activations; bf16 or fp8 experts), staged through shared memory.
//
// moe_mma (moe_mma.cuh) streams weights straight into fragments and reads x through L1 for every 16 output
// columns: it has no floor, but past one tile per expert it is bound by load latency at 75-90 TFLOP/s. Here a CTA
// owns a 128 x 128 output tile (128 rows of one expert from moe_align with tile_rows 128, 128 output columns) and
// walks K in steps of 32 through a 4-stage cp.async pipeline, so each x row and weight row is fetched once per tile
// and reused by every warp from shared memory:
//
//   stage s:  A[s] = 128 rows of x (gathered by row_index) x 32 k    B[s] = 128 weight rows x 32 k
//             rows padded to 40 bf16 (80 bytes), so the 8 row addresses of an ldmatrix fall in distinct 16-byte
//             bank groups
//   warps:    2 (rows) x 4 (columns), each 64 rows x 32 columns = 4 x 4 mma.sync m16n8k16 per 16 k
//
// Rows of a tile past its end are zero-filled and not stored; columns past N read row N - 1 and are not stored.
// The gate/up form puts 64 gate rows and the same 64 up rows in B (warp w takes gate columns [16w, 16w + 16) and the
// up columns beside them), so SwiGLU happens in registers: out = silu(bf16(x.g)) * bf16(x.u), moe_mma_gate_up's
// rounding. K % 32 == 0, 16-byte aligned rows of x and W. Shared memory 4 x 2 x 128 x 40 x 2 = 81,920 bytes.
//
// fp8 experts (128 x 128 scale blocks, K % 128 == 0): the pipeline carries the raw weight bytes (128 rows x 32 per
// stage), and each step widens its stage into one bf16 weight tile with the block scale folded in (moe_mma's
// rounding: bf16(w * s)), one 16-byte chunk per thread between two barriers (a step's 32 k lie in one 128-column
// scale block; each thread reads its row's scale). Shared memory 40,960 (x) + 16,384 (raw)
// + 10,240 (widened) = 67,584 bytes.
#pragma once
#include "common.cuh"
#include "mla_decode.cuh"
#include "moe_mma.cuh"

#define STG_BM 128
#define STG_BN 128
#define STG_BK 32
#define STG_PITCH (STG_BK + 8)
#define STG_STAGES 4
#define STG_THREADS 256

template <typename TW, bool GATE_UP>
__device__ void moe_staged(const bf16* x, long ldx, const int* row_index, int row_div, const long long* w_ptrs, const long long* u_ptrs,
                           const long long* ws_ptrs, const long long* us_ptrs, int scale_cols, const int* tile_expert,
                           const int* tile_begin, const int* tile_end, const int* num_tiles, bf16* out, long ldo, int N, int K) {
    constexpr bool FP8 = sizeof(TW) == 1;
    extern __shared__ __align__(16) unsigned char stg_smem[];
    bf16* as_all = reinterpret_cast<bf16*>(stg_smem);              // [STAGES][BM][PITCH]
    bf16* bs_all = as_all + STG_STAGES * STG_BM * STG_PITCH;         // bf16: [STAGES][BN][PITCH]; fp8: [BN][PITCH] widened
    uint8_t* raw_all = reinterpret_cast<uint8_t*>(bs_all + (FP8 ? 1 : STG_STAGES) * STG_BN * STG_PITCH);  // fp8: [STAGES][BN][BK]
    const int y = blockIdx.y;
    if (y >= *num_tiles) return;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, q = lane & 3;
    const int cols = GATE_UP ? STG_BN / 2 : STG_BN;  // output columns of this CTA
    const int n0 = blockIdx.x * cols;
    if (n0 >= N) return;
    const int e = tile_expert[y], p0 = tile_begin[y], rows = tile_end[y] - p0;
    const TW* W = reinterpret_cast<const TW*>(w_ptrs[e]);
    const TW* U = GATE_UP ? reinterpret_cast<const TW*>(u_ptrs[e]) : nullptr;

    // each thread copies two 16-byte chunks of A per stage (128 rows x 4 chunks), and two of B (bf16: 128 rows x 4
    // chunks) or one (fp8: 128 rows x 2 chunks)
    const bf16* a_src[2];
    const TW* b_src[2];
    int a_bytes[2], smem_off[2];
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int c = tid + i * STG_THREADS, r = c >> 2, ch = c & 3;
        const bool live = r < rows;
        const int p = p0 + (live ? r : 0);
        const long xr = row_index ? (long)(row_index[p] / row_div) : (long)p;
        a_src[i] = x + xr * ldx + ch * 8;
        a_bytes[i] = live ? 16 : 0;
        smem_off[i] = r * STG_PITCH + ch * 8;
        // bf16 B: the same (row, chunk) as A; fp8 B: row tid / 2, 16 of its 32 bytes (i = 0 only)
        const int br = FP8 ? tid >> 1 : r, bk = FP8 ? (tid & 1) * 16 : ch * 8;
        const int jj = GATE_UP ? (br & 63) : br;
        const int n = min(n0 + jj, N - 1);
        b_src[i] = (GATE_UP && br >= 64 ? U : W) + (long)n * K + bk;
    }
    // fp8: this thread widens weight row tid / 2, values [16 (tid & 1), +16) of each step; its block scales' row
    const float* b_scale = nullptr;
    if constexpr (FP8) {
        const int br = tid >> 1, n = min(n0 + (GATE_UP ? (br & 63) : br), N - 1);
        b_scale = reinterpret_cast<const float*>((GATE_UP && br >= 64 ? us_ptrs : ws_ptrs)[e]) + (long)(n / 128) * scale_cols;
    }
    auto load_stage = [&](int s, int k0) {
        bf16* as = as_all + s * STG_BM * STG_PITCH;
#pragma unroll
        for (int i = 0; i < 2; i++) cp_async16(smem_u32(as + smem_off[i]), a_src[i] + k0, a_bytes[i]);
        if constexpr (FP8) {
            cp_async16(smem_u32(raw_all + s * STG_BN * STG_BK + tid * 16), b_src[0] + k0, 16);
        } else {
            bf16* bs = bs_all + s * STG_BN * STG_PITCH;
#pragma unroll
            for (int i = 0; i < 2; i++) cp_async16(smem_u32(bs + smem_off[i]), b_src[i] + k0, 16);
        }
    };

    const int kt_count = K / STG_BK;
#pragma unroll
    for (int s = 0; s < STG_STAGES - 1; s++) {
        if (s < kt_count) load_stage(s, s * STG_BK);
        cp_async_commit();  // an empty group past the end keeps the wait counts uniform
    }

    const int wm = warp >> 2, wn = warp & 3;
    // ldmatrix addresses within a stage (bf16 elements): A rows wm*64 + mi*16 + (lane & 15), k (lane >> 4) * 8; B rows
    // of n-fragment pair (nf 2p, 2p + 1): base + (lane & 7) + (lane >> 4) * 8, k ((lane >> 3) & 1) * 8
    const int a_lane = (wm * 64 + (lane & 15)) * STG_PITCH + (lane >> 4) * 8;
    int b_lane[2];
#pragma unroll
    for (int pr = 0; pr < 2; pr++) {
        const int base = GATE_UP ? pr * 64 + wn * 16 : wn * 32 + pr * 16;
        b_lane[pr] = (base + (lane & 7) + (lane >> 4) * 8) * STG_PITCH + ((lane >> 3) & 1) * 8;
    }
    float acc[4][4][4];
#pragma unroll
    for (int mi = 0; mi < 4; mi++)
#pragma unroll
        for (int nf = 0; nf < 4; nf++) acc[mi][nf][0] = acc[mi][nf][1] = acc[mi][nf][2] = acc[mi][nf][3] = 0.f;

    for (int kt = 0; kt < kt_count; kt++) {
        cp_async_wait<STG_STAGES - 2>();
        __syncthreads();  // stage kt has landed for every thread, and every warp is done with stage kt - 1
        const int next = kt + STG_STAGES - 1;
        if (next < kt_count) load_stage(next % STG_STAGES, next * STG_BK);
        cp_async_commit();
        if constexpr (FP8) {  // widen this step's raw weights into the bf16 tile (every warp finished the last step's products)
            const uint4 raw = *reinterpret_cast<const uint4*>(raw_all + (kt % STG_STAGES) * STG_BN * STG_BK + tid * 16);
            const float sc = b_scale[kt * STG_BK / 128];
            uint32_t w[8];
            fp8x4_to_bf16(raw.x, sc, w[0], w[1]);
            fp8x4_to_bf16(raw.y, sc, w[2], w[3]);
            fp8x4_to_bf16(raw.z, sc, w[4], w[5]);
            fp8x4_to_bf16(raw.w, sc, w[6], w[7]);
            uint4* dst = reinterpret_cast<uint4*>(bs_all + (tid >> 1) * STG_PITCH + (tid & 1) * 16);
            dst[0] = make_uint4(w[0], w[1], w[2], w[3]);
            dst[1] = make_uint4(w[4], w[5], w[6], w[7]);
            __syncthreads();
        }
        const uint32_t as = smem_u32(as_all + (kt % STG_STAGES) * STG_BM * STG_PITCH);
        const uint32_t bs = smem_u32(bs_all + (FP8 ? 0 : (kt % STG_STAGES) * STG_BN * STG_PITCH));
#pragma unroll
        for (int kk = 0; kk < STG_BK; kk += 16) {
            uint32_t a[4][4], b[4][2];
#pragma unroll
            for (int mi = 0; mi < 4; mi++) ldsm_x4(a[mi][0], a[mi][1], a[mi][2], a[mi][3], as + 2 * (a_lane + mi * 16 * STG_PITCH + kk));
#pragma unroll
            for (int pr = 0; pr < 2; pr++) ldsm_x4(b[2 * pr][0], b[2 * pr][1], b[2 * pr + 1][0], b[2 * pr + 1][1], bs + 2 * (b_lane[pr] + kk));
#pragma unroll
            for (int mi = 0; mi < 4; mi++)
#pragma unroll
                for (int nf = 0; nf < 4; nf++)
                    mma_bf16_16816(acc[mi][nf][0], acc[mi][nf][1], acc[mi][nf][2], acc[mi][nf][3], a[mi][0], a[mi][1], a[mi][2], a[mi][3],
                                   b[nf][0], b[nf][1]);
        }
    }
    cp_async_wait<0>();

#pragma unroll
    for (int mi = 0; mi < 4; mi++) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int r = wm * 64 + mi * 16 + h * 8 + g;
            if (r >= rows) continue;
            bf16* orow = out + (long)(p0 + r) * ldo;
#pragma unroll
            for (int nf = 0; nf < (GATE_UP ? 2 : 4); nf++) {
                const int n = n0 + (GATE_UP ? wn * 16 : wn * 32) + nf * 8 + 2 * q;
                float v0 = acc[mi][nf][2 * h], v1 = acc[mi][nf][2 * h + 1];
                if constexpr (GATE_UP) {
                    const float g0 = to_f(__float2bfloat16_rn(v0)), g1 = to_f(__float2bfloat16_rn(v1));
                    const float u0 = to_f(__float2bfloat16_rn(acc[mi][nf + 2][2 * h])), u1 = to_f(__float2bfloat16_rn(acc[mi][nf + 2][2 * h + 1]));
                    v0 = g0 / (1.f + expf(-g0)) * u0;
                    v1 = g1 / (1.f + expf(-g1)) * u1;
                }
                if (n + 1 < N) {
                    *reinterpret_cast<uint32_t*>(orow + n) = pack_bf16x2(v0, v1);
                } else if (n < N) {
                    orow[n] = __float2bfloat16_rn(v0);
                }
            }
        }
    }
}

// ---- entry points: launched by MoeStagedKernels.java (KernelSignaturesTest checks that the two argument lists agree) ----
// s_ptrs / gs_ptrs / us_ptrs: each expert's fp8 block scales ([ceil(N / 128)][scale_cols] floats); unused for bf16.
#define MOE_STAGED(TW, SW)                                                                                             \
    extern "C" __global__ void __launch_bounds__(STG_THREADS, 2) moe_staged_bf16_##SW(                                 \
        const bf16* x, long ldx, const int* row_index, int row_div, const long long* w_ptrs, const long long* s_ptrs,  \
        int scale_cols, const int* tile_expert, const int* tile_begin, const int* tile_end, const int* num_tiles,      \
        bf16* out, long ldo, int N, int K) { KILN_ENTRY;                                                               \
        moe_staged<TW, false>(x, ldx, row_index, row_div, w_ptrs, nullptr, s_ptrs, nullptr, scale_cols, tile_expert,   \
                              tile_begin, tile_end, num_tiles, out, ldo, N, K);                                        \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(STG_THREADS, 2) moe_staged_gate_up_bf16_##SW(                         \
        const bf16* x, long ldx, const int* row_index, int row_div, const long long* g_ptrs, const long long* u_ptrs,  \
        const long long* gs_ptrs, const long long* us_ptrs, int scale_cols, const int* tile_expert,                    \
        const int* tile_begin, const int* tile_end, const int* num_tiles, bf16* out, long ldo, int N, int K) { KILN_ENTRY; \
        moe_staged<TW, true>(x, ldx, row_index, row_div, g_ptrs, u_ptrs, gs_ptrs, us_ptrs, scale_cols, tile_expert,    \
                             tile_begin, tile_end, num_tiles, out, ldo, N, K);                                         \
    }
MOE_STAGED(bf16, wbf16)
MOE_STAGED(uint8_t, wfp8)
