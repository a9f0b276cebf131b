// Kiln's CUDA kernels: one translation unit, compiled by nvcc into kiln/cuda/kernels.fatbin (sm_90a code plus
// compute_90 PTX) and loaded by kiln.backend.cuda.Kernels with cuModuleLoadData. Entry points are extern "C" so
// that Java finds them by name; the suffix names the activation type (_f32 / _bf16) and, for weights, the
// stored type (_wf32 / _wbf16 / _wfp8). Parameter lists here and in CudaBackend must match one for one.
#include "common.cuh"
#include "elementwise.cuh"
#include "gemm.cuh"
#include "attention.cuh"
#include "moe.cuh"
#include "mla_decode.cuh"
#include "moe_mma.cuh"
#include "gemv2.cuh"
#include "mla_prefill.cuh"

#define ACT_KERNELS(T, S)                                                                                              \
    extern "C" __global__ void embed_wbf16_##S(const bf16* table, const int* tokens, int hidden, T* out, long ldo) { KILN_ENTRY; \
        embed<bf16, T>(table, tokens, hidden, out, ldo);                                                               \
    }                                                                                                                  \
    extern "C" __global__ void embed_wf32_##S(const float* table, const int* tokens, int hidden, T* out, long ldo) { KILN_ENTRY; \
        embed<float, T>(table, tokens, hidden, out, ldo);                                                              \
    }                                                                                                                  \
    extern "C" __global__ void rmsnorm_##S(T* x, long ldx, const T* delta, long ldd, const float* w, float eps, T* out, \
                                           long ldo, int cols) { KILN_ENTRY;                                           \
        rmsnorm<T>(x, ldx, delta, ldd, w, eps, out, ldo, cols);                                                        \
    }                                                                                                                  \
    extern "C" __global__ void add_##S(T* acc, long lda, const T* x, long ldx, int cols) { KILN_ENTRY; add_rows<T>(acc, lda, x, ldx, cols); } \
    extern "C" __global__ void add_bias_##S(T* out, long ldo, const float* bias, int cols) { KILN_ENTRY; add_bias<T>(out, ldo, bias, cols); } \
    extern "C" __global__ void silu_mul_##S(const T* g, long ldg, const T* u, long ldu, T* out, long ldo, int cols) { KILN_ENTRY; \
        silu_mul<T>(g, ldg, u, ldu, out, ldo, cols);                                                                   \
    }                                                                                                                  \
    extern "C" __global__ void rope_##S(T* x, long ldx, int heads, int stride, int offset, const int* positions,       \
                                        const float* inv_freq, int half, float factor, int interleaved) { KILN_ENTRY;  \
        rope<T>(x, ldx, heads, stride, offset, positions, inv_freq, half, factor, interleaved);                        \
    }                                                                                                                  \
    /* two rope calls of one batch (MLA's q_rope and k_rope) in one launch: grid (rows, 2) */                          \
    extern "C" __global__ void rope2_##S(T* xa, long lda, int heads_a, int stride_a, int offset_a, T* xb, long ldb,    \
                                         int heads_b, int stride_b, int offset_b, const int* positions,                \
                                         const float* inv_freq, int half, float factor, int interleaved) { KILN_ENTRY; \
        if (blockIdx.y == 0) rope<T>(xa, lda, heads_a, stride_a, offset_a, positions, inv_freq, half, factor, interleaved); \
        else rope<T>(xb, ldb, heads_b, stride_b, offset_b, positions, inv_freq, half, factor, interleaved);            \
    }                                                                                                                  \
    extern "C" __global__ void kv_store_##S(const T* src, long lds, int cols, const int* slots, T* cache, long entry,  \
                                            int at) { KILN_ENTRY;                                                      \
        kv_store<T>(src, lds, cols, slots, cache, entry, at);                                                          \
    }                                                                                                                  \
    extern "C" __global__ void kv_store2_##S(const T* a, long lda, int cols_a, const T* b, long ldb, int cols_b,       \
                                             const int* slots, T* cache, long entry) { KILN_ENTRY;                     \
        kv_store2<T>(a, lda, cols_a, b, ldb, cols_b, slots, cache, entry);                                             \
    }                                                                                                                  \
    extern "C" __global__ void gather_rows_##S(const T* src, long lds, const int* rows, int cols, T* out, long ldo) { KILN_ENTRY; \
        gather_rows<T>(src, lds, rows, cols, out, ldo);                                                                \
    }                                                                                                                  \
    extern "C" __global__ void gather_rows_div_##S(const T* src, long lds, const int* rows, int div, int cols, T* out, \
                                                   long ldo) { KILN_ENTRY;                                             \
        gather_rows_div<T>(src, lds, rows, div, cols, out, ldo);                                                       \
    }                                                                                                                  \
    extern "C" __global__ void to_f32_##S(const T* src, long lds, int cols, float* out) { KILN_ENTRY; to_f32<T>(src, lds, cols, out); } \
    extern "C" __global__ void from_f32_##S(const float* src, int cols, T* out, long ldo) { KILN_ENTRY; from_f32<T>(src, cols, out, ldo); } \
    extern "C" __global__ void argmax_##S(const T* x, long ldx, int cols, int* out) { KILN_ENTRY; argmax_rows<T>(x, ldx, cols, out); } \
    extern "C" __global__ void __launch_bounds__(1024) sample_##S(const T* x, long ldx, int cols, const float* temperature, \
                                                                  const int* top_k, const float* top_p,                \
                                                                  const float* uniform, int* out) { KILN_ENTRY;        \
        sample_rows<T>(x, ldx, cols, temperature, top_k, top_p, uniform, out);                                         \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(ATT_THREADS) attention_##S(                                           \
        const T* q1, long ldq1, int q1_stride, const T* q2, long ldq2, int q2_stride, const T* cache, int heads,       \
        int heads_per_kv, int blocks_per_kv, int kd1, int kd2, int vd, long entry, int k_off, int v_off, int kv_stride, \
        const int* token_seq, const int* token_visible, const int* seq_slot_start, const int* slots, float scale,      \
        T* out, long ldo, int o_stride, float* partial_acc, float* partial_ml) { KILN_ENTRY;                           \
        AttnShape sh{heads, heads_per_kv, blocks_per_kv, kd1, kd2, vd, entry, k_off, v_off, kv_stride};                \
        attention<T>(q1, ldq1, q1_stride, q2, ldq2, q2_stride, cache, sh, token_seq, token_visible, seq_slot_start,    \
                     slots, scale, out, ldo, o_stride, partial_acc, partial_ml);                                       \
    }                                                                                                                  \
    extern "C" __global__ void attention_combine_##S(const int* token_visible, int max_splits, int heads, int vd,      \
                                                     const float* partial_acc, const float* partial_ml, T* out,        \
                                                     long ldo, int o_stride) { KILN_ENTRY;                             \
        attention_combine<T>(token_visible, max_splits, heads, vd, partial_acc, partial_ml, out, ldo, o_stride);       \
    }                                                                                                                  \
    extern "C" __global__ void moe_route_##S(const T* logits, long ldl, int experts, int topk, int sigmoid,            \
                                             const float* bias, int groups, int topk_groups, int group_limited,        \
                                             int normalize, float scaling, int* ids, float* weights) { KILN_ENTRY;     \
        moe_route<T>(logits, ldl, experts, topk, sigmoid, bias, groups, topk_groups, group_limited, normalize, scaling, \
                     ids, weights, blockIdx.x);                                                                        \
    }                                                                                                                  \
    /* decode batches (<= 8 tokens): warp w routes token w, then the block aligns (moe.cuh) */                         \
    extern "C" __global__ void __launch_bounds__(MOE_RA_WARPS * 32) moe_route_align_##S(                               \
        const T* logits, long ldl, int tokens, int experts, int topk, int sigmoid, const float* bias, int groups,      \
        int topk_groups, int group_limited, int normalize, float scaling, int* ids, float* weights, int tile_rows,     \
        int* perm, int* inv, int* tile_expert, int* tile_begin, int* tile_end, int* num_tiles) { KILN_ENTRY;           \
        moe_route_align_block<T>(logits, ldl, tokens, experts, topk, sigmoid, bias, groups, topk_groups, group_limited, \
                                 normalize, scaling, ids, weights, tile_rows, perm, inv, tile_expert, tile_begin,     \
                                 tile_end, num_tiles);                                                                 \
    }                                                                                                                  \
    /* early_routing: the down projection before it is moe_gemv2's, so this launch starts only after the routing  \
       (three kernels back) has finished, and reads it before waiting for the expert outputs (run 33: 8 us a     \
       V2-Lite batch-1 step) */                                                                                    \
    extern "C" __global__ void moe_combine_##S(const T* y, long ldy, const int* inv, const float* weights, int topk,   \
                                               int cols, T* out, long ldo, const T* plus, long ldp,                    \
                                               int early_routing) {                                                    \
        pdl_trigger();                                                                                                 \
        if (!early_routing) pdl_wait();                                                                                \
        moe_combine<T>(y, ldy, inv, weights, topk, cols, out, ldo, plus, ldp, early_routing);                          \
    }

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

ACT_KERNELS(float, f32)
ACT_KERNELS(bf16, bf16)
GEMM_KERNELS(float, f32, float, wf32)
GEMM_KERNELS(float, f32, bf16, wbf16)
GEMM_KERNELS(float, f32, uint8_t, wfp8)
GEMM_KERNELS(bf16, bf16, float, wf32)
GEMM_KERNELS(bf16, bf16, bf16, wbf16)
GEMM_KERNELS(bf16, bf16, uint8_t, wfp8)

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

extern "C" __global__ void dequant_fp8_bf16(const uint8_t* w, const float* scales, int scale_cols, int block_rows,
                                            int block_cols, bf16* out, int cols) { KILN_ENTRY;
    dequant_fp8_row(w, scales, scale_cols, block_rows, block_cols, out, cols);
}

extern "C" __global__ void __launch_bounds__(1024) moe_align_k(const int* ids, int assignments, int experts, int tile_rows,
                                                                int* perm, int* inv, int* tile_expert, int* tile_begin,
                                                                int* tile_end, int* num_tiles) { KILN_ENTRY;
    moe_align(ids, assignments, experts, tile_rows, perm, inv, tile_expert, tile_begin, tile_end, num_tiles);
}

extern "C" __global__ void __launch_bounds__(256) quant_fp8_bf16(const bf16* x, long ldx, int cols, uint8_t* q, float* scales,
                                                                 int rows, int m_major) { KILN_ENTRY;
    quant_fp8_rows(x, ldx, cols, q, scales, rows, m_major);
}


extern "C" __global__ void __launch_bounds__(MLA_THREADS) mla_attention_tc_bf16(
    const bf16* q1, long ldq1, int q1_stride, const bf16* q2, long ldq2, int q2_stride, const bf16* cache, long entry, int heads,
    int kd1, int kd2, const int* token_seq, const int* token_visible, const int* seq_slot_start, const int* slots, float scale,
    bf16* out, long ldo, int o_stride, float* partial_acc, float* partial_ml) { KILN_ENTRY;
    mla_attention_tc(q1, ldq1, q1_stride, q2, ldq2, q2_stride, cache, entry, heads, kd1, kd2, token_seq, token_visible,
                     seq_slot_start, slots, scale, out, ldo, o_stride, partial_acc, partial_ml);
}

// Grouped expert GEMM on the tensor cores for 9..256 tokens (moe_mma.cuh); tiles from moe_align with tile_rows 64.
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

// The grouped expert GEMVs (gemv2.cuh). The gate/up projection triggers its dependents only after its own wait, so
// the down projection after it may read the routing (then complete) and issue its first weight loads before its
// wait (gemv2.cuh, moe_gemv2; H200 run 32: V2-Lite batch 1 2.321 -> 2.300 ms).
// table_experts > 0 (at most MOE_TABLE_MAX): gate/up copies the experts' pointer tables into shared memory before
// its wait. They are no kernel's output, and read after the wait they were one more DRAM round trip (the step
// streams each layer's 167 MB past them) between the routing and the first weight load. Run 33: V2-Lite batch 1
// 6 us faster, batch 8 (48 tiles, 8,448 blocks each copying the tables) 70 us slower, so one token only.
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

// The MoE router's GEMV (gemv2_splitk, bf16 weights) and, in the block that finishes its rows last, the routing and
// alignment of moe_route_align: one launch instead of two for decode batches (<= 8 tokens). `done` counts finished
// blocks; it is zero before the launch and the last block sets it back to zero.
#define ROUTER_ROUTE(MAXM, SM)                                                                                         \
    extern "C" __global__ void __launch_bounds__(MOE_RA_WARPS * 32) moe_router_route_bf16_##SM(                        \
        const bf16* x, long ldx, const bf16* w, int K, int S, bf16* logits, long ldl, unsigned* done, int tokens,       \
        int experts, int topk, int sigmoid, const float* bias, int groups, int topk_groups, int group_limited,         \
        int normalize, float scaling, int* ids, float* weights, int tile_rows, int* perm, int* inv, int* tile_expert,  \
        int* tile_begin, int* tile_end, int* num_tiles) { pdl_trigger();                                               \
        gemv2_splitk<bf16, MAXM>(x, ldx, w, nullptr, 0, 1, nullptr, logits, ldl, tokens, experts, K, S);               \
        __shared__ bool last;                                                                                          \
        __threadfence();                                                                                               \
        __syncthreads();                                                                                               \
        if (threadIdx.x == 0) last = atomicAdd(done, 1u) == gridDim.x - 1;                                             \
        __syncthreads();                                                                                               \
        if (!last) return;                                                                                             \
        __threadfence();                                                                                               \
        moe_route_align_block<bf16>(logits, ldl, tokens, experts, topk, sigmoid, bias, groups, topk_groups,            \
                                    group_limited, normalize, scaling, ids, weights, tile_rows, perm, inv, tile_expert, \
                                    tile_begin, tile_end, num_tiles);                                                  \
        if (threadIdx.x == 0) *done = 0u;                                                                              \
    }
ROUTER_ROUTE(1, m1)
ROUTER_ROUTE(8, m8)

// One block of MLA's latent RMSNorm and its query and key ropes: role 0 and 1 rope head sets a and b (as rope2, this
// block being part `part` of `parts` over the row's items), role 2 normalises the row's latent (in part 0 only).
__device__ __forceinline__ void mla_norm_rope_block(int row, int role, int part, int parts, bf16* xa, long lda, int heads_a, int stride_a,
                                                    int offset_a, bf16* xb, long ldb, int heads_b, int stride_b, int offset_b,
                                                    const int* positions, const float* inv_freq, int half, float factor, int interleaved,
                                                    bf16* nx, long ldnx, const float* nw, float eps, bf16* nout, long ldno, int ncols) {
    if (role == 2) {
        if (part == 0) rmsnorm_vec(nx, ldnx, nullptr, 0, nw, eps, nout, ldno, ncols, row);
    } else if (role == 0) {
        rope<bf16>(xa, lda, heads_a, stride_a, offset_a, positions, inv_freq, half, factor, interleaved, row, part, parts);
    } else {
        rope<bf16>(xb, ldb, heads_b, stride_b, offset_b, positions, inv_freq, half, factor, interleaved, row, part, parts);
    }
}

// MLA's latent RMSNorm and its query and key ropes in one launch: grid (rows, 3 roles, parts).
extern "C" __global__ void __launch_bounds__(256) mla_norm_rope_bf16(
    bf16* xa, long lda, int heads_a, int stride_a, int offset_a, bf16* xb, long ldb, int heads_b, int stride_b, int offset_b,
    const int* positions, const float* inv_freq, int half, float factor, int interleaved, bf16* nx, long ldnx, const float* nw,
    float eps, bf16* nout, long ldno, int ncols) { KILN_ENTRY;
    mla_norm_rope_block(blockIdx.x, blockIdx.y, blockIdx.z, gridDim.z, xa, lda, heads_a, stride_a, offset_a, xb, ldb, heads_b, stride_b,
                        offset_b, positions, inv_freq, half, factor, interleaved, nx, ldnx, nw, eps, nout, ldno, ncols);
}

// Absorbed MLA's inputs in one launch (decode, up to 8 rows): blocks [0, uk_blocks) are W_UK's gemv_heads (q_nope
// into the latent space; uk_bx row blocks per head), the rest mla_norm_rope's (row, role, part) blocks: the latent's
// RMSNorm and both ropes. The two read disjoint columns of the q / kv_a projections and write disjoint outputs.
// The norm and rope blocks wait inside (rmsnorm_vec after loading its weights, rope after making its cos / sin table):
// neither starts its chain of loads only after the q / kv_a projection has finished (H200 run 33: no measurable
// change in the step, so the rope's table is not that kernel's critical path).
#define MLA_PREPARE(MAXM, SM)                                                                                          \
    extern "C" __global__ void __launch_bounds__(256) mla_prepare_bf16_##SM(                                           \
        const bf16* qn, long ldqn, long qn_stride, const bf16* wuk, long wuk_stride, bf16* ql, long ldql, long ql_stride, \
        int M, int N, int uk_bx, int uk_blocks, bf16* xa, long lda, int heads_a, int stride_a, int offset_a, bf16* xb,  \
        long ldb, int heads_b, int stride_b, int offset_b, const int* positions, const float* inv_freq, int half,      \
        float factor, int interleaved, bf16* nx, long ldnx, const float* nw, float eps, bf16* nout, long ldno,          \
        int ncols, int rope_parts) { pdl_trigger();                                                                    \
        int b = blockIdx.x;                                                                                            \
        if (b < uk_blocks) {                                                                                           \
            gemv_heads<128, MAXM>(qn, ldqn, qn_stride, wuk, wuk_stride, ql, ldql, ql_stride, M, N, HeadsMerge{},       \
                                  b % uk_bx, b / uk_bx);                                                               \
            return;                                                                                                    \
        }                                                                                                              \
        b -= uk_blocks;                                                                                                \
        mla_norm_rope_block(b / (3 * rope_parts), b / rope_parts % 3, b % rope_parts, rope_parts, xa, lda, heads_a,   \
                            stride_a, offset_a, xb, ldb, heads_b, stride_b, offset_b, positions, inv_freq, half, factor, \
                            interleaved, nx, ldnx, nw, eps, nout, ldno, ncols);                                        \
    }
MLA_PREPARE(1, m1)
MLA_PREPARE(8, m8)

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

extern "C" __global__ void __launch_bounds__(1024) rmsnorm_vec_bf16(bf16* x, long ldx, const bf16* delta, long ldd, const float* w,
                                                                   float eps, bf16* out, long ldo, int cols) { pdl_trigger();
    rmsnorm_vec(x, ldx, delta, ldd, w, eps, out, ldo, cols);  // waits after loading the weights
}

// MLA decode for small batches: at least 64 keys per split (so a 1,024-key context fills 16 CTAs per head group
// instead of 4) and the queries loaded by cp.async; the combine with the same split rule. With new_lat, this step's
// entries [new_lat | new_rope] are read from there and stored into the cache by this kernel (no kv_store2 launch).
extern "C" __global__ void __launch_bounds__(MLA_THREADS) mla_attention_tc2_bf16(
    const bf16* q1, long ldq1, int q1_stride, const bf16* q2, long ldq2, int q2_stride, const bf16* cache, long entry, int heads,
    int kd1, int kd2, const int* token_seq, const int* token_visible, const int* seq_slot_start, const int* slots, float scale,
    bf16* out, long ldo, int o_stride, float* partial_acc, float* partial_ml, int split_min, const bf16* new_lat, long ld_lat,
    const bf16* new_rope, long ld_rope, const int* new_slots) { pdl_trigger();
    if (kd1 == 512 && kd2 == 64)
        mla_attention_tc<512, 64>(q1, ldq1, q1_stride, q2, ldq2, q2_stride, cache, entry, heads, kd1, kd2, token_seq, token_visible,
                                  seq_slot_start, slots, scale, out, ldo, o_stride, partial_acc, partial_ml, split_min, true, true,
                                  new_lat, ld_lat, new_rope, ld_rope, new_slots);
    else
        mla_attention_tc(q1, ldq1, q1_stride, q2, ldq2, q2_stride, cache, entry, heads, kd1, kd2, token_seq, token_visible,
                         seq_slot_start, slots, scale, out, ldo, o_stride, partial_acc, partial_ml, split_min, true, true,
                         new_lat, ld_lat, new_rope, ld_rope, new_slots);
}
extern "C" __global__ void attention_combine2_bf16(const int* token_visible, int max_splits, int heads, int vd, const float* partial_acc,
                                                   const float* partial_ml, bf16* out, long ldo, int o_stride, int split_min) { KILN_ENTRY;
    attention_combine<bf16>(token_visible, max_splits, heads, vd, partial_acc, partial_ml, out, ldo, o_stride, split_min);
}

// MLA prefill in the MHA form (mla_prefill.cuh): grid (heads, blocks of the host-built table), 128 threads.
extern "C" __global__ void __launch_bounds__(MLAP_THREADS, 2) mla_prefill_bf16_n128_r64_v128(
    const bf16* qn, long ldqn, int qn_stride, const bf16* qr, long ldqr, int qr_stride, const bf16* kn, long ldkn,
    int kn_stride, const bf16* kr, long ldkr, const bf16* v, long ldv, int v_stride, const int* blocks, float scale_log2,
    bf16* out, long ldo, int o_stride) {
    mla_prefill<128, 64, 128>(qn, ldqn, qn_stride, qr, ldqr, qr_stride, kn, ldkn, kn_stride, kr, ldkr, v, ldv, v_stride,
                              blocks, scale_log2, out, ldo, o_stride);
}
