package kiln;

import java.util.Locale;

/**
 * Every {@code kiln.*} Java system property Kiln reads, with its default and what it does. This is the only place
 * they are read (KilnPropertyTest keeps it so, and checks that docs/properties.md lists each one); each is read
 * once into the config record that owns it ({@code CudaFlags}, {@code CudaOptions}, {@code EngineConfig}, ...), never
 * kept in a mutable static. Set them with {@code KILN_JAVA_OPTS="-Dkiln.cuda.gemv2=false" ./kiln serve ...}.
 *
 * <p>Booleans accept only {@code true} and {@code false}: a misspelt value is an error naming the property, not a
 * silent default.
 */
public enum KilnProperty {
    // ---- the launcher and logging ----
    HOME("kiln.home", "", "the checkout `./kiln` runs from (set by `./kiln`); `kiln bench --server-args` starts `<kiln.home>/kiln serve`"),
    QUIET("kiln.quiet", "false", "no informational log lines (warnings still print)"),

    // ---- CPU backend ----
    THREADS("kiln.threads", "", "worker threads of the CPU backend (default: every core)"),

    // ---- engine ----
    ENGINE_DEVICE_SAMPLING("kiln.engine.deviceSampling", "true",
            "steps whose rows need only temperature / top-k / top-p sample on the backend (false: every step downloads its logits)"),

    // ---- CUDA backend: memory and libraries ----
    CUDA_ACTIVATION_GB("kiln.cuda.activationGb", "4", "GiB of device memory for one forward's activations"),
    CUDA_NO_FP8_LT("kiln.cuda.noFp8Lt", "false", "true: FP8 weights of more than 8 rows go through a bf16 copy instead of cuBLASLt's block-scaled FP8 GEMM"),
    CUDA_TP_RANKS("kiln.cuda.tpRanks", "nccl",
            "--tp > 1 on the CUDA backend: nccl (rank r on GPU base + r, collectives through NCCL), virtual (every rank on the one GPU,"
                    + " collectives by a sum kernel: for checking the tensor-parallel path, no speed-up); none refuses --tp > 1"),
    CUDA_NCCL_LIBRARY("kiln.cuda.ncclLibrary", "libnccl.so.2", "the NCCL library the nccl ranks load (a file name the loader finds, or a path)"),

    // ---- CUDA backend: kernel choices (CudaFlags); each has a plain fallback that CudaKernelCheck keeps checked ----
    CUDA_GEMV2("kiln.cuda.gemv2", "true", "decode GEMVs (linear, SwiGLU, experts, per-head matrices; up to 8 rows) on gemv2.cuh (false: gemm.cuh's first GEMVs)"),
    CUDA_MOE_MMA("kiln.cuda.moeMma", "true", "MoE of kiln.cuda.moeMmaMinTokens tokens or more on the tensor-core grouped kernel, moe_mma.cuh (false: grouped GEMV / GEMM)"),
    CUDA_MOE_MMA_MAX_TOKENS("kiln.cuda.moeMmaMaxTokens", "1024", "the most tokens moe_mma takes; larger bf16 prefill batches go per expert through cuBLASLt"),
    CUDA_MOE_MMA_MIN_TOKENS("kiln.cuda.moeMmaMinTokens", "8", "the fewest tokens moe_mma takes (2..9); smaller batches take the grouped GEMV (gemv2.cuh)"),
    CUDA_MOE_STAGED_MIN_TOKENS("kiln.cuda.moeStagedMinTokens", "0", "the fewest tokens whose experts (bf16, or fp8 in 128-row blocks) take moe_staged.cuh's grouped GEMM (tiles staged through shared memory), ahead of moe_mma and the per-expert path; 0: none (not yet run on a GPU)"),
    CUDA_LINEAR_MMA_MAX_ROWS("kiln.cuda.linearMmaMaxRows", "16",
            "the most rows (up to 64) of a dense linear layer or SwiGLU that linear_mma.cuh takes on the tensor cores, from 2; 1 turns it off: gemv2 up to 8 rows, then cuBLASLt"),
    CUDA_LINEAR_MMA_FP8("kiln.cuda.linearMmaFp8", "true", "linear_mma.cuh also for fp8 weights (false: gemv2 up to 8 rows, then cuBLASLt's block-scaled FP8 GEMM)"),
    CUDA_FP8_LT_MIN_ROWS("kiln.cuda.fp8LtMinRows", "17",
            "the fewest rows (from 2) of an fp8 linear layer that take cuBLASLt's block-scaled FP8 GEMM ahead of linear_mma and gemv2 (rows padded to 16)"),
    CUDA_MOE_BY_EXPERT("kiln.cuda.moeByExpert", "true", "prefill MoE per expert through cuBLASLt (false: Kiln's grouped GEMM)"),
    CUDA_MLA_TC("kiln.cuda.mlaTc", "true", "MLA attention in bf16 on the tensor-core kernels, mla_decode.cuh (false: the generic attention kernel)"),
    CUDA_MLA_SPLIT64("kiln.cuda.mlaSplit64", "true", "MLA decode in splits of >= 64 keys with cp.async queries, mla_attention_tc2 (false: mla_attention_tc, >= 256)"),
    CUDA_MLA_SPLIT_MIN("kiln.cuda.mlaSplitMin", "64", "fewest keys per split of mla_attention_tc2 (64: one tile; 32: half a tile for twice the CTAs)"),
    CUDA_MHA_PREFILL("kiln.cuda.mhaPrefill", "true", "DeepSeek MLA prefill in the MHA form, mla_prefill.cuh (false: the absorbed form)"),
    CUDA_GQA_PREFILL("kiln.cuda.gqaPrefill", "true", "grouped-query attention of bf16 prefill on the tensor-core kernel of mla_prefill.cuh (false: the generic attention kernel)"),
    CUDA_GQA_TC("kiln.cuda.gqaTc", "true",
            "grouped-query attention of bf16 decode (and extend batches the prefill kernel does not take) on mla_decode.cuh's tensor-core kernel (false: the generic attention kernel)"),
    CUDA_FUSE_DECODE("kiln.cuda.fuseDecode", "true",
            "decode fusions of up to 8 tokens: router GEMV + routing, latent norm + ropes (+ W_UK), W_UV from the attention splits (false: separate launches)"),
    CUDA_ROUTE_ALIGN("kiln.cuda.routeAlign", "true", "up to 8 tokens: MoE routing and alignment in one launch (false: moe_route + moe_align)"),
    CUDA_SIDE_STREAM("kiln.cuda.sideStream", "true", "DeepSeek's shared experts on a side stream in captured decode graphs of up to 8 tokens"),
    CUDA_PDL("kiln.cuda.pdl", "true", "programmatic dependent launch on Hopper (false: plain launches)"),

    // ---- CUDA backend: debugging and experiments ----
    CUDA_SYNC("kiln.cuda.sync", "false", "synchronise after every kernel launch, so a device fault names the kernel that caused it"),
    CUDA_PROFILE("kiln.cuda.profile", "false", "per-op device time between events (CUDA graphs are bypassed); CudaBench prints the table"),
    CUDA_FATBIN("kiln.cuda.fatbin", "", "load the kernels from this fatbin file instead of the jar's (compile-time variants compared in one call)"),
    CUDA_TRACE("kiln.cuda.trace", "", "append every kernel launch (name, grid, block, shared bytes, arguments) to this file"),

    // ---- the device benchmark harness (CudaBench, src/test) ----
    BENCH_BATCHES("kiln.bench.batches", "1,8,32,64,128", "CudaBench: decode batch sizes"),
    BENCH_BANDWIDTH_GBS("kiln.bench.bandwidthGBs", "0", "CudaBench: measured copy bandwidth, for the decode floor (0: not reported)"),
    BENCH_LAYERS("kiln.bench.layers", "", "CudaBench: cut the model to this many layers (default: as many as fit)"),
    BENCH_TAG("kiln.bench.tag", "", "CudaBench: text appended to each result's configuration"),
    BENCH_STEPS("kiln.bench.steps", "10", "CudaBench: timed decode steps per batch size"),
    BENCH_MODEL_OVERRIDE("kiln.bench.modelOverride", "", "CudaBench: JSON merged into the model configs, as --json-model-override-args"),
    BENCH_PREFILL_TOKENS("kiln.bench.prefillTokens", "4096", "CudaBench: prefill chunk sizes, one fresh sequence each"),
    BENCH_PREFILL_CACHED("kiln.bench.prefillCached", "0", "CudaBench: cached tokens before each prefill chunk (a later chunk of a long prompt, as chunked prefill serves it)"),
    BENCH_CTX("kiln.bench.ctx", "1024", "CudaBench: tokens of context each decode sequence attends to"),
    BENCH_PDL_COMPARE("kiln.bench.pdlCompare", "false", "CudaBench: also time each graph with programmatic dependent launch off"),
    BENCH_SKIP("kiln.bench.skip", "", "CudaBench: kernel sets left out of the decode graph (';' between sets, ',' within), to read each set's cost"),
    BENCH_EAGER("kiln.bench.eager", "true", "CudaBench: also time batches 1 and 64 eagerly (without CUDA graphs)"),
    BENCH_KV_FP8("kiln.bench.kvFp8", "false", "CudaBench: the whole-model runs with MLA's latent cache in FP8 (--kv-cache-dtype fp8_e4m3)"),
    BENCH_TP("kiln.bench.tp", "1", "CudaBench: tensor-parallel ranks of the whole-model benchmarks (the kind from kiln.cuda.tpRanks)");

    private final String key, defaultValue, description;

    KilnProperty(String key, String defaultValue, String description) {
        this.key = key;
        this.defaultValue = defaultValue;
        this.description = description;
    }

    public String key() {
        return key;
    }

    /** The default as written in docs/properties.md ("" where the default is computed, e.g. every core). */
    public String defaultValue() {
        return defaultValue;
    }

    public String description() {
        return description;
    }

    /** The value set with -D, else the default ("" when unset and computed elsewhere). */
    public String value() {
        return System.getProperty(key, defaultValue).strip();
    }

    /** The value, or null when it is empty (unset, with no fixed default). */
    public String valueOrNull() {
        String v = value();
        return v.isEmpty() ? null : v;
    }

    public boolean flag() {
        String v = value().toLowerCase(Locale.ROOT);
        return switch (v) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new IllegalArgumentException("-D" + key + "=" + System.getProperty(key) + ": expected true or false");
        };
    }

    /** The integer value, or {@code fallback} when unset with no fixed default. */
    public int intValue(int fallback) {
        String v = value();
        if (v.isEmpty()) return fallback;
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("-D" + key + "=" + v + ": expected an integer");
        }
    }

    public double doubleValue() {
        String v = value();
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("-D" + key + "=" + v + ": expected a number");
        }
    }
}
