package kiln.model;

import kiln.backend.Rope;
import kiln.config.ModelConfig;
import kiln.config.RopeScaling;

/** Inverse frequencies of the rotary embedding, as HuggingFace computes them for each rope_scaling type. */
final class Rotary {
    private Rotary() {}

    static Rope of(ModelConfig c, int dim, boolean interleaved) {
        double base = c.ropeTheta();
        int half = dim / 2;
        float[] inv = new float[half];
        for (int i = 0; i < half; i++) inv[i] = (float) (1.0 / Math.pow(base, (2.0 * i) / dim));
        float attentionFactor = 1f;
        switch (c.ropeScaling()) {
            case RopeScaling.None none -> {}
            case RopeScaling.Linear lin -> {
                for (int i = 0; i < half; i++) inv[i] = (float) (inv[i] / lin.factor());
            }
            case RopeScaling.Llama3 l -> {
                double lowWavelen = l.originalMaxPositions() / l.lowFreqFactor();
                double highWavelen = l.originalMaxPositions() / l.highFreqFactor();
                for (int i = 0; i < half; i++) {
                    double wavelen = 2 * Math.PI / inv[i];
                    if (wavelen > lowWavelen) {
                        inv[i] = (float) (inv[i] / l.factor());
                    } else if (wavelen >= highWavelen) {
                        double smooth = (l.originalMaxPositions() / wavelen - l.lowFreqFactor()) / (l.highFreqFactor() - l.lowFreqFactor());
                        inv[i] = (float) ((1 - smooth) * inv[i] / l.factor() + smooth * inv[i]);
                    }
                }
            }
            case RopeScaling.Yarn y -> {
                double low = Math.max(0, Math.floor(correctionDim(y.betaFast(), dim, base, y.originalMaxPositions())));
                double high = Math.min(dim - 1, Math.ceil(correctionDim(y.betaSlow(), dim, base, y.originalMaxPositions())));
                if (low == high) high += 0.001;
                for (int i = 0; i < half; i++) {
                    double ramp = Math.clamp((i - low) / (high - low), 0, 1);
                    double extrapolation = 1 - ramp;
                    double interpolated = inv[i] / y.factor();
                    inv[i] = (float) (interpolated * (1 - extrapolation) + inv[i] * extrapolation);
                }
                attentionFactor = y.mscale() != 0 && y.mscaleAllDim() != 0
                        ? (float) (yarnMscale(y.factor(), y.mscale()) / yarnMscale(y.factor(), y.mscaleAllDim()))
                        : (float) yarnMscale(y.factor(), 1);
            }
        }
        return new Rope(inv, attentionFactor, interleaved);
    }

    private static double correctionDim(double rotations, int dim, double base, int maxPositions) {
        return dim * Math.log(maxPositions / (rotations * 2 * Math.PI)) / (2 * Math.log(base));
    }

    /** YaRN's attention temperature: 0.1 * m * ln(scale) + 1. */
    static double yarnMscale(double scale, double m) {
        return scale <= 1 ? 1.0 : 0.1 * m * Math.log(scale) + 1.0;
    }
}
