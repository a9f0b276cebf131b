package kiln.engine;

import java.util.Arrays;
import java.util.Map;
import java.util.Random;

/**
 * Picks the next token from one row of logits on the host: penalties, then greedy or temperature / top-k / top-p /
 * min-p sampling with the sequence's own random stream (so a seed reproduces whatever else is batched). Logprobs
 * are computed from the raw logits, before penalties and temperature.
 *
 * <p>Without penalties, bans and min-p, a row is sampled exactly as {@link kiln.backend.Backend#sample} defines it,
 * so the scheduler may hand such rows to the device instead ({@code Scheduler}): z = logit / temperature; keep the
 * tokens at or above the top_k-th largest z, then those at or above the z where the mass of the largest ones reaches
 * top_p (ties at either cut are all kept); then the first token, in index order, whose cumulative mass exceeds
 * uniform * kept mass, with uniform drawn by {@link #uniform}. On the CPU backend the two paths give the same
 * token bit for bit (the same float and double operations in the same order); on a GPU they agree except where
 * rounding (float sums, bisected thresholds) moves a cut or the drawn point across a token boundary.
 */
final class Sampler {
    private Sampler() {}

    /** Tokens more than this far (in z) below the best have mass < 1e-9 of it: the cuts sort only the others first. */
    private static final float NEGLIGIBLE_SPAN = 21f;

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
        if (p.isGreedy()) return argmax(row, base, vocab);
        return draw(row, base, vocab, p.temperature(), p.topK(), p.topP(), p.minP(), uniform(rng));
    }

    /** Backend.sample's definition for one row, plus min-p (tokens below min_p times the best one's mass drop out last). */
    static int draw(float[] row, int base, int vocab, float temperature, int topK, float topP, float minP, float uniform) {
        float[] z = new float[vocab];
        float hi = Float.NEGATIVE_INFINITY;
        for (int c = 0; c < vocab; c++) hi = Math.max(hi, z[c] = row[base + c] / temperature);
        Descending desc = new Descending(z, hi - NEGLIGIBLE_SPAN);
        float tau = Float.NEGATIVE_INFINITY;
        if (topK > 0 && topK < vocab) tau = desc.get(topK - 1);
        if (topP < 1) {
            double total = keptMass(z, hi, tau, 0), acc = 0;
            for (int i = 0; i < vocab; i++) {
                float v = desc.get(i);
                if (!(v >= tau)) break;
                acc += Math.exp(v - hi);
                if (acc >= topP * total) {
                    tau = v;
                    break;
                }
            }
        }
        double goal = uniform * keptMass(z, hi, tau, minP), acc = 0;
        int pick = -1;
        for (int c = 0; c < vocab; c++) {
            if (!kept(z[c], hi, tau, minP)) continue;
            pick = c;
            acc += Math.exp(z[c] - hi);
            if (acc > goal) break;
        }
        return pick;
    }

    private static boolean kept(float z, float hi, float tau, float minP) {
        return z >= tau && (minP <= 0 || Math.exp(z - hi) >= minP);
    }

    /** Summed in index order, as the walk that picks the token. */
    private static double keptMass(float[] z, float hi, float tau, float minP) {
        double total = 0;
        for (float x : z) if (kept(x, hi, tau, minP)) total += Math.exp(x - hi);
        return total;
    }

    /**
     * The i-th largest z. Sorting the whole vocabulary per row is the slow part, so only the z within
     * {@link #NEGLIGIBLE_SPAN} of the best are sorted, and everything only when a cut reaches past them (top_k
     * beyond them, or top_p within 1e-9 of 1): the values returned are those of the full sort either way.
     */
    private static final class Descending {
        private final float[] z;
        private float[] sorted;

        Descending(float[] z, float floor) {
            this.z = z;
            int n = 0;
            for (float x : z) if (x >= floor) n++;
            sorted = new float[n];
            n = 0;
            for (float x : z) if (x >= floor) sorted[n++] = x;
            Arrays.sort(sorted);
        }

        float get(int i) {
            if (i >= sorted.length && sorted.length < z.length) {
                sorted = z.clone();
                Arrays.sort(sorted);
            }
            return sorted[sorted.length - 1 - i];
        }
    }

    /**
     * Lowest index among equal maxima, as Backend.argmax (the CPU's is this loop; the CUDA kernel agrees). Only a
     * NaN at index 0 differs: here nothing beats it, the kernel skips NaNs (a forward that makes NaNs is wrong anyway).
     */
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
