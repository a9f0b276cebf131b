package kiln.engine;

import java.util.Map;

/** A snapshot of the scheduler's state and counters, published after every step (for metrics and server info). */
public record EngineStats(int runningRequests, int queuedRequests, int kvUsedTokens, int kvCachedTokens,
                          int kvTotalTokens, long promptTokensTotal, long generationTokensTotal,
                          long cachedPromptTokensTotal, Map<String, Long> finishedByReason, long retractedTotal,
                          double newTokenRatio) {

    public double cacheHitRate() {
        return promptTokensTotal == 0 ? 0 : (double) cachedPromptTokensTotal / promptTokensTotal;
    }
}
