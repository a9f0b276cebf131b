package kiln.grammar;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A grammar compiled to a recursive transition network: every rule is a minimal byte-level {@link Dfa}, all rules'
 * states numbered globally. A state has byte edges (at most one target per byte), call edges ("match rule R here,
 * then continue at state t") and an accepting flag (the rule may end here, returning to its caller). With a stack
 * of return states this is a pushdown automaton; {@link StackSpace} runs it.
 *
 * <p>Compiling also checks what the runtime relies on: every rule reachable from the root can be completed (so a
 * configuration that is still alive can always reach the end), and no rule calls itself before consuming a byte
 * (left recursion would grow the stack forever).
 */
final class Automaton {
    final String source;
    final String[] ruleNames;
    final int root;
    final int[] ruleStart;

    final int states;
    final int[] stateRule;
    final boolean[] accepting;
    /** Byte edges of state s: indexes {@code rangeStart[s] .. rangeStart[s+1]} of lo / hi / to. */
    final int[] rangeStart, rangeLo, rangeHi, rangeTo;
    /** Call edges of state s: indexes {@code callStart[s] .. callStart[s+1]} of rule / to. */
    final int[] callStart, callRule, callTo;

    /** Bytes that every edge treats alike share a class; transition tables are indexed by class. */
    final byte[] byteClass;
    final int classCount;
    /** Per rule: the bytes (256-bit set) that may come right after the rule ends, in any context. */
    final long[][] follow;

    private Automaton(String source, String[] ruleNames, int root, Dfa[] dfas) {
        this.source = source;
        this.ruleNames = ruleNames;
        this.root = root;
        int rules = ruleNames.length;
        ruleStart = new int[rules + 1];
        for (int r = 0; r < rules; r++) ruleStart[r + 1] = ruleStart[r] + (dfas[r] == null ? 0 : dfas[r].size);
        states = ruleStart[rules];
        stateRule = new int[states];
        accepting = new boolean[states];
        rangeStart = new int[states + 1];
        callStart = new int[states + 1];
        IntList lo = new IntList(), hi = new IntList(), to = new IntList(), cr = new IntList(), ct = new IntList();
        for (int r = 0; r < rules; r++) {
            Dfa d = dfas[r];
            if (d == null) continue;
            int base = ruleStart[r];
            for (int s = 0; s < d.size; s++) {
                int g = base + s;
                stateRule[g] = r;
                accepting[g] = d.accepting[s];
                for (int i = 0; i < d.ranges[s].length; i += 3) {
                    lo.add(d.ranges[s][i]);
                    hi.add(d.ranges[s][i + 1]);
                    to.add(base + d.ranges[s][i + 2]);
                }
                for (int i = 0; i < d.calls[s].length; i += 2) {
                    cr.add(d.calls[s][i]);
                    ct.add(base + d.calls[s][i + 1]);
                }
                rangeStart[g + 1] = lo.size();
                callStart[g + 1] = cr.size();
            }
        }
        rangeLo = lo.toArray();
        rangeHi = hi.toArray();
        rangeTo = to.toArray();
        callRule = cr.toArray();
        callTo = ct.toArray();

        boolean[] cut = new boolean[257];
        cut[0] = cut[256] = true;
        for (int i = 0; i < rangeLo.length; i++) {
            cut[rangeLo[i]] = true;
            cut[rangeHi[i] + 1] = true;
        }
        byteClass = new byte[256];
        int c = -1;
        for (int b = 0; b < 256; b++) {
            if (cut[b]) c++;
            byteClass[b] = (byte) c;
        }
        classCount = c + 1;
        follow = followSets();
    }

    /** The target of state {@code s} on byte {@code b}, or -1. */
    int target(int s, int b) {
        for (int i = rangeStart[s], end = rangeStart[s + 1]; i < end; i++) {
            if (b < rangeLo[i]) return -1;
            if (b <= rangeHi[i]) return rangeTo[i];
        }
        return -1;
    }

    boolean hasBytes(int s) {
        return rangeStart[s + 1] > rangeStart[s];
    }

    static Automaton compile(Grammar g) {
        String[] names = g.rules().keySet().toArray(new String[0]);
        Map<String, Integer> ids = new HashMap<>();
        for (int i = 0; i < names.length; i++) ids.put(names[i], i);
        int root = ids.get(g.root());
        // only the rules the root can reach are built
        Dfa[] dfas = new Dfa[names.length];
        ArrayDeque<Integer> todo = new ArrayDeque<>();
        todo.add(root);
        while (!todo.isEmpty()) {
            int r = todo.poll();
            if (dfas[r] != null) continue;
            dfas[r] = Dfa.of(g.rules().get(names[r]), ids::get, g.source() + ": rule '" + names[r] + "'");
            for (int[] cs : dfas[r].calls) for (int i = 0; i < cs.length; i += 2) if (dfas[cs[i]] == null) todo.add(cs[i]);
        }
        boolean[] productive = productive(dfas);
        int stuck = -1;
        for (int r = 0; r < names.length; r++) {
            // name the rule that recurses without a way out, not the rules that merely call it
            if (dfas[r] != null && !productive[r] && (stuck < 0 || (!callsItself(dfas, stuck) && callsItself(dfas, r)))) stuck = r;
        }
        if (stuck >= 0) {
            throw new GrammarException(g.source() + ": rule '" + names[stuck] + "' can never be completed" + (callsItself(dfas, stuck)
                    ? " (every way through it needs an unfinished rule again: a recursion without a way out)"
                    : " (it matches no text at all: its constraints contradict each other)"));
        }
        for (int r = 0; r < names.length; r++) if (dfas[r] != null) dfas[r] = dfas[r].trim();
        checkLeftRecursion(g.source(), names, dfas);
        return new Automaton(g.source(), names, root, dfas);
    }

    /** Whether rule r can call itself again, directly or through other rules. */
    private static boolean callsItself(Dfa[] dfas, int r) {
        boolean[] seen = new boolean[dfas.length];
        ArrayDeque<Integer> q = new ArrayDeque<>(List.of(r));
        while (!q.isEmpty()) {
            Dfa d = dfas[q.poll()];
            for (int[] cs : d.calls) {
                for (int i = 0; i < cs.length; i += 2) {
                    if (cs[i] == r) return true;
                    if (!seen[cs[i]]) {
                        seen[cs[i]] = true;
                        q.add(cs[i]);
                    }
                }
            }
        }
        return false;
    }

    /** Rules with at least one finite match, as a fixpoint: a rule is productive once a path to an accept uses only productive calls. */
    private static boolean[] productive(Dfa[] dfas) {
        boolean[] prod = new boolean[dfas.length];
        boolean changed = true;
        while (changed) {
            changed = false;
            for (int r = 0; r < dfas.length; r++) {
                if (dfas[r] == null || prod[r]) continue;
                if (reachesAccept(dfas[r], prod, false)) {
                    prod[r] = true;
                    changed = true;
                }
            }
        }
        return prod;
    }

    /** Whether the start reaches an accepting state using calls of the allowed rules (and bytes unless {@code noBytes}). */
    private static boolean reachesAccept(Dfa d, boolean[] allowedCalls, boolean noBytes) {
        boolean[] seen = new boolean[d.size];
        ArrayDeque<Integer> q = new ArrayDeque<>();
        q.add(0);
        seen[0] = true;
        while (!q.isEmpty()) {
            int s = q.poll();
            if (d.accepting[s]) return true;
            if (!noBytes) {
                for (int i = 0; i < d.ranges[s].length; i += 3) if (!seen[d.ranges[s][i + 2]]) {
                    seen[d.ranges[s][i + 2]] = true;
                    q.add(d.ranges[s][i + 2]);
                }
            }
            for (int i = 0; i < d.calls[s].length; i += 2) if (allowedCalls[d.calls[s][i]] && !seen[d.calls[s][i + 1]]) {
                seen[d.calls[s][i + 1]] = true;
                q.add(d.calls[s][i + 1]);
            }
        }
        return false;
    }

    private static void checkLeftRecursion(String source, String[] names, Dfa[] dfas) {
        int n = dfas.length;
        boolean[] nullable = new boolean[n];
        boolean changed = true;
        while (changed) {
            changed = false;
            for (int r = 0; r < n; r++) {
                if (dfas[r] != null && !nullable[r] && reachesAccept(dfas[r], nullable, true)) {
                    nullable[r] = true;
                    changed = true;
                }
            }
        }
        // rule r "starts with" rule q when q is called in a state r reaches from its start without consuming a byte
        List<List<Integer>> startsWith = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            List<Integer> out = new ArrayList<>();
            startsWith.add(out);
            if (dfas[r] == null) continue;
            Dfa d = dfas[r];
            boolean[] seen = new boolean[d.size];
            ArrayDeque<Integer> q = new ArrayDeque<>();
            q.add(0);
            seen[0] = true;
            while (!q.isEmpty()) {
                int s = q.poll();
                for (int i = 0; i < d.calls[s].length; i += 2) {
                    int callee = d.calls[s][i];
                    if (!out.contains(callee)) out.add(callee);
                    int t = d.calls[s][i + 1];
                    if (nullable[callee] && !seen[t]) {
                        seen[t] = true;
                        q.add(t);
                    }
                }
            }
        }
        int[] mark = new int[n];  // 0 new, 1 on the path, 2 done
        for (int r = 0; r < n; r++) {
            if (dfas[r] != null && mark[r] == 0) {
                List<Integer> cycle = findCycle(r, startsWith, mark, new ArrayList<>());
                if (cycle != null) {
                    StringBuilder path = new StringBuilder();
                    for (int x : cycle) path.append(path.isEmpty() ? "" : " -> ").append(names[x]);
                    throw new GrammarException(source + ": rule '" + names[cycle.get(0)] + "' is left-recursive (" + path
                            + "): a rule may not begin with itself; rewrite it with repetition, e.g. a ::= b (\"+\" b)*");
                }
            }
        }
    }

    private static List<Integer> findCycle(int r, List<List<Integer>> edges, int[] mark, List<Integer> path) {
        mark[r] = 1;
        path.add(r);
        for (int q : edges.get(r)) {
            if (mark[q] == 1) {
                List<Integer> cycle = new ArrayList<>(path.subList(path.indexOf(q), path.size()));
                cycle.add(q);
                return cycle;
            }
            if (mark[q] == 0) {
                List<Integer> c = findCycle(q, edges, mark, path);
                if (c != null) return c;
            }
        }
        path.remove(path.size() - 1);
        mark[r] = 2;
        return null;
    }

    /**
     * FOLLOW sets over bytes. first(s): the bytes a match can begin with from state s (its byte edges, and the
     * first bytes of rules it calls, past those that can match nothing); fin(s): s can finish its rule without a
     * byte. Then FOLLOW(R) collects, at every call of R returning to t in rule P, first(t), and FOLLOW(P) when t
     * can finish. Used to drop, at compile time, token tails that no context could continue.
     */
    private long[][] followSets() {
        int rules = ruleNames.length;
        boolean[] nullable = new boolean[rules];
        long[][] first = new long[states][4];
        boolean[] fin = new boolean[states];
        for (int s = 0; s < states; s++) {
            fin[s] = accepting[s];
            for (int i = rangeStart[s]; i < rangeStart[s + 1]; i++) for (int b = rangeLo[i]; b <= rangeHi[i]; b++) first[s][b >> 6] |= 1L << b;
        }
        boolean changed = true;
        while (changed) {
            changed = false;
            for (int r = 0; r < rules; r++) if (!nullable[r] && ruleStart[r + 1] > ruleStart[r] && fin[ruleStart[r]]) {
                nullable[r] = true;
                changed = true;
            }
            for (int s = 0; s < states; s++) {
                for (int i = callStart[s]; i < callStart[s + 1]; i++) {
                    int q = callRule[i], t = callTo[i];
                    changed |= orInto(first[s], first[ruleStart[q]]);
                    if (nullable[q]) {
                        changed |= orInto(first[s], first[t]);
                        if (fin[t] && !fin[s]) {
                            fin[s] = true;
                            changed = true;
                        }
                    }
                }
            }
        }
        long[][] fol = new long[rules][4];
        changed = true;
        while (changed) {
            changed = false;
            for (int s = 0; s < states; s++) {
                for (int i = callStart[s]; i < callStart[s + 1]; i++) {
                    int q = callRule[i], t = callTo[i];
                    changed |= orInto(fol[q], first[t]);
                    if (fin[t]) changed |= orInto(fol[q], fol[stateRule[s]]);
                }
            }
        }
        return fol;
    }

    private static boolean orInto(long[] into, long[] from) {
        boolean changed = false;
        for (int i = 0; i < 4; i++) {
            long v = into[i] | from[i];
            if (v != into[i]) {
                into[i] = v;
                changed = true;
            }
        }
        return changed;
    }

    static boolean hasByte(long[] set, int b) {
        return (set[b >> 6] & (1L << b)) != 0;
    }

    @Override
    public String toString() {
        return "Automaton[" + source + ", " + states + " states, " + ruleNames.length + " rules, " + classCount + " byte classes]";
    }
}
