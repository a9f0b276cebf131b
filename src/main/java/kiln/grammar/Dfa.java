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

    /**
     * Above this many states a DFA is left as the subset construction made it: Moore's refinement takes one round
     * per character a counted repetition counts ({@code maxLength: 2000}: 2,000 rounds over 28,000 states), and
     * merging equivalent states only saves token tables, which {@link StateTokens} shares between alike states
     * anyway.
     */
    static final int MINIMIZE_UP_TO = 4_000;

    /** The DFA of {@code e}, minimal unless it is large. */
    static Dfa of(Expr e, ToIntFunction<String> ruleIds, String where) {
        Nfa nfa = new Nfa(ruleIds, where);
        int start = nfa.newState();
        int end = nfa.build(e, start);
        Dfa d = determinize(nfa, start, end, where);
        return d.size <= MINIMIZE_UP_TO ? d.minimize() : d;
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

    /** Moore's partition refinement: states with the same future merge. The start stays state 0. */
    Dfa minimize() {
        int[] cls = new int[size];
        for (int s = 0; s < size; s++) cls[s] = accepting[s] ? 1 : 0;
        int count = -1;
        while (true) {
            Map<Key, Integer> sigs = new HashMap<>();
            int[] next = new int[size];
            for (int s = 0; s < size; s++) {
                Key k = new Key(signature(s, cls));
                Integer id = sigs.get(k);
                if (id == null) sigs.put(k, id = sigs.size());
                next[s] = id;
            }
            cls = next;
            if (sigs.size() == count) break;
            count = sigs.size();
        }
        // renumber so that the start's class is 0, in order of first appearance
        int[] renum = new int[count];
        Arrays.fill(renum, -1);
        int[] order = new int[count];
        int m = 0;
        renum[cls[0]] = m;
        order[m++] = 0;
        for (int s = 1; s < size; s++) if (renum[cls[s]] < 0) {
            renum[cls[s]] = m;
            order[m++] = s;
        }
        boolean[] acc = new boolean[count];
        int[][] rs = new int[count][], cs = new int[count][];
        int[] finalCls = cls;
        for (int c = 0; c < count; c++) {
            int s = order[c];
            acc[c] = accepting[s];
            rs[c] = mergeRanges(ranges[s], t -> renum[finalCls[t]]);
            cs[c] = calls[s].clone();
            for (int i = 0; i < cs[c].length; i += 2) cs[c][i + 1] = renum[cls[cs[c][i + 1]]];
        }
        return new Dfa(count, acc, rs, cs);
    }

    private int[] signature(int s, int[] cls) {
        int[] r = mergeRanges(ranges[s], t -> cls[t]);
        int[] sig = new int[2 + r.length + calls[s].length];
        sig[0] = cls[s];
        System.arraycopy(r, 0, sig, 1, r.length);
        sig[1 + r.length] = -1;
        for (int i = 0; i < calls[s].length; i += 2) {
            sig[2 + r.length + i] = calls[s][i];
            sig[3 + r.length + i] = cls[calls[s][i + 1]];
        }
        return sig;
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
