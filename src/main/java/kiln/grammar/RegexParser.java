package kiln.grammar;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Regular expressions (the common subset of java.util.regex and ECMA-262 that structured-output requests use) to
 * an {@link Expr}. The whole output must match the pattern; a leading {@code ^} and a trailing {@code $} say so
 * and are dropped. Character classes are Java's defaults: {@code \d} = [0-9], {@code \w} = [a-zA-Z_0-9],
 * {@code \s} = [ \t\n\x0B\f\r], {@code .} = any character but \n, \r, U+0085, U+2028, U+2029; {@code \p{Lu}}
 * and other Unicode general categories work too.
 *
 * <p>Refused with the offset: backreferences, lookaround, word boundaries, anchors anywhere but the ends, inline
 * flags ({@code (?i)}), possessive quantifiers and Java's class operations ({@code [a-z&&[^x]]}), since a
 * token mask cannot honour them or their meaning differs between dialects.
 */
final class RegexParser {
    /** Largest repetition count accepted in {@code {n,m}}. */
    static final int MAX_COUNT = 100_000;

    private final String p;
    private final String where;
    private int pos;

    private RegexParser(String pattern, String where) {
        this.p = pattern;
        this.where = where;
    }

    /** A grammar whose root is the whole pattern. */
    static Grammar grammar(String pattern) {
        return new Grammar(Map.of("root", parse(pattern, "regex")), "root", "regex");
    }

    /** The pattern as an expression; errors read "{where} at offset N: problem". */
    static Expr parse(String pattern, String where) {
        int start = pattern.startsWith("^") ? 1 : 0;
        int end = pattern.length();
        if (end > start && pattern.endsWith("$") && !escapedAt(pattern, end - 1)) end--;
        RegexParser r = new RegexParser(pattern.substring(0, end), where);
        r.pos = start;
        Expr e = r.alternation();
        if (r.more()) throw r.error(r.peek() == ')' ? "unbalanced ')'" : "unexpected '" + r.peek() + "'");
        return e;
    }

    /** Whether the character at {@code i} is preceded by an odd number of backslashes. */
    private static boolean escapedAt(String s, int i) {
        int n = 0;
        while (i - 1 - n >= 0 && s.charAt(i - 1 - n) == '\\') n++;
        return n % 2 == 1;
    }

    private GrammarException error(String problem) {
        return new GrammarException(where + " at offset " + pos + ": " + problem);
    }

    private boolean more() {
        return pos < p.length();
    }

    private char peek() {
        return p.charAt(pos);
    }

    private Expr alternation() {
        List<Expr> options = new ArrayList<>();
        options.add(sequence());
        while (more() && peek() == '|') {
            pos++;
            options.add(sequence());
        }
        return options.size() == 1 ? options.get(0) : new Expr.Alt(options);
    }

    private Expr sequence() {
        List<Expr> items = new ArrayList<>();
        while (more() && peek() != '|' && peek() != ')') items.add(quantified());
        return items.size() == 1 ? items.get(0) : new Expr.Seq(items);
    }

    private Expr quantified() {
        Expr atom = atom();
        if (!more()) return atom;
        int min, max;
        char c = peek();
        int at = pos;
        switch (c) {
            case '*' -> { min = 0; max = Expr.UNBOUNDED; pos++; }
            case '+' -> { min = 1; max = Expr.UNBOUNDED; pos++; }
            case '?' -> { min = 0; max = 1; pos++; }
            case '{' -> {
                pos++;
                min = number();
                max = min;
                if (more() && peek() == ',') {
                    pos++;
                    max = more() && peek() == '}' ? Expr.UNBOUNDED : number();
                }
                if (!more() || peek() != '}') throw error("expected '}' to close the repetition count");
                pos++;
                if (max != Expr.UNBOUNDED && max < min) {
                    pos = at;
                    throw error("repetition {" + min + "," + max + "} has its maximum below its minimum");
                }
            }
            default -> { return atom; }
        }
        if (more() && peek() == '?') pos++;  // lazy: the same language
        else if (more() && peek() == '+') throw error("possessive quantifiers are not supported");
        if (more() && (peek() == '*' || peek() == '+' || peek() == '?' || peek() == '{')) throw error("a quantifier cannot follow a quantifier");
        return new Expr.Repeat(atom, min, max);
    }

    private int number() {
        int start = pos;
        long v = 0;
        while (more() && peek() >= '0' && peek() <= '9') {
            v = v * 10 + (peek() - '0');
            if (v > MAX_COUNT) throw error("repetition count over " + MAX_COUNT);
            pos++;
        }
        if (pos == start) throw error("expected a number in the repetition count");
        return (int) v;
    }

    private Expr atom() {
        char c = peek();
        switch (c) {
            case '(' -> {
                int open = pos;
                pos++;
                if (more() && peek() == '?') {
                    if (p.startsWith("?:", pos)) pos += 2;
                    else if (p.startsWith("?<=", pos) || p.startsWith("?<!", pos) || p.startsWith("?=", pos) || p.startsWith("?!", pos)) {
                        throw error("lookahead and lookbehind are not supported");
                    } else if (p.startsWith("?<", pos) || p.startsWith("?P<", pos)) {
                        int close = p.indexOf('>', pos);
                        if (close < 0) throw error("unterminated group name");
                        pos = close + 1;
                    } else {
                        throw error("inline flags and special groups '(?" + (pos + 1 < p.length() ? p.charAt(pos + 1) : "") + "' are not supported");
                    }
                }
                Expr e = alternation();
                if (!more() || peek() != ')') {
                    pos = open;
                    throw error("unclosed '('");
                }
                pos++;
                return e;
            }
            case '[' -> {
                return charClass();
            }
            case '.' -> {
                pos++;
                return new Expr.Chars(new int[] {'\n', '\n', '\r', '\r', 0x85, 0x85, 0x2028, 0x2029}).complement();
            }
            case '^', '$' -> throw error("anchors are only supported at the start and the end of the pattern");
            case '*', '+', '?', '{' -> throw error("nothing to repeat before '" + c + "'");
            case '\\' -> {
                return escape(false);
            }
            default -> {
                int cp = p.codePointAt(pos);
                pos += Character.charCount(cp);
                return Expr.Chars.of(cp, cp);
            }
        }
    }

    /** After a backslash (at pos): a class or one character. */
    private Expr.Chars escape(boolean inClass) {
        int at = pos;
        pos++;
        if (!more()) throw error("the pattern ends with a lone backslash");
        char c = peek();
        pos++;
        switch (c) {
            case 'd': return DIGIT;
            case 'D': return DIGIT.complement();
            case 'w': return WORD;
            case 'W': return WORD.complement();
            case 's': return SPACE;
            case 'S': return SPACE.complement();
            case 't': return one('\t');
            case 'n': return one('\n');
            case 'r': return one('\r');
            case 'f': return one('\f');
            case 'v': return one(0x0B);
            case 'a': return one(0x07);
            case 'e': return one(0x1B);
            case 'x': return one(hexCode(2));
            case 'u': return one(hexCode(4));
            case 'p', 'P': {
                Expr.Chars cls = UnicodeCategories.of(categoryName(), this::error);
                return c == 'p' ? cls : cls.complement();
            }
            default:
                break;
        }
        pos = at;
        if (c == 'b' || c == 'B' || c == 'A' || c == 'z' || c == 'Z' || c == 'G') throw error("anchors and word boundaries (\\" + c + ") are not supported");
        if (c >= '0' && c <= '9') throw error("backreferences and octal escapes (\\" + c + ") are not supported");
        if (Character.isLetterOrDigit(c)) throw error("unknown escape \\" + c);
        pos = at + 2;
        return one(c);
    }

    private String categoryName() {
        if (!more()) throw error("expected a category after \\p");
        if (peek() != '{') return String.valueOf(p.charAt(pos++));
        int close = p.indexOf('}', pos);
        if (close < 0) throw error("unterminated \\p{...}");
        String name = p.substring(pos + 1, close);
        pos = close + 1;
        return name;
    }

    /** {@code n} hex digits, or {@code {H...}} of any length. */
    private int hexCode(int n) {
        if (more() && peek() == '{') {
            int close = p.indexOf('}', pos);
            if (close < 0) throw error("unterminated \\x{...}");
            int v = parseHex(p.substring(pos + 1, close));
            pos = close + 1;
            return v;
        }
        if (pos + n > p.length()) throw error("expected " + n + " hex digits");
        int v = parseHex(p.substring(pos, pos + n));
        pos += n;
        return v;
    }

    private int parseHex(String s) {
        try {
            int v = Integer.parseInt(s, 16);
            if (v < 0 || v > Expr.Chars.MAX || s.isEmpty()) throw new NumberFormatException();
            return v;
        } catch (NumberFormatException e) {
            throw error("bad hex code '" + s + "'");
        }
    }

    private Expr.Chars charClass() {
        int open = pos;
        pos++;
        boolean negate = more() && peek() == '^';
        if (negate) pos++;
        Expr.Chars set = new Expr.Chars(new int[0]);
        boolean first = true;
        while (true) {
            if (!more()) {
                pos = open;
                throw error("unclosed '['");
            }
            char c = peek();
            if (c == ']') {
                if (first) throw error("empty character class");
                pos++;
                break;
            }
            if (c == '[') throw error("'[' inside a character class (a nested class in Java): escape it as \\[");
            if (c == '&' && p.startsWith("&&", pos)) throw error("class intersection '&&' is not supported");
            first = false;
            Expr.Chars lo = classAtom();
            if (more() && peek() == '-' && pos + 1 < p.length() && p.charAt(pos + 1) != ']') {
                int dash = pos;
                pos++;
                Expr.Chars hi = classAtom();
                if (lo.ranges().length != 2 || lo.ranges()[0] != lo.ranges()[1] || hi.ranges().length != 2 || hi.ranges()[0] != hi.ranges()[1]) {
                    pos = dash;
                    throw error("a range needs single characters at both ends");
                }
                if (hi.ranges()[0] < lo.ranges()[0]) {
                    pos = dash;
                    throw error("range out of order");
                }
                set = set.union(Expr.Chars.of(lo.ranges()[0], hi.ranges()[0]));
            } else {
                set = set.union(lo);
            }
        }
        return negate ? set.complement() : set;
    }

    private Expr.Chars classAtom() {
        if (peek() == '\\') {
            if (pos + 1 < p.length() && p.charAt(pos + 1) == 'b') throw error("\\b inside a character class is not supported");
            return escape(true);
        }
        int cp = p.codePointAt(pos);
        pos += Character.charCount(cp);
        return one(cp);
    }

    private static Expr.Chars one(int cp) {
        return Expr.Chars.of(cp, cp);
    }

    static final Expr.Chars DIGIT = Expr.Chars.of('0', '9');
    static final Expr.Chars WORD = new Expr.Chars(new int[] {'0', '9', 'A', 'Z', '_', '_', 'a', 'z'});
    static final Expr.Chars SPACE = new Expr.Chars(new int[] {'\t', '\r', ' ', ' '});
}
