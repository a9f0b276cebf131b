package kiln.grammar;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The right-hand side of a grammar rule: a regular expression over Unicode text whose atoms may also be references
 * to other rules. JSON schemas, regular expressions and EBNF all translate to rules of these expressions
 * ({@link Grammar}); {@link RuleAutomata} turns each rule into a byte-level automaton.
 */
public sealed interface Expr {
    /** Repetition without an upper bound. */
    int UNBOUNDED = -1;

    /** Exactly this text. */
    record Literal(String text) implements Expr {}

    /**
     * One character from a set: sorted, disjoint, inclusive code point ranges {@code [lo0, hi0, lo1, hi1, ...]},
     * surrogates excluded (they are not characters of UTF-8 text).
     */
    record Chars(int[] ranges) implements Expr {
        public Chars {
            ranges = normalize(ranges);
        }

        public static final int MAX = 0x10FFFF;

        public static Chars of(int lo, int hi) {
            return new Chars(new int[] {lo, hi});
        }

        public static Chars anyOf(String chars) {
            int[] r = new int[chars.codePointCount(0, chars.length()) * 2];
            int i = 0;
            for (int cp : chars.codePoints().toArray()) {
                r[i++] = cp;
                r[i++] = cp;
            }
            return new Chars(r);
        }

        public boolean isEmpty() {
            return ranges.length == 0;
        }

        public boolean contains(int cp) {
            for (int i = 0; i < ranges.length; i += 2) if (cp >= ranges[i] && cp <= ranges[i + 1]) return true;
            return false;
        }

        public Chars union(Chars o) {
            int[] r = Arrays.copyOf(ranges, ranges.length + o.ranges.length);
            System.arraycopy(o.ranges, 0, r, ranges.length, o.ranges.length);
            return new Chars(r);
        }

        /** Every character not in this set. */
        public Chars complement() {
            List<Integer> r = new ArrayList<>();
            int next = 0;
            for (int i = 0; i < ranges.length; i += 2) {
                if (ranges[i] > next) {
                    r.add(next);
                    r.add(ranges[i] - 1);
                }
                next = ranges[i + 1] + 1;
            }
            if (next <= MAX) {
                r.add(next);
                r.add(MAX);
            }
            return new Chars(r.stream().mapToInt(Integer::intValue).toArray());
        }

        public Chars minus(Chars o) {
            return complement().union(o).complement();
        }

        /** Sorts, merges overlapping and adjacent ranges, and cuts out the surrogates. */
        private static int[] normalize(int[] in) {
            int n = in.length / 2;
            long[] pairs = new long[n];
            for (int i = 0; i < n; i++) {
                int lo = in[2 * i], hi = in[2 * i + 1];
                if (lo < 0 || hi > MAX || lo > hi) throw new IllegalArgumentException("bad code point range " + lo + ".." + hi);
                pairs[i] = ((long) lo << 32) | hi;
            }
            Arrays.sort(pairs);
            List<Integer> out = new ArrayList<>();
            for (long p : pairs) {
                int lo = (int) (p >>> 32), hi = (int) p;
                int last = out.size() - 1;
                if (last > 0 && lo <= out.get(last) + 1) {
                    out.set(last, Math.max(out.get(last), hi));
                } else {
                    out.add(lo);
                    out.add(hi);
                }
            }
            List<Integer> cut = new ArrayList<>();
            for (int i = 0; i < out.size(); i += 2) {
                int lo = out.get(i), hi = out.get(i + 1);
                if (hi < 0xD800 || lo > 0xDFFF) {
                    cut.add(lo);
                    cut.add(hi);
                    continue;
                }
                if (lo < 0xD800) {
                    cut.add(lo);
                    cut.add(0xD7FF);
                }
                if (hi > 0xDFFF) {
                    cut.add(0xE000);
                    cut.add(hi);
                }
            }
            return cut.stream().mapToInt(Integer::intValue).toArray();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Chars c && Arrays.equals(ranges, c.ranges);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(ranges);
        }

        @Override
        public String toString() {
            StringBuilder sb = new StringBuilder("[");
            for (int i = 0; i < ranges.length; i += 2) {
                sb.append(Integer.toHexString(ranges[i]));
                if (ranges[i + 1] != ranges[i]) sb.append('-').append(Integer.toHexString(ranges[i + 1]));
                if (i + 2 < ranges.length) sb.append(' ');
            }
            return sb.append(']').toString();
        }
    }

    /** The items one after another; no items matches the empty text. */
    record Seq(List<Expr> items) implements Expr {
        public Seq {
            items = List.copyOf(items);
        }
    }

    /** Any one of the options; no options matches nothing at all. */
    record Alt(List<Expr> options) implements Expr {
        public Alt {
            options = List.copyOf(options);
        }
    }

    /** {@code body} from {@code min} to {@code max} times ({@link #UNBOUNDED} for no limit). */
    record Repeat(Expr body, int min, int max) implements Expr {
        public Repeat {
            if (min < 0 || (max != UNBOUNDED && max < min)) throw new IllegalArgumentException("bad repetition {" + min + "," + max + "}");
        }
    }

    /** The text of another rule of the grammar. */
    record Ref(String rule) implements Expr {}

    /**
     * Text that both expressions match. Neither may refer to rules: the two are intersected as automata (JSON
     * schema uses it for number bounds and for a pattern combined with a length or format).
     */
    record Intersect(Expr a, Expr b) implements Expr {}

    /**
     * The items in order with {@code separator} between the ones present: required items always present, optional
     * ones possibly absent, and the last item repeatable when {@code lastRepeats} (a JSON object's members with
     * their commas, additional properties last). Written with Seq, Alt and Repeat this needs the rest of the list
     * once per possible first item, a size quadratic in the items; as one node it is built in linear size.
     */
    record Members(List<Expr> items, List<Boolean> required, Expr separator, boolean lastRepeats) implements Expr {
        public Members {
            items = List.copyOf(items);
            required = List.copyOf(required);
            if (items.size() != required.size()) throw new IllegalArgumentException("one required flag per item");
        }
    }

    Expr EMPTY = new Seq(List.of());
    Expr NOTHING = new Alt(List.of());

    static Expr lit(String text) {
        return new Literal(text);
    }

    static Expr seq(Expr... items) {
        return items.length == 1 ? items[0] : new Seq(List.of(items));
    }

    static Expr alt(Expr... options) {
        return options.length == 1 ? options[0] : new Alt(List.of(options));
    }

    static Expr opt(Expr e) {
        return new Repeat(e, 0, 1);
    }

    static Expr star(Expr e) {
        return new Repeat(e, 0, UNBOUNDED);
    }

    static Expr plus(Expr e) {
        return new Repeat(e, 1, UNBOUNDED);
    }

    static Expr ref(String rule) {
        return new Ref(rule);
    }
}
