package kiln.engine;

import kiln.backend.ForwardBatch;
import kiln.backend.KvCache;
import kiln.model.Model;

import java.util.ArrayList;
import java.util.List;

/**
 * Offline generation for a fixed set of prompts, decoded together: prefill (optionally in chunks), then one
 * decode step per new token for all sequences. Slots are handed out in order from a private KV pool. The serving
 * engine (Scheduler, StepPlanner, KvSlots) does the same with admission, prefix reuse and retraction; this is the
 * small version for {@code kiln generate}, benchmarks and tests.
 */
public final class SimpleGenerator implements AutoCloseable {
    private final Model model;
    private final KvCache cache;
    private int nextSlot;

    public SimpleGenerator(Model model, int slots) {
        this.model = model;
        this.cache = model.newKvCache(slots);
    }

    /** A sequence being generated: its tokens so far and their slots. */
    public final class Sequence {
        final List<Integer> tokens = new ArrayList<>();
        final List<Integer> slots = new ArrayList<>();
        int cached;

        Sequence(int[] prompt) {
            for (int t : prompt) tokens.add(t);
        }

        public int[] tokens() {
            return tokens.stream().mapToInt(Integer::intValue).toArray();
        }
    }

    public Sequence start(int[] prompt) {
        if (prompt.length == 0) throw new IllegalArgumentException("empty prompt");
        return new Sequence(prompt);
    }

    /**
     * Runs one forward over the uncached tokens of each sequence (at most {@code chunk} per sequence, all if
     * chunk <= 0) and returns logits [seqs, vocab] at each sequence's last fed token, or all fed positions when
     * {@code allLogits}.
     */
    public float[] step(List<Sequence> seqs, int chunk, boolean allLogits) {
        List<Integer> tokens = new ArrayList<>(), positions = new ArrayList<>(), logitRows = new ArrayList<>();
        List<ForwardBatch.Seq> batchSeqs = new ArrayList<>();
        for (Sequence s : seqs) {
            int pending = s.tokens.size() - s.cached;
            int n = chunk > 0 ? Math.min(chunk, pending) : pending;
            if (n <= 0) throw new IllegalStateException("sequence has nothing to feed");
            int start = tokens.size();
            for (int i = 0; i < n; i++) {
                int pos = s.cached + i;
                tokens.add(s.tokens.get(pos));
                positions.add(pos);
                if (nextSlot >= cache.slots()) throw new IllegalStateException("KV pool of " + cache.slots() + " slots is full");
                s.slots.add(nextSlot++);
                if (allLogits) logitRows.add(start + i);
            }
            if (!allLogits) logitRows.add(start + n - 1);
            batchSeqs.add(new ForwardBatch.Seq(start, n, s.cached, s.slots.stream().mapToInt(Integer::intValue).toArray()));
            s.cached += n;
        }
        ForwardBatch batch = new ForwardBatch(toArray(tokens), toArray(positions), batchSeqs, toArray(logitRows));
        return model.backend().download(model.forward(batch, cache));
    }

    /** Appends a generated token; it is fed at the next step. */
    public void append(Sequence s, int token) {
        s.tokens.add(token);
    }

    public static int argmax(float[] logits, int row, int vocab) {
        int best = 0;
        for (int i = 1; i < vocab; i++) if (logits[row * vocab + i] > logits[row * vocab + best]) best = i;
        return best;
    }

    private static int[] toArray(List<Integer> l) {
        return l.stream().mapToInt(Integer::intValue).toArray();
    }

    @Override
    public void close() {
        cache.close();
    }
}
