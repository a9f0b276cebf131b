package kiln.backend.cuda;

import kiln.io.DType;

/**
 * Activation precision of the CUDA backend, chosen like SGLang's {@code --dtype}. FLOAT32 keeps every activation
 * and the KV cache in float and runs Kiln's own kernels in a fixed summation order (the fixture checks need it,
 * and greedy output is batch-invariant); BFLOAT16 is the serving default for bf16 and FP8 checkpoints (tensor
 * cores through cuBLASLt for large batches, half the activation and KV bytes).
 */
public enum Precision {
    FLOAT32(DType.F32, "f32"),
    BFLOAT16(DType.BF16, "bf16");

    public final DType dtype;
    final String suffix;

    Precision(DType dtype, String suffix) {
        this.dtype = dtype;
        this.suffix = suffix;
    }

    /** SGLang's spellings: auto (bf16 on the GPU), bfloat16, float32 / float. */
    public static Precision parse(String dtype) {
        return switch (dtype == null ? "auto" : dtype.toLowerCase(java.util.Locale.ROOT)) {
            case "auto", "bfloat16", "bf16" -> BFLOAT16;
            case "float32", "float", "fp32" -> FLOAT32;
            case "half", "float16", "fp16" -> throw new IllegalArgumentException("--dtype " + dtype
                    + " is not supported by the CUDA backend (use bfloat16 or float32)");
            default -> throw new IllegalArgumentException("--dtype must be auto, bfloat16 or float32, not " + dtype);
        };
    }
}
