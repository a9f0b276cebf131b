package kiln.engine;

import kiln.backend.RowSampling;

import java.util.Arrays;
import java.util.Map;
import java.util.Random;

/**
 * Picks the next token from one row of logits on the host: penalties, then greedy or temperature / top-k / top-p /
 * min-p sampling with the sequence's own random stream (so a seed reproduces whatever else is batched). Logprobs
 * are computed from the raw logits, before penalties and temperature.
 *
 * <p>Without penalties, bans and min-p, a row is sampled exactly as {@link kiln.backend.Backend#sample} defines it
 * ({@link RowSampling}, with uniform drawn by {@link #uniform}), so the scheduler may hand such rows to the device
 * instead ({@link StepSampler}). On the CPU backend the two paths run the same code; on a GPU they agree except
 * where rounding (float sums, bisected thresholds) moves a cut or the drawn point across a token boundary.
 */
final class Sampler {
    private Sampler() {}

    /**
     * The one random number a non-greedy sample draws from its sequence's stream, on the host and for the device
     * alike: a float in [0, 1) as {@link kiln.backend.Backend#sample} takes it. Greedy samples draw nothing.
     */
    static float uniform(Random rng) {
        return rng.nextFloat();
    }

    /**
     * @param counts  how often each token occurs in the output so far (frequency / presence penalties)
     * @param seen    tokens of prompt and output (repetition penalty)
     * @param banned  tokens that may not be chosen now (EOS and stop tokens before min_new_tokens)
     */
    static int sample(float[] logits, int off, int vocab, SamplingParams p, Random rng, Map<Integer, Integer> counts,
                      int[] seen, int[] banned) {
        boolean penalised = p.repetitionPenalty() != 1f || p.frequencyPenalty() != 0f || p.presencePenalty() != 0f
                || banned.length > 0;
        float[] row;
        int base;
        if (penalised) {
            row = Arrays.copyOfRange(logits, off, off + vocab);
            base = 0;
            if (p.repetitionPenalty() != 1f) {
                for (int t : seen) {
                    if (t >= 0 && t < vocab) row[t] = row[t] > 0 ? row[t] / p.repetitionPenalty() : row[t] * p.repetitionPenalty();
                }
            }
            for (var e : counts.entrySet()) {
                int t = e.getKey();
                if (t < 0 || t >= vocab) continue;
                row[t] -= p.frequencyPenalty() * e.getValue() + p.presencePenalty();
            }
            for (int t : banned) if (t >= 0 && t < vocab) row[t] = Float.NEGATIVE_INFINITY;
        } else {
            row = logits;
            base = off;
        }
        // top_k 1 is greedy here (lowest index among equal maxima); the scheduler passes it to the device as greedy too
        if (p.isGreedy()) return RowSampling.argmax(row, base, vocab);
        return RowSampling.draw(row, base, vocab, p.temperature(), p.topK(), p.topP(), p.minP(), uniform(rng));
    }

    /** log softmax of the raw logits at {@code token}, with the {@code top} most likely alternatives. */
    static Output.TokenLogprob logprob(float[] logits, int off, int vocab, int token, int top) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) max = Math.max(max, logits[off + i]);
        double sum = 0;
        for (int i = 0; i < vocab; i++) sum += Math.exp(logits[off + i] - max);
        double lse = max + Math.log(sum);
        int[] topIds = new int[top];
        float[] topLp = new float[top];
        if (top > 0) {
            // keep a small sorted list of the best indices
            Arrays.fill(topIds, -1);
            for (int i = 0; i < vocab; i++) {
                float v = logits[off + i];
                if (topIds[top - 1] >= 0 && v <= logits[off + topIds[top - 1]]) continue;
                int j = top - 1;
                while (j > 0 && (topIds[j - 1] < 0 || v > logits[off + topIds[j - 1]])) {
                    topIds[j] = topIds[j - 1];
                    j--;
                }
                topIds[j] = i;
            }
            for (int j = 0; j < top; j++) topLp[j] = (float) (logits[off + topIds[j]] - lse);
        }
        return new Output.TokenLogprob(token, (float) (logits[off + token] - lse), topIds, topLp);
    }
}
