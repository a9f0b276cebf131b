// Structured output and logit_bias on the device (LogitConstraints' definition): biases added to single logits,
// then per-row token masks that set every token whose bit is clear to -inf. They write the logits in place before
// argmax / sample / the host download read them, so a constrained row costs a bitmask upload (ceil(vocab / 64)
// longs, 16 KiB for DeepSeek's 129,280 tokens) instead of moving the step's sampling to the host.
#pragma once
#include "common.cuh"

// One block per masked row: mask row i applies to logits row rows[i]; bit (c & 63) of word c >> 6 keeps token c.
template <typename T>
__device__ void mask_logits_rows(T* x, long ldx, int cols, const int* rows, const unsigned long long* masks, int words) {
    long r = rows[blockIdx.x];
    const unsigned long long* m = masks + (long)blockIdx.x * words;
    T* row = x + r * ldx;
    const T minus_inf = from_f<T>(-INFINITY);
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        if (((m[c >> 6] >> (c & 63)) & 1ull) == 0ull) row[c] = minus_inf;
    }
}

// One thread per bias entry: logits[rows[i], ids[i]] += values[i]. Entries of one row name distinct tokens.
template <typename T>
__device__ void bias_logits_entries(T* x, long ldx, const int* rows, const int* ids, const float* values, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    T* p = x + (long)rows[i] * ldx + ids[i];
    *p = from_f<T>(to_f(*p) + values[i]);
}

#define LOGIT_MASK_KERNELS(T, S)                                                                                      \
    extern "C" __global__ void mask_logits_##S(T* x, long ldx, int cols, const int* rows,                             \
                                               const unsigned long long* masks, int words) { KILN_ENTRY;              \
        mask_logits_rows<T>(x, ldx, cols, rows, masks, words);                                                         \
    }                                                                                                                  \
    extern "C" __global__ void bias_logits_##S(T* x, long ldx, const int* rows, const int* ids, const float* values,  \
                                               int n) { KILN_ENTRY;                                                    \
        bias_logits_entries<T>(x, ldx, rows, ids, values, n);                                                          \
    }

LOGIT_MASK_KERNELS(float, f32)
LOGIT_MASK_KERNELS(bf16, bf16)
