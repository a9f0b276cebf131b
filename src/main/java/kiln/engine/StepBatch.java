package kiln.engine;

import kiln.backend.ForwardBatch;
import kiln.backend.SampledIds;
import kiln.engine.StepPlanner.Entry;

import java.util.ArrayList;
import java.util.List;

/** A planned step's entries as the model's flat {@link ForwardBatch}. */
final class StepBatch {
    private StepBatch() {}

    /** The entries whose sequences have not ended, packed again from token 0 (their slots stay as planned). */
    static List<Entry> withoutEnded(List<Entry> entries) {
        List<Entry> kept = new ArrayList<>();
        int start = 0;
        for (Entry e : entries) {
            if (e.seq().ended) continue;
            kept.add(new Entry(e.seq(), start, e.fed(), e.promptLogprobPositions(), e.samples(), e.prefill()));
            start += e.fed();
        }
        return kept;
    }

    /**
     * The flat token batch of the entries; logit rows in order, each entry's prompt logprob positions then its
     * sample (the order Scheduler reads them back). A token not yet settled is the in-flight step's sample
     * ({@code inFlight}, its ids): a future token, read where those ids are.
     */
    static ForwardBatch of(List<Entry> entries, SampledIds inFlight) {
        int total = entries.stream().mapToInt(Entry::fed).sum();
        int[] tokens = new int[total], positions = new int[total];
        List<ForwardBatch.Seq> seqs = new ArrayList<>();
        List<Integer> rows = new ArrayList<>();
        boolean future = false;
        for (Entry e : entries) {
            Sequence s = e.seq();
            int computed = s.kv.computed();
            for (int i = 0; i < e.fed(); i++) {
                int t = s.tokens[computed + i];
                if (t == Sequence.UNSETTLED) {
                    if (inFlight == null || computed + i != s.length - 1 || s.futureRow < 0 || s.futureRow >= inFlight.count()) {
                        throw new IllegalStateException("sequence " + s.request.id() + " feeds an unsettled token at " + (computed + i)
                                + " with no step in flight to read it from");
                    }
                    t = -1 - s.futureRow;
                    future = true;
                }
                tokens[e.start() + i] = t;
                positions[e.start() + i] = computed + i;
            }
            seqs.add(new ForwardBatch.Seq(e.start(), e.fed(), computed, s.kv.slots()));
            for (int p : e.promptLogprobPositions()) rows.add(e.start() + p - computed);
            if (e.samples()) rows.add(e.start() + e.fed() - 1);
        }
        return new ForwardBatch(tokens, positions, seqs, rows.stream().mapToInt(Integer::intValue).toArray(),
                future ? inFlight : null);
    }
}
