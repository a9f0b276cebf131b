// Mixture of experts on the device, without a host round trip (so a decode step can be one CUDA graph):
//   moe_route   router logits -> top-k expert ids and weights per token (noaux_tc or softmax gates)
//   moe_align   counts per expert, expert-sorted order of the (token, choice) pairs, and the tile table of the
//               grouped GEMM (tile -> expert, row range)
//   moe_gemm    (gemm.cuh) gate, up and down projections of all experts in one launch each
//   moe_combine out[t] = sum over choices j (in order) of weight(t, j) * expert output of (t, j)
#pragma once
#include "common.cuh"

#define MOE_MAX_EXPERTS 512
#define MOE_MAX_TOPK 16

// Index of the largest value among `n` in shared memory, lowest index on ties; all threads get it.
__device__ __forceinline__ int block_argmax(const float* v, int n, float* sv, int* si) {
    float bv = -INFINITY;
    int bi = 0x7fffffff;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        if (v[i] > bv || (v[i] == bv && i < bi)) { bv = v[i]; bi = i; }
    }
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (ov > bv || (ov == bv && oi < bi)) { bv = ov; bi = oi; }
    }
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0) { sv[warp] = bv; si[warp] = bi; }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int i = 1; i < (int)(blockDim.x >> 5); i++) {
            if (sv[i] > bv || (sv[i] == bv && si[i] < bi)) { bv = sv[i]; bi = si[i]; }
        }
        si[0] = bi == 0x7fffffff ? 0 : bi;  // all -inf (or NaN): answer 0 rather than run off the end
    }
    __syncthreads();
    return si[0];
}

// One block per token. sigmoid != 0: noaux_tc scoring (sigmoid, bias for the choice only); else softmax.
// groups > 1 with group_limited: keep the best topk_groups groups, ranked by the sum of their two best biased
// scores (noaux_tc) or their best score (V2's group-limited greedy), as the CPU backend does.
template <typename T>
__device__ void moe_route(const T* logits, long ldl, int experts, int topk, int sigmoid, const float* bias, int groups,
                          int topk_groups, int group_limited, int normalize, float scaling, int* ids, float* weights, long t) {
    __shared__ float scores[MOE_MAX_EXPERTS], choice[MOE_MAX_EXPERTS], group_score[MOE_MAX_EXPERTS];
    __shared__ float sv[32];
    __shared__ int si[32];
    __shared__ float denom;
    __shared__ int keep_group[MOE_MAX_EXPERTS];
    for (int e = threadIdx.x; e < experts; e += blockDim.x) scores[e] = to_f(logits[t * ldl + e]);
    __syncthreads();
    if (sigmoid) {
        for (int e = threadIdx.x; e < experts; e += blockDim.x) scores[e] = 1.f / (1.f + expf(-scores[e]));
    } else {
        if (threadIdx.x == 0) {  // sequential, as the CPU backend sums
            float m = -INFINITY;
            for (int e = 0; e < experts; e++) m = fmaxf(m, scores[e]);
            float s = 0.f;
            for (int e = 0; e < experts; e++) s += scores[e] = expf(scores[e] - m);
            denom = s;
        }
        __syncthreads();
        for (int e = threadIdx.x; e < experts; e += blockDim.x) scores[e] /= denom;
    }
    __syncthreads();
    for (int e = threadIdx.x; e < experts; e += blockDim.x) choice[e] = scores[e] + (bias ? bias[e] : 0.f);
    __syncthreads();
    if (group_limited && groups > 1) {
        int per = experts / groups;
        for (int g = threadIdx.x; g < groups; g += blockDim.x) keep_group[g] = 0;
        for (int g = threadIdx.x; g < groups; g += blockDim.x) {
            float b1 = -INFINITY, b2 = -INFINITY;
            for (int i = 0; i < per; i++) {
                float v = choice[g * per + i];
                if (v > b1) { b2 = b1; b1 = v; } else if (v > b2) { b2 = v; }
            }
            group_score[g] = bias ? b1 + b2 : b1;
        }
        __syncthreads();
        for (int k = 0; k < topk_groups; k++) {
            int g = block_argmax(group_score, groups, sv, si);
            if (threadIdx.x == 0) {
                keep_group[g] = 1;
                group_score[g] = -INFINITY;
            }
            __syncthreads();
        }
        for (int e = threadIdx.x; e < experts; e += blockDim.x) {
            if (!keep_group[e / per]) choice[e] = -INFINITY;
        }
        __syncthreads();
    }
    float sum = 0.f, chosen[MOE_MAX_TOPK];
    for (int k = 0; k < topk; k++) {
        int e = block_argmax(choice, experts, sv, si);
        if (threadIdx.x == 0) {
            ids[t * topk + k] = e;
            chosen[k] = scores[e];
            sum += scores[e];
            choice[e] = -INFINITY;
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        for (int k = 0; k < topk; k++) {
            float w = chosen[k];
            if (normalize) w /= sum + 1e-20f;
            weights[t * topk + k] = w * scaling;
        }
    }
}

// out[t] = sum_j weights[t, j] * y[inv[t * topk + j]], in j order (fma chain from 0, as the CPU backend).
template <typename T>
__device__ void moe_combine(const T* __restrict__ y, long ldy, const int* inv, const float* weights, int topk, int cols,
                            T* __restrict__ out, long ldo, const T* __restrict__ plus, long ldp, bool early_routing = false) {
    // out[t] = sum_j w(t, j) y(t, j) in choice order, rounded, then + plus[t] (the shared experts; rounded again, as
    // a separate add would). Grid (tokens, column blocks): one column per thread in decode, so a thread's loads
    // (the choice loop is unrolled) are one round trip.
    constexpr int MAX_K = 16;
    __shared__ long row[MAX_K];
    __shared__ float wt[MAX_K];
    long t = blockIdx.x;
    if (threadIdx.x < topk) {
        row[threadIdx.x] = (long)inv[t * topk + threadIdx.x] * ldy;
        wt[threadIdx.x] = weights[t * topk + threadIdx.x];
    }
    // early_routing: the entry point only triggered, and the routing is complete (see moe_combine_ in kernels.cu)
    if (early_routing) pdl_wait();
    __syncthreads();
    for (int c = blockIdx.y * blockDim.x + threadIdx.x; c < cols; c += blockDim.x * gridDim.y) {
        float v[MAX_K];
#pragma unroll
        for (int j = 0; j < MAX_K; j++) v[j] = j < topk ? to_f(y[row[j] + c]) : 0.f;
        float p = plus ? to_f(plus[t * ldp + c]) : 0.f;
        float acc = 0.f;
#pragma unroll
        for (int j = 0; j < MAX_K; j++)
            if (j < topk) acc = fmaf(wt[j], v[j], acc);
        out[t * ldo + c] = plus ? from_f<T>(to_f(from_f<T>(acc)) + p) : from_f<T>(acc);
    }
}

// ---- decode: routing of up to 8 tokens and the alignment in one launch of 8 warps ----
// moe_route above spends most of a decode step's 8 us in block-wide argmax rounds (two __syncthreads each) and a
// serial softmax. Here warp w routes token w with shuffles only, its scores and choice values in shared memory,
// then the same block aligns (moe_align).
// Same choices as moe_route and the CPU (ties to the lower index); the softmax sum is a warp reduction, so the
// weights can differ from the sequential sum in the last bit.
// The loops over a lane's experts are not unrolled: a decode launch runs this code once, so its cost is largely
// instruction fetch (a fully unrolled version, 16 values per lane in registers, was 64 KB of code and slower).
#define MOE_RA_WARPS 8

// (value, index) of the largest value over the warp, lower index on ties; every lane gets it.
__device__ __forceinline__ void warp_argmax(float& v, int& i) {
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, v, o);
        int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (ov > v || (ov == v && oi < i)) { v = ov; i = oi; }
    }
}

template <typename T>
__device__ void moe_route_warp(const T* logits, long ldl, int experts, int topk, int sigmoid, const float* bias, int groups,
                               int topk_groups, int group_limited, int normalize, float scaling, int* ids, float* weights,
                               int t, float* scores, float* choice) {
    const int lane = threadIdx.x & 31;
    float m = -INFINITY;
#pragma unroll 1
    for (int e = lane; e < experts; e += 32) {
        const float v = to_f(__ldcg(logits + (long)t * ldl + e));  // L2: moe_router_route's other blocks wrote them
        scores[e] = v;
        m = fmaxf(m, v);
    }
    float sum = 0.f;
    if (!sigmoid) {
        for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
#pragma unroll 1
        for (int e = lane; e < experts; e += 32) sum += expf(scores[e] - m);
        for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    }
#pragma unroll 1
    for (int e = lane; e < experts; e += 32) {
        const float v = scores[e], sc = sigmoid ? 1.f / (1.f + expf(-v)) : expf(v - m) / sum;
        scores[e] = sc;
        choice[e] = sc + (bias ? bias[e] : 0.f);
    }
    __syncwarp();
    if (group_limited && groups > 1) {  // groups <= 32 (the host checks): lane g scores group g
        const int per = experts / groups;
        float gs = -INFINITY;
        if (lane < groups) {
            float b1 = -INFINITY, b2 = -INFINITY;
#pragma unroll 1
            for (int i = 0; i < per; i++) {
                float c = choice[lane * per + i];
                if (c > b1) { b2 = b1; b1 = c; } else if (c > b2) { b2 = c; }
            }
            gs = bias ? b1 + b2 : b1;
        }
        unsigned keep = 0;
#pragma unroll 1
        for (int r = 0; r < topk_groups; r++) {
            float bv = gs;
            int bi = lane < groups ? lane : 0x7fffffff;
            warp_argmax(bv, bi);
            if (bi < 32) keep |= 1u << bi;
            if (lane == bi) gs = -INFINITY;
        }
        __syncwarp();
#pragma unroll 1
        for (int e = lane; e < experts; e += 32)
            if (!((keep >> (e / per)) & 1u)) choice[e] = -INFINITY;
        __syncwarp();
    }
    float total = 0.f, chosen_score = 0.f;
    int chosen_id = 0;
#pragma unroll 1
    for (int k = 0; k < topk; k++) {
        float bv = -INFINITY;
        int bi = 0x7fffffff;
#pragma unroll 1
        for (int e = lane; e < experts; e += 32) {
            const float v = choice[e];
            if (v > bv || (v == bv && e < bi)) { bv = v; bi = e; }
        }
        warp_argmax(bv, bi);
        if (bi == 0x7fffffff) bi = 0;  // nothing left (NaN scores): expert 0, as moe_route
        __syncwarp();
        if (lane == 0) choice[bi] = -INFINITY;
        __syncwarp();
        const float s = scores[bi];
        total += s;  // in choice order on every lane, as the CPU sums
        if (lane == k) { chosen_id = bi; chosen_score = s; }
    }
    if (lane < topk) {
        float w = normalize ? chosen_score / (total + 1e-20f) : chosen_score;
        ids[t * topk + lane] = chosen_id;
        weights[t * topk + lane] = w * scaling;
    }
}

// One block (any multiple of 32 threads). Sorts the `assignments` = tokens * topk (token, choice) pairs by expert:
// perm[p] is the pair at sorted position p, inv[pair] its position. Order within an expert is whatever the atomics
// give; each row is computed independently, so results do not depend on it. Tiles of `tile_rows` rows never
// straddle experts: tile y covers rows [tile_begin[y], tile_end[y]) of expert tile_expert[y]; *num_tiles of them,
// experts in ascending order. Counts by shared atomics, then warp 0 scans counts and tile counts over the experts
// 32 at a time and each expert's lane writes its tiles (a first version walked every expert in one thread).
__device__ void moe_align(const int* ids, int assignments, int experts, int tile_rows, int* perm, int* inv,
                               int* tile_expert, int* tile_begin, int* tile_end, int* num_tiles) {
    __shared__ int count[MOE_MAX_EXPERTS], start[MOE_MAX_EXPERTS], cursor[MOE_MAX_EXPERTS];
    for (int e = threadIdx.x; e < experts; e += blockDim.x) { count[e] = 0; cursor[e] = 0; }
    __syncthreads();
    for (int a = threadIdx.x; a < assignments; a += blockDim.x) atomicAdd(&count[ids[a]], 1);
    __syncthreads();
    if (threadIdx.x < 32) {
        const int lane = threadIdx.x;
        int rows_before = 0, tiles_before = 0;
        for (int e0 = 0; e0 < experts; e0 += 32) {
            int e = e0 + lane;
            int c = e < experts ? count[e] : 0, nt = (c + tile_rows - 1) / tile_rows;
            int rc = c, rt = nt;  // inclusive scans over the 32 experts
            for (int o = 1; o < 32; o <<= 1) {
                int yc = __shfl_up_sync(0xffffffffu, rc, o), yt = __shfl_up_sync(0xffffffffu, rt, o);
                if (lane >= o) { rc += yc; rt += yt; }
            }
            int s = rows_before + rc - c, ft = tiles_before + rt - nt;
            if (e < experts) start[e] = s;
            for (int j = 0; j < nt; j++) {
                tile_expert[ft + j] = e;
                tile_begin[ft + j] = s + j * tile_rows;
                tile_end[ft + j] = s + min(c, (j + 1) * tile_rows);
            }
            rows_before += __shfl_sync(0xffffffffu, rc, 31);
            tiles_before += __shfl_sync(0xffffffffu, rt, 31);
        }
        if (lane == 0) *num_tiles = tiles_before;
    }
    __syncthreads();
    for (int a = threadIdx.x; a < assignments; a += blockDim.x) {
        int e = ids[a];
        int p = start[e] + atomicAdd(&cursor[e], 1);
        perm[p] = a;
        inv[a] = p;
    }
}

// Decode batches (<= 8 tokens): warp w routes token w (moe_route_warp), then the block aligns (moe_align). One
// block of MOE_RA_WARPS warps: the body of moe_route_align, and the last block of moe_router_route.
template <typename T>
__device__ void moe_route_align_block(const T* logits, long ldl, int tokens, int experts, int topk, int sigmoid, const float* bias,
                                      int groups, int topk_groups, int group_limited, int normalize, float scaling, int* ids,
                                      float* weights, int tile_rows, int* perm, int* inv, int* tile_expert, int* tile_begin,
                                      int* tile_end, int* num_tiles) {
    __shared__ float scores[MOE_RA_WARPS][MOE_MAX_EXPERTS], choice[MOE_RA_WARPS][MOE_MAX_EXPERTS];
    const int w = threadIdx.x >> 5;
    if (w < tokens)
        moe_route_warp<T>(logits, ldl, experts, topk, sigmoid, bias, groups, topk_groups, group_limited, normalize, scaling, ids, weights,
                          w, scores[w], choice[w]);
    __syncthreads();
    moe_align(ids, tokens * topk, experts, tile_rows, perm, inv, tile_expert, tile_begin, tile_end, num_tiles);
}

// ---- entry points: launched by MoeKernels.java (KernelSignaturesTest checks that the two argument lists agree) ----
#define MOE_KERNELS(T, S)                                                                                              \
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
       (three kernels back) has finished, and reads it before waiting for the expert outputs, off the critical   \
       path of a decode step */                                                                                    \
    extern "C" __global__ void moe_combine_##S(const T* y, long ldy, const int* inv, const float* weights, int topk,   \
                                               int cols, T* out, long ldo, const T* plus, long ldp,                    \
                                               int early_routing) {                                                    \
        pdl_trigger();                                                                                                 \
        if (!early_routing) pdl_wait();                                                                                \
        moe_combine<T>(y, ldy, inv, weights, topk, cols, out, ldo, plus, ldp, early_routing);                          \
    }

MOE_KERNELS(float, f32)
MOE_KERNELS(bf16, bf16)

extern "C" __global__ void __launch_bounds__(1024) moe_align_k(const int* ids, int assignments, int experts, int tile_rows,
                                                                int* perm, int* inv, int* tile_expert, int* tile_begin,
                                                                int* tile_end, int* num_tiles) { KILN_ENTRY;
    moe_align(ids, assignments, experts, tile_rows, perm, inv, tile_expert, tile_begin, tile_end, num_tiles);
}
