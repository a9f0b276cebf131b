package kiln.backend.cuda;

import kiln.backend.Weight;
import kiln.io.DType;

/**
 * A weight in device memory in its stored precision: f32, bf16, or fp8 e4m3 with float block scales
 * (scales[(r / blockRows) * scaleCols + c / blockCols], as stored in the checkpoint, not pre-multiplied).
 * {@code ltScales} holds the same scales in the layout cuBLASLt's block-scaled FP8 GEMM wants (often the same
 * array; 0 when not fp8).
 */
record CudaWeight(DType dtype, int rows, int cols, long ptr, long scales, int blockRows, int blockCols, int scaleCols,
                  long bytes, long ltScales) implements Weight {

    boolean fp8() {
        return dtype == DType.F8_E4M3;
    }

    /** The kernel-name suffix of the stored type. */
    String suffix() {
        return switch (dtype) {
            case F32 -> "wf32";
            case BF16 -> "wbf16";
            case F8_E4M3 -> "wfp8";
            default -> throw new IllegalStateException("no CUDA kernels for weights of " + dtype);
        };
    }
}
