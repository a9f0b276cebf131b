package kiln.cli;

import kiln.backend.Backends;
import picocli.CommandLine.Option;

import java.util.Locale;

/**
 * SGLang's parallelism flags, shared by serve, generate and engine-bench: {@code --tp} ranks each hold a part of every
 * layer (on the CPU, in-process ranks; on CUDA, the ranks {@code kiln.cuda.tpRanks} names, else tp > 1 is refused),
 * {@code --base-gpu-id} picks rank 0's GPU, and expert parallelism is refused (routed experts are split by --tp).
 */
final class ParallelFlags {
    @Option(names = {"--tp", "--tp-size", "--tensor-parallel-size"}, defaultValue = "1",
            description = "Tensor parallel size: ranks each holding a part of every layer (default: ${DEFAULT-VALUE}). "
                    + "The CPU runs the ranks in this process; the CUDA backend needs -Dkiln.cuda.tpRanks=nccl (GPUs --base-gpu-id "
                    + "to --base-gpu-id + tp - 1) or =virtual (every rank on one GPU, a check without speed-up).")
    int tp;

    @Option(names = "--base-gpu-id", defaultValue = "0",
            description = "The GPU of rank 0 with --device cuda or auto (default: ${DEFAULT-VALUE}); the CPU takes only 0.")
    int baseGpuId;

    @Option(names = {"--ep-size", "--ep", "--expert-parallel-size"}, defaultValue = "1",
            description = "Expert parallel size: only 1 (--tp splits every routed expert along its intermediate dimension).")
    int epSize;

    /** Checks the flags on their own; a CLI error names the flag. */
    void check() {
        if (tp < 1) throw new IllegalArgumentException("--tp must be at least 1, not " + tp);
        if (baseGpuId < 0) throw new IllegalArgumentException("--base-gpu-id must be at least 0, not " + baseGpuId);
        if (epSize != 1) {
            throw new IllegalArgumentException("--ep-size " + epSize + ": expert parallelism is not built; --tp splits every routed "
                    + "expert along its intermediate dimension instead (leave --ep-size at 1)");
        }
    }

    /** {@code --device} with {@code --base-gpu-id} applied: the device rank 0 runs on. */
    String device(String device) {
        check();
        if (baseGpuId == 0) return device;
        String d = device == null ? "auto" : device.trim().toLowerCase(Locale.ROOT);
        String flag = "--base-gpu-id " + baseGpuId;
        return switch (d) {
            case "cpu" -> throw new IllegalArgumentException(flag + ": the CPU backend has no GPUs (the flag applies to --device cuda)");
            case "auto" -> {
                String why = Backends.cudaUnavailableReason();
                if (why != null) throw new IllegalArgumentException(flag + ": --device auto runs on the CPU here (" + why + "), which has no GPUs");
                yield "cuda:" + baseGpuId;
            }
            case "cuda" -> "cuda:" + baseGpuId;
            default -> {
                if (d.startsWith("cuda:")) throw new IllegalArgumentException(flag + " and --device " + device + " both choose the GPU; give one of them");
                yield device;  // not a device: Backends.create says so
            }
        };
    }
}
