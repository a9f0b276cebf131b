package kiln.backend.cuda;

import kiln.KilnProperty;

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
 *                        activations quantised to fp8 (DeepSeek's scheme)
 * @param flags           kernel choices and debugging switches
 * @param fp8KvCache      MLA's latent cache in FP8 e4m3 ({@code --kv-cache-dtype fp8_e4m3}; bf16 activations, MLA models)
 */
public record CudaOptions(int device, Precision precision, long activationBytes, int maxBatchTokens, int maxSlotEntries,
                          boolean useCublas, boolean fp8Lt, CudaFlags flags, boolean fp8KvCache) {

    /** bf16 on device 0, with the activation size, FP8 GEMM path and switches the {@code kiln.cuda.*} properties set. */
    public static CudaOptions defaults() {
        long activationBytes = (long) (KilnProperty.CUDA_ACTIVATION_GB.doubleValue() * (1L << 30));
        return new CudaOptions(0, Precision.BFLOAT16, activationBytes, 16384, 1 << 22, true, !KilnProperty.CUDA_NO_FP8_LT.flag(),
                CudaFlags.fromProperties(), false);
    }

    public CudaOptions withFp8Lt(boolean use) {
        return new CudaOptions(device, precision, activationBytes, maxBatchTokens, maxSlotEntries, useCublas, use, flags, fp8KvCache);
    }

    public CudaOptions withPrecision(Precision p) {
        return new CudaOptions(device, p, activationBytes, maxBatchTokens, maxSlotEntries, useCublas, fp8Lt, flags, fp8KvCache);
    }

    public CudaOptions withActivationBytes(long bytes) {
        return new CudaOptions(device, precision, bytes, maxBatchTokens, maxSlotEntries, useCublas, fp8Lt, flags, fp8KvCache);
    }

    public CudaOptions withDevice(int ordinal) {
        return new CudaOptions(ordinal, precision, activationBytes, maxBatchTokens, maxSlotEntries, useCublas, fp8Lt, flags, fp8KvCache);
    }

    public CudaOptions withCublas(boolean use) {
        return new CudaOptions(device, precision, activationBytes, maxBatchTokens, maxSlotEntries, use, fp8Lt, flags, fp8KvCache);
    }

    public CudaOptions withFlags(CudaFlags f) {
        return new CudaOptions(device, precision, activationBytes, maxBatchTokens, maxSlotEntries, useCublas, fp8Lt, f, fp8KvCache);
    }

    public CudaOptions withFp8KvCache(boolean fp8) {
        return new CudaOptions(device, precision, activationBytes, maxBatchTokens, maxSlotEntries, useCublas, fp8Lt, flags, fp8);
    }
}
