package kiln.backend.cpu;

import kiln.backend.Backend;
import kiln.backend.MoeRouting;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Mixture of experts on the CPU: route each token, then run each chosen expert once over all its tokens (experts
 * in parallel, each sequentially), writing every (token, choice) result to its own row, and finally sum each
 * token's choices in a fixed order. No two threads write one row, and a token's sum never depends on its batch.
 */
final class CpuMoe {
    private CpuMoe() {}

    record CpuExperts(CpuWeight[] gate, CpuWeight[] up, CpuWeight[] down) implements Backend.Experts {
        @Override
        public int count() {
            return gate.length;
        }
    }

    record CpuRouting(int topK, int[] ids, float[] weights) implements Backend.Routing {
        @Override
        public int[] expertIds() {
            return ids.clone();
        }
    }

    static CpuRouting route(CpuTensor logits, float[] bias, MoeRouting r) {
        int tokens = logits.rows(), k = r.topK();
        int[] ids = new int[tokens * k];
        float[] weights = new float[tokens * k];
        for (int t = 0; t < tokens; t++) {
            Choice c = choice(logits, t, bias, r);
            int[] top = topIndices(c.choice(), k);
            float sum = 0;
            for (int j = 0; j < k; j++) {
                ids[t * k + j] = top[j];
                weights[t * k + j] = c.scores()[top[j]];
                sum += c.scores()[top[j]];
            }
            for (int j = 0; j < k; j++) {
                float w = weights[t * k + j];
                if (r.normalize()) w /= sum + 1e-20f;
                weights[t * k + j] = w * r.scalingFactor();
            }
        }
        return new CpuRouting(k, ids, weights);
    }

    /**
     * Token t's gating scores, the biased scores experts are chosen by (-inf outside the kept groups), and the
     * group scores (null without group limits).
     */
    private record Choice(float[] scores, float[] choice, float[] groupScores) {}

    private static Choice choice(CpuTensor logits, int t, float[] bias, MoeRouting r) {
        int n = r.experts();
        if (logits.cols() != n) throw new IllegalArgumentException("router gave " + logits.cols() + " logits for " + n + " experts");
        int perGroup = n / r.groups();
        float[] scores = new float[n];
        int lo = logits.at(t, 0);
        if (r.scoring() == MoeRouting.Scoring.SIGMOID) {
            for (int e = 0; e < n; e++) scores[e] = (float) (1.0 / (1.0 + Math.exp(-logits.data()[lo + e])));
        } else {
            float max = Float.NEGATIVE_INFINITY;
            for (int e = 0; e < n; e++) max = Math.max(max, logits.data()[lo + e]);
            float sum = 0;
            for (int e = 0; e < n; e++) sum += scores[e] = (float) Math.exp(logits.data()[lo + e] - max);
            for (int e = 0; e < n; e++) scores[e] /= sum;
        }
        float[] choice = scores.clone();
        if (bias != null) for (int e = 0; e < n; e++) choice[e] += bias[e];
        float[] groupScore = null;
        if (r.method() == MoeRouting.Method.GROUP_LIMITED && r.groups() > 1) {
            groupScore = new float[r.groups()];
            for (int g = 0; g < r.groups(); g++) {
                float[] members = Arrays.copyOfRange(choice, g * perGroup, (g + 1) * perGroup);
                // noaux_tc ranks groups by their two best biased scores; V2's group-limited gate by the best one.
                groupScore[g] = bias != null ? sumOfTop(members, 2) : sumOfTop(members, 1);
            }
            boolean[] keep = new boolean[r.groups()];
            for (int g : topIndices(groupScore, r.topkGroups())) keep[g] = true;
            for (int e = 0; e < n; e++) if (!keep[e / perGroup]) choice[e] = Float.NEGATIVE_INFINITY;
        }
        return new Choice(scores, choice, groupScore);
    }

    /**
     * The smallest gap, over the tokens of {@code logits}, between the last chosen and the first unchosen score
     * (of experts, and of groups under group limits): how far rounding may move a router's inputs before another
     * expert is chosen. Tests use it to tell a real divergence from a near tie.
     */
    static float choiceMargin(CpuTensor logits, float[] bias, MoeRouting r) {
        float margin = Float.POSITIVE_INFINITY;
        for (int t = 0; t < logits.rows(); t++) {
            Choice c = choice(logits, t, bias, r);
            margin = Math.min(margin, cutGap(c.choice(), r.topK()));
            if (c.groupScores() != null) margin = Math.min(margin, cutGap(c.groupScores(), r.topkGroups()));
        }
        return margin;
    }

    private static float cutGap(float[] v, int k) {
        if (k >= v.length) return Float.POSITIVE_INFINITY;
        int[] top = topIndices(v, k + 1);
        return v[top[k - 1]] - v[top[k]];
    }

    private static float sumOfTop(float[] v, int k) {
        float s = 0;
        for (int i : topIndices(v, k)) s += v[i];
        return s;
    }

    /** Indices of the k largest values, largest first; ties go to the lower index. */
    static int[] topIndices(float[] v, int k) {
        int[] idx = new int[k];
        boolean[] taken = new boolean[v.length];
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int i = 0; i < v.length; i++) {
                if (!taken[i] && (best < 0 || v[i] > v[best])) best = i;
            }
            taken[best] = true;
            idx[j] = best;
        }
        return idx;
    }

    static void run(CpuTensor x, CpuRouting routing, CpuExperts experts, CpuTensor out) {
        int tokens = x.rows(), k = routing.topK(), hidden = x.cols();
        List<List<Integer>> assigned = new ArrayList<>();
        for (int e = 0; e < experts.count(); e++) assigned.add(new ArrayList<>());
        for (int a = 0; a < tokens * k; a++) assigned.get(routing.ids()[a]).add(a);
        int[] active = java.util.stream.IntStream.range(0, experts.count()).filter(e -> !assigned.get(e).isEmpty()).toArray();
        CpuTensor results = CpuTensor.allocate(tokens * k, hidden);
        Parallel.forRange(active.length, 1, (from, to) -> {
            for (int i = from; i < to; i++) {
                int e = active[i];
                List<Integer> rows = assigned.get(e);
                CpuTensor in = CpuTensor.allocate(rows.size(), hidden);
                for (int j = 0; j < rows.size(); j++) {
                    System.arraycopy(x.data(), x.at(rows.get(j) / k, 0), in.data(), in.at(j, 0), hidden);
                }
                int inter = experts.gate()[e].rows();
                CpuTensor g = CpuTensor.allocate(rows.size(), inter), u = CpuTensor.allocate(rows.size(), inter);
                Linear.forward(in, experts.gate()[e], null, g, false);
                Linear.forward(in, experts.up()[e], null, u, false);
                for (int j = 0; j < g.data().length; j++) {
                    float v = g.data()[j];
                    g.data()[j] = v / (1f + (float) Math.exp(-v)) * u.data()[j];
                }
                CpuTensor y = CpuTensor.allocate(rows.size(), hidden);
                Linear.forward(g, experts.down()[e], null, y, false);
                for (int j = 0; j < rows.size(); j++) {
                    System.arraycopy(y.data(), y.at(j, 0), results.data(), results.at(rows.get(j), 0), hidden);
                }
            }
        });
        for (int t = 0; t < tokens; t++) {
            int oo = out.at(t, 0);
            Arrays.fill(out.data(), oo, oo + hidden, 0f);
            for (int j = 0; j < k; j++) {
                float w = routing.weights()[t * k + j];
                int ro = results.at(t * k + j, 0);
                for (int c = 0; c < hidden; c++) out.data()[oo + c] = Math.fma(w, results.data()[ro + c], out.data()[oo + c]);
            }
        }
    }
}
