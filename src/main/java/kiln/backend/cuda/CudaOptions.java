package kiln.backend.cuda;

/**
 * How a {@link CudaBackend} is set up.
 *
 * @param device          CUDA device ordinal
 * @param precision       activation and KV precision
 * @param activationBytes device bytes for one forward's activations (the largest layer of the largest batch)
 * @param maxBatchTokens  most tokens one forward may carry (fixed-size device buffers for batch metadata)
 * @param maxSlotEntries  most KV slot entries (sum of the sequences' lengths) one forward may reference
 * @param useCublas       use cuBLASLt for bf16 GEMMs of more than 8 rows where it loads
 * @param fp8Lt           FP8 weights of more than 8 rows through cuBLASLt's block-scaled FP8 GEMM, with the
 *                        activations quantised to fp8 (DeepSeek's scheme; -Dkiln.cuda.noFp8Lt=true turns it off)
 */
public record CudaOptions(int device, Precision precision, long activationBytes, int maxBatchTokens, int maxSlotEntries,
                          boolean useCublas, boolean fp8Lt) {
    public static CudaOptions defaults() {
        return new CudaOptions(0, Precision.BFLOAT16, 4L << 30, 16384, 1 << 22, true, !Boolean.getBoolean("kiln.cuda.noFp8Lt"));
    }

    public CudaOptions withFp8Lt(boolean use) {
        return new CudaOptions(device, precision, activationBytes, maxBatchTokens, maxSlotEntries, useCublas, use);
    }

    public CudaOptions withPrecision(Precision p) {
        return new CudaOptions(device, p, activationBytes, maxBatchTokens, maxSlotEntries, useCublas, fp8Lt);
    }

    public CudaOptions withActivationBytes(long bytes) {
        return new CudaOptions(device, precision, bytes, maxBatchTokens, maxSlotEntries, useCublas, fp8Lt);
    }

    public CudaOptions withDevice(int ordinal) {
        return new CudaOptions(ordinal, precision, activationBytes, maxBatchTokens, maxSlotEntries, useCublas, fp8Lt);
    }

    public CudaOptions withCublas(boolean use) {
        return new CudaOptions(device, precision, activationBytes, maxBatchTokens, maxSlotEntries, use, fp8Lt);
    }
}
