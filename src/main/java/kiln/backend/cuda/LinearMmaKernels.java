package kiln.backend.cuda;

import kiln.backend.cuda.GemmKernels.WeightArgs;
import kiln.io.DType;

import static kiln.backend.cuda.GemmKernels.ceilDiv;
import static kiln.backend.cuda.GemmKernels.weightSuffix;

/**
 * Launchers of linear_mma.cuh's entry points: dense linear layers and SwiGLU's gate/up of 2 to 64 rows on the tensor
 * cores (bf16 activations, bf16 or fp8 weights), 16 output columns per CTA, K split over its 8 warps.
 */
final class LinearMmaKernels {
    /** Activation rows the kernel takes (4 m-tiles of 16); threads per CTA (LMMA_WARPS warps); output columns per CTA. */
    static final int MIN_ROWS = 2, MAX_ROWS = 64, THREADS = 256, COLS = 16;

    private final KernelLauncher k;

    LinearMmaKernels(KernelLauncher k) {
        this.k = k;
    }

    /**
     * Can the kernel read these weights: bf16, or fp8 in 128-column scale blocks, K a whole number of moe_mma's chunks
     * (8 loads of 16 bytes), 16-byte aligned rows of x?
     */
    static boolean fits(int m, WeightArgs w, int kk, long x, long ldx) {
        int align = MoeMmaKernels.kAlign(w.dtype());
        return m >= MIN_ROWS && m <= MAX_ROWS && align > 0 && kk % align == 0 && x % 16 == 0 && ldx % 8 == 0
                && (w.dtype() != DType.F8_E4M3 || w.blockRows() % 8 == 0);
    }

    /** Shared memory of the split-K reduction: every warp's fragments of {@code streams} 8-column streams per m-tile. */
    static int sharedBytes(int m, int streams) {
        return 8 * ceilDiv(m, 16) * streams * 4 * 32 * Float.BYTES;
    }

    /** out = x W^T (+ bias) for m rows of x. */
    void linear(int m, long x, long ldx, WeightArgs w, long bias, long out, long ldo, int n, int kk) {
        check(m, w, kk, x, ldx);
        k.fn("linear_mma_bf16_" + weightSuffix(w.dtype())).ptr(x).i64(ldx).ptr(w.ptr()).ptr(w.scales()).i32(w.scaleCols()).i32(w.blockRows())
                .ptr(bias).ptr(out).i64(ldo).i32(m).i32(n).i32(kk).launch(ceilDiv(n, COLS), 1, 1, THREADS, sharedBytes(m, 2));
    }

    /** out = silu(x gate^T) * (x up^T) for m rows of x; gate and up share a weight type and scale layout. */
    void gateUp(int m, long x, long ldx, WeightArgs gate, WeightArgs up, long out, long ldo, int n, int kk) {
        check(m, gate, kk, x, ldx);
        if (up.dtype() != gate.dtype()) throw new IllegalArgumentException("linear_mma gate/up: gate " + gate.dtype() + ", up " + up.dtype());
        k.fn("linear_mma_gate_up_bf16_" + weightSuffix(gate.dtype())).ptr(x).i64(ldx).ptr(gate.ptr()).ptr(up.ptr()).ptr(gate.scales())
                .ptr(up.scales()).i32(gate.scaleCols()).i32(gate.blockRows()).ptr(out).i64(ldo).i32(m).i32(n).i32(kk)
                .launch(ceilDiv(n, COLS), 1, 1, THREADS, sharedBytes(m, 4));
    }

    private static void check(int m, WeightArgs w, int kk, long x, long ldx) {
        if (!fits(m, w, kk, x, ldx)) {
            throw new IllegalArgumentException("linear_mma: " + m + " rows x " + kk + " of " + w.dtype() + " weights (x at " + x + ", ld " + ldx
                    + ") do not fit it");
        }
    }
}
