package kiln.backend.cuda;

import kiln.backend.MoeRouting;
import kiln.backend.cuda.AttentionKernels.PagedBatch;
import kiln.backend.cuda.AttentionKernels.Partials;
import kiln.backend.cuda.AttentionKernels.Shape;
import kiln.backend.cuda.ElementwiseKernels.RopeHeads;
import kiln.backend.cuda.ElementwiseKernels.RopeTable;
import kiln.backend.cuda.GemmKernels.ExpertTable;
import kiln.backend.cuda.GemmKernels.WeightArgs;
import kiln.io.DType;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Java launchers against the CUDA sources, without a GPU: every typed launcher method runs (every variant it
 * can pick) against a recorder, and each launch's entry point and argument list (pointer, long, int, float, in order)
 * must be what its .cuh file declares. Every entry point the sources declare must be launched by some launcher, and
 * every launcher method must have run here. On a GPU, Kernels makes the same comparison with the loaded module.
 */
class KernelSignaturesTest {
    private static final Path SOURCES = Path.of("src", "main", "cuda");

    /** One launch as a launcher assembled it. */
    private record Call(String kernel, String types, String launcher) {}

    /** Records launches instead of making them; remembers which launcher method assembled each. */
    private static final class Recorder implements KernelLauncher, KernelLauncher.Launch {
        final List<Call> calls = new ArrayList<>();
        private final StringBuilder types = new StringBuilder();
        private String kernel, launcher;

        @Override
        public Launch fn(String name) {
            kernel = name;
            types.setLength(0);
            // the outermost launcher frame: a public launcher may assemble its launch in a private helper
            launcher = StackWalker.getInstance(StackWalker.Option.RETAIN_CLASS_REFERENCE)
                    .walk(s -> s.filter(f -> f.getDeclaringClass().getSimpleName().endsWith("Kernels") && !f.getDeclaringClass().isInterface())
                            .map(f -> f.getDeclaringClass().getSimpleName() + "." + f.getMethodName()).reduce((first, last) -> last).orElse("?"));
            return this;
        }

        @Override
        public Launch ptr(long p) {
            types.append('p');
            return this;
        }

        @Override
        public Launch i64(long v) {
            types.append('l');
            return this;
        }

        @Override
        public Launch i32(int v) {
            types.append('i');
            return this;
        }

        @Override
        public Launch f32(float v) {
            types.append('f');
            return this;
        }

        @Override
        public void launch(int gx, int gy, int gz, int block, int sharedBytes) {
            calls.add(new Call(kernel, types.toString(), launcher));
        }
    }

    /** Every entry point of every .cuh file: name -> (file, types). */
    private static Map<String, String[]> sourceEntryPoints() throws Exception {
        Map<String, String[]> all = new LinkedHashMap<>();
        try (Stream<Path> files = Files.list(SOURCES)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".cuh")).sorted().toList()) {
                CudaEntryPoints.read(f).forEach((name, types) -> {
                    String[] previous = all.put(name, new String[]{f.getFileName().toString(), types});
                    if (previous != null) throw new IllegalStateException(name + " is declared in " + previous[0] + " and " + f.getFileName());
                });
            }
        }
        return all;
    }

    /** Runs every launcher method with every variant it can pick (activation type, weight type, row-count build). */
    private static List<Call> launchEverything() {
        Recorder r = new Recorder();
        DeviceHeads h = new DeviceHeads(0, 8, 8);
        CudaMoe.Alignment tiles = new CudaMoe.Alignment(8, 8, 4, 0, 0, 0, 0, 0, 0);
        RopeHeads rh = new RopeHeads(0, 8, 1, 64, 0);
        RopeTable rt = new RopeTable(0, 0, 32, 1f, true);

        ElementwiseKernels e = new ElementwiseKernels(r);
        for (Precision p : Precision.values()) {
            for (DType t : new DType[]{DType.BF16, DType.F32}) e.embed(p, t, 0, 0, 64, 0, 64, 1);
            e.rmsnorm(p, 0, 64, 0, 64, 0, 1e-6f, 0, 64, 64, 1);
            e.add(p, 0, 64, 0, 64, 64, 1);
            e.addBias(p, 0, 64, 0, 64, 1);
            e.siluMul(p, 0, 64, 0, 64, 0, 64, 64, 1);
            e.rope(p, rh, rt, 1);
            e.rope2(p, rh, rh, rt, 1);
            e.kvStore(p, 0, 64, 64, 0, 0, 128, 0, 1);
            e.kvStore2(p, p.dtype, 0, 64, 64, 0, 64, 64, 0, 0, 128, 1);
            e.gatherRows(p, 0, 64, 0, 64, 0, 64, 1, 256);
            e.gatherKv(p, p.dtype, 0, 64, 0, 64, 0, 64, 1, 128);
            e.gatherRowsDiv(p, 0, 64, 0, 2, 64, 0, 64, 1);
            e.toF32(p.dtype, 0, 64, 64, 0, 1);
            e.fromF32(p, 0, 64, 0, 64, 1);
            if (p == Precision.BFLOAT16) {  // the FP8 latent cache (bf16 activations only)
                e.kvStore2(p, DType.F8_E4M3, 0, 64, 64, 0, 64, 64, 0, 0, 128, 1);
                e.gatherKv(p, DType.F8_E4M3, 0, 64, 0, 64, 0, 64, 1, 128);
            }
            e.argmax(p, 0, 64, 64, 0, 1);
            e.sample(p, 0, 64, 64, 0, 0, 0, 0, 0, 1);
        }
        e.rmsnormVec(0, 64, 0, 64, 0, 1e-6f, 0, 64, 64, 1);
        e.resolveFutureTokens(0, 0, 1);
        e.dequantFp8(0, 0, 1, 128, 128, 0, 128, 1);
        e.quantFp8(0, 128, 128, 0, 0, 16, 1, true);
        e.copyRows(0, 64, 64, 0, 64, 1);

        GemmKernels g = new GemmKernels(r);
        for (DType w : new DType[]{DType.F32, DType.BF16, DType.F8_E4M3}) {
            WeightArgs wa = new WeightArgs(w, 0, 0, 1, 128);
            ExpertTable et = new ExpertTable(w, 0, 0, 1, 128);
            g.gemmF32(0, 64, 0, wa, 0, 0, 0, 64, 0, 1, 64, 64, 1);
            g.gemmTc(0, 64, 0, wa, 0, 0, 0, 64, 0, 1, 64, 64, 1);
            g.moeGemmF32(0, 64, 0, 1, et, tiles, 0, 64, 64, 64);
            g.moeGemmTc(0, 64, 0, 1, et, tiles, 0, 64, 64, 64);
            if (w == DType.F32) continue;  // the GEMVs read bf16 and fp8 weights
            g.gemv(0, 64, wa, 0, 0, 64, 1, 64, 64);
            g.gemvGateUp(0, 64, wa, wa, 0, 64, 1, 64, 64);
            g.moeGemv(0, 64, 0, 1, et, tiles, 0, 64, 64, 64);
            g.moeGemvGateUp(0, 64, 0, 1, et, et, tiles, 0, 64, 64, 64);
        }

        Gemv2Kernels v = new Gemv2Kernels(r);
        MoeMmaKernels mma = new MoeMmaKernels(r);
        for (DType w : new DType[]{DType.BF16, DType.F8_E4M3}) {
            WeightArgs wa = new WeightArgs(w, 0, 0, 1, 128);
            ExpertTable et = new ExpertTable(w, 0, 0, 1, 128);
            for (int m : new int[]{1, 8}) {
                v.gemv2(m, 0, 64, 0, wa, 0, 0, 0, 64, 0, 64, 64, 1);
                v.gemv2SplitK(m, 0, 64, wa, 0, 0, 64, 64, 2048, 2);
                v.gemv2Pair(m, 0, 64, wa, 0, 64, 64, wa, 0, 64, 64, 64);
                v.gemv2GateUp(m, 0, 64, wa, wa, 0, 64, 64, 64);
                v.moeGemv2(m, 0, 64, 0, 1, et, tiles, 0, 64, 64, 64);
                v.moeGemv2GateUp(m, 0, 64, 0, 1, et, et, tiles, 0, 64, 64, 64, 8);
            }
            mma.moeMma(0, 64, 0, 1, et, tiles, 0, 64, 64, 64);
            mma.moeMmaGateUp(0, 64, 0, 1, et, et, tiles, 0, 64, 64, 64);
            MoeStagedKernels staged = new MoeStagedKernels(r);
            CudaMoe.Alignment tiles128 = new CudaMoe.Alignment(8, MoeStagedKernels.TILE_ROWS, 16, 0, 0, 0, 0, 0, 0);
            staged.moeStaged(0, 64, 0, 1, et, tiles128, 0, 64, 64, 64);
            staged.moeStagedGateUp(0, 64, 0, 1, et, et, tiles128, 0, 64, 64, 64);
            LinearMmaKernels lm = new LinearMmaKernels(r);
            lm.linear(8, 0, 128, wa, 0, 0, 64, 64, 128);
            lm.gateUp(8, 0, 128, wa, wa, 0, 64, 64, 128);
        }
        for (int m : new int[]{1, 8}) for (int k : new int[]{128, 512}) v.gemvHeads(m, k, h, 0, 0, h, 64, 16);
        v.gemvHeadsMerge(0, 512, 0, 0, 0, 128, 128, 0, 4, 64, new Partials(0, 0), 16);

        AttentionKernels a = new AttentionKernels(r);
        PagedBatch pb = new PagedBatch(0, 0, 0, 0);
        for (Precision p : Precision.values()) {
            a.attention(p, p.dtype, h, h, 0, new Shape(16, 16, 1, 512, 64, 512, 576, 0, 0, 0), pb, 0.1f, h, new Partials(0, 0), 1, 2);
            if (p == Precision.BFLOAT16) a.attention(p, DType.F8_E4M3, h, h, 0, new Shape(16, 16, 1, 32, 16, 32, 48, 0, 0, 0), pb, 0.1f, h, new Partials(0, 0), 1, 2);
            a.combine(p, 0, 2, 16, 512, new Partials(0, 0), h, 1);
        }
        MlaDecodeKernels md = new MlaDecodeKernels(r);
        for (DType cache : new DType[]{DType.BF16, DType.F8_E4M3}) {
            md.attentionTc(cache, h, h, 0, 576, 16, 512, 64, pb, 0.1f, h, new Partials(0, 0), 1, 2);
            md.attentionTc2(cache, h, h, 0, 576, 16, 512, 64, pb, 0.1f, h, new Partials(0, 0), 64, MlaDecodeKernels.NewEntries.none(0), 1, 2);
        }
        md.combine2(0, 2, 16, 512, new Partials(0, 0), h, 64, 1);
        md.gqaAttentionTc(h, 0, 2048, 32, 4, 128, 0, 1024, 128, pb, 0.1f, h, new Partials(0, 0), 64, true, 1, 2);
        MlaPrefillKernels mp = new MlaPrefillKernels(r);
        mp.prefill(h, h, h, 0, 64, h, 0, 0.1f, h, 16, 4);
        for (int dim : new int[]{64, 128}) mp.gqaPrefill(h, h, h, 4, 0, 0.1f, h, 32, dim, 4);

        MoeKernels moe = new MoeKernels(r);
        MoeKernels.Gate gate = MoeKernels.Gate.of(new MoeRouting(MoeRouting.Scoring.SIGMOID, MoeRouting.Method.GROUP_LIMITED, 64, 6, 8, 4, true, 2.5f), 0);
        for (Precision p : Precision.values()) {
            moe.route(p, 0, 64, gate, 0, 0, 1);
            moe.routeAlign(p, 0, 64, 1, gate, 0, 0, tiles);
            moe.combine(p, 0, 64, 0, 0, 6, 64, 0, 64, 0, 0, false, 1);
        }
        moe.align(0, 6, tiles);

        FusedDecodeKernels f = new FusedDecodeKernels(r);
        FusedDecodeKernels.LatentNorm norm = new FusedDecodeKernels.LatentNorm(0, 576, 0, 1e-6f, 0, 512, 512);
        for (int m : new int[]{1, 8}) {
            f.routerRoute(m, 0, 2048, 0, 2048, 1, 0, 64, 0, gate, 0, 0, tiles);
            f.prepare(m, h, 0, h, 512, 16, rh, rh, rt, norm);
        }
        f.normRope(rh, rh, rt, norm, 1);

        CollectiveKernels c = new CollectiveKernels(r);
        for (Precision p : Precision.values()) {
            c.sum(p, 2, new long[]{0, 0}, new long[]{64, 64}, 64, 1);
            c.gatherColumns(p, 2, 0, 128, new long[]{0, 0}, new long[]{64, 64}, new int[]{64, 64}, 1);
        }

        LogitMaskKernels lm = new LogitMaskKernels(r);
        for (Precision p : Precision.values()) {
            lm.mask(p, 0, 64, 64, 0, 0, 1, 1);
            lm.bias(p, 0, 64, 0, 0, 0, 1);
        }
        return r.calls;
    }

    @Test
    void everyLaunchMatchesItsEntryPointInTheSources() throws Exception {
        Map<String, String[]> declared = sourceEntryPoints();
        assertTrue(declared.size() > 100, "read only " + declared.size() + " entry points from " + SOURCES);
        List<String> wrong = new ArrayList<>();
        for (Call c : launchEverything()) {
            String[] d = declared.get(c.kernel());
            if (d == null) wrong.add(c.launcher() + " launches " + c.kernel() + ", which no .cuh declares");
            else if (!d[1].equals(c.types())) {
                wrong.add(c.launcher() + " passes " + c.kernel() + " (" + c.types() + "), " + d[0] + " declares (" + d[1] + ")");
            }
        }
        assertEquals(List.of(), wrong, "launchers and kernels disagree (p pointer, l long, i int, f float)");
    }

    @Test
    void everyEntryPointHasALauncherAndEveryLauncherRan() throws Exception {
        List<Call> calls = launchEverything();
        Set<String> launched = new HashSet<>();
        calls.forEach(c -> launched.add(c.kernel()));
        Set<String> unlaunched = new TreeSet<>(sourceEntryPoints().keySet());
        unlaunched.removeAll(launched);
        assertEquals(Set.of(), unlaunched, "entry points no launcher launches (dead kernels, or a launcher this test does not run)");

        Set<String> ran = new HashSet<>();
        calls.forEach(c -> ran.add(c.launcher()));
        Set<String> idle = new TreeSet<>();
        for (Class<?> k : List.of(ElementwiseKernels.class, GemmKernels.class, Gemv2Kernels.class, AttentionKernels.class, MlaDecodeKernels.class,
                MlaPrefillKernels.class, MoeKernels.class, MoeMmaKernels.class, MoeStagedKernels.class, LinearMmaKernels.class, FusedDecodeKernels.class,
                CollectiveKernels.class, LogitMaskKernels.class)) {
            for (Method m : k.getDeclaredMethods()) {
                if (Modifier.isStatic(m.getModifiers()) || Modifier.isPrivate(m.getModifiers()) || m.isSynthetic()) continue;
                if (!ran.contains(k.getSimpleName() + "." + m.getName())) idle.add(k.getSimpleName() + "." + m.getName());
            }
        }
        assertEquals(Set.of(), idle, "launcher methods this test does not run");
    }

    @Test
    void eachSourceFileHasItsLauncherClass() throws Exception {
        try (Stream<Path> files = Files.list(SOURCES)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".cuh")).toList()) {
                if (CudaEntryPoints.read(f).isEmpty()) continue;  // common.cuh: helpers only
                String stem = f.getFileName().toString().replace(".cuh", "");
                StringBuilder cls = new StringBuilder();
                for (String part : stem.split("_")) cls.append(Character.toUpperCase(part.charAt(0))).append(part.substring(1));
                String name = cls + "Kernels";
                assertTrue(Files.exists(Path.of("src", "main", "java", "kiln", "backend", "cuda", name + ".java")),
                        f.getFileName() + " declares entry points but has no " + name + ".java");
            }
        }
    }
}
