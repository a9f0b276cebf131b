package kiln.backend;

import java.util.Arrays;

/**
 * Sampling one row of logits on the host, as {@link Backend#sample} defines it: the reference a device's kernel is
 * checked against, the default of the interface, and what the engine's host sampler draws with (so a seeded request
 * gets the same tokens whichever side samples it).
 */
public final class RowSampling {
    private RowSampling() {}

    /** Tokens more than this far (in z) below the best have mass < 1e-9 of it: the cuts sort only the others first. */
    private static final float NEGLIGIBLE_SPAN = 21f;

    /**
     * The index of the largest of {@code row[off, off + vocab)}, lowest index on ties (the CUDA kernel agrees, except
     * for a NaN at index 0: nothing beats it here, the kernel skips NaNs; a forward that makes NaNs is wrong anyway).
     */
    public static int argmax(float[] row, int off, int vocab) {
        int best = 0;
        for (int i = 1; i < vocab; i++) if (row[off + i] > row[off + best]) best = i;
        return best;
    }

    /**
     * z = logit / temperature; keep the tokens at or above the topK-th largest z (0: all), then those at or above
     * the z where the mass of the largest ones reaches topP (1: all; ties at either cut are all kept), then (minP
     * above 0) drop the tokens under minP times the best one's mass; return the first token, in index order, whose
     * cumulative mass exceeds uniform times the kept mass.
     */
    public static int draw(float[] row, int base, int vocab, float temperature, int topK, float topP, float minP, float uniform) {
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

    /** A -inf logit (masked by structured output, banned) is never kept, whatever the cuts. */
    private static boolean kept(float z, float hi, float tau, float minP) {
        return z >= tau && z != Float.NEGATIVE_INFINITY && (minP <= 0 || Math.exp(z - hi) >= minP);
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
}
