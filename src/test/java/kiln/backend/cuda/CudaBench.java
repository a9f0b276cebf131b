package kiln.backend.cuda;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import kiln.KilnProperty;
import kiln.backend.Backend;
import kiln.backend.ForwardBatch;
import kiln.backend.KvCache;
import kiln.backend.KvLayout;
import kiln.backend.MlaQuery;
import kiln.backend.MoeRouting;
import kiln.backend.Tensor;
import kiln.backend.Weight;
import kiln.config.ModelConfig;
import kiln.io.DType;
import kiln.io.TensorData;
import kiln.model.Model;
import kiln.model.Models;
import kiln.model.RankCaches;
import kiln.model.TensorParallelModel;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * GPU benchmarks of the CUDA backend (bf16 activations, the serving mode), for the device harness:
 * <pre>
 *   decode   step time at batch 1, 8, 32, 64, 128 (CUDA graphs; eager at 1 and 64 too) for deepseek-v2-lite
 *            (dummy bf16) and deepseek-r1 cut to the layers that fit (dummy FP8), context 1024 per sequence,
 *            against the bytes the step must read (weights touched + KV) over -Dkiln.bench.bandwidthGBs
 *   prefill  one 4,096-token chunk of each model (-Dkiln.bench.prefillTokens=512,4096: each size; -Dkiln.bench.prefillCached=N:
 *            each after N cached tokens): linear and total TFLOP/s
 *   kernels  FP8 linear at R1 shapes, MLA decode over 4,096 keys, an R1 MoE layer (256 FP8 experts, top 8)
 *   mla      the kernels section's MLA decode rows alone: bf16 cache, FP8 cache (--kv-cache-dtype fp8_e4m3), generic
 *            kernel, at 1-128 sequences and 1,024-16,384 keys (-Dkiln.bench.kvFp8=true puts the whole-model runs'
 *            caches in FP8 too)
 *   moe      the MoE layer of R1 (FP8) and V2-Lite (bf16) alone, 16 to 8,192 tokens, without moe_mma and with it
 *   fp8      the kernels section's FP8 linear rows alone
 *   lt-algos every block-scaled FP8 algorithm cuBLASLt's heuristic offers at R1 shapes and 16-512 rows (CublasLtAlgoBench)
 * </pre>
 * {@code java ... kiln.backend.cuda.CudaBench [decode] [prefill] [kernels] [mla] [moe] [fp8] [lt-algos] [--out FILE.jsonl] [--models v2,r1]}.
 * Each measurement is printed and appended as one JSON line to the output file.
 */
public final class CudaBench {
    private static final int CTX = KilnProperty.BENCH_CTX.intValue(1024);
    /** Decode batch sizes; -Dkiln.bench.batches=1,64 narrows them (profiling runs). */
    private static final int[] BATCHES = java.util.Arrays.stream(KilnProperty.BENCH_BATCHES.value().split(","))
            .mapToInt(Integer::parseInt).toArray();
    private final PrintStream jsonl;
    private final double bandwidth = KilnProperty.BENCH_BANDWIDTH_GBS.doubleValue();
    private final List<String> summary = new ArrayList<>();

    CudaBench(PrintStream jsonl) {
        this.jsonl = jsonl;
    }

    public static void main(String[] args) throws IOException {
        List<String> sections = new ArrayList<>();
        Path out = null;
        List<String> models = List.of("v2", "r1");
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--out" -> out = Path.of(args[++i]);
                case "--models" -> models = List.of(args[++i].split(","));
                default -> sections.add(args[i]);
            }
        }
        if (sections.isEmpty()) sections = List.of("decode", "prefill", "kernels");
        boolean decode = sections.contains("decode"), prefill = sections.contains("prefill");
        PrintStream js = out == null ? new PrintStream(PrintStream.nullOutputStream())
                : new PrintStream(Files.newOutputStream(out, StandardOpenOption.CREATE, StandardOpenOption.APPEND), true);
        CudaBench b = new CudaBench(js);
        for (String model : models) {
            if (model.equals("none")) continue;
            if (decode || prefill) b.section(String.format("%-28s", model), () -> b.model(model, decode, prefill));
        }
        if (sections.contains("moe")) b.section("moe", b::moe);
        if (sections.contains("kernels")) b.section("kernels", b::kernels);
        if (sections.contains("fp8")) b.section("fp8", b::fp8Rows);
        if (sections.contains("mla")) b.section("mla", () -> {
            try (CudaBackend g = backend(2L << 30)) {
                b.mlaDecode(g, new Random(3), new int[]{1, 8, 64, 128}, new int[]{1024, 4096, 16384});
            }
        });
        if (sections.contains("lt-algos")) b.section("lt-algos", () -> new CublasLtAlgoBench(b::record).run());
        System.out.println("==== Kiln CUDA benchmark summary" + (b.bandwidth > 0 ? String.format(" (bandwidth ceiling %.0f GB/s)", b.bandwidth) : ""));
        b.summary.forEach(System.out::println);
        js.close();
        System.exit(0);
    }

    /** Runs one section; a failure is printed and listed in the summary, and the next section still runs. */
    private void section(String name, Runnable body) {
        try {
            body.run();
        } catch (Throwable e) {
            System.out.println("[bench] " + name.strip() + " failed: " + e);
            e.printStackTrace(System.out);
            summary.add(name + " FAILED: " + e);
        }
    }

    /** Where a benchmark's measurement goes: printed, listed in the summary and appended to the JSON lines. */
    interface Recorder {
        void record(String section, String name, String shape, double ms, double bytes, double flops, String extra);
    }

    private void record(String section, String name, String shape, double ms, double bytes, double flops, String extra) {
        double gbs = bytes > 0 ? bytes / (ms * 1e6) : 0, tflops = flops > 0 ? flops / (ms * 1e9) : 0;
        double floorMs = bandwidth > 0 && bytes > 0 ? bytes / (bandwidth * 1e6) : 0;
        jsonl.printf(Locale.ROOT, "{\"section\":\"%s\",\"name\":\"%s\",\"shape\":\"%s\",\"ms\":%.4f,\"bytes\":%.0f,\"flops\":%.0f,\"gbs\":%.1f,\"tflops\":%.2f,\"floor_ms\":%.4f%s}%n",
                section, name, shape, ms, bytes, flops, gbs, tflops, floorMs, extra.isEmpty() ? "" : "," + extra);
        String line = String.format(Locale.ROOT, "%-9s %-26s %-30s %9.3f ms %8.0f GB/s %7.1f TFLOP/s%s", section, name, shape, ms, gbs, tflops,
                floorMs > 0 ? String.format(Locale.ROOT, "  floor %.3f ms (%.0f%%)", floorMs, 100 * floorMs / ms) : "");
        System.out.println("[bench] " + line);
        summary.add(line);
    }

    private static CudaBackend backend(long activationBytes) {
        return new CudaBackend(CudaOptions.defaults().withPrecision(Precision.BFLOAT16).withActivationBytes(activationBytes)
                .withFp8KvCache(KilnProperty.BENCH_KV_FP8.flag()));
    }

    // ---- whole models ----

    private void model(String which, boolean decode, boolean prefill) {
        Path path = which.endsWith(".json") ? Path.of(which) : Path.of("configs", which.equals("v2") ? "deepseek-v2-lite.json" : "deepseek-r1.json");
        try (CudaBackend g = backend(6L << 30)) {
            String override = KilnProperty.BENCH_MODEL_OVERRIDE.value();  // e.g. the served vocabulary
            ModelConfig base = ModelConfig.load(path, override);
            ModelConfig c = base;
            if (which.equals("r1")) c = withLayers(path, override, r1LayersThatFit(base, g.device().memInfo()[0]));
            int cut = KilnProperty.BENCH_LAYERS.intValue(Integer.MAX_VALUE);  // e.g. a short model for a profiler run
            if (cut < c.numLayers()) c = withLayers(path, override, cut);
            int tp = KilnProperty.BENCH_TP.intValue(1);  // tensor-parallel ranks, of the kind kiln.cuda.tpRanks names
            String tag = (which.equals("v2") ? "v2-lite bf16" + (c.numLayers() < base.numLayers() ? " " + c.numLayers() + "L" : "")
                    : which.equals("r1") ? "r1 fp8 " + c.numLayers() + "L" : path.getFileName().toString())
                    + (tp > 1 ? " tp" + tp + " " + TpRanksConfig.fromProperties().kind().name().toLowerCase(Locale.ROOT) : "")
                    + (g.options().fp8KvCache() ? " kv-fp8" : "")
                    + (KilnProperty.BENCH_TAG.value().isEmpty() ? "" : " " + KilnProperty.BENCH_TAG.value());  // e.g. "nopdl": a switch off
            long t0 = System.nanoTime();
            try (Model m = Models.load(c, path, Models.LoadFormat.DUMMY, g, tp)) {
                System.out.printf("[bench] %s loaded: %.1f GB of weights in %.0f s%n", tag, m.weightBytes() / 1e9, (System.nanoTime() - t0) / 1e9);
                if (decode) decode(g, m, c, tag);
                if (prefill) prefill(g, m, c, tag);
            }
        }
    }

    /** The config at {@code path} with the overrides and its first {@code layers} layers. */
    private static ModelConfig withLayers(Path path, String override, int layers) {
        try {
            ObjectNode o = override.isBlank() ? JsonNodeFactory.instance.objectNode() : (ObjectNode) new ObjectMapper().readTree(override);
            return ModelConfig.load(path, o.put("num_hidden_layers", layers).toString());
        } catch (IOException e) {
            throw new IllegalArgumentException("-Dkiln.bench.modelOverride=" + override + ": " + e.getMessage(), e);
        }
    }

    /** Dense layers first, then as many MoE layers as fit next to the activations and a 128 x 1024 KV pool. */
    static int r1LayersThatFit(ModelConfig c, long freeBytes) {
        long h = c.hiddenSize(), heads = c.numHeads();
        long attention = c.qLoraRank() * h + heads * c.qkHeadDim() * c.qLoraRank() + (c.kvLoraRank() + c.qkRopeHeadDim()) * h
                + h * heads * c.vHeadDim() + 2L * 2 * heads * c.kvLoraRank() * c.qkNopeHeadDim();
        long moe = (long) (c.nRoutedExperts() + c.nSharedExperts()) * 3 * h * c.moeIntermediateSize() + attention;
        long dense = 3 * h * c.intermediateSize() + attention;
        long fixed = 2L * 2 * c.vocabSize() * h + (long) c.firstKDenseReplace() * dense;
        long kvPerLayer = 130L * (CTX + 2) * (c.kvLoraRank() + c.qkRopeHeadDim()) * 2;
        long reserve = 3L << 30;  // beyond the activation arena, already allocated
        long room = freeBytes - fixed - reserve;
        int moeLayers = (int) Math.max(1, room / (moe + kvPerLayer));
        // dummy weights are generated on the host and kept there while the model lives: stay within 60% of RAM
        long host = hostMemoryBytes();
        if (host > 0) moeLayers = (int) Math.max(1, Math.min(moeLayers, (long) (0.6 * host - fixed) / moe));
        return Math.min(c.numLayers(), c.firstKDenseReplace() + moeLayers);
    }

    static long hostMemoryBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: no host limit
        }
        return 0;
    }

    /**
     * Bytes a decode step of {@code b} sequences reads: weights touched (expected distinct experts) + KV. For
     * tensor-parallel ranks, one rank's (its shards, its part of each touched expert, the whole latent cache), times
     * the ranks when they share one GPU (virtual ranks), whose bandwidth they then split.
     */
    static double decodeBytes(Model m, ModelConfig c, int b, int ctx) {
        int ranks = m instanceof TensorParallelModel tp ? tp.size() : 1;
        double perToken = m.decodeBytesPerToken();
        if (c.nRoutedExperts() > 0) {
            int moeLayers = 0;
            for (int l = 0; l < c.numLayers(); l++) if (c.isMoeLayer(l)) moeLayers++;
            double perExpert = 3.0 * c.hiddenSize() * c.moeIntermediateSize() * (c.fp8BlockSize() != null ? 1.0 : 2.0) / ranks;
            double e = c.nRoutedExperts(), k = c.numExpertsPerTok();
            double touched = e * (1 - Math.pow(1 - k / e, b));
            perToken += moeLayers * (touched - k) * perExpert;
        }
        double kvPerToken = c.isMla() ? (c.kvLoraRank() + c.qkRopeHeadDim()) : 2.0 * c.numKvHeads() * c.headDim() / ranks;
        double perRank = perToken + (double) b * (ctx + 1) * c.numLayers() * kvPerToken * 2;
        return sharesOneGpu(m) ? perRank * ranks : perRank;
    }

    /** Are all the model's ranks on one GPU (a model alone, or virtual ranks)? */
    static boolean sharesOneGpu(Model m) {
        if (!(m instanceof TensorParallelModel tp)) return true;
        for (int r = 1; r < tp.size(); r++) {
            if (((CudaBackend) tp.rankBackend(r)).device() != ((CudaBackend) tp.rankBackend(0)).device()) return false;
        }
        return true;
    }

    private static ForwardBatch decodeBatch(int b, int ctx, Random r, int vocab) {
        int[] tokens = new int[b], positions = new int[b], rows = new int[b];
        List<ForwardBatch.Seq> seqs = new ArrayList<>();
        for (int i = 0; i < b; i++) {
            tokens[i] = 3 + r.nextInt(vocab - 3);
            positions[i] = ctx;
            rows[i] = i;
            int[] slots = new int[ctx + 1];
            for (int j = 0; j <= ctx; j++) slots[j] = i * (ctx + 1) + j;
            seqs.add(new ForwardBatch.Seq(i, 1, ctx, slots));
        }
        return new ForwardBatch(tokens, positions, seqs, rows);
    }

    /** The model's KV pool (one cache per rank for a tensor-parallel model), zeroed. */
    private static KvCache zeroedCache(Model m, int slots) {
        KvCache cache = m.newKvCache(slots);
        if (cache instanceof RankCaches rc) {
            for (int r = 0; r < ((TensorParallelModel) m).size(); r++) ((CudaKvCache) rc.rank(r)).zero();
        } else {
            ((CudaKvCache) cache).zero();
        }
        return cache;
    }

    /** An eager forward: on the device thread, or from here for tensor-parallel ranks (their threads hand over each op). */
    private static void eager(CudaBackend g, Model m, ForwardBatch batch, KvCache cache) {
        if (m instanceof TensorParallelModel) m.forward(batch, cache);
        else g.device().call(() -> m.forward(batch, cache));
    }

    /** Waits for every rank's device (one for virtual ranks). */
    private static void synchronize(CudaBackend g, Model m) {
        if (m instanceof TensorParallelModel tp) {
            for (int r = 0; r < tp.size(); r++) ((CudaBackend) tp.rankBackend(r)).device().synchronize();
        } else {
            g.device().synchronize();
        }
    }

    private void decode(CudaBackend g, Model m, ModelConfig c, String tag) {
        Random r = new Random(1);
        CudaGraphRunner runner = new CudaGraphRunner(m, 128);
        for (int b : BATCHES) {
            try (KvCache cache = zeroedCache(m, b * (CTX + 1) + 8)) {
                ForwardBatch batch = decodeBatch(b, CTX, r, c.vocabSize());
                double bytes = decodeBytes(m, c, b, CTX);
                int steps = KilnProperty.BENCH_STEPS.intValue(10);
                double ms = graphStepMs(g, m, runner, batch, cache, steps, true);
                String mode = g.profiling() ? " profiled" : " graph";
                record("decode", tag + mode, "bs " + b + " ctx " + CTX, ms, bytes, 0, "\"batch\":" + b + ",\"tok_s\":" + String.format(Locale.ROOT, "%.1f", b * 1000 / ms));
                System.out.print(g.profileTable("decode " + tag + " bs " + b + " ctx " + CTX + " (eager, events around every op)", steps, ms));
                if (KilnProperty.BENCH_PDL_COMPARE.flag() && g.programmaticLaunch() && !g.profiling()) {
                    // the same graphs captured without programmatic dependent launch, same process and weights
                    g.setProgrammaticLaunch(false);
                    runner.releaseGraphs();
                    record("decode", tag + " nopdl graph", "bs " + b + " ctx " + CTX, graphStepMs(g, m, runner, batch, cache, steps, false), bytes, 0, "\"batch\":" + b);
                    g.setProgrammaticLaunch(true);
                    runner.releaseGraphs();
                }
                String skip = KilnProperty.BENCH_SKIP.valueOrNull();
                if (skip != null && !g.profiling()) {
                    // each ';'-separated set of kernels left out in turn: the step time it saves is its cost in a graph
                    for (String set : skip.split(";")) {
                        g.skipKernels(java.util.Set.of(set.split(",")));
                        runner.releaseGraphs();
                        double sms = graphStepMs(g, m, runner, batch, cache, steps, false);
                        System.out.printf(Locale.ROOT, "[bench] skip      %-60s bs %d  %8.3f ms  saves %7.1f us per step%n", set, b, sms, 1000 * (ms - sms));
                    }
                    g.skipKernels(java.util.Set.of());
                    runner.releaseGraphs();
                }
                if ((b == 1 || b == 64) && !g.profiling() && KilnProperty.BENCH_EAGER.flag()) {
                    eager(g, m, batch, cache);
                    synchronize(g, m);
                    long t0 = System.nanoTime();
                    for (int i = 0; i < 3; i++) eager(g, m, batch, cache);
                    synchronize(g, m);
                    record("decode", tag + " eager", "bs " + b + " ctx " + CTX, (System.nanoTime() - t0) / 1e6 / 3, bytes, 0, "\"batch\":" + b);
                }
            } catch (RuntimeException e) {
                System.out.println("[bench] decode " + tag + " bs " + b + " failed: " + e);
                e.printStackTrace(System.out);
                summary.add(String.format("decode    %-26s bs %d FAILED: %s", tag, b, e.getMessage()));
            }
        }
        runner.releaseGraphs();
    }

    /** Milliseconds per decode step over {@code steps} replays, after two forwards that capture and warm the graph. */
    private static double graphStepMs(CudaBackend g, Model m, CudaGraphRunner runner, ForwardBatch batch, KvCache cache, int steps, boolean resetProfile) {
        for (int i = 0; i < 2; i++) runner.forward(batch, cache);
        synchronize(g, m);
        if (resetProfile) g.profileReset();
        long t0 = System.nanoTime();
        for (int i = 0; i < steps; i++) runner.forward(batch, cache);
        synchronize(g, m);
        return (System.nanoTime() - t0) / 1e6 / steps;
    }

    /** FLOPs of the projections for {@code tokens} tokens (experts: only the chosen), lm_head for one row. */
    static double linearFlops(Model m, ModelConfig c, int tokens) {
        double lmHeadBytes = 2.0 * c.vocabSize() * c.hiddenSize();
        double bytesPerParam = c.fp8BlockSize() != null ? 1.0 : 2.0;
        // an estimate: the few bf16 matrices of an FP8 model (absorbed MLA projections) are counted at the fp8 rate
        // tensor-parallel ranks: every rank's share (the replicated projections counted once per rank)
        int ranks = m instanceof TensorParallelModel tp ? tp.size() : 1;
        double activeParams = (ranks * m.decodeBytesPerToken() - lmHeadBytes) / bytesPerParam;
        return 2 * activeParams * tokens + 2.0 * c.vocabSize() * c.hiddenSize();
    }

    /**
     * Causal attention FLOPs of a fresh prefill: MLA absorbed scores 576-wide latent entries and sums 512-wide ones
     * per head; the MHA form 192-wide keys and 128-wide values (its k/v expansion is kv_b_proj's work per context
     * row, which linearFlops already counts once per token as the absorbed projections).
     */
    static double attentionFlops(ModelConfig c, int tokens, boolean mha) {
        return attentionFlops(c, 0, tokens, mha);
    }

    /** The same for {@code tokens} new tokens after {@code cached} ones: each also sees the whole prefix. */
    static double attentionFlops(ModelConfig c, int cached, int tokens, boolean mha) {
        double pairs = (double) tokens * cached + (double) tokens * (tokens + 1) / 2;
        double perPair = !c.isMla() ? 2.0 * 2 * c.headDim() * c.numHeads()
                : mha ? 2.0 * (c.qkHeadDim() + c.vHeadDim()) * c.numHeads()
                : 2.0 * (c.kvLoraRank() + c.qkRopeHeadDim() + c.kvLoraRank()) * c.numHeads();
        return pairs * perPair * c.numLayers();
    }

    private void prefill(CudaBackend g, Model m, ModelConfig c, String tag) {
        for (String t : KilnProperty.BENCH_PREFILL_TOKENS.value().split(",")) prefill(g, m, c, tag, Integer.parseInt(t.strip()));
    }

    /** {@code t} new tokens of one sequence after {@code cached} already in the cache (0: a fresh sequence). */
    private static ForwardBatch chunk(ModelConfig c, int cached, int t, Random r) {
        int[] tokens = new int[t], positions = new int[t], slots = new int[cached + t];
        for (int i = 0; i < cached + t; i++) slots[i] = i;
        for (int i = 0; i < t; i++) {
            tokens[i] = 3 + r.nextInt(c.vocabSize() - 3);
            positions[i] = cached + i;
        }
        return new ForwardBatch(tokens, positions, List.of(new ForwardBatch.Seq(0, t, cached, slots)), new int[]{t - 1});
    }

    private void prefill(CudaBackend g, Model m, ModelConfig c, String tag, int t) {
        Random r = new Random(2);
        int cached = KilnProperty.BENCH_PREFILL_CACHED.intValue(0);
        ForwardBatch batch = chunk(c, cached, t, r);
        if (cached > 0) tag += " after " + cached + " cached";
        try (KvCache cache = m.newKvCache(cached + t + 8)) {
            if (cached > 0) eager(g, m, chunk(c, 0, cached, r), cache);  // the prefix's entries
            eager(g, m, batch, cache);
            synchronize(g, m);
            g.profileReset();
            long t0 = System.nanoTime();
            eager(g, m, batch, cache);
            synchronize(g, m);
            double ms = (System.nanoTime() - t0) / 1e6;
            System.out.print(g.profileTable("prefill " + tag + " " + t + " tokens", 1, ms));
            // the form Deepseek picks for this batch (kiln.cuda.mhaPrefill, shape, context size)
            boolean mha = c.isMla() && g.mlaPrefillMha(c.numHeads(), c.qkNopeHeadDim(), c.qkRopeHeadDim(), c.vHeadDim())
                    && (long) (cached + t) * c.numHeads() * (c.qkNopeHeadDim() + c.vHeadDim()) <= 1L << 28;
            String form = !c.isMla() ? "" : mha ? ", mha" : ", absorbed";
            double lin = linearFlops(m, c, t), att = attentionFlops(c, cached, t, mha);
            record("prefill", tag + " (all" + form + ")", t + " tokens", ms, 0, lin + att, String.format(Locale.ROOT,
                    "\"linear_flops\":%.0f,\"attention_flops\":%.0f,\"attention_form\":\"%s\"", lin, att, mha ? "mha" : c.isMla() ? "absorbed" : "gqa"));
            System.out.printf("[bench] prefill %s: linear %.1f TFLOP + attention %.1f TFLOP (%s form); activation peak %.2f GiB%n", tag, lin / 1e12, att / 1e12,
                    mha ? "MHA" : c.isMla() ? "absorbed" : "GQA", g.activationPeak() / 1073741824.0);
            if (g.profiling()) {  // attention ops: store (+ gather), the attention kernel; not the k/v expansion GEMMs of the MHA form
                double attMs = g.profileMs("mla_") + g.profileMs("attention ");
                System.out.printf(Locale.ROOT, "[bench] prefill %s: attention ops %.2f ms of %.2f ms (%.0f%%)%n", tag, attMs, ms, 100 * attMs / ms);
            }
        } catch (RuntimeException e) {
            System.out.println("[bench] prefill " + tag + " failed: " + e);
            e.printStackTrace(System.out);
            summary.add(String.format("prefill   %-26s FAILED: %s", tag, e.getMessage()));
        }
    }

    // ---- single kernels ----

    private final Arena arena = Arena.ofShared();

    private TensorData fp8(String name, int rows, int cols, long seed) {
        long n = (long) rows * cols;
        MemorySegment m = arena.allocate(n, 64);
        int chunks = (int) Math.max(1, Math.min(1024, n >> 20));
        IntStream.range(0, chunks).parallel().forEach(ch -> {
            SplittableRandom r = new SplittableRandom(seed * 7919 + ch);
            for (long i = n * ch / chunks, end = n * (ch + 1) / chunks; i < end; i++) {
                int b = r.nextInt(256);
                m.set(ValueLayout.JAVA_BYTE, i, (byte) ((b & 0x80) | (3 + (b & 7)) << 3 | (b >> 3) & 7));
            }
        });
        return new TensorData(name, DType.F8_E4M3, new long[]{rows, cols}, m, "bench");
    }

    /** bf16 weights of about the scale of a trained layer's (normal, standard deviation 1 / sqrt(cols)). */
    private TensorData bf16(String name, int rows, int cols, long seed) {
        long n = (long) rows * cols;
        MemorySegment m = arena.allocate(2 * n, 64);
        float sd = (float) (1 / Math.sqrt(cols));
        int chunks = (int) Math.max(1, Math.min(1024, n >> 20));
        IntStream.range(0, chunks).parallel().forEach(ch -> {
            SplittableRandom r = new SplittableRandom(seed * 7919 + ch);
            for (long i = n * ch / chunks, end = n * (ch + 1) / chunks; i < end; i++) {
                float v = (float) (r.nextDouble(-1.7320508, 1.7320508) * sd);  // uniform with the normal's variance
                m.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * i, (short) (Float.floatToRawIntBits(v) >>> 16));
            }
        });
        return new TensorData(name, DType.BF16, new long[]{rows, cols}, m, "bench");
    }

    private TensorData scales(int rows, int cols) {
        int sr = (rows + 127) / 128, sc = (cols + 127) / 128;
        MemorySegment m = arena.allocate(4L * sr * sc, 64);
        for (int i = 0; i < sr * sc; i++) m.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) (1 / (2 * Math.sqrt(cols))));
        return new TensorData("scale", DType.F32, new long[]{sr, sc}, m, "bench");
    }

    private static ForwardBatch simple(int n) {
        int[] ids = new int[n], pos = new int[n], slots = new int[n];
        for (int i = 0; i < n; i++) pos[i] = slots[i] = i;
        return new ForwardBatch(ids, pos, List.of(new ForwardBatch.Seq(0, n, 0, slots)), new int[]{n - 1});
    }

    private static float[] normal(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    /** FP8 linear at every row count, alone: the kernels section's first part, for a call with little time. */
    private void fp8Rows() {
        try (CudaBackend g = backend(8L << 30)) {
            fp8Rows(g, new Random(3));
        }
    }

    /**
     * FP8 linear at R1 shapes (q_b, dense gate, o_proj, expert gate) and 1-4,096 rows, whatever the defaults pick for
     * each; rows of 2-64 also on linear_mma.cuh (a second backend with kiln.cuda.linearMmaFp8, reading the same
     * weights) and rows of 2-16 on cuBLASLt's FP8 GEMM (a third, kiln.cuda.fp8LtMinRows=2). Each is timed twice:
     * launched one after another (the host's launch cost included where it is the longer) and replayed from a CUDA
     * graph (the GPU's time alone, as a decode step sees it).
     */
    private void fp8Rows(CudaBackend g, Random r) {
        int[][] shapes = {{24576, 1536}, {18432, 7168}, {7168, 16384}, {2048, 7168}};
        CudaOptions mo = g.options().withActivationBytes(1L << 30);
        try (CudaBackend mma = new CudaBackend(g.device(), false, mo.withFlags(mo.flags().withLinearMmaMaxRows(LinearMmaKernels.MAX_ROWS)
                .withLinearMmaFp8(true)));
             CudaBackend lt = new CudaBackend(g.device(), false, mo.withFlags(mo.flags().withFp8LtMinRows(2)))) {
            for (int[] s : shapes) {
                Weight w = g.weight(fp8("w", s[0], s[1], s[0]), scales(s[0], s[1]), 128, 128);
                for (int m : new int[]{1, 8, 16, 24, 32, 64, 100, 128, 512, 4096}) {
                    float[] xs = normal(r, m * s[1]);
                    List<CudaBackend> backends = new ArrayList<>(List.of(g));
                    if (m >= 2 && m <= LinearMmaKernels.MAX_ROWS) backends.add(mma);
                    if (m >= 2 && m <= 16) backends.add(lt);
                    for (CudaBackend k : backends) {
                        k.begin(simple(Math.min(m, 16384)));
                        Tensor x = k.upload(xs, m, s[1]), out = k.tensor(m, s[0]);
                        Runnable linear = () -> k.linear(x, w, out);
                        linear.run();
                        String name = k == g ? "fp8 linear" : k == mma ? "fp8 linear (linear_mma)" : "fp8 linear (cuBLASLt)", shape = m + "x" + s[1] + "->" + s[0];
                        double bytes = (double) s[0] * s[1] + 2.0 * m * (s[0] + s[1]), flops = 2.0 * m * s[0] * s[1];
                        record("kernel", name, shape, k.device().timeMs(linear, 20), bytes, flops, "");
                        record("kernel", name + " graphed", shape, graphMs(k, linear, 20), bytes, flops, "");
                    }
                }
            }
        }
    }

    /**
     * The GPU's time for one run of {@code work}, without the host's launch cost: {@code repeats} runs captured into
     * one CUDA graph, replayed five times under events.
     */
    static double graphMs(CudaBackend k, Runnable work, int repeats) {
        CudaDevice d = k.device();
        return d.call(() -> {
            Driver.synchronize(d.stream(), "before a timed capture");
            k.setCapturing(true);
            Driver.beginCapture(d.stream());
            try {
                for (int i = 0; i < repeats; i++) work.run();
            } catch (RuntimeException e) {
                Driver.destroyGraph(Driver.endCapture(d.stream()));
                throw e;
            } finally {
                k.setCapturing(false);
            }
            MemorySegment graph = Driver.endCapture(d.stream());
            MemorySegment exec = Driver.instantiate(graph);
            try {
                Driver.launchGraph(exec, d.stream());
                return d.timeMs(() -> Driver.launchGraph(exec, d.stream()), 5) / repeats;
            } finally {
                Driver.synchronize(d.stream(), "after a timed graph");
                Driver.destroyGraphExec(exec);
                Driver.destroyGraph(graph);
            }
        });
    }

    private void kernels() {
        try (CudaBackend g = backend(8L << 30)) {
            Random r = new Random(3);
            fp8Rows(g, r);
            mlaDecode(g, r, new int[]{1, 64, 128}, new int[]{4096});
            // MLA prefill attention, 4,096 new tokens of one sequence: the MHA form (mla_prefill.cuh) at V2-Lite's 16
            // heads and R1's 128, and the absorbed form at 16 heads for comparison
            int pt = 4096;
            double pairs = (double) pt * (pt + 1) / 2;
            ForwardBatch pre = simple(pt);
            for (int h : new int[]{16, 128}) {
                g.begin(pre);
                Tensor q = g.upload(normal(r, pt * h * 192), pt, h * 192), kn = g.upload(normal(r, pt * h * 128), pt, h * 128);
                Tensor ctx2 = g.upload(normal(r, pt * 576), pt, 576), v = g.upload(normal(r, pt * h * 128), pt, h * 128), out = g.tensor(pt, h * 128);
                Runnable step = () -> g.mlaPrefillAttention(q.heads(h, 192, 0, 128), q.heads(h, 192, 128, 64), kn.heads(h, 128), ctx2.columns(512, 64),
                        v.heads(h, 128), 0.1f, out.heads(h, 128));
                step.run();
                double ms = g.device().timeMs(step, 10);
                record("kernel", "mla prefill mha", pt + " tok " + h + "h", ms, 2.0 * pt * (h * 448 + 64), pairs * h * 2 * (192 + 128), "");
            }
            try (CudaKvCache cache = (CudaKvCache) g.kvCache(new KvLayout.Mla(1, 512, 64), pt + 8)) {
                int h = 16;
                g.begin(pre);
                Tensor ql = g.upload(normal(r, pt * h * 512), pt, h * 512), q = g.upload(normal(r, pt * h * 192), pt, h * 192);
                Tensor lat = g.upload(normal(r, pt * 512), pt, 512), kr = g.upload(normal(r, pt * 64), pt, 64), out = g.tensor(pt, h * 512);
                Runnable step = () -> g.mlaAttention(new MlaQuery(cache, 0, ql.heads(h, 512), q.heads(h, 192, 128, 64), lat, kr, 0.1f), out.heads(h, 512));
                step.run();
                double ms = g.device().timeMs(step, 3);
                record("kernel", "mla prefill absorbed", pt + " tok " + h + "h", ms, 2.0 * pt * 576, pairs * h * 2 * (576 + 512), "");
            }
            moeLayers(g, List.of(), r, new int[]{1, 8, 64, 512, 4096}, true);
        }
    }

    /**
     * MLA decode (absorbed), R1: 128 heads, latent 512, rope 64, {@code contexts} keys per sequence: the tensor-core
     * kernel over a bf16 cache (g's), over an FP8 cache, and the generic kernel (backends on g's device with
     * --kv-cache-dtype fp8_e4m3, and with kiln.cuda.mlaTc off; the generic one at 4,096 keys or fewer). Bytes: the
     * cache entries read.
     */
    private void mlaDecode(CudaBackend g, Random r, int[] batches, int[] contexts) {
        int heads = 128;
        CudaOptions o = g.options().withActivationBytes(1L << 30).withFp8KvCache(false);
        try (CudaBackend fp8 = new CudaBackend(g.device(), false, o.withFp8KvCache(true));
             CudaBackend generic = new CudaBackend(g.device(), false, o.withFlags(o.flags().withMlaTc(false)))) {
            for (int ctx : contexts) {
                for (int b : batches) {
                    ForwardBatch batch = decodeBatch(b, ctx, r, 1000);
                    for (CudaBackend k : new CudaBackend[]{g, fp8, generic}) {
                        if (k == generic && ctx > 4096) continue;
                        try (CudaKvCache cache = (CudaKvCache) k.kvCache(new KvLayout.Mla(1, 512, 64), b * (ctx + 1) + 8)) {
                            cache.zero();
                            k.begin(batch);
                            Tensor ql = k.upload(normal(r, b * heads * 512), b, heads * 512), q = k.upload(normal(r, b * heads * 192), b, heads * 192);
                            Tensor lat = k.upload(normal(r, b * 512), b, 512), kr = k.upload(normal(r, b * 64), b, 64), out = k.tensor(b, heads * 512);
                            MlaQuery query = new MlaQuery(cache, 0, ql.heads(heads, 512), q.heads(heads, 192, 128, 64), lat, kr, 0.1f);
                            Runnable step = () -> k.mlaAttention(query, out.heads(heads, 512));
                            step.run();
                            double ms = k.device().timeMs(step, k == generic ? 3 : 20);
                            String name = k == generic ? "mla decode (generic)" : k.options().fp8KvCache() ? "mla decode (fp8 cache)" : "mla decode";
                            record("kernel", name, "bs " + b + " ctx " + ctx + " 128h", ms, (double) b * (ctx + 1) * 576 * cache.dtype.bytes,
                                    (double) b * (ctx + 1) * heads * 2 * (576 + 512), "");
                        }
                    }
                }
            }
        }
    }

    /**
     * The MoE layer alone at R1's shape (256 FP8 experts of 7168 x 2048, top 8 of 8 groups, 4 kept, sigmoid + bias)
     * and, unless {@code r1Only}, V2-Lite's (64 bf16 experts of 2048 x 1408, top 6, softmax), at each token count; with
     * {@code others} also on further backends (other switches) reading the same experts, for side-by-side rows.
     */
    private void moeLayers(CudaBackend g, List<CudaBackend> others, Random r, int[] tokenCounts, boolean r1Only) {
        record Shape(String tag, DType dt, int experts, int hidden, int inter, MoeRouting routing) {}
        List<Shape> shapes = new ArrayList<>(List.of(new Shape("fp8 256e top8", DType.F8_E4M3, 256, 7168, 2048,
                new MoeRouting(MoeRouting.Scoring.SIGMOID, MoeRouting.Method.GROUP_LIMITED, 256, 8, 8, 4, true, 2.5f))));
        if (!r1Only) shapes.add(new Shape("bf16 64e top6", DType.BF16, 64, 2048, 1408,
                new MoeRouting(MoeRouting.Scoring.SOFTMAX, MoeRouting.Method.GREEDY, 64, 6, 1, 1, false, 1f)));
        for (Shape sh : shapes) {
            int e = sh.experts(), hidden = sh.hidden(), inter = sh.inter(), topK = sh.routing().topK();
            List<Weight> gate = new ArrayList<>(), up = new ArrayList<>(), down = new ArrayList<>();
            TensorData sIn = scales(inter, hidden), sOut = scales(hidden, inter);
            for (int i = 0; i < e; i++) {
                if (sh.dt() == DType.F8_E4M3) {
                    gate.add(g.weight(fp8("g", inter, hidden, 10L * i), sIn, 128, 128));
                    up.add(g.weight(fp8("u", inter, hidden, 10L * i + 1), sIn, 128, 128));
                    down.add(g.weight(fp8("d", hidden, inter, 10L * i + 2), sOut, 128, 128));
                } else {
                    gate.add(g.weight(bf16("g", inter, hidden, 10L * i), null, 0, 0));
                    up.add(g.weight(bf16("u", inter, hidden, 10L * i + 1), null, 0, 0));
                    down.add(g.weight(bf16("d", hidden, inter, 10L * i + 2), null, 0, 0));
                }
            }
            Backend.Experts experts = g.experts(gate, up, down);
            float[] zeroBias = new float[e];
            for (int t : tokenCounts) {
                float[] x = normal(r, t * hidden), logits = normal(r, t * e);
                List<CudaBackend> runs = new ArrayList<>(List.of(g));
                runs.addAll(others);
                for (CudaBackend k : runs) {
                    k.begin(simple(t));
                    Tensor xt = k.upload(x, t, hidden), lt = k.upload(logits, t, e), out = k.tensor(t, hidden);
                    Weight bias = sh.routing().scoring() == MoeRouting.Scoring.SIGMOID ? k.vector(zeroBias) : null;
                    Runnable layer = () -> k.moe(xt, k.route(lt, bias, sh.routing()), experts, out);
                    layer.run();
                    long mark = k.mark();
                    double ms = k.device().timeMs(() -> {
                        layer.run();
                        k.release(mark);
                    }, t >= 2048 ? 5 : 10);
                    double touched = e * (1 - Math.pow(1 - (double) topK / e, t));
                    String form = others.isEmpty() ? "" : " " + moeTag(k);
                    record("kernel", "moe layer " + sh.tag() + form, t + " tok", ms, touched * 3.0 * hidden * inter * (sh.dt() == DType.BF16 ? 2 : 1),
                            2.0 * t * topK * 3 * hidden * inter, "");
                }
            }
        }
    }

    private static String moeTag(CudaBackend b) {
        CudaFlags f = b.options().flags();
        if (f.moeStagedMinTokens() > 0) return "staged>=" + f.moeStagedMinTokens();
        return f.moeMma() && f.moeMmaMaxTokens() > 8 ? "mma<=" + f.moeMmaMaxTokens() : "no-mma";
    }

    /**
     * The MoE layers of R1 and V2-Lite from 16 to 8,192 tokens with moe_mma off, with moe_mma for every size, and
     * with moe_staged from 9 tokens.
     */
    private void moe() {
        try (CudaBackend base = backend(8L << 30)) {
            CudaOptions o = base.options();
            try (CudaBackend noMma = new CudaBackend(base.device(), false, o.withFlags(o.flags().withMoeMmaMaxTokens(0)));
                 CudaBackend mma = new CudaBackend(base.device(), false, o.withFlags(o.flags().withMoeMmaMaxTokens(Integer.MAX_VALUE)));
                 CudaBackend staged = new CudaBackend(base.device(), false, o.withFlags(o.flags().withMoeStagedMinTokens(9)))) {
                moeLayers(noMma, List.of(mma, staged), new Random(5), new int[]{16, 64, 256, 512, 1024, 2048, 4096, 8192}, false);
            }
        }
    }
}
