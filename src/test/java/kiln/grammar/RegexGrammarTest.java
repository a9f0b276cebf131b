package kiln.grammar;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static kiln.grammar.GrammarTesting.COMPILER;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Regular expressions: every document a random walk through the masks ends with matches the pattern under
 * java.util.regex (on the decoded text), and hand-picked strings are accepted exactly when java.util.regex
 * matches them whole.
 */
class RegexGrammarTest {
    record Case(String pattern, List<String> samples) {
        @Override
        public String toString() {
            return pattern;
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case("[a-z]+@[a-z]+\\.(com|org)", List.of("john@example.org", "a@b.com", "john@example.net", "@x.com", "JOHN@x.com")),
                new Case("\\d{3}-\\d{3}-\\d{4}", List.of("555-123-4567", "555-1234-567", "5551234567", "555-123-456")),
                new Case("(\\+|-)?\\d+(\\.\\d+)?([eE][+-]?\\d+)?", List.of("42", "-3.14", "+6.02e23", "1e", ".5", "1.")),
                new Case("[A-Z][a-z]{2,9}( [A-Z][a-z]{2,9}){0,2}", List.of("Paris", "New York City", "Rio de Janeiro", "X", "Ab")),
                new Case("(yes|no|maybe)", List.of("yes", "no", "maybe", "yesno", "")),
                new Case("\\w+\\s\\w+", List.of("hello world", "hello\tworld", "hello  world", "héllo world")),
                new Case("[^\\n]{5,20}\\n", List.of("short line\n", "tiny\n", "a very long line that goes on\n")),
                new Case(".{1,10}", List.of("é日本🙂", "", "12345678901", "a\nb")),
                new Case("(ab|cd)*ef", List.of("ef", "abcdabef", "abcef", "cdcd")),
                new Case("[\\u4e00-\\u9fff]{2,4}", List.of("日本", "日本語文字", "日", "日本a")),
                new Case("\\p{Lu}\\p{Ll}+", List.of("Ölfass", "Élan", "élan", "E")),
                new Case("(0|[1-9]\\d*)(,\\d{3})*", List.of("0", "1,000,000", "01", "1,00")),
                new Case("https?://[a-z0-9.-]+(/[a-z0-9._-]*)*", List.of("https://example.com/a/b.html", "http://x", "ftp://x")),
                new Case("\\{\"name\": \"[A-Za-z ]{1,20}\", \"age\": \\d{1,3}\\}", List.of("{\"name\": \"Ada Lovelace\", \"age\": 36}", "{\"name\": \"\", \"age\": 1}")),
                new Case("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", List.of("123e4567-e89b-12d3-a456-426614174000", "123E4567-e89b-12d3-a456-426614174000")),
                new Case("(?:[01]\\d|2[0-3]):[0-5]\\d", List.of("23:59", "24:00", "07:30", "7:30")),
                new Case("a{3}b{2,}c?", List.of("aaabb", "aaabbbbc", "aabb", "aaab")),
                new Case("[^aeiou\\s]{3,6}", List.of("xyz", "rhythm", "strengths", "ab c")),
                new Case("^(?<year>\\d{4})-(?<month>0[1-9]|1[0-2])$", List.of("2026-12", "2026-13", "26-12")),
                new Case("\\x41\\u00e9[\\x{1F600}-\\x{1F64F}]+", List.of("Aé😀", "Aé😀🙏", "Aé", "Ae😀")),
                new Case("(\\s*[a-z]+\\s*,)*\\s*[a-z]+", List.of("a, b ,c", " a", "a,", "")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void randomWalksMatch(Case c) {
        CompiledGrammar g = COMPILER.regex(c.pattern());
        Pattern p = Pattern.compile(c.pattern());
        int ended = 0;
        for (int seed = 1; seed <= 8; seed++) {
            GrammarTesting.Walk w = GrammarTesting.randomWalk(g, seed * 31L + c.pattern().hashCode(), 200, seed == 1 ? 3 : 0);
            if (!w.ended()) continue;
            ended++;
            assertTrue(p.matcher(w.text()).matches(), "walk " + seed + " does not match: '" + w.text() + "'");
        }
        assertTrue(ended >= 2, "only " + ended + " walks ended within 200 tokens");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void samplesAgreeWithJavaRegex(Case c) {
        CompiledGrammar g = COMPILER.regex(c.pattern());
        Pattern p = Pattern.compile(c.pattern());
        long[] mask = new long[g.maskWords()];
        for (String s : c.samples()) {
            GrammarMatcher m = g.newMatcher();
            boolean all = GrammarTesting.feed(m, GrammarTesting.encode(s), mask) < 0;
            assertEquals(p.matcher(s).matches(), all && m.canTerminate(), "'" + s + "'");
        }
    }
}
