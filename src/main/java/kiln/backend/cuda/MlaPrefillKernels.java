package kiln.backend.cuda;

/**
 * Launchers of mla_prefill.cuh's entry points: DeepSeek MLA prefill in the MHA form on the tensor cores
 * (FlashAttention-2 style), and the same kernel without a rope part as the grouped-query attention prefill of the
 * dense models; one CTA per (head, block of up to 64 query rows of one sequence) of a host-built table.
 */
final class MlaPrefillKernels {
    /** Query rows per block, threads per CTA, ints per block-table entry. */
    static final int ROWS = 64, THREADS = 128, TABLE_INTS = 5;
    /** The kernel's widths (qk_nope, qk_rope, v); other shapes keep the absorbed form. */
    static final int NOPE = 128, ROPE = 64, V = 128;

    private final KernelLauncher k;

    MlaPrefillKernels(KernelLauncher k) {
        this.k = k;
    }

    static boolean supports(int nope, int rope, int vDim) {
        return nope == NOPE && rope == ROPE && vDim == V;
    }

    /** Head widths the GQA prefill kernel is built for (gqa_prefill_bf16_d64, _d128). */
    static boolean supportsGqa(int headDim) {
        return headDim == 64 || headDim == 128;
    }

    /** Shared memory: two K tiles [64][qk + 8] and two V tiles [64][v + 8], bf16. */
    static int sharedBytes(int qk, int v) {
        return 2 * 64 * (qk + 8) * 2 + 2 * 64 * (v + 8) * 2;
    }

    /**
     * Causal attention of the extend batch: query [qNope_h | qRope_h], key [kNope_h | kRope] (the rope key shared by
     * the heads), value v_h, over each sequence's context rows; {@code scaleLog2} = softmax scale / ln 2.
     */
    void prefill(DeviceHeads qNope, DeviceHeads qRope, DeviceHeads kNope, long kRope, long ldkRope, DeviceHeads v, long blockTable,
                 float scaleLog2, DeviceHeads out, int heads, int blocks) {
        k.fn("mla_prefill_bf16_n128_r64_v128").ptr(qNope.ptr()).i64(qNope.ld()).i32(qNope.stride()).ptr(qRope.ptr()).i64(qRope.ld())
                .i32(qRope.stride()).ptr(kNope.ptr()).i64(kNope.ld()).i32(kNope.stride()).ptr(kRope).i64(ldkRope).ptr(v.ptr()).i64(v.ld())
                .i32(v.stride()).ptr(blockTable).f32(scaleLog2).ptr(out.ptr()).i64(out.ld()).i32(out.stride())
                .launch(heads, blocks, 1, THREADS, sharedBytes(NOPE + ROPE, V));
    }

    /**
     * Causal grouped-query attention of the extend batch: query head h against key and value head h / group of each
     * sequence's context rows, all {@code headDim} wide.
     */
    void gqaPrefill(DeviceHeads q, DeviceHeads key, DeviceHeads value, int group, long blockTable, float scaleLog2, DeviceHeads out, int heads,
                    int headDim, int blocks) {
        k.fn("gqa_prefill_bf16_d" + headDim).ptr(q.ptr()).i64(q.ld()).i32(q.stride()).ptr(key.ptr()).i64(key.ld()).i32(key.stride())
                .ptr(value.ptr()).i64(value.ld()).i32(value.stride()).i32(group).ptr(blockTable).f32(scaleLog2).ptr(out.ptr()).i64(out.ld())
                .i32(out.stride())
                .launch(heads, blocks, 1, THREADS, sharedBytes(headDim, headDim));
    }
}
