package kiln.grammar;

/**
 * What one walk of a token trie from one automaton state found: the tokens accepted whatever the stack below
 * holds, and the tails of the tokens that leave the state's rule (see {@link StateTokens}).
 *
 * @param sparse accepted token ids, when few; else null
 * @param dense  accepted tokens as a bitmask, when many; else null
 * @param tails  token tails to match against the context, or null when there are none
 */
record TokenTable(int[] sparse, long[] dense, ByteTrie tails) {
    /** Above this many accepted tokens a table keeps a bitmask (OR-ing it costs about as much as setting that many bits). */
    static final int DENSE_ABOVE = 1024;

    static TokenTable of(IntList accepted, int words, ByteTrie tails) {
        if (accepted.size() <= DENSE_ABOVE) return new TokenTable(accepted.toArray(), null, tails);
        long[] m = new long[words];
        for (int i = 0; i < accepted.size(); i++) {
            int tok = accepted.get(i);
            m[tok >>> 6] |= 1L << tok;
        }
        return new TokenTable(null, m, tails);
    }

    void orInto(long[] mask) {
        if (dense != null) {
            for (int i = 0; i < dense.length; i++) mask[i] |= dense[i];
        } else {
            for (int t : sparse) mask[t >>> 6] |= 1L << t;
        }
    }

    int acceptedCount() {
        if (sparse != null) return sparse.length;
        int c = 0;
        for (long w : dense) c += Long.bitCount(w);
        return c;
    }

    long bytesUsed() {
        return (sparse != null ? sparse.length * 4L : dense.length * 8L) + (tails == null ? 0 : tails.bytesUsed());
    }
}
