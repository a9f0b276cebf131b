// MLA prefill in the MHA form on the tensor cores (FlashAttention-2 style), bf16 in, float accumulate; the same
// kernel without the rope part runs the grouped-query attention prefill of the dense models (gqa_prefill_*).
//
// Inputs (all bf16, row-major with a leading dimension, heads at a column stride): the queries of the extend batch
// as q_nope [T, heads x NOPE] and q_rope [T, heads x ROPE] (views into one projection output), and for every
// sequence its whole visible context (cached prefix + this chunk), expanded from the latent: k_nope per head
// [C, heads x NOPE], k_rope shared by all heads [C, ROPE], v per head [C, heads x VD]. Query row i of a block sees
// context rows [0, first_vis + i] of its sequence (first_vis = cached + index of the block's first row in the chunk).
//
// CTA = (one head, one block of up to 64 query rows of one sequence), 4 warps of 16 query rows each. The block
// table (host-built, longest block first so the tail of the grid is short work) holds per block: first query row
// (flat token index), rows, first_vis, the sequence's first context row, its context length. Q is loaded once into
// registers (A fragments via ldmatrix). K tiles [64][NOPE + ROPE] and V tiles [64][VD] are double-buffered in shared
// memory with 16-byte cp.async, rows past the context zero-filled. Per tile: S = Q K^T (mma.sync m16n8k16, K row-major
// is B's column layout), the causal mask only on tiles that reach past the block's first row (key j > first_vis + i),
// an online softmax in registers (row max and sum across the quad by shuffles, exp2 of log2e-scaled scores), P
// rounded to bf16 straight from the S accumulators into A fragments, O += P V with V through ldmatrix.trans.
// Tiles past the block's last visible row are never loaded.
//
// Invariants: key 0 is visible to every row, so after the first tile every row max is finite and no later fully
// masked tile (a row near the block's start against the block's last tile) can produce exp(-inf - -inf).
// Alignment: all pointers 16-byte aligned, leading dimensions and head strides multiples of 8 elements (checked in
// CudaBackend.mlaPrefillAttention).
#pragma once
#include "common.cuh"
#include "mla_decode.cuh"  // ldsm_*, mma_bf16_16816, cp_async* (shared with the decode kernel, unchanged)

#define MLAP_ROWS 64
#define MLAP_KT 64
#define MLAP_THREADS 128

__device__ __forceinline__ void ldsm_x4_trans(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3, uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}

// two floats as a bf16x2 A-fragment register, lo in the low 16 bits (the lower k index)
__device__ __forceinline__ uint32_t mlap_pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
}

// shared memory bytes of mla_prefill<NOPE, ROPE, VD>: two K tiles (the second also stages Q) and two V tiles
constexpr int mla_prefill_smem(int nope, int rope, int vd) {
    return 2 * MLAP_KT * (nope + rope + 8) * 2 + 2 * MLAP_KT * (vd + 8) * 2;
}

template <int NOPE, int ROPE, int VD>
__device__ void mla_prefill(const bf16* qn, long ldqn, int qn_stride, const bf16* qr, long ldqr, int qr_stride,
                            const bf16* kn, long ldkn, int kn_stride, const bf16* kr, long ldkr,
                            const bf16* v, long ldv, int v_stride, int group, const int* blocks, float scale_log2,
                            bf16* out, long ldo, int o_stride) {
    constexpr int QK = NOPE + ROPE, KP = QK + 8, VP = VD + 8;
    constexpr int KSTEPS = QK / 16, NF = MLAP_KT / 8, VF = VD / 8;
    constexpr int KCH = QK / 8, VCH = VD / 8;  // 16-byte chunks per K / V row
    static_assert(NOPE % 8 == 0 && ROPE % 8 == 0 && QK % 16 == 0 && VD % 16 == 0, "mla_prefill: widths");
    extern __shared__ __align__(16) unsigned char mlap_smem[];
    bf16* ks = reinterpret_cast<bf16*>(mlap_smem);  // [2][64][KP]
    bf16* vs = ks + 2 * MLAP_KT * KP;                // [2][64][VP]

    const int h = blockIdx.x, kvh = h / group, tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int* blk = blocks + 5 * blockIdx.y;
    const int q_row0 = blk[0], rows = blk[1], first_vis = blk[2], ctx0 = blk[3], ctx_len = blk[4];
    const int last_key = first_vis + rows - 1;  // the block's last row sees keys [0, last_key]
    const int ntiles = last_key / MLAP_KT + 1;
    const int unmasked = (first_vis + 1) / MLAP_KT;  // tiles whose keys every row of the block sees

    auto load_tile = [&](int j0, int buf) {
        bf16* kd = ks + buf * MLAP_KT * KP;
        bf16* vd = vs + buf * MLAP_KT * VP;
        for (int i = tid; i < MLAP_KT * KCH; i += MLAP_THREADS) {
            int j = i / KCH, c = i - j * KCH, d = c * 8;
            bool valid = j0 + j < ctx_len;
            long row = ctx0 + j0 + j;
            const bf16* src = !valid ? kn : d < NOPE ? kn + row * ldkn + (long)kvh * kn_stride + d : kr + row * ldkr + (d - NOPE);
            cp_async16(smem_u32(kd + j * KP + d), src, valid ? 16 : 0);
        }
        for (int i = tid; i < MLAP_KT * VCH; i += MLAP_THREADS) {
            int j = i / VCH, c = i - j * VCH;
            bool valid = j0 + j < ctx_len;
            const bf16* src = valid ? v + (long)(ctx0 + j0 + j) * ldv + (long)kvh * v_stride + c * 8 : v;
            cp_async16(smem_u32(vd + j * VP + c * 8), src, valid ? 16 : 0);
        }
    };

    // Q of the block into the second K buffer (rows past the block zero-filled), with the first tile
    {
        bf16* qs = ks + MLAP_KT * KP;
        for (int i = tid; i < MLAP_ROWS * KCH; i += MLAP_THREADS) {
            int r = i / KCH, c = i - r * KCH, d = c * 8;
            bool valid = r < rows;
            long t = q_row0 + r;
            const bf16* src = !valid ? qn : d < NOPE ? qn + t * ldqn + (long)h * qn_stride + d : qr + t * ldqr + (long)h * qr_stride + (d - NOPE);
            cp_async16(smem_u32(qs + r * KP + d), src, valid ? 16 : 0);
        }
        load_tile(0, 0);
        cp_async_commit();
        cp_async_wait<0>();
        __syncthreads();
    }
    uint32_t qf[KSTEPS][4];
    {
        const bf16* qs = ks + MLAP_KT * KP;
        const uint32_t qa = smem_u32(qs + (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * KP + (lane >> 4) * 8);
#pragma unroll
        for (int s = 0; s < KSTEPS; s++) ldsm_x4(qf[s][0], qf[s][1], qf[s][2], qf[s][3], qa + 2 * 16 * s);
    }
    __syncthreads();  // the Q staging area is the next tile's buffer

    const int gr = lane >> 2, t4 = lane & 3;
    // causal limits of this thread's two rows (block rows warp*16 + gr and + 8), as context indices
    const int lim0 = first_vis + warp * 16 + gr, lim1 = lim0 + 8;
    float acc[VF][4];
#pragma unroll
    for (int f = 0; f < VF; f++) acc[f][0] = acc[f][1] = acc[f][2] = acc[f][3] = 0.f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
    // B fragments of K (non-transposed, two n8 fragments per x4) and V (transposed, two n8 fragments per x4)
    const int k_lane_off = ((lane & 7) + ((lane >> 4) << 3)) * KP + ((lane >> 3) & 1) * 8;
    const int v_lane_off = (lane & 15) * VP + (lane >> 4) * 8;

    for (int it = 0; it < ntiles; it++) {
        if (it + 1 < ntiles) {
            load_tile((it + 1) * MLAP_KT, (it + 1) & 1);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const uint32_t kb = smem_u32(ks + (it & 1) * MLAP_KT * KP + k_lane_off);
        const uint32_t vb = smem_u32(vs + (it & 1) * MLAP_KT * VP + v_lane_off);

        float s[NF][4];
#pragma unroll
        for (int f = 0; f < NF; f++) s[f][0] = s[f][1] = s[f][2] = s[f][3] = 0.f;
#pragma unroll
        for (int ks_ = 0; ks_ < KSTEPS; ks_++) {
#pragma unroll
            for (int np = 0; np < NF / 2; np++) {
                uint32_t b0, b1, b2, b3;
                ldsm_x4(b0, b1, b2, b3, kb + 2 * (np * 16 * KP + ks_ * 16));
                mma_bf16_16816(s[2 * np][0], s[2 * np][1], s[2 * np][2], s[2 * np][3], qf[ks_][0], qf[ks_][1], qf[ks_][2], qf[ks_][3], b0, b1);
                mma_bf16_16816(s[2 * np + 1][0], s[2 * np + 1][1], s[2 * np + 1][2], s[2 * np + 1][3], qf[ks_][0], qf[ks_][1], qf[ks_][2],
                               qf[ks_][3], b2, b3);
            }
        }
        // scale (log2 domain), causal mask on the diagonal tiles, row maxima
        const int j0 = it * MLAP_KT;
        const bool diag = it >= unmasked;
        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int f = 0; f < NF; f++) {
            int j = j0 + f * 8 + 2 * t4;
#pragma unroll
            for (int e = 0; e < 2; e++) {
                float a = s[f][e] * scale_log2, b = s[f][2 + e] * scale_log2;
                if (diag) {
                    if (j + e > lim0) a = -INFINITY;
                    if (j + e > lim1) b = -INFINITY;
                }
                s[f][e] = a;
                s[f][2 + e] = b;
                mx0 = fmaxf(mx0, a);
                mx1 = fmaxf(mx1, b);
            }
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);  // finite: key 0 is in the first tile for every row
        const float al0 = exp2f(m0 - mn0), al1 = exp2f(m1 - mn1);  // m = -inf on the first tile: 0
        m0 = mn0;
        m1 = mn1;
        float sum0 = 0.f, sum1 = 0.f;
#pragma unroll
        for (int f = 0; f < NF; f++) {
            s[f][0] = exp2f(s[f][0] - mn0);
            s[f][1] = exp2f(s[f][1] - mn0);
            s[f][2] = exp2f(s[f][2] - mn1);
            s[f][3] = exp2f(s[f][3] - mn1);
            sum0 += s[f][0] + s[f][1];
            sum1 += s[f][2] + s[f][3];
        }
        l0 = l0 * al0 + sum0;  // this thread's share of the row sum; the quad is summed at the end
        l1 = l1 * al1 + sum1;
#pragma unroll
        for (int f = 0; f < VF; f++) {
            acc[f][0] *= al0;
            acc[f][1] *= al0;
            acc[f][2] *= al1;
            acc[f][3] *= al1;
        }
        // O += P V: the S accumulators of keys 16kk..16kk+15 are the A fragment of k-step kk
#pragma unroll
        for (int kk = 0; kk < MLAP_KT / 16; kk++) {
            uint32_t a0 = mlap_pack(s[2 * kk][0], s[2 * kk][1]), a1 = mlap_pack(s[2 * kk][2], s[2 * kk][3]);
            uint32_t a2 = mlap_pack(s[2 * kk + 1][0], s[2 * kk + 1][1]), a3 = mlap_pack(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
            for (int fp = 0; fp < VF / 2; fp++) {
                uint32_t b0, b1, b2, b3;
                ldsm_x4_trans(b0, b1, b2, b3, vb + 2 * (kk * 16 * VP + fp * 16));
                mma_bf16_16816(acc[2 * fp][0], acc[2 * fp][1], acc[2 * fp][2], acc[2 * fp][3], a0, a1, a2, a3, b0, b1);
                mma_bf16_16816(acc[2 * fp + 1][0], acc[2 * fp + 1][1], acc[2 * fp + 1][2], acc[2 * fp + 1][3], a0, a1, a2, a3, b2, b3);
            }
        }
        __syncthreads();  // the next iteration's load overwrites this buffer
    }

    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const float inv0 = 1.f / l0, inv1 = 1.f / l1;  // l >= 1: the row max contributes exp2(0)
    const int r0 = warp * 16 + gr, r1 = r0 + 8;
    bf16* o0 = out + (long)(q_row0 + r0) * ldo + (long)h * o_stride;
    bf16* o1 = out + (long)(q_row0 + r1) * ldo + (long)h * o_stride;
#pragma unroll
    for (int f = 0; f < VF; f++) {
        int d = f * 8 + 2 * t4;
        if (r0 < rows) {
            o0[d] = __float2bfloat16_rn(acc[f][0] * inv0);
            o0[d + 1] = __float2bfloat16_rn(acc[f][1] * inv0);
        }
        if (r1 < rows) {
            o1[d] = __float2bfloat16_rn(acc[f][2] * inv1);
            o1[d + 1] = __float2bfloat16_rn(acc[f][3] * inv1);
        }
    }
}

// ---- entry points: launched by MlaPrefillKernels.java (KernelSignaturesTest checks that the two argument lists agree) ----
// MLA prefill in the MHA form (mla_prefill.cuh): grid (heads, blocks of the host-built table), 128 threads.
extern "C" __global__ void __launch_bounds__(MLAP_THREADS, 2) mla_prefill_bf16_n128_r64_v128(
    const bf16* qn, long ldqn, int qn_stride, const bf16* qr, long ldqr, int qr_stride, const bf16* kn, long ldkn,
    int kn_stride, const bf16* kr, long ldkr, const bf16* v, long ldv, int v_stride, const int* blocks, float scale_log2,
    bf16* out, long ldo, int o_stride) {
    mla_prefill<128, 64, 128>(qn, ldqn, qn_stride, qr, ldqr, qr_stride, kn, ldkn, kn_stride, kr, ldkr, v, ldv, v_stride, 1,
                              blocks, scale_log2, out, ldo, o_stride);
}

// Grouped-query attention prefill (Llama, Qwen2) on the same kernel: keys without a rope part, query head h reading
// kv head h / group of the context gathered from the cache. grid (heads, blocks of the table), 128 threads.
#define GQA_PREFILL(D)                                                                                                 \
    extern "C" __global__ void __launch_bounds__(MLAP_THREADS, 2) gqa_prefill_bf16_d##D(                               \
        const bf16* q, long ldq, int q_stride, const bf16* k, long ldk, int k_stride, const bf16* v, long ldv,         \
        int v_stride, int group, const int* blocks, float scale_log2, bf16* out, long ldo, int o_stride) {             \
        mla_prefill<D, 0, D>(q, ldq, q_stride, q, ldq, 0, k, ldk, k_stride, k, 0, v, ldv, v_stride, group, blocks,      \
                             scale_log2, out, ldo, o_stride);                                                          \
    }
GQA_PREFILL(64)
GQA_PREFILL(128)
