package kiln.engine;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;

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
