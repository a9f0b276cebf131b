package kiln.engine;

import kiln.backend.Tensor;
import kiln.backend.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each sampling parameter does what SGLang's does, on hand-made logits where the answer is known. */
class SamplerTest {
    private static final int[] NONE = new int[0];

    private static int greedy(float[] logits, SamplingParams.Builder b, Map<Integer, Integer> counts, int[] seen, int[] banned) {
        return Sampler.sample(logits, 0, logits.length, b.temperature(0).build(), new Random(0), counts, seen, banned);
    }

    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfSeenTokens() {
        float[] logits = {5f, 4f, -1f, -1.5f};
        assertEquals(0, greedy(logits, SamplingParams.builder(), Map.of(), new int[]{0}, NONE));
        // 5 / 2 = 2.5 < 4: token 1 wins
        assertEquals(1, greedy(logits, SamplingParams.builder().repetitionPenalty(2f), Map.of(), new int[]{0}, NONE));
        // a seen negative logit gets more negative: -1 * 2 = -2 < -1.5
        float[] neg = {-1f, -1.5f};
        assertEquals(1, greedy(neg, SamplingParams.builder().repetitionPenalty(2f), Map.of(), new int[]{0}, NONE));
    }

    @Test
    void frequencyAndPresencePenaltiesCountOutputTokens() {
        float[] logits = {5f, 4f, 0f};
        Map<Integer, Integer> counts = new HashMap<>(Map.of(0, 3));
        // frequency: 5 - 0.5 * 3 = 3.5 < 4
        assertEquals(1, greedy(logits, SamplingParams.builder().frequencyPenalty(0.5f), counts, NONE, NONE));
        // presence: 5 - 1.5 = 3.5 once, however often it occurred
        assertEquals(1, greedy(logits, SamplingParams.builder().presencePenalty(1.5f), counts, NONE, NONE));
        assertEquals(0, greedy(logits, SamplingParams.builder().presencePenalty(0.5f), counts, NONE, NONE));
    }

    @Test
    void bannedTokensAreNeverChosen() {
        float[] logits = {5f, 4f, 0f};
        assertEquals(1, greedy(logits, SamplingParams.builder(), Map.of(), NONE, new int[]{0}));
    }

    @Test
    void topKTopPAndMinPCutTheCandidates() {
        // probabilities about 0.64, 0.24, 0.09, 0.03
        float[] logits = {3f, 2f, 1f, 0f};
        int[] hits = new int[4];
        Random rng = new Random(42);
        for (int i = 0; i < 4000; i++) {
            hits[Sampler.sample(logits, 0, 4, SamplingParams.builder().topK(2).build(), rng, Map.of(), NONE, NONE)]++;
        }
        assertEquals(0, hits[2] + hits[3], "top_k 2 sampled outside the two best");
        assertTrue(hits[1] > 800 && hits[1] < 1400, "top_k 2 keeps the second token at about 0.27: " + hits[1]);

        hits = new int[4];
        for (int i = 0; i < 4000; i++) {
            hits[Sampler.sample(logits, 0, 4, SamplingParams.builder().topP(0.5f).build(), rng, Map.of(), NONE, NONE)]++;
        }
        assertEquals(4000, hits[0], "top_p 0.5 is reached by the first token alone");

        hits = new int[4];
        for (int i = 0; i < 4000; i++) {
            hits[Sampler.sample(logits, 0, 4, SamplingParams.builder().minP(0.3f).build(), rng, Map.of(), NONE, NONE)]++;
        }
        // 0.24 / 0.64 = 0.37 >= 0.3 keeps token 1; 0.09 / 0.64 = 0.14 drops the rest
        assertEquals(0, hits[2] + hits[3]);
        assertTrue(hits[1] > 800, "min_p 0.3 keeps the second token: " + hits[1]);
    }

    @Test
    void temperatureFollowsTheSoftmax() {
        float[] logits = {1f, 0f};
        int ones = 0;
        Random rng = new Random(7);
        for (int i = 0; i < 20000; i++) {
            ones += Sampler.sample(logits, 0, 2, SamplingParams.builder().temperature(1f).build(), rng, Map.of(), NONE, NONE);
        }
        double p1 = 1 / (1 + Math.E);  // 0.269
        assertEquals(p1, ones / 20000.0, 0.015);
        ones = 0;
        for (int i = 0; i < 20000; i++) {
            ones += Sampler.sample(logits, 0, 2, SamplingParams.builder().temperature(0.5f).build(), rng, Map.of(), NONE, NONE);
        }
        assertEquals(1 / (1 + Math.exp(2)), ones / 20000.0, 0.015);
    }

    /**
     * Backend.sample (the CPU backend runs the interface's version, RowSampling, which the engine's host sampler uses
     * too) against its definition written out plainly (a full sort per row): same token for the same uniform, with
     * ties at the top-k and top-p cuts, cuts beyond the tokens RowSampling sorts first (top_k larger than them,
     * top_p next to 1), flat and peaked rows. This is what lets the scheduler move plain rows to the device without
     * changing a seeded request's tokens.
     */
    @Test
    void hostDrawIsBackendSampleForTheSameUniform() {
        int rows = 400, vocab = 300;
        Random rng = new Random(5);
        float[] logits = new float[rows * vocab], temperature = new float[rows], topP = new float[rows], uniform = new float[rows];
        int[] topK = new int[rows];
        int[] ks = {0, 1, 2, 7, 50, 299, 300, 400};
        float[] ps = {1f, 0.9f, 0.5f, 0.1f, 0.99999994f, 0.9999f};
        for (int r = 0; r < rows; r++) {
            // quarter-steps make ties common; a wide spread puts most tokens below the pre-sorted window
            float spread = r % 3 == 0 ? 2f : 40f;
            for (int c = 0; c < vocab; c++) logits[r * vocab + c] = Math.round(rng.nextGaussian() * spread * 4) / 4f;
            temperature[r] = new float[]{0.3f, 0.7f, 1f, 1.6f}[r % 4];
            topK[r] = ks[rng.nextInt(ks.length)];
            topP[r] = ps[rng.nextInt(ps.length)];
            uniform[r] = Sampler.uniform(rng);
        }
        try (CpuBackend cpu = new CpuBackend()) {
            Tensor t = cpu.upload(logits, rows, vocab);
            int[] device = cpu.sample(t, temperature, topK, topP, uniform), host = new int[rows], greedy = new int[rows];
            for (int r = 0; r < rows; r++) {
                host[r] = definition(logits, r * vocab, vocab, temperature[r], topK[r], topP[r], uniform[r]);
                for (int c = 1; c < vocab; c++) if (logits[r * vocab + c] > logits[r * vocab + greedy[r]]) greedy[r] = c;
            }
            assertArrayEquals(device, host);
            assertArrayEquals(cpu.argmax(t), greedy);
        }
    }

    /** Backend.sample's definition for one row, with a full sort (the test's oracle). */
    private static int definition(float[] v, int off, int cols, float temperature, int topK, float topP, float uniform) {
        float[] z = new float[cols];
        float hi = Float.NEGATIVE_INFINITY;
        for (int c = 0; c < cols; c++) hi = Math.max(hi, z[c] = v[off + c] / temperature);
        float[] sorted = z.clone();
        java.util.Arrays.sort(sorted);
        float tau = sorted[0];
        if (topK > 0 && topK < cols) tau = sorted[cols - topK];
        double total = 0;
        for (float x : z) if (x >= tau) total += Math.exp(x - hi);
        if (topP < 1) {
            double acc = 0;
            for (int i = cols - 1; i >= 0 && sorted[i] >= tau; i--) {
                acc += Math.exp(sorted[i] - hi);
                if (acc >= topP * total) {
                    tau = sorted[i];
                    break;
                }
            }
            total = 0;
            for (float x : z) if (x >= tau) total += Math.exp(x - hi);
        }
        double goal = uniform * total, acc = 0;
        int pick = -1;
        for (int c = 0; c < cols; c++) {
            if (z[c] < tau) continue;
            pick = c;
            acc += Math.exp(z[c] - hi);
            if (acc > goal) break;
        }
        return pick;
    }

    @Test
    void logprobsAreTheLogSoftmaxOfTheRawLogitsWithTheBestAlternatives() {
        float[] logits = {2f, 0f, 1f};
        Output.TokenLogprob lp = Sampler.logprob(logits, 0, 3, 1, 2);
        double lse = Math.log(Math.exp(2) + Math.exp(0) + Math.exp(1));
        assertEquals(0 - lse, lp.logprob(), 1e-6);
        assertEquals(0, lp.topIds()[0]);
        assertEquals(2, lp.topIds()[1]);
        assertEquals(2 - lse, lp.topLogprobs()[0], 1e-6);
    }
}
