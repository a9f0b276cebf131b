package kiln.engine;

import java.util.Map;

/**
 * A snapshot of the scheduler's state and counters, published after every step (for metrics and server info). The
 * decode counters cover steps that only decoded (no prefill chunk), for the step-time-against-batch figures; the
 * prefill counters the other steps and their prompt tokens. A step's time runs from its launch, or from the result
 * of the step before it when that came later (the overlapped scheduler launches ahead), to its result. The
 * sampling counters split the steps that sampled (or took prompt logprobs) by where: on the device (only ids came
 * back) or on the host (the logits were downloaded). {@code overlappedSteps} counts the steps launched before the
 * one before them was applied (the overlapped scheduler).
 */
public record EngineStats(int runningRequests, int queuedRequests, int kvUsedTokens, int kvCachedTokens,
                          int kvTotalTokens, long promptTokensTotal, long generationTokensTotal,
                          long cachedPromptTokensTotal, Map<String, Long> finishedByReason, long retractedTotal,
                          double newTokenRatio, long decodeSteps, long decodeStepNanos, long decodeStepSequences,
                          long prefillSteps, long prefillStepNanos, long prefillStepTokens, long deviceSampledSteps, long hostSampledSteps, long overlappedSteps) {

    /** Mean wall time of a decode step (forward, sampling, streaming) so far, in milliseconds. */
    public double meanDecodeStepMs() {
        return decodeSteps == 0 ? 0 : decodeStepNanos / 1e6 / decodeSteps;
    }

    public double cacheHitRate() {
        return promptTokensTotal == 0 ? 0 : (double) cachedPromptTokensTotal / promptTokensTotal;
    }
}
