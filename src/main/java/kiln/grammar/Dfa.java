package kiln.grammar;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.ToIntFunction;

/**
 * A deterministic automaton for one rule: over bytes it is a DFA (one target per byte), and rule calls are labels
 * beside the bytes (one target per called rule). State 0 is the start. Built by subset construction from an
 * {@link Nfa} and minimized, so that equivalent positions in a rule (the same rest of a JSON object after different
 * optional keys, say) share one state and one mask table.
 */
final class Dfa {
    /** States a rule may take before it is refused. */
    static final int MAX_STATES = 200_000;

    final int size;
    final boolean[] accepting;
    /** Per state: sorted, disjoint byte ranges as {@code lo, hi, target} triples. */
    final int[][] ranges;
    /** Per state: {@code rule, target} pairs, sorted by rule. */
    final int[][] calls;

    Dfa(int size, boolean[] accepting, int[][] ranges, int[][] calls) {
        this.size = size;
        this.accepting = accepting;
        this.ranges = ranges;
        this.calls = calls;
    }

    /** The minimal DFA of {@code e}. */
    static Dfa of(Expr e, ToIntFunction<String> ruleIds, String where) {
        Nfa nfa = new Nfa(ruleIds, where);
        int start = nfa.newState();
        int end = nfa.build(e, start);
        return determinize(nfa, start, end, where).minimize();
    }

    static Dfa determinize(Nfa nfa, int start, int accept, String where) {
        Map<Key, Integer> ids = new HashMap<>();
        List<int[]> sets = new ArrayList<>();
        ArrayDeque<Integer> todo = new ArrayDeque<>();
        int[] stamp = new int[nfa.states];
        int[] epoch = {0};
        ToIntFunction<int[]> intern = seeds -> {
            int[] set = closure(nfa, seeds, stamp, ++epoch[0]);
            Key k = new Key(set);
            Integer id = ids.get(k);
            if (id != null) return id;
            if (sets.size() == MAX_STATES) {
                throw new GrammarException(where + " is too large to compile (over " + MAX_STATES + " automaton states)");
            }
            ids.put(k, sets.size());
            sets.add(set);
            todo.add(sets.size() - 1);
            return sets.size() - 1;
        };
        intern.applyAsInt(new int[] {start});
        List<int[]> rangesOut = new ArrayList<>(), callsOut = new ArrayList<>();
        List<Boolean> acc = new ArrayList<>();
        while (!todo.isEmpty()) {
            int d = todo.poll();
            int[] set = sets.get(d);
            // byte edges: cut the byte axis at every edge boundary, then find each piece's targets
            List<int[]> byteEdges = new ArrayList<>();
            TreeMap<Integer, List<Integer>> callTargets = new TreeMap<>();
            boolean accepting = false;
            for (int s : set) {
                if (s == accept) accepting = true;
                for (int e = nfa.head[s]; e >= 0; e = nfa.next[e]) {
                    if (nfa.kind[e] == Nfa.BYTES) byteEdges.add(new int[] {nfa.a[e], nfa.b[e], nfa.to[e]});
                    else if (nfa.kind[e] == Nfa.CALL) callTargets.computeIfAbsent(nfa.a[e], k -> new ArrayList<>()).add(nfa.to[e]);
                }
            }
            int[] cuts = byteEdges.stream().flatMapToInt(x -> java.util.stream.IntStream.of(x[0], x[1] + 1)).distinct().sorted().toArray();
            IntList out = new IntList();
            for (int c = 0; c + 1 < cuts.length; c++) {
                int lo = cuts[c], hi = cuts[c + 1] - 1;
                IntList targets = new IntList();
                for (int[] be : byteEdges) if (be[0] <= lo && hi <= be[1]) targets.add(be[2]);
                if (targets.size() == 0) continue;
                int t = intern.applyAsInt(targets.toArray());
                int n = out.size();
                if (n > 0 && out.get(n - 1) == t && out.get(n - 2) == lo - 1) out.set(n - 2, hi);
                else out.add(lo, hi, t);
            }
            IntList calls = new IntList();
            for (var ct : callTargets.entrySet()) {
                calls.add(ct.getKey(), intern.applyAsInt(ct.getValue().stream().mapToInt(Integer::intValue).toArray()));
            }
            while (rangesOut.size() <= d) {
                rangesOut.add(null);
                callsOut.add(null);
                acc.add(false);
            }
            rangesOut.set(d, out.toArray());
            callsOut.set(d, calls.toArray());
            acc.set(d, accepting);
        }
        int n = sets.size();
        boolean[] accepting = new boolean[n];
        for (int i = 0; i < n; i++) accepting[i] = acc.get(i);
        return new Dfa(n, accepting, rangesOut.toArray(new int[0][]), callsOut.toArray(new int[0][]));
    }

    private static int[] closure(Nfa nfa, int[] seeds, int[] stamp, int epoch) {
        IntList out = new IntList();
        ArrayDeque<Integer> stack = new ArrayDeque<>();
        for (int s : seeds) stack.push(s);
        while (!stack.isEmpty()) {
            int s = stack.pop();
            if (stamp[s] == epoch) continue;
            stamp[s] = epoch;
            out.add(s);
            for (int e = nfa.head[s]; e >= 0; e = nfa.next[e]) if (nfa.kind[e] == Nfa.EPS) stack.push(nfa.to[e]);
        }
        int[] set = out.toArray();
        Arrays.sort(set);
        return set;
    }

    /**
     * Hopcroft's partition refinement: states with the same future merge, in O(n log n) splits (Moore's rounds
     * would take one per character a counted repetition counts). The alphabet is this DFA's byte classes plus one
     * symbol per called rule; a sink state completes the DFA and is dropped at the end. The start stays state 0.
     */
    Dfa minimize() {
        // symbols: the byte classes of this DFA's ranges, then the called rules
        boolean[] cut = new boolean[257];
        cut[0] = cut[256] = true;
        java.util.TreeSet<Integer> rules = new java.util.TreeSet<>();
        for (int s = 0; s < size; s++) {
            for (int i = 0; i < ranges[s].length; i += 3) {
                cut[ranges[s][i]] = true;
                cut[ranges[s][i + 1] + 1] = true;
            }
            for (int i = 0; i < calls[s].length; i += 2) rules.add(calls[s][i]);
        }
        int[] classStart = new int[257];
        int byteClasses = 0;
        for (int b = 0; b < 256; b++) if (cut[b]) classStart[byteClasses++] = b;
        Map<Integer, Integer> ruleSymbol = new HashMap<>();
        for (int r : rules) ruleSymbol.put(r, byteClasses + ruleSymbol.size());
        int symbols = byteClasses + rules.size();
        int n = size + 1, sink = size;
        int[] delta = new int[n * symbols];
        java.util.Arrays.fill(delta, sink);
        for (int s = 0; s < size; s++) {
            int c = 0;
            for (int i = 0; i < ranges[s].length; i += 3) {
                while (classStart[c] < ranges[s][i]) c++;
                for (int k = c; k < byteClasses && classStart[k] <= ranges[s][i + 1]; k++) delta[s * symbols + k] = ranges[s][i + 2];
            }
            for (int i = 0; i < calls[s].length; i += 2) delta[s * symbols + ruleSymbol.get(calls[s][i])] = calls[s][i + 1];
        }
        // inverse transitions, per symbol and target
        int[] invStart = new int[symbols * n + 1];
        for (int s = 0; s < n; s++) for (int a = 0; a < symbols; a++) invStart[a * n + delta[s * symbols + a] + 1]++;
        for (int i = 0; i < symbols * n; i++) invStart[i + 1] += invStart[i];
        int[] inv = new int[n * symbols], fill = invStart.clone();
        for (int s = 0; s < n; s++) for (int a = 0; a < symbols; a++) inv[fill[a * n + delta[s * symbols + a]]++] = s;

        Partition p = new Partition(n);
        for (int s = 0; s < size; s++) if (accepting[s]) p.mark(s);
        p.splitMarked();
        ArrayDeque<long[]> work = new ArrayDeque<>();
        java.util.BitSet waiting = new java.util.BitSet();
        for (int b = 0; b < p.blocks; b++) for (int a = 0; a < symbols; a++) {
            work.add(new long[] {b, a});
            waiting.set(b * symbols + a);
        }
        while (!work.isEmpty()) {
            long[] w = work.poll();
            int splitter = (int) w[0], a = (int) w[1];
            waiting.clear(splitter * symbols + a);
            int[] members = p.members(splitter);
            for (int t : members) for (int i = invStart[a * n + t]; i < invStart[a * n + t + 1]; i++) p.mark(inv[i]);
            for (int[] split : p.splitMarked()) {
                int old = split[0], made = split[1];
                for (int d = 0; d < symbols; d++) {
                    if (waiting.get(old * symbols + d)) {
                        work.add(new long[] {made, d});
                        waiting.set(made * symbols + d);
                    } else {
                        int smaller = p.size(made) <= p.size(old) ? made : old;
                        work.add(new long[] {smaller, d});
                        waiting.set(smaller * symbols + d);
                    }
                }
            }
        }
        // rebuild: blocks in order of first appearance from state 0, the sink's block left out
        int sinkBlock = p.blockOf(sink);
        int[] renum = new int[p.blocks];
        java.util.Arrays.fill(renum, -1);
        int m = 0;
        int[] order = new int[p.blocks];
        for (int s = 0; s < size; s++) {
            int b = p.blockOf(s);
            if (renum[b] < 0 && (b != sinkBlock || s == 0)) {
                renum[b] = m;
                order[m++] = s;
            }
        }
        boolean[] acc = new boolean[m];
        int[][] rs = new int[m][], cs = new int[m][];
        for (int c = 0; c < m; c++) {
            int s = order[c];
            acc[c] = accepting[s];
            IntList r = new IntList();
            for (int i = 0; i < ranges[s].length; i += 3) {
                int b = p.blockOf(ranges[s][i + 2]);
                if (b == sinkBlock) continue;
                r.add(ranges[s][i], ranges[s][i + 1], renum[b]);
            }
            rs[c] = mergeRanges(r.toArray(), t -> t);
            IntList k = new IntList();
            for (int i = 0; i < calls[s].length; i += 2) {
                int b = p.blockOf(calls[s][i + 1]);
                if (b != sinkBlock) k.add(calls[s][i], renum[b]);
            }
            cs[c] = k.toArray();
        }
        return new Dfa(m, acc, rs, cs);
    }

    /**
     * A refinable partition of 0..n-1: each block's elements lie together in one array; marking moves an element
     * to the front of its block, and splitting makes the marked front of every touched block a block of its own.
     */
    private static final class Partition {
        final int[] elements, location, blockOfElement;
        int[] start, end, markedEnd;
        int blocks = 1;
        final IntList touched = new IntList();

        Partition(int n) {
            elements = new int[n];
            location = new int[n];
            blockOfElement = new int[n];
            for (int i = 0; i < n; i++) {
                elements[i] = i;
                location[i] = i;
            }
            start = new int[] {0};
            end = new int[] {n};
            markedEnd = new int[] {0};
        }

        int blockOf(int x) {
            return blockOfElement[x];
        }

        int size(int b) {
            return end[b] - start[b];
        }

        int[] members(int b) {
            return java.util.Arrays.copyOfRange(elements, start[b], end[b]);
        }

        void mark(int x) {
            int b = blockOfElement[x], i = location[x];
            if (i < markedEnd[b]) return;
            if (markedEnd[b] == start[b]) touched.add(b);
            int j = markedEnd[b]++;
            int y = elements[j];
            elements[j] = x;
            location[x] = j;
            elements[i] = y;
            location[y] = i;
        }

        /** Splits every touched block whose marked part is neither empty nor whole; returns (old, new) block pairs. */
        List<int[]> splitMarked() {
            List<int[]> made = new ArrayList<>();
            for (int k = 0; k < touched.size(); k++) {
                int b = touched.get(k);
                int mid = markedEnd[b];
                markedEnd[b] = start[b];
                if (mid == end[b]) continue;  // all marked: nothing to split
                if (blocks == start.length) {
                    int cap = blocks * 2;
                    start = java.util.Arrays.copyOf(start, cap);
                    end = java.util.Arrays.copyOf(end, cap);
                    markedEnd = java.util.Arrays.copyOf(markedEnd, cap);
                }
                int nb = blocks++;
                start[nb] = start[b];
                end[nb] = mid;
                markedEnd[nb] = start[nb];
                start[b] = mid;
                markedEnd[b] = mid;
                for (int i = start[nb]; i < end[nb]; i++) blockOfElement[elements[i]] = nb;
                made.add(new int[] {b, nb});
            }
            touched.clear();
            return made;
        }
    }

    private static int[] mergeRanges(int[] r, java.util.function.IntUnaryOperator map) {
        IntList out = new IntList();
        for (int i = 0; i < r.length; i += 3) {
            int t = map.applyAsInt(r[i + 2]);
            int n = out.size();
            if (n > 0 && out.get(n - 1) == t && out.get(n - 2) == r[i] - 1) out.set(n - 2, r[i + 1]);
            else out.add(r[i], r[i + 1], t);
        }
        return out.toArray();
    }

    /** The product automaton: text both accept. Neither may call rules. */
    static Dfa intersect(Dfa x, Dfa y) {
        Map<Long, Integer> ids = new HashMap<>();
        List<long[]> pairs = new ArrayList<>();
        ArrayDeque<Integer> todo = new ArrayDeque<>();
        ToIntFunction<long[]> intern = p -> ids.computeIfAbsent(p[0] << 32 | p[1], k -> {
            pairs.add(p);
            todo.add(pairs.size() - 1);
            return pairs.size() - 1;
        });
        intern.applyAsInt(new long[] {0, 0});
        List<int[]> rs = new ArrayList<>();
        List<Boolean> acc = new ArrayList<>();
        while (!todo.isEmpty()) {
            int d = todo.poll();
            int p = (int) pairs.get(d)[0], q = (int) pairs.get(d)[1];
            if (x.calls[p].length > 0 || y.calls[q].length > 0) throw new IllegalStateException("intersection of rule references");
            IntList out = new IntList();
            int[] a = x.ranges[p], b = y.ranges[q];
            for (int i = 0; i < a.length; i += 3) {
                for (int j = 0; j < b.length; j += 3) {
                    int lo = Math.max(a[i], b[j]), hi = Math.min(a[i + 1], b[j + 1]);
                    if (lo <= hi) out.add(lo, hi, intern.applyAsInt(new long[] {a[i + 2], b[j + 2]}));
                }
            }
            while (rs.size() <= d) {
                rs.add(null);
                acc.add(false);
            }
            int[] sorted = sortTriples(out.toArray());
            rs.set(d, sorted);
            acc.set(d, x.accepting[p] && y.accepting[q]);
        }
        int n = pairs.size();
        boolean[] accepting = new boolean[n];
        int[][] calls = new int[n][];
        for (int i = 0; i < n; i++) {
            accepting[i] = acc.get(i);
            calls[i] = new int[0];
        }
        return new Dfa(n, accepting, rs.toArray(new int[0][]), calls);
    }

    private static int[] sortTriples(int[] t) {
        Integer[] idx = new Integer[t.length / 3];
        for (int i = 0; i < idx.length; i++) idx[i] = i;
        Arrays.sort(idx, (u, v) -> Integer.compare(t[3 * u], t[3 * v]));
        int[] out = new int[t.length];
        for (int i = 0; i < idx.length; i++) System.arraycopy(t, 3 * idx[i], out, 3 * i, 3);
        return out;
    }

    /**
     * Drops the states from which no accepting state can be reached (calls count as passable), and the edges into
     * them. State 0 stays, possibly with nothing left: then the DFA accepts nothing.
     */
    Dfa trim() {
        boolean[] live = new boolean[size];
        boolean changed = true;
        for (int s = 0; s < size; s++) live[s] = accepting[s];
        while (changed) {
            changed = false;
            for (int s = 0; s < size; s++) {
                if (live[s]) continue;
                for (int i = 0; i < ranges[s].length && !live[s]; i += 3) live[s] = live[ranges[s][i + 2]];
                for (int i = 0; i < calls[s].length && !live[s]; i += 2) live[s] = live[calls[s][i + 1]];
                changed |= live[s];
            }
        }
        int[] renum = new int[size];
        int n = 0;
        for (int s = 0; s < size; s++) renum[s] = s == 0 || live[s] ? n++ : -1;
        boolean[] acc = new boolean[n];
        int[][] rs = new int[n][], cs = new int[n][];
        for (int s = 0; s < size; s++) {
            if (renum[s] < 0) continue;
            int d = renum[s];
            acc[d] = accepting[s];
            IntList r = new IntList();
            for (int i = 0; i < ranges[s].length; i += 3) if (live[ranges[s][i + 2]]) r.add(ranges[s][i], ranges[s][i + 1], renum[ranges[s][i + 2]]);
            IntList c = new IntList();
            for (int i = 0; i < calls[s].length; i += 2) if (live[calls[s][i + 1]]) c.add(calls[s][i], renum[calls[s][i + 1]]);
            rs[d] = r.toArray();
            cs[d] = c.toArray();
        }
        return new Dfa(n, acc, rs, cs);
    }

    /** An int array as a hash key. */
    record Key(int[] a) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && Arrays.equals(a, k.a);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(a);
        }
    }
}
