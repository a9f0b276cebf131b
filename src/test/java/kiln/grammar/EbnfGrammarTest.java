package kiln.grammar;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;
import java.util.regex.Pattern;

import static kiln.grammar.GrammarTesting.COMPILER;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * GBNF grammars: arithmetic (recursion through parentheses), a list, JSON written in GBNF, and the dialect's
 * corners (comments, rules over several lines, single quotes, counted repetition, nullable and ambiguous rules).
 * Random walks must be in the language (checked by a parser written for the test, by java.util.regex, or by
 * Jackson), and strings are accepted or refused as the grammar says. Every mask of the first walk of each grammar
 * is checked token by token against accept.
 */
class EbnfGrammarTest {
    static final String ARITHMETIC = """
            # integer arithmetic with precedence
            root   ::= expr
            expr   ::= term (("+" | "-") term)*
            term   ::= factor (("*" | "/") factor)*
            factor ::= number | "(" expr ")"
            number ::= [0-9]+
            """;

    static final String LIST = """
            root ::= "[" ( item ( "," item )* )? "]"
            item ::= "\\"" [a-z]{1,8} "\\""
            """;

    static final String JSON_GBNF = """
            root   ::= object
            value  ::= object | array | string | number | ("true" | "false" | "null") ws

            object ::=
              "{" ws (
                        string ":" ws value
                ("," ws string ":" ws value)*
              )? "}" ws

            array  ::=
              "[" ws (
                        value
                ("," ws value)*
              )? "]" ws

            string ::=
              "\\"" (
                [^"\\\\\\x7F\\x00-\\x1F] |
                "\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4})
              )* "\\"" ws

            number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [0-9]{0,15})? ws

            ws ::= | " " | "\\n" [ \\t]{0,20}
            """;

    @Test
    void arithmetic() {
        CompiledGrammar g = COMPILER.ebnf(ARITHMETIC);
        for (String s : List.of("1+2*3", "(1+2)*3", "((4))", "10/5-3")) assertAccepted(g, s, true);
        for (String s : List.of("1+", "(1", "1++2", "a", "()", "1 + 2")) assertAccepted(g, s, false);
        // uniform draws: preferring punctuation would open parentheses faster than it closes them
        walks(g, 40, 0, s -> new Arithmetic(s).parses());
    }

    @Test
    void list() {
        CompiledGrammar g = COMPILER.ebnf(LIST);
        Pattern p = Pattern.compile("\\[(\"[a-z]{1,8}\"(,\"[a-z]{1,8}\")*)?\\]");
        for (String s : List.of("[]", "[\"a\"]", "[\"abc\",\"defgh\"]", "[\"abcdefghi\"]", "[\"a\",]", "[\"A\"]")) assertAccepted(g, s, p.matcher(s).matches());
        walks(g, 20, 0.75, s -> p.matcher(s).matches());
    }

    @Test
    void jsonInGbnf() {
        CompiledGrammar g = COMPILER.ebnf(JSON_GBNF);
        ObjectMapper json = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
        for (String s : List.of("{}", "{\"a\": [1, 2.5e3, \"x\\n\", true, null, {\"b\": {}}]}", "{\"k\":\n  \"v\"}")) assertAccepted(g, s, true);
        for (String s : List.of("[]", "{\"a\" 1}", "{\"a\": 01}", "{'a': 1}", "{\"a\": tru}")) assertAccepted(g, s, false);
        walks(g, 20, 0.75, s -> {
            try {
                return json.readTree(s).isObject();
            } catch (IOException e) {
                return false;
            }
        });
    }

    @Test
    void dialectCorners() {
        String grammar = """
                root ::= greeting ' ' name{1,3} punct?   # single quotes, counted repetition, optional
                greeting ::= "hello"
                  | "hi"
                  | 'hey'
                name ::= [A-Z] [a-z]* ("-" [A-Z] [a-z]*)?
                punct ::= [.!?]
                """;
        CompiledGrammar g = COMPILER.ebnf(grammar);
        Pattern p = Pattern.compile("(hello|hi|hey) ([A-Z][a-z]*(-[A-Z][a-z]*)?){1,3}[.!?]?");
        for (String s : List.of("hello World", "hey AnnMarie!", "hi Jean-Luc", "hi ", "hello world", "hey A-B-C")) assertAccepted(g, s, p.matcher(s).matches());
        walks(g, 20, 0.75, s -> p.matcher(s).matches());
    }

    @Test
    void ambiguousAndNullableRules() {
        // two rules share the prefix "xx...", nullable rules sit at the start and the end of the root
        String grammar = """
                root ::= pre (a | b) post
                pre  ::= "<"?
                a    ::= "x"* "y"
                b    ::= "x"+ "z" | "x" b
                post ::= ("!" post)?
                """;
        CompiledGrammar g = COMPILER.ebnf(grammar);
        Pattern p = Pattern.compile("<?(x*y|x+z)!*");
        for (String s : List.of("y", "<xxxy!!", "xxz", "<z", "xx", "xxzy")) assertAccepted(g, s, p.matcher(s).matches());
        walks(g, 20, 0.75, s -> p.matcher(s).matches());
    }

    private static void assertAccepted(CompiledGrammar g, String s, boolean expected) {
        GrammarMatcher m = g.newMatcher();
        long[] mask = new long[g.maskWords()];
        boolean all = GrammarTesting.feed(m, GrammarTesting.encode(s), mask) < 0;
        assertEquals(expected, all && m.canTerminate(), "'" + s + "'");
    }

    private static void walks(CompiledGrammar g, int count, double structural, java.util.function.Predicate<String> inLanguage) {
        int ended = 0;
        for (int seed = 1; seed <= count; seed++) {
            GrammarTesting.Walk w = GrammarTesting.randomWalk(g, seed, 300, seed == 1 ? 1 : 0, structural);
            if (!w.ended()) continue;
            ended++;
            if (!inLanguage.test(w.text())) fail("walk " + seed + " is not in the language: '" + w.text() + "'");
        }
        assertTrue(ended >= count / 2, ended + " of " + count + " walks ended");
    }

    /** A recursive-descent check of ARITHMETIC's language. */
    private static final class Arithmetic {
        private final String s;
        private int pos;

        Arithmetic(String s) {
            this.s = s;
        }

        boolean parses() {
            return expr() && pos == s.length();
        }

        private boolean expr() {
            if (!term()) return false;
            while (pos < s.length() && (s.charAt(pos) == '+' || s.charAt(pos) == '-')) {
                pos++;
                if (!term()) return false;
            }
            return true;
        }

        private boolean term() {
            if (!factor()) return false;
            while (pos < s.length() && (s.charAt(pos) == '*' || s.charAt(pos) == '/')) {
                pos++;
                if (!factor()) return false;
            }
            return true;
        }

        private boolean factor() {
            if (pos < s.length() && s.charAt(pos) == '(') {
                pos++;
                if (!expr() || pos >= s.length() || s.charAt(pos) != ')') return false;
                pos++;
                return true;
            }
            int start = pos;
            while (pos < s.length() && Character.isDigit(s.charAt(pos))) pos++;
            return pos > start;
        }
    }
}
