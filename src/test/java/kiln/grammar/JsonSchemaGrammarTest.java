package kiln.grammar;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.InputFormat;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SchemaRegistryConfig;
import com.networknt.schema.SpecificationVersion;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static kiln.grammar.GrammarTesting.COMPILER;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The JSON schemas of testdata/grammar/json-schemas.json (OpenAI's structured-output examples, function-calling
 * schemas, recursion, anyOf, enums, patterns, formats, bounds, item counts): documents sampled by random walks
 * through the masks must parse and validate under networknt's JSON Schema validator (format assertions on);
 * hand-written valid documents must be accepted token by token, and invalid ones refused at the token that holds
 * their first wrong character (some are valid JSON Schema but out of the schema's property order, which the grammar
 * fixes: marked "order"). The hand-written documents are themselves checked against the validator.
 */
class JsonSchemaGrammarTest {
    static final ObjectMapper JSON = new ObjectMapper().enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    static final SchemaRegistry VALIDATORS = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12,
            b -> b.schemaRegistryConfig(SchemaRegistryConfig.builder().formatAssertionsEnabled(true).build()));
    /** Walks per schema; documents that end within the cap are validated. */
    static final int WALKS = 6, MAX_TOKENS = 400;

    record Case(String name, String schema, List<String> valid, List<String[]> invalid) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Case> cases() throws IOException {
        JsonNode all = JSON.readTree(Path.of("testdata", "grammar", "json-schemas.json").toFile());
        List<Case> out = new ArrayList<>();
        for (JsonNode c : all) {
            List<String> valid = new ArrayList<>();
            c.path("valid").forEach(v -> valid.add(v.asText()));
            List<String[]> invalid = new ArrayList<>();
            c.path("invalid").forEach(v -> invalid.add(new String[] {v.get(0).asText(), v.get(1).asText(), v.path(2).asText("")}));
            out.add(new Case(c.get("name").asText(), c.get("schema").toString(), valid, invalid));
        }
        return out.stream();
    }

    @Test
    void theCorpusHasAtLeastFortySchemas() throws IOException {
        assertTrue(cases().count() >= 40);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void randomWalksValidate(Case c) {
        CompiledGrammar g = COMPILER.jsonSchema(c.schema());
        Schema validator = VALIDATORS.getSchema(c.schema(), InputFormat.JSON);
        int ended = 0;
        for (int seed = 1; seed <= WALKS; seed++) {
            GrammarTesting.Walk w = GrammarTesting.randomWalk(g, seed * 7919L + c.name().hashCode(), MAX_TOKENS, seed == 1 ? 9 : 0);
            if (!w.ended()) continue;
            ended++;
            String doc = w.text();
            try {
                JSON.readTree(doc);
            } catch (IOException e) {
                fail("walk " + seed + " is not JSON: " + e.getMessage() + "\n" + doc);
            }
            var errors = validator.validate(doc, InputFormat.JSON);
            assertTrue(errors.isEmpty(), "walk " + seed + " does not validate: " + errors + "\n" + doc);
        }
        assertTrue(ended >= 2, "only " + ended + " of " + WALKS + " walks ended within " + MAX_TOKENS + " tokens");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void handWrittenDocuments(Case c) {
        CompiledGrammar g = COMPILER.jsonSchema(c.schema());
        Schema validator = VALIDATORS.getSchema(c.schema(), InputFormat.JSON);
        long[] mask = new long[g.maskWords()];
        for (String doc : c.valid()) {
            assertTrue(validator.validate(doc, InputFormat.JSON).isEmpty(), "the test's valid document is valid: " + doc);
            GrammarMatcher m = g.newMatcher();
            int refused = GrammarTesting.feed(m, GrammarTesting.encode(doc), mask);
            assertEquals(-1, refused, "valid document refused at token " + refused + ": " + doc);
            assertTrue(m.canTerminate(), "a complete valid document may end: " + doc);
            assertTrue(m.accept(GrammarTesting.EOS));
        }
        for (String[] bad : c.invalid()) {
            String doc = bad[0] + bad[1];
            // "order": valid JSON Schema, but the grammar writes properties in the schema's order only
            if (!bad[1].isBlank() && !bad[2].equals("order")) assertFalse(validates(validator, doc), "the test's invalid document is invalid: " + doc);
            int[] ids = GrammarTesting.encode(doc);
            GrammarMatcher m = g.newMatcher();
            int refused = GrammarTesting.feed(m, ids, mask);
            if (bad[1].isEmpty() || bad[1].isBlank()) {
                // complete text that may not end here (or trailing text after the end)
                assertTrue(refused >= 0 || !m.canTerminate(), "incomplete document may not end: " + doc);
                continue;
            }
            int at = bad[0].getBytes(StandardCharsets.UTF_8).length;
            assertTrue(refused >= 0, "invalid document accepted: " + doc);
            int start = GrammarTesting.byteOffset(ids, refused), end = GrammarTesting.byteOffset(ids, refused + 1);
            assertTrue(start <= at && at < end, "refused token " + refused + " " + GrammarTesting.quoted(ids[refused]) + " spans bytes ["
                    + start + ", " + end + "), the first wrong byte is " + at + ": " + doc);
        }
    }

    /** multipleOf 1 is the one multipleOf supported: numbers must be whole, wherever the keyword sits; other values pass. */
    @Test
    void multipleOfOneAllowsWholeNumbersOnly() {
        String[][] cases = {
                // schema, accepted documents, refused documents (space-separated)
                {"{\"multipleOf\": 1}", "3 -40 0", "3.5 \"a\" true"},
                {"{\"type\": \"number\", \"multipleOf\": 1.0, \"maximum\": 10}", "10 -2", "2.5 11"},
                {"{\"type\": [\"number\", \"string\"], \"multipleOf\": 1}", "7 \"x\"", "7.25"},
                {"{\"enum\": [1.5, 2, \"a\", 4.0], \"multipleOf\": 1}", "2 \"a\" 4.0", "1.5"},
        };
        for (String[] c : cases) assertDocuments(c, COMPILER.jsonSchema(c[0]), VALIDATORS.getSchema(c[0], InputFormat.JSON), false);
    }

    /**
     * The grammar accepts the case's documents c[1] and refuses c[2] (space-separated); the validator accepts c[1],
     * and with {@code validatorRefusesToo} refuses c[2] as well.
     */
    private static void assertDocuments(String[] c, CompiledGrammar g, Schema validator, boolean validatorRefusesToo) {
        for (int ok = 1; ok <= 2; ok++) {
            for (String doc : c[ok].split(" ")) {
                GrammarMatcher m = g.newMatcher();
                boolean accepted = GrammarTesting.feed(m, GrammarTesting.encode(doc), new long[g.maskWords()]) < 0 && m.canTerminate();
                assertEquals(ok == 1, accepted, c[0] + ": " + doc);
                if (ok == 1 || validatorRefusesToo) {
                    assertEquals(ok == 1, validator.validate(doc, InputFormat.JSON).isEmpty(), "the validator agrees: " + c[0] + ": " + doc);
                }
            }
        }
    }

    /**
     * enum and const values are written verbatim, so the keywords beside them are evaluated on each value: the values
     * they refuse are left out. Every kept value validates and every left-out one fails networknt's validator.
     */
    @Test
    void enumValuesAreFilteredByTheirSiblingKeywords() {
        String[][] cases = {
                // schema, accepted documents, refused documents (space-separated)
                {"{\"enum\": [1, 5, 10], \"minimum\": 3}", "5 10", "1"},
                {"{\"enum\": [1, 5, 10, \"a\"], \"exclusiveMinimum\": 1, \"exclusiveMaximum\": 10}", "5 \"a\"", "1 10"},
                {"{\"type\": \"number\", \"enum\": [0.5, 1.5, 2.5], \"maximum\": 2}", "0.5 1.5", "2.5"},
                {"{\"enum\": [\"a\", \"abc\", \"abcdef\"], \"minLength\": 2, \"maxLength\": 4}", "\"abc\"", "\"a\" \"abcdef\""},
                {"{\"enum\": [\"12345\", \"1234\", \"abcde\"], \"pattern\": \"^[0-9]{5}$\"}", "\"12345\"", "\"1234\" \"abcde\""},
                {"{\"enum\": [\"2024-02-29\", \"2023-02-29\", \"soon\"], \"format\": \"date\"}", "\"2024-02-29\"", "\"2023-02-29\" \"soon\""},
                {"{\"enum\": [[1], [1, 2], [1, 1]], \"minItems\": 2, \"uniqueItems\": true}", "[1,2]", "[1] [1,1]"},
                {"{\"enum\": [{\"a\": 1}, {\"a\": \"x\"}, {\"b\": 2}], \"required\": [\"a\"], \"properties\": {\"a\": {\"type\": \"integer\"}}}",
                        "{\"a\":1}", "{\"a\":\"x\"} {\"b\":2}"},
                {"{\"enum\": [1, \"a\", true], \"anyOf\": [{\"type\": \"integer\"}, {\"type\": \"boolean\"}]}", "1 true", "\"a\""},
                {"{\"enum\": [1, 2.5], \"oneOf\": [{\"type\": \"number\"}, {\"type\": \"integer\"}]}", "2.5", "1"},
                {"{\"$defs\": {\"small\": {\"maximum\": 9}}, \"properties\": {\"n\": {\"enum\": [3, 30], \"allOf\": [{\"$ref\": \"#/$defs/small\"}]}}, \"required\": [\"n\"]}",
                        "{\"n\":3}", "{\"n\":30}"},
                {"{\"const\": 7, \"minimum\": 7, \"enum\": [7, 8]}", "7", "8"},
        };
        for (String[] c : cases) {
            CompiledGrammar g = COMPILER.jsonSchema(c[0]);
            Schema validator = VALIDATORS.getSchema(c[0], InputFormat.JSON);
            assertDocuments(c, g, validator, true);
            for (int seed = 1; seed <= 3; seed++) {
                GrammarTesting.Walk w = GrammarTesting.randomWalk(g, seed, 50, 0);
                assertTrue(w.ended() && validator.validate(w.text(), InputFormat.JSON).isEmpty(), c[0] + ": walk " + w.text());
            }
        }
    }

    /**
     * oneOf is compiled as anyOf (docs/grammar.md): with disjoint branches every output validates; with overlapping
     * ones the grammar takes a value that matches two branches, which a validator's oneOf refuses. This pins down
     * that documented limit.
     */
    @Test
    void oneOfIsCompiledAsAnyOf() {
        String overlapping = "{\"oneOf\": [{\"type\": \"number\"}, {\"type\": \"integer\"}]}";
        CompiledGrammar g = COMPILER.jsonSchema(overlapping);
        for (String doc : new String[] {"1.5", "1"}) {
            GrammarMatcher m = g.newMatcher();
            assertEquals(-1, GrammarTesting.feed(m, GrammarTesting.encode(doc), new long[g.maskWords()]), doc);
            assertTrue(m.canTerminate(), doc);
        }
        assertTrue(VALIDATORS.getSchema(overlapping, InputFormat.JSON).validate("1.5", InputFormat.JSON).isEmpty());
        assertFalse(VALIDATORS.getSchema(overlapping, InputFormat.JSON).validate("1", InputFormat.JSON).isEmpty(), "1 matches both branches");
    }

    private static boolean validates(Schema validator, String doc) {
        try {
            JSON.readTree(doc);
        } catch (IOException e) {
            return false;
        }
        try {
            return validator.validate(doc, InputFormat.JSON).isEmpty();
        } catch (RuntimeException e) {
            return false;  // the validator's own parser refused it
        }
    }
}
