package kiln.backend;

import java.util.List;

/**
 * One model step over several sequences, flattened: {@code tokens[i]} sits at {@code positions[i]}. Each sequence
 * owns tokens [tokenStart, tokenStart + newTokens) of the flat list and has {@code cachedTokens} earlier tokens
 * already in the KV pool. {@code slots} lists the pool slots of all its tokens, cached ones first; the new tokens'
 * K/V are written at slots[cachedTokens ...]. Logits are computed for the flat rows in {@code logitRows} only.
 *
 * <p>Future tokens: with {@code previous} set, a token {@code t < 0} stands for the id {@code previous} holds in
 * row {@code -1 - t}, which the last step sampled and the host may not have seen yet (the overlapped scheduler).
 * The backend resolves it where the ids are, before the embedding reads it; {@link #resolved} is the host's way.
 */
public record ForwardBatch(int[] tokens, int[] positions, List<Seq> seqs, int[] logitRows, SampledIds previous) {

    public record Seq(int tokenStart, int newTokens, int cachedTokens, int[] slots) {
        public Seq {
            if (slots.length < cachedTokens + newTokens) {
                throw new IllegalArgumentException("sequence needs " + (cachedTokens + newTokens) + " slots, has " + slots.length);
            }
        }

        public int totalTokens() {
            return cachedTokens + newTokens;
        }
    }

    public ForwardBatch {
        if (tokens.length != positions.length) throw new IllegalArgumentException("tokens and positions differ in length");
        for (int t : tokens) {
            if (t < 0 && (previous == null || -1 - t >= previous.count())) {
                throw new IllegalArgumentException("future token " + t + " refers to row " + (-1 - t) + " of a previous step that sampled "
                        + (previous == null ? "nothing" : previous.count() + " rows"));
            }
        }
    }

    /** A batch whose tokens are all known. */
    public ForwardBatch(int[] tokens, int[] positions, List<Seq> seqs, int[] logitRows) {
        this(tokens, positions, seqs, logitRows, null);
    }

    /** Whether some token is the previous step's sample, still to be resolved. */
    public boolean hasFutureTokens() {
        if (previous == null) return false;
        for (int t : tokens) if (t < 0) return true;
        return false;
    }

    /** This batch with its future tokens replaced by the ids they stand for (waiting for them on the host). */
    public ForwardBatch resolved() {
        if (!hasFutureTokens()) return this;
        int[] ids = previous.await(), known = tokens.clone();
        for (int i = 0; i < known.length; i++) if (known[i] < 0) known[i] = ids[-1 - known[i]];
        return new ForwardBatch(known, positions, seqs, logitRows, null);
    }

    public int numTokens() {
        return tokens.length;
    }

    /** Every sequence's whole visible context (cached and new tokens), summed: the slots the batch references. */
    public int contextTokens() {
        int n = 0;
        for (Seq s : seqs) n += s.totalTokens();
        return n;
    }

    /** True when logits are wanted for every token, in order (decode: nothing to gather). */
    public boolean logitsForEveryRow() {
        if (logitRows.length != tokens.length) return false;
        for (int i = 0; i < logitRows.length; i++) if (logitRows[i] != i) return false;
        return true;
    }

    /** True when every sequence adds exactly one token (a decode step). */
    public boolean isDecode() {
        return seqs.stream().allMatch(s -> s.newTokens() == 1);
    }
}
