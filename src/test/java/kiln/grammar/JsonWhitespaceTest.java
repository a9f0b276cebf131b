package kiln.grammar;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static kiln.grammar.GrammarTesting.COMPILER;
import static kiln.grammar.GrammarTesting.TOKENIZER;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cap on runs of whitespace between JSON tokens ({@link GrammarCompiler#MAX_WHITESPACE_RUN}): at every place
 * whitespace may sit, a run of the cap is accepted and one character more is refused; places never add up (an empty
 * object or array holds one run, not two); the mask offers exactly the whitespace tokens that still fit. Documents
 * are fed one character a token, so that the refusal lands on the character past the cap.
 */
class JsonWhitespaceTest {
    private static final int CAP = GrammarCompiler.MAX_WHITESPACE_RUN;
    private static final String SCHEMA = """
            {"type": "object", "properties": {
              "a": {"type": "array", "items": {"type": "integer"}},
              "b": {"type": "object", "properties": {"c": {"type": "boolean"}}},
              "e": {"type": "array", "maxItems": 0},
              "d": {"type": "string"}},
             "required": ["a"], "additionalProperties": {"type": "integer"}}""";
    /** A document of the schema with '_' at every place whitespace may go: around punctuation, empty containers, extra keys. */
    private static final String PLACES = "{_\"a\"_:_[_1_,_2_]_,_\"b\"_:_{_}_,_\"e\"_:_[_]_,_\"d\"_:_\"x y\"_,_\"z\"_:_3_}";
    /** The same for json_object, whose members and arrays are the builtin rules. */
    private static final String ANY_OBJECT_PLACES = "{_\"k\"_:_[_]_,_\"l\"_:_{_}_,_\"m\"_:_[_1_,_{_\"n\"_:_null_}_]_}";

    @Test
    void aRunOfTheCapIsAcceptedEverywhereAndOneMoreIsRefused() {
        checkEveryPlace(COMPILER.jsonSchema(SCHEMA), PLACES, CAP);
        checkEveryPlace(COMPILER.jsonObject(), ANY_OBJECT_PLACES, CAP);
    }

    /** Caps of one character (no rule for the rest of a run) and a few more, as the grammar is built for any. */
    @Test
    void otherCapsHoldTheSame() {
        for (int cap : new int[] {1, 2, 5}) {
            checkEveryPlace(COMPILER.compile(JsonSchemaGrammar.fromSchema(SCHEMA, cap)), PLACES, cap);
            checkEveryPlace(COMPILER.compile(JsonSchemaGrammar.anyObject(cap)), ANY_OBJECT_PLACES, cap);
        }
    }

    private static void checkEveryPlace(CompiledGrammar g, String places, int cap) {
        long[] mask = new long[g.maskWords()];
        int count = places.length() - places.replace("_", "").length();
        for (int place = 0; place < count; place++) {
            for (int length : new int[] {cap, cap + 1}) {
                String doc = withRun(places, place, length);
                GrammarMatcher m = g.newMatcher();
                int refused = GrammarTesting.feed(m, charTokens(doc), mask);
                if (length == cap) {
                    assertEquals(-1, refused, "run of " + length + " at place " + place + " refused: " + doc.replace("\n", "\\n"));
                    assertTrue(m.canTerminate(), doc);
                } else {
                    int at = withRun(places, place, 0).indexOf('\u0000') + cap;
                    assertEquals(at, refused, "run of " + length + " at place " + place + ": " + doc.replace("\n", "\\n"));
                }
            }
        }
    }

    /** The document with {@code length} whitespace characters (all four kinds) at place {@code place}, none elsewhere. */
    private static String withRun(String places, int place, int length) {
        StringBuilder out = new StringBuilder();
        int k = 0;
        for (char ch : places.toCharArray()) {
            if (ch != '_') {
                out.append(ch);
            } else if (k++ == place) {
                if (length == 0) out.append('\u0000');  // a marker of where the run begins
                for (int i = 0; i < length; i++) out.append(" \n\t\r".charAt(i % 4));
            }
        }
        return out.toString();
    }

    /** One token a character (every ASCII character is a token of DeepSeek's vocabulary). */
    private static int[] charTokens(String text) {
        int[] ids = new int[text.length()];
        for (int i = 0; i < text.length(); i++) {
            int[] one = TOKENIZER.encode(String.valueOf(text.charAt(i)), false);
            assertEquals(1, one.length, "'" + text.charAt(i) + "' is one token");
            ids[i] = one[0];
        }
        return ids;
    }

    @Test
    void theMaskOffersTheWhitespaceTokensThatStillFit() {
        CompiledGrammar g = COMPILER.jsonSchema(SCHEMA);
        List<Integer> blanks = new ArrayList<>();
        for (int id = 0; id < TOKENIZER.vocabSize(); id++) {
            if (!TOKENIZER.isSpecial(id) && isBlank(TOKENIZER.tokenBytes(id))) blanks.add(id);
        }
        long[] mask = new long[g.maskWords()];
        for (int used : new int[] {0, 1, CAP - 5, CAP - 1, CAP}) {
            GrammarMatcher m = g.newMatcher();
            assertEquals(-1, GrammarTesting.feed(m, charTokens("{" + " ".repeat(used)), mask));
            m.fillMask(mask);
            for (int id : blanks) {
                boolean fits = TOKENIZER.tokenBytes(id).length <= CAP - used;
                assertEquals(fits, (mask[id >>> 6] & (1L << id)) != 0, "after " + used + ": " + GrammarTesting.quoted(id));
            }
            GrammarTesting.checkMaskExhaustively(m, mask, "after '{' and " + used + " spaces");
            assertTrue(m.accept(TOKENIZER.encode("\"", false)[0]), "the key may begin after " + used + " spaces");
        }
        assertTrue(blanks.size() > 100, blanks.size() + " whitespace tokens");
    }

    private static boolean isBlank(byte[] b) {
        if (b.length == 0) return false;
        for (byte x : b) if (x != ' ' && x != '\t' && x != '\n' && x != '\r') return false;
        return true;
    }

    @Test
    void compactAllowsNoneAndUnboundedAnyRun() {
        String spaced = withRun(PLACES, 3, 1);
        GrammarMatcher compact = COMPILER.jsonSchema(SCHEMA, false).newMatcher();
        int at = withRun(PLACES, 3, 0).indexOf('\u0000');
        assertEquals(at, GrammarTesting.feed(compact, charTokens(spaced), new long[COMPILER.jsonSchema(SCHEMA, false).maskWords()]));
        CompiledGrammar unbounded = COMPILER.compile(JsonSchemaGrammar.fromSchema(SCHEMA, Expr.UNBOUNDED));
        for (int place = 0; place < 3; place++) {
            GrammarMatcher m = unbounded.newMatcher();
            String doc = withRun(PLACES, place, 500);
            assertEquals(-1, GrammarTesting.feed(m, GrammarTesting.encode(doc), new long[unbounded.maskWords()]), doc);
            assertTrue(m.canTerminate());
        }
    }
}
