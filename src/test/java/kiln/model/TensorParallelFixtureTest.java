package kiln.model;

import kiln.backend.cpu.CpuBackend;
import kiln.config.ConfigException;
import kiln.engine.SimpleGenerator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Tensor parallelism on in-process CPU ranks against HuggingFace's references: every fixture whose shapes divide
 * gives, at tp 2 and 4, logits at every prompt position within the fixtures' tolerance and the same greedy tokens as
 * one rank; shapes that cannot be split fail at load naming --tp, the tensor and the tp values that would work.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TensorParallelFixtureTest {
    private final CpuBackend backend = new CpuBackend(), mhaBackend = new CpuBackend(true);
    private final Map<String, Model> single = new HashMap<>();

    @AfterAll
    void close() {
        single.values().forEach(Model::close);
    }

    private Model load(String name, int tp) {
        return Models.load(Fixture.ROOT.resolve(name), Models.LoadFormat.AUTO, backend, tp);
    }

    /** DeepSeek prefill in the MHA form (as on a GPU) at tp 2: each rank expands only its heads' keys and values. */
    @Test
    void mhaFormPrefillOnRanksMatchesTransformers() {
        Fixture f = Fixture.load("deepseek-v3-tiny");
        try (Model model = Models.load(f.dir(), Models.LoadFormat.AUTO, mhaBackend, 2)) {
            for (int p = 0; p < f.prompts().length; p++) {
                float[] ref = f.logits()[p];
                double scale = 0;
                for (float v : ref) scale = Math.max(scale, Math.abs(v));
                double err = maxError(ref, allLogits(model, f.prompts()[p]));
                assertTrue(err <= FixtureTest.TOLERANCE * scale, "prompt " + p + ": max logit error " + err + " exceeds " + FixtureTest.TOLERANCE + " x " + scale);
            }
        }
    }

    /** Greedy tokens of prompt p, up to the first step where HF's top-1/top-2 margin is too small to compare. */
    private static int[] greedy(Model model, Fixture f, int p) {
        List<Integer> out = new ArrayList<>();
        try (var gen = new SimpleGenerator(model, 512)) {
            var seq = gen.start(f.prompts()[p]);
            float[] logits = gen.step(List.of(seq), 0, false);
            for (int step = 0; step < f.greedy()[p].length; step++) {
                int token = SimpleGenerator.argmax(logits, 0, f.vocab());
                out.add(token);
                if (f.margins()[p][step] < FixtureTest.MARGIN) break;
                gen.append(seq, token);
                logits = gen.step(List.of(seq), 0, false);
            }
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    @ParameterizedTest(name = "{0} at tp {1}")
    @CsvSource({"deepseek-v3-tiny, 2", "deepseek-v3-tiny, 4", "deepseek-v3-tp-fp8, 2", "deepseek-v3-tp-fp8, 4",
            "deepseek-v2-lite-tiny, 2", "deepseek-v2-lite-tiny, 4",
            "qwen2-tiny, 2", "llama-tiny, 2", "llama-tiny, 4"})
    void logitsAndGreedyTokensMatchOneRankAndTransformers(String name, int tp) {
        Fixture f = Fixture.load(name);
        Model one = single.computeIfAbsent(name, n -> load(n, 1));
        try (Model model = load(name, tp)) {
            assertTrue(model instanceof TensorParallelModel m && m.size() == tp);
            double worst = 0, worstOne = 0;
            for (int p = 0; p < f.prompts().length; p++) {
                float[] ref = f.logits()[p];
                double scale = 0;
                for (float v : ref) scale = Math.max(scale, Math.abs(v));
                double err = maxError(ref, allLogits(model, f.prompts()[p]));
                assertTrue(err <= FixtureTest.TOLERANCE * scale, name + " tp " + tp + " prompt " + p + ": max logit error " + err
                        + " exceeds " + FixtureTest.TOLERANCE + " x " + scale);
                worst = Math.max(worst, err / scale);
                worstOne = Math.max(worstOne, maxError(ref, allLogits(one, f.prompts()[p])) / scale);

                int[] tokens = greedy(model, f, p);
                assertArrayEquals(greedy(one, f, p), tokens, name + " tp " + tp + " prompt " + p + ": greedy tokens differ from tp 1");
                assertArrayEquals(Arrays.copyOf(f.greedy()[p], tokens.length), tokens, name + " tp " + tp + " prompt " + p + ": greedy tokens differ from transformers");
            }
            System.out.printf("tensor parallel fixture %s tp %d: max logit error %.3g of the largest reference logit (tp 1: %.3g)%n",
                    name, tp, worst, worstOne);
        }
    }

    private static float[] allLogits(Model model, int[] prompt) {
        try (var gen = new SimpleGenerator(model, 512)) {
            return gen.step(List.of(gen.start(prompt)), 0, true);
        }
    }

    private static double maxError(float[] ref, float[] got) {
        assertEquals(ref.length, got.length);
        double err = 0;
        for (int i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(ref[i] - got[i]));
        return err;
    }

    @Test
    void theFp8FixtureCannotBeSplitInTwoAndSaysWhy() {
        ConfigException e = assertThrows(ConfigException.class, () -> load("deepseek-v3-tiny-fp8", 2));
        String m = e.getMessage();
        // 4 heads of 48 query rows: two ranks would hold 96 rows each, inside the first 128-row scale block
        assertTrue(m.startsWith("--tp 2: model.layers.0.self_attn.q_b_proj.weight [192, 96]"), m);
        assertTrue(m.contains("is stored FP8 with 128x128 scale blocks, which shards of 96 rows would cut"), m);
        assertTrue(m.endsWith("tp values that keep whole blocks: 1"), m);
    }

    @Test
    void headsThatTpDoesNotDivideFailAtLoad() {
        // qwen2-tiny has 6 query heads and 2 key/value heads
        ConfigException e = assertThrows(ConfigException.class, () -> load("qwen2-tiny", 4));
        assertTrue(e.getMessage().startsWith("--tp 4: model.layers.0.self_attn.q_proj.weight [192, 192] (split by rows in 6 heads) "
                + "cannot be shared evenly by 4 ranks; --tp must divide 6: 1, 2, 3, 6"), e.getMessage());
    }
}
