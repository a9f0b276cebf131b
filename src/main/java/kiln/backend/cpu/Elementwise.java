package kiln.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import kiln.backend.Heads;
import kiln.backend.Rope;

/** Row-wise kernels: norms, residual adds, activations, rotary embedding. */
final class Elementwise {
    private Elementwise() {}

    private static final VectorSpecies<Float> F = Linear.F;
    private static final int L = Linear.L;

    static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc = FloatVector.zero(F);
        int vn = n / L * L;
        for (int k = 0; k < vn; k += L) acc = FloatVector.fromArray(F, a, aOff + k).fma(FloatVector.fromArray(F, b, bOff + k), acc);
        float tail = 0;
        for (int k = vn; k < n; k++) tail = Math.fma(a[aOff + k], b[bOff + k], tail);
        return Linear.sum(acc) + tail;
    }

    static void rmsNorm(CpuTensor x, float[] w, float eps, CpuTensor out) {
        int n = x.cols();
        if (w.length != n) throw new IllegalArgumentException("rmsNorm: weight has " + w.length + " values for " + n + " columns");
        Parallel.forRange(x.rows(), 8, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int xo = x.at(r, 0), oo = out.at(r, 0);
                float ss = dot(x.data(), xo, x.data(), xo, n);
                float inv = (float) (1.0 / Math.sqrt(ss / n + eps));
                for (int k = 0; k < n; k++) out.data()[oo + k] = w[k] * (x.data()[xo + k] * inv);
            }
        });
    }

    static void add(CpuTensor acc, CpuTensor x) {
        for (int r = 0; r < acc.rows(); r++) {
            int ao = acc.at(r, 0), xo = x.at(r, 0);
            for (int k = 0; k < acc.cols(); k++) acc.data()[ao + k] += x.data()[xo + k];
        }
    }

    static void siluMul(CpuTensor gate, CpuTensor up, CpuTensor out) {
        int n = gate.cols();
        Parallel.forRange(gate.rows(), 16, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int go = gate.at(r, 0), uo = up.at(r, 0), oo = out.at(r, 0);
                for (int k = 0; k < n; k++) {
                    float g = gate.data()[go + k];
                    out.data()[oo + k] = g / (1f + (float) Math.exp(-g)) * up.data()[uo + k];
                }
            }
        });
    }

    /** Rotates each head's pairs in place at the tokens' positions. */
    static void rope(Heads x, int[] positions, Rope rope) {
        CpuTensor t = (CpuTensor) x.tensor();
        float[] inv = rope.invFreq();
        int half = inv.length;
        if (x.width() != 2 * half) throw new IllegalArgumentException("rope over " + x.width() + " columns, rope dim " + 2 * half);
        float[] d = t.data();
        Parallel.forRange(t.rows(), 16, (r0, r1) -> {
            float[] cos = new float[half], sin = new float[half];
            for (int r = r0; r < r1; r++) {
                for (int i = 0; i < half; i++) {
                    float angle = positions[r] * inv[i];
                    cos[i] = (float) Math.cos(angle) * rope.attentionFactor();
                    sin[i] = (float) Math.sin(angle) * rope.attentionFactor();
                }
                for (int h = 0; h < x.count(); h++) {
                    int o = t.at(r, x.column(h));
                    for (int i = 0; i < half; i++) {
                        int a = rope.interleaved() ? o + 2 * i : o + i, b = rope.interleaved() ? a + 1 : a + half;
                        float x0 = d[a], x1 = d[b];
                        d[a] = x0 * cos[i] - x1 * sin[i];
                        d[b] = x1 * cos[i] + x0 * sin[i];
                    }
                }
            }
        });
    }
}
