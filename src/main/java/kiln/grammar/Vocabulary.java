package kiln.grammar;

import kiln.tokenizer.Tokenizer;

import java.util.Arrays;

/**
 * The tokens a grammar chooses among: each id's bytes, which ids end the output, and the tries over them.
 * Special tokens (BOS, EOS, padding, DeepSeek's placeholders) are not text: they are never allowed, except the
 * end tokens where the grammar may end. Ids at and above the tokenizer's vocabulary, up to the model's (its
 * embedding rows are padded: DeepSeek-V3 has 129,280 rows for 128,815 tokens), are never allowed.
 */
final class Vocabulary {
    /** Bits in a mask: the model's vocabulary size. */
    final int size;
    /** Per token id: its bytes, or null for special and empty tokens. */
    final byte[][] bytes;
    final int[] endIds;
    /** The tokens of at most {@link #SHORT} bytes, and the longer ones (see {@link StateTokens}). */
    final ByteTrie shortTrie, longTrie;
    final int maxTokenBytes;

    /**
     * Where short tokens end: all but 71 of DeepSeek's 128,011 text tokens have at most 32 bytes. Lower bounds
     * share more tables between counted states but leave more long tokens, whose accepted set a mask sets token by
     * token (at 16 bytes, 925 of them: twice the mean mask time inside free strings).
     */
    static final int SHORT = 32;

    Vocabulary(int size, byte[][] bytes, int[] endIds) {
        if (size < bytes.length) throw new IllegalArgumentException("vocabulary size " + size + " is below the tokenizer's " + bytes.length);
        this.size = size;
        this.bytes = bytes;
        this.endIds = endIds;
        this.shortTrie = trie(bytes, true);
        this.longTrie = trie(bytes, false);
        int max = 0;
        for (byte[] b : bytes) if (b != null) max = Math.max(max, b.length);
        this.maxTokenBytes = max;
    }

    private static ByteTrie trie(byte[][] bytes, boolean shortOnes) {
        int[] ids = new int[bytes.length];
        byte[][] chosen = new byte[bytes.length][];
        int n = 0;
        for (int id = 0; id < bytes.length; id++) {
            if (bytes[id] == null || (bytes[id].length <= SHORT) != shortOnes) continue;
            chosen[n] = bytes[id];
            ids[n++] = id;
        }
        return ByteTrie.build(chosen, new int[n], ids, n);
    }

    static Vocabulary of(Tokenizer tokenizer, int size) {
        int n = tokenizer.vocabSize();
        byte[][] bytes = new byte[n][];
        for (int id = 0; id < n; id++) {
            if (tokenizer.isSpecial(id)) continue;
            byte[] b = tokenizer.tokenBytes(id);
            if (b.length > 0) bytes[id] = b;
        }
        int[] ends = tokenizer.eosIds().stream().mapToInt(Integer::intValue).filter(id -> id >= 0 && id < size).distinct().toArray();
        return new Vocabulary(size, bytes, ends);
    }

    boolean isEnd(int id) {
        for (int e : endIds) if (e == id) return true;
        return false;
    }

    int words() {
        return (size + 63) >>> 6;
    }

    @Override
    public String toString() {
        return "Vocabulary[" + size + " ids, " + (shortTrie.nodes + longTrie.nodes) + " trie nodes, end " + Arrays.toString(endIds) + "]";
    }
}
