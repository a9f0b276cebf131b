package kiln.grammar;

import java.util.HashMap;
import java.util.Map;

/**
 * The context-independent token cache of one automaton state s (a state with byte edges, in rule R): what every
 * token does when matched from s alone, with nothing known below R's frame.
 *
 * <ul>
 *   <li>accepted: tokens matched entirely inside R (sub-rules pushed and popped along the way), or that end
 *       exactly where R may end. They are allowed whatever the stack below holds.</li>
 *   <li>tails: tokens that can only go on by leaving R, at some byte offset; what follows that offset must be
 *       matched by the context below R. A trie holds those remaining bytes (a token may appear under several
 *       offsets), already filtered by FOLLOW(R) (or a superset of it, when the tables are shared with other
 *       grammars: {@link RuleTables}), so most are gone before run time.</li>
 *   <li>all other tokens are rejected whatever the context.</li>
 * </ul>
 *
 * <p>A mask for a run-time stack set is then the union over its top frames of the accepted tokens, plus the tails
 * walked from each frame's parent, a few dozen trie nodes instead of 129,280 tokens.
 *
 * <p>The vocabulary is classified in two parts. Short tokens (at most {@link Vocabulary#SHORT} bytes: all but 71
 * of DeepSeek's) only see the states within that many bytes, so states that no string of that length tells apart
 * share one short table: the counted states of a {@code maxLength: 500} string are all alike until their last 32
 * characters, and are classified once, not 500 times. The few long tokens share tables the same way, with the
 * bound at the longest token.
 *
 * @param shortTokens the table of the short tokens, shared between states alike within {@link Vocabulary#SHORT} bytes
 * @param longTokens  the table of the long tokens, shared between states alike within the longest token
 */
record StateTokens(TokenTable shortTokens, TokenTable longTokens) {
    void orInto(long[] mask) {
        shortTokens.orInto(mask);
        longTokens.orInto(mask);
    }

    boolean hasTails() {
        return shortTokens.tails() != null || longTokens.tails() != null;
    }

    int acceptedCount() {
        return shortTokens.acceptedCount() + longTokens.acceptedCount();
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
                tables = classifyRule(a, space, walk, from, to, follow);
                if (shared != null) shared.put(key, new RuleTables.Entry(follow, tables));
            }
            System.arraycopy(tables, 0, out, from, to - from);
        }
        return out;
    }

    private static StateTokens[] classifyRule(Automaton a, StackSpace space, Walk walk, int from, int to, long[] follow) {
        Vocabulary vocab = walk.vocab;
        int[] shortClass = alike(a, from, to, initialClasses(a, from, to), Vocabulary.SHORT);
        int[] longClass = alike(a, from, to, shortClass, vocab.maxTokenBytes - Vocabulary.SHORT);
        Map<Integer, TokenTable> shortTables = new HashMap<>(), longTables = new HashMap<>();
        StateTokens[] tables = new StateTokens[to - from];
        for (int s = from; s < to; s++) {
            if (!a.hasBytes(s)) continue;
            TokenTable shortTable = shortTables.get(shortClass[s - from]);
            if (shortTable == null) shortTables.put(shortClass[s - from], shortTable = walk.classify(vocab.shortTrie, space, s, follow));
            TokenTable longTable = longTables.get(longClass[s - from]);
            if (longTable == null) longTables.put(longClass[s - from], longTable = walk.classify(vocab.longTrie, space, s, follow));
            tables[s - from] = new StateTokens(shortTable, longTable);
        }
        return tables;
    }

    /**
     * The states of one rule (indexes {@code from..to}) apart unless they agree on accepting, on having byte edges
     * and on their calls (callee and return state exactly, since a call may consume any number of bytes).
     */
    static int[] initialClasses(Automaton a, int from, int to) {
        int[] cls = new int[to - from];
        Map<Dfa.Key, Integer> ids = new HashMap<>();
        for (int s = from; s < to; s++) {
            IntList sig = new IntList();
            sig.add(a.accepting[s] ? 1 : 0, a.hasBytes(s) ? 1 : 0);
            for (int i = a.callStart[s]; i < a.callStart[s + 1]; i++) sig.add(a.callRule[i], a.callTo[i]);
            cls[s - from] = ids.computeIfAbsent(new Dfa.Key(sig.toArray()), k -> ids.size());
        }
        return cls;
    }

    /**
     * Bounded Moore refinement: {@code rounds} more rounds from {@code start}, each splitting the states whose byte
     * edges lead to different classes of the round before. After k rounds from {@link #initialClasses}, states of
     * one class are told apart by no byte string of at most k bytes, so they give every token of at most k bytes
     * the same fate. Stops early when a round splits nothing (the classes are then those of the minimal DFA).
     */
    static int[] alike(Automaton a, int from, int to, int[] start, int rounds) {
        int n = to - from;
        int[] cls = start;
        int count = 0;
        for (int c : cls) count = Math.max(count, c + 1);
        int[] table = new int[Integer.highestOneBit(Math.max(n, 8) * 2) * 2];
        for (int round = 0; round < rounds && count < n; round++) {
            int[] next = new int[n];
            java.util.Arrays.fill(table, -1);
            int mask = table.length - 1, made = 0;
            for (int s = from; s < to; s++) {
                int h = signatureHash(a, s, from, cls);
                int i = h & mask;
                while (table[i] >= 0 && !sameSignature(a, s, from + table[i], from, cls)) i = (i + 1) & mask;
                if (table[i] < 0) {
                    table[i] = s - from;
                    next[s - from] = made++;
                } else {
                    next[s - from] = next[table[i]];
                }
            }
            cls = next;
            if (made == count) break;
            count = made;
        }
        return cls;
    }

    private static int signatureHash(Automaton a, int s, int from, int[] cls) {
        int h = cls[s - from] * 0x9E3779B1;
        int lastTo = -1, lastHi = -2;
        for (int i = a.rangeStart[s]; i < a.rangeStart[s + 1]; i++) {
            int t = cls[a.rangeTo[i] - from];
            // a range continuing the run of one class changes nothing: runs are what sameSignature compares
            if (t != lastTo || a.rangeLo[i] != lastHi + 1) h = (h * 31 + a.rangeLo[i]) * 31 + t;
            lastTo = t;
            lastHi = a.rangeHi[i];
        }
        h ^= h >>> 16;
        return h * 0x85ebca6b;
    }

    /** Whether s and t are in one class and their byte edges, runs of one target class merged, match. */
    private static boolean sameSignature(Automaton a, int s, int t, int from, int[] cls) {
        if (cls[s - from] != cls[t - from]) return false;
        int i = a.rangeStart[s], iEnd = a.rangeStart[s + 1], j = a.rangeStart[t], jEnd = a.rangeStart[t + 1];
        while (i < iEnd && j < jEnd) {
            int ci = cls[a.rangeTo[i] - from], cj = cls[a.rangeTo[j] - from];
            if (ci != cj || a.rangeLo[i] != a.rangeLo[j]) return false;
            // extend both runs over adjacent ranges of the same class
            int hi = a.rangeHi[i], hj = a.rangeHi[j];
            while (i + 1 < iEnd && a.rangeLo[i + 1] == hi + 1 && cls[a.rangeTo[i + 1] - from] == ci) hi = a.rangeHi[++i];
            while (j + 1 < jEnd && a.rangeLo[j + 1] == hj + 1 && cls[a.rangeTo[j + 1] - from] == cj) hj = a.rangeHi[++j];
            if (hi != hj) return false;
            i++;
            j++;
        }
        return i == iEnd && j == jEnd;
    }

    /** Scratch for classifying one state after another. */
    private static final class Walk {
        final Vocabulary vocab;
        final int[] setAt;
        final int[] acceptedIn;  // per token: the walk (mark) that last accepted it
        final IntList accepted = new IntList(1024), tailTokens = new IntList(), tailOffsets = new IntList();
        int mark;

        Walk(Vocabulary vocab) {
            this.vocab = vocab;
            this.setAt = new int[vocab.maxTokenBytes + 1];
            this.acceptedIn = new int[vocab.size];
        }

        /** The table of state s for the tokens of trie t, keeping the tails whose first byte is in {@code follow}. */
        TokenTable classify(ByteTrie t, StackSpace space, int s, long[] follow) {
            boolean mayLeave = follow[0] != 0 || follow[1] != 0 || follow[2] != 0 || follow[3] != 0;
            accepted.clear();
            tailTokens.clear();
            tailOffsets.clear();
            int[] sub = t.subtreeEnd, ts = t.tokenStart, toks = t.tokens;
            setAt[0] = space.positionSet(s);
            mark++;
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
            return TokenTable.of(accepted, vocab.words(), tails());
        }

        private ByteTrie tails() {
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
        return "StateTokens[" + acceptedCount() + " accepted, short " + shortTokens + ", long " + longTokens + "]";
    }
}
