package kiln.backend.cuda;

import kiln.io.DType;

/**
 * Launchers of attention.cuh's entry points: attention over the paged KV cache for grouped-query attention and for
 * MLA where its tensor-core kernels do not apply (float32, other shapes), prefill and decode; and the merge of a
 * decode token's split results in split order.
 */
final class AttentionKernels {
    /** Query heads per block (ATT_G), keys per tile (ATT_KT), threads per block. */
    static final int HEADS_PER_BLOCK = 16, KEYS_PER_TILE = 16, THREADS = 256;
    /** Widest key (kd1 + kd2) and value the kernel takes. */
    static final int MAX_KEY = 1024, MAX_VALUE = 512;

    /** The batch's paged layout in BatchMeta: each token's sequence and visible keys, each sequence's first slot entry, the slots. */
    record PagedBatch(long tokenSeq, long tokenVisible, long seqSlotStart, long slots) {
        static PagedBatch of(BatchMeta m) {
            return new PagedBatch(m.tokenSeq(), m.tokenVisible(), m.seqSlotStart(), m.slots());
        }
    }

    /** Per split of each (token, head): float partial sums [vd] and (max, sum) pairs, merged by a combine. */
    record Partials(long acc, long ml) {
        static final Partials NONE = new Partials(0, 0);
    }

    /**
     * The cache entry's layout for one kernel (attention.cuh's AttnShape): query heads, heads per KV head, blocks of
     * {@link #HEADS_PER_BLOCK} per KV head, key widths (q1 part, q2 part), value width, values per cache entry, the
     * key's and value's offsets in an entry and the stride between KV heads.
     */
    record Shape(int heads, int headsPerKv, int blocksPerKv, int kd1, int kd2, int vd, long entry, int kOff, int vOff, int kvStride) {}

    private final KernelLauncher k;

    AttentionKernels(KernelLauncher k) {
        this.k = k;
    }

    /** Refuses keys or values wider than the kernel takes. */
    static void checkWidths(int kd, int vd) {
        if (vd > MAX_VALUE || kd > MAX_KEY) {
            throw new IllegalArgumentException("attention: head widths " + kd + "/" + vd + " exceed the kernel's " + MAX_KEY + "/" + MAX_VALUE);
        }
    }

    static int blocksPerKv(int headsPerKv) {
        return (headsPerKv + HEADS_PER_BLOCK - 1) / HEADS_PER_BLOCK;
    }

    /**
     * Each query head of each token attends over its sequence's visible cache entries; the key is [q1 part | q2
     * part] wide (q2: MLA's rope part, or none). One split writes {@code out}; several write {@code partials} for
     * {@link #combine}.
     */
    void attention(Precision act, DType cacheType, DeviceHeads q1, DeviceHeads q2, long cache, Shape s, PagedBatch batch, float scale, DeviceHeads out,
                   Partials partials, int tokens, int splits) {
        int kd = s.kd1() + s.kd2();
        boolean valueInKey = s.vOff() == s.kOff() && s.vd() <= kd;
        long smem = 4L * ((long) (HEADS_PER_BLOCK + KEYS_PER_TILE) * (kd + 1) + (valueInKey ? 0 : (long) KEYS_PER_TILE * s.vd())
                + HEADS_PER_BLOCK * KEYS_PER_TILE + 3 * HEADS_PER_BLOCK);
        k.fn("attention_" + act.suffix + CudaKvCache.kernelSuffix(cacheType)).ptr(q1.ptr()).i64(q1.ld()).i32(q1.stride()).ptr(q2.ptr()).i64(q2.ld()).i32(q2.stride())
                .ptr(cache).i32(s.heads()).i32(s.headsPerKv()).i32(s.blocksPerKv()).i32(s.kd1()).i32(s.kd2()).i32(s.vd()).i64(s.entry())
                .i32(s.kOff()).i32(s.vOff()).i32(s.kvStride()).ptr(batch.tokenSeq()).ptr(batch.tokenVisible()).ptr(batch.seqSlotStart())
                .ptr(batch.slots()).f32(scale).ptr(out.ptr()).i64(out.ld()).i32(out.stride()).ptr(partials.acc()).ptr(partials.ml())
                .launch(s.blocksPerKv() * (s.heads() / s.headsPerKv()), tokens, splits, THREADS, (int) smem);
    }

    /** Merges each (token, head)'s splits in split order into out. */
    void combine(Precision act, long tokenVisible, int splits, int heads, int vd, Partials partials, DeviceHeads out, int tokens) {
        k.fn("attention_combine_" + act.suffix).ptr(tokenVisible).i32(splits).i32(heads).i32(vd).ptr(partials.acc()).ptr(partials.ml())
                .ptr(out.ptr()).i64(out.ld()).i32(out.stride()).launch(heads, tokens, 1, 128, 0);
    }
}
