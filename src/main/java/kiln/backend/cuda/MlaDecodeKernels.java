package kiln.backend.cuda;

import kiln.io.DType;

import kiln.backend.cuda.AttentionKernels.PagedBatch;
import kiln.backend.cuda.AttentionKernels.Partials;

/**
 * Launchers of mla_decode.cuh's entry points: absorbed-form MLA attention on the tensor cores (bf16), 16 query
 * heads per CTA against the latent entries [c_kv | k_rope]; the same kernel for grouped-query attention (16 heads
 * of one kv head per CTA, keys and values in separate tiles); and the combine of their splits.
 */
final class MlaDecodeKernels {
    /** Query heads per CTA (MLA_H), threads per CTA (MLA_THREADS). */
    static final int HEADS_PER_CTA = 16, THREADS = 256;
    /** Most splits per token the small-batch combine takes. */
    static final int MAX_SPLITS = 32;

    /** This step's entries [latent | rope key] and their slots, which mla_attention_tc2 stores itself (0: stored before). */
    record NewEntries(long latent, long ldLatent, long rope, long ldRope, long slots) {
        static NewEntries none(long slots) {
            return new NewEntries(0, 0, 0, 0, slots);
        }
    }

    private final KernelLauncher k;

    MlaDecodeKernels(KernelLauncher k) {
        this.k = k;
    }

    /** Shared memory of both kernels for keys {@code kd} wide: two 64-entry key tiles, P and the softmax state. */
    static int sharedBytes(int kd) {
        return 288 * (kd + 8) + 6592;
    }

    /** The same over an FP8 cache: one bf16 key tile and two raw FP8 tiles. */
    static int sharedBytes(int kd, DType cacheType) {
        return cacheType == DType.F8_E4M3 ? 160 * (kd + 8) + 128 * kd + 6592 : sharedBytes(kd);
    }

    /** Shared memory of the grouped-query form for heads {@code headDim} wide: the MLA tiles plus two value tiles. */
    static int gqaSharedBytes(int headDim) {
        return sharedBytes(headDim) + 256 * (headDim + 8);
    }

    /**
     * Can the grouped-query form take heads {@code headDim} wide (a multiple of 64, at most 256) in cache entries of
     * {@code entry} values with keys at {@code kOff}, values at {@code vOff} and kv heads {@code kvStride} apart
     * (all whole 16-byte rows)?
     */
    static boolean fitsGqa(int headDim, long entry, int kOff, int vOff, int kvStride) {
        return headDim % 64 == 0 && headDim <= 256 && entry % 8 == 0 && kOff % 8 == 0 && vOff % 8 == 0 && kvStride % 8 == 0;
    }

    /**
     * Can the kernels take keys kd1 + kd2 wide with values = the kd1 part (kd1 a multiple of 64, kd2 of 16, at most
     * 576 in all) in cache entries of {@code entry} values (whole 16-byte rows)?
     */
    static boolean fits(int kd1, int kd2, long entry) {
        return kd1 % 64 == 0 && kd2 % 16 == 0 && kd1 + kd2 <= 576 && entry % 8 == 0;
    }

    /** MLA attention in splits of >= 256 keys (attention.cuh's split rule); several splits write {@code partials}. */
    void attentionTc(DType cacheType, DeviceHeads q1, DeviceHeads q2, long cache, long entry, int heads, int kd1, int kd2, PagedBatch batch,
                     float scale, DeviceHeads out, Partials partials, int tokens, int splits) {
        args(k.fn("mla_attention_tc_bf16" + CudaKvCache.kernelSuffix(cacheType)), q1, q2, cache, entry, heads, kd1, kd2, batch, scale, out, partials)
                .launch((heads + HEADS_PER_CTA - 1) / HEADS_PER_CTA, tokens, splits, THREADS, sharedBytes(kd1 + kd2, cacheType));
    }

    /**
     * The small-batch kernel: splits of at least {@code splitMin} keys and cp.async queries; with {@code entries}
     * given it stores this step's entries into the cache itself (a bf16 cache only: an FP8 one is stored before).
     */
    void attentionTc2(DType cacheType, DeviceHeads q1, DeviceHeads q2, long cache, long entry, int heads, int kd1, int kd2, PagedBatch batch,
                      float scale, DeviceHeads out, Partials partials, int splitMin, NewEntries entries, int tokens, int splits) {
        int ctas = (heads + HEADS_PER_CTA - 1) / HEADS_PER_CTA, smem = sharedBytes(kd1 + kd2, cacheType);
        if (cacheType == DType.F8_E4M3) {
            if (entries.latent() != 0) throw new IllegalArgumentException("mla_attention_tc2: an FP8 cache's new entries are stored before the launch");
            args(k.fn("mla_attention_tc2_bf16_fp8kv"), q1, q2, cache, entry, heads, kd1, kd2, batch, scale, out, partials).i32(splitMin)
                    .launch(ctas, tokens, splits, THREADS, smem);
            return;
        }
        args(k.fn("mla_attention_tc2_bf16"), q1, q2, cache, entry, heads, kd1, kd2, batch, scale, out, partials).i32(splitMin)
                .ptr(entries.latent()).i64(entries.ldLatent()).ptr(entries.rope()).i64(entries.ldRope()).ptr(entries.slots())
                .launch(ctas, tokens, splits, THREADS, smem);
    }

    /**
     * Grouped-query attention: query head h over kv head h / headsPerKv, keys at {@code kOff} and values at
     * {@code vOff} of each entry (+ kv head x {@code kvStride}), splits of at least {@code splitMin} keys merged by
     * {@link #combine2}. {@code decode}: each token's only new key is its newest (a split without it loads its first
     * tile before the PDL wait). Queries 16-byte aligned.
     */
    void gqaAttentionTc(DeviceHeads q, long cache, long entry, int heads, int headsPerKv, int headDim, int kOff, int vOff, int kvStride,
                        PagedBatch batch, float scale, DeviceHeads out, Partials partials, int splitMin, boolean decode, int tokens, int splits) {
        int ctas = heads / headsPerKv * ((headsPerKv + HEADS_PER_CTA - 1) / HEADS_PER_CTA);
        k.fn("gqa_attention_tc_bf16").ptr(q.ptr()).i64(q.ld()).i32(q.stride()).ptr(cache).i64(entry).i32(heads).i32(headsPerKv).i32(headDim)
                .i32(kOff).i32(vOff).i32(kvStride).ptr(batch.tokenSeq()).ptr(batch.tokenVisible()).ptr(batch.seqSlotStart()).ptr(batch.slots())
                .f32(scale).ptr(out.ptr()).i64(out.ld()).i32(out.stride()).ptr(partials.acc()).ptr(partials.ml()).i32(splitMin).i32(decode ? 1 : 0)
                .launch(ctas, tokens, splits, THREADS, gqaSharedBytes(headDim));
    }

    private static KernelLauncher.Launch args(KernelLauncher.Launch l, DeviceHeads q1, DeviceHeads q2, long cache, long entry, int heads, int kd1,
                                              int kd2, PagedBatch batch, float scale, DeviceHeads out, Partials partials) {
        return l.ptr(q1.ptr()).i64(q1.ld()).i32(q1.stride()).ptr(q2.ptr()).i64(q2.ld()).i32(q2.stride()).ptr(cache).i64(entry).i32(heads)
                .i32(kd1).i32(kd2).ptr(batch.tokenSeq()).ptr(batch.tokenVisible()).ptr(batch.seqSlotStart()).ptr(batch.slots()).f32(scale)
                .ptr(out.ptr()).i64(out.ld()).i32(out.stride()).ptr(partials.acc()).ptr(partials.ml());
    }

    /** Merges mla_attention_tc2's splits (the same split rule, {@code splitMin}) into out. */
    void combine2(long tokenVisible, int splits, int heads, int vd, Partials partials, DeviceHeads out, int splitMin, int tokens) {
        k.fn("attention_combine2_bf16").ptr(tokenVisible).i32(splits).i32(heads).i32(vd).ptr(partials.acc()).ptr(partials.ml())
                .ptr(out.ptr()).i64(out.ld()).i32(out.stride()).i32(splitMin).launch(heads, tokens, 1, 128, 0);
    }
}
