package kiln.grammar;

import java.util.Arrays;

/**
 * One request's position in a {@link CompiledGrammar}: which tokens may come next ({@link #fillMask}), and the
 * tokens that came ({@link #accept}).
 *
 * <p><b>Threads.</b> A matcher is not thread-safe, but it is not bound to a thread either: the engine may compute
 * the next mask on one thread while the current step runs on another, as long as one thread at a time uses it and
 * the hand-over happens-before the next use (an executor, a queue, a future or a lock all give that). It holds its
 * own memo of byte transitions, so nothing is shared with other matchers of the same grammar.
 */
public final class GrammarMatcher {
    private final Automaton automaton;
    private final StateTokens[] tables;
    private final Vocabulary vocab;
    private final StackSpace space;
    private int current;
    private boolean terminated;

    private final int[] stateSeen;
    private final int[] tailFrom;
    private final IntList pending = new IntList();
    private final int[] setAt;
    private int epoch;

    GrammarMatcher(CompiledGrammar grammar) {
        this.automaton = grammar.automaton;
        this.tables = grammar.tables;
        this.vocab = grammar.vocab;
        this.space = new StackSpace(automaton);
        this.current = space.startSet(automaton.ruleStart[automaton.root]);
        this.stateSeen = new int[automaton.states];
        this.tailFrom = new int[automaton.states];
        this.setAt = new int[vocab.maxTokenBytes + 1];
    }

    /**
     * Writes the tokens allowed next into {@code bitmask}: bit {@code id & 63} of word {@code id >>> 6} is set when
     * token {@code id} may come next. The first {@code ceil(vocabSize / 64)} words are overwritten, others left
     * alone. End tokens are allowed exactly where the grammar may end (and alone, after it has ended); other
     * special tokens never.
     *
     * @throws IllegalArgumentException when {@code bitmask} has fewer than {@code ceil(vocabSize / 64)} words
     */
    public void fillMask(long[] bitmask) {
        int words = vocab.words();
        if (bitmask.length < words) throw new IllegalArgumentException("mask has " + bitmask.length + " words, needs " + words);
        Arrays.fill(bitmask, 0, words, 0L);
        if (terminated) {
            setEnds(bitmask);
            return;
        }
        int set = current;
        epoch++;
        pending.clear();
        for (int i = 0, n = space.frameCount(set); i < n; i++) {
            int f = space.frame(set, i);
            int s = space.state(f);
            StateTokens st = tables[s];
            if (stateSeen[s] != epoch) {
                stateSeen[s] = epoch;
                st.orInto(bitmask);
                tailFrom[s] = -1;
                if (st.hasTails()) pending.add(s);
            }
            int parent = space.parent(f);
            if (st.hasTails() && parent != StackSpace.BOTTOM) {
                int resumed = space.popSet(parent);
                tailFrom[s] = tailFrom[s] < 0 ? resumed : space.union(tailFrom[s], resumed);
            }
        }
        for (int i = 0; i < pending.size(); i++) {
            int s = pending.get(i);
            if (tailFrom[s] < 0) continue;
            if (tables[s].shortTokens().tails() != null) markTails(tables[s].shortTokens().tails(), tailFrom[s], bitmask);
            if (tables[s].longTokens().tails() != null) markTails(tables[s].longTokens().tails(), tailFrom[s], bitmask);
        }
        if (space.canEnd(set)) setEnds(bitmask);
    }

    /** Walks the tails' trie from the context's stack set, setting the tokens of every node the context takes. */
    private void markTails(ByteTrie t, int from, long[] bitmask) {
        int[] sub = t.subtreeEnd, ts = t.tokenStart, toks = t.tokens;
        setAt[0] = from;
        for (int i = 1; i < t.nodes; ) {
            int d = t.depth[i];
            int next = space.step(setAt[d - 1], t.label[i] & 0xFF);
            if (next == StackSpace.DEAD) {
                i = sub[i];
                continue;
            }
            setAt[d] = next;
            for (int k = ts[i], end = ts[i + 1]; k < end; k++) bitmask[toks[k] >>> 6] |= 1L << toks[k];
            i = space.frameCount(next) == 0 ? sub[i] : i + 1;
        }
    }

    private void setEnds(long[] bitmask) {
        for (int e : vocab.endIds) bitmask[e >>> 6] |= 1L << e;
    }

    /**
     * Advances past {@code tokenId} when the grammar allows it there; returns false and changes nothing otherwise.
     * An end token is accepted where the grammar may end and terminates the matcher.
     */
    public boolean accept(int tokenId) {
        int next = after(tokenId);
        if (next < 0) return false;
        if (next == Integer.MAX_VALUE) terminated = true;
        else current = next;
        return true;
    }

    /** Whether {@code tokenId} is allowed now (what {@link #fillMask} says of it), without advancing. */
    boolean allows(int tokenId) {
        return after(tokenId) >= 0;
    }

    /** The stack set after the token, MAX_VALUE for an accepted end token, -1 when not allowed. */
    private int after(int tokenId) {
        if (terminated || tokenId < 0 || tokenId >= vocab.size) return -1;
        if (vocab.isEnd(tokenId)) return space.canEnd(current) ? Integer.MAX_VALUE : -1;
        byte[] b = tokenId < vocab.bytes.length ? vocab.bytes[tokenId] : null;
        if (b == null) return -1;
        int next = space.walk(current, b);
        return next == StackSpace.DEAD ? -1 : next;
    }

    /** Whether the output so far is complete: an end token is allowed now. */
    public boolean canTerminate() {
        return !terminated && space.canEnd(current);
    }

    /**
     * Whether the matcher is finished: an end token was accepted, or the output is complete and the grammar allows
     * nothing after it (only an end token could follow). Either way the request can stop here.
     */
    public boolean isTerminated() {
        return terminated || (space.frameCount(current) == 0 && space.canEnd(current));
    }

    /** Interned stack sets this matcher has seen (its memo's size), for diagnostics. */
    int stackSets() {
        return space.sets();
    }
}
