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
 */
public record CudaOptions(int device, Precision precision, long activationBytes, int maxBatchTokens, int maxSlotEntries,
                          boolean useCublas) {
    public static CudaOptions defaults() {
        return new CudaOptions(0, Precision.BFLOAT16, 4L << 30, 16384, 1 << 22, true);
    }

    public CudaOptions withPrecision(Precision p) {
        return new CudaOptions(device, p, activationBytes, maxBatchTokens, maxSlotEntries, useCublas);
    }

    public CudaOptions withActivationBytes(long bytes) {
        return new CudaOptions(device, precision, bytes, maxBatchTokens, maxSlotEntries, useCublas);
    }

    public CudaOptions withDevice(int ordinal) {
        return new CudaOptions(ordinal, precision, activationBytes, maxBatchTokens, maxSlotEntries, useCublas);
    }

    public CudaOptions withCublas(boolean use) {
        return new CudaOptions(device, precision, activationBytes, maxBatchTokens, maxSlotEntries, use);
    }
}
