package kiln.engine;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The scheduler's running totals, each counted by the part that sees the event: admissions and retractions in
 * StepPlanner, generated tokens in OutputEmitter, where steps sampled in StepSampler, finishes, step times and
 * overlapped steps in Scheduler. Only the scheduler thread writes them; readers get {@link EngineStats} snapshots.
 */
final class Counters {
    long promptTokens, cachedPromptTokens, generationTokens, retracted;
    long decodeSteps, decodeStepNanos, decodeStepSequences, deviceSampledSteps, hostSampledSteps, overlappedSteps;
    long prefillSteps, prefillStepNanos, prefillStepTokens;
    final Map<String, Long> finishedByReason = new LinkedHashMap<>();

    /** A step that only decoded (no prefill chunk), for the step-time-against-batch figures. */
    void decodeStep(long nanos, int sequences) {
        decodeSteps++;
        decodeStepNanos += nanos;
        decodeStepSequences += sequences;
    }

    /** A step with prompt tokens (and, with mixed chunks, decode tokens beside them): {@code tokens} prompt tokens fed. */
    void prefillStep(long nanos, int tokens) {
        prefillSteps++;
        prefillStepNanos += nanos;
        prefillStepTokens += tokens;
    }

    EngineStats snapshot(int running, int queued, KvSlots kv, double newTokenRatio) {
        return new EngineStats(running, queued, kv.usedTokens(), kv.cachedTokens(), kv.capacity(), promptTokens,
                generationTokens, cachedPromptTokens, Map.copyOf(finishedByReason), retracted, newTokenRatio,
                decodeSteps, decodeStepNanos, decodeStepSequences, prefillSteps, prefillStepNanos, prefillStepTokens, deviceSampledSteps,
                hostSampledSteps, overlappedSteps);
    }
}
