// Row-wise kernels: embedding, norms, residual adds, SwiGLU, rotary embedding, KV stores, gathers, conversions.
// Every tensor is (pointer, leading dimension in elements), so column views of wider tensors work unchanged.
#pragma once
#include "common.cuh"

// out[t] = table[tokens[t]]; one block per token.
template <typename TW, typename T>
__device__ void embed(const TW* table, const int* tokens, int hidden, T* out, long ldo) {
    int t = blockIdx.x;
    const TW* row = table + (long)tokens[t] * hidden;
    for (int c = threadIdx.x; c < hidden; c += blockDim.x) out[t * ldo + c] = from_f<T>(to_f(row[c]));
}

// out = x / rms(x) * w per row; one block per row. In place (out == x) is fine: each thread rewrites only what
// it read. With `delta`, x += delta first and the sum is stored back to x (fused residual add).
template <typename T>
__device__ void rmsnorm(T* x, long ldx, const T* delta, long ldd, const float* w, float eps, T* out, long ldo, int cols) {
    __shared__ float scratch[32];
    long r = blockIdx.x;
    T* xr = x + r * ldx;
    // Each thread's values stay in registers between the passes, and all its loads are issued before the first
    // store (x may be out, and a store would otherwise order every later load behind it): one round trip to
    // memory instead of one per element. Same elements per thread and the same order as a plain loop.
    constexpr int PER_THREAD = 32;
    const int n = cols > threadIdx.x ? (cols - threadIdx.x + blockDim.x - 1) / blockDim.x : 0;
    if (n > PER_THREAD) __trap();  // cols > 32 * blockDim.x: not a shape Kiln launches
    float v[PER_THREAD], wv[PER_THREAD];
#pragma unroll
    for (int i = 0; i < PER_THREAD; i++) {
        if (i < n) {
            int c = threadIdx.x + i * blockDim.x;
            v[i] = to_f(xr[c]);
            if (delta) v[i] += to_f(delta[r * ldd + c]);
            wv[i] = w[c];
        }
    }
    float ss = 0.f;
#pragma unroll
    for (int i = 0; i < PER_THREAD; i++) {
        if (i < n) {
            if (delta) {
                T stored = from_f<T>(v[i]);
                xr[threadIdx.x + i * blockDim.x] = stored;
                v[i] = to_f(stored);  // normalise what the residual stream now holds
            }
            ss = fmaf(v[i], v[i], ss);
        }
    }
    float total = block_sum(ss, scratch);
    float inv = rsqrtf(total / cols + eps);
#pragma unroll
    for (int i = 0; i < PER_THREAD; i++) {
        if (i < n) out[r * ldo + threadIdx.x + i * blockDim.x] = from_f<T>(wv[i] * (v[i] * inv));
    }
}

// bf16 rmsnorm with 16-byte accesses: rows of cols % 8 == 0 values at 16-byte aligned addresses, up to
// RMSNORM_VEC vectors of 8 per thread (cols <= 8 * RMSNORM_VEC * blockDim.x). The scalar version above spent
// 12-15 us on R1's 7,168-wide rows: 28 two-byte loads and stores per thread through one block's load units.
// Not the scalar version's summation order: bf16 mode only.
#define RMSNORM_VEC 2
// row: the row this block normalises (-1: blockIdx.x), for launches that give blocks other roles too.
__device__ void rmsnorm_vec(bf16* x, long ldx, const bf16* delta, long ldd, const float* w, float eps, bf16* out, long ldo, int cols,
                            long row = -1) {
    __shared__ float scratch[32];
    const long r = row < 0 ? (long)blockIdx.x : row;
    const int nv = cols >> 3;
    uint4 xv[RMSNORM_VEC], dv[RMSNORM_VEC];
    float4 wv[RMSNORM_VEC][2];
    // the norm weights are no earlier kernel's output: loaded before the wait for the previous kernel (entry points
    // only trigger; a caller that already waited loses nothing)
#pragma unroll
    for (int i = 0; i < RMSNORM_VEC; i++) {
        const int c = threadIdx.x + i * blockDim.x;
        if (c < nv) {
            wv[i][0] = __ldg(reinterpret_cast<const float4*>(w + 8 * c));
            wv[i][1] = __ldg(reinterpret_cast<const float4*>(w + 8 * c) + 1);
        }
    }
    pdl_wait();
#pragma unroll
    for (int i = 0; i < RMSNORM_VEC; i++) {
        const int c = threadIdx.x + i * blockDim.x;
        if (c < nv) {
            xv[i] = *reinterpret_cast<const uint4*>(x + r * ldx + 8 * c);
            if (delta) dv[i] = *reinterpret_cast<const uint4*>(delta + r * ldd + 8 * c);
        }
    }
    float v[RMSNORM_VEC][8], ss = 0.f;
#pragma unroll
    for (int i = 0; i < RMSNORM_VEC; i++) {
        const int c = threadIdx.x + i * blockDim.x;
        if (c < nv) {
            __nv_bfloat162* xp = reinterpret_cast<__nv_bfloat162*>(&xv[i]);
            const __nv_bfloat162* dp = reinterpret_cast<const __nv_bfloat162*>(&dv[i]);
#pragma unroll
            for (int j = 0; j < 4; j++) {
                float2 a = __bfloat1622float2(xp[j]);
                if (delta) {
                    float2 d = __bfloat1622float2(dp[j]);
                    xp[j] = __floats2bfloat162_rn(a.x + d.x, a.y + d.y);
                    a = __bfloat1622float2(xp[j]);  // normalise what the residual stream now holds
                }
                v[i][2 * j] = a.x;
                v[i][2 * j + 1] = a.y;
                ss = fmaf(a.x, a.x, ss);
                ss = fmaf(a.y, a.y, ss);
            }
            if (delta) *reinterpret_cast<uint4*>(x + r * ldx + 8 * c) = xv[i];
        }
    }
    const float inv = rsqrtf(block_sum(ss, scratch) / cols + eps);
#pragma unroll
    for (int i = 0; i < RMSNORM_VEC; i++) {
        const int c = threadIdx.x + i * blockDim.x;
        if (c < nv) {
            const float wf[8] = {wv[i][0].x, wv[i][0].y, wv[i][0].z, wv[i][0].w, wv[i][1].x, wv[i][1].y, wv[i][1].z, wv[i][1].w};
            uint4 o;
            __nv_bfloat162* op = reinterpret_cast<__nv_bfloat162*>(&o);
#pragma unroll
            for (int j = 0; j < 4; j++) op[j] = __floats2bfloat162_rn(wf[2 * j] * (v[i][2 * j] * inv), wf[2 * j + 1] * (v[i][2 * j + 1] * inv));
            *reinterpret_cast<uint4*>(out + r * ldo + 8 * c) = o;
        }
    }
}

template <typename T>
__device__ void add_rows(T* acc, long lda, const T* x, long ldx, int cols) {
    long r = blockIdx.x;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) acc[r * lda + c] = from_f<T>(to_f(acc[r * lda + c]) + to_f(x[r * ldx + c]));
}

template <typename T>
__device__ void add_bias(T* out, long ldo, const float* bias, int cols) {
    long r = blockIdx.x;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) out[r * ldo + c] = from_f<T>(to_f(out[r * ldo + c]) + bias[c]);
}

template <typename T>
__device__ void silu_mul(const T* g, long ldg, const T* u, long ldu, T* out, long ldo, int cols) {
    long r = blockIdx.x;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float a = to_f(g[r * ldg + c]);
        out[r * ldo + c] = from_f<T>(a / (1.f + expf(-a)) * to_f(u[r * ldu + c]));
    }
}

// Rotates `heads` heads of row blockIdx.x in place: head h's pairs start at column h * stride + offset.
// interleaved: pairs (2i, 2i+1) (DeepSeek); else (i, i + half) (Llama, Qwen2). The row's angles are computed
// once into shared memory (sincosf of a large angle takes the slow range reduction); the (head, pair) items
// are spread over blockIdx.z's blocks so that each thread has about one: a thread that loops stores between
// its loads, and each round trip then waits for the last (R1's 128 query heads took 15 us in one block).
#define ROPE_MAX_HALF 256
// row, part, parts: this block's row and its share of the items (-1: blockIdx.x, blockIdx.z, gridDim.z).
template <typename T>
__device__ void rope(T* x, long ldx, int heads, int stride, int offset, const int* positions, const float* inv_freq,
                     int half, float factor, int interleaved, long row = -1, int part = -1, int parts = -1) {
    __shared__ float cos_s[ROPE_MAX_HALF], sin_s[ROPE_MAX_HALF];
    const long r = row < 0 ? (long)blockIdx.x : row;
    if (part < 0) {
        part = blockIdx.z;
        parts = gridDim.z;
    }
    float pos = (float)positions[r];
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        float s, c;
        sincosf(pos * inv_freq[i], &s, &c);
        cos_s[i] = c * factor;
        sin_s[i] = s * factor;
    }
    // the positions and the frequencies are no kernel's output: the table is made before the wait for the previous
    // kernel (a caller that already waited loses nothing)
    pdl_wait();
    __syncthreads();
    for (int idx = part * blockDim.x + threadIdx.x; idx < heads * half; idx += parts * blockDim.x) {
        int h = idx / half, i = idx % half;
        float c = cos_s[i], s = sin_s[i];
        T* base = x + r * ldx + (long)h * stride + offset;
        int a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
        float x0 = to_f(base[a]), x1 = to_f(base[b]);
        base[a] = from_f<T>(x0 * c - x1 * s);
        base[b] = from_f<T>(x1 * c + x0 * s);
    }
}

// Copies row t of src into cache entry slots[t] at column `at` (entry = `entry` elements per slot).
template <typename T>
__device__ void kv_store(const T* src, long lds, int cols, const int* slots, T* cache, long entry, int at) {
    long t = blockIdx.x;
    T* dst = cache + (long)slots[t] * entry + at;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) dst[c] = src[t * lds + c];
}

// MLA's two stores in one launch: row t of a (cols_a) then row t of b (cols_b) into entry slots[t].
template <typename T>
__device__ void kv_store2(const T* a, long lda, int cols_a, const T* b, long ldb, int cols_b, const int* slots, T* cache, long entry) {
    long t = blockIdx.x;
    T* dst = cache + (long)slots[t] * entry;
    for (int c = threadIdx.x; c < cols_a + cols_b; c += blockDim.x) dst[c] = c < cols_a ? a[t * lda + c] : b[t * ldb + c - cols_a];
}

template <typename T>
__device__ void gather_rows(const T* src, long lds, const int* rows, int cols, T* out, long ldo) {
    long r = blockIdx.x;
    const T* s = src + (long)rows[r] * lds;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) out[r * ldo + c] = s[c];
}

// out[r] = src[rows[r] / div]: the MoE's (token, choice) pairs in expert order, each its token's row.
template <typename T>
__device__ void gather_rows_div(const T* src, long lds, const int* rows, int div, int cols, T* out, long ldo) {
    long r = blockIdx.x;
    const T* s = src + (long)(rows[r] / div) * lds;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) out[r * ldo + c] = s[c];
}

// Packs a (possibly strided) tensor into contiguous floats for download.
template <typename T>
__device__ void to_f32(const T* src, long lds, int cols, float* out) {
    long r = blockIdx.x;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) out[r * cols + c] = to_f(src[r * lds + c]);
}

template <typename T>
__device__ void from_f32(const float* src, int cols, T* out, long ldo) {
    long r = blockIdx.x;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) out[r * ldo + c] = from_f<T>(src[r * cols + c]);
}

// bf16 copy of an fp8 weight with its block scales applied (row blockIdx.x), for the tensor-core GEMM of
// large batches: the extra pass costs a few percent of a prefill GEMM.
__device__ void dequant_fp8_row(const uint8_t* w, const float* scales, int scale_cols, int block_rows, int block_cols,
                                bf16* out, int cols) {
    long r = blockIdx.x;
    const float* s = scales + (long)(r / block_rows) * scale_cols;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) out[r * cols + c] = __float2bfloat16_rn(to_f(w[r * cols + c]) * s[c / block_cols]);
}

// Index of the largest value of each row (lowest index on ties), one block per row.
template <typename T>
__device__ void argmax_rows(const T* x, long ldx, int cols, int* out) {
    __shared__ float best_v[32];
    __shared__ int best_i[32];
    long r = blockIdx.x;
    float bv = -INFINITY;
    int bi = 0x7fffffff;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = to_f(x[r * ldx + c]);
        if (v > bv || (v == bv && c < bi)) { bv = v; bi = c; }
    }
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (ov > bv || (ov == bv && oi < bi)) { bv = ov; bi = oi; }
    }
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) { best_v[warp] = bv; best_i[warp] = bi; }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int i = 1; i < (int)(blockDim.x >> 5); i++) {
            if (best_v[i] > bv || (best_v[i] == bv && best_i[i] < bi)) { bv = best_v[i]; bi = best_i[i]; }
        }
        out[r] = bi == 0x7fffffff ? 0 : bi;  // a row of NaNs answers 0
    }
}

// Sampling, one block (1024 threads) per row. temperature <= 0: greedy. Otherwise over z = logit / temperature:
// keep the tokens >= the top_k-th largest (top_k <= 0: all), then the largest ones whose softmax mass reaches
// top_p (thresholds found by bisection on z, so ties at a threshold are all kept), and pick by inverse CDF at
// uniform * kept mass over the kept tokens in index order. The uniforms come from the host, so runs reproduce.
template <typename T>
__device__ void sample_rows(const T* x, long ldx, int cols, const float* temperature, const int* top_k, const float* top_p,
                            const float* uniform, int* out) {
    __shared__ float scratch[32];
    __shared__ float part[1024];
    __shared__ int chosen_thread, last_kept;
    __shared__ float before;
    long r = blockIdx.x;
    float temp = temperature[r];
    if (temp <= 0.f) {
        argmax_rows<T>(x, ldx, cols, out);
        return;
    }
    const T* row = x + r * ldx;
    float inv = 1.f / temp, hi = -INFINITY, lo = INFINITY;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float z = to_f(row[c]) * inv;
        hi = fmaxf(hi, z);
        if (z > -INFINITY) lo = fminf(lo, z);  // tokens masked to -inf (structured output) stay below every cut
    }
    hi = block_max(hi, scratch);
    lo = -block_max(-lo, scratch);
    float tau = lo;
    int k = top_k[r];
    if (k > 0 && k < cols) {
        float a = lo, b = hi;  // count(z >= a) >= k always
        for (int it = 0; it < 40; it++) {
            float mid = 0.5f * (a + b), n = 0.f;
            for (int c = threadIdx.x; c < cols; c += blockDim.x) n += to_f(row[c]) * inv >= mid ? 1.f : 0.f;
            if (block_sum(n, scratch) >= (float)k) a = mid; else b = mid;
        }
        tau = a;
    }
    float mass = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float z = to_f(row[c]) * inv;
        if (z >= tau) mass += expf(z - hi);
    }
    float total = block_sum(mass, scratch);
    float p = top_p[r];
    if (p < 1.f) {
        float a = tau, b = hi, goal = p * total;  // mass(z >= a) >= goal always
        for (int it = 0; it < 40; it++) {
            float mid = 0.5f * (a + b), m = 0.f;
            for (int c = threadIdx.x; c < cols; c += blockDim.x) {
                float z = to_f(row[c]) * inv;
                if (z >= mid) m += expf(z - hi);
            }
            if (block_sum(m, scratch) >= goal) a = mid; else b = mid;
        }
        tau = a;
        mass = 0.f;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) {
            float z = to_f(row[c]) * inv;
            if (z >= tau) mass += expf(z - hi);
        }
        total = block_sum(mass, scratch);
    }
    // inverse CDF in index order: contiguous chunks per thread, chunk masses scanned by thread 0
    int chunk = (cols + blockDim.x - 1) / blockDim.x, begin = threadIdx.x * chunk, end = min(cols, begin + chunk);
    float mine = 0.f;
    int my_last = -1;
    for (int c = begin; c < end; c++) {
        float z = to_f(row[c]) * inv;
        if (z >= tau) {
            mine += expf(z - hi);
            my_last = c;
        }
    }
    part[threadIdx.x] = mine;
    __syncthreads();
    if (threadIdx.x == 0) last_kept = -1;
    __syncthreads();
    if (my_last >= 0) atomicMax(&last_kept, my_last);
    if (threadIdx.x == 0) {
        float goal = uniform[r] * total, acc = 0.f;
        chosen_thread = -1;
        for (int i = 0; i < (int)blockDim.x; i++) {
            if (part[i] > 0.f && acc + part[i] > goal) {
                chosen_thread = i;
                break;
            }
            acc += part[i];
        }
        before = acc;
    }
    __syncthreads();
    if (chosen_thread < 0) {
        if (threadIdx.x == 0) out[r] = last_kept >= 0 ? last_kept : 0;  // rounding put the goal past the end
        return;
    }
    if ((int)threadIdx.x == chosen_thread) {
        float goal = uniform[r] * total, acc = before;
        int pick = my_last;
        for (int c = begin; c < end; c++) {
            float z = to_f(row[c]) * inv;
            if (z >= tau) {
                acc += expf(z - hi);
                if (acc > goal) {
                    pick = c;
                    break;
                }
            }
        }
        out[r] = pick;
    }
}

// Activations to fp8 e4m3 in 1x128 blocks (DeepSeek's dynamic activation scheme), for cuBLASLt's block-scaled
// FP8 GEMM: per row and 128-column group, scale = amax / 448, q = x / scale (saturating). A warp per group, four
// groups per block, grid (rows, ceil(groups / 4)): a row of 7,168 columns is 14 blocks, so a few rows still fill
// the GPU (one block per row left 8 warps looping over 56 groups, latency-bound). Each lane takes 4 adjacent
// columns: one 8-byte load and one 4-byte store where the row is aligned for them. Scales at scales[kb * rows + r]
// (m_major) or scales[r * groups + kb]. Rows from `valid` on are padding (a row count rounded up for cuBLASLt):
// zero codes, the smallest scale.
#define QUANT_FP8_WARPS 4
__device__ void quant_fp8_rows(const bf16* x, long ldx, int cols, uint8_t* q, float* scales, int rows, int valid, int m_major) {
    const long r = blockIdx.x;
    const int lane = threadIdx.x & 31, groups = (cols + 127) / 128, kb = blockIdx.y * QUANT_FP8_WARPS + (threadIdx.x >> 5);
    if (kb >= groups) return;
    const bool pad = r >= valid;
    const int c0 = kb * 128 + lane * 4;
    const bool vec = c0 + 3 < cols && (ldx & 3) == 0 && (cols & 3) == 0 && ((uintptr_t)x & 7) == 0 && ((uintptr_t)q & 3) == 0;
    float v[4], amax = 0.f;
    if (vec) {
        uint2 raw = pad ? make_uint2(0, 0) : *reinterpret_cast<const uint2*>(x + r * ldx + c0);
        const bf16* h = reinterpret_cast<const bf16*>(&raw);
#pragma unroll
        for (int i = 0; i < 4; i++) v[i] = to_f(h[i]);
    } else {
#pragma unroll
        for (int i = 0; i < 4; i++) v[i] = c0 + i < cols && !pad ? to_f(x[r * ldx + c0 + i]) : 0.f;
    }
#pragma unroll
    for (int i = 0; i < 4; i++) amax = fmaxf(amax, fabsf(v[i]));
    for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    const float s = fmaxf(amax, 1e-12f) / 448.f, inv = 1.f / s;
    uint8_t b[4];
#pragma unroll
    for (int i = 0; i < 4; i++) b[i] = to_e4m3(v[i] * inv);
    if (vec) {
        *reinterpret_cast<uint32_t*>(q + r * cols + c0) = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    } else {
#pragma unroll
        for (int i = 0; i < 4; i++) if (c0 + i < cols) q[r * cols + c0 + i] = b[i];
    }
    if (lane == 0) scales[m_major ? (long)kb * rows + r : r * groups + kb] = s;
}

// ---- entry points: launched by ElementwiseKernels.java (KernelSignaturesTest checks that the two argument lists agree) ----
#define ELEMENTWISE_KERNELS(T, S)                                                                                      \
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
    }

ELEMENTWISE_KERNELS(float, f32)
ELEMENTWISE_KERNELS(bf16, bf16)

// ---- the FP8 latent cache (--kv-cache-dtype fp8_e4m3): e4m3 values stored unscaled (SGLang's k_scale of 1.0 when a
// checkpoint carries none), saturating at +-448; bf16 activations only ----

// kv_store2 into an FP8 cache: cache[slots[t]] = e4m3([a[t] | b[t]])
extern "C" __global__ void kv_store2_bf16_fp8kv(const bf16* a, long lda, int cols_a, const bf16* b, long ldb, int cols_b,
                                                const int* slots, uint8_t* cache, long entry) { KILN_ENTRY;
    long t = blockIdx.x;
    uint8_t* dst = cache + (long)slots[t] * entry;
    for (int c = threadIdx.x; c < cols_a + cols_b; c += blockDim.x) dst[c] = to_e4m3(to_f(c < cols_a ? a[t * lda + c] : b[t * ldb + c - cols_a]));
}

// gather_rows out of an FP8 cache: out[r] = bf16(src[rows[r]]), exact (every e4m3 value is a bf16 value)
extern "C" __global__ void gather_rows_bf16_fp8kv(const uint8_t* src, long lds, const int* rows, int cols, bf16* out, long ldo) { KILN_ENTRY;
    long r = blockIdx.x;
    const uint8_t* s = src + (long)rows[r] * lds;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) out[r * ldo + c] = __float2bfloat16_rn(to_f(s[c]));
}

// A step's future tokens: token t < 0 is the id the previous step sampled into row -1 - t of `previous`. The
// overlapped scheduler plans step N+1 before step N's ids reach the host; this runs after N+1's batch is staged
// and before its embedding, in stream order behind N's sampling.
extern "C" __global__ void resolve_future_tokens(int* tokens, const int* previous, int n) { KILN_ENTRY;
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n && tokens[i] < 0) tokens[i] = previous[-1 - tokens[i]];
}

extern "C" __global__ void dequant_fp8_bf16(const uint8_t* w, const float* scales, int scale_cols, int block_rows,
                                            int block_cols, bf16* out, int cols) { KILN_ENTRY;
    dequant_fp8_row(w, scales, scale_cols, block_rows, block_cols, out, cols);
}

extern "C" __global__ void __launch_bounds__(QUANT_FP8_WARPS * 32) quant_fp8_bf16(const bf16* x, long ldx, int cols, uint8_t* q, float* scales,
                                                                 int rows, int valid, int m_major) { KILN_ENTRY;
    quant_fp8_rows(x, ldx, cols, q, scales, rows, valid, m_major);
}

// out[r] = src[r] for the first rows of a padded GEMM result, grid (rows, ceil(cols / 2048)) of 256 threads, 8 columns a thread: 16-byte copies where both
// rows are aligned for them (a padded FP8 GEMM result of 18,432 columns is 9 blocks a row, not one looping block).
extern "C" __global__ void copy_rows_bf16(const bf16* src, long lds, int cols, bf16* out, long ldo) { KILN_ENTRY;
    const long r = blockIdx.x;
    const int c0 = (blockIdx.y * blockDim.x + threadIdx.x) * 8;
    if (c0 >= cols) return;
    const bf16* s = src + r * lds + c0;
    bf16* d = out + r * ldo + c0;
    if (c0 + 8 <= cols && ((uintptr_t)s & 15) == 0 && ((uintptr_t)d & 15) == 0) {
        *reinterpret_cast<uint4*>(d) = *reinterpret_cast<const uint4*>(s);
    } else {
        for (int i = 0; i < 8 && c0 + i < cols; i++) d[i] = s[i];
    }
}

extern "C" __global__ void __launch_bounds__(1024) rmsnorm_vec_bf16(bf16* x, long ldx, const bf16* delta, long ldd, const float* w,
                                                                   float eps, bf16* out, long ldo, int cols) { pdl_trigger();
    rmsnorm_vec(x, ldx, delta, ldd, w, eps, out, ldo, cols);  // waits after loading the weights
}
