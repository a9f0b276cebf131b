package kiln.grammar;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * EBNF grammars in the GBNF dialect (llama.cpp's, which SGLang's {@code ebnf} and XGrammar also read):
 *
 * <pre>
 * root   ::= object                       # a comment
 * object ::= "{" ws ( pair ( "," ws pair )* )? "}"
 * pair   ::= string ":" ws value
 * digit  ::= [0-9]    letter ::= [a-zA-Z_]   not-quote ::= [^"\\]   any ::= .
 * list   ::= item{1,5}   item ::= "a" | 'b' | "\x41" | "é"
 * </pre>
 *
 * A rule is {@code name ::= alternatives}; it runs until the next {@code name ::=}, so rules may span lines.
 * Sequences, {@code |}, groups, {@code * + ?}, {@code {m}}, {@code {m,}}, {@code {m,n}}, double- or single-quoted
 * strings, character classes with ranges and {@code ^}, and {@code .} (any character) are supported; escapes are
 * {@code \n \r \t \\ \" \' \[ \] \- \xHH}, backslash-u HHHH and {@code \UHHHHHHHH}. Errors name the line and column.
 */
final class EbnfParser {
    private final String s;
    private int pos;
    private final Map<String, Expr> rules = new LinkedHashMap<>();
    private final List<int[]> refPositions = new ArrayList<>();
    private final List<String> refNames = new ArrayList<>();

    private EbnfParser(String text) {
        this.s = text;
    }

    static Grammar parse(String text, String root) {
        EbnfParser p = new EbnfParser(text);
        p.skipSpace();
        if (!p.more()) throw new GrammarException("ebnf: the grammar is empty");
        while (p.more()) p.rule();
        for (int i = 0; i < p.refNames.size(); i++) {
            if (!p.rules.containsKey(p.refNames.get(i))) {
                p.pos = p.refPositions.get(i)[0];
                throw p.error("rule '" + p.refNames.get(i) + "' is not defined");
            }
        }
        if (!p.rules.containsKey(root)) throw new GrammarException("ebnf: the grammar has no '" + root + "' rule (the rule a whole output must match)");
        return new Grammar(p.rules, root, "ebnf");
    }

    private GrammarException error(String problem) {
        int line = 1, col = 1;
        for (int i = 0; i < pos && i < s.length(); i++) {
            if (s.charAt(i) == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        return new GrammarException("ebnf at line " + line + ", column " + col + ": " + problem);
    }

    private boolean more() {
        return pos < s.length();
    }

    private char peek() {
        return s.charAt(pos);
    }

    private void skipSpace() {
        while (more()) {
            char c = peek();
            if (c == '#') {
                while (more() && peek() != '\n') pos++;
            } else if (Character.isWhitespace(c)) {
                pos++;
            } else {
                return;
            }
        }
    }

    private static boolean nameChar(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    }

    private String name() {
        int start = pos;
        while (more() && nameChar(peek())) pos++;
        if (pos == start) throw error("expected a rule name");
        return s.substring(start, pos);
    }

    /** Whether a rule definition ({@code name ::=}) starts at pos. */
    private boolean atRuleStart() {
        int save = pos;
        try {
            if (!more() || !nameChar(peek())) return false;
            while (more() && nameChar(peek())) pos++;
            skipSpace();
            return s.startsWith("::=", pos);
        } finally {
            pos = save;
        }
    }

    private void rule() {
        int start = pos;
        String name = name();
        skipSpace();
        if (!s.startsWith("::=", pos)) throw error("expected '::=' after rule name '" + name + "'");
        pos += 3;
        skipSpace();
        Expr body = alternatives();
        if (rules.containsKey(name)) {
            pos = start;
            throw error("rule '" + name + "' is defined twice");
        }
        rules.put(name, body);
        if (more() && peek() == ')') throw error("unbalanced ')'");
    }

    private Expr alternatives() {
        List<Expr> options = new ArrayList<>();
        options.add(sequence());
        while (more() && peek() == '|') {
            pos++;
            skipSpace();
            options.add(sequence());
        }
        return options.size() == 1 ? options.get(0) : new Expr.Alt(options);
    }

    private Expr sequence() {
        List<Expr> items = new ArrayList<>();
        while (more() && peek() != '|' && peek() != ')' && !atRuleStart()) {
            items.add(quantified());
            skipSpace();
        }
        return items.size() == 1 ? items.get(0) : new Expr.Seq(items);
    }

    private Expr quantified() {
        Expr e = primary();
        while (more()) {
            char c = peek();
            if (c == '*') e = Expr.star(e);
            else if (c == '+') e = Expr.plus(e);
            else if (c == '?') e = Expr.opt(e);
            else if (c == '{') {
                e = counted(e);
                continue;
            } else break;
            pos++;
        }
        return e;
    }

    private Expr counted(Expr e) {
        int open = pos;
        pos++;
        skipSpace();
        int min = number();
        int max = min;
        skipSpace();
        if (more() && peek() == ',') {
            pos++;
            skipSpace();
            max = more() && peek() == '}' ? Expr.UNBOUNDED : number();
            skipSpace();
        }
        if (!more() || peek() != '}') throw error("expected '}' to close the repetition count");
        pos++;
        if (max != Expr.UNBOUNDED && max < min) {
            pos = open;
            throw error("repetition {" + min + "," + max + "} has its maximum below its minimum");
        }
        return new Expr.Repeat(e, min, max);
    }

    private int number() {
        int start = pos;
        long v = 0;
        while (more() && peek() >= '0' && peek() <= '9') {
            v = v * 10 + (peek() - '0');
            if (v > RegexParser.MAX_COUNT) throw error("repetition count over " + RegexParser.MAX_COUNT);
            pos++;
        }
        if (pos == start) throw error("expected a number in the repetition count");
        return (int) v;
    }

    private Expr primary() {
        char c = peek();
        switch (c) {
            case '"', '\'' -> {
                return string(c);
            }
            case '[' -> {
                return charClass();
            }
            case '.' -> {
                pos++;
                return Expr.Chars.of(0, Expr.Chars.MAX);
            }
            case '<', '!' -> throw error("token references ('<[id]>', '<token>', '!<...>') are not supported: write the text");
            case '(' -> {
                int open = pos;
                pos++;
                skipSpace();
                if (more() && peek() == '=') throw error("lookahead assertions '(= ...)' are not supported");
                Expr e = alternatives();
                if (!more() || peek() != ')') {
                    pos = open;
                    throw error("unclosed '('");
                }
                pos++;
                return e;
            }
            default -> {
                if (!nameChar(c)) throw error("unexpected '" + c + "'");
                int at = pos;
                String name = name();
                refNames.add(name);
                refPositions.add(new int[] {at});
                return Expr.ref(name);
            }
        }
    }

    private Expr string(char quote) {
        int open = pos;
        pos++;
        StringBuilder sb = new StringBuilder();
        while (true) {
            if (!more() || peek() == '\n') {
                pos = open;
                throw error("unterminated string");
            }
            char c = peek();
            if (c == quote) {
                pos++;
                break;
            }
            sb.appendCodePoint(c == '\\' ? escape() : s.codePointAt(pos));
            if (c != '\\') pos += Character.charCount(s.codePointAt(pos));
        }
        return sb.isEmpty() ? Expr.EMPTY : Expr.lit(sb.toString());
    }

    /** After a backslash (at pos): the code point it stands for; pos moves past it. */
    private int escape() {
        pos++;
        if (!more()) throw error("the grammar ends with a lone backslash");
        char c = peek();
        pos++;
        return switch (c) {
            case 'n' -> '\n';
            case 'r' -> '\r';
            case 't' -> '\t';
            case '\\', '"', '\'', '[', ']', '-', '^' -> c;
            case 'x' -> hex(2);
            case 'u' -> hex(4);
            case 'U' -> hex(8);
            default -> {
                pos -= 2;
                throw error("unknown escape \\" + c);
            }
        };
    }

    private int hex(int n) {
        if (pos + n > s.length()) throw error("expected " + n + " hex digits");
        try {
            int v = Integer.parseInt(s.substring(pos, pos + n), 16);
            if (v < 0 || v > Expr.Chars.MAX || (v >= 0xD800 && v <= 0xDFFF)) throw new NumberFormatException();
            pos += n;
            return v;
        } catch (NumberFormatException e) {
            throw error("bad hex code '" + s.substring(pos, pos + n) + "'");
        }
    }

    private Expr charClass() {
        int open = pos;
        pos++;
        boolean negate = more() && peek() == '^';
        if (negate) pos++;
        IntList ranges = new IntList();
        while (true) {
            if (!more()) {
                pos = open;
                throw error("unclosed '['");
            }
            char c = peek();
            if (c == ']') {
                pos++;
                break;
            }
            int lo = classChar();
            int hi = lo;
            if (more() && peek() == '-' && pos + 1 < s.length() && s.charAt(pos + 1) != ']') {
                pos++;
                hi = classChar();
                if (hi < lo) throw error("range out of order");
            }
            ranges.add(lo, hi);
        }
        Expr.Chars set = new Expr.Chars(ranges.toArray());
        if (negate) set = set.complement();
        if (set.isEmpty()) {
            pos = open;
            throw error("the character class matches no character");
        }
        return set;
    }

    private int classChar() {
        if (peek() == '\\') return escape();
        int cp = s.codePointAt(pos);
        pos += Character.charCount(cp);
        return cp;
    }
}
