package kiln.engine;

import kiln.Log;
import kiln.engine.StepPlanner.Entry;

import java.util.List;
import java.util.Locale;

/**
 * The scheduler's progress lines, worded as SGLang's scheduler words them, so that the logs read (and parse) the
 * same: one line per prefill batch, and one per {@code decodeLogInterval} decode steps with the generation
 * throughput since the last such line.
 * <pre>
 *   Prefill batch. #new-seq: 1, #new-token: 3200, #cached-token: 0, token usage: 0.05, #running-req: 63, #queue-req: 0,
 *   Decode batch. #running-req: 64, #token: 215040, token usage: 0.41, gen throughput (token/s): 2538.12, #queue-req: 0,
 * </pre>
 * {@code #new-seq} counts the sequences with prompt tokens in the batch (a chunked prompt's later chunks too),
 * {@code #cached-token} the radix-cache hits of the sequences starting in it, {@code #running-req} the sequences
 * decoding beside them. Owned by the scheduler thread.
 */
final class StepLog {
    private final int decodeInterval;
    private int decodeSteps;
    private long lastDecodeLog = System.nanoTime(), generatedAtLastLog;

    /** {@code decodeInterval} as EngineConfig has checked it (at least 1). */
    StepLog(int decodeInterval) {
        this.decodeInterval = decodeInterval;
    }

    /** A planned step with prompt tokens, before its launch; {@code running} counts every running sequence, these included. */
    void prefill(List<Entry> entries, int running, int queued, KvSlots kv) {
        int seqs = 0, tokens = 0, cached = 0;
        for (Entry e : entries) {
            if (!e.prefill()) continue;
            seqs++;
            tokens += e.fed();
            if (e.seq().kv.computed() == e.seq().cachedTokens) cached += e.seq().cachedTokens;  // its first chunk (planned, not yet run)
        }
        Log.info("%s", String.format(Locale.ROOT, "Prefill batch. #new-seq: %d, #new-token: %d, #cached-token: %d, token usage: %.2f, "
                + "#running-req: %d, #queue-req: %d, ", seqs, tokens, cached, usage(kv), running - seqs, queued));
    }

    /** A planned decode step; {@code generated} is the engine's total of generated tokens so far. */
    void decode(int running, int queued, KvSlots kv, long generated) {
        if (++decodeSteps % decodeInterval != 0) return;
        long now = System.nanoTime();
        double throughput = (generated - generatedAtLastLog) / Math.max(1e-9, (now - lastDecodeLog) / 1e9);
        lastDecodeLog = now;
        generatedAtLastLog = generated;
        Log.info("%s", String.format(Locale.ROOT, "Decode batch. #running-req: %d, #token: %d, token usage: %.2f, gen throughput (token/s): %.2f, "
                + "#queue-req: %d, ", running, kv.usedTokens(), usage(kv), throughput, queued));
    }

    private static double usage(KvSlots kv) {
        return kv.capacity() == 0 ? 0 : (double) kv.usedTokens() / kv.capacity();
    }
}
