package kiln.backend.cuda;

/**
 * Launcher of mla_prefill.cuh's entry point: DeepSeek MLA prefill in the MHA form on the tensor cores
 * (FlashAttention-2 style), one CTA per (head, block of up to 64 query rows of one sequence) of a host-built table.
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

    /** Shared memory: two K tiles [64][192 + 8] and two V tiles [64][128 + 8], bf16. */
    static int sharedBytes() {
        return 2 * 64 * (NOPE + ROPE + 8) * 2 + 2 * 64 * (V + 8) * 2;
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
                .launch(heads, blocks, 1, THREADS, sharedBytes());
    }
}
