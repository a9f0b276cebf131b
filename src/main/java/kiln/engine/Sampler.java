package kiln.engine;

import java.util.Arrays;
import java.util.Map;
import java.util.Random;

/**
 * Picks the next token from one row of logits: penalties, then greedy or temperature / top-k / top-p / min-p
 * sampling with the sequence's own random stream (so a seed reproduces whatever else is batched). Logprobs are
 * computed from the raw logits, before penalties and temperature.
 */
final class Sampler {
    private Sampler() {}

    /** Tokens below this fraction of the most likely one cannot matter to sampling; skipping them keeps sorts small. */
    private static final double NEGLIGIBLE = 1e-9;

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
        if (p.isGreedy()) return argmax(row, base, vocab);

        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) max = Math.max(max, row[base + i]);
        double invT = 1.0 / p.temperature();
        // candidates with non-negligible probability, sorted by logit
        int[] cand = new int[vocab];
        int n = 0;
        double floor = max + p.temperature() * Math.log(NEGLIGIBLE);
        for (int i = 0; i < vocab; i++) if (row[base + i] >= floor) cand[n++] = i;
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) order[i] = cand[i];
        final float[] r = row;
        final int b = base;
        Arrays.sort(order, (x, y) -> Float.compare(r[b + y], r[b + x]));
        int keep = p.topK() > 0 ? Math.min(n, p.topK()) : n;
        double[] prob = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) sum += prob[i] = Math.exp((row[base + order[i]] - max) * invT);
        // top-p: the smallest prefix whose mass reaches top_p
        if (p.topP() < 1f) {
            double acc = 0;
            for (int i = 0; i < keep; i++) {
                acc += prob[i];
                if (acc >= p.topP() * sum) {
                    keep = i + 1;
                    break;
                }
            }
        }
        // min-p: drop tokens less likely than min_p times the best
        if (p.minP() > 0) {
            double threshold = prob[0] * p.minP();
            int k = 1;
            while (k < keep && prob[k] >= threshold) k++;
            keep = k;
        }
        double total = 0;
        for (int i = 0; i < keep; i++) total += prob[i];
        double u = rng.nextDouble() * total;
        for (int i = 0; i < keep; i++) {
            u -= prob[i];
            if (u <= 0) return order[i];
        }
        return order[keep - 1];
    }

    static int argmax(float[] row, int off, int vocab) {
        int best = 0;
        for (int i = 1; i < vocab; i++) if (row[off + i] > row[off + best]) best = i;
        return best;
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
