package kiln.grammar;

/**
 * The context-independent token cache of one automaton state s (a state with byte edges, in rule R): what every
 * token does when matched from s alone, with nothing known below R's frame.
 *
 * <ul>
 *   <li>{@code accepted}: tokens matched entirely inside R (sub-rules pushed and popped along the way), or that
 *       end exactly where R may end. They are allowed whatever the stack below holds.</li>
 *   <li>{@code tails}: tokens that can only go on by leaving R, at some byte offset; what follows that offset
 *       must be matched by the context below R. The trie holds those remaining bytes (a token may appear under
 *       several offsets), already filtered by FOLLOW(R) (or a superset of it, when the tables are shared with
 *       other grammars: {@link RuleTables}), so most are gone before run time.</li>
 *   <li>all other tokens are rejected whatever the context.</li>
 * </ul>
 *
 * <p>A mask for a run-time stack set is then the union over its top frames of {@code accepted}, plus the tails
 * walked from each frame's parent, a few dozen trie nodes instead of 129,280 tokens.
 *
 * @param sparse accepted token ids, when few; else null
 * @param dense  accepted tokens as a bitmask, when many; else null
 * @param tails  token tails to match against the context, or null when there are none
 */
record StateTokens(int[] sparse, long[] dense, ByteTrie tails) {
    /** Above this many accepted tokens a state keeps a bitmask (OR-ing it costs about as much as setting that many bits). */
    static final int DENSE_ABOVE = 1024;

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

    /**
     * Classifies every token of {@code vocab} for every state of {@code a} that has byte edges (null for the
     * others), taking the tables of rules already classified in another grammar from {@code shared} (may be null).
     */
    static StateTokens[] build(Automaton a, Vocabulary vocab, RuleTables shared) {
        StackSpace space = new StackSpace(a);
        Walk walk = null;
        StateTokens[] out = new StateTokens[a.states];
        for (int r = 0; r < a.ruleNames.length; r++) {
            int from = a.ruleStart[r], to = a.ruleStart[r + 1];
            if (from == to) continue;
            RuleTables.Key key = shared == null ? null : RuleTables.key(a, r);
            RuleTables.Entry known = shared == null ? null : shared.get(key);
            StateTokens[] tables;
            if (known != null && known.covers(a.follow[r])) {
                tables = known.tables();
            } else {
                long[] follow = a.follow[r].clone();
                if (known != null) for (int i = 0; i < 4; i++) follow[i] |= known.follow()[i];
                if (walk == null) walk = new Walk(vocab);
                tables = new StateTokens[to - from];
                for (int s = from; s < to; s++) if (a.hasBytes(s)) tables[s - from] = walk.classify(space, s, follow);
                if (shared != null) shared.put(key, new RuleTables.Entry(follow, tables));
            }
            System.arraycopy(tables, 0, out, from, to - from);
        }
        return out;
    }

    /** Scratch for classifying one state after another. */
    private static final class Walk {
        final Vocabulary vocab;
        final ByteTrie trie;
        final int[] setAt;
        final int[] acceptedIn;  // per token: the state (+1) that last accepted it
        final IntList accepted = new IntList(1024), tailTokens = new IntList(), tailOffsets = new IntList();

        Walk(Vocabulary vocab) {
            this.vocab = vocab;
            this.trie = vocab.trie;
            this.setAt = new int[trie.maxDepth + 1];
            this.acceptedIn = new int[vocab.size];
        }

        /** The table of state s, keeping the tails whose first byte is in {@code follow}. */
        StateTokens classify(StackSpace space, int s, long[] follow) {
            boolean mayLeave = follow[0] != 0 || follow[1] != 0 || follow[2] != 0 || follow[3] != 0;
            accepted.clear();
            tailTokens.clear();
            tailOffsets.clear();
            ByteTrie t = trie;
            int[] sub = t.subtreeEnd, ts = t.tokenStart, toks = t.tokens;
            setAt[0] = space.positionSet(s);
            int mark = s + 1;
            for (int i = 1; i < t.nodes; ) {
                int d = t.depth[i];
                int next = space.step(setAt[d - 1], t.label[i] & 0xFF);
                if (next == StackSpace.DEAD) {
                    i = sub[i];
                    continue;
                }
                setAt[d] = next;
                for (int k = ts[i], end = ts[i + 1]; k < end; k++) {
                    accepted.add(toks[k]);
                    acceptedIn[toks[k]] = mark;
                }
                if (mayLeave && space.canEnd(next)) {
                    // the rule may end after these d bytes: the children that some context could continue are tails
                    for (int c = i + 1; c < sub[i]; c = sub[c]) {
                        if (!Automaton.hasByte(follow, t.label(c))) continue;
                        for (int k = ts[c], end = ts[sub[c]]; k < end; k++) {
                            tailTokens.add(toks[k]);
                            tailOffsets.add(d);
                        }
                    }
                }
                i = space.frameCount(next) == 0 ? sub[i] : i + 1;
            }
            return new StateTokens(sparseOrNull(), denseOrNull(), tails(mark));
        }

        private int[] sparseOrNull() {
            return accepted.size() > DENSE_ABOVE ? null : accepted.toArray();
        }

        private long[] denseOrNull() {
            if (accepted.size() <= DENSE_ABOVE) return null;
            long[] m = new long[vocab.words()];
            for (int i = 0; i < accepted.size(); i++) {
                int tok = accepted.get(i);
                m[tok >>> 6] |= 1L << tok;
            }
            return m;
        }

        private ByteTrie tails(int mark) {
            int n = 0;
            int[] ids = new int[tailTokens.size()], offs = new int[tailTokens.size()];
            byte[][] bytes = new byte[tailTokens.size()][];
            for (int i = 0; i < tailTokens.size(); i++) {
                int tok = tailTokens.get(i);
                if (acceptedIn[tok] == mark) continue;  // allowed anyway
                ids[n] = tok;
                offs[n] = tailOffsets.get(i);
                bytes[n++] = vocab.bytes[tok];
            }
            return n == 0 ? null : ByteTrie.build(bytes, offs, ids, n);
        }
    }

    @Override
    public String toString() {
        return "StateTokens[" + acceptedCount() + " accepted, " + (tails == null ? 0 : tails.tokens.length) + " tails]";
    }
}
