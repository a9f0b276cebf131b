package kiln.engine;

/**
 * Scheduler and memory settings (SGLang's server arguments of the same names). A value of 0 (or -1 where noted)
 * means "derive it": the KV pool from {@code memFractionStatic}, the context from the model config.
 */
public record EngineConfig(int maxTotalTokens, double memFractionStatic, int chunkedPrefillSize, int maxPrefillTokens,
                           int maxRunningRequests, SchedulePolicy schedulePolicy, double scheduleConservativeness,
                           boolean disableRadixCache, boolean enableMixedChunk, int contextLength, int maxQueuedRequests) {

    public enum SchedulePolicy {
        /** First come, first served. */
        FCFS,
        /** Longest cached prefix first (falls back to FCFS when the queue is long). */
        LPM
    }

    public static EngineConfig defaults() {
        return new EngineConfig(0, 0, 8192, 16384, 256, SchedulePolicy.FCFS, 1.0, false, false, 0, 4096);
    }

    public EngineConfig withMaxTotalTokens(int v) {
        return new EngineConfig(v, memFractionStatic, chunkedPrefillSize, maxPrefillTokens, maxRunningRequests,
                schedulePolicy, scheduleConservativeness, disableRadixCache, enableMixedChunk, contextLength, maxQueuedRequests);
    }

    public EngineConfig withChunkedPrefillSize(int v) {
        return new EngineConfig(maxTotalTokens, memFractionStatic, v, maxPrefillTokens, maxRunningRequests,
                schedulePolicy, scheduleConservativeness, disableRadixCache, enableMixedChunk, contextLength, maxQueuedRequests);
    }

    public EngineConfig withMaxRunningRequests(int v) {
        return new EngineConfig(maxTotalTokens, memFractionStatic, chunkedPrefillSize, maxPrefillTokens, v,
                schedulePolicy, scheduleConservativeness, disableRadixCache, enableMixedChunk, contextLength, maxQueuedRequests);
    }

    public EngineConfig withRadixCache(boolean enabled) {
        return new EngineConfig(maxTotalTokens, memFractionStatic, chunkedPrefillSize, maxPrefillTokens, maxRunningRequests,
                schedulePolicy, scheduleConservativeness, !enabled, enableMixedChunk, contextLength, maxQueuedRequests);
    }

    public EngineConfig withMixedChunk(boolean enabled) {
        return new EngineConfig(maxTotalTokens, memFractionStatic, chunkedPrefillSize, maxPrefillTokens, maxRunningRequests,
                schedulePolicy, scheduleConservativeness, disableRadixCache, enabled, contextLength, maxQueuedRequests);
    }

    public EngineConfig withSchedulePolicy(SchedulePolicy v) {
        return new EngineConfig(maxTotalTokens, memFractionStatic, chunkedPrefillSize, maxPrefillTokens, maxRunningRequests,
                v, scheduleConservativeness, disableRadixCache, enableMixedChunk, contextLength, maxQueuedRequests);
    }

    public EngineConfig withMemFractionStatic(double v) {
        return new EngineConfig(maxTotalTokens, v, chunkedPrefillSize, maxPrefillTokens, maxRunningRequests,
                schedulePolicy, scheduleConservativeness, disableRadixCache, enableMixedChunk, contextLength, maxQueuedRequests);
    }

    public EngineConfig withMaxPrefillTokens(int v) {
        return new EngineConfig(maxTotalTokens, memFractionStatic, chunkedPrefillSize, v, maxRunningRequests,
                schedulePolicy, scheduleConservativeness, disableRadixCache, enableMixedChunk, contextLength, maxQueuedRequests);
    }

    public EngineConfig withScheduleConservativeness(double v) {
        return new EngineConfig(maxTotalTokens, memFractionStatic, chunkedPrefillSize, maxPrefillTokens, maxRunningRequests,
                schedulePolicy, v, disableRadixCache, enableMixedChunk, contextLength, maxQueuedRequests);
    }

    public EngineConfig withContextLength(int v) {
        return new EngineConfig(maxTotalTokens, memFractionStatic, chunkedPrefillSize, maxPrefillTokens, maxRunningRequests,
                schedulePolicy, scheduleConservativeness, disableRadixCache, enableMixedChunk, v, maxQueuedRequests);
    }

    public EngineConfig withMaxQueuedRequests(int v) {
        return new EngineConfig(maxTotalTokens, memFractionStatic, chunkedPrefillSize, maxPrefillTokens, maxRunningRequests,
                schedulePolicy, scheduleConservativeness, disableRadixCache, enableMixedChunk, contextLength, v);
    }
}
