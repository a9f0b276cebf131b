package kiln.grammar;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.function.ToIntFunction;

/**
 * A Thompson automaton for one rule's expression: states joined by epsilon, byte-range and rule-call edges. It is
 * only a step towards the {@link Dfa}; the size budget keeps a huge repetition count ({@code x{100000}}) from
 * exhausting memory and turns it into an error that names the rule.
 */
final class Nfa {
    static final int EPS = 0, BYTES = 1, CALL = 2;
    /** States one rule may take before it is refused. */
    static final int MAX_STATES = 400_000;

    int states;
    int[] head = new int[64];
    int edges;
    int[] next = new int[64], kind = new int[64], a = new int[64], b = new int[64], to = new int[64];

    private final ToIntFunction<String> ruleIds;
    private final String where;

    /**
     * @param ruleIds the id of each rule name a {@link Expr.Ref} may name
     * @param where   the rule being built, for the error message when it grows too large
     */
    Nfa(ToIntFunction<String> ruleIds, String where) {
        this.ruleIds = ruleIds;
        this.where = where;
    }

    int newState() {
        if (states == MAX_STATES) {
            throw new GrammarException(where + " is too large to compile (over " + MAX_STATES
                    + " automaton states: lower its repetition counts, lengths or item counts)");
        }
        if (states == head.length) head = Arrays.copyOf(head, states * 2);
        head[states] = -1;
        return states++;
    }

    private void edge(int from, int k, int x, int y, int target) {
        if (edges == next.length) {
            int n = edges * 2;
            next = Arrays.copyOf(next, n);
            kind = Arrays.copyOf(kind, n);
            a = Arrays.copyOf(a, n);
            b = Arrays.copyOf(b, n);
            to = Arrays.copyOf(to, n);
        }
        next[edges] = head[from];
        kind[edges] = k;
        a[edges] = x;
        b[edges] = y;
        to[edges] = target;
        head[from] = edges++;
    }

    void eps(int from, int target) {
        edge(from, EPS, 0, 0, target);
    }

    void bytes(int from, int lo, int hi, int target) {
        edge(from, BYTES, lo, hi, target);
    }

    /** Adds {@code e}'s states starting at {@code from}; returns the state where a match of {@code e} ends. */
    int build(Expr e, int from) {
        return switch (e) {
            case Expr.Literal l -> {
                int cur = from;
                for (byte x : l.text().getBytes(StandardCharsets.UTF_8)) {
                    int n = newState();
                    bytes(cur, x & 0xFF, x & 0xFF, n);
                    cur = n;
                }
                yield cur;
            }
            case Expr.Chars c -> {
                int end = newState();
                int[] r = c.ranges();
                for (int i = 0; i < r.length; i += 2) {
                    Utf8Sequences.forRange(r[i], r[i + 1], seq -> {
                        int cur = from;
                        for (int j = 0; j < seq.length; j += 2) {
                            int n = j + 2 == seq.length ? end : newState();
                            bytes(cur, seq[j], seq[j + 1], n);
                            cur = n;
                        }
                    });
                }
                yield end;
            }
            case Expr.Seq s -> {
                int cur = from;
                for (Expr item : s.items()) cur = build(item, cur);
                yield cur;
            }
            case Expr.Alt alt -> {
                int end = newState();
                for (Expr o : alt.options()) {
                    int start = newState();
                    eps(from, start);
                    eps(build(o, start), end);
                }
                yield end;
            }
            case Expr.Repeat r -> {
                int cur = from;
                for (int i = 0; i < r.min(); i++) cur = build(r.body(), cur);
                if (r.max() == Expr.UNBOUNDED) {
                    int loop = newState();
                    eps(cur, loop);
                    eps(build(r.body(), loop), loop);
                    yield loop;
                }
                int end = newState();
                eps(cur, end);
                for (int i = r.min(); i < r.max(); i++) {
                    cur = build(r.body(), cur);
                    eps(cur, end);
                }
                yield end;
            }
            case Expr.Ref ref -> {
                int end = newState();
                edge(from, CALL, ruleIds.applyAsInt(ref.rule()), 0, end);
                yield end;
            }
            case Expr.Members m -> {
                // chain[j]: at item j with at least one item written (the next one needs the separator first)
                int n = m.items().size();
                int end = newState();
                int[] chain = new int[n + 1];
                for (int j = 0; j <= n; j++) chain[j] = newState();
                boolean allOptionalSoFar = true;
                for (int j = 0; j < n; j++) {
                    Expr item = m.items().get(j);
                    if (allOptionalSoFar) eps(build(item, from), chain[j + 1]);  // the first item written
                    eps(build(item, build(m.separator(), chain[j])), chain[j + 1]);
                    if (!m.required().get(j)) eps(chain[j], chain[j + 1]);
                    allOptionalSoFar &= !m.required().get(j);
                }
                if (m.lastRepeats() && n > 0) eps(chain[n], chain[n - 1]);
                eps(chain[n], end);
                if (allOptionalSoFar) eps(from, end);  // no item at all
                yield end;
            }
            case Expr.Intersect i -> {
                Dfa product = Dfa.intersect(Dfa.of(i.a(), ruleIds, where), Dfa.of(i.b(), ruleIds, where)).trim();
                int end = newState();
                int[] map = new int[product.size];
                for (int s = 0; s < product.size; s++) map[s] = newState();
                eps(from, map[0]);
                for (int s = 0; s < product.size; s++) {
                    int[] rs = product.ranges[s];
                    for (int j = 0; j < rs.length; j += 3) bytes(map[s], rs[j], rs[j + 1], map[rs[j + 2]]);
                    if (product.calls[s].length > 0) throw new IllegalStateException("intersection of rule references");
                    if (product.accepting[s]) eps(map[s], end);
                }
                yield end;
            }
        };
    }
}
