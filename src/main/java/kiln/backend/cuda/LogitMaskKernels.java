package kiln.backend.cuda;

/**
 * Launchers of logit_mask.cuh's entry points: structured output's token masks and logit_bias, written into a step's
 * logits in place ({@link kiln.backend.LogitConstraints}' definition). {@code act} picks the activation type.
 */
final class LogitMaskKernels {
    private final KernelLauncher k;

    LogitMaskKernels(KernelLauncher k) {
        this.k = k;
    }

    /** Sets logits row {@code rows[i]} to -inf at every token whose bit in mask i is clear, for {@code maskRows} masks. */
    void mask(Precision act, long x, long ldx, int cols, long rows, long masks, int words, int maskRows) {
        k.fn("mask_logits_" + act.suffix).ptr(x).i64(ldx).i32(cols).ptr(rows).ptr(masks).i32(words).launch(maskRows, 1024);
    }

    /** logits[rows[i], ids[i]] += values[i] for {@code n} entries. */
    void bias(Precision act, long x, long ldx, long rows, long ids, long values, int n) {
        k.fn("bias_logits_" + act.suffix).ptr(x).i64(ldx).ptr(rows).ptr(ids).ptr(values).i32(n).launch((n + 255) / 256, 256);
    }
}
