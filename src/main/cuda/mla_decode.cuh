// MLA attention (absorbed form) on the tensor cores, bf16 activations and cache: for each query token, 16 query
// heads against the token's visible latent entries [c_kv | k_rope] (kd = kd1 + kd2 wide), values = c_kv (kd1).
//
// CTA = (16 heads, token, KV split), 8 warps. Key tiles of 64 entries are double-buffered in shared memory with
// 16-byte cp.async (rows past the split's end zero-filled). Per tile: S = Q K^T with mma.sync m16n8k16 (warp w
// owns keys 8w..8w+7, fragments through ldmatrix), an online softmax over the 16 rows in shared memory, then
// O += P V with P rounded to bf16 (warp w owns value columns [w*vd/8, (w+1)*vd/8); V is the key tile itself,
// read with ldmatrix.trans). Results: out directly (one split) or partial sums + (max, sum) per split for
// attention_combine (attention.cuh), which merges them in split order. Splits as in attention.cuh.
//
// Shapes: kd1 % 64 == 0 (<= 512), kd2 % 16 == 0, entry % 8 == 0; shared memory 288 * (kd + 8) + 6592 bytes
// (175 KB for DeepSeek's 576-wide entries).
//
// The same kernel does grouped-query attention (SPLIT_V, gqa_attention_tc_bf16): a CTA's 16 rows are query heads
// of one kv head (heads_per_kv of them, in ceil(heads_per_kv / 16) CTAs), keys of head_dim = kd1 at
// k_off + kvh * kv_stride of each cache entry and values of the same width at v_off + kvh * kv_stride, double-
// buffered in a second tile beside the keys; shared memory 288 * (kd + 8) + 256 * (kd + 8) + 6592 bytes.
//
// FP8KV (--kv-cache-dtype fp8_e4m3, MLA only): the cache holds e4m3 values (entry bytes per slot). Tiles are double-
// buffered as the raw bytes (half the traffic of bf16), and each tile is widened into one bf16 key tile before its
// products (exact: every e4m3 value is a bf16 value), so the arithmetic after that is the bf16 kernel's. This
// step's entries are stored by kv_store2 before the launch. Shared memory 160 * (kd + 8) + 128 * kd + 6592 bytes
// (170 KB for 576-wide entries).
#pragma once
#include "common.cuh"
#include "attention.cuh"

#define MLA_H 16
#define MLA_KT 64
#define MLA_THREADS 256
#define MLA_PLD (MLA_KT + 8)

__device__ __forceinline__ uint32_t smem_u32(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void ldsm_x4(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3, uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}

__device__ __forceinline__ void ldsm_x2(uint32_t& r0, uint32_t& r1, uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n" : "=r"(r0), "=r"(r1) : "r"(addr));
}

__device__ __forceinline__ void ldsm_x2_trans(uint32_t& r0, uint32_t& r1, uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n" : "=r"(r0), "=r"(r1) : "r"(addr));
}

// c += A (16x16, row) * B (16x8, col), bf16 in, float accumulate
__device__ __forceinline__ void mma_bf16_16816(float& c0, float& c1, float& c2, float& c3, uint32_t a0, uint32_t a1, uint32_t a2,
                                               uint32_t a3, uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c0), "+f"(c1), "+f"(c2), "+f"(c3)
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// 16 bytes global -> shared, asynchronously; src_bytes 0 zero-fills
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// One 16-byte chunk of an FP8 cache tile (16 e4m3 values) as 16 bf16 at dst (32 bytes, 16-byte aligned): e4m3 pairs
// to half pairs in hardware, then to bf16 pairs; exact.
__device__ __forceinline__ void fp8x16_to_bf16(uint4 raw, bf16* dst) {
    const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
    uint32_t o[8];
#pragma unroll
    for (int i = 0; i < 8; i++) {
        __half2_raw h = __nv_cvt_fp8x2_to_halfraw2((__nv_fp8x2_storage_t)(w[i >> 1] >> (16 * (i & 1))), __NV_E4M3);
        __nv_bfloat162 b = __float22bfloat162_rn(__half22float2(__half2(h)));
        o[i] = *reinterpret_cast<uint32_t*>(&b);
    }
    reinterpret_cast<uint4*>(dst)[0] = make_uint4(o[0], o[1], o[2], o[3]);
    reinterpret_cast<uint4*>(dst)[1] = make_uint4(o[4], o[5], o[6], o[7]);
}

// Grouped-query attention's cache layout for the SPLIT_V form: query head h reads kv head h / heads_per_kv.
struct TcGqa {
    int heads_per_kv, k_off, v_off, kv_stride;
};

// KD1/KD2 (0: runtime): DeepSeek's 512 + 64 as constants turn the tile loops' divisions and the fragment loops'
// bounds into compile-time values (the kernel is instruction-bound: docs/cuda.md has its Nsight Compute figures).
template <int KD1 = 0, int KD2 = 0, bool SPLIT_V = false, bool FP8KV = false>
__device__ void mla_attention_tc(const bf16* q1, long ldq1, int q1_stride, const bf16* q2, long ldq2, int q2_stride,
                                 const void* cache_v, long entry, int heads, int kd1_arg, int kd2_arg, const int* token_seq,
                                 const int* token_visible, const int* seq_slot_start, const int* slots, float scale,
                                 bf16* out, long ldo, int o_stride, float* partial_acc, float* partial_ml,
                                 int split_min = ATT_SPLIT_MIN, bool q_async = false, bool early_tile = false,
                                 const bf16* new_lat = nullptr, long ld_lat = 0, const bf16* new_rope = nullptr, long ld_rope = 0,
                                 const int* new_slots = nullptr, TcGqa gqa = {}) {
    static_assert(!(FP8KV && SPLIT_V), "the FP8 cache is MLA's latent cache");
    extern __shared__ __align__(16) unsigned char mla_smem[];
    const bf16* cache = static_cast<const bf16*>(cache_v);
    const uint8_t* cache8 = static_cast<const uint8_t*>(cache_v);
    const int kd1 = KD1 ? KD1 : kd1_arg, kd2 = KD2 ? KD2 : kd2_arg;
    const int kd = kd1 + kd2, vd = kd1, kdp = kd + 8, vdp = vd + 8;
    const int vstride = SPLIT_V ? vdp : kdp;                       // row pitch of the tile the values are read from
    bf16* qs = reinterpret_cast<bf16*>(mla_smem);                  // [16][kdp]
    bf16* ks = qs + MLA_H * kdp;                                    // [2][64][kdp]; FP8KV: [64][kdp]
    uint8_t* stage = reinterpret_cast<uint8_t*>(ks + (FP8KV ? 1 : 2) * MLA_KT * kdp);  // FP8KV: [2][64][kd] raw tiles
    bf16* vs = reinterpret_cast<bf16*>(stage + (FP8KV ? 2 * MLA_KT * kd : 0));          // SPLIT_V: [2][64][vdp]
    float* sf = reinterpret_cast<float*>(vs + (SPLIT_V ? 2 * MLA_KT * vdp : 0));  // [16][64] scaled scores
    bf16* ps = reinterpret_cast<bf16*>(sf + MLA_H * MLA_KT);        // [16][72] probabilities
    float* m_s = reinterpret_cast<float*>(ps + MLA_H * MLA_PLD);    // running max, sum, tile rescale per row
    float* l_s = m_s + MLA_H;
    float* a_s = l_s + MLA_H;

    const int t = blockIdx.y, split = blockIdx.z, tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    int h0 = blockIdx.x * MLA_H, G = min(MLA_H, heads - h0);
    long k_at = 0, v_at = 0;  // offsets of this CTA's key and value in a cache entry (SPLIT_V)
    if constexpr (SPLIT_V) {
        const int per_kv = (gqa.heads_per_kv + MLA_H - 1) / MLA_H, kvh = blockIdx.x / per_kv, g0 = (blockIdx.x - kvh * per_kv) * MLA_H;
        h0 = kvh * gqa.heads_per_kv + g0;
        G = min(MLA_H, gqa.heads_per_kv - g0);
        k_at = gqa.k_off + (long)kvh * gqa.kv_stride;
        v_at = gqa.v_off + (long)kvh * gqa.kv_stride;
    }
    const int visible = token_visible[t];
    const int splits = att_splits(visible, gridDim.z, split_min);
    if (split >= splits) return;
    const int chunk = splits == 1 ? visible : att_chunk(visible, splits);
    const int key_begin = split * chunk, key_end = min(visible, key_begin + chunk);
    const int* seq_slots = slots + seq_slot_start[token_seq[t]];
    const int cpr = kd >> 3;  // 16-byte chunks per entry

    // new_lat (decode, the kernel stores this step's entries): the token's newest key (visible - 1) comes from
    // [new_lat | new_rope] row t rather than the cache, and the split that holds it (first head group) writes it to
    // the cache slot new_slots[t]; nothing else in this launch reads that slot.
    const int newest = !FP8KV && new_lat ? visible - 1 : -1;
    auto entry_src = [&](int jj, int c) -> const bf16* {
        if (jj == newest) return c < kd1 / 8 ? new_lat + t * ld_lat + c * 8 : new_rope + t * ld_rope + (c - kd1 / 8) * 8;
        return cache + (long)seq_slots[jj] * entry + k_at + c * 8;
    };
    auto load_tile = [&](int j0, int buf) {
        if constexpr (FP8KV) {
            uint8_t* dst = stage + buf * MLA_KT * kd;
            const int c8 = kd >> 4;  // 16-byte chunks of an FP8 entry
            for (int i = tid; i < MLA_KT * c8; i += MLA_THREADS) {
                int j = i / c8, c = i - j * c8;
                bool valid = j0 + j < key_end;
                cp_async16(smem_u32(dst + j * kd + c * 16), valid ? cache8 + (long)seq_slots[j0 + j] * entry + c * 16 : cache8, valid ? 16 : 0);
            }
        } else {
            bf16* dst = ks + buf * MLA_KT * kdp;
            for (int i = tid; i < MLA_KT * cpr; i += MLA_THREADS) {
                int j = i / cpr, c = i - j * cpr;
                bool valid = j0 + j < key_end;
                cp_async16(smem_u32(dst + j * kdp + c * 8), valid ? entry_src(j0 + j, c) : cache, valid ? 16 : 0);
            }
        }
        if constexpr (SPLIT_V) {
            bf16* vdst = vs + buf * MLA_KT * vdp;
            const int cpv = vd >> 3;
            for (int i = tid; i < MLA_KT * cpv; i += MLA_THREADS) {
                int j = i / cpv, c = i - j * cpv;
                bool valid = j0 + j < key_end;
                cp_async16(smem_u32(vdst + j * vdp + c * 8), valid ? cache + (long)seq_slots[j0 + j] * entry + v_at + c * 8 : cache, valid ? 16 : 0);
            }
        }
        cp_async_commit();
    };

    const int ntiles = key_end > key_begin ? (key_end - key_begin + MLA_KT - 1) / MLA_KT : 0;
    // Under PDL (early_tile: the caller only triggered) the batch metadata above and a first tile that holds no
    // key of this step (decode: the newest key is visible - 1) are older than every kernel still running, so
    // their loads go out before the wait; the queries come from the previous kernels and wait.
    const bool early = early_tile && key_end < visible;
    if (ntiles > 0 && early) load_tile(key_begin, 0);
    // the split that holds this step's entry stores it; its slot is batch metadata, read before the wait too
    const bool stores = newest >= key_begin && newest < key_end && blockIdx.x == 0;
    const long new_slot = stores ? new_slots[t] : 0;
    pdl_wait();
    if (ntiles > 0 && !early) load_tile(key_begin, 0);
    if (q_async) {
        // the queries as 16-byte cp.async chunks too (one round trip with the first tile instead of a chain of
        // 2-byte loads); rows of absent heads zero-filled. The first wait in the loop covers this group as well.
        for (int i = tid; i < MLA_H * cpr; i += MLA_THREADS) {
            int g = i / cpr, d = (i - g * cpr) * 8, h = h0 + g;
            const bf16* src = g >= G ? q1 : d < kd1 ? q1 + t * ldq1 + (long)h * q1_stride + d : q2 + t * ldq2 + (long)h * q2_stride + d - kd1;
            cp_async16(smem_u32(qs + g * kdp + d), src, g < G ? 16 : 0);
        }
        cp_async_commit();
    } else {
        for (int i = tid; i < MLA_H * kd; i += MLA_THREADS) {
            int g = i / kd, d = i - g * kd, h = h0 + g;
            bf16 v = __float2bfloat16_rn(0.f);
            if (g < G) v = d < kd1 ? q1[t * ldq1 + (long)h * q1_stride + d] : q2[t * ldq2 + (long)h * q2_stride + d - kd1];
            qs[g * kdp + d] = v;
        }
    }
    if constexpr (!FP8KV) {
        if (stores) {  // after the query loads went out, so that its round trip overlaps theirs
            bf16* dst = const_cast<bf16*>(cache) + new_slot * entry;
            for (int c = tid; c < cpr; c += MLA_THREADS) *reinterpret_cast<uint4*>(dst + c * 8) = *reinterpret_cast<const uint4*>(entry_src(newest, c));
        }
    }
    if (tid < MLA_H) {
        m_s[tid] = -INFINITY;
        l_s[tid] = 0.f;
    }
    const int cw = vd >> 3, nf = cw >> 3;  // value columns per warp, n8 fragments per warp (<= 8)
    const int gr = lane >> 2, t4 = lane & 3;
    float acc[8][4];
#pragma unroll
    for (int f = 0; f < 8; f++) acc[f][0] = acc[f][1] = acc[f][2] = acc[f][3] = 0.f;
    // fragment addresses (bytes in shared memory); A: row (lane & 7) + 8 * bit 3, k offset 8 * bit 4
    const uint32_t qa = smem_u32(qs + ((lane & 7) + ((lane >> 3) & 1) * 8) * kdp + (lane >> 4) * 8);
    const uint32_t pa = smem_u32(ps + ((lane & 7) + ((lane >> 3) & 1) * 8) * MLA_PLD + (lane >> 4) * 8);
    __syncthreads();

    for (int it = 0; it < ntiles; it++) {
        const int j0 = key_begin + it * MLA_KT, kt = min(MLA_KT, key_end - j0);
        if (it + 1 < ntiles) {
            load_tile(j0 + MLA_KT, (it + 1) & 1);
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        if constexpr (FP8KV) {  // widen the raw tile into the key tile, every row (zero-filled ones give zero keys)
            const uint8_t* sb = stage + (it & 1) * MLA_KT * kd;
            const int c8 = kd >> 4;
            for (int i = tid; i < MLA_KT * c8; i += MLA_THREADS) {
                int j = i / c8, c = i - j * c8;
                fp8x16_to_bf16(*reinterpret_cast<const uint4*>(sb + j * kd + c * 16), ks + j * kdp + c * 16);
            }
            __syncthreads();
        }
        const bf16* kb = FP8KV ? ks : ks + (it & 1) * MLA_KT * kdp;
        const bf16* vb = SPLIT_V ? vs + (it & 1) * MLA_KT * vdp : kb;
        {   // S = Q K^T for keys 8w..8w+7, in four independent accumulator chains (one chain of kd / 16 dependent
            // mma was the tile's longest latency)
            float c[4][4];
#pragma unroll
            for (int u = 0; u < 4; u++) c[u][0] = c[u][1] = c[u][2] = c[u][3] = 0.f;
            const uint32_t kbase = smem_u32(kb + (warp * 8 + (lane & 7)) * kdp + ((lane >> 3) & 1) * 8);
            for (int k0 = 0; k0 < kd; k0 += 64) {
#pragma unroll
                for (int u = 0; u < 4; u++) {
                    if (k0 + 16 * u < kd) {
                        uint32_t a0, a1, a2, a3, b0, b1;
                        ldsm_x4(a0, a1, a2, a3, qa + 2 * (k0 + 16 * u));
                        ldsm_x2(b0, b1, kbase + 2 * (k0 + 16 * u));
                        mma_bf16_16816(c[u][0], c[u][1], c[u][2], c[u][3], a0, a1, a2, a3, b0, b1);
                    }
                }
            }
            const float s0 = (c[0][0] + c[1][0]) + (c[2][0] + c[3][0]), s1 = (c[0][1] + c[1][1]) + (c[2][1] + c[3][1]);
            const float s2 = (c[0][2] + c[1][2]) + (c[2][2] + c[3][2]), s3 = (c[0][3] + c[1][3]) + (c[2][3] + c[3][3]);
            int key = warp * 8 + t4 * 2;
            sf[gr * MLA_KT + key] = key < kt ? s0 * scale : -INFINITY;
            sf[gr * MLA_KT + key + 1] = key + 1 < kt ? s1 * scale : -INFINITY;
            sf[(gr + 8) * MLA_KT + key] = key < kt ? s2 * scale : -INFINITY;
            sf[(gr + 8) * MLA_KT + key + 1] = key + 1 < kt ? s3 * scale : -INFINITY;
        }
        __syncthreads();
        {   // online softmax: 16 threads per row, 4 keys each
            int row = tid >> 4, c = (tid & 15) * 4;
            float v0 = sf[row * MLA_KT + c], v1 = sf[row * MLA_KT + c + 1], v2 = sf[row * MLA_KT + c + 2], v3 = sf[row * MLA_KT + c + 3];
            float m_old = m_s[row];
            float mt = fmaxf(fmaxf(v0, v1), fmaxf(v2, v3));
            for (int o = 8; o > 0; o >>= 1) mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, o));
            float m_new = fmaxf(m_old, mt);  // finite: key j0 is visible and the scores are finite
            float p0 = __expf(v0 - m_new), p1 = __expf(v1 - m_new), p2 = __expf(v2 - m_new), p3 = __expf(v3 - m_new);
            ps[row * MLA_PLD + c] = __float2bfloat16_rn(p0);
            ps[row * MLA_PLD + c + 1] = __float2bfloat16_rn(p1);
            ps[row * MLA_PLD + c + 2] = __float2bfloat16_rn(p2);
            ps[row * MLA_PLD + c + 3] = __float2bfloat16_rn(p3);
            float sum = (p0 + p1) + (p2 + p3);
            for (int o = 8; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
            __syncwarp();
            if ((tid & 15) == 0) {
                float alpha = m_old == -INFINITY ? 0.f : __expf(m_old - m_new);
                a_s[row] = alpha;
                l_s[row] = l_s[row] * alpha + sum;
                m_s[row] = m_new;
            }
        }
        __syncthreads();
        {   // O = O * alpha + P V for value columns [w * cw, (w + 1) * cw)
            const float al0 = a_s[gr], al1 = a_s[gr + 8];
#pragma unroll
            for (int f = 0; f < 8; f++) {
                if (f < nf) {
                    acc[f][0] *= al0;
                    acc[f][1] *= al0;
                    acc[f][2] *= al1;
                    acc[f][3] *= al1;
                }
            }
            const uint32_t vbase = smem_u32(vb + (lane & 15) * vstride + warp * cw);
#pragma unroll
            for (int kk = 0; kk < MLA_KT; kk += 16) {
                uint32_t a0, a1, a2, a3;
                ldsm_x4(a0, a1, a2, a3, pa + 2 * kk);
#pragma unroll
                for (int f = 0; f < 8; f++) {
                    if (f < nf) {
                        uint32_t b0, b1;
                        ldsm_x2_trans(b0, b1, vbase + 2 * (kk * vstride + f * 8));
                        mma_bf16_16816(acc[f][0], acc[f][1], acc[f][2], acc[f][3], a0, a1, a2, a3, b0, b1);
                    }
                }
            }
        }
        __syncthreads();
    }
    if (q_async && ntiles == 0) cp_async_wait<0>();  // an empty split: let its query copies land before exit

#pragma unroll
    for (int f = 0; f < 8; f++) {
        if (f >= nf) continue;
        int d = warp * cw + f * 8 + t4 * 2;
#pragma unroll
        for (int half = 0; half < 2; half++) {
            int row = gr + 8 * half;
            if (row >= G) continue;
            int h = h0 + row;
            float a = acc[f][2 * half], b = acc[f][2 * half + 1];
            if (splits == 1) {
                float l = l_s[row], inv = l > 0.f ? 1.f / l : 0.f;
                bf16* o = out + t * ldo + (long)h * o_stride + d;
                o[0] = __float2bfloat16_rn(a * inv);
                o[1] = __float2bfloat16_rn(b * inv);
            } else {
                long idx = ((long)t * heads + h) * gridDim.z + split;
                partial_acc[idx * vd + d] = a;
                partial_acc[idx * vd + d + 1] = b;
                if (d == 0) {
                    partial_ml[idx * 2] = m_s[row];
                    partial_ml[idx * 2 + 1] = l_s[row];
                }
            }
        }
    }
}

// ---- entry points: launched by MlaDecodeKernels.java (KernelSignaturesTest checks that the two argument lists agree) ----
extern "C" __global__ void __launch_bounds__(MLA_THREADS) mla_attention_tc_bf16(
    const bf16* q1, long ldq1, int q1_stride, const bf16* q2, long ldq2, int q2_stride, const bf16* cache, long entry, int heads,
    int kd1, int kd2, const int* token_seq, const int* token_visible, const int* seq_slot_start, const int* slots, float scale,
    bf16* out, long ldo, int o_stride, float* partial_acc, float* partial_ml) { KILN_ENTRY;
    mla_attention_tc(q1, ldq1, q1_stride, q2, ldq2, q2_stride, cache, entry, heads, kd1, kd2, token_seq, token_visible,
                     seq_slot_start, slots, scale, out, ldo, o_stride, partial_acc, partial_ml);
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
// The same two over an FP8 cache (FP8KV above); this step's entries are always stored before the launch.
extern "C" __global__ void __launch_bounds__(MLA_THREADS) mla_attention_tc_bf16_fp8kv(
    const bf16* q1, long ldq1, int q1_stride, const bf16* q2, long ldq2, int q2_stride, const uint8_t* cache, long entry, int heads,
    int kd1, int kd2, const int* token_seq, const int* token_visible, const int* seq_slot_start, const int* slots, float scale,
    bf16* out, long ldo, int o_stride, float* partial_acc, float* partial_ml) { KILN_ENTRY;
    mla_attention_tc<0, 0, false, true>(q1, ldq1, q1_stride, q2, ldq2, q2_stride, cache, entry, heads, kd1, kd2, token_seq, token_visible,
                                        seq_slot_start, slots, scale, out, ldo, o_stride, partial_acc, partial_ml);
}
extern "C" __global__ void __launch_bounds__(MLA_THREADS) mla_attention_tc2_bf16_fp8kv(
    const bf16* q1, long ldq1, int q1_stride, const bf16* q2, long ldq2, int q2_stride, const uint8_t* cache, long entry, int heads,
    int kd1, int kd2, const int* token_seq, const int* token_visible, const int* seq_slot_start, const int* slots, float scale,
    bf16* out, long ldo, int o_stride, float* partial_acc, float* partial_ml, int split_min) { pdl_trigger();
    if (kd1 == 512 && kd2 == 64)
        mla_attention_tc<512, 64, false, true>(q1, ldq1, q1_stride, q2, ldq2, q2_stride, cache, entry, heads, kd1, kd2, token_seq,
                                               token_visible, seq_slot_start, slots, scale, out, ldo, o_stride, partial_acc, partial_ml,
                                               split_min, true, true);
    else
        mla_attention_tc<0, 0, false, true>(q1, ldq1, q1_stride, q2, ldq2, q2_stride, cache, entry, heads, kd1, kd2, token_seq,
                                            token_visible, seq_slot_start, slots, scale, out, ldo, o_stride, partial_acc, partial_ml,
                                            split_min, true, true);
}

// Grouped-query attention (Llama, Qwen2) on the same kernel, bf16: decode and extend batches, keys and values
// head_dim wide (a multiple of 64, at most 256) per kv head, this step's entries stored before the launch; splits
// of >= split_min keys merged by attention_combine2_bf16. decode != 0: every token's only new key is its newest,
// so a split without it may load its first tile before the PDL wait.
extern "C" __global__ void __launch_bounds__(MLA_THREADS) gqa_attention_tc_bf16(
    const bf16* q, long ldq, int q_stride, const bf16* cache, long entry, int heads, int heads_per_kv, int head_dim, int k_off,
    int v_off, int kv_stride, const int* token_seq, const int* token_visible, const int* seq_slot_start, const int* slots, float scale,
    bf16* out, long ldo, int o_stride, float* partial_acc, float* partial_ml, int split_min, int decode) { pdl_trigger();
    const TcGqa gqa{heads_per_kv, k_off, v_off, kv_stride};
#define GQA_TC_CALL(D)                                                                                                                 \
    mla_attention_tc<D, 0, true>(q, ldq, q_stride, q, ldq, q_stride, cache, entry, heads, head_dim, 0, token_seq, token_visible,        \
                                 seq_slot_start, slots, scale, out, ldo, o_stride, partial_acc, partial_ml, split_min, true, decode != 0, \
                                 nullptr, 0, nullptr, 0, nullptr, gqa)
    if (head_dim == 128) GQA_TC_CALL(128);
    else if (head_dim == 64) GQA_TC_CALL(64);
    else GQA_TC_CALL(0);
#undef GQA_TC_CALL
}
extern "C" __global__ void attention_combine2_bf16(const int* token_visible, int max_splits, int heads, int vd, const float* partial_acc,
                                                   const float* partial_ml, bf16* out, long ldo, int o_stride, int split_min) { KILN_ENTRY;
    attention_combine<bf16>(token_visible, max_splits, heads, vd, partial_acc, partial_ml, out, ldo, o_stride, split_min);
}
