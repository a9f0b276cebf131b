package kiln.model;

import kiln.backend.Backend;
import kiln.backend.cpu.CpuBackend;
import kiln.engine.SimpleGenerator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every architecture against HuggingFace transformers' float32 outputs: logits at every prompt position, greedy
 * continuations, and the invariances the engine relies on (chunked prefill, decode over the cache, batching).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FixtureTest {
    /** Logit error allowed, relative to the largest reference logit magnitude of the prompt. */
    static final double TOLERANCE = 1e-3;
    /** Greedy steps are compared up to the first whose top-1/top-2 margin is below this. */
    static final double MARGIN = 1e-3;

    private final Map<String, Model> models = new HashMap<>();
    private final Map<String, Fixture> fixtures = new HashMap<>();

    static String[] names() {
        return Fixture.NAMES;
    }

    /** The backend the fixtures run on (subclasses run the same checks on other backends). */
    protected Backend backend() {
        return new CpuBackend();
    }

    /** How the engine would wrap a loaded model (e.g. CUDA graphs for decode). */
    protected Model prepare(Model model) {
        return model;
    }

    /** How a fixture's model is loaded on the backend (subclasses load tensor-parallel ranks). */
    protected Model loadModel(java.nio.file.Path dir, Backend backend) {
        return Models.load(dir, Models.LoadFormat.AUTO, backend);
    }

    private Backend backend;
    /** Fixtures whose shapes the ranks of a subclass cannot split: why (their checks are skipped). */
    private final Map<String, String> unsplit = new HashMap<>();

    @BeforeAll
    void load() {
        backend = backend();
    }

    /**
     * A fixture and its model are loaded on first use, so that a run carrying only some fixtures (a device call
     * has 64 MiB) checks those, and only the checks of a missing one fail.
     */
    private Fixture fixture(String name) {
        return fixtures.computeIfAbsent(name, Fixture::load);
    }

    private Model model(String name) {
        if (!models.containsKey(name) && !unsplit.containsKey(name)) {
            try {
                models.put(name, prepare(loadModel(Fixture.ROOT.resolve(name), backend)));
            } catch (kiln.config.ConfigException e) {
                if (!e.getMessage().startsWith("--tp ")) throw e;
                unsplit.put(name, e.getMessage());  // TensorParallelFixtureTest checks which fixtures split
            }
        }
        org.junit.jupiter.api.Assumptions.assumeTrue(models.containsKey(name), () -> name + " does not split: " + unsplit.get(name));
        return models.get(name);
    }

    @AfterAll
    void close() {
        models.values().forEach(Model::close);
        if (backend != null) backend.close();
    }

    private static double maxAbs(float[] v) {
        double m = 0;
        for (float x : v) m = Math.max(m, Math.abs(x));
        return m;
    }

    private static void assertClose(float[] ref, float[] got, double tol, String what) {
        assertEquals(ref.length, got.length, what + ": length");
        double scale = maxAbs(ref), worst = 0;
        int at = -1;
        for (int i = 0; i < ref.length; i++) {
            double err = Math.abs(ref[i] - got[i]);
            if (!(err <= worst)) {
                worst = err;
                at = i;
            }
        }
        assertTrue(worst <= tol * scale, what + ": max error " + worst + " at " + at + " (ref " + (at >= 0 ? ref[at] : 0)
                + ", got " + (at >= 0 ? got[at] : 0) + ") exceeds " + tol + " x " + scale);
    }

    @ParameterizedTest
    @MethodSource("names")
    void logitsAtEveryPositionMatchTransformers(String name) {
        Fixture f = fixture(name);
        for (int p = 0; p < f.prompts().length; p++) {
            try (var gen = new SimpleGenerator(model(name), 512)) {
                float[] logits = gen.step(List.of(gen.start(f.prompts()[p])), 0, true);
                assertClose(f.logits()[p], logits, TOLERANCE, name + " prompt " + p);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("names")
    void greedyContinuationMatchesTransformers(String name) {
        Fixture f = fixture(name);
        int vocab = f.vocab();
        for (int p = 0; p < f.prompts().length; p++) {
            try (var gen = new SimpleGenerator(model(name), 512)) {
                var seq = gen.start(f.prompts()[p]);
                float[] logits = gen.step(List.of(seq), 0, false);
                for (int step = 0; step < f.greedy()[p].length; step++) {
                    int token = SimpleGenerator.argmax(logits, 0, vocab);
                    assertEquals(f.greedy()[p][step], token, name + " prompt " + p + " greedy step " + step);
                    if (f.margins()[p][step] < MARGIN) break;
                    gen.append(seq, token);
                    logits = gen.step(List.of(seq), 0, false);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("names")
    void chunkedPrefillGivesTheSameLogits(String name) {
        Fixture f = fixture(name);
        int[] prompt = f.prompts()[5];
        float[] whole, chunked;
        try (var gen = new SimpleGenerator(model(name), 512)) {
            whole = gen.step(List.of(gen.start(prompt)), 0, true);
        }
        try (var gen = new SimpleGenerator(model(name), 512)) {
            var seq = gen.start(prompt);
            List<Float> all = new ArrayList<>();
            for (int fed = 0; fed < prompt.length; fed += 64) {
                for (float v : gen.step(List.of(seq), 64, true)) all.add(v);
            }
            chunked = new float[all.size()];
            for (int i = 0; i < chunked.length; i++) chunked[i] = all.get(i);
        }
        assertArrayEquals(whole, chunked, name + ": chunks of 64 differ from the whole prompt");
    }

    @ParameterizedTest
    @MethodSource("names")
    void decodeOverTheCacheEqualsRecomputing(String name) {
        Fixture f = fixture(name);
        int[] prompt = f.prompts()[3];
        int vocab = f.vocab();
        try (var cached = new SimpleGenerator(model(name), 512)) {
            var seq = cached.start(prompt);
            float[] logits = cached.step(List.of(seq), 0, false);
            for (int step = 0; step < 8; step++) {
                int token = SimpleGenerator.argmax(logits, 0, vocab);
                cached.append(seq, token);
                logits = cached.step(List.of(seq), 0, false);
                try (var fresh = new SimpleGenerator(model(name), 512)) {
                    float[] recomputed = fresh.step(List.of(fresh.start(seq.tokens())), 0, false);
                    assertClose(recomputed, logits, 1e-5, name + " decode step " + step);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("names")
    void batchedPromptsGetTheirOwnResults(String name) {
        Fixture f = fixture(name);
        int vocab = f.vocab();
        try (var gen = new SimpleGenerator(model(name), 2048)) {
            List<SimpleGenerator.Sequence> seqs = new ArrayList<>();
            for (int[] prompt : f.prompts()) seqs.add(gen.start(prompt));
            float[] logits = gen.step(seqs, 0, false);
            for (int p = 0; p < seqs.size(); p++) {
                float[] alone;
                try (var single = new SimpleGenerator(model(name), 512)) {
                    alone = single.step(List.of(single.start(f.prompts()[p])), 0, false);
                }
                float[] row = java.util.Arrays.copyOfRange(logits, p * vocab, (p + 1) * vocab);
                assertArrayEquals(alone, row, name + ": prompt " + p + " in a batch differs from alone");
            }
        }
    }
}
