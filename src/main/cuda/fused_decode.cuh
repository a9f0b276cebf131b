// Decode fusions (bf16, up to 8 tokens): kernels that run the device code of several headers in one launch, so a
// DeepSeek decode layer has fewer launches. Each has a plain sequence of launches it replaces (CudaFlags.fuseDecode
// off), which CudaKernelCheck keeps checked.
#pragma once
#include "common.cuh"
#include "elementwise.cuh"
#include "moe.cuh"
#include "gemv2.cuh"

// ---- entry points: launched by FusedDecodeKernels.java (KernelSignaturesTest checks that the two argument lists agree) ----
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
// neither starts its chain of loads only after the q / kv_a projection has finished.
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
