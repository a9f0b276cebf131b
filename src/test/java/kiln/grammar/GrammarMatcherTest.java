package kiln.grammar;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static kiln.grammar.GrammarTesting.COMPILER;
import static kiln.grammar.GrammarTesting.DEEPSEEK_VOCAB;
import static kiln.grammar.GrammarTesting.EOS;
import static kiln.grammar.GrammarTesting.TOKENIZER;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The matcher's contract with the engine: mask layout, end and special tokens, refusals, caching, threads. */
class GrammarMatcherTest {
    private static boolean bit(long[] mask, int id) {
        return (mask[id >>> 6] & (1L << id)) != 0;
    }

    @Test
    void maskCoversTheModelsVocabularyAndNoPaddingOrSpecialIds() {
        CompiledGrammar g = COMPILER.jsonSchema("{}");
        assertEquals(DEEPSEEK_VOCAB, g.vocabSize());
        assertEquals((DEEPSEEK_VOCAB + 63) / 64, g.maskWords());
        long[] mask = new long[g.maskWords() + 3];
        java.util.Arrays.fill(mask, -1L);
        g.newMatcher().fillMask(mask);
        assertEquals(-1L, mask[g.maskWords()], "words past the vocabulary are left alone");
        for (int id = TOKENIZER.vocabSize(); id < DEEPSEEK_VOCAB; id++) assertFalse(bit(mask, id), "padding id " + id);
        for (int id = 0; id < TOKENIZER.vocabSize(); id++) if (TOKENIZER.isSpecial(id)) assertFalse(bit(mask, id), "special id " + id);
        assertThrows(IllegalArgumentException.class, () -> g.newMatcher().fillMask(new long[10]));
    }

    @Test
    void endTokenOnlyWhereTheGrammarMayEnd() {
        CompiledGrammar g = COMPILER.regex("ab+");
        GrammarMatcher m = g.newMatcher();
        long[] mask = new long[g.maskWords()];
        m.fillMask(mask);
        assertFalse(bit(mask, EOS));
        assertFalse(m.canTerminate());
        assertFalse(m.accept(EOS), "no end before the text is complete");
        assertTrue(m.accept(TOKENIZER.idOf("a").getAsInt()));
        assertTrue(m.accept(TOKENIZER.idOf("b").getAsInt()));
        m.fillMask(mask);
        assertTrue(bit(mask, EOS));
        assertTrue(m.canTerminate());
        assertFalse(m.isTerminated(), "more b's may follow");
        assertTrue(m.accept(EOS));
        assertTrue(m.isTerminated());
        assertFalse(m.accept(TOKENIZER.idOf("b").getAsInt()), "nothing after the end");
        m.fillMask(mask);
        for (int w = 0; w < mask.length; w++) assertEquals(w == EOS >>> 6 ? 1L << EOS : 0L, mask[w], "only the end token after the end");
    }

    @Test
    void aCompleteOutputWithNothingAfterItIsTerminated() {
        CompiledGrammar g = COMPILER.jsonSchema("{\"enum\": [\"yes\", \"no\"]}");
        GrammarMatcher m = g.newMatcher();
        for (int id : GrammarTesting.encode("\"no\"")) assertTrue(m.accept(id));
        assertTrue(m.isTerminated(), "only the end token can follow");
        assertTrue(m.canTerminate());
    }

    @Test
    void aRefusedTokenChangesNothing() {
        CompiledGrammar g = COMPILER.regex("[0-9]+");
        GrammarMatcher m = g.newMatcher();
        long[] before = new long[g.maskWords()], after = new long[g.maskWords()];
        assertTrue(m.accept(TOKENIZER.idOf("1").getAsInt()));
        m.fillMask(before);
        assertFalse(m.accept(TOKENIZER.idOf("x").getAsInt()));
        assertFalse(m.accept(-1));
        assertFalse(m.accept(DEEPSEEK_VOCAB));
        assertFalse(m.accept(DEEPSEEK_VOCAB - 1), "a padding id");
        assertFalse(m.accept(TOKENIZER.bosId()), "a special token");
        m.fillMask(after);
        assertArrayEquals(before, after);
    }

    @Test
    void tokensThatSplitACharacter() {
        // DeepSeek has tokens holding part of a UTF-8 character; the automaton works on bytes, so they are allowed
        // exactly where the rest of the character can follow
        CompiledGrammar g = COMPILER.regex("[é🙂]{3}");
        long[] mask = new long[g.maskWords()];
        GrammarMatcher m = g.newMatcher();
        m.fillMask(mask);
        GrammarTesting.checkMaskExhaustively(m, mask, "start");
        int partial = 0;
        for (int id = 0; id < TOKENIZER.vocabSize(); id++) {
            byte[] b = TOKENIZER.tokenBytes(id);
            if (bit(mask, id) && b.length > 0 && !new String(b, java.nio.charset.StandardCharsets.UTF_8).matches("[é🙂]+")) partial++;
        }
        assertTrue(partial > 0, "some allowed tokens end inside a character");
    }

    @Test
    void compiledGrammarsAreCachedByText() {
        String schema = "{\"type\": \"object\", \"properties\": {\"cached\": {\"type\": \"boolean\"}}, \"required\": [\"cached\"]}";
        assertSame(COMPILER.jsonSchema(schema), COMPILER.jsonSchema(schema));
        assertSame(COMPILER.regex("cache[d]"), COMPILER.regex("cache[d]"));
        assertSame(COMPILER.jsonObject(), COMPILER.jsonObject());
        assertSame(COMPILER, GrammarCompiler.of(TOKENIZER, DEEPSEEK_VOCAB));
    }

    @Test
    void concurrentCompilesOfOneTextShareOneResult() throws Exception {
        String schema = "{\"type\": \"array\", \"items\": {\"type\": \"integer\", \"minimum\": 17, \"maximum\": 1717}}";
        try (ExecutorService pool = Executors.newFixedThreadPool(4)) {
            var futures = java.util.stream.IntStream.range(0, 8).mapToObj(i -> CompletableFuture.supplyAsync(() -> COMPILER.jsonSchema(schema), pool)).toList();
            CompiledGrammar first = futures.get(0).get();
            for (var f : futures) assertSame(first, f.get());
        }
    }

    @Test
    void aMatcherMayMoveBetweenThreads() throws Exception {
        // the engine computes the next mask on a worker while the step runs: one thread at a time, handed over
        CompiledGrammar g = COMPILER.jsonSchema("{\"type\": \"object\", \"properties\": {\"n\": {\"type\": \"integer\"}}, \"required\": [\"n\"]}");
        int[] ids = GrammarTesting.encode("{\"n\": 12345}");
        GrammarMatcher m = g.newMatcher();
        long[] mask = new long[g.maskWords()];
        try (ExecutorService worker = Executors.newSingleThreadExecutor()) {
            for (int id : ids) {
                worker.submit(() -> m.fillMask(mask)).get();
                assertTrue(bit(mask, id));
                assertTrue(m.accept(id));
            }
        }
        assertTrue(m.canTerminate());
    }

    @Test
    void ruleTablesAreSharedBetweenGrammarsWhenTheirFollowSetsAllow() {
        // the JSON string rule is followed by , ] in an array and by , } in an object: the second schema rebuilds
        // its tables for the union, the third (the first again) reuses them, and all masks stay exact
        RuleTables shared = new RuleTables();
        String inArray = "{\"type\": \"array\", \"items\": {\"type\": \"string\"}}";
        String inObject = "{\"type\": \"object\", \"properties\": {\"s\": {\"type\": \"string\"}}, \"required\": [\"s\"]}";
        CompiledGrammar a = COMPILER.compile(JsonSchemaGrammar.fromSchema(inArray), shared);
        CompiledGrammar b = COMPILER.compile(JsonSchemaGrammar.fromSchema(inObject), shared);
        CompiledGrammar c = COMPILER.compile(JsonSchemaGrammar.fromSchema(inArray), shared);
        int stringState = stringBodyState(b);
        assertTrue(stringState >= 0);
        assertSame(b.tables[stringState], c.tables[stringBodyState(c)], "reused");
        assertFalse(a.tables[stringBodyState(a)] == b.tables[stringState], "rebuilt for the wider FOLLOW set");
        for (var g : java.util.List.of(a, c)) {
            long[] mask = new long[g.maskWords()];
            GrammarMatcher m = g.newMatcher();
            for (int id : GrammarTesting.encode("[\"x\", \"y")) assertTrue(m.accept(id));
            m.fillMask(mask);
            GrammarTesting.checkMaskExhaustively(m, mask, "inside a string of an array");
        }
        GrammarMatcher m = b.newMatcher();
        long[] mask = new long[b.maskWords()];
        for (int id : GrammarTesting.encode("{\"s\": \"ab")) assertTrue(m.accept(id));
        m.fillMask(mask);
        GrammarTesting.checkMaskExhaustively(m, mask, "inside a string of an object");
    }

    /** The state inside the builtin JSON string rule (after the opening quote), or -1. */
    private static int stringBodyState(CompiledGrammar g) {
        Automaton a = g.automaton;
        for (int r = 0; r < a.ruleNames.length; r++) {
            if (a.ruleNames[r].equals("json_string")) return a.target(a.ruleStart[r], '"');
        }
        return -1;
    }

    @Test
    void countedStringsAreExactAtEveryLength() {
        // the counted states share their tables far from the bounds; long tokens (over 32 bytes: 48 dashes, or 16
        // em dashes, 48 bytes but 16 characters) are classified apart: every mask along the string must stay exact
        CompiledGrammar g = COMPILER.jsonSchema("{\"type\": \"string\", \"minLength\": 30, \"maxLength\": 100}");
        int dashes = single("-".repeat(48)), emDashes = single("—".repeat(16));
        assertTrue(TOKENIZER.tokenBytes(dashes).length > Vocabulary.SHORT && TOKENIZER.tokenBytes(emDashes).length > Vocabulary.SHORT);
        GrammarMatcher m = g.newMatcher();
        long[] mask = new long[g.maskWords()];
        int quote = TOKENIZER.idOf("\"").getAsInt(), a = TOKENIZER.idOf("a").getAsInt();
        assertTrue(m.accept(quote));
        for (int chars = 0; chars <= 100; chars++) {
            m.fillMask(mask);
            if (chars % 6 == 0 || Math.abs(chars - 52) <= 1 || Math.abs(chars - 84) <= 1 || chars >= 98) {
                GrammarTesting.checkMaskExhaustively(m, mask, chars + " characters in");
            }
            assertEquals(chars + 48 <= 100, bit(mask, dashes), "48 dashes fit after " + chars + " characters");
            assertEquals(chars + 16 <= 100, bit(mask, emDashes), "16 em dashes fit after " + chars + " characters");
            assertEquals(chars >= 30, m.allows(quote), "the string may close after " + chars);
            if (chars < 100) assertTrue(m.accept(a));
        }
        assertFalse(m.allows(a), "no 101st character");
    }

    /** The one token DeepSeek encodes {@code text} as. */
    private static int single(String text) {
        int[] ids = TOKENIZER.encode(text, false);
        assertEquals(1, ids.length, "'" + text + "' is one token");
        return ids[0];
    }

    @Test
    void jsonObjectModeIsAnyObject() {
        CompiledGrammar g = COMPILER.jsonObject();
        long[] mask = new long[g.maskWords()];
        assertEquals(-1, GrammarTesting.feed(g.newMatcher(), GrammarTesting.encode("{\"a\": [1, {\"b\": null}], \"c\": \"d\"}"), mask));
        assertEquals(0, GrammarTesting.feed(g.newMatcher(), GrammarTesting.encode("[1]"), mask));
    }
}
