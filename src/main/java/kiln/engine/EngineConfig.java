package kiln.engine;

import kiln.KilnProperty;

/**
 * Scheduler and memory settings (SGLang's server arguments of the same names). A value of 0 (or -1 where noted)
 * means "derive it": the KV pool from {@code memFractionStatic}, the context from the model config.
 * {@code deviceSampling} lets steps whose rows need nothing beyond temperature / top-k / top-p sample on the
 * backend (only token ids leave the device); off, every step downloads its logits and samples on the host. Its
 * default comes from the system property {@code kiln.engine.deviceSampling} ({@link KilnProperty#ENGINE_DEVICE_SAMPLING}).
 * {@code priority} is SGLang's priority scheduling (off: a request that names a priority is refused);
 * {@code waitingTimeoutSeconds} ends a request that waited longer than this to start (0: never), as SGLang's
 * {@code SGLANG_REQ_WAITING_TIMEOUT} does. {@code overlapSchedule} is SGLang's overlap scheduler (the host plans
 * step N+1 and streams step N while the device runs; see {@link OverlapSchedule}). {@code decodeLogInterval} is
 * SGLang's --decode-log-interval: decode steps between the scheduler's "Decode batch." lines ({@link StepLog}).
 */
public record EngineConfig(int maxTotalTokens, double memFractionStatic, int chunkedPrefillSize, int maxPrefillTokens,
                           int maxRunningRequests, SchedulePolicy schedulePolicy, double scheduleConservativeness,
                           boolean disableRadixCache, boolean enableMixedChunk, int contextLength, int maxQueuedRequests,
                           boolean deviceSampling, PriorityScheduling priority, double waitingTimeoutSeconds,
                           OverlapSchedule overlapSchedule, int decodeLogInterval) {

    public EngineConfig {
        if (priority == null) priority = PriorityScheduling.OFF;
        if (overlapSchedule == null) overlapSchedule = OverlapSchedule.AUTO;
        if (decodeLogInterval < 1) throw new IllegalArgumentException("the decode log interval must be at least 1, got " + decodeLogInterval);
        if (!(waitingTimeoutSeconds >= 0) || Double.isInfinite(waitingTimeoutSeconds)) {
            throw new IllegalArgumentException("the waiting timeout must be a finite number of seconds >= 0, got " + waitingTimeoutSeconds);
        }
    }

    /**
     * SGLang's --enable-priority-scheduling and its companions. The waiting queue is ordered by priority first
     * (higher values first, or lower with {@code lowValuesFirst}), arrival among equals; a request without one takes
     * {@code defaultValue}, or, when that is null, the least preferred value of all (it goes after every request
     * that has one). With {@code preemption}, a waiting request that cannot start for lack of room retracts running
     * ones whose priority it beats by at least {@code preemptionThreshold}.
     */
    public record PriorityScheduling(boolean enabled, boolean lowValuesFirst, Integer defaultValue, boolean preemption,
                                     int preemptionThreshold) {
        public static final PriorityScheduling OFF = new PriorityScheduling(false, false, null, false, 10);

        public PriorityScheduling {
            if (preemptionThreshold < 0) throw new IllegalArgumentException("the preemption threshold must be >= 0, got " + preemptionThreshold);
        }

        /** Orders priorities: a negative result means {@code a} is served before {@code b}. */
        int compare(int a, int b) {
            return lowValuesFirst ? Integer.compare(a, b) : Integer.compare(b, a);
        }

        /** The priority a request is scheduled with. */
        int of(Request r) {
            if (r.priority() != null) return r.priority();
            if (defaultValue != null) return defaultValue;
            return lowValuesFirst ? Integer.MAX_VALUE : Integer.MIN_VALUE;
        }
    }

    /**
     * Whether the scheduler launches step N+1 before it applies step N's sampled tokens, as SGLang's default
     * scheduler does: the next step's tokens are read on the device from N's samples, and N's results are streamed
     * while N+1 runs. It pays where the device runs ahead of the host (a GPU); on the CPU a forward returns only once
     * computed, so overlapping would only deliver each token a step later. A step whose sequences need their tokens
     * on the host before the next (structured output, logprobs, penalties, min_new_tokens) runs without overlap.
     */
    public enum OverlapSchedule {
        /** On where the backend runs ahead of the host (CUDA), off on the CPU. */
        AUTO,
        /** On whatever the backend (tests use it to run the overlapped path on the CPU). */
        ON,
        /** Off (SGLang's --disable-overlap-schedule). */
        OFF;

        boolean enabled(boolean backendRunsAhead) {
            return this == ON || this == AUTO && backendRunsAhead;
        }
    }

    public enum SchedulePolicy {
        /** First come, first served. */
        FCFS,
        /** Longest cached prefix first (falls back to FCFS when the queue is long). */
        LPM
    }

    public static EngineConfig defaults() {
        return new EngineConfig(0, 0, 8192, 16384, 256, SchedulePolicy.FCFS, 1.0, false, false, 0, 4096,
                KilnProperty.ENGINE_DEVICE_SAMPLING.flag(), PriorityScheduling.OFF, 0, OverlapSchedule.AUTO, 40);
    }

    public EngineConfig withMaxTotalTokens(int v) {
        return edit(b -> b.maxTotalTokens = v);
    }

    public EngineConfig withMemFractionStatic(double v) {
        return edit(b -> b.memFractionStatic = v);
    }

    public EngineConfig withChunkedPrefillSize(int v) {
        return edit(b -> b.chunkedPrefillSize = v);
    }

    public EngineConfig withMaxPrefillTokens(int v) {
        return edit(b -> b.maxPrefillTokens = v);
    }

    public EngineConfig withMaxRunningRequests(int v) {
        return edit(b -> b.maxRunningRequests = v);
    }

    public EngineConfig withSchedulePolicy(SchedulePolicy v) {
        return edit(b -> b.schedulePolicy = v);
    }

    public EngineConfig withScheduleConservativeness(double v) {
        return edit(b -> b.scheduleConservativeness = v);
    }

    public EngineConfig withRadixCache(boolean enabled) {
        return edit(b -> b.disableRadixCache = !enabled);
    }

    public EngineConfig withMixedChunk(boolean enabled) {
        return edit(b -> b.enableMixedChunk = enabled);
    }

    public EngineConfig withContextLength(int v) {
        return edit(b -> b.contextLength = v);
    }

    public EngineConfig withMaxQueuedRequests(int v) {
        return edit(b -> b.maxQueuedRequests = v);
    }

    public EngineConfig withDeviceSampling(boolean enabled) {
        return edit(b -> b.deviceSampling = enabled);
    }

    public EngineConfig withPriorityScheduling(PriorityScheduling v) {
        return edit(b -> b.priority = v);
    }

    public EngineConfig withWaitingTimeoutSeconds(double v) {
        return edit(b -> b.waitingTimeoutSeconds = v);
    }

    public EngineConfig withOverlapSchedule(OverlapSchedule v) {
        return edit(b -> b.overlapSchedule = v);
    }

    public EngineConfig withDecodeLogInterval(int v) {
        return edit(b -> b.decodeLogInterval = v);
    }

    /** A copy with some fields changed: records have no withers, so the copies go through one mutable form. */
    private EngineConfig edit(java.util.function.Consumer<Fields> change) {
        Fields f = new Fields(this);
        change.accept(f);
        return f.build();
    }

    private static final class Fields {
        int maxTotalTokens, chunkedPrefillSize, maxPrefillTokens, maxRunningRequests, contextLength, maxQueuedRequests, decodeLogInterval;
        double memFractionStatic, scheduleConservativeness;
        SchedulePolicy schedulePolicy;
        boolean disableRadixCache, enableMixedChunk, deviceSampling;
        PriorityScheduling priority;
        double waitingTimeoutSeconds;
        OverlapSchedule overlapSchedule;

        Fields(EngineConfig c) {
            maxTotalTokens = c.maxTotalTokens;
            memFractionStatic = c.memFractionStatic;
            chunkedPrefillSize = c.chunkedPrefillSize;
            maxPrefillTokens = c.maxPrefillTokens;
            maxRunningRequests = c.maxRunningRequests;
            schedulePolicy = c.schedulePolicy;
            scheduleConservativeness = c.scheduleConservativeness;
            disableRadixCache = c.disableRadixCache;
            enableMixedChunk = c.enableMixedChunk;
            contextLength = c.contextLength;
            maxQueuedRequests = c.maxQueuedRequests;
            deviceSampling = c.deviceSampling;
            priority = c.priority;
            waitingTimeoutSeconds = c.waitingTimeoutSeconds;
            overlapSchedule = c.overlapSchedule;
            decodeLogInterval = c.decodeLogInterval;
        }

        EngineConfig build() {
            return new EngineConfig(maxTotalTokens, memFractionStatic, chunkedPrefillSize, maxPrefillTokens,
                    maxRunningRequests, schedulePolicy, scheduleConservativeness, disableRadixCache, enableMixedChunk,
                    contextLength, maxQueuedRequests, deviceSampling, priority, waitingTimeoutSeconds, overlapSchedule,
                    decodeLogInterval);
        }
    }
}
