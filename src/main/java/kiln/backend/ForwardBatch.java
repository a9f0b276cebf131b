package kiln.backend;

import java.util.List;

/**
 * One model step over several sequences, flattened: {@code tokens[i]} sits at {@code positions[i]}. Each sequence
 * owns tokens [tokenStart, tokenStart + newTokens) of the flat list and has {@code cachedTokens} earlier tokens
 * already in the KV pool. {@code slots} lists the pool slots of all its tokens, cached ones first; the new tokens'
 * K/V are written at slots[cachedTokens ...]. Logits are computed for the flat rows in {@code logitRows} only.
 */
public record ForwardBatch(int[] tokens, int[] positions, List<Seq> seqs, int[] logitRows) {

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
