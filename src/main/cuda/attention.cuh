// Attention over the paged KV cache, one kernel for DeepSeek MLA (absorbed form: key = [c_kv | k_rope], value =
// c_kv, one shared KV head) and grouped-query attention (key and value of kv head h), prefill and decode.
//
// Block = (group of up to ATT_G query heads sharing one kv head, query token, KV split). Keys are visited in
// tiles of ATT_KT from key 0 of the split, with an online softmax; a query token at position i of its sequence
// sees keys [0, cached + i]. Splits: in prefill each token is one split (its result is then independent of the
// batch and of chunking); in decode a token with more than ATT_SPLIT_MIN keys is cut into up to gridDim.z splits
// whose partial results are merged by attention_combine in split order. The split count depends only on the
// token's own key count, so decode results do not depend on the batch either.
#pragma once
#include "common.cuh"

#define ATT_G 16
#define ATT_KT 16
#define ATT_THREADS 256
#define ATT_SPLIT_MIN 256
#define ATT_MAX_VD 512

struct AttnShape {
    int heads, heads_per_kv, blocks_per_kv;  // query heads, per kv head, blocks covering one kv head
    int kd1, kd2, vd;                        // key = q1-part (kd1) + q2-part (kd2); value width
    long entry;                              // cache elements per slot
    int k_off, v_off, kv_stride;             // key/value offsets in an entry; + kv_head * kv_stride
};

// split_min: fewest keys per split (ATT_SPLIT_MIN, or 64 for the small-batch MLA decode of mla_decode.cuh)
__device__ __forceinline__ int att_splits(int visible, int max_splits, int split_min = ATT_SPLIT_MIN) {
    if (max_splits <= 1 || visible <= split_min) return 1;
    int s = (visible + split_min - 1) / split_min;
    return s < max_splits ? s : max_splits;
}

__device__ __forceinline__ int att_chunk(int visible, int splits) {
    int c = (visible + splits - 1) / splits;
    return (c + ATT_KT - 1) / ATT_KT * ATT_KT;
}

// q1: [tokens, ...] with head h's kd1 values at column h * q1_stride (after the pointer's offset); q2 likewise
// (kd2 may be 0). out: head h's vd values at column h * o_stride. partial_*: [tokens, heads, max_splits].
// C: the cache's element type (T, or uint8_t for an FP8 cache of e4m3 values).
template <typename T, typename C = T>
__device__ void attention(const T* q1, long ldq1, int q1_stride, const T* q2, long ldq2, int q2_stride,
                          const C* cache, AttnShape sh, const int* token_seq, const int* token_visible,
                          const int* seq_slot_start, const int* slots, float scale, T* out, long ldo, int o_stride,
                          float* partial_acc, float* partial_ml) {
    extern __shared__ __align__(16) float smem[];
    const int kd = sh.kd1 + sh.kd2, kpad = kd + 1;
    const bool v_in_k = sh.v_off == sh.k_off && sh.vd <= kd;
    float* qs = smem;                          // [ATT_G][kpad]
    float* ks = qs + ATT_G * kpad;             // [ATT_KT][kpad]
    float* vs = ks + ATT_KT * kpad;            // [ATT_KT][vd] unless the value is the key's head
    float* ps = vs + (v_in_k ? 0 : ATT_KT * sh.vd);  // [ATT_G][ATT_KT] scores, then probabilities
    float* stat = ps + ATT_G * ATT_KT;         // m[ATT_G], l[ATT_G], alpha[ATT_G]
    float* m_s = stat;
    float* l_s = stat + ATT_G;
    float* a_s = stat + 2 * ATT_G;

    const int t = blockIdx.y, split = blockIdx.z, tid = threadIdx.x;
    const int kvh = blockIdx.x / sh.blocks_per_kv;
    const int g0 = (blockIdx.x % sh.blocks_per_kv) * ATT_G;
    const int G = min(ATT_G, sh.heads_per_kv - g0);
    const int h0 = kvh * sh.heads_per_kv + g0;
    const int visible = token_visible[t];
    const int splits = att_splits(visible, gridDim.z);
    if (split >= splits) return;
    const int chunk = splits == 1 ? visible : att_chunk(visible, splits);
    const int key_begin = split * chunk, key_end = min(visible, key_begin + chunk);
    const int* seq_slots = slots + seq_slot_start[token_seq[t]];
    const long k_at = sh.k_off + (long)kvh * sh.kv_stride, v_at = sh.v_off + (long)kvh * sh.kv_stride;

    for (int i = tid; i < G * kd; i += blockDim.x) {
        int g = i / kd, d = i % kd, h = h0 + g;
        qs[g * kpad + d] = d < sh.kd1 ? to_f(q1[t * ldq1 + (long)h * q1_stride + d])
                                      : to_f(q2[t * ldq2 + (long)h * q2_stride + d - sh.kd1]);
    }
    if (tid < ATT_G) {
        m_s[tid] = -INFINITY;
        l_s[tid] = 0.f;
    }
    // each thread accumulates value columns d = tid and tid + 256 for every head of the group
    float acc[ATT_G][2];
#pragma unroll
    for (int g = 0; g < ATT_G; g++) acc[g][0] = acc[g][1] = 0.f;
    __syncthreads();

    for (int j0 = key_begin; j0 < key_end; j0 += ATT_KT) {
        const int kt = min(ATT_KT, key_end - j0);
        for (int i = tid; i < kt * kd; i += blockDim.x) {
            int j = i / kd, d = i % kd;
            ks[j * kpad + d] = to_f(cache[(long)seq_slots[j0 + j] * sh.entry + k_at + d]);
        }
        if (!v_in_k) {
            for (int i = tid; i < kt * sh.vd; i += blockDim.x) {
                int j = i / sh.vd, d = i % sh.vd;
                vs[j * sh.vd + d] = to_f(cache[(long)seq_slots[j0 + j] * sh.entry + v_at + d]);
            }
        }
        __syncthreads();
        {   // one score per thread: (g, j) = (tid / ATT_KT, tid % ATT_KT)
            int g = tid / ATT_KT, j = tid % ATT_KT;
            if (g < G) {
                float s = -INFINITY;
                if (j < kt) {
                    const float* qa = qs + g * kpad;
                    const float* ka = ks + j * kpad;
                    float dot = 0.f;
                    for (int d = 0; d < kd; d++) dot = fmaf(qa[d], ka[d], dot);
                    s = dot * scale;
                }
                ps[g * ATT_KT + j] = s;
            }
        }
        __syncthreads();
        if (tid < G) {
            float* row = ps + tid * ATT_KT;
            float mt = -INFINITY;
            for (int j = 0; j < kt; j++) mt = fmaxf(mt, row[j]);
            float m_old = m_s[tid], m_new = fmaxf(m_old, mt);
            float alpha = m_old == -INFINITY ? 0.f : expf(m_old - m_new);
            float sum = 0.f;
            for (int j = 0; j < ATT_KT; j++) {
                float p = j < kt ? expf(row[j] - m_new) : 0.f;
                row[j] = p;
                sum += p;
            }
            m_s[tid] = m_new;
            l_s[tid] = l_s[tid] * alpha + sum;
            a_s[tid] = alpha;
        }
        __syncthreads();
        const float* vbase = v_in_k ? ks : vs;
        const int vstride = v_in_k ? kpad : sh.vd;
        const int vcol = v_in_k ? 0 : 0;
#pragma unroll
        for (int half = 0; half < 2; half++) {
            int d = tid + half * ATT_THREADS;
            if (d < sh.vd) {
#pragma unroll
                for (int g = 0; g < ATT_G; g++) {
                    if (g < G) {
                        float a = acc[g][half] * a_s[g];
                        for (int j = 0; j < kt; j++) a = fmaf(ps[g * ATT_KT + j], vbase[j * vstride + vcol + d], a);
                        acc[g][half] = a;
                    }
                }
            }
        }
        __syncthreads();
    }

#pragma unroll
    for (int half = 0; half < 2; half++) {
        int d = tid + half * ATT_THREADS;
        if (d >= sh.vd) continue;
#pragma unroll
        for (int g = 0; g < ATT_G; g++) {
            if (g >= G) continue;
            int h = h0 + g;
            if (splits == 1) {
                float l = l_s[g];
                out[t * ldo + (long)h * o_stride + d] = from_f<T>(l > 0.f ? acc[g][half] / l : 0.f);
            } else {
                long idx = ((long)t * sh.heads + h) * gridDim.z + split;
                partial_acc[idx * sh.vd + d] = acc[g][half];
                if (d == 0) {
                    partial_ml[idx * 2] = m_s[g];
                    partial_ml[idx * 2 + 1] = l_s[g];
                }
            }
        }
    }
}

// Merges the splits of the decode tokens that had more than one; grid (heads, tokens). The split weights
// exp(m_s - m) / l are computed once per block by one warp; each thread then issues all its splits' loads
// together (unrolled up to ATT_MAX_SPLITS) instead of one L2 round trip per split. Sums run in split order.
#define ATT_MAX_SPLITS 32

// weight[s] for the splits of one (token, head) whose partial results start at entry `base`; warp 0 only.
__device__ __forceinline__ void att_merge_weights(const float* partial_ml, long base, int splits, float* weight) {
    const int s = threadIdx.x;
    float ms = s < splits ? partial_ml[(base + s) * 2] : -INFINITY;
    float ls = s < splits ? partial_ml[(base + s) * 2 + 1] : 0.f;
    float m = ms;
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    float e = ms == -INFINITY ? 0.f : expf(ms - m);
    // the denominator in split order, as before (lane 0 adds the lanes' terms one by one)
    float term = ls * e, l = 0.f;
    for (int i = 0; i < ATT_MAX_SPLITS; i++) l += __shfl_sync(0xffffffffu, term, i);
    if (s < ATT_MAX_SPLITS) weight[s] = l > 0.f ? e / l : 0.f;
}

// Column d of the merged result: the splits' partial sums weighted, in split order.
__device__ __forceinline__ float att_merge_column(const float* partial_acc, long base, int splits, int vd, int d, const float* weight) {
    float v[ATT_MAX_SPLITS];
#pragma unroll
    for (int s = 0; s < ATT_MAX_SPLITS; s++) v[s] = s < splits ? partial_acc[(base + s) * vd + d] : 0.f;
    float a = 0.f;
#pragma unroll
    for (int s = 0; s < ATT_MAX_SPLITS; s++) a = fmaf(v[s], weight[s], a);
    return a;
}

template <typename T>
__device__ void attention_combine(const int* token_visible, int max_splits, int heads, int vd, const float* partial_acc,
                                  const float* partial_ml, T* out, long ldo, int o_stride, int split_min = ATT_SPLIT_MIN) {
    __shared__ float weight[ATT_MAX_SPLITS];
    int h = blockIdx.x, t = blockIdx.y;
    int splits = att_splits(token_visible[t], max_splits, split_min);
    if (splits == 1) return;
    long base = ((long)t * heads + h) * max_splits;
    if (threadIdx.x < 32) att_merge_weights(partial_ml, base, splits, weight);
    __syncthreads();
    for (int d = threadIdx.x; d < vd; d += blockDim.x)
        out[t * ldo + (long)h * o_stride + d] = from_f<T>(att_merge_column(partial_acc, base, splits, vd, d, weight));
}

// ---- entry points: launched by AttentionKernels.java (KernelSignaturesTest checks that the two argument lists agree) ----
#define ATTENTION_KERNELS(T, S)                                                                                        \
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
    }

ATTENTION_KERNELS(float, f32)
ATTENTION_KERNELS(bf16, bf16)

// bf16 activations over an FP8 cache (--kv-cache-dtype fp8_e4m3): MLA's shapes the tensor-core kernels lack
extern "C" __global__ void __launch_bounds__(ATT_THREADS) attention_bf16_fp8kv(
    const bf16* q1, long ldq1, int q1_stride, const bf16* q2, long ldq2, int q2_stride, const uint8_t* cache, int heads,
    int heads_per_kv, int blocks_per_kv, int kd1, int kd2, int vd, long entry, int k_off, int v_off, int kv_stride,
    const int* token_seq, const int* token_visible, const int* seq_slot_start, const int* slots, float scale,
    bf16* out, long ldo, int o_stride, float* partial_acc, float* partial_ml) { KILN_ENTRY;
    AttnShape sh{heads, heads_per_kv, blocks_per_kv, kd1, kd2, vd, entry, k_off, v_off, kv_stride};
    attention<bf16, uint8_t>(q1, ldq1, q1_stride, q2, ldq2, q2_stride, cache, sh, token_seq, token_visible, seq_slot_start,
                             slots, scale, out, ldo, o_stride, partial_acc, partial_ml);
}
