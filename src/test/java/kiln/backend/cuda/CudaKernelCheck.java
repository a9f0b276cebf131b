package kiln.backend.cuda;

import kiln.backend.Backend;
import kiln.backend.Backends;
import kiln.backend.ForwardBatch;
import kiln.backend.KvCache;
import kiln.backend.KvLayout;
import kiln.backend.LogitConstraints;
import kiln.backend.MlaInputs;
import kiln.backend.MlaQuery;
import kiln.backend.MoeRouting;
import kiln.backend.RankGroup;
import kiln.backend.Rope;
import kiln.backend.Tensor;
import kiln.backend.TracingBackend;
import kiln.backend.Weight;
import kiln.backend.cpu.Bf16CpuBackend;
import kiln.backend.cpu.CpuBackend;
import kiln.config.ModelConfig;
import kiln.engine.SimpleGenerator;
import kiln.io.DType;
import kiln.io.Fp8;
import kiln.io.TensorData;
import kiln.model.Model;
import kiln.model.Models;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * GPU-vs-CPU checks of every backend op on random inputs of realistic sizes (DeepSeek-R1's shapes: hidden 7168,
 * 128 heads, kv_lora 512, rope 64, FP8 128x128 blocks, noaux_tc routing; Llama-8B's GQA), in both activation
 * precisions, plus an end-to-end model (configs/r1-arch-mini.json, dummy FP8 weights) with and without CUDA
 * graphs. Prints one table row per check: max |gpu - cpu| over max |cpu| against the tolerance.
 *
 * <p>{@code java ... kiln.backend.cuda.CudaKernelCheck [substring ...] [--out FILE]}: run the checks whose name
 * contains one of the substrings (all by default); exit status 1 when any fails. Run with -Dkiln.cuda.sync=true so
 * that a device fault is reported against the kernel that caused it.
 */
public final class CudaKernelCheck {
    record Result(String name, String precision, String shape, double maxAbs, double rel, double tol, boolean pass, String note) {}

    private final List<Result> results = new ArrayList<>();
    private final List<String> filters;
    private final Arena arena = Arena.ofShared();
    private final CpuBackend cpu = new CpuBackend();
    private String precisionTag = "";

    CudaKernelCheck(List<String> filters) {
        this.filters = filters;
    }

    public static void main(String[] args) throws Exception {
        List<String> filters = new ArrayList<>();
        Path out = null;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--out")) out = Path.of(args[++i]);
            else filters.add(args[i]);
        }
        boolean dry = filters.remove("--dry-run");
        String why = Backends.cudaUnavailableReason();
        if (why != null && !dry) {
            System.out.println("CudaKernelCheck: skipped, " + why);
            return;
        }
        CudaKernelCheck c = new CudaKernelCheck(filters);
        if (dry) c.dryRun();
        else c.runAll();
        c.print(System.out);
        if (out != null) {
            try (PrintStream ps = new PrintStream(Files.newOutputStream(out))) {
                c.print(ps);
                ps.print(c.traces);
            }
        }
        System.exit(c.failures() == 0 ? 0 : 1);
    }

    long failures() {
        return results.stream().filter(r -> !r.pass).count();
    }

    List<Result> results() {
        return results;
    }

    void print(PrintStream out) {
        out.printf("%-34s %-6s %-34s %11s %11s %9s  %s%n", "check", "prec", "shape", "max|err|", "rel err", "tol", "result");
        for (Result r : results) {
            out.printf("%-34s %-6s %-34s %11.3e %11.3e %9.1e  %s%s%n", r.name, r.precision, r.shape, r.maxAbs, r.rel, r.tol,
                    r.pass ? "PASS" : "FAIL", r.note.isEmpty() ? "" : "  " + r.note);
        }
        out.printf("%d checks, %d passed, %d failed%n", results.size(), results.size() - failures(), failures());
    }

    // ---- the checks ----

    interface Check {
        void run(Backend g, double tol) throws Exception;
    }

    void runAll() {
        for (Precision p : Precision.values()) {
            precisionTag = p == Precision.FLOAT32 ? "f32" : "bf16";
            try (CudaBackend g = new CudaBackend(CudaOptions.defaults().withPrecision(p).withActivationBytes(6L << 30))) {
                runChecks(g, p == Precision.FLOAT32);
            }
        }
        // bf16 without cuBLASLt: the linear layers on Kiln's tensor-core GEMM (gemm_tc) instead
        precisionTag = "bf16k";
        try (CudaBackend g = new CudaBackend(CudaOptions.defaults().withPrecision(Precision.BFLOAT16).withCublas(false).withActivationBytes(6L << 30))) {
            run("linear_bf16 (own tc)", g, 3e-2, (b, t) -> {
                for (int m : new int[]{5, 64, 200}) linear(b, t, DType.BF16, 1536, 7168, m, m == 5, false);
            });
            run("linear_fp8 (own tc)", g, 3e-2, (b, t) -> {
                for (int m : new int[]{64, 200}) linear(b, t, DType.F8_E4M3, 2048, 7168, m, false, false);
                linear(b, t, DType.F8_E4M3, 1000, 1000, 70, true, true);
            });
            run("head_linear (own tc)", g, 3e-2, this::headLinear);
            run("model_vs_sim (own tc)", g, 5e-2, this::modelVsSim);
        }
        // bf16 on cuBLASLt without the fp8 activation quantisation: the model check at its tight tolerance
        precisionTag = "bf16n";
        try (CudaBackend g = new CudaBackend(CudaOptions.defaults().withPrecision(Precision.BFLOAT16).withFp8Lt(false).withActivationBytes(6L << 30))) {
            run("model_vs_sim (no fp8 act)", g, 5e-2, this::modelVsSim);
            run("generate_vs_sim (no fp8 act)", g, 0, this::generateVsSim);
        }
    }

    /** The checks' own logic, CPU against CPU (exact): {@code --dry-run} on a machine without a GPU. */
    void dryRun() {
        precisionTag = "cpu";
        runChecks(new CpuBackend(), true);
        precisionTag = "bf16-dry";  // the simulation against itself: exercises the trace and the generate comparison
        run("model_vs_sim", new Bf16CpuBackend(false), 5e-2, this::modelVsSim);
        run("model_vs_sim (mha dims)", new Bf16CpuBackend(false, true), 5e-2, (b, t) -> modelVsSim(b, t, NO_FLIP_MHA));
        run("generate_vs_sim", new Bf16CpuBackend(false), 0, this::generateVsSim);
        run("gqa_model_vs_sim", new Bf16CpuBackend(false), 5e-2, this::gqaModelVsSim);
    }

    private void runChecks(Backend g, boolean f32) {
        {
            double tol = f32 ? 2e-4 : 3e-2;
            {
                run("rmsnorm", g, tol, this::norms);
                run("silu_mul", g, tol, this::siluMul);
                run("embed", g, tol, this::embed);
                run("rope", g, tol, this::rope);
                run("linear_bf16", g, tol, this::linearBf16);
                run("linear_fp8", g, f32 ? tol : 5e-2, this::linearFp8);  // bf16: activations quantised to fp8 for cuBLASLt
                run("linear_f32", g, tol, (b, t) -> linear(b, t, DType.F32, 96, 256, 5, true, true));
                run("linear_pair", g, f32 ? tol : 5e-2, this::linearPairs);
                run("silu_gate_up", g, f32 ? tol : 8e-2, this::siluGateUps);
                if (!f32 && g instanceof CudaBackend cg) {  // the fallbacks of linear_mma's 2..16 rows: gemv2, then cuBLASLt
                    withVariant(cg, "v", f -> f.withLinearMmaMaxRows(1), plain -> {
                        run("linear_bf16 (no linear_mma)", plain, tol, this::linearBf16);
                        run("linear_fp8 (no linear_mma)", plain, 5e-2, this::linearFp8);
                        run("linear_pair (no linear_mma)", plain, 5e-2, this::linearPairs);
                        run("silu_gate_up (no linear_mma)", plain, 8e-2, this::siluGateUps);
                    });
                    // 2..64 rows on linear_mma.cuh's tensor-core kernel (kiln.cuda.linearMmaMaxRows, linearMmaFp8)
                    withVariant(cg, "l", f -> f.withLinearMmaMaxRows(LinearMmaKernels.MAX_ROWS).withLinearMmaFp8(true), mma -> {
                        run("linear_bf16 (linear_mma)", mma, tol, (b, t) -> {
                            for (int m : new int[]{2, 5, 8, 16, 33, 64}) linear(b, t, DType.BF16, 1536, 7168, m, m == 5, m == 33);
                            linear(b, t, DType.BF16, 2047, 512, 3, true, false);  // a last CTA of 15 columns, one of them odd
                        });
                        run("linear_fp8 (linear_mma)", mma, 5e-2, (b, t) -> {
                            for (int m : new int[]{2, 8, 20, 64}) linear(b, t, DType.F8_E4M3, 2048, 7168, m, false, false);
                            for (int m : new int[]{3, 40}) linear(b, t, DType.F8_E4M3, 1000, 1024, m, true, true);
                        });
                        run("silu_gate_up (linear_mma)", mma, 8e-2, (b, t) -> {
                            for (int m : new int[]{2, 8, 20, 64}) siluGateUp(b, t, DType.F8_E4M3, 2048, 7168, m);
                            for (int m : new int[]{3, 17}) siluGateUp(b, t, DType.BF16, 1408, 2048, m);
                        });
                    });
                    // 2..16 fp8 rows on cuBLASLt's FP8 GEMM, padded to 16 (kiln.cuda.fp8LtMinRows)
                    withVariant(cg, "f", f -> f.withFp8LtMinRows(2), lt -> run("linear_fp8 (cuBLASLt from 2 rows)", lt, 5e-2, (b, t) -> {
                        for (int m : new int[]{2, 8, 13, 16}) linear(b, t, DType.F8_E4M3, 2048, 7168, m, m == 13, m == 8);
                        linear(b, t, DType.F8_E4M3, 1536, 7168, 5, true, false);
                    }));
                }
                run("head_linear", g, tol, this::headLinear);
                run("mla_attention", g, tol, this::mla);
                run("mla_attention + W_UV", g, tol, this::mlaValues);
                if (!f32 && g instanceof CudaBackend cg) {  // bf16 MLA runs on the tensor-core kernel; the generic one stays checked as its fallback
                    withVariant(cg, "g", f -> f.withMlaTc(false), generic -> run("mla_attention (generic kernel)", generic, tol, this::mla));
                }
                if (!f32 || !(g instanceof CudaBackend)) {  // the GPU's MHA prefill is bf16 only; the dry run checks the logic
                    run("mla_store_gather", g, tol, this::mlaStoreGather);
                    run("mla_prefill_mha", g, tol, this::mlaPrefillMha);
                }
                if (!f32 && g instanceof CudaBackend cg) {
                    // MLA over an FP8 latent cache (--kv-cache-dtype fp8_e4m3): with the entries e4m3 values, the CPU's float
                    // cache holds exactly what the GPU's does, so the bounds are the bf16 ones; the store's rounding is
                    // checked exactly against the host's
                    try (CudaBackend kv = variantOptions(cg, o -> o.withFp8KvCache(true))) {
                        withTag("k", () -> {
                            run("mla_attention (fp8 cache)", kv, tol, (b, t) -> mla(b, t, true));
                            run("mla_attention + W_UV (fp8 cache)", kv, tol, (b, t) -> mlaValues(b, t, true));
                            run("mla_store_gather (fp8 cache)", kv, tol, (b, t) -> mlaStoreGather(b, t, true));
                        });
                    }
                    try (CudaBackend kv = variantOptions(cg, o -> o.withFp8KvCache(true).withFlags(o.flags().withMlaTc(false)))) {
                        withTag("kg", () -> run("mla_attention (fp8 cache, generic kernel)", kv, tol, (b, t) -> mla(b, t, true)));
                    }
                }
                // bf16: prefill and extend on mla_prefill.cuh's kernel (kiln.cuda.gqaPrefill), decode on mla_decode.cuh's (kiln.cuda.gqaTc)
                run("gqa_attention", g, tol, this::gqa);
                if (!f32 && g instanceof CudaBackend cg) {  // the generic kernel, their fallback; the decode kernel on extend batches too
                    try (CudaBackend generic = variant(cg, f -> f.withGqaPrefill(false).withGqaTc(false))) {
                        withTag("g", () -> run("gqa_attention (generic kernel)", generic, tol, this::gqa));
                        // the tensor-core kernels against the generic one on the same bf16 inputs: a sharper bound than the CPU's
                        run("gqa_attention (tensor cores vs generic kernel)", cg, 1e-2, (b, t) -> gqa(generic, b, t));
                    }
                    withVariant(cg, "t", f -> f.withGqaPrefill(false), tc -> run("gqa_attention (tensor-core decode kernel only)", tc, tol, this::gqa));
                }
                run("moe_route", g, tol, this::route);
                run("moe_fp8", g, tol, this::moeFp8);
                run("moe_bf16", g, tol, this::moeBf16);
                if (!f32 && g instanceof CudaBackend cg) {  // the per-expert cuBLASLt path, which takes batches past moe_mma's limit
                    withVariant(cg, "n", f -> f.withMoeMmaMinTokens(2), small -> {  // 2..8 tokens on moe_mma (kiln.cuda.moeMmaMinTokens)
                        run("moe_fp8 (moe_mma from 2)", small, 5e-2, (b, t) -> moe(b, t, DType.F8_E4M3, 32, 7168, 2048, r1Routing(32), new int[]{2, 5, 8}));
                        run("moe_bf16 (moe_mma from 2)", small, tol, (b, t) -> moe(b, t, DType.BF16, 8, 2048, 1408, v2Routing(8), new int[]{3, 8}));
                    });
                    // moe_staged.cuh from 9 tokens (kiln.cuda.moeStagedMinTokens): 8 experts at 600 tokens are 450 rows per
                    // expert (3 full tiles of 128 and a partial one); 40 x 6 of 8 a partial tile each; and N not a multiple of the
                    // 128-column tile (gate/up 96 or 160 of 64-column halves, down 160 or 384); fp8 weights widened with their
                    // block scales (bf16 activations, so the bf16 bound), K of 160: a partial last scale block
                    withVariant(cg, "s", f -> f.withMoeStagedMinTokens(9), staged -> {
                        run("moe_bf16 (moe_staged)", staged, tol, (b, t) -> {
                            moe(b, t, DType.BF16, 8, 2048, 1408, v2Routing(8), new int[]{9, 40, 600});
                            moe(b, t, DType.BF16, 8, 160, 96, v2Routing(8), new int[]{300});
                        });
                        run("moe_fp8 (moe_staged)", staged, tol, (b, t) -> {
                            moe(b, t, DType.F8_E4M3, 32, 7168, 2048, r1Routing(32), new int[]{9, 300});
                            moe(b, t, DType.F8_E4M3, 8, 384, 160, v2Routing(8), new int[]{300});
                        });
                    });
                    withVariant(cg, "x", f -> f.withMoeMmaMaxTokens(8), byExpert -> {  // FP8: activations quantised to FP8, as in linear_fp8
                        run("moe_fp8 (per expert)", byExpert, 5e-2, (b, t) -> moe(b, t, DType.F8_E4M3, 32, 7168, 2048, r1Routing(32), new int[]{272}));
                        run("moe_bf16 (per expert)", byExpert, tol, (b, t) -> moe(b, t, DType.BF16, 8, 2048, 1408, v2Routing(8), new int[]{600}));
                    });
                }
                run("argmax", g, tol, this::argmax);
                run("sample", g, tol, this::sample);
                run("constrain + sample", g, tol, this::constrainedSample);
                run("model_r1_mini", g, f32 ? 1e-3 : 5e-2, this::model);
                run("tp_collectives", g, 0, (b, t) -> collectives(b, f32));
                if (!f32) {
                    run("model_mha_vs_absorbed", g, 5e-2, this::modelMhaVsAbsorbed);
                    run("model_vs_sim (mha dims)", g, 5e-2, (b, t) -> modelVsSim(b, t, NO_FLIP_MHA));
                    run("model_vs_sim", g, 5e-2, this::modelVsSim);
                    run("generate_vs_sim", g, 0, this::generateVsSim);
                    run("gqa_model_vs_sim", g, 5e-2, this::gqaModelVsSim);
                    if (g instanceof CudaBackend cg) {
                        withVariant(cg, "g", f -> f.withGqaPrefill(false).withGqaTc(false), generic -> run("gqa_model_vs_sim (generic kernel)", generic,
                                5e-2, this::gqaModelVsSim));
                        // the FP8 latent cache in whole models, against the simulation with its entries rounded the same way
                        try (CudaBackend kv = variantOptions(cg, o -> o.withFp8KvCache(true).withActivationBytes(6L << 30))) {
                            withTag("k", () -> {
                                run("model_vs_sim (fp8 cache)", kv, 5e-2, this::modelVsSim);
                                run("model_vs_sim (mha dims, fp8 cache)", kv, 5e-2, (b, t) -> modelVsSim(b, t, NO_FLIP_MHA));
                                run("generate_vs_sim (fp8 cache)", kv, 0, this::generateVsSim);
                            });
                        }
                    }
                }
            }
        }
    }

    /**
     * The tensor-parallel collectives: virtual ranks (2, 3 and 4 on this GPU; the sum bit-identical to the host's
     * rank-ordered one) and NCCL with one rank (all-reduce, all-gather, broadcast leave the one rank's tensor as it
     * was). On the CPU (the dry run), the CPU's in-process ranks go through the same rows.
     */
    private void collectives(Backend g, boolean f32) {
        if (g instanceof CudaBackend cg) {
            TpRanksConfig config = TpRanksConfig.fromProperties();
            for (int n : new int[]{2, 3, 4}) {
                try (RankGroup group = cg.ranks(n, config.withKind(TpRanksConfig.Kind.VIRTUAL))) {
                    CollectiveChecks.allReduce(this, "tp_all_reduce virtual", group, !f32, 3, 2048 + 5, true);
                    CollectiveChecks.allReduce(this, "tp_all_reduce virtual", group, !f32, 130, 7168, true);
                    CollectiveChecks.allGather(this, "tp_all_gather virtual", group, 3, 1000);
                }
            }
            try (NcclRanks group = (NcclRanks) cg.ranks(1, config.withKind(TpRanksConfig.Kind.NCCL))) {
                CollectiveChecks.allReduce(this, "tp_all_reduce nccl", group, !f32, 4, 7168, true);
                CollectiveChecks.allGather(this, "tp_all_gather nccl", group, 4, 2000);
                CollectiveChecks.broadcast(this, "tp_broadcast nccl", group, 4, 7168);
            }
        } else if (g instanceof CpuBackend cpu) {
            for (int n : new int[]{2, 3, 4}) {
                try (RankGroup group = cpu.ranks(n)) {
                    CollectiveChecks.allReduce(this, "tp_all_reduce cpu", group, false, 3, 2048 + 5, true);
                    CollectiveChecks.allGather(this, "tp_all_gather cpu", group, 3, 1000);
                }
            }
        }
    }

    /** bf16 linears: decode and prefill rows, routers (few long rows), an odd row count. */
    private void linearBf16(Backend b, double t) {
        for (int m : new int[]{1, 5, 64, 200}) linear(b, t, DType.BF16, 1536, 7168, m, m == 5, false);
        // routers (few long rows: gemv2_splitk, 4 and 8 warps per row) and an odd row count at m = 1
        for (int m : new int[]{1, 3}) linear(b, t, DType.BF16, 256, 7168, m, false, false);
        linear(b, t, DType.BF16, 64, 2048, 1, true, false);
        linear(b, t, DType.BF16, 2047, 512, 1, true, false);
    }

    /** FP8 linears from 1 row to prefill sizes; 20, 200 and 600 rows are padded to 16 for cuBLASLt's FP8 GEMM. */
    private void linearFp8(Backend b, double t) {
        for (int m : new int[]{1, 8, 16, 20, 64, 200}) linear(b, t, DType.F8_E4M3, 2048, 7168, m, false, false);
        for (int m : new int[]{1, 64}) linear(b, t, DType.F8_E4M3, 7168, 2048, m, false, false);
        for (int m : new int[]{3, 100}) linear(b, t, DType.F8_E4M3, 576, 7168, m, false, true);
        for (int m : new int[]{2, 70}) linear(b, t, DType.F8_E4M3, 1000, 1000, m, true, false);
        linear(b, t, DType.F8_E4M3, 255, 7168, 1, false, false);  // split-K over whole scale blocks, a short last block
        linear(b, t, DType.F8_E4M3, 256, 128, 150, true, true);  // K of one scale block: the bf16 copy (cuBLASLt's FP8 GEMM got it wrong)
        linear(b, t, DType.F8_E4M3, 256, 512, 600, true, true);  // more rows than K: 592 straight, 8 padded to 16
    }

    /** V2-Lite q + kv_a (bf16), R1 q_a + kv_a (fp8). */
    private void linearPairs(Backend b, double t) {
        for (int m : new int[]{1, 5, 20}) linearPair(b, t, DType.BF16, 3072, 576, 2048, m);
        for (int m : new int[]{1, 8}) linearPair(b, t, DType.F8_E4M3, 1536, 576, 7168, m);
    }

    /** Fused in one launch for up to 8 rows (gemv2) or up to kiln.cuda.linearMmaMaxRows (linear_mma) in bf16. */
    private void siluGateUps(Backend b, double t) {
        for (int m : new int[]{1, 5, 8, 20}) siluGateUp(b, t, DType.F8_E4M3, 2048, 7168, m);
        for (int m : new int[]{1, 3}) siluGateUp(b, t, DType.BF16, 1408, 2048, m);
    }

    /**
     * Runs {@code checks} on a second backend on {@code g}'s device whose switches {@code flags} changes (the path a
     * switch selects, or the fallback it turns off), with {@code tagSuffix} on the precision tag.
     */
    private void withVariant(CudaBackend g, String tagSuffix, java.util.function.UnaryOperator<CudaFlags> flags,
                             java.util.function.Consumer<CudaBackend> checks) {
        try (CudaBackend variant = variant(g, flags)) {
            withTag(tagSuffix, () -> checks.accept(variant));
        }
    }

    /** A backend on g's device with some switches changed (the caller closes it). */
    private static CudaBackend variant(CudaBackend g, java.util.function.UnaryOperator<CudaFlags> flags) {
        return variantOptions(g, o -> o.withFlags(flags.apply(o.flags())));
    }

    /** A backend on g's device with some options changed (the caller closes it). */
    private static CudaBackend variantOptions(CudaBackend g, java.util.function.UnaryOperator<CudaOptions> options) {
        return new CudaBackend(g.device(), false, options.apply(g.options().withActivationBytes(2L << 30)));
    }

    /** Runs {@code checks} (on a backend built with a switch off) with {@code tagSuffix} on the precision tag. */
    private void withTag(String tagSuffix, Runnable checks) {
        String tag = precisionTag;
        precisionTag = tag + tagSuffix;
        try {
            checks.run();
        } finally {
            precisionTag = tag;
        }
    }

    private void run(String name, Backend g, double tol, Check check) {
        if (!filters.isEmpty() && filters.stream().noneMatch(name::contains)) return;
        long t0 = System.nanoTime();
        int before = results.size();
        try {
            check.run(g, tol);
        } catch (Throwable e) {
            results.add(new Result(name, precisionTag, "-", Double.NaN, Double.NaN, tol, false, "threw " + e));
            e.printStackTrace(System.out);
        }
        long failed = results.subList(before, results.size()).stream().filter(r -> !r.pass).count();
        // each check's verdict as it ends, so that a run cut short by its time cap still tells what passed
        System.out.printf("[check] %s %s done in %.1f s: %d rows, %d failed%n", name, precisionTag, (System.nanoTime() - t0) / 1e9,
                results.size() - before, failed);
        System.out.flush();
    }

    void compare(String name, String shape, float[] ref, float[] got, double tol) {
        double scale = 0, worst = 0;
        boolean nan = false;
        if (ref.length != got.length) {
            results.add(new Result(name, precisionTag, shape, Double.NaN, Double.NaN, tol, false, "length " + got.length + " != " + ref.length));
            return;
        }
        for (int i = 0; i < ref.length; i++) {
            scale = Math.max(scale, Math.abs(ref[i]));
            double e = Math.abs((double) ref[i] - got[i]);
            if (Double.isNaN(e)) nan = true;
            else worst = Math.max(worst, e);
        }
        double rel = scale == 0 ? worst : worst / scale;
        results.add(new Result(name, precisionTag, shape, worst, rel, tol, !nan && rel <= tol, nan ? "NaN in output" : ""));
    }

    void compareExact(String name, String shape, float[] ref, float[] got) {
        int diff = 0;
        double worst = 0;
        for (int i = 0; i < Math.min(ref.length, got.length); i++) {
            if (Float.floatToIntBits(ref[i]) != Float.floatToIntBits(got[i])) {
                diff++;
                worst = Math.max(worst, Math.abs(ref[i] - got[i]));
            }
        }
        boolean ok = diff == 0 && ref.length == got.length;
        results.add(new Result(name, precisionTag, shape, worst, 0, 0, ok, ok ? "bit-identical" : diff + " values differ"));
    }

    // ---- inputs ----

    private static float[] normal(Random r, int n, double std) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * std);
        return v;
    }

    /** Values that bf16 holds exactly, so both precisions route from the same router logits. */
    /** v, or v rounded to e4m3 values (in place) when {@code e4m3}: what an FP8 cache stores of them. */
    private static float[] entries(float[] v, boolean e4m3) {
        if (e4m3) for (int i = 0; i < v.length; i++) v[i] = Fp8.toFloat(Fp8.fromFloat(v[i]));
        return v;
    }

    private static float[] bf16Exact(float[] v) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) out[i] = Float.intBitsToFloat(DeviceWeights.toBf16(v[i]) << 16);
        return out;
    }

    /** A weight as a checkpoint would hold it: bf16/f32 values of std 1/sqrt(cols), or fp8 codes plus block scales. */
    private TensorData weightData(String name, DType dt, int rows, int cols, long seed) {
        long n = (long) rows * cols;
        MemorySegment m = arena.allocate(n * dt.bytes, 64);
        float std = (float) (1 / Math.sqrt(cols));
        int chunks = (int) Math.max(1, Math.min(256, n >> 16));
        IntStream.range(0, chunks).parallel().forEach(c -> {
            SplittableRandom r = new SplittableRandom(seed * 1000003L + c);
            long from = n * c / chunks, to = n * (c + 1) / chunks;
            for (long i = from; i < to; i++) {
                switch (dt) {
                    case F8_E4M3 -> {
                        int b = r.nextInt(128);
                        int e = 3 + (b & 7), mant = (b >> 3) & 7, sign = r.nextInt(2);
                        m.set(ValueLayout.JAVA_BYTE, i, (byte) (sign << 7 | e << 3 | mant));
                    }
                    case BF16 -> m.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, DeviceWeights.toBf16((float) (r.nextGaussian() * std)));
                    default -> m.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) (r.nextGaussian() * std));
                }
            }
        });
        return new TensorData(name, dt, new long[]{rows, cols}, m, "random");
    }

    private TensorData scaleData(String name, int rows, int cols, long seed) {
        int sr = (rows + 127) / 128, sc = (cols + 127) / 128;
        MemorySegment m = arena.allocate(4L * sr * sc, 64);
        Random r = new Random(seed);
        // fp8 codes have rms near 2, so this gives weights of std near 1/sqrt(cols), varying by block
        for (int i = 0; i < sr * sc; i++) m.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) ((0.5 + r.nextDouble()) / (2 * Math.sqrt(cols))));
        return new TensorData(name + "_scale_inv", DType.F32, new long[]{sr, sc}, m, "random");
    }

    private record Pair(Weight cpu, Weight gpu) {}

    private Pair weights(Backend g, String name, DType dt, int rows, int cols, long seed) {
        TensorData d = weightData(name, dt, rows, cols, seed);
        TensorData s = dt == DType.F8_E4M3 ? scaleData(name, rows, cols, seed + 1) : null;
        return new Pair(cpu.weight(d, s, 128, 128), g.weight(d, s, 128, 128));
    }

    /** One sequence of n new tokens at positions 0..n-1 in slots 0..n-1. */
    private static ForwardBatch simple(int n) {
        int[] ids = new int[n], pos = new int[n], slots = new int[n];
        for (int i = 0; i < n; i++) pos[i] = slots[i] = i;
        return new ForwardBatch(ids, pos, List.of(new ForwardBatch.Seq(0, n, 0, slots)), new int[]{n - 1});
    }

    private void begin(Backend g, ForwardBatch b) {
        cpu.begin(b);
        g.begin(b);
    }

    // ---- elementwise ----

    private void norms(Backend g, double tol) {
        Random r = new Random(1);
        int t = 33, h = 7168;
        float[] x = normal(r, t * h, 1), d = normal(r, t * h, 0.5), w = normal(r, h, 0.2);
        for (int i = 0; i < h; i++) w[i] += 1;
        begin(g, simple(t));
        Tensor cx = cpu.upload(x, t, h), gx = g.upload(x, t, h), co = cpu.tensor(t, h), go = g.tensor(t, h);
        Weight cw = cpu.vector(w), gw = g.vector(w);
        cpu.rmsNorm(cx, cw, 1e-6f, co);
        g.rmsNorm(gx, gw, 1e-6f, go);
        compare("rmsnorm", t + "x" + h, cpu.download(co), g.download(go), tol);
        Tensor cd = cpu.upload(d, t, h), gd = g.upload(d, t, h);
        cpu.addRmsNorm(cx, cd, cw, 1e-6f, co);
        g.addRmsNorm(gx, gd, gw, 1e-6f, go);
        compare("add_rmsnorm (out)", t + "x" + h, cpu.download(co), g.download(go), tol);
        compare("add_rmsnorm (residual)", t + "x" + h, cpu.download(cx), g.download(gx), tol);
        // a strided view in and out (DeepSeek normalises the first 512 columns of kv_a's 576)
        Tensor ckv = cpu.upload(normal(r, t * 576, 1), t, 576);
        Tensor gkv = g.upload(cpu.download(ckv), t, 576);
        float[] w512 = Arrays.copyOf(w, 512);
        Tensor cn = cpu.tensor(t, 512), gn = g.tensor(t, 512);
        cpu.rmsNorm(ckv.columns(0, 512), cpu.vector(w512), 1e-6f, cn);
        g.rmsNorm(gkv.columns(0, 512), g.vector(w512), 1e-6f, gn);
        compare("rmsnorm (column view)", t + "x512 of 576", cpu.download(cn), g.download(gn), tol);
    }

    private void siluMul(Backend g, double tol) {
        Random r = new Random(2);
        int t = 17, n = 2048;
        float[] a = normal(r, t * n, 2), b = normal(r, t * n, 1);
        begin(g, simple(t));
        Tensor co = cpu.tensor(t, n), go = g.tensor(t, n);
        cpu.siluMul(cpu.upload(a, t, n), cpu.upload(b, t, n), co);
        g.siluMul(g.upload(a, t, n), g.upload(b, t, n), go);
        compare("silu_mul", t + "x" + n, cpu.download(co), g.download(go), tol);
    }

    private void embed(Backend g, double tol) {
        int vocab = 4096, h = 7168, t = 9;
        Pair table = weights(g, "embed", DType.BF16, vocab, h, 3);
        Random r = new Random(3);
        int[] ids = new int[t], pos = new int[t], slots = new int[t];
        for (int i = 0; i < t; i++) {
            ids[i] = r.nextInt(vocab);
            pos[i] = slots[i] = i;
        }
        ids[t - 1] = vocab - 1;
        begin(g, new ForwardBatch(ids, pos, List.of(new ForwardBatch.Seq(0, t, 0, slots)), new int[]{t - 1}));
        Tensor co = cpu.tensor(t, h), go = g.tensor(t, h);
        cpu.embed(table.cpu, co);
        g.embed(table.gpu, go);
        compare("embed", vocab + "x" + h + " bf16, " + t + " ids", cpu.download(co), g.download(go), tol);
    }

    private void rope(Backend g, double tol) {
        Random r = new Random(4);
        int t = 37;
        int[] pos = new int[t], slots = new int[t];
        for (int i = 0; i < t; i++) {
            pos[i] = i < 3 ? i : r.nextInt(160000);
            slots[i] = i;
        }
        begin(g, new ForwardBatch(new int[t], pos, List.of(new ForwardBatch.Seq(0, t, 0, slots)), new int[]{t - 1}));
        float[] inv64 = new float[32], inv128 = new float[64];
        for (int i = 0; i < 32; i++) inv64[i] = (float) (Math.pow(10000, -2.0 * i / 64) / (i > 10 ? 40 : 1));
        for (int i = 0; i < 64; i++) inv128[i] = (float) Math.pow(500000, -2.0 * i / 128);
        // DeepSeek: interleaved pairs in the rope part of each q head (stride 192, offset 128)
        float[] q = normal(r, t * 128 * 192, 1);
        Tensor cq = cpu.upload(q, t, 128 * 192), gq = g.upload(q, t, 128 * 192);
        Rope yarn = new Rope(inv64, 1.2f, true);
        cpu.rope(cq.heads(128, 192, 128, 64), yarn);
        g.rope(gq.heads(128, 192, 128, 64), yarn);
        compare("rope interleaved (R1 q)", t + "x128 heads of 192", cpu.download(cq), g.download(gq), tol);
        float[] k = normal(r, t * 32 * 128, 1);
        Tensor ck = cpu.upload(k, t, 32 * 128), gk = g.upload(k, t, 32 * 128);
        Rope half = new Rope(inv128, 1f, false);
        cpu.rope(ck.heads(32, 128), half);
        g.rope(gk.heads(32, 128), half);
        compare("rope half (Llama)", t + "x32 heads of 128", cpu.download(ck), g.download(gk), tol);
        // MLA's pair in one call (rope2 on the GPU): 16 query heads' rope parts and the shared key rope, a column view
        float[] q2 = normal(r, t * 16 * 192, 1), kv = normal(r, t * 576, 1);
        Tensor cq2 = cpu.upload(q2, t, 16 * 192), gq2 = g.upload(q2, t, 16 * 192), ckv = cpu.upload(kv, t, 576), gkv = g.upload(kv, t, 576);
        cpu.rope(cq2.heads(16, 192, 128, 64), ckv.columns(512, 64).heads(1, 64), yarn);
        g.rope(gq2.heads(16, 192, 128, 64), gkv.columns(512, 64).heads(1, 64), yarn);
        compare("rope pair (MLA q + k)", t + "x16 heads of 192 + 1 of 64", concat(new float[][]{cpu.download(cq2), cpu.download(ckv)}, 0),
                concat(new float[][]{g.download(gq2), g.download(gkv)}, 0), tol);
        // MLA's latent norm and both ropes in one call (bf16, up to 8 rows: mla_norm_rope, one launch)
        for (int rows : new int[]{1, 5}) {
            begin(g, new ForwardBatch(new int[rows], Arrays.copyOf(pos, rows), List.of(new ForwardBatch.Seq(0, rows, 0, Arrays.copyOf(slots, rows))),
                    new int[]{rows - 1}));
            float[] q3 = normal(r, rows * 128 * 192, 1), kv3 = normal(r, rows * 576, 1), nw = normal(r, 512, 0.2);
            Tensor cq3 = cpu.upload(q3, rows, 128 * 192), gq3 = g.upload(q3, rows, 128 * 192), ckv3 = cpu.upload(kv3, rows, 576), gkv3 = g.upload(kv3, rows, 576);
            Tensor cn = cpu.tensor(rows, 512), gn = g.tensor(rows, 512);
            cpu.rmsNormAndRope(ckv3.columns(0, 512), cpu.vector(nw), 1e-6f, cn, cq3.heads(128, 192, 128, 64), ckv3.columns(512, 64).heads(1, 64), yarn);
            g.rmsNormAndRope(gkv3.columns(0, 512), g.vector(nw), 1e-6f, gn, gq3.heads(128, 192, 128, 64), gkv3.columns(512, 64).heads(1, 64), yarn);
            compare("rmsnorm + rope pair (MLA latent, q, k)", rows + "x512 + 128 heads of 192 + 1 of 64",
                    concat(new float[][]{cpu.download(cn), cpu.download(cq3), cpu.download(ckv3)}, 0),
                    concat(new float[][]{g.download(gn), g.download(gq3), g.download(gkv3)}, 0), tol);
            // the same plus W_UK of q_nope (bf16, up to 8 rows: mla_prepare, one launch), V2-Lite's 16 and R1's 128 heads
            for (int heads : new int[]{16, 128}) {
                float[] uk = normal(r, heads * 512 * 128, 0.1);
                Weight cuk = cpu.weight(uk, heads * 512, 128), guk = g.weight(uk, heads * 512, 128);
                float[] q4 = Arrays.copyOf(q3, rows * heads * 192);
                Tensor cq4 = cpu.upload(q4, rows, heads * 192), gq4 = g.upload(q4, rows, heads * 192);
                Tensor ckv4 = cpu.upload(kv3, rows, 576), gkv4 = g.upload(kv3, rows, 576);
                Tensor cn4 = cpu.tensor(rows, 512), gn4 = g.tensor(rows, 512), cl = cpu.tensor(rows, heads * 512), gl = g.tensor(rows, heads * 512);
                cpu.mlaAbsorbedInputs(new MlaInputs(ckv4.columns(0, 512), cpu.vector(nw), 1e-6f, cn4, cq4.heads(heads, 192, 128, 64),
                        ckv4.columns(512, 64).heads(1, 64), yarn, cq4.heads(heads, 192, 0, 128), cuk, cl.heads(heads, 512)));
                g.mlaAbsorbedInputs(new MlaInputs(gkv4.columns(0, 512), g.vector(nw), 1e-6f, gn4, gq4.heads(heads, 192, 128, 64),
                        gkv4.columns(512, 64).heads(1, 64), yarn, gq4.heads(heads, 192, 0, 128), guk, gl.heads(heads, 512)));
                compare("mla inputs (norm + ropes + W_UK)", rows + "x512 + " + heads + " heads of 192 -> " + heads + "x512",
                        concat(new float[][]{cpu.download(cn4), cpu.download(cq4), cpu.download(ckv4), cpu.download(cl)}, 0),
                        concat(new float[][]{g.download(gn4), g.download(gq4), g.download(gkv4), g.download(gl)}, 0), tol);
            }
        }
    }

    /** Two projections of one input (MLA's q / q_a and kv_a: gemv2_pair for up to 8 rows in bf16). */
    private void linearPair(Backend g, double tol, DType dt, int na, int nb, int k, int m) {
        long seed = 43L * na + nb + k + dt.ordinal();
        Pair a = weights(g, "a", dt, na, k, seed), b = weights(g, "b", dt, nb, k, seed + 1);
        float[] x = normal(new Random(seed + m), m * k, 1);
        begin(g, simple(m));
        Tensor ca = cpu.tensor(m, na), cb = cpu.tensor(m, nb), ga = g.tensor(m, na), gb = g.tensor(m, nb);
        cpu.linearPair(cpu.upload(x, m, k), a.cpu, ca, b.cpu, cb);
        g.linearPair(g.upload(x, m, k), a.gpu, ga, b.gpu, gb);
        compare("linear pair " + dt, m + "x" + k + " -> " + na + " + " + nb, concat(new float[][]{cpu.download(ca), cpu.download(cb)}, 0),
                concat(new float[][]{g.download(ga), g.download(gb)}, 0), tol);
    }

    // ---- linear layers ----

    private void linear(Backend g, double tol, DType dt, int n, int k, int m, boolean bias, boolean strided) {
        long seed = 31L * n + k + dt.ordinal();
        Pair w = weights(g, "w", dt, n, k, seed);
        Random r = new Random(seed + m);
        int width = strided ? k + 40 : k;
        float[] x = normal(r, m * width, 1);
        begin(g, simple(m));
        Tensor cx = cpu.upload(x, m, width), gx = g.upload(x, m, width);
        if (strided) {
            cx = cx.columns(24, k);
            gx = gx.columns(24, k);
        }
        Weight cb = null, gb = null;
        if (bias) {
            float[] b = normal(r, n, 0.5);
            cb = cpu.vector(b);
            gb = g.vector(b);
        }
        Tensor co = cpu.tensor(m, n), go = g.tensor(m, n);
        cpu.linear(cx, w.cpu, cb, co);
        g.linear(gx, w.gpu, gb, go);
        compare("linear " + dt, m + "x" + k + " -> " + n + (bias ? " +bias" : "") + (strided ? " strided" : ""), cpu.download(co), g.download(go), tol);
    }

    private void siluGateUp(Backend g, double tol, DType dt, int n, int k, int m) {
        long seed = 17L * n + k + dt.ordinal();
        Pair gate = weights(g, "gate", dt, n, k, seed), up = weights(g, "up", dt, n, k, seed + 5);
        float[] x = normal(new Random(seed + m), m * k, 1);
        begin(g, simple(m));
        Tensor co = cpu.tensor(m, n), go = g.tensor(m, n);
        cpu.siluGateUp(cpu.upload(x, m, k), gate.cpu, up.cpu, co);
        g.siluGateUp(g.upload(x, m, k), gate.gpu, up.gpu, go);
        compare("silu_gate_up " + dt, m + "x" + k + " -> " + n, cpu.download(co), g.download(go), tol);
    }

    private void headLinear(Backend g, double tol) {
        Random r = new Random(5);
        int heads = 128, nope = 128, latent = 512, vDim = 128;
        float[] absorbK = normal(r, heads * latent * nope, 1 / Math.sqrt(nope));
        float[] absorbV = normal(r, heads * vDim * latent, 1 / Math.sqrt(latent));
        Weight ck = cpu.weight(absorbK, heads * latent, nope), gk = g.weight(absorbK, heads * latent, nope);
        Weight cv = cpu.weight(absorbV, heads * vDim, latent), gv = g.weight(absorbV, heads * vDim, latent);
        for (int t : new int[]{1, 3, 40}) {  // bf16: 1 and 3 rows on gemv2 (all heads in one launch), 40 on cuBLASLt
            begin(g, simple(t));
            float[] q = normal(r, t * heads * 192, 1);
            Tensor cq = cpu.upload(q, t, heads * 192), gq = g.upload(q, t, heads * 192);
            Tensor co = cpu.tensor(t, heads * latent), go = g.tensor(t, heads * latent);
            cpu.headLinear(cq.heads(heads, 192, 0, nope), ck, co.heads(heads, latent));
            g.headLinear(gq.heads(heads, 192, 0, nope), gk, go.heads(heads, latent));
            compare("head_linear W_UK (absorb q)", t + "x128x128 -> 512", cpu.download(co), g.download(go), tol);
            float[] a = normal(r, t * heads * latent, 1);
            Tensor ca = cpu.upload(a, t, heads * latent), ga = g.upload(a, t, heads * latent);
            Tensor cvo = cpu.tensor(t, heads * vDim), gvo = g.tensor(t, heads * vDim);
            cpu.headLinear(ca.heads(heads, latent), cv, cvo.heads(heads, vDim));
            g.headLinear(ga.heads(heads, latent), gv, gvo.heads(heads, vDim));
            compare("head_linear W_UV (values)", t + "x128x512 -> 128", cpu.download(cvo), g.download(gvo), tol);
        }
    }

    // ---- attention ----

    /** Distinct pool slots for sequences of the given lengths, shuffled so the paging is exercised. */
    private static int[][] slotLists(int[] lengths, int pool, Random r) {
        int[] all = IntStream.range(0, pool).toArray();
        for (int i = pool - 1; i > 0; i--) {
            int j = r.nextInt(i + 1), tmp = all[i];
            all[i] = all[j];
            all[j] = tmp;
        }
        int[][] out = new int[lengths.length][];
        int at = 0;
        for (int s = 0; s < lengths.length; s++) {
            out[s] = Arrays.copyOfRange(all, at, at + lengths[s]);
            at += lengths[s];
        }
        return out;
    }

    /** A batch where sequence s adds tokens [cached[s], cached[s] + fresh[s]) of its slot list. */
    private static ForwardBatch batch(int[][] slots, int[] cached, int[] fresh) {
        int n = Arrays.stream(fresh).sum();
        int[] ids = new int[n], pos = new int[n], rows = new int[slots.length];
        List<ForwardBatch.Seq> seqs = new ArrayList<>();
        int at = 0;
        for (int s = 0; s < slots.length; s++) {
            for (int i = 0; i < fresh[s]; i++) pos[at + i] = cached[s] + i;
            seqs.add(new ForwardBatch.Seq(at, fresh[s], cached[s], slots[s]));
            at += fresh[s];
            rows[s] = at - 1;
        }
        return new ForwardBatch(ids, pos, seqs, rows);
    }

    private interface AttentionStep {
        /** Runs one attention step on backend b for the current batch; returns the output. */
        float[] run(Backend b, KvCache cache, int tokens, int heads, long seed);
    }

    private void attentionChecks(Backend g, double tol, String name, KvLayout layout, int decodeHeads, int fillHeads, AttentionStep step) {
        attentionChecks(cpu, g, tol, name, layout, decodeHeads, fillHeads, step);
    }

    /** The attention checks with {@code ref} (the CPU, or another GPU kernel) computing the reference. */
    private void attentionChecks(Backend ref, Backend g, double tol, String name, KvLayout layout, int decodeHeads, int fillHeads,
                                 AttentionStep step) {
        Random r = new Random(6);
        int[] lengths = {17, 300, 1100, 2500, 264};
        int[][] slots = slotLists(lengths, 8192, r);
        try (KvCache cc = ref.kvCache(layout, 8192); KvCache gc = g.kvCache(layout, 8192)) {
            // fill: sequences 0-3 all but their last token, sequence 4 its first 200 (few heads: cheap on the CPU)
            int[] zero = new int[5], fill = {16, 299, 1099, 2499, 200};
            ForwardBatch b = batch(slots, zero, fill);
            ref.begin(b);
            g.begin(b);
            int n = b.numTokens();
            compare(name + " prefill", n + " tokens, " + fillHeads + " heads", step.run(ref, cc, n, fillHeads, 11), step.run(g, gc, n, fillHeads, 11), tol);
            // decode: the last token of sequences 0-3 over 17..2500 keys (split over the KV length on the GPU)
            int[][] dec = Arrays.copyOf(slots, 4);
            b = batch(dec, new int[]{16, 299, 1099, 2499}, new int[]{1, 1, 1, 1});
            ref.begin(b);
            g.begin(b);
            compare(name + " decode", "4 seqs of 17..2500 keys, " + decodeHeads + " heads", step.run(ref, cc, 4, decodeHeads, 12),
                    step.run(g, gc, 4, decodeHeads, 12), tol);
            // extend: 64 new tokens of sequence 4 after its 200 cached ones (chunked prefill)
            b = batch(new int[][]{slots[4]}, new int[]{200}, new int[]{64});
            ref.begin(b);
            g.begin(b);
            compare(name + " extend after prefix", "64 new after 200 cached, 16 heads", step.run(ref, cc, 64, 16, 13), step.run(g, gc, 64, 16, 13), tol);
        }
    }

    private void mla(Backend g, double tol) {
        mla(g, tol, false);
    }

    /** {@code e4m3}: the cache entries e4m3 values (an FP8 cache then holds them exactly). */
    private void mla(Backend g, double tol, boolean e4m3) {
        int latent = 512, rope = 64;
        float scale = (float) (1 / Math.sqrt(192) * 1.37);
        attentionChecks(g, tol, "mla", new KvLayout.Mla(1, latent, rope), 128, 1, (b, cache, tokens, heads, seed) -> {
            Random r = new Random(seed);
            float[] ql = normal(r, tokens * heads * latent, 1), q = normal(r, tokens * heads * 192, 1);
            float[] lat = entries(normal(r, tokens * latent, 1), e4m3), kr = entries(normal(r, tokens * rope, 1), e4m3);
            Tensor tql = b.upload(ql, tokens, heads * latent), tq = b.upload(q, tokens, heads * 192);
            Tensor tl = b.upload(lat, tokens, latent), tkr = b.upload(kr, tokens, rope);
            Tensor out = b.tensor(tokens, heads * latent);
            b.mlaAttention(new MlaQuery(cache, 0, tql.heads(heads, latent), tq.heads(heads, 192, 128, rope), tl, tkr, scale), out.heads(heads, latent));
            return b.download(out);
        });
    }

    /**
     * One decode token at a time (the batch-1 path: on the GPU the decode kernel stores the step's entry itself and
     * W_UV merges the KV splits), two steps per sequence so that the second reads the entry the first stored; V2-Lite's
     * 16 heads, contexts of one split (17 keys) to 1,100.
     */
    private void mlaValues(Backend g, double tol) {
        mlaValues(g, tol, false);
    }

    private void mlaValues(Backend g, double tol, boolean e4m3) {
        int latent = 512, rope = 64, heads = 16, vDim = 128;
        float scale = (float) (1 / Math.sqrt(192));
        Random r = new Random(21);
        int[] fill = {16, 299, 1099};
        int[][] slots = slotLists(new int[]{18, 301, 1101}, 8192, r);
        float[] wuvValues = normal(r, heads * vDim * latent, 0.05);  // made at load time from kv_b_proj, as Deepseek does
        Pair wuv = new Pair(cpu.weight(wuvValues, heads * vDim, latent), g.weight(wuvValues, heads * vDim, latent));
        KvLayout layout = new KvLayout.Mla(1, latent, rope);
        try (KvCache cc = cpu.kvCache(layout, 8192); KvCache gc = g.kvCache(layout, 8192)) {
            begin(g, batch(slots, new int[3], fill));
            int n = Arrays.stream(fill).sum();
            float[] lat = entries(normal(r, n * latent, 1), e4m3), kr = entries(normal(r, n * rope, 1), e4m3), ql = normal(r, n * latent, 1),
                    q = normal(r, n * 192, 1);
            for (Backend b : new Backend[]{cpu, g}) {  // the prefixes, one head (cheap on the CPU)
                KvCache cache = b == cpu ? cc : gc;
                b.mlaAttention(new MlaQuery(cache, 0, b.upload(ql, n, latent).heads(1, latent), b.upload(q, n, 192).heads(1, 192, 128, rope),
                        b.upload(lat, n, latent), b.upload(kr, n, rope), scale), b.tensor(n, latent).heads(1, latent));
            }
            for (int s = 0; s < slots.length; s++) {
                for (int step = 0; step < 2; step++) {
                    begin(g, batch(new int[][]{slots[s]}, new int[]{fill[s] + step}, new int[]{1}));
                    float[] l1 = entries(normal(r, latent, 1), e4m3), k1 = entries(normal(r, rope, 1), e4m3), ql1 = normal(r, heads * latent, 1),
                            q1 = normal(r, heads * 192, 1);
                    float[][] got = new float[2][];
                    for (Backend b : new Backend[]{cpu, g}) {
                        Tensor values = b.tensor(1, heads * vDim);
                        b.mlaAttentionValues(new MlaQuery(b == cpu ? cc : gc, 0, b.upload(ql1, 1, heads * latent).heads(heads, latent),
                                b.upload(q1, 1, heads * 192).heads(heads, 192, 128, rope), b.upload(l1, 1, latent), b.upload(k1, 1, rope), scale),
                                b.tensor(1, heads * latent).heads(heads, latent), b == cpu ? wuv.cpu : wuv.gpu, values.heads(heads, vDim));
                        got[b == cpu ? 0 : 1] = b.download(values);
                    }
                    compare("mla decode + W_UV" + (step == 1 ? " (after a decode store)" : ""), "1 token, " + (fill[s] + step + 1) + " keys, 16 heads",
                            got[0], got[1], tol);
                }
            }
        }
    }

    /**
     * Grouped-query attention at the distills' groups: 8 kv heads of 128 (Llama-8B, group 4 in decode), 2 (Qwen-1.5B,
     * group 6), 4 of 64 (group 7) and one kv head for 32 query heads (two CTAs of 16 per kv head on the tensor cores).
     */
    private void gqa(Backend g, double tol) {
        gqa(cpu, g, tol);
    }

    /** Four group shapes, against {@code ref}: the CPU, or the generic GPU kernel (the same bf16 inputs: a sharper bound). */
    private void gqa(Backend ref, Backend g, double tol) {
        gqa(ref, g, tol, 8, 128, 32, 8);
        gqa(ref, g, tol, 2, 128, 12, 2);
        gqa(ref, g, tol, 4, 64, 28, 4);
        gqa(ref, g, tol, 1, 128, 32, 1);
    }

    private void gqa(Backend ref, Backend g, double tol, int kvHeads, int dim, int decodeHeads, int fillHeads) {
        float scale = (float) (1 / Math.sqrt(dim));
        String name = "gqa " + decodeHeads + "/" + kvHeads + "x" + dim + (ref == cpu ? "" : " vs generic");
        attentionChecks(ref, g, tol, name, new KvLayout.Gqa(1, kvHeads, dim), decodeHeads, fillHeads, (b, cache, tokens, heads, seed) -> {
            Random r = new Random(seed);
            float[] q = normal(r, tokens * heads * dim, 1), k = normal(r, tokens * kvHeads * dim, 1), v = normal(r, tokens * kvHeads * dim, 1);
            Tensor tq = b.upload(q, tokens, heads * dim), tk = b.upload(k, tokens, kvHeads * dim), tv = b.upload(v, tokens, kvHeads * dim);
            Tensor out = b.tensor(tokens, heads * dim);
            b.attention(cache, 0, tq.heads(heads, dim), tk.heads(kvHeads, dim), tv.heads(kvHeads, dim), scale, out.heads(heads, dim));
            return b.download(out);
        });
    }

    /** Sequences of an MHA prefill check: cached prefix and new tokens each, chunks not multiples of 64. */
    private static final int[][] V2_SEQS = {{0, 2048}, {100, 37}, {1000, 300}, {0, 1}, {1000, 1}, {100, 65}},
            R1_SEQS = {{0, 300}, {1000, 37}, {100, 1}, {0, 130}};

    /** Slots for sequences of (prefix, chunk) and the extend batch that adds each chunk after its prefix. */
    private static ForwardBatch extendBatch(int[][] seqs, Random r) {
        int[] lengths = new int[seqs.length], cached = new int[seqs.length], fresh = new int[seqs.length];
        for (int i = 0; i < seqs.length; i++) {
            cached[i] = seqs[i][0];
            fresh[i] = seqs[i][1];
            lengths[i] = cached[i] + fresh[i];
        }
        return batch(slotLists(lengths, 8192, r), cached, fresh);
    }

    /** The store + context gather of the MHA prefill: prefixes stored by a first batch, then chunks after them. */
    private void mlaStoreGather(Backend g, double tol) {
        mlaStoreGather(g, tol, false);
    }

    /** {@code fp8}: g's cache is FP8, so the CPU's reference gets the entries rounded as the GPU's store rounds them. */
    private void mlaStoreGather(Backend g, double tol, boolean fp8) {
        int latent = 512, rope = 64;
        Random r = new Random(21);
        ForwardBatch ext = extendBatch(V2_SEQS, r);
        List<ForwardBatch.Seq> pre = new ArrayList<>();
        int at = 0;
        for (ForwardBatch.Seq s : ext.seqs()) {
            if (s.cachedTokens() == 0) continue;
            pre.add(new ForwardBatch.Seq(at, s.cachedTokens(), 0, s.slots()));
            at += s.cachedTokens();
        }
        ForwardBatch first = new ForwardBatch(new int[at], new int[at], pre, new int[]{at - 1});
        try (KvCache cc = cpu.kvCache(new KvLayout.Mla(1, latent, rope), 8192); KvCache gc = g.kvCache(new KvLayout.Mla(1, latent, rope), 8192)) {
            for (ForwardBatch b : List.of(first, ext)) {
                begin(g, b);
                int n = b.numTokens(), rows = b.contextTokens();
                float[] lat = bf16Exact(normal(r, n * latent, 1)), kr = bf16Exact(normal(r, n * rope, 1));
                Tensor co = cpu.tensor(rows, latent + rope), go = g.tensor(rows, latent + rope);
                cpu.mlaStoreGather(cc, 0, cpu.upload(entries(lat.clone(), fp8), n, latent), cpu.upload(entries(kr.clone(), fp8), n, rope), co);
                g.mlaStoreGather(gc, 0, g.upload(lat, n, latent), g.upload(kr, n, rope), go);
                compareExact("mla_store_gather " + (b == first ? "prefixes" : "chunks after them"), n + " new, " + rows + " context rows",
                        cpu.download(co), g.download(go));
            }
        }
    }

    /** MHA-form MLA prefill attention at V2-Lite's 16 heads and R1's 128, several sequences with cached prefixes. */
    private void mlaPrefillMha(Backend g, double tol) {
        int nope = 128, rope = 64, vd = 128;
        float scale = (float) (1 / Math.sqrt(192) * 1.37);
        Random r = new Random(22);
        for (int[][] seqs : new int[][][]{V2_SEQS, R1_SEQS}) {
            int heads = seqs == V2_SEQS ? 16 : 128;
            ForwardBatch b = extendBatch(seqs, r);
            begin(g, b);
            int n = b.numTokens(), rows = b.contextTokens();
            float[] q = bf16Exact(normal(r, n * heads * 192, 1)), kn = bf16Exact(normal(r, rows * heads * nope, 1));
            float[] kr = bf16Exact(normal(r, rows * (512 + rope), 1)), v = bf16Exact(normal(r, rows * heads * vd, 1));
            float[][] outs = new float[2][];
            int i = 0;
            for (Backend x : List.of(cpu, g)) {
                Tensor tq = x.upload(q, n, heads * 192), tk = x.upload(kn, rows, heads * nope), tr = x.upload(kr, rows, 512 + rope);
                Tensor tv = x.upload(v, rows, heads * vd), out = x.tensor(n, heads * vd);
                // rope keys as a column view of a gathered [c_kv | k_rope] context, as the model passes them
                x.mlaPrefillAttention(tq.heads(heads, 192, 0, nope), tq.heads(heads, 192, nope, rope), tk.heads(heads, nope), tr.columns(512, rope),
                        tv.heads(heads, vd), scale, out.heads(heads, vd));
                outs[i++] = x.download(out);
            }
            StringBuilder shape = new StringBuilder(heads + "h");
            for (int[] s : seqs) shape.append(' ').append(s[0]).append('+').append(s[1]);
            compare("mla_prefill_mha " + heads + "h", shape.toString(), outs[0], outs[1], tol);
        }
    }

    // ---- MoE ----

    private void route(Backend g, double tol) {
        Random r = new Random(7);
        // 64 tokens: moe_route; 5 (bf16): the decode kernel moe_route_align
        for (int t : new int[]{64, 5})
        for (MoeRouting routing : new MoeRouting[]{
                new MoeRouting(MoeRouting.Scoring.SIGMOID, MoeRouting.Method.GROUP_LIMITED, 256, 8, 8, 4, true, 2.5f),
                new MoeRouting(MoeRouting.Scoring.SOFTMAX, MoeRouting.Method.GREEDY, 64, 6, 1, 1, false, 1f)}) {
            int e = routing.experts();
            float[] logits = bf16Exact(normal(r, t * e, 2));
            float[] bias = routing.scoring() == MoeRouting.Scoring.SIGMOID ? normal(r, e, 0.05) : null;
            begin(g, simple(t));
            int[] ci = cpu.route(cpu.upload(logits, t, e), bias == null ? null : cpu.vector(bias), routing).expertIds();
            int[] gi = g.route(g.upload(logits, t, e), bias == null ? null : g.vector(bias), routing).expertIds();
            int diff = 0;
            for (int i = 0; i < ci.length; i++) if (ci[i] != gi[i]) diff++;
            // the logits are exact in bf16; float sigmoid/softmax may still reorder a near tie now and then
            int allowed = ci.length / 100;
            results.add(new Result("moe_route " + routing.scoring().name().toLowerCase(), precisionTag, t + " tokens, " + e + " experts top "
                    + routing.topK(), diff, (double) diff / ci.length, allowed, diff <= allowed, diff + " of " + ci.length + " ids differ"));
            if (t <= 8) routerAndRoute(g, tol, routing, t, r);
        }
    }

    /**
     * The router's GEMV and the routing in one call (bf16, up to 8 tokens: moe_router_route, one launch): the logits
     * against the CPU's, and the choices against the CPU's routing of the GPU's own logits.
     */
    private void routerAndRoute(Backend g, double tol, MoeRouting routing, int t, Random r) {
        int e = routing.experts(), hidden = e == 256 ? 7168 : 2048;
        Pair w = weights(g, "router", DType.BF16, e, hidden, 17L * e + t);
        float[] x = normal(r, t * hidden, 1), bias = routing.scoring() == MoeRouting.Scoring.SIGMOID ? normal(r, e, 0.05) : null;
        begin(g, simple(t));
        Tensor cl = cpu.tensor(t, e), gl = g.tensor(t, e);
        cpu.linear(cpu.upload(x, t, hidden), w.cpu, cl);
        int[] gi = g.route(g.upload(x, t, hidden), w.gpu, gl, bias == null ? null : g.vector(bias), routing).expertIds();
        float[] gpuLogits = g.download(gl);
        String shape = t + " tokens, " + e + "x" + hidden + " top " + routing.topK();
        compare("router + route: logits", shape, cpu.download(cl), gpuLogits, tol);
        int[] ci = cpu.route(cpu.upload(gpuLogits, t, e), bias == null ? null : cpu.vector(bias), routing).expertIds();
        int diff = 0;
        for (int i = 0; i < ci.length; i++) if (ci[i] != gi[i]) diff++;
        // float sigmoid/softmax may reorder one near tie, as in moe_route's check; a wrong kernel moves many
        results.add(new Result("router + route: ids", precisionTag, shape, diff, (double) diff / ci.length, 1, diff <= 1,
                diff + " of " + ci.length + " ids differ from the CPU's routing of the same logits"));
    }

    private void moe(Backend g, double tol, DType dt, int experts, int hidden, int inter, MoeRouting routing, int[] tokenCounts) {
        List<Weight> cg = new ArrayList<>(), cu = new ArrayList<>(), cd = new ArrayList<>(), gg = new ArrayList<>(), gu = new ArrayList<>(), gd = new ArrayList<>();
        for (int i = 0; i < experts; i++) {
            Pair a = weights(g, "gate" + i, dt, inter, hidden, 100 + 3L * i), b = weights(g, "up" + i, dt, inter, hidden, 101 + 3L * i),
                    c = weights(g, "down" + i, dt, hidden, inter, 102 + 3L * i);
            cg.add(a.cpu);
            gg.add(a.gpu);
            cu.add(b.cpu);
            gu.add(b.gpu);
            cd.add(c.cpu);
            gd.add(c.gpu);
        }
        Backend.Experts ce = cpu.experts(cg, cu, cd), ge = g.experts(gg, gu, gd);
        Random r = new Random(8);
        for (int t : tokenCounts) {
            float[] x = normal(r, t * hidden, 1), logits = bf16Exact(normal(r, t * experts, 2));
            float[] bias = routing.scoring() == MoeRouting.Scoring.SIGMOID ? normal(r, experts, 0.05) : null;
            begin(g, simple(t));
            Tensor cx = cpu.upload(x, t, hidden), gx = g.upload(x, t, hidden), co = cpu.tensor(t, hidden), go = g.tensor(t, hidden);
            Backend.Routing cr = cpu.route(cpu.upload(logits, t, experts), bias == null ? null : cpu.vector(bias), routing);
            Backend.Routing gr = g.route(g.upload(logits, t, experts), bias == null ? null : g.vector(bias), routing);
            cpu.moe(cx, cr, ce, co);
            g.moe(gx, gr, ge, go);
            boolean sameIds = Arrays.equals(cr.expertIds(), gr.expertIds());
            String shape = t + " tok, " + experts + "x" + hidden + "x" + inter + " top" + routing.topK();
            if (sameIds) {
                compare("moe " + dt, shape, cpu.download(co), g.download(go), tol);
                if (t == 1) {  // decode's fused down + combine, with the shared experts' output added
                    float[] plus = normal(r, hidden, 1);
                    cpu.moe(cx, cr, ce, cpu.upload(plus, 1, hidden), co);
                    g.moe(gx, gr, ge, g.upload(plus, 1, hidden), go);
                    compare("moe " + dt + " + shared", shape, cpu.download(co), g.download(go), tol);
                }
            } else {  // a different expert choice makes the outputs incomparable: report it as such
                results.add(new Result("moe " + dt, precisionTag, shape, Double.NaN, Double.NaN, tol, false, "routing differs from the CPU's"));
            }
        }
    }

    private static MoeRouting r1Routing(int experts) {
        return new MoeRouting(MoeRouting.Scoring.SIGMOID, MoeRouting.Method.GROUP_LIMITED, experts, 8, 8, 4, true, 2.5f);
    }

    private static MoeRouting v2Routing(int experts) {
        return new MoeRouting(MoeRouting.Scoring.SOFTMAX, MoeRouting.Method.GREEDY, experts, 6, 1, 1, false, 1f);
    }

    private void moeFp8(Backend g, double tol) {
        // bf16: 1 and 5 on the grouped GEMV (gemv2), 16, 128 and 272 on moe_mma
        moe(g, tol, DType.F8_E4M3, 32, 7168, 2048, r1Routing(32), new int[]{1, 5, 16, 128, 272});
    }

    private void moeBf16(Backend g, double tol) {
        // bf16: 1 token on gemv2 _m1, 32 and 200 on moe_mma (200 x 6 of 8 experts: 150 rows per expert, 3 tiles of
        // up to 64 rows each, all four m-tiles live) and 600
        moe(g, tol, DType.BF16, 8, 2048, 1408, v2Routing(8), new int[]{1, 32, 200, 600});
    }

    private void argmax(Backend g, double tol) {
        Random r = new Random(9);
        int rows = 5, vocab = 129280;
        float[] v = normal(r, rows * vocab, 3);
        begin(g, simple(rows));
        int[] c = cpu.argmax(cpu.upload(v, rows, vocab)), gi = g.argmax(g.upload(v, rows, vocab));
        int diff = 0;
        for (int i = 0; i < rows; i++) if (c[i] != gi[i]) diff++;
        int allowed = !precisionTag.startsWith("bf16") ? 0 : rows;  // bf16 rounding can tie the top two
        results.add(new Result("argmax", precisionTag, rows + "x" + vocab, diff, diff, allowed, diff <= allowed, diff + " rows differ"));
    }

    private void sample(Backend g, double tol) {
        Random r = new Random(12);
        int rows = 64, vocab = 129280;
        float[] v = normal(r, rows * vocab, 3);
        float[] temp = new float[rows], topP = new float[rows], u = new float[rows];
        int[] topK = new int[rows];
        for (int i = 0; i < rows; i++) {
            temp[i] = i % 8 == 0 ? 0f : 0.5f + r.nextFloat();
            topK[i] = i % 3 == 0 ? 0 : 1 + r.nextInt(100);
            topP[i] = i % 4 == 0 ? 1f : 0.5f + 0.5f * r.nextFloat();
            u[i] = r.nextFloat();
        }
        begin(g, simple(rows));
        int[] c = cpu.sample(cpu.upload(v, rows, vocab), temp, topK, topP, u), gi = g.sample(g.upload(v, rows, vocab), temp, topK, topP, u);
        int diff = 0;
        for (int i = 0; i < rows; i++) if (c[i] != gi[i]) diff++;
        // float sums in another order can move a cut or the inverse-CDF point across a token now and then
        int allowed = precisionTag.startsWith("bf16") ? rows / 4 : 2;
        results.add(new Result("sample (temperature, top-k, top-p)", precisionTag, rows + "x" + vocab, diff, (double) diff / rows, allowed,
                diff <= allowed, diff + " rows differ"));
    }

    /**
     * Structured output's masks and logit_bias applied on the device (LogitConstraints): the masked positions must be
     * -inf exactly where the CPU has them, the biased values within rounding, and sampling the constrained rows must
     * pick only allowed tokens (and mostly the CPU's).
     */
    private void constrainedSample(Backend g, double tol) {
        Random r = new Random(21);
        int rows = 16, vocab = 129280, words = (vocab + 63) / 64;
        float[] v = normal(r, rows * vocab, 3);
        int[] maskRows = {0, 3, 4, 9, 15};
        long[] masks = new long[maskRows.length * words];
        for (int i = 0; i < maskRows.length; i++) {
            // a few allowed tokens, half the vocabulary, or a band: what JSON punctuation, free strings and enums give
            for (int c = 0; c < vocab; c++) {
                boolean allowed = switch (i % 3) {
                    case 0 -> r.nextInt(20000) == 0;
                    case 1 -> r.nextBoolean();
                    default -> c >= 1000 && c < 1300;
                };
                if (allowed) masks[i * words + (c >>> 6)] |= 1L << (c & 63);
            }
            masks[i * words] |= 1L << (5 + i);  // never empty
        }
        int[] biasRows = {0, 1, 1, 3, 7, 15}, biasIds = {5, 17, 129279, 8, 0, 20};
        float[] biasValues = {100f, -100f, 42.5f, 30f, -7f, 100f};
        LogitConstraints c = new LogitConstraints(maskRows, masks, words, biasRows, biasIds, biasValues);
        begin(g, simple(rows));
        float[] want = cpu.download(cpu.constrain(cpu.upload(v, rows, vocab), c));
        Tensor gl = g.constrain(g.upload(v, rows, vocab), c);
        float[] got = g.download(gl);
        double maxAbs = 0;
        int infWrong = 0;
        for (int i = 0; i < want.length; i++) {
            boolean wi = want[i] == Float.NEGATIVE_INFINITY, gi = got[i] == Float.NEGATIVE_INFINITY;
            if (wi != gi) infWrong++;
            else if (!wi) maxAbs = Math.max(maxAbs, Math.abs(want[i] - got[i]));
        }
        double allowedAbs = precisionTag.startsWith("bf16") ? 0.5 : 1e-5;  // bf16 holds 100 + x to about 0.5
        results.add(new Result("constrain (masks + logit_bias)", precisionTag, rows + "x" + vocab, maxAbs, maxAbs, allowedAbs,
                infWrong == 0 && maxAbs <= allowedAbs, infWrong + " masked positions differ"));
        float[] temp = new float[rows], topP = new float[rows], u = new float[rows];
        int[] topK = new int[rows];
        for (int i = 0; i < rows; i++) {
            temp[i] = i % 4 == 0 ? 0f : 0.7f + r.nextFloat();
            topK[i] = i % 3 == 0 ? 0 : 1 + r.nextInt(50);
            topP[i] = i % 2 == 0 ? 1f : 0.6f + 0.4f * r.nextFloat();
            u[i] = r.nextFloat();
        }
        int[] cs = cpu.sample(cpu.upload(want, rows, vocab), temp, topK, topP, u), gs = g.sample(gl, temp, topK, topP, u);
        int diff = 0, banned = 0;
        for (int i = 0; i < rows; i++) {
            if (cs[i] != gs[i]) diff++;
            if (want[i * vocab + gs[i]] == Float.NEGATIVE_INFINITY) banned++;
        }
        int allowed = precisionTag.startsWith("bf16") ? rows / 4 : 2;
        results.add(new Result("sample of constrained rows", precisionTag, rows + "x" + vocab, diff, (double) diff / rows, allowed,
                banned == 0 && diff <= allowed, diff + " rows differ, " + banned + " masked tokens sampled"));
    }

    // ---- a whole model ----

    /**
     * r1-arch-mini with every routed expert chosen (8 of 8, one group), so bf16 rounding cannot flip an expert
     * choice: with 6 of 64 sigmoid-scored random experts, near-tied scores flip in bf16 and make any bf16-vs-float32
     * comparison of the whole model meaningless (seen on a GPU: rel. err 1.06 from correct kernels).
     */
    static final String NO_FLIP = "{\"num_hidden_layers\": 4, \"n_routed_experts\": 8, \"num_experts_per_tok\": 8, \"n_group\": 1, \"topk_group\": 1}";

    /** NO_FLIP with the head widths of V2/V3 (nope 128, rope 64, v 128): the shape the GPU's MHA prefill takes. */
    static final String NO_FLIP_MHA = "{\"num_hidden_layers\": 4, \"n_routed_experts\": 8, \"num_experts_per_tok\": 8, \"n_group\": 1, \"topk_group\": 1, "
            + "\"qk_nope_head_dim\": 128, \"qk_rope_head_dim\": 64, \"v_head_dim\": 128}";

    /**
     * The GPU's MHA-form prefill against its absorbed form (both bf16: two backends on the device, kiln.cuda.mhaPrefill
     * on and off, the same dummy weights): a 150-token prompt whole and as chunks of 100 + 50 (the second over a
     * cached prefix), every row's logits. Both backends keep FP8 weights off cuBLASLt's FP8 GEMM: its dynamic fp8
     * activations re-round whole 128-column blocks wherever the two forms differ by bf16 noise, which would blur the
     * comparison of the attention forms this is about (the model_vs_sim rows check that GEMM).
     */
    private void modelMhaVsAbsorbed(Backend g, double tol) {
        if (!(g instanceof CudaBackend cg)) return;
        Path config = Path.of("configs", "r1-arch-mini.json");
        ModelConfig c = ModelConfig.load(config, NO_FLIP_MHA);
        int[] prompt = prompt(150);
        CudaOptions o = cg.options().withActivationBytes(2L << 30).withFp8Lt(false);
        float[][] got = new float[2][], ref = new float[2][];
        for (boolean mha : new boolean[]{true, false}) {
            try (CudaBackend b = new CudaBackend(cg.device(), false, o.withFlags(o.flags().withMhaPrefill(mha)));
                 Model m = Models.load(c, config, Models.LoadFormat.DUMMY, b)) {
                if (mha && !b.mlaPrefillMha(c.numHeads(), c.qkNopeHeadDim(), c.qkRopeHeadDim(), c.vHeadDim())) {
                    results.add(new Result("model prefill mha vs absorbed", precisionTag, "-", Double.NaN, Double.NaN, tol, false, "backend declines MHA prefill"));
                    return;
                }
                float[][] into = mha ? got : ref;
                try (var gen = new SimpleGenerator(m, 512)) {
                    into[0] = gen.step(List.of(gen.start(prompt)), 0, true);
                }
                try (var gen = new SimpleGenerator(m, 512)) {
                    var s = gen.start(prompt);
                    float[] a = gen.step(List.of(s), 100, true), b2 = gen.step(List.of(s), 100, true);
                    into[1] = concat(new float[][]{a, b2}, 0);
                }
            }
        }
        compareNorm("model prefill mha vs absorbed", "r1-arch-mini 128/64/128, 150 tok (norm)", ref[0], got[0], tol, true, "");
        compareNorm("model chunked prefill mha vs absorbed", "chunks 100 + 50 (norm)", ref[1], got[1], tol, true, "");
    }

    /** The op-by-op tables of modelVsSim, appended to the --out file after the results. */
    private final StringBuilder traces = new StringBuilder();

    private int[] prompt(int n) {
        int[] prompt = new int[n];
        Random r = new Random(10);
        for (int i = 0; i < prompt.length; i++) prompt[i] = 3 + r.nextInt(1000);
        return prompt;
    }

    /** float32: the whole model against the CPU, then graphs against eager; bf16: graphs only (see modelVsSim). */
    private void model(Backend g, double tol) {
        Path config = Path.of("configs", "r1-arch-mini.json");
        ModelConfig c = ModelConfig.load(config, "{\"num_hidden_layers\": 4}");
        int[] prompt = prompt(24);
        boolean f32 = !precisionTag.startsWith("bf16");
        try (Model cm = f32 ? Models.load(c, config, Models.LoadFormat.DUMMY, cpu) : null; Model gm = Models.load(c, config, Models.LoadFormat.DUMMY, g)) {
            int vocab = c.vocabSize();
            float[][] gpuSteps = new float[5][];
            int[] fed = {17, 300, 5, 911};
            try (var gg = new SimpleGenerator(gm, 256); var cg = f32 ? new SimpleGenerator(cm, 256) : null) {
                var gs = gg.start(prompt);
                var cs = f32 ? cg.start(prompt) : null;
                float[] gl = gg.step(List.of(gs), 0, true);
                float[][] cpuSteps = new float[5][];
                if (f32) {
                    float[] cl = cg.step(List.of(cs), 0, true);
                    compare("model prefill logits", "r1-arch-mini 4 layers, 24 tokens", cl, gl, tol);
                    cpuSteps[0] = Arrays.copyOfRange(cl, (prompt.length - 1) * vocab, prompt.length * vocab);
                }
                for (int s = 0; s < 4; s++) {
                    if (f32) fed[s] = SimpleGenerator.argmax(cpuSteps[s], 0, vocab);
                    gg.append(gs, fed[s]);
                    gpuSteps[s + 1] = gg.step(List.of(gs), 0, false);
                    if (f32) {
                        cg.append(cs, fed[s]);
                        cpuSteps[s + 1] = cg.step(List.of(cs), 0, false);
                    }
                }
                if (f32) compare("model decode logits", "4 decode steps", concat(cpuSteps, 1), concat(gpuSteps, 1), tol);
            }
            float[] gAll = concat(gpuSteps, 1);
            // the same decode steps replayed as CUDA graphs must equal the eager GPU run exactly
            if (!(g instanceof CudaBackend)) return;
            CudaGraphRunner runner = new CudaGraphRunner(gm, 8);
            try (var gg = new SimpleGenerator(runner, 256)) {
                var gs = gg.start(prompt);
                gg.step(List.of(gs), 0, false);
                float[][] graphSteps = new float[5][];
                for (int s = 0; s < 4; s++) {
                    gg.append(gs, fed[s]);
                    graphSteps[s + 1] = gg.step(List.of(gs), 0, false);
                }
                compareExact("model decode, CUDA graph vs eager", "4 steps, batch 1 (padded to 1)", gAll, concat(graphSteps, 1));
            }
            // a batch of 3 replayed through the graph of 4 (one padding sequence) against 3 eager singles
            try (var eager = new SimpleGenerator(gm, 1024); var graph = new SimpleGenerator(runner, 1024)) {
                List<SimpleGenerator.Sequence> es = new ArrayList<>(), gs = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    int[] p = Arrays.copyOf(prompt, 10 + 5 * i);
                    es.add(eager.start(p));
                    gs.add(graph.start(p));
                }
                eager.step(es, 0, false);
                graph.step(gs, 0, false);
                for (int i = 0; i < 3; i++) {
                    eager.append(es.get(i), 7 + i);
                    graph.append(gs.get(i), 7 + i);
                }
                float[] e = eager.step(es, 0, false), gr = graph.step(gs, 0, false);
                if (f32) compareExact("model decode batch 3 padded to 4", "graph vs eager", e, gr);
                else compare("model decode batch 3 padded to 4", "graph vs eager", e, gr, tol);
            }
        }
    }

    /**
     * The whole model in bf16 against the CPU with the GPU's bf16 storage simulated ({@link Bf16CpuBackend}: every
     * op's output rounded to bf16 and, where the GPU quantises activations to fp8 for cuBLASLt, the same 1x128
     * quantisation), on {@link #NO_FLIP}. Every op of the prefill is compared on its own (TracingBackend), the
     * table is appended to the --out file, and a failing row names the first op past the tolerance:
     * a kernel bug shows as a jump at its op, bf16 noise as a slow drift. With fp8 activations the dynamic 1x128
     * scales make two correct runs differ by several percent (a scale that moves re-rounds its whole block), so
     * that variant is compared by the norm of the error with a loose bound: it catches wrong results, not noise.
     */
    private void modelVsSim(Backend g, double tol) {
        modelVsSim(g, tol, NO_FLIP);
    }

    private void modelVsSim(Backend g, double tol, String override) {
        modelVsSim(g, tol, Path.of("configs", "r1-arch-mini.json"), override, "r1-arch-mini 8/8 experts", 24);
    }

    /**
     * R1-Distill-Qwen-1.5B's attention (12 query heads over 2 kv heads of 128) in two layers with a narrow MLP and
     * vocabulary, a 200-token prompt: the GQA tensor-core kernels (kiln.cuda.gqaPrefill, kiln.cuda.gqaTc) inside a
     * whole model, where the generic kernel's checks above see one op alone.
     */
    static final String QWEN_MINI = "{\"num_hidden_layers\": 2, \"intermediate_size\": 1024, \"vocab_size\": 2048}";

    private void gqaModelVsSim(Backend g, double tol) {
        modelVsSim(g, tol, Path.of("configs", "deepseek-r1-distill-qwen-1.5b.json"), QWEN_MINI, "qwen2 12/2x128, 2 layers", 200);
    }

    private void modelVsSim(Backend g, double tol, Path config, String override, String label, int promptTokens) {
        ModelConfig c = ModelConfig.load(config, override);
        int[] prompt = prompt(promptTokens);
        boolean fp8 = g instanceof CudaBackend cb && cb.fp8LtActive();
        double bound = fp8 ? 0.3 : tol;
        // the simulation takes the same prefill form as the GPU, so the traces line up op by op
        boolean mha = c.isMla() && g.mlaPrefillMha(c.numHeads(), c.qkNopeHeadDim(), c.qkRopeHeadDim(), c.vHeadDim());
        boolean kv8 = g instanceof CudaBackend cb && cb.options().fp8KvCache();
        TracingBackend ref = new TracingBackend(new Bf16CpuBackend(fp8, mha, kv8)), got = new TracingBackend(g);
        float[][] r = new float[5][], o = new float[5][];
        int vocab = c.vocabSize();
        try (Model rm = Models.load(c, config, Models.LoadFormat.DUMMY, ref); Model gm = Models.load(c, config, Models.LoadFormat.DUMMY, got);
             var rg = new SimpleGenerator(rm, 256); var gg = new SimpleGenerator(gm, 256)) {
            var rs = rg.start(prompt);
            var gs = gg.start(prompt);
            r[0] = rg.step(List.of(rs), 0, true);
            o[0] = gg.step(List.of(gs), 0, true);
            ref.tracing(false);
            got.tracing(false);
            for (int s = 0; s < 4; s++) {
                int next = SimpleGenerator.argmax(r[s], r[s].length / vocab - 1, vocab);
                rg.append(rs, next);
                gg.append(gs, next);
                r[s + 1] = rg.step(List.of(rs), 0, false);
                o[s + 1] = gg.step(List.of(gs), 0, false);
            }
        }
        List<TracingBackend.Diff> diffs = TracingBackend.compare(ref.entries(), got.entries());
        String firstBad = "";
        for (TracingBackend.Diff d : diffs) {
            if (!d.ref().op().startsWith("moe_route") && !(d.normRel() <= bound)) {
                firstBad = String.format("first op past %.2g: #%d %s (layer %d) norm rel %.3g", bound, d.ref().index(), d.ref().op(), d.ref().layer(), d.normRel());
                break;
            }
        }
        traces.append("\n== model trace ").append(precisionTag).append(": ").append(g.name()).append(" against ").append(ref.inner().name())
                .append(", ").append(override).append(mha ? ", MHA prefill" : "").append(", prefill of ").append(promptTokens).append(" tokens\n").append(TracingBackend.table(diffs));
        String what = fp8 ? " (fp8 activations: norm)" : "";
        compareNorm("model prefill vs bf16 sim" + (fp8 ? ", fp8" : "") + (mha ? ", mha" : ""), label + ", " + promptTokens + " tokens", r[0], o[0], bound, fp8,
                firstBad);
        compareNorm("model decode vs bf16 sim" + (fp8 ? ", fp8" : ""), "4 decode steps" + what, concat(r, 1), concat(o, 1), bound, fp8, "");
    }

    /** Like compare, judged by max |err| / max |ref| or (byNorm) by ||err|| / ||ref||, with a note. */
    private void compareNorm(String name, String shape, float[] ref, float[] got, double tol, boolean byNorm, String note) {
        double scale = 0, worst = 0, ss = 0, se = 0;
        boolean nan = false;
        for (int i = 0; i < ref.length; i++) {
            double e = (double) got[i] - ref[i];
            if (Double.isNaN(e)) nan = true;
            scale = Math.max(scale, Math.abs(ref[i]));
            worst = Math.max(worst, Math.abs(e));
            ss += (double) ref[i] * ref[i];
            se += e * e;
        }
        double rel = byNorm ? Math.sqrt(se / Math.max(ss, 1e-30)) : worst / Math.max(scale, 1e-30);
        boolean pass = !nan && ref.length == got.length && rel <= tol;
        results.add(new Result(name, precisionTag, shape, worst, rel, tol, pass, nan ? "NaN in output" : pass ? "" : note));
    }

    /**
     * Greedy generation from the fixtures' checkpoints on the GPU against the CPU with bf16 simulated: identical
     * ids up to the first step where the simulation is near a tie, either in its top-two logits (under 0.1) or in
     * a router's choice (the last chosen expert or group within ROUTER_TIE of the first unchosen one: bf16
     * rounding of the router's input may pick the other, and the random tiny MoE fixtures have such near ties).
     */
    private static final float ROUTER_TIE = 0.02f;

    private void generateVsSim(Backend g, double tol) {
        for (String f : List.of("deepseek-v3-tiny-fp8", "deepseek-v3-tiny", "deepseek-v2-lite-tiny", "qwen2-tiny", "llama-tiny")) {
            Path dir = Path.of("testdata", "fixtures", f);
            if (!Files.isDirectory(dir)) continue;
            boolean fp8 = g instanceof CudaBackend cb && cb.fp8LtActive(), kv8 = g instanceof CudaBackend cb8 && cb8.options().fp8KvCache();
            ModelConfig mc = ModelConfig.load(dir);
            if (kv8 && !mc.isMla()) continue;  // the FP8 cache is MLA's
            int[][] ids = new int[2][12];
            float[] margins = new float[12];
            boolean[] routerTie = new boolean[12];
            int b = 0;
            boolean mha = mc.isMla() && g.mlaPrefillMha(mc.numHeads(), mc.qkNopeHeadDim(), mc.qkRopeHeadDim(), mc.vHeadDim());
            Bf16CpuBackend sim = new Bf16CpuBackend(fp8, mha, kv8);
            for (Backend backend : List.of(sim, g)) {
                try (Model m = Models.load(dir, Models.LoadFormat.AUTO, backend); var gen = new SimpleGenerator(m, 64)) {
                    sim.takeRouterMargin();
                    var s = gen.start(new int[]{5, 6, 7, 8, 9});
                    int vocab = m.config().vocabSize();
                    for (int i = 0; i < 12; i++) {
                        float[] l = gen.step(List.of(s), 0, false);
                        ids[b][i] = SimpleGenerator.argmax(l, 0, vocab);
                        if (b == 0) {
                            float first = Float.NEGATIVE_INFINITY, second = Float.NEGATIVE_INFINITY;
                            for (float v : l) {
                                if (v > first) { second = first; first = v; } else if (v > second) second = v;
                            }
                            margins[i] = first - second;
                            // the prompt's prefill counts towards the first step
                            routerTie[i] = sim.takeRouterMargin() < ROUTER_TIE;
                        }
                        gen.append(s, ids[b][i]);
                    }
                }
                b++;
            }
            int same = 0;
            while (same < 12 && ids[0][same] == ids[1][same]) same++;
            int trusted = 0;
            while (trusted < 12 && margins[trusted] >= 0.1f && !routerTie[trusted]) trusted++;
            // a tie at step i may change token i itself (logits) or, through the routers, token i already
            boolean pass = same >= Math.min(12, trusted);
            results.add(new Result("generate vs bf16 sim", precisionTag, f + ", 12 greedy", 12 - same, 0, 0, pass,
                    same == 12 ? "all 12 ids equal" : "equal for " + same + ", near tie (" + (trusted < 12 && routerTie[trusted] ? "router" : "logits")
                            + ") from step " + (trusted + 1) + ": sim " + Arrays.toString(ids[0])
                            + " gpu " + Arrays.toString(ids[1])));
        }
    }

    private static float[] concat(float[][] parts, int from) {
        int n = 0;
        for (int i = from; i < parts.length; i++) n += parts[i].length;
        float[] out = new float[n];
        int at = 0;
        for (int i = from; i < parts.length; i++) {
            System.arraycopy(parts[i], 0, out, at, parts[i].length);
            at += parts[i].length;
        }
        return out;
    }
}
