package kiln.grammar;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Token tables of rules, shared between grammars compiled against one vocabulary. A state's table depends only on
 * its rule's automaton and the automata of the rules it calls (recursively), except for the tails, which are
 * filtered by the rule's FOLLOW set. So a rule with the same structure in another grammar reuses the tables when
 * they were filtered by a superset of its FOLLOW (keeping a tail that no context takes costs a step at run time,
 * never a wrong bit); otherwise they are rebuilt for the union of both FOLLOW sets and replace the entry. What
 * this saves: the builtin JSON string (whose inside state accepts about 125,000 tokens and costs most of a schema's
 * compilation), the number and any-value rules, and any sub-schema or pattern that schemas repeat. Thread-safe;
 * bounded by the bytes the tables hold, least recently used first out.
 */
final class RuleTables {
    /** Bytes of tables kept before the least recently used rules are dropped. */
    static final long MAX_BYTES = 128L << 20;

    private final Map<Key, Entry> tables = new LinkedHashMap<>(64, 0.75f, true);
    private long bytes;

    /** A rule's tables, their tails filtered by {@code follow}. */
    record Entry(long[] follow, StateTokens[] tables) {
        boolean covers(long[] f) {
            for (int i = 0; i < 4; i++) if ((f[i] & ~follow[i]) != 0) return false;
            return true;
        }
    }

    /** A rule's structure: its automaton and its callees', with rules and states renumbered from it. */
    record Key(int[] shape) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && Arrays.equals(shape, k.shape);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(shape);
        }
    }

    synchronized Entry get(Key key) {
        return tables.get(key);
    }

    synchronized void put(Key key, Entry e) {
        Entry old = tables.put(key, e);
        if (old != null) bytes -= bytesOf(old.tables());
        bytes += bytesOf(e.tables());
        var it = tables.entrySet().iterator();
        while (bytes > MAX_BYTES && it.hasNext()) {
            var eldest = it.next();
            if (eldest.getKey().equals(key)) continue;
            bytes -= bytesOf(eldest.getValue().tables());
            it.remove();
        }
    }

    /** A copy holding the same entries (for measuring compilation against a given cache state). */
    synchronized RuleTables copy() {
        RuleTables c = new RuleTables();
        c.tables.putAll(tables);
        c.bytes = bytes;
        return c;
    }

    synchronized int size() {
        return tables.size();
    }

    private static long bytesOf(StateTokens[] t) {
        var seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<TokenTable, Boolean>());
        long b = 64;
        for (StateTokens s : t) {
            if (s == null) continue;
            b += 16;
            if (seen.add(s.shortTokens())) b += s.shortTokens().bytesUsed();
            if (seen.add(s.longTokens())) b += s.longTokens().bytesUsed();
        }
        return b;
    }

    /** The structure key of rule {@code r} of {@code a}. */
    static Key key(Automaton a, int r) {
        Map<Integer, Integer> ordinal = new HashMap<>();
        ArrayDeque<Integer> order = new ArrayDeque<>();
        ordinal.put(r, 0);
        order.add(r);
        IntList shape = new IntList(256);
        while (!order.isEmpty()) {
            int rule = order.poll();
            int base = a.ruleStart[rule], end = a.ruleStart[rule + 1];
            shape.add(-1, end - base);
            for (int s = base; s < end; s++) {
                shape.add(a.accepting[s] ? 1 : 0, a.rangeStart[s + 1] - a.rangeStart[s], a.callStart[s + 1] - a.callStart[s]);
                for (int i = a.rangeStart[s]; i < a.rangeStart[s + 1]; i++) shape.add(a.rangeLo[i], a.rangeHi[i], a.rangeTo[i] - base);
                for (int i = a.callStart[s]; i < a.callStart[s + 1]; i++) {
                    int callee = a.callRule[i];
                    Integer o = ordinal.get(callee);
                    if (o == null) {
                        ordinal.put(callee, o = ordinal.size());
                        order.add(callee);
                    }
                    shape.add(o, a.callTo[i] - base);
                }
            }
        }
        return new Key(shape.toArray());
    }
}
