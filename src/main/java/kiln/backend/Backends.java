package kiln.backend;

import kiln.Log;
import kiln.backend.cpu.CpuBackend;
import kiln.backend.cuda.CudaBackend;
import kiln.backend.cuda.CudaDevice;
import kiln.backend.cuda.CudaOptions;
import kiln.backend.cuda.Precision;

/**
 * {@code --device auto|cpu|cuda[:N]}: auto takes the GPU when libcuda loads, a device exists and this build
 * carries the CUDA kernels, else the CPU (saying why). {@code dtype} is SGLang's {@code --dtype} (auto,
 * bfloat16, float32) and applies to the GPU; the CPU computes in float.
 */
public final class Backends {
    private Backends() {}

    public static Backend create(String device, String dtype) {
        return create(device, dtype, false);
    }

    /**
     * As {@link #create(String, String)}, with MLA's latent cache in FP8 when {@code fp8KvCache}
     * ({@code --kv-cache-dtype fp8_e4m3}).
     */
    public static Backend create(String device, String dtype, boolean fp8KvCache) {
        String d = device == null ? "auto" : device.trim().toLowerCase(java.util.Locale.ROOT);
        if (d.equals("cpu")) return new CpuBackend(false, fp8KvCache);
        if (d.equals("auto")) {
            String why = cudaUnavailableReason();
            if (why != null) {
                Log.info("--device auto: using the CPU (%s)", why);
                return new CpuBackend(false, fp8KvCache);
            }
            return cuda(0, dtype, fp8KvCache);
        }
        if (d.equals("cuda") || d.startsWith("cuda:")) {
            int ordinal;
            try {
                ordinal = d.equals("cuda") ? 0 : Integer.parseInt(d.substring(5));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--device " + device + ": expected cuda or cuda:N");
            }
            String why = cudaUnavailableReason();
            if (why != null) throw new IllegalArgumentException("--device " + device + ": " + why);
            return cuda(ordinal, dtype, fp8KvCache);
        }
        throw new IllegalArgumentException("--device must be auto, cpu, cuda or cuda:N, not " + device);
    }

    /**
     * {@code size} tensor-parallel ranks set up like {@code like}. The CPU runs them in this process; the CUDA
     * backend as {@code kiln.cuda.tpRanks} says (virtual ranks on one GPU, or one GPU per rank over NCCL).
     */
    public static RankGroup group(Backend like, int size) {
        if (like instanceof CpuBackend cpu) return cpu.ranks(size);
        if (like instanceof CudaBackend cuda) return cuda.ranks(size);
        throw new kiln.config.ConfigException("--tp " + size + ": tensor parallelism on the " + like.name() + " backend is not built yet; --device cpu runs it");
    }

    /**
     * Whether {@code --kv-cache-dtype fp8_e4m3} is offered on the GPU: its kernels (mla_decode.cuh's FP8KV form, the
     * FP8 kv_store2 and gather, attention.cuh over an FP8 cache) are written and reach the CPU-side tests, but have
     * not run on a GPU yet; this turns true once CudaKernelCheck's "fp8 cache" rows pass there (docs/status.md).
     */
    static final boolean FP8_KV_CACHE_CHECKED = false;

    private static Backend cuda(int ordinal, String dtype, boolean fp8KvCache) {
        if (fp8KvCache && !FP8_KV_CACHE_CHECKED) {
            throw new IllegalArgumentException("--kv-cache-dtype fp8_e4m3: the FP8 latent cache's GPU kernels are written but have not "
                    + "passed their GPU checks yet (docs/status.md); pass --kv-cache-dtype auto");
        }
        Precision p = Precision.parse(dtype);
        return new CudaBackend(CudaOptions.defaults().withDevice(ordinal).withPrecision(p).withFp8KvCache(fp8KvCache));
    }

    /** Null when the CUDA backend can run here, else why not. */
    public static String cudaUnavailableReason() {
        if (!CudaBackend.kernelsPresent()) return "this build has no CUDA kernels (nvcc was not found when it was built)";
        return CudaDevice.unavailableReason();
    }
}
