package kiln.model;

import kiln.backend.TracingBackend;
import kiln.backend.cpu.CpuBackend;
import kiln.engine.SimpleGenerator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DeepSeek MLA prefill in the MHA form (context gathered from the cache, k_nope and v expanded per head, causal
 * attention over 192-wide keys; what the GPU runs in bf16) on the CPU in float32, against HuggingFace's logits at
 * FixtureTest's tolerance: whole prompts, chunked prefill over a cached prefix (chunks of 37 and 16), and a batch
 * mixing a fresh prompt with a sequence that has a prefix. Also checks the MHA ops really
 * ran (a trace of one forward) and that the two forms agree closely with each other.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MhaPrefillFixtureTest {
    private final Map<String, Model> mha = new HashMap<>(), absorbed = new HashMap<>();
    private final Map<String, Fixture> fixtures = new HashMap<>();
    private final Map<String, TracingBackend> traces = new HashMap<>();
    /** The prompt (129 tokens) whose forward is traced to prove the MHA ops ran. */
    private static final int TRACED = 4;

    @BeforeAll
    void load() {
        for (String name : List.of("deepseek-v3-tiny", "deepseek-v3-tiny-fp8", "deepseek-v2-lite-tiny")) {
            fixtures.put(name, Fixture.load(name));
            TracingBackend t = new TracingBackend(new CpuBackend(true));
            t.tracing(false);
            traces.put(name, t);
            mha.put(name, Models.load(Fixture.ROOT.resolve(name), Models.LoadFormat.AUTO, t));
            absorbed.put(name, Models.load(Fixture.ROOT.resolve(name), Models.LoadFormat.AUTO, new CpuBackend()));
        }
    }

    @AfterAll
    void close() {
        mha.values().forEach(Model::close);
        absorbed.values().forEach(Model::close);
    }

    private static void assertClose(float[] ref, float[] got, double tol, String what) {
        assertEquals(ref.length, got.length, what + ": length");
        double scale = 0, worst = 0;
        int at = -1;
        for (float v : ref) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < ref.length; i++) {
            double err = Math.abs(ref[i] - got[i]);
            if (!(err <= worst)) {
                worst = err;
                at = i;
            }
        }
        assertTrue(worst <= tol * scale, what + ": max error " + worst + " at " + at + " exceeds " + tol + " x " + scale);
    }

    private static float[] concat(List<float[]> parts) {
        int n = parts.stream().mapToInt(p -> p.length).sum(), at = 0;
        float[] out = new float[n];
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"deepseek-v3-tiny", "deepseek-v3-tiny-fp8", "deepseek-v2-lite-tiny"})
    void wholePromptsMatchTransformersAndTheAbsorbedForm(String name) {
        Fixture f = fixtures.get(name);
        TracingBackend trace = traces.get(name);
        for (int p = 0; p < f.prompts().length; p++) {
            float[] got, ref;
            trace.clear();
            trace.tracing(p == TRACED);
            try (var gen = new SimpleGenerator(mha.get(name), 512)) {
                got = gen.step(List.of(gen.start(f.prompts()[p])), 0, true);
            }
            trace.tracing(false);
            if (p == TRACED) {
                assertTrue(f.prompts()[p].length >= Deepseek.MHA_MIN_TOKENS, name + ": traced prompt too short for the MHA form");
                long ops = trace.entries().stream().filter(e -> e.op().equals("mla_prefill_attention")).count();
                assertEquals(mha.get(name).config().numLayers(), ops, name + ": MHA prefill attention ops in the first forward");
                assertTrue(trace.entries().stream().noneMatch(e -> e.op().equals("mla_attention")), name + ": absorbed attention ran in an MHA prefill");
            }
            trace.clear();
            try (var gen = new SimpleGenerator(absorbed.get(name), 512)) {
                ref = gen.step(List.of(gen.start(f.prompts()[p])), 0, true);
            }
            assertClose(f.logits()[p], got, FixtureTest.TOLERANCE, name + " prompt " + p);
            assertClose(ref, got, 1e-4, name + " prompt " + p + " against the absorbed form");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"deepseek-v3-tiny", "deepseek-v3-tiny-fp8", "deepseek-v2-lite-tiny"})
    void chunksOverACachedPrefixMatchTransformers(String name) {
        Fixture f = fixtures.get(name);
        int[] prompt = f.prompts()[5];
        for (int chunk : new int[]{37, 16}) {  // a last chunk under Deepseek.MHA_MIN_TOKENS runs absorbed
            List<float[]> parts = new ArrayList<>();
            try (var gen = new SimpleGenerator(mha.get(name), 512)) {
                var seq = gen.start(prompt);
                for (int fed = 0; fed < prompt.length; fed += chunk) parts.add(gen.step(List.of(seq), chunk, true));
            }
            assertClose(f.logits()[5], concat(parts), FixtureTest.TOLERANCE, name + " chunks of " + chunk + " over " + prompt.length + " tokens");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"deepseek-v3-tiny", "deepseek-v3-tiny-fp8", "deepseek-v2-lite-tiny"})
    void aBatchOfAFreshPromptAndAPrefixedOneMatchesTransformers(String name) {
        Fixture f = fixtures.get(name);
        int vocab = f.vocab();
        int[] a = f.prompts()[2], b = f.prompts()[5];
        int prefix = Math.min(20, b.length - 2);
        try (var gen = new SimpleGenerator(mha.get(name), 1024)) {
            var sb = gen.start(b);
            gen.step(List.of(sb), prefix, false);
            var sa = gen.start(a);
            float[] both = gen.step(List.of(sa, sb), 0, true);
            assertClose(f.logits()[2], Arrays.copyOfRange(both, 0, a.length * vocab), FixtureTest.TOLERANCE, name + " fresh prompt in a mixed batch");
            assertClose(Arrays.copyOfRange(f.logits()[5], prefix * vocab, b.length * vocab), Arrays.copyOfRange(both, a.length * vocab, both.length),
                    FixtureTest.TOLERANCE, name + " prompt after a cached prefix of " + prefix + " in a mixed batch");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"deepseek-v3-tiny", "deepseek-v3-tiny-fp8", "deepseek-v2-lite-tiny"})
    void greedyDecodeAfterAnMhaPrefillMatchesTransformers(String name) {
        Fixture f = fixtures.get(name);
        int vocab = f.vocab();
        for (int p = 0; p < f.prompts().length; p++) {
            try (var gen = new SimpleGenerator(mha.get(name), 512)) {
                var seq = gen.start(f.prompts()[p]);
                float[] logits = gen.step(List.of(seq), 0, false);
                for (int step = 0; step < f.greedy()[p].length; step++) {
                    int token = SimpleGenerator.argmax(logits, 0, vocab);
                    assertEquals(f.greedy()[p][step], token, name + " prompt " + p + " greedy step " + step);
                    if (f.margins()[p][step] < FixtureTest.MARGIN) break;
                    gen.append(seq, token);
                    logits = gen.step(List.of(seq), 0, false);
                }
            }
        }
    }
}
