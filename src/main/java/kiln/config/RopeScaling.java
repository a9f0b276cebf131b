package kiln.config;

/** The rope_scaling (or rope_parameters) block of a config.json. */
public sealed interface RopeScaling {
    record None() implements RopeScaling {}

    /** YaRN as DeepSeek uses it (factor 40 over 4096 original positions). */
    record Yarn(double factor, int originalMaxPositions, double betaFast, double betaSlow, double mscale,
                double mscaleAllDim) implements RopeScaling {}

    /** Llama 3.1's frequency-dependent scaling. */
    record Llama3(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions)
            implements RopeScaling {}

    record Linear(double factor) implements RopeScaling {}
}
